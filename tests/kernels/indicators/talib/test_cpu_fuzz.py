"""The CPU backend against TA-Lib (0.8.1, the installed oracle) on inputs the other talib tests do not draw:
parameters from the whole valid range, data of about the lookback's length, constant / integer / tiny (1e-6) /
huge (1e6) prices, highs below lows, zero and negative volumes; a column alone and inside a wide C-ordered
panel (the row kernels); the streaming forms tick by tick.

The cases of the first part are the discrepancies a fuzzing pass found (each failed before its fix); the
Hypothesis test at the end draws (function, parameters, data kind, length) over all 201 functions.
Outputs at rtol 1e-9 (atol 1e-9 of the data's scale), NaN positions equal, integer outputs exactly.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernels.indicators import talib as ta
from kernels.indicators.talib.stream import TalibStream
from kernels.indicators.talib.table import FUNCTIONS, FuncDef

talib = pytest.importorskip("talib")


def walk(n: int, seed: int, scale: float = 1.0) -> dict[str, np.ndarray]:
    """A random walk OHLCV around 100 * scale (volume 1e3..1e5)."""
    rng = np.random.default_rng(seed)
    c = np.abs(100.0 + np.cumsum(rng.normal(0, 1, n))) + 5.0
    o = c + rng.normal(0, 0.5, n)
    h = np.maximum(o, c) + np.abs(rng.normal(0, 0.5, n))
    lo = np.minimum(o, c) - np.abs(rng.normal(0, 0.5, n))
    v = np.round(rng.uniform(1e3, 1e5, n))
    return {"open": o * scale, "high": h * scale, "low": lo * scale, "close": c * scale, "volume": v}


KINDS = ("walk", "tiny", "huge", "integer", "constant", "high_below_low", "negative_volume", "zero_volume", "flat")


def data(kind: str, n: int, seed: int) -> dict[str, np.ndarray]:
    d = walk(n, seed, {"tiny": 1e-6, "huge": 1e6}.get(kind, 1.0))
    rng = np.random.default_rng(seed + 1)
    if kind == "integer":
        d = {k: np.round(v) for k, v in d.items()}
    elif kind == "constant":
        d = {k: np.full(n, 1000.0 if k == "volume" else 50.0) for k in d}
    elif kind == "high_below_low":
        d["high"], d["low"] = d["low"].copy(), d["high"].copy()
    elif kind == "negative_volume":
        d["volume"] = np.where(rng.random(n) < 0.3, 0.0, d["volume"]) * np.where(rng.random(n) < 0.3, -1.0, 1.0)
    elif kind == "zero_volume":
        d["volume"] = np.zeros(n)
    elif kind == "flat":  # stretches of up to ~30 bars where every price is the first close
        flat = rng.random(n) < 0.05
        for _ in range(30):
            flat |= np.roll(flat, 1) & (rng.random(n) < 0.9)
        for k in ("open", "high", "low", "close"):
            d[k] = np.where(flat, d["close"][0], d[k])
    return d


def arrays_for(fd: FuncDef, d: dict[str, np.ndarray], seed: int = 0) -> list[np.ndarray]:
    out = []
    for name in fd.inputs:
        if name in d:
            out.append(d[name])
        elif name == "periods":
            out.append(np.random.default_rng(seed).integers(1, 45, d["close"].shape).astype(np.float64))
        elif name == "real0":
            out.append(d["high"])
        elif name == "real1":
            out.append(d["close"][::-1].copy() if fd.name in ("BETA", "CORREL") else d["low"])
        elif fd.group == "math_transform":
            c = d["close"]
            out.append(c / (np.nanmax(np.abs(c), axis=0) * 1.01))
        else:
            out.append(d["close"])
    return out


def assert_matches(name: str, got, want, scale: float, label: str = "") -> None:
    fd = FUNCTIONS[name]
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, (list, tuple)) else (want,)
    for out_name, g, w in zip(fd.outputs, got, want):
        g = np.asarray(g, dtype=np.float64)
        w = np.asarray(w, dtype=np.float64)
        msg = f"{name}.{out_name} {label}"
        if fd.is_int(out_name):
            np.testing.assert_array_equal(g, np.where(np.isnan(w), 0, w), err_msg=msg)
        else:
            np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=msg + ": NaN positions")
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9 * max(1.0, scale), equal_nan=True, err_msg=msg)


def check_column(name: str, params: dict, d: dict[str, np.ndarray], label: str = "") -> None:
    fd = FUNCTIONS[name]
    cols = arrays_for(fd, d)
    scale = float(max(np.nanmax(np.abs(c)) for c in cols))
    assert_matches(name, ta.call(name, cols, params), getattr(talib, name)(*cols, **params), scale, label)


# ---------------------------------------------------------------- the discrepancies found, one case each
CASES = [
    # CORREL: TA-Lib 0.8.1 takes its sums of deviations from a shift (0 from us for any spread under ~1e-4)
    ("CORREL", {"timeperiod": 30}, "tiny", 180),
    ("CORREL", {"timeperiod": 7}, "huge", 300),
    ("CORREL", {"timeperiod": 1}, "walk", 50),
    # fast %K and %R where the highs lie below the lows (the range is negative: TA-Lib takes the formula)
    ("STOCHF", {"fastk_period": 5, "fastd_period": 3, "fastd_matype": 0}, "high_below_low", 160),
    ("STOCHF", {"fastk_period": 1, "fastd_period": 1, "fastd_matype": 0}, "high_below_low", 60),
    ("STOCH", {"fastk_period": 5, "slowk_period": 3, "slowk_matype": 0, "slowd_period": 3, "slowd_matype": 0},
     "high_below_low", 160),
    ("STOCH", {"fastk_period": 9, "slowk_period": 4, "slowk_matype": 1, "slowd_period": 2, "slowd_matype": 2},
     "high_below_low", 160),
    ("WILLR", {"timeperiod": 2}, "high_below_low", 150),
    ("WILLR", {"timeperiod": 14}, "high_below_low", 150),
    ("SMI", {"timeperiod": 2, "fastperiod": 2, "slowperiod": 2, "signalperiod": 2}, "high_below_low", 150),
    # MFI: TA-Lib 0.8.1 tests the total for > 0 (not >= 1: tiny prices), clamps into [0, 100]
    ("MFI", {"timeperiod": 14}, "negative_volume", 160),
    ("MFI", {"timeperiod": 2}, "tiny", 150),
    ("MFI", {"timeperiod": 3}, "zero_volume", 80),
    # volume-weighted functions on zero / negative volume
    ("CMF", {"timeperiod": 20}, "negative_volume", 170),
    ("VWAP", {}, "negative_volume", 150),
    ("VWMA", {"timeperiod": 30}, "zero_volume", 60),
    ("VWMA", {"timeperiod": 1}, "zero_volume", 10),
    ("VWMA", {"timeperiod": 1}, "negative_volume", 40),
    ("RVOL", {"timeperiod": 20}, "zero_volume", 40),
    ("RVOL", {"timeperiod": 1}, "negative_volume", 150),
    # CMO: TA-Lib 0.8.1 tests the Wilder sum for exactly 0 (the 1e-8 band zeroed it after ~25 flat bars)
    ("CMO", {"timeperiod": 2}, "flat", 200),
    ("CMO", {"timeperiod": 3}, "flat", 200),
    # the DI family: TA-Lib 0.8.1 tests the smoothed true range for exactly 0 (not the 1e-8 band)
    ("PLUS_DI", {"timeperiod": 2}, "flat", 200),
    ("MINUS_DI", {"timeperiod": 3}, "flat", 200),
    ("DX", {"timeperiod": 2}, "flat", 200),
    ("ADX", {"timeperiod": 2}, "flat", 200),
    ("ADXR", {"timeperiod": 2}, "flat", 200),
]


LINREG = ["LINEARREG", "LINEARREG_SLOPE", "LINEARREG_INTERCEPT", "LINEARREG_ANGLE", "TSF"]


@pytest.mark.parametrize("name", LINREG)
@pytest.mark.parametrize("scale, period", [(1e4, 14), (1e6, 5), (100.0, 100), (100.0, 2)])
def test_linear_regressions_on_long_series(name: str, scale: float, period: int) -> None:
    """TA-Lib 0.8.1 slides the regression sums (taking them afresh every 32 * period bars): over 6000 bars its
    slope drifts from the per-bar sums by up to ~3e-8 relative, which it is ours to follow."""
    rng = np.random.default_rng(period)
    x = scale + np.cumsum(rng.normal(0, scale / 100, 6000))
    x[rng.integers(0, 6000, 20)] *= 1e4  # outliers: the departing term dwarfs the window, sums taken afresh
    got, want = getattr(ta, name)(x, timeperiod=period), getattr(talib, name)(x, timeperiod=period)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, equal_nan=True, err_msg=f"{name}({period})")


@pytest.mark.parametrize("name", ["VAR", "STDDEV", "BBANDS"])
@pytest.mark.parametrize("scale, period", [(1.0, 5), (1e6, 2), (1e-6, 30)])
def test_variance_after_outliers(name: str, scale: float, period: int) -> None:
    """TA-Lib 0.8.1's VAR rebuilds its shifted sums when the departing squared deviation exceeds 1e6 x the
    remaining sum (a 50x spike leaving the window) and tests the variance against the sum left after the
    trailing value: testing against the peak sum instead was ~1e-8 relative off after each spike. A column
    alone and inside a ten-column C-ordered panel (STDDEV's row kernel)."""
    rng = np.random.default_rng(11)
    x = (np.abs(100 + np.cumsum(rng.normal(0, 1, (3000, 10)), axis=0)) + 5) * scale
    x[rng.integers(0, 3000, 30), rng.integers(0, 10, 30)] *= 50
    x[500:540] = x[500]  # flat windows: the rebuilt variance floored to 0
    x = np.ascontiguousarray(x)
    params = {"timeperiod": period}
    if name == "BBANDS":  # the band half-widths, magnified: (upper - middle) / 100
        params.update(nbdevup=100.0, nbdevdn=-3.0, matype=0)
    panel = getattr(ta, name)(x, **params)
    panel = panel[0] if name == "BBANDS" else panel
    for j in range(10):
        want = getattr(talib, name)(x[:, j], **params)
        alone = getattr(ta, name)(x[:, j].copy(), **params)
        want, alone = (want[0], alone[0]) if name == "BBANDS" else (want, alone)
        for got, label in ((alone, "alone"), (panel[:, j], "in a panel")):
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, equal_nan=True,
                                       err_msg=f"{name}({period}) column {j} {label}")


@pytest.mark.parametrize("name", LINREG + ["FOSC"])
def test_linear_regressions_in_a_wide_panel(name: str) -> None:
    """Ten C-ordered columns starting at different bars (LINEARREG's row kernel), against TA-Lib."""
    rng = np.random.default_rng(1)
    x = np.ascontiguousarray(1e4 + np.cumsum(rng.normal(0, 100, (3000, 10)), axis=0))
    for j in range(10):
        x[: 37 * j, j] = np.nan
    got = getattr(ta, name)(x, timeperiod=9)
    for j in range(10):
        want = np.full(3000, np.nan)
        want[37 * j:] = getattr(talib, name)(x[37 * j:, j], timeperiod=9)
        np.testing.assert_allclose(got[:, j], want, rtol=1e-12, atol=0, equal_nan=True, err_msg=f"{name} column {j}")


@pytest.mark.parametrize("name, params, kind, n", CASES, ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_found_discrepancies(name: str, params: dict, kind: str, n: int) -> None:
    check_column(name, params, data(kind, n, seed=n), f"{params} on {kind} data")


@pytest.mark.parametrize("name", ["CORREL", "MFI", "CMF", "VWAP", "VWMA", "RVOL", "SMI", "WILLR", "STOCH", "STOCHF",
                                  "CMO", "PLUS_DI", "DX"])
def test_found_discrepancies_at_the_lookback_lengths(name: str) -> None:
    """The same data kinds at lengths lookback - 1, lookback, lookback + 1 (a first value alone)."""
    for name_, params, kind, _ in CASES:
        if name_ != name:
            continue
        lb = FUNCTIONS[name].lookback(**params)
        for n in (max(1, lb - 1), max(1, lb), lb + 1):
            check_column(name, params, data(kind, n, seed=n), f"{params} on {kind} data of {n} bars")


def _stretches(seed: int = 1, n: int = 300) -> dict[str, np.ndarray]:
    """Fractional volumes of either sign with runs of zero volume, closes with flat and nearly flat
    (1e-13) stretches, high = low = close."""
    rng = np.random.default_rng(seed)
    c = 100.0 + np.cumsum(rng.normal(0, 1, n))
    c[100:130] = c[100]
    c[200:220] = c[200] + rng.normal(0, 1e-13, 20)
    v = np.round(rng.uniform(0, 1e4, n), 3) * rng.choice([1.0, -1.0], n)
    v[40:46] = 0.0
    v[150:160] = 0.0
    return {"open": c.copy(), "high": c.copy(), "low": c.copy(), "close": c, "volume": v}


@pytest.mark.parametrize("name, params", [("MFI", {"timeperiod": 3}), ("MFI", {"timeperiod": 5}),
                                          ("MFI", {"timeperiod": 14}), ("RVOL", {"timeperiod": 3}),
                                          ("RVOL", {"timeperiod": 5}), ("VWMA", {"timeperiod": 3}),
                                          ("VWMA", {"timeperiod": 4}), ("CMF", {"timeperiod": 3}),
                                          ("VWAP", {})])
def test_zero_volume_runs_and_flat_stretches(name: str, params: dict) -> None:
    """MFI: a typical price within 1e-14 of the previous one is no move, and `period` bars without money
    flow empty the sums exactly; RVOL / VWMA keep the rounding residue of a window of zero volumes (x /
    residue, not 0 / 0) as TA-Lib 0.8.1 does."""
    check_column(name, params, _stretches(), str(params))


def test_vwap_leaves_out_bars_without_a_finite_price_or_volume() -> None:
    """nan_policy="propagate" (TA-Lib's own behaviour): TA-Lib 0.8.1's VWAP skips a bar whose typical price
    or volume is NaN or infinite and carries the last value."""
    d = walk(60, 4)
    d["close"][10] = np.nan
    d["volume"][20] = np.inf
    d["volume"][30] = np.nan
    cols = [d[k] for k in ("high", "low", "close", "volume")]
    assert_matches("VWAP", ta.VWAP(*cols, nan_policy="propagate"), talib.VWAP(*cols), 200.0, "propagate")


def test_mavp_refuses_a_minperiod_above_maxperiod() -> None:
    x = walk(80, 0)["close"]
    periods = np.full(80, 5.0)
    with pytest.raises(Exception):
        talib.MAVP(x, periods, minperiod=6, maxperiod=5)
    with pytest.raises(ValueError, match="minperiod must not exceed maxperiod"):
        ta.MAVP(x, periods, minperiod=6, maxperiod=5)
    check_column("MAVP", {"minperiod": 5, "maxperiod": 5, "matype": 0}, walk(80, 0))


@pytest.mark.parametrize("name, params, kind", [
    ("WILLR", {"timeperiod": 14}, "high_below_low"),
    ("STOCH", {"fastk_period": 5, "slowk_period": 3, "slowk_matype": 0, "slowd_period": 3, "slowd_matype": 0},
     "high_below_low"),
    ("STOCHF", {"fastk_period": 5, "fastd_period": 3, "fastd_matype": 0}, "high_below_low"),
    ("MFI", {"timeperiod": 14}, "negative_volume"),
    ("MFI", {"timeperiod": 5}, "tiny"),
    ("ADX", {"timeperiod": 2}, "flat"),
    ("ADXR", {"timeperiod": 3}, "flat"),
    ("PLUS_DI", {"timeperiod": 2}, "flat"),
    ("MINUS_DI", {"timeperiod": 2}, "flat"),
])
def test_found_discrepancies_in_a_wide_panel(name: str, params: dict, kind: str) -> None:
    """Ten C-ordered columns (the row kernels' layout) against TA-Lib column by column."""
    fd = FUNCTIONS[name]
    ds = [data(kind, 200, seed=s) for s in range(10)]
    panel = {k: np.ascontiguousarray(np.stack([d[k] for d in ds], axis=1)) for k in ds[0]}
    got = ta.call(name, arrays_for(fd, panel), params)
    got = got if isinstance(got, tuple) else (got,)
    for j, d in enumerate(ds):
        cols = arrays_for(fd, d)
        assert_matches(name, tuple(g[:, j] for g in got), getattr(talib, name)(*cols, **params),
                       float(max(np.abs(c).max() for c in cols)), f"column {j} of a panel")


@pytest.mark.parametrize("name, params, kind", [
    ("MFI", {"timeperiod": 5}, "negative_volume"),
    ("MFI", {"timeperiod": 14}, "tiny"),
    ("STOCHF", {"fastk_period": 7, "fastd_period": 2, "fastd_matype": 0}, "high_below_low"),
    ("STOCH", {"fastk_period": 3, "slowk_period": 2, "slowk_matype": 0, "slowd_period": 4, "slowd_matype": 0},
     "high_below_low"),
    ("PLUS_DI", {"timeperiod": 2}, "flat"),
    ("DX", {"timeperiod": 2}, "flat"),
    ("ADX", {"timeperiod": 2}, "flat"),
])
def test_streams_equal_talib_on_the_found_data(name: str, params: dict, kind: str) -> None:
    fd = FUNCTIONS[name]
    d = data(kind, 120, seed=3)
    cols = arrays_for(fd, d)
    s = TalibStream(name, 1, **params)
    ticks = [s.update(**{n: np.array([c[t]]) for n, c in zip(fd.inputs, cols)}) for t in range(120)]
    ticks = [np.stack(r)[:, 0] if isinstance(r, tuple) else r for r in ticks]
    streamed = tuple(np.array([np.atleast_1d(r)[k] for r in ticks]) for k in range(len(fd.outputs)))
    assert_matches(name, streamed, getattr(talib, name)(*cols, **params), float(max(np.abs(c).max() for c in cols)),
                   "streamed")


# ---------------------------------------------------------------- Hypothesis: any function, any parameters
ALL = sorted(FUNCTIONS)


@st.composite
def cases(draw):
    name = draw(st.sampled_from(ALL))
    fd = FUNCTIONS[name]
    params = {}
    for q in fd.params:
        if q.kind == "int":
            params[q.name] = draw(st.integers(int(q.lo), int(min(q.hi, 40))))
        elif q.kind == "matype":
            params[q.name] = draw(st.integers(0, 8))
        else:
            lo = q.lo if np.isfinite(q.lo) else -3.0
            hi = q.hi if np.isfinite(q.hi) else 3.0
            params[q.name] = draw(st.sampled_from([lo, hi, (lo + hi) / 2, q.default]) | st.floats(lo, hi))
    if name == "MAVP" and params["minperiod"] > params["maxperiod"]:
        params["minperiod"], params["maxperiod"] = params["maxperiod"], params["minperiod"]
    kind = draw(st.sampled_from(KINDS))
    lb = fd.lookback(**params)
    n = draw(st.sampled_from([max(1, lb - 1), max(1, lb), lb + 1, lb + 2, lb + 60]))
    return name, params, kind, n, draw(st.integers(0, 2**16))


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # examples: the profile (CI: 50)
@given(case=cases())
def test_any_function_any_parameters_matches_talib(case) -> None:
    name, params, kind, n, seed = case
    check_column(name, params, data(kind, n, seed), f"{params} on {kind} data of {n} bars (seed {seed})")


# ---------------------------------------------------------------- the CUDA twins of the fixed kernels
@pytest.mark.parametrize("name, params, kind, n", CASES, ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_cuda_host_build_on_the_found_discrepancies(name: str, params: dict, kind: str, n: int) -> None:
    """The CUDA C column kernels (built for the host with g++, cuda/cuda_host.py) share the fixed arithmetic."""
    from kernels.indicators.talib import gpu_columns  # noqa: PLC0415
    from tests.kernels.indicators.talib.cuda import cuda_host  # noqa: PLC0415

    if cuda_host.CXX is None:
        pytest.skip("g++ is not installed")
    if name not in gpu_columns.functions():
        pytest.skip(f"{name} has no CUDA column kernel")
    fd = FUNCTIONS[name]
    cols = arrays_for(fd, data(kind, n, seed=n))
    got = cuda_host.run(name, [c[:, None] for c in cols], fd.check(params), len(fd.outputs))
    assert_matches(name, tuple(np.asarray(g)[:, 0] for g in got), getattr(talib, name)(*cols, **params),
                   float(max(np.abs(c).max() for c in cols)), "CUDA host build")
