"""The NaN policy for interior gaps (kernels/indicators/gaps.py, docs/backtest-semantics.md).

"skip" (default): every indicator equals TA-Lib run on each column's valid values
(scattered back, NaN at the missing bars), and pandas' rolling(min_periods=n) over
the valid values; a gap longer than max_gap restarts the warm-up (TA-Lib on each
segment). "propagate": TA-Lib's own behaviour (tests/kernels/indicators/test_indicators.py).
Random gaps on both backends; the Numba packing against the xp packing; backtests
and sweeps on gappy data; the stream with missing ticks.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from kernels import indicators as ind
from kernels.backend import to_numpy
from kernels.indicators import gaps
from tests.conftest import backends

talib = pytest.importorskip("talib")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

RTOL = 1e-9


def _data(seed: int, t: int = 300, n: int = 4, p_gap: float = 0.05) -> dict[str, np.ndarray]:
    """OHLCV random walks with whole missing bars (all fields NaN), a late start and a delisting."""
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.standard_normal((t, n)) * 0.02, 0))
    high = close * (1 + rng.uniform(0, 0.02, (t, n)))
    low = close * (1 - rng.uniform(0, 0.02, (t, n)))
    volume = rng.integers(1, 1000, (t, n)).astype(np.float64)
    missing = rng.random((t, n)) < p_gap
    missing[:20, 1] = True  # late start
    missing[-15:, 2] = True  # delisted
    missing[100:112, 3] = True  # a 12-bar halt
    out = {"high": high, "low": low, "close": close, "volume": volume}
    for a in out.values():
        a[missing] = np.nan
    return out


def _zscore(x: np.ndarray, n: int) -> np.ndarray:
    with np.errstate(all="ignore"):
        z = (x - talib.SMA(x, n)) / talib.STDDEV(x, n, 1.0)
    return np.where(np.isfinite(z), z, np.nan)


def _vwap(h, lo, c, v, n: int) -> np.ndarray:
    tp = (h + lo + c) / 3.0
    num = pd.Series(tp * v).rolling(n).sum().to_numpy()
    den = pd.Series(v).rolling(n).sum().to_numpy()
    with np.errstate(all="ignore"):
        return np.where(den > 0, num / den, np.nan)


# (name, TA-Lib-like function of 1-D valid values, fields, params)
CASES = [
    ("sma", lambda x, timeperiod: talib.SMA(x, timeperiod), ("close",), {"timeperiod": 10}),
    ("ema", lambda x, timeperiod: talib.EMA(x, timeperiod), ("close",), {"timeperiod": 12}),
    ("wma", lambda x, timeperiod: talib.WMA(x, timeperiod), ("close",), {"timeperiod": 7}),
    ("rsi", lambda x, timeperiod: talib.RSI(x, timeperiod), ("close",), {"timeperiod": 14}),
    ("roc", lambda x, timeperiod: talib.ROC(x, timeperiod), ("close",), {"timeperiod": 5}),
    ("rolling_std", lambda x, timeperiod, nbdev: talib.STDDEV(x, timeperiod, nbdev), ("close",),
     {"timeperiod": 9, "nbdev": 1.0}),
    ("zscore", lambda x, timeperiod: _zscore(x, timeperiod), ("close",), {"timeperiod": 20}),
    ("macd", lambda x, **kw: talib.MACD(x, **kw), ("close",), {"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}),
    ("bbands", lambda x, timeperiod, nbdevup, nbdevdn: talib.BBANDS(x, timeperiod, nbdevup, nbdevdn, 0), ("close",),
     {"timeperiod": 20, "nbdevup": 2.0, "nbdevdn": 2.0}),
    ("stoch", lambda h, lo, c, **kw: talib.STOCH(h, lo, c, **kw), ("high", "low", "close"),
     {"fastk_period": 5, "slowk_period": 3, "slowd_period": 3}),
    ("atr", lambda h, lo, c, timeperiod: talib.ATR(h, lo, c, timeperiod), ("high", "low", "close"), {"timeperiod": 14}),
    ("obv", lambda c, v: talib.OBV(c, v), ("close", "volume"), {}),
    ("vwap", lambda h, lo, c, v, timeperiod: _vwap(h, lo, c, v, timeperiod), ("high", "low", "close", "volume"),
     {"timeperiod": 14}),
]
IDS = [c[0] for c in CASES]


def _oracle(fn, arrays: list[np.ndarray], max_gap: int | None, **params: Any) -> list[np.ndarray]:
    """fn over each segment of each column's valid values (a segment ends at a gap > max_gap)."""
    n_bars, n_cols = arrays[0].shape
    outs: list[np.ndarray] | None = None
    for j in range(n_cols):
        valid = np.flatnonzero(np.all([~np.isnan(a[:, j]) for a in arrays], axis=0))
        if valid.size == 0:
            continue
        breaks = np.flatnonzero(np.diff(valid) - 1 > (max_gap if max_gap is not None else n_bars)) + 1
        for seg in np.split(valid, breaks):
            res = fn(*[np.ascontiguousarray(a[seg, j]) for a in arrays], **params)
            res = list(res) if isinstance(res, (tuple, list)) else [res]
            if outs is None:
                outs = [np.full((n_bars, n_cols), np.nan) for _ in res]
            for o, r in zip(outs, res):
                o[seg, j] = r
    return outs


def _check(got: Any, ref: list[np.ndarray], msg: str) -> None:
    got = [to_numpy(g) for g in (got if isinstance(got, tuple) else (got,))]
    assert len(got) == len(ref)
    for k, (g, r) in enumerate(zip(got, ref)):
        assert np.array_equal(np.isnan(g), np.isnan(r)), f"{msg}[{k}]: NaN positions differ"
        np.testing.assert_allclose(g, r, rtol=RTOL, atol=1e-9, equal_nan=True, err_msg=f"{msg}[{k}]")


def _to(backend: str, a: np.ndarray) -> Any:
    if backend == "gpu":
        import cupy as cp  # noqa: PLC0415

        return cp.asarray(a)
    return a


# ------------------------------------------------------------------ batch, both backends
@pytest.mark.parametrize("backend", list(backends()))
@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("max_gap", [None, 3])
def test_skip_equals_talib_on_valid_values(case: tuple, backend: str, max_gap: int | None) -> None:
    name, fn, fields, params = case
    for seed in (1, 2):
        d = _data(seed)
        arrays = [d[f] for f in fields]
        ref = _oracle(fn, arrays, max_gap, **params)
        got = getattr(ind, name)(*[_to(backend, a) for a in arrays], max_gap=max_gap, **params)
        _check(got, ref, f"{name} seed={seed} max_gap={max_gap}")


@pytest.mark.parametrize("backend", list(backends()))
def test_skip_equals_pandas_rolling_on_valid_values(backend: str) -> None:
    """SMA and the population std are pandas' rolling(min_periods=n) over each column's valid values."""
    d = _data(7, t=400, n=5, p_gap=0.1)
    close = pd.DataFrame(d["close"])
    sma = to_numpy(ind.sma(_to(backend, d["close"]), 15))
    std = to_numpy(ind.rolling_std(_to(backend, d["close"]), 15))
    for j in close.columns:
        valid = close[j].dropna()
        exp_sma = valid.rolling(15, min_periods=15).mean().reindex(close.index)
        exp_std = valid.rolling(15, min_periods=15).std(ddof=0).reindex(close.index)
        np.testing.assert_allclose(sma[:, j], exp_sma.to_numpy(), rtol=1e-9, equal_nan=True)
        np.testing.assert_allclose(std[:, j], exp_std.to_numpy(), rtol=1e-6, atol=1e-9, equal_nan=True)


def test_an_interior_nan_does_not_poison_the_series() -> None:
    x = 100.0 + np.cumsum(np.random.default_rng(0).standard_normal(1000))
    x[500] = np.nan
    skip = ind.sma(x, 20)
    prop = ind.sma(x, 20, nan_policy="propagate")
    assert np.isnan(prop[500:]).all()  # TA-Lib: poisoned for good
    assert np.isnan(skip[500]) and np.isfinite(skip[501:]).all()
    assert skip[501] == pytest.approx(np.mean(np.r_[x[481:500], x[501]]), rel=1e-12)
    np.testing.assert_array_equal(skip[:500], prop[:500])


def test_max_gap_restarts_the_warm_up() -> None:
    x = 100.0 + np.cumsum(np.random.default_rng(1).standard_normal(200))
    x[100:105] = np.nan  # a 5-bar gap
    long_ok = ind.ema(x, 10, max_gap=5)  # gap not longer than max_gap: continues
    restart = ind.ema(x, 10, max_gap=4)
    assert np.isfinite(long_ok[105:]).all()
    assert np.isnan(restart[105:114]).all() and np.isfinite(restart[114:]).all()
    np.testing.assert_allclose(restart[105:], talib.EMA(x[105:], 10)[:], rtol=1e-12, equal_nan=True)


def test_no_gaps_is_the_kernel_itself() -> None:
    d = _data(3, p_gap=0.0)
    c = d["close"][:, [0]]  # no missing bar at all
    np.testing.assert_array_equal(ind.rsi(c), ind.rsi(c, nan_policy="propagate"))


def test_policy_arguments_are_validated() -> None:
    x = np.arange(1.0, 50.0)
    with pytest.raises(ValueError, match="nan_policy"):
        ind.sma(x, 5, nan_policy="drop")
    with pytest.raises(ValueError, match="max_gap"):
        ind.sma(x, 5, max_gap=-1)
    with pytest.raises(ValueError, match="max_gap"):
        ind.compute({"close": x}, ["sma"], max_gap=1.5)


@pytest.mark.parametrize("backend", list(backends()))
def test_compute_follows_the_policy(backend: str) -> None:
    d = _data(5)
    data = {f: _to(backend, a) for f, a in d.items()}
    specs = ["rsi", ("sma", {"timeperiod": 20}), "macd", "atr", "obv", "stoch"]
    for max_gap in (None, 2):
        out = ind.compute(data, specs, max_gap=max_gap)
        for key, ref in (("rsi", ind.rsi(data["close"], max_gap=max_gap)),
                         ("sma_20", ind.sma(data["close"], 20, max_gap=max_gap)),
                         ("macd.macdsignal", ind.macd(data["close"], max_gap=max_gap).macdsignal),
                         ("atr", ind.atr(data["high"], data["low"], data["close"], max_gap=max_gap)),
                         ("obv", ind.obv(data["close"], data["volume"], max_gap=max_gap)),
                         ("stoch.slowd", ind.stoch(data["high"], data["low"], data["close"], max_gap=max_gap)[1])):
            np.testing.assert_array_equal(to_numpy(out[key]), to_numpy(ref), err_msg=key)
        prop = ind.compute(data, specs, nan_policy="propagate")
        np.testing.assert_array_equal(to_numpy(prop["rsi"]), to_numpy(ind.rsi(data["close"], nan_policy="propagate")))


# ------------------------------------------------------------------ the packing itself
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), p=st.floats(0.0, 0.9), max_gap=st.one_of(st.none(), st.integers(0, 6)))
def test_numba_packing_equals_xp_packing(seed: int, p: float, max_gap: int | None) -> None:
    rng = np.random.default_rng(seed)
    t, n = int(rng.integers(1, 40)), int(rng.integers(1, 6))
    x = rng.standard_normal((t, n))
    x[rng.random((t, n)) < p] = np.nan
    valid = ~np.isnan(x)
    y = np.where(rng.random((t, n)) < p / 4, np.nan, 1.0)  # a second input: a bar is valid when both are
    assert gaps.inputs_have_gaps(np, [x]) == gaps.has_gaps(np, valid)
    assert gaps.inputs_have_gaps(np, [x, y]) == gaps.has_gaps(np, gaps.valid_mask(np, [x, y]))
    _, gap = gaps.check_policy("test", "skip", max_gap)
    seg_nb = gaps.plan_nb(valid, gap)
    seg_xp = gaps.plan_xp(np, valid, gap)
    assert seg_nb.n_segments == seg_xp.n_segments
    assert seg_nb.n_rows == seg_xp.n_rows
    packed_nb = gaps.gather(np, [x], valid, seg_nb)[0]
    packed_xp = gaps.gather_xp(np, x, seg_xp)
    np.testing.assert_array_equal(packed_nb, packed_xp)
    back_nb = gaps.scatter(np, packed_nb * 2.0, valid, seg_nb)
    np.testing.assert_array_equal(back_nb, gaps.scatter_xp(np, packed_xp * 2.0, seg_xp, (t, n)))
    np.testing.assert_array_equal(back_nb, np.where(valid, x * 2.0, np.nan))


# ------------------------------------------------------------------ backtests
def test_trend_following_trades_after_an_interior_gap() -> None:
    """The issue's case: a NaN at bar 500 of 1000 no longer turns trend_following off for good."""
    from kernels.backtest import run
    from kernels.data import Panel, synthetic_panel

    p = synthetic_panel(3, 1000, seed=4)
    close = np.array(p.close, copy=True)
    close[500, :] = np.nan
    gappy = Panel(p.index, p.symbols, p.open, p.high, p.low, close, p.volume)
    res = run(gappy, "trend_following", {"fast": 10, "slow": 50, "long_only": False}, backend="cpu")
    pos = res.positions.to_numpy()
    assert pos[500].tolist() == [0.0, 0.0, 0.0]  # no data, no position
    assert (np.abs(pos[501:]) > 0).mean(axis=0).min() > 0.9  # trades on, from the next bar
    clean = run(p, "trend_following", {"fast": 10, "slow": 50, "long_only": False}, backend="cpu")
    np.testing.assert_array_equal(pos[:500], clean.positions_array[:500])
    assert np.isnan(ind.sma(close, 50, nan_policy="propagate")[501:]).all()  # what used to turn it off


def test_sweep_rows_equal_run_with_gaps_and_max_gap_defaults() -> None:
    """Assets with interior gaps go through sweep_gaps; the rows equal run."""
    from kernels.backtest import run, sweep
    from kernels.data import Panel, synthetic_panel

    p = synthetic_panel(6, 400, seed=9)
    close = np.array(p.close, copy=True)
    rng = np.random.default_rng(0)
    close[rng.random(close.shape) < 0.03] = np.nan
    close[:, 5] = p.close[:, 5]  # one asset without gaps: the kernel path
    gappy = Panel(p.index, p.symbols, p.open, p.high, p.low, close, p.volume)
    for name, grid in (("trend_following", {"fast": [5, 10], "slow": [30], "ma": ["sma", "ema"]}),
                       ("mean_reversion", {"window": [15], "entry_z": [1.5], "exit_z": [0.25]}),
                       ("pairs", {"window": [20], "entry_z": [1.5], "exit_z": [0.5]})):
        sw = sweep(gappy, name, grid, fees=0.001, backend="cpu")
        for cid in sw.params.index:
            r = run(gappy, name, sw.combo(cid), fees=0.001, backend="cpu")
            np.testing.assert_allclose(sw.asset_metrics.loc[cid].to_numpy(float), r.metrics.to_numpy(float)[:-1],
                                       rtol=1e-9, atol=1e-12, err_msg=f"{name} {cid}")
            np.testing.assert_allclose(sw.portfolio_metrics.loc[cid].to_numpy(float),
                                       r.metrics.loc["portfolio"].to_numpy(float), rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ streaming
def _stream_batch(d: dict, cfg: Any, max_gap: int | None) -> dict[str, np.ndarray]:
    h, lo, c, v = (d[f] for f in ("high", "low", "close", "volume"))
    kw = {"max_gap": max_gap}
    m = ind.macd(c, cfg.macd_fast, cfg.macd_slow, cfg.macd_signal, **kw)
    return {"ema": ind.ema(c, cfg.ema_period, **kw), "rsi": ind.rsi(c, cfg.rsi_period, **kw),
            "macd": m.macd, "macdsignal": m.macdsignal, "macdhist": m.macdhist,
            "atr": ind.atr(h, lo, c, cfg.atr_period, **kw), "obv": ind.obv(c, v, **kw),
            "sma": ind.sma(c, cfg.sma_period, **kw), "rolling_std": ind.rolling_std(c, cfg.std_period, cfg.std_nbdev, **kw),
            "roc": ind.roc(c, cfg.roc_period, **kw)}


@pytest.mark.parametrize("backend", list(backends()))
@pytest.mark.parametrize("max_gap", [None, 2])
def test_stream_skips_missing_ticks_like_the_batch(backend: str, max_gap: int | None) -> None:
    """Seed on a gappy history, then ticks with NaN bars: every output equals the batch under
    nan_policy="skip" (bar for bar, NaN at the missing bars); more than max_gap missing ticks re-seed."""
    from kernels.backend import array_module
    from kernels.indicators.stream import OUTPUTS, StreamConfig, StreamState, seed, update

    cfg = StreamConfig(ema_period=5, rsi_period=4, macd_fast=3, macd_slow=6, macd_signal=3, atr_period=4,
                       sma_period=5, std_period=4, roc_period=3)
    d = _data(12, t=220, n=5, p_gap=0.08)
    d["close"][150:154, 0] = np.nan  # a 4-bar gap inside the streamed part
    for f in ("high", "low", "volume"):
        d[f][150:154, 0] = np.nan
    batch = _stream_batch(d, cfg, max_gap)
    state = StreamState.create(5, cfg, array_module(backend))
    start = 120
    out = seed(state, {f: _to(backend, a[:start]) for f, a in d.items()}, max_gap=max_gap)
    for name in OUTPUTS:
        np.testing.assert_allclose(to_numpy(out[name]), batch[name][start - 1], rtol=1e-9, equal_nan=True,
                                   err_msg=f"seed {name}")
    sym = np.arange(5)
    for t in range(start, 220):
        tick = {f: (_to(backend, d[f][t]) if t % 2 else d[f][t]) for f in ("high", "low", "close", "volume")}
        out = update(state, _to(backend, sym) if t % 2 else sym, **tick, max_gap=max_gap)  # device and host ticks
        for name in OUTPUTS:
            np.testing.assert_allclose(to_numpy(out[name]), batch[name][t], rtol=1e-9, equal_nan=True,
                                       err_msg=f"{name} at bar {t}")


def test_stream_nan_policy_raise_and_validation() -> None:
    from kernels.indicators.stream import StreamState, update

    state = StreamState.create(2)
    ok = {"high": [2.0, 2.0], "low": [1.0, 1.0], "close": [1.5, 1.5], "volume": [1.0, 1.0]}
    with pytest.raises(ValueError, match="close has NaN"):
        update(state, [0, 1], **{**ok, "close": [np.nan, 1.5]}, nan_policy="raise")
    with pytest.raises(ValueError, match="nan_policy"):
        update(state, [0, 1], **ok, nan_policy="propagate")
    with pytest.raises(ValueError, match="unknown symbol index 5"):  # a missing tick still names a known symbol
        update(state, [0, 5], **{**ok, "close": [1.5, np.nan]})
    with pytest.raises(ValueError, match="infinite|NaN or inf"):
        update(state, [0, 1], **{**ok, "close": [np.inf, np.nan]})
    out = update(state, [0, 1], **{**ok, "close": [np.nan, 1.5]})
    assert np.isnan(out["sma"][0]) and int(state.arrays["k_close"][0]) == -1 and int(state.arrays["k_close"][1]) == 0


def test_stream_seeded_from_close_only_data_with_gaps() -> None:
    """Close-only history (no high/low/volume) with gaps: the close indicators seed as the batch's."""
    from kernels.indicators.stream import StreamConfig, StreamState, seed

    d = _data(21, t=150, n=4, p_gap=0.05)
    nan = np.full_like(d["close"], np.nan)
    cfg = StreamConfig(ema_period=5, sma_period=4, rsi_period=3)
    out = seed(StreamState.create(4, cfg), {"high": nan, "low": nan, "close": d["close"], "volume": nan})
    last_valid = ~np.isnan(d["close"][-1])
    for name, ref in (("ema", ind.ema(d["close"], 5)), ("sma", ind.sma(d["close"], 4)), ("rsi", ind.rsi(d["close"], 3))):
        np.testing.assert_allclose(out[name], ref[-1], rtol=1e-12, equal_nan=True, err_msg=name)
        assert np.isfinite(out[name][last_valid]).all()
    assert np.isnan(out["atr"]).all() and np.isnan(out["obv"]).all()
