"""kernels.backtest.from_signals against vectorbt's Portfolio.from_signals (the peer),
plus the engine's own properties (no look-ahead, cash, value identity) and input
errors. GPU cases compare the CUDA kernel's records with the CPU's (skipped
without a device)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernels.backtest import from_signals
from kernels.backtest.orders.api import OrdersInputError
from kernels.data import synthetic_panel, with_late_start
from tests.conftest import VECTORBT, backends

vbt = pytest.importorskip("vectorbt")
pytestmark = VECTORBT  # one worker compiles vectorbt's simulator (tests/conftest.py)

RTOL = 1e-9
ORDER_FIELDS = ("id", "col", "idx", "size", "price", "fees", "side")
TRADE_FIELDS = ("id", "col", "size", "entry_idx", "entry_price", "entry_fees", "exit_idx", "exit_price",
                "exit_fees", "pnl", "return", "direction", "status", "parent_id")


def _panel(n_assets: int = 6, n_bars: int = 400, seed: int = 3):
    p = synthetic_panel(n_assets, n_bars, seed=seed)
    p = with_late_start(p, {p.symbols[1]: 37, p.symbols[4]: 150})
    host = {f: np.array(getattr(p, f)) for f in ("open", "high", "low", "close", "volume")}
    for f in host:  # interior gaps
        host[f][200:207, 2] = np.nan
        host[f][90, 3] = np.nan
    from dataclasses import replace

    return replace(p, **host)


PANEL = _panel()
CLOSE = pd.DataFrame(PANEL.close, index=pd.DatetimeIndex(PANEL.index), columns=list(PANEL.symbols))
OHLC = {f: pd.DataFrame(getattr(PANEL, f), index=CLOSE.index, columns=CLOSE.columns) for f in ("open", "high", "low")}


def _signals(seed: int, p_entry: float = 0.06, p_exit: float = 0.06, shape=CLOSE.shape) -> tuple[pd.DataFrame, ...]:
    rng = np.random.default_rng(seed)
    mk = lambda p: pd.DataFrame(rng.random(shape) < p, index=CLOSE.index[:shape[0]],  # noqa: E731
                                columns=CLOSE.columns[:shape[1]])
    return mk(p_entry), mk(p_exit), mk(p_entry), mk(p_exit)


def _close_enough(a, b, what: str, scale: float = 100.0) -> None:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    # 1e-9 relative; values that vectorbt snaps to zero compare at 1e-9 of the account's scale
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * scale * 1e-3, equal_nan=True, err_msg=what)


PER_COLUMN_ARGS = {"size": np.inf, "fees": 0.0, "fixed_fees": 0.0, "slippage": 0.0, "sl_stop": np.nan,
                   "tp_stop": np.nan, "sl_trail": False}


def vbt_kwargs(kw: dict, close: pd.DataFrame, ohlc: dict | None) -> dict:
    """The same arguments for vectorbt, with every per-column option as a (1, N) array
    and open/high/low always given (NaN when absent): vectorbt's simulator is not
    cached, and one argument layout means one compilation for the whole module."""
    out = {k: v for k, v in kw.items() if k not in PER_COLUMN_ARGS}
    n = close.shape[1]
    for k, default in PER_COLUMN_ARGS.items():
        v = kw.get(k)
        v = default if v is None else v
        dtype = bool if k == "sl_trail" else np.float64
        out[k] = np.broadcast_to(np.asarray(v, dtype=dtype).reshape(1, -1), (1, n)).copy()
    nan = pd.DataFrame(np.nan, index=close.index, columns=close.columns)
    for f in ("open", "high", "low"):
        out[f] = ohlc[f] if ohlc is not None else nan
    out["use_stops"] = True
    return out


def assert_matches_vbt(close=CLOSE, entries=None, exits=None, ohlc=False, **kw) -> None:
    ours_kw = dict(kw)
    frames = None
    if ohlc:
        frames = {f: df.iloc[:close.shape[0], :close.shape[1]] for f, df in OHLC.items()}
        ours_kw.update(frames)
    ours = from_signals(close, entries, exits, backend="cpu", **ours_kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pf = vbt.Portfolio.from_signals(close, entries, exits, **vbt_kwargs(kw, close, frames))
    vo = pf.orders.records_arr
    ro = ours.order_records
    assert len(ro) == len(vo), f"{len(ro)} orders vs vectorbt's {len(vo)}"
    scale = float(np.max(np.atleast_1d(kw.get("init_cash", 100.0))))
    for f in ORDER_FIELDS:
        _close_enough(ro[f], vo[f], f"orders.{f}", scale)
    _close_enough(ours.value.to_numpy(), pf.value().to_numpy().reshape(ours.value.shape), "value", scale)
    _close_enough(ours.cash.to_numpy(), pf.cash().to_numpy().reshape(ours.cash.shape), "cash", scale)
    _close_enough(ours.returns.to_numpy(), pf.returns().to_numpy().reshape(ours.returns.shape), "returns", 1.0)
    _close_enough(ours.positions.to_numpy(), pf.assets().to_numpy().reshape(ours.positions.shape), "positions",
                  scale)
    vt = pf.trades.records_arr
    rt = ours.trade_records
    assert len(rt) == len(vt), f"{len(rt)} trades vs vectorbt's {len(vt)}"
    for f in TRADE_FIELDS:
        _close_enough(rt[f], vt[f], f"trades.{f}", scale)
    return ours


E, X, SE, SX = _signals(11)

CASES = {
    "defaults": dict(),
    "costs": dict(fees=0.002, fixed_fees=0.3, slippage=0.001),
    "amount": dict(size=0.5, fees=0.001),
    "value": dict(size=40.0, size_type="value", fees=0.001, slippage=0.002),
    "percent": dict(size=0.5, size_type="percent", fixed_fees=0.05),
    "shortonly": dict(direction="shortonly", fees=0.001),
    "both": dict(direction="both", size=0.3, fees=0.001),
    "both_value": dict(direction="both", size=30.0, size_type="value"),
    "accumulate": dict(accumulate=True, size=0.2, fees=0.001),
    "accumulate_both": dict(accumulate=True, direction="both", size=10.0, size_type="value"),
    "sl_close_only": dict(sl_stop=0.03),
    "per_column": dict(size=[np.inf, 0.5, 1.0, 2.0, np.inf, 0.1], fees=[0.0, 0.001, 0.002, 0.0, 0.01, 0.0],
                       init_cash=[100.0, 1000.0, 50.0, 100.0, 200.0, 300.0]),
    "group_no_sharing": dict(group_by=["a", "a", "b", "b", "b", "c"], fees=0.001),
}
OHLC_CASES = {
    "sl": dict(sl_stop=0.02),
    "sl_trail": dict(sl_stop=0.03, sl_trail=True, fees=0.001),
    "tp": dict(tp_stop=0.04),
    "sl_tp": dict(sl_stop=0.025, tp_stop=0.05, fees=0.001, fixed_fees=0.1, slippage=0.001),
    "sl_tp_short": dict(sl_stop=0.025, tp_stop=0.05, direction="shortonly"),
    "sl_trail_tp_both": dict(sl_stop=0.04, sl_trail=True, tp_stop=0.06, direction="both", size=0.5),
    "stops_accumulate": dict(sl_stop=0.03, tp_stop=0.05, accumulate=True, size=0.3),
    "stops_value_percent": dict(sl_stop=0.03, tp_stop=0.05, size=0.5, size_type="percent", fees=0.001),
    "per_column_stops": dict(sl_stop=[0.01, 0.02, np.nan, 0.05, 0.03, 0.1], tp_stop=[np.nan, 0.05, 0.02, 0.1, 0.2,
                                                                                     np.nan],
                             sl_trail=[True, False, True, False, True, False]),
}
SHARING_CASES = {
    "one_group": dict(cash_sharing=True, size=10.0, size_type="value", fees=0.001),
    "labels": dict(cash_sharing=True, group_by=[0, 0, 0, 1, 1, 1], init_cash=[500.0, 300.0], size=0.5),
    "labels_stops_both": dict(cash_sharing=True, group_by=["x", "x", "y", "y", "z", "z"], init_cash=1000.0,
                              size=5.0, size_type="value", direction="both", sl_stop=0.03, tp_stop=0.05,
                              fees=0.001, fixed_fees=0.2),
    "all_in_sharing": dict(cash_sharing=True, group_by=True, fees=0.001),
}


@pytest.mark.parametrize("case", list(CASES))
def test_matches_vectorbt(case: str) -> None:
    assert_matches_vbt(CLOSE, E, X, **CASES[case])


@pytest.mark.parametrize("case", list(OHLC_CASES))
def test_matches_vectorbt_stops_intrabar(case: str) -> None:
    ours = assert_matches_vbt(CLOSE, E, X, ohlc=True, **OHLC_CASES[case])
    reasons = set(ours.orders["reason"])
    assert reasons - {"signal"}, "the case must exercise a stop"


@pytest.mark.parametrize("case", list(SHARING_CASES))
def test_matches_vectorbt_cash_sharing(case: str) -> None:
    assert_matches_vbt(CLOSE, E, X, ohlc=True, **SHARING_CASES[case])


def test_matches_vectorbt_long_short_signals() -> None:
    assert_matches_vbt(CLOSE, E, X, ohlc=True, short_entries=SE, short_exits=SX, size=0.5, sl_stop=0.03,
                       fees=0.001)
    assert_matches_vbt(CLOSE, E, X, short_entries=SE, short_exits=SX, accumulate=True, size=0.2)


WIDE = synthetic_panel(16, 700, seed=9)  # 16 columns: the signal bitmaps' 8-column-word path, 11 words a column
WIDE_CLOSE = pd.DataFrame(WIDE.close, index=pd.DatetimeIndex(WIDE.index), columns=list(WIDE.symbols))
WIDE_OHLC = {f: pd.DataFrame(getattr(WIDE, f), index=WIDE_CLOSE.index, columns=WIDE_CLOSE.columns)
             for f in ("open", "high", "low")}


@pytest.mark.parametrize("long_short", [False, True])
def test_matches_vectorbt_word_aligned_columns(long_short: bool) -> None:
    rng = np.random.default_rng(21)
    e, x, se, sx = (pd.DataFrame(rng.random(WIDE_CLOSE.shape) < p, index=WIDE_CLOSE.index, columns=WIDE_CLOSE.columns)
                    for p in (0.01, 0.01, 0.004, 0.004))
    kw = dict(sl_stop=0.03, tp_stop=0.06, fees=0.001, size=0.5)
    if long_short:
        kw.update(short_entries=se, short_exits=sx)
    ours = from_signals(WIDE_CLOSE, e, x, backend="cpu", **WIDE_OHLC, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pf = vbt.Portfolio.from_signals(WIDE_CLOSE, e, x, **vbt_kwargs(kw, WIDE_CLOSE, WIDE_OHLC))
    vo = pf.orders.records_arr
    assert len(ours.order_records) == len(vo) > 100
    for f in ORDER_FIELDS:
        _close_enough(ours.order_records[f], vo[f], f"orders.{f}")
    _close_enough(ours.value.to_numpy(), pf.value().to_numpy(), "value")


def test_stop_reasons_and_gap_fill() -> None:
    """A gap down through the stop fills at the open; the exit reason is recorded."""
    close = pd.DataFrame({"a": [100.0, 101.0, 90.0, 91.0, 104.0, 120.0]})
    open_ = pd.DataFrame({"a": [100.0, 100.5, 92.0, 90.5, 95.0, 110.0]})
    high = pd.DataFrame({"a": [100.0, 102.0, 93.0, 92.0, 105.0, 125.0]})
    low = pd.DataFrame({"a": [100.0, 100.0, 89.0, 90.0, 94.0, 108.0]})
    entries = pd.DataFrame({"a": [True, False, False, True, False, False]})
    no_exits = entries & False
    r = from_signals(close, entries, no_exits, open=open_, high=high, low=low, sl_stop=0.05, tp_stop=0.1,
                     backend="cpu")
    o = r.orders
    assert list(o["reason"]) == ["signal", "stop_loss", "signal", "take_profit"]
    assert o["price"].iloc[1] == 92.0  # gapped through 95.95: the open
    assert o["price"].iloc[3] == pytest.approx(91.0 * 1.1, rel=1e-12)
    t = r.trades
    assert list(t["exit_reason"]) == ["stop_loss", "take_profit"]
    frames = {"open": open_, "high": high, "low": low}
    pf = vbt.Portfolio.from_signals(close, entries, no_exits,
                                    **vbt_kwargs(dict(sl_stop=0.05, tp_stop=0.1), close, frames))
    np.testing.assert_allclose(o["price"], pf.orders.records_arr["price"], rtol=1e-12)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    p_sig=st.sampled_from([0.02, 0.1, 0.4]),
    direction=st.sampled_from(["longonly", "shortonly", "both"]),
    size_kind=st.sampled_from([("amount", np.inf), ("amount", 0.7), ("value", 25.0), ("percent", 0.6)]),
    fees=st.sampled_from([0.0, 0.001]),
    fixed=st.sampled_from([0.0, 0.5]),
    sl=st.sampled_from([None, 0.02, 0.05]),
    trail=st.booleans(),
    tp=st.sampled_from([None, 0.03, 0.08]),
    accumulate=st.booleans(),
    sharing=st.booleans(),
    ls=st.booleans(),
)
def test_hypothesis_signal_patterns(seed, p_sig, direction, size_kind, fees, fixed, sl, trail, tp, accumulate,
                                    sharing, ls) -> None:
    shape = (120, 4)
    e, x, se, sx = _signals(seed, p_sig, p_sig, shape=shape)
    size_type, size = size_kind
    if size_type == "percent" and (direction == "both" or ls) and not accumulate:
        return  # vectorbt refuses percent reversals (tested in test_bad_inputs)
    close = CLOSE.iloc[:shape[0], :shape[1]]
    kw = dict(size=size, size_type=size_type, fees=fees, fixed_fees=fixed, sl_stop=sl, sl_trail=trail, tp_stop=tp,
              accumulate=accumulate, init_cash=1000.0)
    if ls:
        kw.update(short_entries=se, short_exits=sx)
    else:
        kw.update(direction=direction)
    if sharing:
        kw.update(cash_sharing=True, group_by=[0, 0, 1, 1])
    ours_ohlc = {f: df.iloc[:shape[0], :shape[1]] for f, df in OHLC.items()}
    ours = from_signals(close, e, x, backend="cpu", **ours_ohlc, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pf = vbt.Portfolio.from_signals(close, e, x, **vbt_kwargs(kw, close, ours_ohlc))
    vo = pf.orders.records_arr
    assert len(ours.order_records) == len(vo)
    for f in ORDER_FIELDS:
        _close_enough(ours.order_records[f], vo[f], f"orders.{f}", 1000.0)
    _close_enough(ours.value.to_numpy(), pf.value().to_numpy().reshape(ours.value.shape), "value", 1000.0)
    vt = pf.trades.records_arr
    assert len(ours.trade_records) == len(vt)
    for f in TRADE_FIELDS:
        _close_enough(ours.trade_records[f], vt[f], f"trades.{f}", 1000.0)


# ------------------------------------------------------------------ properties
def test_no_look_ahead() -> None:
    """Changing every bar after t (prices and signals) never changes orders up to t."""
    kw = dict(sl_stop=0.03, sl_trail=True, tp_stop=0.06, direction="both", size=0.5, fees=0.001)
    full = from_signals(PANEL, E, X, backend="cpu", **kw).order_records
    rng = np.random.default_rng(5)
    for t in (50, 199, 333):
        noise = np.exp(rng.normal(0, 0.05, CLOSE.shape))
        ohlc = {}
        for f in ("open", "high", "low", "close"):
            a = np.array(getattr(PANEL, f))
            a[t + 1:] *= noise[t + 1:]
            ohlc[f] = a
        ohlc["high"] = np.fmax(ohlc["high"], np.fmax(ohlc["open"], ohlc["close"]))
        ohlc["low"] = np.fmin(ohlc["low"], np.fmin(ohlc["open"], ohlc["close"]))
        e2, x2 = E.to_numpy().copy(), X.to_numpy().copy()
        e2[t + 1:] = rng.random(e2[t + 1:].shape) < 0.2
        x2[t + 1:] = rng.random(x2[t + 1:].shape) < 0.2
        changed = from_signals(ohlc["close"], e2, x2, open=ohlc["open"], high=ohlc["high"], low=ohlc["low"],
                               backend="cpu", **kw).order_records
        a = np.sort(full[full["idx"] <= t], order=["col", "idx"])
        b = np.sort(changed[changed["idx"] <= t], order=["col", "idx"])
        assert len(a) == len(b)
        for f in ORDER_FIELDS[1:]:
            np.testing.assert_array_equal(a[f], b[f])


def test_cash_never_negative_and_value_identity() -> None:
    for kw in (dict(fees=0.01, fixed_fees=1.0, slippage=0.01), dict(size=0.5, size_type="percent"),
               dict(cash_sharing=True, group_by=[0, 0, 0, 1, 1, 1], size=50.0, size_type="value", fees=0.002),
               dict(sl_stop=0.02, tp_stop=0.03, accumulate=True, size=0.5)):
        r = from_signals(PANEL, E, X, backend="cpu", **kw)
        assert (r.cash_array >= -1e-9).all(), kw
        pos = r.positions_array
        av = np.where(pos == 0, 0.0, pos * r.close_filled)
        if r.grouped:
            av = np.stack([av[:, r.out_group_of_col == g].sum(axis=1) for g in range(len(r.unit_labels))], axis=1)
        np.testing.assert_allclose(r.value_array, r.cash_array + av, rtol=1e-12, atol=1e-9)


def test_inputs_panel_numpy_series_agree() -> None:
    a = from_signals(PANEL, E, X, sl_stop=0.03, backend="cpu")
    b = from_signals(CLOSE.to_numpy(), E.to_numpy(), X.to_numpy(), open=OHLC["open"].to_numpy(),
                     high=OHLC["high"].to_numpy(), low=OHLC["low"].to_numpy(), sl_stop=0.03, backend="cpu")
    np.testing.assert_array_equal(a.order_records, b.order_records)
    assert isinstance(a.value, pd.DataFrame) and list(a.value.columns) == list(PANEL.symbols)
    assert (a.value.index == CLOSE.index).all()
    s = from_signals(CLOSE.iloc[:, 0], E.iloc[:, 0], X.iloc[:, 0], backend="cpu")
    c = from_signals(CLOSE.iloc[:, :1], E.iloc[:, :1], X.iloc[:, :1], backend="cpu")
    np.testing.assert_array_equal(s.order_records, c.order_records)
    # a 1-D signal series applies to every column
    one = from_signals(CLOSE, E.iloc[:, 0].to_numpy(), False, backend="cpu")
    assert set(one.order_records["col"]) == set(range(CLOSE.shape[1])) - {1, 4} or len(one.order_records) > 0


def test_stats_and_repr() -> None:
    r = from_signals(PANEL, E, X, sl_stop=0.03, tp_stop=0.05, fees=0.001, freq="D", backend="cpu")
    s = r.stats()
    assert list(s.index) == list(PANEL.symbols)
    pf = vbt.Portfolio.from_signals(CLOSE, E, X, **vbt_kwargs(dict(sl_stop=0.03, tp_stop=0.05, fees=0.001), CLOSE,
                                                              OHLC))
    np.testing.assert_allclose(s["total_return"], pf.total_return().to_numpy(), rtol=1e-9)
    t = r.trades
    for j, sym in enumerate(PANEL.symbols):
        tj = t[(t["col"] == j) & (t["status"] == "closed")]
        assert s.loc[sym, "n_trades"] == (t["col"] == j).sum()
        if len(tj):
            assert s.loc[sym, "win_rate"] == pytest.approx((tj["pnl"] > 0).mean())
            assert s.loc[sym, "expectancy"] == pytest.approx(tj["pnl"].mean())
            losses = -tj.loc[tj["pnl"] < 0, "pnl"].sum()
            if losses > 0:
                assert s.loc[sym, "profit_factor"] == pytest.approx(tj.loc[tj["pnl"] > 0, "pnl"].sum() / losses)
            want = pd.Timedelta(days=1) * (tj["exit_idx"] - tj["entry_idx"]).mean()
            assert abs(s.loc[sym, "avg_trade_duration"] - want) < pd.Timedelta(seconds=1)
    dd = 1 - r.value_array / np.maximum.accumulate(np.vstack([r.init_cash[None], r.value_array]), axis=0)[1:]
    np.testing.assert_allclose(s["max_drawdown"], np.nanmax(dd, axis=0), rtol=1e-12)
    assert "OrdersResult(400 bars x 6 columns" in repr(r)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("kw, name", [
    (dict(sl_stop=-0.1), "sl_stop"),
    (dict(tp_stop=-0.01), "tp_stop"),
    (dict(sl_stop=1.0), "sl_stop"),
    (dict(tp_stop=1.5, direction="shortonly"), "tp_stop"),
    (dict(size_type="shares"), "size_type"),
    (dict(direction="sideways"), "direction"),
    (dict(size=-1.0), "size"),
    (dict(size=2.0, size_type="percent"), "size"),
    (dict(fees=-0.1), "fees"),
    (dict(slippage=1.5), "slippage"),
    (dict(init_cash=0.0), "init_cash"),
    (dict(init_cash=[1.0, 2.0]), "init_cash"),
    (dict(group_by=[0, 1]), "group_by"),
    (dict(cash_sharing=True, group_by=[0, 1, 0, 1, 0, 1]), "group_by"),
    (dict(size=[1.0, 2.0]), "size"),
    (dict(accumulate="sometimes"), "accumulate"),
    (dict(backend="tpu"), "backend"),
])
def test_bad_inputs(kw, name) -> None:
    with pytest.raises(OrdersInputError, match=name):
        from_signals(CLOSE, E, X, **kw)


@pytest.mark.parametrize("field", ["close", "high"])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, 0.0, -3.0])
def test_prices_must_be_positive_and_finite(field: str, bad: float) -> None:
    prices = {"close": CLOSE.copy(), **{f: df.copy() for f, df in OHLC.items()}}
    prices[field].iloc[123, 4] = bad
    with pytest.raises(OrdersInputError, match=field):
        from_signals(prices.pop("close"), E, X, **prices)


def test_missing_prices_are_allowed() -> None:
    close = CLOSE.copy()
    close.iloc[:, 2] = np.nan  # a column with no data at all: no orders, no error
    r = from_signals(close, E, X)
    assert not (r.order_records["col"] == 2).any() and len(r.order_records) > 0


def test_bad_shapes_and_percent_reversal() -> None:
    with pytest.raises(OrdersInputError, match="entries"):
        from_signals(CLOSE, E.to_numpy()[:10], X)
    with pytest.raises(OrdersInputError, match="exits"):
        from_signals(CLOSE, E, np.zeros((400, 3), dtype=bool))
    with pytest.raises(OrdersInputError, match="open"):
        from_signals(CLOSE, E, X, open=np.ones((5, 6)))
    with pytest.raises(OrdersInputError, match="close"):
        from_signals(CLOSE * -1, E, X)
    with pytest.raises(OrdersInputError, match="size_type"):
        from_signals(CLOSE, E, X, size=0.5, size_type="percent", direction="both")


# ------------------------------------------------------------------ backends
@pytest.mark.parametrize("backend", list(backends()))
def test_backend_records_equal_cpu(backend) -> None:
    """GPU order records equal the CPU's (float64), for every option family."""
    cases = [CASES["costs"], CASES["both_value"], CASES["accumulate"], OHLC_CASES["sl_trail_tp_both"],
             OHLC_CASES["per_column_stops"], SHARING_CASES["labels_stops_both"], SHARING_CASES["all_in_sharing"]]
    for kw in cases:
        ref = from_signals(PANEL, E, X, backend="cpu", **kw)
        got = from_signals(PANEL if backend == "cpu" else PANEL.to("gpu"), E, X, backend=backend, **kw)
        assert got.backend == backend
        assert len(got.order_records) == len(ref.order_records)
        for f in ("id", "col", "idx", "side", "reason"):
            np.testing.assert_array_equal(got.order_records[f], ref.order_records[f])
        for f in ("size", "price", "fees"):
            np.testing.assert_allclose(got.order_records[f], ref.order_records[f], rtol=1e-12)
        np.testing.assert_allclose(got.value_array, ref.value_array, rtol=1e-12)


@pytest.mark.gpu
def test_device_records_are_the_host_records() -> None:
    """gpu.simulate_device (records left on the device) holds exactly what simulate copies to the host."""
    from kernels.backtest.orders import gpu
    from kernels.backtest.orders.api import prepare

    for kw in (CASES["costs"], SHARING_CASES["labels_stops_both"]):
        p = prepare(PANEL.to("gpu"), E, X, backend="gpu", **kw)
        recs, err = gpu.simulate(p)
        fields, errors = gpu.simulate_device(p)
        assert int(errors.max().get()) == err
        for name in gpu.RECORD_FIELDS:
            np.testing.assert_array_equal(fields[name].get(), recs[name])


def test_targetpercent_orders_to_the_target() -> None:
    """targetpercent (an extension: vectorbt's from_signals refuses it): an entry makes
    the position size x value at the fill bar, an opposite entry minus that, an exit closes."""
    r = from_signals(CLOSE, E, X, short_entries=SE, short_exits=SX, size=0.4, size_type="targetpercent",
                     backend="cpu")
    o = r.order_records
    assert len(o) > 10
    pos = r.positions_array
    frac = pos * r.close_filled / r.value_array
    for rec in o:
        i, j = rec["idx"], rec["col"]
        assert abs(frac[i, j]) == pytest.approx(0.4, rel=1e-9) or pos[i, j] == 0
    assert (pos[-1] == 0).any() or (pos == 0).any()  # exits close
    with pytest.raises(OrdersInputError, match="size"):
        from_signals(CLOSE, E, X, size=1.5, size_type="targetpercent")


@pytest.mark.skipif(__import__("shutil").which("nvcc") is None, reason="nvcc is not installed")
def test_gpu_kernel_source_compiles(tmp_path) -> None:
    """The orders engine's CUDA text (what CuPy's RawModule gets) compiles for sm_90: a syntax error in
    it is caught where nvcc is installed, with no GPU."""
    import subprocess  # noqa: PLC0415

    from kernels.backtest.orders import gpu  # noqa: PLC0415

    (tmp_path / "orders.cu").write_text(gpu.HEADER + gpu.STEP_SRC + gpu.KERNEL_SRC)
    r = subprocess.run(["nvcc", "-std=c++14", "--fmad=false", "-ptx", "-arch=sm_90", str(tmp_path / "orders.cu"),
                        "-o", str(tmp_path / "orders.ptx")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert ".entry simulate_from_signals(" in (tmp_path / "orders.ptx").read_text()


@pytest.mark.skipif(__import__("shutil").which("g++") is None, reason="g++ is not installed")
@pytest.mark.parametrize("case", [*CASES, *OHLC_CASES, *SHARING_CASES])
def test_gpu_kernel_built_for_the_host_equals_the_cpu_kernel(case: str) -> None:
    """The CUDA source of the orders engine, built with g++ and run thread by thread (orders_host.py),
    gives the Numba kernel's records bit for bit: CI checks the GPU kernel's logic with no GPU."""
    from kernels.backtest.orders.api import prepare, simulate  # noqa: PLC0415
    from tests.kernels.backtest import orders_host  # noqa: PLC0415

    kw = {**CASES, **OHLC_CASES, **SHARING_CASES}[case]
    data = PANEL if case in OHLC_CASES or case in SHARING_CASES else CLOSE
    p = prepare(data, E, X, backend="cpu", **kw)
    recs, err = simulate(p)
    fields, errors = orders_host.simulate(p)
    assert int(errors.max()) == err
    assert len(recs) > 0
    for name in ("idx", "col", "size", "price", "fees", "side", "reason"):
        np.testing.assert_array_equal(fields[name], recs[name], err_msg=f"{case}: {name}")
