"""Time segments (kernels/indicators/talib/time_split.py): several threads per column give the
one-thread-per-column results to 1e-9.

The host build of the CUDA sources runs the kernels with the same entry point as the GPU,
segments included, so CI checks every function's warm-up rule: short segments (40 bars,
far shorter than the planner would pick) put many segment starts into every dataset, and a
column starting late puts its first bar inside a segment's warm-up.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.indicators.talib import gpu_columns, time_split
from kernels.indicators.talib.table import FUNCTIONS
from tests.kernels.indicators.talib.cuda import cuda_host
from tests.kernels.indicators.talib.oracle import candle_data, inputs_for, panel_data, random_data, varied_params

pytestmark = pytest.mark.skipif(cuda_host.CXX is None, reason="g++ is not installed")

SPLIT = [n for n in gpu_columns.functions() if time_split.warm_bars(n, FUNCTIONS[n].defaults) is not None]
SEG = 40


def _late(d: dict[str, np.ndarray], at: int) -> dict[str, np.ndarray]:
    out = {k: v.copy() for k, v in d.items()}
    for v in out.values():
        v[:at, 1] = np.nan
    return out


def _data(fd, warm: int) -> dict[str, dict[str, np.ndarray]]:
    n_bars = max(400, 3 * warm + 4 * SEG)  # segments whose warm-up lies entirely inside the data
    late = warm + SEG + 7  # column 1 starts inside the warm-up of a later segment
    if fd.group == "pattern":
        return {"candles": _late(candle_data(n_bars=n_bars, n_assets=2), late)}
    return {"panel": _late(panel_data(n_bars=n_bars, n_assets=3), late),
            "random": _late(random_data(n_bars=n_bars, n_assets=3), late)}


def _compare(name: str, arrays: list, values: dict, split: time_split.Split) -> None:
    fd = FUNCTIONS[name]
    want = cuda_host.run(name, arrays, values, len(fd.outputs))
    got = cuda_host.run(name, arrays, values, len(fd.outputs), split=split)
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=f"{name} {fd.outputs[k]}: NaN bars differ")
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9, equal_nan=True,
                                   err_msg=f"{name} {fd.outputs[k]} in {split}, {values}")


@pytest.mark.parametrize("name", SPLIT)
def test_segments_equal_one_thread_per_column(name: str) -> None:
    fd = FUNCTIONS[name]
    for params in (fd.defaults, varied_params(fd)):
        values = fd.check(params)
        warm = time_split.warm_bars(name, values)
        if warm is None:
            continue
        for data in _data(fd, warm).values():
            arrays = inputs_for(fd, data)
            _compare(name, arrays, values, time_split.Split(SEG, warm, arrays[0].shape[0]))


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(sorted(time_split.WINDOW & set(SPLIT))), seg=st.integers(1, 90),
       late=st.integers(0, 200), seed=st.integers(0, 10))
def test_window_functions_any_segment_length(name: str, seg: int, late: int, seed: int) -> None:
    fd = FUNCTIONS[name]
    values = fd.check(fd.defaults)
    data = candle_data(n_bars=300, n_assets=2, seed=seed) if fd.group == "pattern" else \
        random_data(n_bars=300, n_assets=2, seed=seed)
    arrays = inputs_for(fd, _late(data, late))
    _compare(name, arrays, values, time_split.Split(seg, time_split.warm_bars(name, values), 300))


def test_functions_that_never_forget_keep_one_thread_per_column() -> None:
    for name in ("OBV", "AD", "SAR", "KAMA", "CUMSUM", "HT_SINE"):
        assert time_split.warm_bars(name, FUNCTIONS[name].defaults) is None
        assert time_split.plan(2520, 5000, None).segments == 1
    assert time_split.warm_bars("MA", {"timeperiod": 30, "matype": 6}) is None  # KAMA through MA


def test_plan_fills_the_device_and_bounds_the_repeated_warm_up() -> None:
    cut = time_split.plan(2520, 5000, 10)
    assert cut.segments * 5000 >= time_split.TARGET_THREADS // 2
    assert cut.seg >= time_split.WARM_RATIO * cut.warm
    wide = time_split.plan(2520, 5000, 2000)  # a warm-up as long as the data: one thread a column
    assert wide.segments == 1 and wide.warm == 0
    assert time_split.plan(100, 1, 5).seg >= time_split.MIN_SEG


def _degenerate() -> tuple[dict[str, dict[str, np.ndarray]], Any]:
    from tests.kernels.indicators.talib.test_cpu_degenerate import DATASETS, _params  # noqa: PLC0415

    return DATASETS, _params


@pytest.mark.parametrize("name", SPLIT)
def test_segments_equal_one_thread_on_degenerate_data(name: str) -> None:
    # ties (the grid), zeros and prices of 1e-9: where a function's value depends on more than its window
    # (MAXINDEX's tie rule, COPPOCK's and CVI's ratios of tiny numbers), time_split must not cut it
    fd = FUNCTIONS[name]
    datasets, params_of = _degenerate()
    for values in (fd.check(v) for v in params_of(fd)):
        warm = time_split.warm_bars(name, values)
        if warm is None:
            continue
        for label, data in datasets.items():
            arrays = inputs_for(fd, data)
            split = time_split.Split(SEG, warm, arrays[0].shape[0])
            want = cuda_host.run(name, arrays, values, len(fd.outputs))
            got = cuda_host.run(name, arrays, values, len(fd.outputs), split=split)
            for k, (g, w) in enumerate(zip(got, want)):
                msg = f"{name} {fd.outputs[k]} on {label} data in {split}, {values}"
                if fd.is_int(fd.outputs[k]):
                    np.testing.assert_array_equal(g, w, err_msg=msg)
                else:
                    np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=msg)



@pytest.fixture(scope="module")
def bench_panel() -> dict[str, np.ndarray]:
    """Columns of the benchmark's panel (bench_gpu_paths.py: synthetic_panel, 2520 bars)."""
    from kernels.data import synthetic_panel

    p = synthetic_panel(n_assets=48, n_bars=2520, seed=0)
    return {f: np.ascontiguousarray(getattr(p, f), dtype=np.float64) for f in ("open", "high", "low", "close",
                                                                                "volume")}


@pytest.mark.parametrize("name", SPLIT)
def test_segments_the_planner_cuts_on_the_benchmark_panel_equal_one_thread(name: str, bench_panel) -> None:
    """The segments `time_split.plan` gives a 2520 x 5000 panel (the H100 benchmark's), on long real-looking
    columns, to 1e-9 of one thread per column in the benchmark's measure (|a - b| / max(1, |b|)): the
    H100 run found LINEARREG_ANGLE at 5.8e-9 there, which the short datasets above do not show."""
    fd = FUNCTIONS[name]
    values = fd.check(fd.defaults)
    arrays = inputs_for(fd, bench_panel)
    split = time_split.plan(2520, 5000, time_split.warm_bars(name, values))
    got = cuda_host.run(name, arrays, values, len(fd.outputs), split=split)
    want = cuda_host.run(name, arrays, values, len(fd.outputs))
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=f"{name} {fd.outputs[k]}: NaN bars differ")
        ok = ~np.isnan(w)
        worst = float(np.max(np.abs(g[ok] - w[ok]) / np.maximum(1.0, np.abs(w[ok])), initial=0.0))
        assert worst <= 1e-9, f"{name} {fd.outputs[k]}: {worst:.2e} from one thread per column in {split}"
