"""The time-major row kernels (`cpu/rows/`) give the column kernels' bits, function by function.

The column kernels are checked against TA-Lib itself (test_cpu_exact.py); the row kernels do the
same arithmetic per column in the same order, so the two layouts must agree exactly: outputs
(NaN positions included) and the columns reported as having interior gaps.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernels.indicators import talib as ta
from kernels.indicators.talib import cpu
from kernels.indicators.talib.cpu import rows
from kernels.indicators.talib.table import FUNCTIONS
from tests.kernels.indicators.talib.oracle import grid_data, inputs_for, panel_data, random_data, varied_params

ROW_FUNCTIONS = sorted(rows.registry())


def _gappy(d: dict, seed: int = 5) -> dict:
    """Late starts (one column never starts), a flat stretch, single-bar and multi-bar holes, a NaN in
    one input only: every way a column's start bar and its gaps can differ."""
    rng = np.random.default_rng(seed)
    out = {}
    for k, v in d.items():
        v = v.copy()
        v[:37, 1] = np.nan
        v[:150, 2] = np.nan
        v[:, 3] = np.nan
        v[200:230, 4] = v[200, 4]  # flat: ties in every window
        v[120, 5] = np.nan
        v[300:304, 6] = np.nan
        out[k] = v
    out["close"][250, 7] = np.nan  # one input only (high/low stay valid)
    out["close"][rng.integers(0, 400, 20), 8] = np.nan
    return out


def _data() -> dict:
    a, b = panel_data(n_assets=6, seed=2), random_data(n_assets=5, seed=4)
    return _gappy({k: np.ascontiguousarray(np.concatenate([a[k], b[k]], axis=1)) for k in a})


DATA = _data()


def _both(name: str, d: dict, params: dict) -> None:
    fd = FUNCTIONS[name]
    values = fd.check(params)
    arrays = [np.ascontiguousarray(a, dtype=np.float64) for a in inputs_for(fd, d)]
    m = arrays[0].shape[1]
    h_rows, h_cols = np.zeros(m, np.uint8), np.zeros(m, np.uint8)
    got = cpu.run(name, arrays, values, len(fd.outputs), h_rows, layout="rows")
    want = cpu.run(name, arrays, values, len(fd.outputs), h_cols, layout="columns")
    assert got.flags.c_contiguous
    for k, out_name in enumerate(fd.outputs):
        g, w = got[k], want[k]
        same = (g == w) | (np.isnan(g) & np.isnan(w))
        bad = np.argwhere(~same)
        assert bad.size == 0, (f"{name}.{out_name} {values}: {len(bad)} cells differ, first (bar, column) "
                               f"{bad[:3].tolist()}: rows {g[tuple(bad[0])]!r} columns {w[tuple(bad[0])]!r}")
        assert np.isfinite(w).any(), f"{name}.{out_name}: no values at all (a vacuous check)"
    np.testing.assert_array_equal(h_rows, h_cols, err_msg=f"{name}: columns with interior gaps")


@pytest.mark.parametrize("name", ROW_FUNCTIONS)
def test_rows_equal_columns_default_params(name: str) -> None:
    _both(name, DATA, FUNCTIONS[name].defaults)


@pytest.mark.parametrize("name", ROW_FUNCTIONS)
def test_rows_equal_columns_varied_params(name: str) -> None:
    params = varied_params(FUNCTIONS[name])
    if not rows.supports(name, FUNCTIONS[name].check(params)):
        params = {**params, **{q.name: q.default for q in FUNCTIONS[name].params if q.kind == "matype"}}
    _both(name, DATA, params)


@pytest.mark.parametrize("name", ROW_FUNCTIONS)
def test_rows_equal_columns_on_a_price_grid(name: str) -> None:
    """Prices on a coarse grid: equal highs and lows, zero moves, the ties and flat windows of real ticks."""
    _both(name, grid_data(n_assets=4), FUNCTIONS[name].defaults)


@pytest.mark.parametrize("name", ROW_FUNCTIONS)
def test_public_function_takes_the_row_kernels_and_matches_talib(name: str) -> None:
    """Through the public function (NaN policy "skip": gappy columns re-run packed), TA-Lib's values."""
    from tests.kernels.indicators.talib.test_cpu_exact import check  # noqa: PLC0415 - the TA-Lib oracle

    d = panel_data(n_assets=30, seed=7)
    assert rows.supports(name, FUNCTIONS[name].defaults, 30)
    check(name, d, FUNCTIONS[name].defaults)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(ROW_FUNCTIONS or ["SMA"]), n_bars=st.integers(1, 120), n_assets=st.integers(1, 7),
       period_pick=st.floats(0, 1), seed=st.integers(0, 2**16), nan_frac=st.sampled_from([0.0, 0.02, 0.2]))
def test_rows_equal_columns_property(name, n_bars, n_assets, period_pick, seed, nan_frac) -> None:
    """Any shape (one bar, one column, fewer bars than the lookback), any integer period, NaN anywhere."""
    fd = FUNCTIONS[name]
    rng = np.random.default_rng(seed)
    d = random_data(n_bars=n_bars, n_assets=n_assets, seed=seed)
    for k in d:
        d[k] = np.where(rng.random(d[k].shape) < nan_frac, np.nan, d[k])
    params = dict(fd.defaults)
    for q in fd.params:
        if q.kind == "int":
            hi = min(q.hi, max(q.lo, 60))
            params[q.name] = int(q.lo + round(period_pick * (hi - q.lo)))
    values = fd.check(params)
    if not rows.supports(name, values):
        return
    arrays = [np.ascontiguousarray(a) for a in inputs_for(fd, d)]
    m = arrays[0].shape[1]
    h_rows, h_cols = np.zeros(m, np.uint8), np.zeros(m, np.uint8)
    got = cpu.run(name, arrays, values, len(fd.outputs), h_rows, layout="rows")
    want = cpu.run(name, arrays, values, len(fd.outputs), h_cols, layout="columns")
    np.testing.assert_array_equal(got, want, err_msg=f"{name} {values}")
    np.testing.assert_array_equal(h_rows, h_cols)


def test_auto_layout_takes_rows_for_wide_c_ordered_panels_only() -> None:
    """"auto" answers C-ordered panels of MIN_COLUMNS columns or more from the row kernels; Fortran-ordered
    inputs and narrow panels keep the column kernels' layout (same values)."""
    narrow = np.ascontiguousarray(panel_data(n_assets=rows.MIN_COLUMNS - 1)["close"])
    assert not cpu.run("SMA", [narrow], {"timeperiod": 10}, 1).flags.c_contiguous
    x = np.ascontiguousarray(panel_data(n_assets=rows.MIN_COLUMNS)["close"])
    c_out = cpu.run("SMA", [x], {"timeperiod": 10}, 1)
    f_out = cpu.run("SMA", [np.asfortranarray(x)], {"timeperiod": 10}, 1)
    assert c_out.flags.c_contiguous and not f_out.flags.c_contiguous
    np.testing.assert_array_equal(c_out, f_out)
    np.testing.assert_array_equal(ta.SMA(x, timeperiod=10), c_out[0])
