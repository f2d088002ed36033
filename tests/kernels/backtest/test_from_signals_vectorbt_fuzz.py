"""kernels.backtest.from_signals against vectorbt's Portfolio.from_signals on random and adversarial inputs:
regression tests for the discrepancies found by fuzzing (returns after a value at or below zero, an open
trade at a missing last close, Series in / Series out, short signals without entries, vectorbt's options
that this engine fixes at their defaults) and one Hypothesis property that draws every option family
(size types x directions x accumulation, costs, stops with and without open/high/low, missing closes, per
column parameters, groups and cash sharing, tiny and huge sizes, one bar, one column) and compares every
output with vectorbt's."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernels.backtest import from_signals
from kernels.backtest.orders.api import OrdersInputError
from tests.conftest import VECTORBT

vbt = pytest.importorskip("vectorbt")
pytestmark = VECTORBT  # one worker compiles vectorbt's simulator (tests/conftest.py)

RTOL = 1e-9
INT_ORDER_FIELDS = ("id", "col", "idx", "side")
FLOAT_ORDER_FIELDS = ("size", "price", "fees")
INT_TRADE_FIELDS = ("id", "col", "entry_idx", "exit_idx", "direction", "status", "parent_id")
FLOAT_TRADE_FIELDS = ("size", "entry_price", "entry_fees", "exit_price", "exit_fees", "pnl", "return")
PER_COLUMN = {"size": np.inf, "fees": 0.0, "fixed_fees": 0.0, "slippage": 0.0, "sl_stop": np.nan, "tp_stop": np.nan,
              "sl_trail": False}
ENUMS = {"size_type": {"amount": 0, "value": 1, "percent": 2},
         "direction": {"longonly": 0, "shortonly": 1, "both": 2},
         "accumulate": {"disabled": 0, "both": 1, "addonly": 2, "removeonly": 3, False: 0, True: 1}}


def vbt_args(kw: dict, close: pd.DataFrame, ohlc: dict | None) -> dict:
    """The same arguments for vectorbt in one layout whatever the case (every per-column option and enum as
    a (1, N) array, open/high/low always given, NaN when absent): vectorbt's simulator is compiled once
    per layout, not per case."""
    n = close.shape[1]
    out = {k: v for k, v in kw.items() if k not in PER_COLUMN and k not in ENUMS and k != "init_cash"}

    def row(v, dtype):
        vals = v if isinstance(v, (list, tuple, np.ndarray)) else [v]
        return np.broadcast_to(np.asarray(vals, dtype=dtype).reshape(1, -1), (1, n)).copy()

    for k, default in PER_COLUMN.items():
        v = kw.get(k)
        out[k] = row(default if v is None else v, bool if k == "sl_trail" else np.float64)
    for k, m in ENUMS.items():
        if k == "direction" and "short_entries" in kw:
            continue
        v = kw.get(k, "amount" if k == "size_type" else "longonly" if k == "direction" else False)
        vals = v if isinstance(v, (list, tuple)) else [v]
        out[k] = row([m[q.lower() if isinstance(q, str) else q] for q in vals], np.int64)
    out["init_cash"] = np.atleast_1d(np.asarray(kw.get("init_cash", 100.0), dtype=np.float64))
    for f in ("open", "high", "low"):
        out[f] = _c(ohlc[f]) if ohlc is not None and ohlc.get(f) is not None else np.full(close.shape, np.nan)
    for f in ("short_entries", "short_exits"):
        if f in out:
            out[f] = _c(out[f], bool)
    out["use_stops"] = True
    return out


def _c(a, dtype=np.float64) -> np.ndarray:
    """A C-ordered 2-D array: Numba compiles vectorbt's simulator per memory layout, and a DataFrame's values
    are Fortran-ordered except for one row or one column."""
    return np.ascontiguousarray(np.broadcast_to(np.asarray(a, dtype=dtype), np.shape(a) if np.ndim(a) == 2
                                                else (1, 1)))


def _eq(a, b, what: str, scale: float) -> None:
    np.testing.assert_allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), rtol=RTOL,
                               atol=RTOL * scale * 1e-3, equal_nan=True, err_msg=what)


def compare_with_vbt(close: pd.DataFrame, entries, exits, ohlc: dict | None = None, stats: bool = True,
                     **kw) -> None:
    """Every output of ours equals vectorbt's: order and trade records (integer fields exactly, the others at
    1e-9 relative), value, cash, returns, positions, and the stats vectorbt computes the same way. Where
    vectorbt refuses the inputs, ours must refuse them too."""
    ours_kw = dict(kw)
    if ohlc:
        ours_kw.update({f: v for f, v in ohlc.items() if v is not None})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pf = vbt.Portfolio.from_signals(_c(close), _c(entries, bool), _c(exits, bool), freq="D",
                                            **vbt_args(kw, close, ohlc))
            vo = pf.orders.records_arr
        except ValueError:  # e.g. a percent size reversing a position
            with pytest.raises(OrdersInputError):
                from_signals(close, entries, exits, backend="cpu", **ours_kw).order_records
            return
    ours = from_signals(close, entries, exits, backend="cpu", **ours_kw)
    scale = float(np.max(np.atleast_1d(kw.get("init_cash", 100.0))))
    ro = ours.order_records
    assert len(ro) == len(vo), f"{len(ro)} orders vs vectorbt's {len(vo)}"
    for f in INT_ORDER_FIELDS:
        np.testing.assert_array_equal(ro[f], vo[f], err_msg=f"orders.{f}")
    for f in FLOAT_ORDER_FIELDS:
        _eq(ro[f], vo[f], f"orders.{f}", scale)
    for name, a, b in (("value", ours.value, pf.value()), ("cash", ours.cash, pf.cash()),
                       ("returns", ours.returns, pf.returns()), ("positions", ours.positions, pf.assets())):
        assert a.index.equals(close.index) and (a.columns if a.ndim == 2 else pd.Index([a.name])).equals(
            pd.Index(ours.unit_labels) if name != "positions" else close.columns), name
        _eq(a.to_numpy(), b.to_numpy().reshape(a.shape), name, 1.0 if name == "returns" else scale)
    rt, vt = ours.trade_records, pf.trades.records_arr
    assert len(rt) == len(vt), f"{len(rt)} trades vs vectorbt's {len(vt)}"
    for f in INT_TRADE_FIELDS:
        np.testing.assert_array_equal(rt[f], vt[f], err_msg=f"trades.{f}")
    for f in FLOAT_TRADE_FIELDS:
        _eq(rt[f], vt[f], f"trades.{f}", scale)
    if not stats:
        return
    s = ours.stats(bars_per_year=365)
    closed = pf.trades.closed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, theirs in (("n_trades", pf.trades.count()), ("win_rate", closed.win_rate()),
                             ("profit_factor", closed.profit_factor()), ("expectancy", closed.expectancy())):
            _eq(s[name].to_numpy(), np.atleast_1d(np.asarray(theirs, dtype=np.float64)), f"stats.{name}", 1.0)
        # total return of the value series (vectorbt's total_return sums order cash flows with its snapping
        # to zero and values at the raw last close; both agree with this one where neither applies)
        v = np.asarray(pf.value()).reshape(-1, len(s))
        _eq(s["total_return"].to_numpy(), v[-1] / np.atleast_1d(np.asarray(pf.init_cash)) - 1.0, "total_return", 1.0)
        if close.shape[0] >= 3 and not close.isna().any().any() and np.isfinite(s["sharpe"]).all():
            _eq(s["sharpe"].to_numpy(), np.atleast_1d(np.asarray(pf.sharpe_ratio(year_freq="365D"))),
                "stats.sharpe", 1e3)


IDX = pd.date_range("2022-03-01", periods=5, freq="D")


# ------------------------------------------------------------------ regressions
def test_returns_after_a_value_at_or_below_zero_match_vectorbt() -> None:
    """A short that loses more than the account: value 100 -> 0 -> 0 -> -300 -> -200. vectorbt's returns are
    0 from 0 to 0, -inf from 0 to -300 and +1/3 from -300 to -200 (the sign flipped after a negative value);
    value / previous - 1 gave NaN, -inf and -1/3."""
    close = pd.DataFrame({"x": [100.0, 150.0, 150.0, 300.0, 250.0]}, index=IDX)
    entries = pd.DataFrame({"x": [True, False, False, False, False]}, index=IDX)
    r = from_signals(close, entries, False, direction="shortonly", size=2.0, backend="cpu")
    np.testing.assert_array_equal(r.value["x"].to_numpy(), [100.0, 0.0, 0.0, -300.0, -200.0])
    np.testing.assert_allclose(r.returns["x"].to_numpy(), [0.0, -1.0, 0.0, -np.inf, 1 / 3], rtol=1e-12)
    compare_with_vbt(close, entries, False, direction="shortonly", size=2.0, stats=False)


def test_open_trade_at_a_missing_last_close_matches_vectorbt() -> None:
    """An open trade is valued at the last bar's close as given: NaN exit price, PnL and return when the
    last bar has no close (vectorbt's exit trades); the forward-filled close was used before."""
    close = pd.DataFrame({"x": [10.0, 11.0, 12.0, np.nan, np.nan], "y": [5.0, 6.0, 7.0, 8.0, 9.0]}, index=IDX)
    entries = pd.DataFrame({"x": [True, False, False, False, False], "y": [True, False, False, False, False]},
                           index=IDX)
    r = from_signals(close, entries, False, backend="cpu")
    t = r.trade_records
    assert list(t["status"]) == [0, 0] and np.isnan(t["exit_price"][0]) and np.isnan(t["pnl"][0])
    assert t["exit_price"][1] == 9.0
    compare_with_vbt(close, entries, False)


def test_series_input_gives_series_like_vectorbt() -> None:
    close = pd.Series([10.0, 11.0, 12.0, 11.0, 13.0], index=IDX, name="AAPL")
    entries = pd.Series([True, False, False, True, False], index=IDX)
    exits = pd.Series([False, False, True, False, False], index=IDX)
    r = from_signals(close, entries, exits, fees=0.01, backend="cpu")
    pf = vbt.Portfolio.from_signals(close, entries, exits, fees=0.01)
    for name, ours, theirs in (("value", r.value, pf.value()), ("cash", r.cash, pf.cash()),
                               ("returns", r.returns, pf.returns()), ("positions", r.positions, pf.assets())):
        assert isinstance(ours, pd.Series) and ours.name == "AAPL", name
        assert ours.index.equals(close.index), name
        np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=RTOL, err_msg=name)
    grouped = from_signals(close, entries, exits, group_by=True, backend="cpu")
    assert isinstance(grouped.value, pd.Series) and grouped.value.name == "group"
    frame = from_signals(close.to_frame(), entries, exits, backend="cpu")  # a one-column frame stays a frame
    assert isinstance(frame.value, pd.DataFrame) and list(frame.value.columns) == ["AAPL"]


@pytest.mark.parametrize("group_by, cash_sharing", [(True, False), (True, True), (["g", "g"], False),
                                                    (["g", "h"], True)])
def test_one_group_gives_series_like_vectorbt(group_by, cash_sharing) -> None:
    """vectorbt gives value / cash / returns of a single group as a Series named by the group (several
    groups: a DataFrame with a column per group); positions stay per column."""
    close = pd.DataFrame({"a": [10.0, 11.0, 12.0, 11.0, 13.0], "b": [5.0, 6.0, 5.0, 4.0, 6.0]}, index=IDX)
    entries = pd.DataFrame({"a": [True, False, False, True, False], "b": [True, True, False, False, False]},
                           index=IDX)
    r = from_signals(close, entries, False, group_by=group_by, cash_sharing=cash_sharing, backend="cpu")
    pf = vbt.Portfolio.from_signals(close, entries, False, group_by=group_by, cash_sharing=cash_sharing)
    for name, ours, theirs in (("value", r.value, pf.value()), ("cash", r.cash, pf.cash()),
                               ("returns", r.returns, pf.returns()), ("positions", r.positions, pf.assets())):
        assert type(ours) is type(theirs), name
        assert ours.index.equals(theirs.index), name
        if isinstance(ours, pd.Series):
            assert ours.name == theirs.name, name
        else:
            assert list(ours.columns) == list(theirs.columns), name
        np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=RTOL, err_msg=name)


def test_short_signals_without_entries_match_vectorbt() -> None:
    """vectorbt takes short_entries / short_exits alone (no long entries); entries=None was refused."""
    close = pd.DataFrame({"x": [10.0, 11.0, 9.0, 12.0, 8.0], "y": [5.0, 4.0, 6.0, 5.0, 4.0]}, index=IDX)
    se = pd.DataFrame({"x": [True, False, False, True, False], "y": [False, True, False, False, False]}, index=IDX)
    sx = pd.DataFrame({"x": [False, False, True, False, False], "y": [False, False, False, True, False]}, index=IDX)
    ours = from_signals(close, short_entries=se, short_exits=sx, fees=0.01, backend="cpu")
    pf = vbt.Portfolio.from_signals(close, short_entries=se, short_exits=sx, fees=0.01)
    vo = pf.orders.records_arr
    assert len(ours.order_records) == len(vo) == 5
    for f in ("col", "idx", "side"):
        np.testing.assert_array_equal(ours.order_records[f], vo[f])
    np.testing.assert_allclose(ours.value.to_numpy(), pf.value().to_numpy(), rtol=RTOL)
    with pytest.raises(OrdersInputError, match="entries"):
        from_signals(close, backend="cpu")  # vectorbt would enter at every bar


def test_vectorbt_options_fixed_at_their_defaults() -> None:
    """vectorbt's options that this engine does not vary: the default value is accepted (same result), any
    other value raises naming the option (it used to be a TypeError for every value), and use_stops=False
    turns the stops off as in vectorbt."""
    close = pd.DataFrame({"x": [10.0, 11.0, 9.0, 12.0, 8.0]}, index=IDX)
    entries = pd.DataFrame({"x": [True, False, False, True, False]}, index=IDX)
    base = from_signals(close, entries, False, sl_stop=0.1, backend="cpu").order_records
    defaults = dict(price=np.inf, val_price=np.inf, min_size=1e-8, max_size=np.inf, size_granularity=np.nan,
                    reject_prob=0.0, lock_cash=False, allow_partial=True, upon_long_conflict="ignore",
                    upon_short_conflict="Ignore", upon_dir_conflict=0, upon_opposite_entry="reversereduce",
                    stop_entry_price="close", stop_exit_price="StopLimit", upon_stop_exit="close",
                    upon_stop_update="override", call_seq="default", ffill_val_price=True, update_value=False,
                    use_stops=True, log=False, seed=3)
    same = from_signals(close, entries, False, sl_stop=0.1, backend="cpu", **defaults).order_records
    np.testing.assert_array_equal(same, base)
    for name, value in (("price", close), ("lock_cash", True), ("min_size", 0.0), ("size_granularity", 1.0),
                        ("upon_opposite_entry", "close"), ("upon_dir_conflict", "long"), ("call_seq", "auto"),
                        ("stop_exit_price", "stopmarket"), ("upon_stop_update", 0), ("update_value", True)):
        with pytest.raises(OrdersInputError, match=name):
            from_signals(close, entries, False, backend="cpu", **{name: value})
    with pytest.raises(TypeError, match="no_such_option"):
        from_signals(close, entries, False, backend="cpu", no_such_option=1)
    off = from_signals(close, entries, False, sl_stop=0.1, use_stops=False, backend="cpu")
    pf = vbt.Portfolio.from_signals(close, entries, False, sl_stop=0.1, use_stops=False)
    np.testing.assert_array_equal(off.order_records["idx"], pf.orders.records_arr["idx"])
    assert len(off.order_records) < len(base)


def test_time_varying_parameters_are_refused_by_name() -> None:
    """vectorbt broadcasts a Series (or a (T, N) array) of `size`, `fees`, ... along time; this engine takes
    one value per column, so those raise naming the argument. With as many bars as columns, a time-indexed
    Series was read as one value per column (silently wrong numbers). A Series indexed by the columns is
    matched by label."""
    idx = IDX[:3]
    close = pd.DataFrame({"a": [10.0, 11.0, 12.0], "b": [5.0, 6.0, 7.0], "c": [1.0, 2.0, 3.0]}, index=idx)
    entries = pd.DataFrame(True, index=idx, columns=close.columns)
    for name in ("size", "fees", "sl_stop"):
        with pytest.raises(OrdersInputError, match=f"{name}.*time-varying"):
            from_signals(close, entries, False, backend="cpu", **{name: pd.Series([0.1, 0.2, 0.3], index=idx)})
        with pytest.raises(OrdersInputError, match=f"{name}.*time-varying"):
            from_signals(close, entries, False, backend="cpu", **{name: np.full((3, 3), 0.1)})
    by_label = from_signals(close, entries, False, size=pd.Series([3.0, 1.0, 2.0], index=["c", "a", "b"]),
                            backend="cpu")
    np.testing.assert_array_equal(by_label.order_records["size"], [1.0, 2.0, 3.0])
    with pytest.raises(OrdersInputError, match="init_cash"):
        from_signals(close, entries, False, init_cash="auto", backend="cpu")


@pytest.mark.parametrize("case", ["stop_on_entry_bar", "gap_through_stop", "stop_and_signal_same_bar",
                                  "late_start_and_gaps", "one_bar", "huge_and_tiny"])
def test_adversarial_cases_match_vectorbt(case: str) -> None:
    close = pd.DataFrame({"x": [100.0, 90.0, 120.0, 80.0, 130.0], "y": [np.nan, np.nan, 50.0, np.nan, 55.0]},
                         index=IDX)
    ohlc = {"open": close * 1.0, "high": close * 1.05, "low": close * 0.95}
    e = pd.DataFrame({"x": [True, False, True, True, False], "y": [True, True, True, False, True]}, index=IDX)
    x = pd.DataFrame({"x": [False, True, True, False, True], "y": [False, False, False, True, False]}, index=IDX)
    if case == "stop_on_entry_bar":  # the entry bar's low is far below the stop: checked from the next bar only
        ohlc["low"] = close * 0.5
        compare_with_vbt(close, e, x, ohlc, sl_stop=0.1, tp_stop=0.05, direction="both", size=1.0)
    elif case == "gap_through_stop":  # the open jumps past the stop: filled at the open
        ohlc["open"] = close.shift(1).fillna(close) * np.array([[1.0], [0.7], [1.5], [0.6], [1.4]])
        compare_with_vbt(close, e, x, ohlc, sl_stop=0.05, sl_trail=True, tp_stop=0.2, fees=0.01, slippage=0.01)
    elif case == "stop_and_signal_same_bar":  # the stop exit wins, the bar's signals are ignored
        compare_with_vbt(close, e, x, ohlc, sl_stop=0.02, tp_stop=0.02, accumulate=True, size=0.5,
                         direction="both", fixed_fees=1.0)
    elif case == "late_start_and_gaps":
        compare_with_vbt(close, e, x, None, sl_stop=0.1, size=30.0, size_type="value", direction="shortonly",
                         init_cash=[100.0, 1000.0])
    elif case == "one_bar":
        compare_with_vbt(close.iloc[:1], e.iloc[:1], x.iloc[:1], {k: v.iloc[:1] for k, v in ohlc.items()},
                         sl_stop=0.01)
    else:
        compare_with_vbt(close, e, x, ohlc, size=[1e12, 1e-9], fees=0.001, init_cash=1e9, direction="both",
                         cash_sharing=True, group_by=True)


# ------------------------------------------------------------------ property
def _prices(rng: np.random.Generator, t: int, n: int, nan_mode: int, ohlc_mode: int):
    c = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.04, (t, n)), axis=0))
    o = c * np.exp(rng.normal(0, 0.03, (t, n)))
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.03, (t, n))))
    lo = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.03, (t, n))))
    if nan_mode in (1, 3):  # late starts
        for j in range(n):
            if rng.random() < 0.5:
                s = int(rng.integers(0, t))
                for a in (c, o, h, lo):
                    a[:s, j] = np.nan
    if nan_mode in (2, 3):  # missing closes inside, open/high/low missing with them or on their own
        m = rng.random((t, n)) < 0.15
        c[m] = np.nan
        for a in (o, h, lo):
            a[m | (rng.random((t, n)) < 0.1)] = np.nan
    idx = pd.date_range("2020-01-01", periods=t, freq="D")
    cols = [f"s{j}" for j in range(n)]
    frame = lambda a: pd.DataFrame(a, index=idx, columns=cols)  # noqa: E731
    ohlc = None
    if ohlc_mode == 1:
        ohlc = {"open": frame(o), "high": frame(h), "low": frame(lo)}
    elif ohlc_mode == 2:
        ohlc = {"open": frame(o), "high": None, "low": None}
    elif ohlc_mode == 3:
        ohlc = {"open": None, "high": frame(h), "low": frame(lo)}
    return frame(c), ohlc


SIZES = {"amount": [np.inf, 0.5, 3.0, 1e-9, 1e12], "value": [np.inf, 25.0, 1e-7, 1e9], "percent": [1.0, 0.5, 1e-10]}


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    t=st.sampled_from([1, 2, 7, 60]),
    n=st.integers(1, 4),
    nan_mode=st.integers(0, 3),
    ohlc_mode=st.integers(0, 3),
    p_sig=st.sampled_from([0.05, 0.25, 0.6]),
    size_type=st.sampled_from(["amount", "value", "percent"]),
    size_pick=st.integers(0, 4),
    direction=st.sampled_from(["longonly", "shortonly", "both", "ls"]),
    accumulate=st.sampled_from([False, True, "addonly", "removeonly"]),
    costs=st.sampled_from([(0.0, 0.0, 0.0), (0.001, 0.1, 0.001), (0.01, 1.0, 0.05), (0.1, 50.0, 0.0)]),
    sl=st.sampled_from([None, 0.0, 0.02, 0.1]),
    trail=st.booleans(),
    tp=st.sampled_from([None, 0.0, 0.03, 0.2]),
    init_cash=st.sampled_from([100.0, 1e-3, 1e8]),
    per_column=st.booleans(),
    grouping=st.sampled_from(["none", "none", "group_by", "sharing_all", "sharing_labels"]),
)
def test_hypothesis_every_option_family_matches_vectorbt(seed, t, n, nan_mode, ohlc_mode, p_sig, size_type,
                                                         size_pick, direction, accumulate, costs, sl, trail, tp,
                                                         init_cash, per_column, grouping) -> None:
    rng = np.random.default_rng(seed)
    close, ohlc = _prices(rng, t, n, nan_mode, ohlc_mode)
    sig = lambda: pd.DataFrame(rng.random((t, n)) < p_sig, index=close.index, columns=close.columns)  # noqa: E731
    e, x = sig(), sig()
    sizes = SIZES[size_type]
    kw = dict(size=sizes[size_pick % len(sizes)], size_type=size_type, accumulate=accumulate, fees=costs[0],
              fixed_fees=costs[1], slippage=costs[2], sl_stop=sl, sl_trail=trail, tp_stop=tp, init_cash=init_cash)
    if direction == "ls":
        kw.update(short_entries=sig(), short_exits=sig())
    else:
        kw["direction"] = direction
    if per_column and n > 1:
        kw["size"] = [kw["size"]] + list(rng.choice([1.0, 0.5, 0.01], n - 1))
        kw["size_type"] = [size_type] + list(rng.choice(["amount", "value", "percent"], n - 1))
        kw["fees"] = list(rng.choice([0.0, 0.002, 0.02], n))
        kw["sl_stop"] = list(rng.choice([np.nan, 0.01, 0.05], n))
        kw["tp_stop"] = list(rng.choice([np.nan, 0.02, 0.1], n))
        kw["sl_trail"] = list(rng.random(n) < 0.5)
        kw["accumulate"] = list(rng.choice(["disabled", "both", "addonly", "removeonly"], n))
        if direction != "ls":
            kw["direction"] = list(rng.choice(["longonly", "shortonly", "both"], n))
        if grouping in ("none", "group_by"):
            kw["init_cash"] = list(rng.choice([50.0, 100.0, 1000.0], n))
    if grouping != "none" and n > 1:
        labels = [0] * (n // 2) + [1] * (n - n // 2)
        if grouping == "group_by":
            kw["group_by"] = labels
        elif grouping == "sharing_all":
            kw.update(cash_sharing=True, group_by=True)
            kw["init_cash"] = init_cash
        else:
            kw.update(cash_sharing=True, group_by=labels, init_cash=[init_cash, 2 * init_cash])
    compare_with_vbt(close, e, x, ohlc, **kw)
