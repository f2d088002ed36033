"""Every TA-Lib function on the CPU backend against TA-Lib itself (1e-9; integer outputs exactly)."""
from __future__ import annotations

import numpy as np
import pytest

from kernels.indicators import talib as ta
from kernels.indicators.talib import cpu
from kernels.indicators.talib.table import FUNCTIONS
from tests.kernels.indicators.talib.oracle import ALL, candle_data, inputs_for, panel_data, random_data, reference, varied_params

IMPLEMENTED = [n for n in ALL if n in cpu.registry()]
DATA = {"panel": panel_data(), "random": random_data()}


def _late(d: dict) -> dict:
    """Column 1 starts at bar 37, column 2 at bar 150 (leading NaN in every field)."""
    out = {}
    for k, v in d.items():
        v = v.copy()
        v[:37, 1] = np.nan
        v[:150, 2] = np.nan
        out[k] = v
    return out


def check(name: str, d: dict, params: dict) -> None:
    fd = FUNCTIONS[name]
    arrays = inputs_for(fd, d)
    got = getattr(ta, name)(*arrays, **params)
    got = got if isinstance(got, tuple) else (got,)
    want = reference(fd, arrays, params)
    for out_name, g, w in zip(fd.outputs, got, want):
        assert g.shape == w.shape
        if fd.is_int(out_name):
            assert g.dtype == np.int32
            bad = np.argwhere(g != w)
            assert bad.size == 0, f"{name}.{out_name}: {len(bad)} bars differ, first {bad[:5].tolist()}"
        else:
            np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=f"{name}.{out_name}: NaN positions")
            assert np.isfinite(w).any(axis=0).all(), f"{name}.{out_name}: the oracle has no values (a vacuous check)"
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=f"{name}.{out_name}")


BOTH = {k: np.concatenate([DATA["panel"][k], DATA["random"][k]], axis=1) for k in DATA["panel"]}


@pytest.mark.parametrize("name", IMPLEMENTED)
def test_default_params(name: str) -> None:
    """Realistic (synthetic_panel) and rough random columns side by side, default parameters."""
    check(name, BOTH, FUNCTIONS[name].defaults)


@pytest.mark.parametrize("name", IMPLEMENTED)
def test_varied_params_late_start(name: str) -> None:
    check(name, _late(DATA["panel"]), varied_params(FUNCTIONS[name]))


MATYPE_CASES = [("MA", m) for m in range(14)] + [(n, m) for n in ("BBANDS", "STOCH", "MACDEXT", "APO", "MAVP")
                                                  for m in (1, 3, 6, 7, 8, 9, 10, 12, 13)]


@pytest.mark.parametrize("name, matype", MATYPE_CASES)
def test_every_matype(name: str, matype: int) -> None:
    if name not in cpu.registry():
        pytest.skip(f"{name} has no CPU kernel yet")
    fd = FUNCTIONS[name]
    params = {q.name: (matype if q.kind == "matype" else q.default) for q in fd.params}
    check(name, DATA["panel"], params)


@pytest.mark.parametrize("name", ALL)
def test_lookback_matches_talib(name: str) -> None:
    from talib import abstract

    fd = FUNCTIONS[name]
    for params in (fd.defaults, varied_params(fd)):
        f = abstract.Function(name)
        f.set_parameters(params)
        assert fd.lookback(**params) == f.lookback, params


def test_every_function_has_a_cpu_kernel() -> None:
    missing = [n for n in ALL if n not in cpu.registry()]
    assert not missing, f"{len(missing)} functions without a CPU kernel: {missing}"


PATTERNS = [n for n in IMPLEMENTED if n.startswith("CDL")]
CANDLES = [candle_data(), candle_data(n_bars=60, n_assets=1, seed=1239), candle_data(n_bars=60, n_assets=1, seed=1466)]


@pytest.mark.parametrize("name", PATTERNS)
def test_patterns_on_candle_shapes(name: str) -> None:
    """Bars from an alphabet of candle shapes, where most patterns occur (see test_patterns_are_exercised)."""
    for d in CANDLES:
        check(name, d, FUNCTIONS[name].defaults)


def test_patterns_are_exercised() -> None:
    """At least 59 of the 61 patterns fire somewhere in the test data (so their checks are not vacuous;
    CDLCONCEALBABYSWALL and CDLMATHOLD never do)."""
    import talib

    fired = set()
    for d in [DATA["panel"], DATA["random"], *CANDLES]:
        for name in PATTERNS:
            for j in range(d["close"].shape[1]):
                if (getattr(talib, name)(*[d[f][:, j] for f in ("open", "high", "low", "close")]) != 0).any():
                    fired.add(name)
    assert len(fired) >= 59, sorted(set(PATTERNS) - fired)


@pytest.mark.parametrize("name", ["STOCH", "STOCHF", "WILLR", "STOCHRSI"])
@pytest.mark.parametrize("step", [1.0, 1e-9], ids=["walk", "nearly_flat"])
def test_stochastics_equal_talib_bit_for_bit(name, step):
    """Fast %K and %R take TA-Lib's rounding, (close - LL) / (HH - LL) * 100 (dividing by (HH - LL) / 100
    was an ulp off on about a third of the bars); STOCHRSI's RSI its rounding too, which the 1e-9 steps
    (a nearly flat RSI window) turn into whole points of %K."""
    talib = pytest.importorskip("talib")
    rng = np.random.default_rng(11)
    c = 100.0 + np.cumsum(rng.standard_normal(1500)) * step
    h, lo = c + rng.random(1500) * step, c - rng.random(1500) * step
    args = (c,) if name == "STOCHRSI" else (h, lo, c)
    got, want = getattr(ta, name)(*args), getattr(talib, name)(*args)
    for g, w in zip(*(x if isinstance(x, tuple) else (x,) for x in (got, want))):
        np.testing.assert_array_equal(g, w, err_msg=name)
