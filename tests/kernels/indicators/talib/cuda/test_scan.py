"""Affine scans over time segments (kernels/indicators/talib/gpu_scan.py): the functions that never
forget, with several threads per column give the one-thread-per-column results, and TA-Lib's, to 1e-9.

The host build of cuda/scan/recurrences.cu runs the three phases as the GPU would, so CI checks
every segment kind: columns starting in the first segment, inside a later one, exactly on a segment
boundary, columns with no valid bar, and segments of one bar.
"""
from __future__ import annotations

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.indicators.talib import gpu_columns, gpu_scan, time_split
from kernels.indicators.talib.table import FUNCTIONS
from tests.kernels.indicators.talib.cuda import cuda_host
from tests.kernels.indicators.talib.oracle import inputs_for, panel_data, random_data, varied_params

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


def _check(name: str, arrays: list, values: dict, split: time_split.Split) -> None:
    want = cuda_host.run(name, arrays, values, 1)[0]  # the column kernel, one thread per column
    got = cuda_host.run_scan(name, arrays, values, split)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{name}: NaN bars differ in {split}")
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=f"{name} in {split}")


def test_every_scanned_function_has_a_column_kernel_and_no_warm_up_bound() -> None:
    assert set(gpu_scan.NAMES) <= set(gpu_columns.functions())
    for name in gpu_scan.NAMES:
        assert time_split.warm_bars(name, FUNCTIONS[name].defaults) is None


@pytest.mark.parametrize("name", gpu_scan.NAMES)
def test_segments_equal_one_thread_per_column(name: str) -> None:
    fd = FUNCTIONS[name]
    for params in (fd.defaults, varied_params(fd)):
        values = fd.check(params)
        assert gpu_scan.covers(name, values)
        for data in _data():
            arrays = inputs_for(fd, data)
            _check(name, arrays, values, time_split.Split(SEG, 0, arrays[0].shape[0]))


@pytest.mark.parametrize("name", gpu_scan.NAMES)
def test_segments_equal_talib(name: str) -> None:
    fd = FUNCTIONS[name]
    values = fd.check(fd.defaults)
    arrays = inputs_for(fd, panel_data(n_bars=500, n_assets=3))
    got = cuda_host.run_scan(name, arrays, values, gpu_scan.plan(500, 3))
    assert gpu_scan.plan(500, 3).segments > 1
    for j in range(3):
        want = getattr(talib, name)(*[np.ascontiguousarray(a[:, j]) for a in arrays], **values)
        np.testing.assert_allclose(got[:, j], want, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=f"{name} column {j}")


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(gpu_scan.NAMES), seg=st.integers(1, 90), late=st.integers(0, 320),
       seed=st.integers(0, 10))
def test_any_segment_length_and_start(name: str, seg: int, late: int, seed: int) -> None:
    fd = FUNCTIONS[name]
    arrays = inputs_for(fd, _starts(random_data(n_bars=300, n_assets=2, seed=seed), [0, late]))
    _check(name, arrays, fd.check(fd.defaults), time_split.Split(seg, 0, 300))


def test_a_wrong_carry_is_caught() -> None:
    # the check above must fail when a segment does not start from the state the one before left
    fd = FUNCTIONS["OBV"]
    arrays = inputs_for(fd, panel_data(n_bars=200, n_assets=2))
    split = time_split.Split(SEG, 0, 200)
    got = cuda_host.run_scan("OBV", arrays, {}, split)
    broken = got.copy()
    broken[SEG:] -= broken[SEG - 1]  # every later segment as if it started from 0
    want = cuda_host.run("OBV", arrays, {}, 1)[0]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    assert not np.allclose(broken, want, rtol=1e-9, atol=1e-9)


def test_kama_of_one_bar_is_left_to_the_column_kernel() -> None:
    assert not gpu_scan.covers("KAMA", {"timeperiod": 1}) and gpu_scan.covers("KAMA", {"timeperiod": 2})


def test_plan_fills_the_device() -> None:
    cut = gpu_scan.plan(2520, 5000)
    assert cut.warm == 0 and cut.segments * 5000 >= time_split.TARGET_THREADS // 2
