"""Scans over time segments (kernels/indicators/talib/gpu_scan.py): the functions that never forget,
with several threads per column, give the one-thread-per-column results (affine scans to 1e-9,
verified speculation exactly) and TA-Lib's.

The host build of cuda/scan/ runs the phases as the GPU would, so CI checks every segment kind:
columns starting in the first segment, inside a later one, exactly on a segment boundary, inside a
warm-up, columns with no valid bar, segments of one bar, guesses right and wrong.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.indicators.talib import gpu_columns, gpu_scan, time_split
from kernels.indicators.talib.table import FUNCTIONS
from tests.kernels.indicators.talib.cuda import cuda_host
from tests.kernels.indicators.talib.oracle import inputs_for, panel_data, random_data, reference, varied_params

pytestmark = pytest.mark.skipif(cuda_host.CXX is None, reason="g++ is not installed")

SEG = 40


def _starts(d: dict[str, np.ndarray], starts: list[int]) -> dict[str, np.ndarray]:
    """Column j's bars before starts[j] missing (a column with start >= T has no valid bar)."""
    out = {k: v.copy() for k, v in d.items()}
    for v in out.values():
        for j, s in enumerate(starts):
            v[:s, j] = np.nan
    return out


def _data(n_bars: int = 400) -> list[dict[str, np.ndarray]]:
    starts = [0, SEG, SEG + 17, n_bars]  # first segment, a boundary, inside a later segment, never
    return [_starts(panel_data(n_bars=n_bars, n_assets=4), starts),
            _starts(random_data(n_bars=n_bars, n_assets=4), starts)]


def _split(name: str, seg: int, n_bars: int, warm: int = 8) -> time_split.Split:
    """Segments of `seg` bars; speculation with a short warm-up, so that many guesses are wrong."""
    return time_split.Split(seg, warm if name in gpu_scan.SPECULATIVE else 0, n_bars)


def _one_thread(name: str, arrays: list, values: dict) -> list[np.ndarray]:
    """The column kernel's outputs, one thread per column."""
    return cuda_host.run(name, arrays, values, len(FUNCTIONS[name].outputs))


def _check(name: str, arrays: list, values: dict, split: time_split.Split) -> None:
    for got, want in zip(cuda_host.run_scan(name, arrays, values, split), _one_thread(name, arrays, values),
                         strict=True):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{name}: NaN bars differ in {split}")
        if name in gpu_scan.SPECULATIVE:  # verified: the same bits
            np.testing.assert_array_equal(got, want, err_msg=f"{name} in {split}")
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=f"{name} in {split}")


# (name, parameters): every scanned function with its defaults and other values, MA of each scanned type
# (those the scans cover: APO / PPO / PVO with EMAs only), and edge values
CASES = [(n, FUNCTIONS[n].check(v)) for n in gpu_scan.AFFINE + gpu_scan.SPECULATIVE
         for v in (FUNCTIONS[n].defaults, varied_params(FUNCTIONS[n])) if gpu_scan.covers(n, FUNCTIONS[n].check(v))] + \
        [("MA", {"timeperiod": 7, "matype": m}) for m in gpu_scan.MA_TYPES] + [("TRIX", {"timeperiod": 1})] + \
        [(n, {"fastperiod": 19, "slowperiod": 15, "matype": m}) for n in ("APO", "PPO", "PVO") for m in (1, 11)] + \
        [("MACD", {"fastperiod": 26, "slowperiod": 12, "signalperiod": 4}), ("MACDFIX", {"signalperiod": 2}),
         ("RSI", {"timeperiod": 2}), ("CMO", {"timeperiod": 2}), ("TSI", {"firstperiod": 2, "secondperiod": 2})]


def _id(case: tuple) -> str:
    return "-".join([case[0], *(f"{v:g}" for v in case[1].values())])


def test_every_scanned_function_has_a_column_kernel() -> None:
    assert set(gpu_scan.NAMES) <= set(gpu_columns.functions())
    for name in gpu_scan.AFFINE + gpu_scan.SPECULATIVE:
        assert gpu_scan.covers(name, FUNCTIONS[name].defaults)
    for name in ("KAMA", "EMA", "T3", "ATR", "NATR"):  # period 1: a copy or the true range
        assert not gpu_scan.covers(name, dict(FUNCTIONS[name].defaults, timeperiod=1))
    assert not gpu_scan.covers("MA", {"timeperiod": 30, "matype": 0})  # SMA: a window, time_split's
    assert not gpu_scan.covers("APO", {"fastperiod": 12, "slowperiod": 26, "matype": 2})  # WMAs: windows
    assert not gpu_scan.covers("MACD", {"fastperiod": 12, "slowperiod": 26, "signalperiod": 1})  # a copy


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_segments_equal_one_thread_per_column(case: tuple) -> None:
    name, values = case
    fd = FUNCTIONS[name]
    assert gpu_scan.covers(name, values)
    for data in _data():
        arrays = inputs_for(fd, data)
        for warm in (2, 8, gpu_scan.SPECULATE_WARM) if name in gpu_scan.SPECULATIVE else (0,):
            _check(name, arrays, values, _split(name, SEG, arrays[0].shape[0], warm))


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_segments_equal_talib(case: tuple) -> None:
    name, values = case
    fd = FUNCTIONS[name]
    arrays = inputs_for(fd, panel_data(n_bars=500, n_assets=3))
    got = cuda_host.run_scan(name, arrays, values, gpu_scan.plan(name, 500, 3))
    assert gpu_scan.plan(name, 500, 3).segments > 1
    for g, w in zip(got, reference(fd, arrays, values), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=name)


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(gpu_scan.AFFINE + gpu_scan.SPECULATIVE), seg=st.integers(1, 90), late=st.integers(0, 320),
       seed=st.integers(0, 10), warm=st.integers(2, 60))
def test_any_segment_length_and_start(name: str, seg: int, late: int, seed: int, warm: int) -> None:
    fd = FUNCTIONS[name]
    arrays = inputs_for(fd, _starts(random_data(n_bars=300, n_assets=2, seed=seed), [0, late]))
    _check(name, arrays, fd.check(fd.defaults), _split(name, max(seg, warm) if name in gpu_scan.SPECULATIVE else seg,
                                                       300, warm))


@pytest.mark.parametrize("name", gpu_scan.SPECULATIVE)
def test_guesses_are_checked_and_wrong_ones_run_again(name: str) -> None:
    fd = FUNCTIONS[name]
    values = fd.check(varied_params(fd))
    arrays = inputs_for(fd, panel_data(n_bars=1000, n_assets=20))
    want = cuda_host.run(name, arrays, values, 1)[0]
    short = time_split.Split(40, 3, 1000)  # 3 bars of warm-up: many guesses wrong before the check
    guessed = cuda_host.run_scan(name, arrays, values, short, phases=1)[0]
    assert not np.array_equal(guessed, want, equal_nan=True)
    np.testing.assert_array_equal(cuda_host.run_scan(name, arrays, values, short)[0], want)
    # with the planned warm-up every guess on this data is right already
    planned = gpu_scan.plan(name, 1000, 20)
    assert planned.warm == gpu_scan.SPECULATE_WARM and planned.segments > 1
    np.testing.assert_array_equal(cuda_host.run_scan(name, arrays, values, planned, phases=1)[0], want)


def test_a_wrong_carry_is_caught() -> None:
    # the check above must fail when a segment does not start from the state the one before left
    fd = FUNCTIONS["OBV"]
    arrays = inputs_for(fd, panel_data(n_bars=200, n_assets=2))
    split = _split("OBV", SEG, 200)
    got = cuda_host.run_scan("OBV", arrays, {}, split)[0]
    broken = got.copy()
    broken[SEG:] -= broken[SEG - 1]  # every later segment as if it started from 0
    want = cuda_host.run("OBV", arrays, {}, 1)[0]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    assert not np.allclose(broken, want, rtol=1e-9, atol=1e-9)


def test_plan_fills_the_device() -> None:
    cut = gpu_scan.plan("OBV", 2520, 5000)
    assert cut.warm == 0 and cut.segments * 5000 >= time_split.TARGET_THREADS // 2
    sar = gpu_scan.plan("SAR", 2520, 5000)
    assert sar.warm == gpu_scan.SPECULATE_WARM and sar.segments >= 8


@pytest.mark.gpu
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_gpu_scan_equals_the_host_build(case: tuple) -> None:
    import cupy  # noqa: PLC0415

    name, values = case
    fd = FUNCTIONS[name]
    for data in _data(n_bars=600):
        arrays = inputs_for(fd, data)
        cut = gpu_scan.plan(name, 600, arrays[0].shape[1])
        outs = gpu_scan.run(name, [cupy.asarray(a) for a in arrays], values, cut)
        for g, h, w in zip(outs, cuda_host.run_scan(name, arrays, values, cut), _one_thread(name, arrays, values),
                           strict=True):
            np.testing.assert_allclose(cupy.asnumpy(g), h, rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=name)
            np.testing.assert_allclose(cupy.asnumpy(g), w, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=name)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_segments_equal_one_thread_on_degenerate_data(case: tuple) -> None:
    # ties, zeros and prices of 1e-9 (test_cpu_degenerate's data): the scans start from exact states
    from tests.kernels.indicators.talib.test_cpu_degenerate import DATASETS  # noqa: PLC0415

    name, values = case
    for data in DATASETS.values():
        arrays = inputs_for(FUNCTIONS[name], data)
        _check(name, arrays, values, _split(name, SEG, arrays[0].shape[0]))


def test_the_public_path_takes_only_the_routed_scans() -> None:
    assert gpu_scan.ROUTED <= set(gpu_scan.NAMES)
    assert gpu_scan.routed("SAR", FUNCTIONS["SAR"].defaults) and not gpu_scan.routed("T3", FUNCTIONS["T3"].defaults)


MEASURED_ROUTES = Path(__file__).resolve().parents[5] / "bench" / "results" / "talib_gpu_paths_h100.json"


def test_routed_scans_are_the_ones_measured_faster_and_equal() -> None:
    """Every routed scan was the fastest route of its function on the H100 and gave one thread per column's
    values (to 1e-8 of max(1, |value|): AD sums volumes of ~1e9); every scan left out was not both."""
    rows = {r["function"]: r for r in json.loads(MEASURED_ROUTES.read_text())["rows"]}

    def fastest_and_equal(name: str) -> bool:
        r = rows[name]
        others = [v for k, v in r.items() if k.endswith("_wall_ms") and k[:-8] not in ("scan", "public", "gap_check")]
        return r["scan_wall_ms"] < min(others) and r["scan_vs_column"] <= 1e-8

    for name in gpu_scan.ROUTED:
        assert fastest_and_equal(name), name
    left_out = {n for n in gpu_scan.NAMES if n in rows and "scan_wall_ms" in rows[n]} - gpu_scan.ROUTED
    assert not {n for n in left_out if fastest_and_equal(n) and rows[n]["scan_vs_column"] <= 1e-9}, left_out


def test_the_state_sizes_pick_the_entry_points_the_source_has() -> None:
    import ctypes  # noqa: PLC0415

    from kernels.indicators.talib.cpu import param_vector  # noqa: PLC0415

    dll = cuda_host.scan_library(gpu_scan.TECHNIQUES["affine"].source)
    dll.host_rs_dim.argtypes = [ctypes.c_int, ctypes.c_void_p]
    dll.host_rs_dim.restype = ctypes.c_int
    for name in gpu_scan.AFFINE:
        vector = np.ascontiguousarray(param_vector(name, FUNCTIONS[name].defaults))
        dim = dll.host_rs_dim(gpu_scan.AFFINE.index(name), vector.ctypes.data)
        assert dim == gpu_scan.AFFINE_DIMS.get(name, 1), name


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
@pytest.mark.parametrize("technique", sorted(gpu_scan.TECHNIQUES))
def test_source_compiles_for_the_gpu(technique: str, tmp_path) -> None:
    """The text NVRTC gets (headers written in) compiles for sm_90 with every entry point gpu_scan launches."""
    source = gpu_scan.TECHNIQUES[technique].source
    (tmp_path / "scan.cu").write_text(gpu_columns.expanded_source(source))
    r = subprocess.run(["nvcc", "-std=c++17", "--fmad=false", "-ptx", "-arch=sm_90", str(tmp_path / "scan.cu"),
                        "-o", str(tmp_path / "scan.ptx")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    ptx = (tmp_path / "scan.ptx").read_text()
    suffixes = {f"_{d}" for d in {1, *gpu_scan.AFFINE_DIMS.values()}} if technique == "affine" else {""}
    for phase, _ in gpu_scan.TECHNIQUES[technique].phases:
        for suffix in suffixes:
            assert f".entry {phase}{suffix}(" in ptx, phase + suffix


@pytest.mark.parametrize("name", ["CUMSUM", "VWAP", "ADOSC", "T3", "SAR", "SAREXT"])  # 1-4 inputs, both techniques
@settings(max_examples=10, deadline=None)
@given(seg=st.integers(1, 90), nan_rate=st.sampled_from([0.0, 0.002, 0.03]), late=st.integers(0, 320),
       seed=st.integers(0, 10_000))
def test_scans_mark_the_gaps_of_the_bars_they_read(name: str, seg: int, nan_rate: float, late: int,
                                                   seed: int) -> None:
    """With `marks` a scan's first phase leaves the gap marks of kernels/indicators/gaps_gpu.py (the api's
    one pass on gap-free columns): gappy exactly where a column misses a bar after its first valid one;
    the outputs are those of the scan without marks."""
    from kernels.indicators import gaps, gaps_gpu

    fd = FUNCTIONS[name]
    rng = np.random.default_rng(seed)
    arrays = [a.copy() for a in inputs_for(fd, _starts(random_data(n_bars=300, n_assets=4, seed=seed % 11),
                                                       [0, late, 0, 300]))]
    for a in arrays:
        a[rng.random(a.shape) < nan_rate] = np.nan
    arrays[-1][150, 2] = np.nan  # a bar missing in the last input only
    split = _split(name, max(seg, 8) if name in gpu_scan.SPECULATIVE else seg, 300)
    values = fd.check(fd.defaults)
    marks = np.full((2, 4), -1, dtype=np.int32)
    got = cuda_host.run_scan(name, arrays, values, split, marks=marks)
    valid = gaps.valid_mask(np, arrays)
    assert gaps_gpu.gappy(marks, 300).tolist() == [gaps.has_gaps(np, valid[:, [j]]) for j in range(4)]
    for g, p in zip(got, cuda_host.run_scan(name, arrays, values, split), strict=True):
        np.testing.assert_array_equal(g, p)
