"""`run(..., engine="orders")` against vectorbt's `Portfolio.from_signals` on the strategy's
signals (equity, cash, every trade record, the grouped portfolio), strategies that emit
`Signals`, the positions <-> signals conversions, option validation, and walk-forward on
the orders engine."""
from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kernels.backtest import METRICS, run, walk_forward
from kernels.backtest.runner import BacktestInputError
from kernels.data import Panel, synthetic_panel, with_late_start
from kernels.strategies import (
    Signals,
    StrategyError,
    mean_reversion,
    positions_to_signals,
    signals_to_positions,
    trend_following,
)
from tests.conftest import VECTORBT, backends

pytestmark = VECTORBT  # one worker compiles vectorbt's simulator (tests/conftest.py)


@pytest.fixture(scope="module")
def vbt():
    """vectorbt, the peer (not installed on the GPU machine: only the comparisons skip there)."""
    return pytest.importorskip("vectorbt")

RTOL = 1e-9
TRADE_FIELDS = ("col", "size", "entry_idx", "entry_price", "entry_fees", "exit_idx", "exit_price", "exit_fees", "pnl",
                "return")


@pytest.fixture(scope="module")
def panel() -> Panel:
    """5 assets x 300 bars, one starting late."""
    p = synthetic_panel(5, 300, seed=21)
    return with_late_start(p, {p.symbols[3]: 80})


def _frame(p: Panel, a) -> pd.DataFrame:
    return pd.DataFrame(np.asarray(a), index=pd.DatetimeIndex(p.index), columns=list(p.symbols))


def _vbt(vbt, p: Panel, sig: Signals, group: bool = False, **kw):
    short = {}
    if sig.has_short:
        short = {"short_entries": _frame(p, sig.short_entries), "short_exits": _frame(p, sig.short_exits)}
    return vbt.Portfolio.from_signals(_frame(p, p.close), _frame(p, sig.entries), _frame(p, sig.exits), **short,
                                      open=_frame(p, p.open), high=_frame(p, p.high), low=_frame(p, p.low),
                                      group_by=True if group else None, freq="1D", **kw)


def _check_against_vectorbt(vbt, p: Panel, res, sig: Signals, **kw) -> None:
    pf = _vbt(vbt, p, sig, **kw)
    init = kw.get("init_cash", 100.0)
    np.testing.assert_allclose(res.equity * init, pf.value().to_numpy(), rtol=RTOL, atol=1e-9)
    np.testing.assert_allclose(res.positions, pf.assets().to_numpy(), rtol=RTOL, atol=1e-9)
    mine = res.trades.sort_values(["col", "entry_idx", "exit_idx"]).reset_index(drop=True)
    theirs = pf.trades.records.sort_values(["col", "entry_idx", "exit_idx"]).reset_index(drop=True)
    assert len(mine) == len(theirs) > 0
    for f in TRADE_FIELDS:
        np.testing.assert_allclose(mine[f].to_numpy(dtype=float), theirs[f].to_numpy(dtype=float), rtol=RTOL,
                                   atol=1e-9, err_msg=f)
    grouped = _vbt(vbt, p, sig, group=True, **kw)
    n = len(p.symbols)
    np.testing.assert_allclose(res.portfolio_equity * init * n, grouped.value().to_numpy(), rtol=RTOL, atol=1e-9)
    total = res.metrics.loc["portfolio", "total_return"]
    assert total == pytest.approx(grouped.total_return(), rel=RTOL)
    np.testing.assert_allclose(res.metrics.loc[list(p.symbols), "total_return"], pf.total_return().to_numpy(),
                               rtol=RTOL, atol=1e-12)


CASES = {
    "long_stops": ("trend_following", {"fast": 5, "slow": 20}, dict(sl_stop=0.04, tp_stop=0.08, fees=0.001,
                                                                       init_cash=1000.0)),
    "long_short_trailing": ("trend_following", {"fast": 8, "slow": 30, "long_only": False},
                            dict(sl_stop=0.05, sl_trail=True, fees=0.0005, slippage=0.0005)),
    "sized_value": ("trend_following", {"fast": 5, "slow": 20}, dict(size=50.0, size_type="value", fixed_fees=0.1,
                                                                        init_cash=500.0)),
    "percent_tp": ("mean_reversion", {"window": 20, "entry_z": 1.5, "exit_z": 0.25},
                   dict(size=0.5, size_type="percent", tp_stop=0.03)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_orders_run_equals_vectorbt_from_signals(vbt, panel: Panel, case: str) -> None:
    name, params, opts = CASES[case]
    res = run(panel, name, params, engine="orders", backend="cpu", **opts)
    fn = {"trend_following": trend_following, "mean_reversion": mean_reversion}[name]
    sig = positions_to_signals(fn(panel, **params))
    kw = {k: v for k, v in opts.items()}
    _check_against_vectorbt(vbt, panel, res, sig, **kw)
    assert res.engine == "orders" and res.backend == "cpu"
    assert res.order_options == {k: v for k, v in opts.items() if k not in ("fees", "slippage")}
    assert list(res.metrics.index) == [*panel.symbols, "portfolio"] and list(res.metrics.columns) == list(METRICS)
    assert (res.trades["column"].isin(panel.symbols)).all()
    assert res.trade_counts.loc["portfolio", "n_trades"] == len(res.trades)


def test_user_strategy_emitting_signals(vbt, panel: Panel) -> None:
    def breakout(p: Panel, lookback: int = 20) -> Signals:
        c = np.asarray(p.close)
        high = pd.DataFrame(c).rolling(lookback).max().shift(1).to_numpy()
        low = pd.DataFrame(c).rolling(lookback).min().shift(1).to_numpy()
        with np.errstate(invalid="ignore"):
            return Signals(entries=c > high, exits=c < low)

    res = run(panel, breakout, {"lookback": 15}, engine="orders", tp_stop=0.1, backend="cpu")
    sig = breakout(panel, 15)
    _check_against_vectorbt(vbt, panel, res, sig, tp_stop=0.1)
    # the same strategy on the returns engine: its signals become positions
    ret = run(panel, breakout, {"lookback": 15}, backend="cpu")
    np.testing.assert_array_equal(ret.positions, np.where(np.isfinite(np.asarray(panel.close)),
                                                          signals_to_positions(sig), 0.0))


def test_bad_signals_are_refused(panel: Panel) -> None:
    def wrong(p: Panel) -> Signals:
        return Signals(entries=np.zeros((3, 3), bool), exits=np.zeros((3, 3), bool))

    with pytest.raises(StrategyError, match="entries of shape"):
        run(panel, wrong, engine="orders", backend="cpu")


@pytest.mark.parametrize("kwargs, match", [
    ({"sl_stop": 0.1}, "need engine='orders'"),
    ({"engine": "ticks"}, "engine must be"),
    ({"engine": "orders", "sl_stop": -0.1}, "^sl_stop is a fraction"),
    ({"engine": "orders", "sl_stop": 1.2}, "^sl_stop 1.2 >= 1 can never trigger"),
    ({"engine": "orders", "tp_stop": float("inf")}, "^tp_stop"),
    ({"engine": "orders", "size": 0.0}, "^size must be > 0"),
    ({"engine": "orders", "size": 2.0, "size_type": "targetpercent"}, "^size must be in"),
    ({"engine": "orders", "size_type": "lots"}, "^size_type must be one of"),
    ({"engine": "orders", "direction": "sideways"}, "^direction must be one of"),
    ({"engine": "orders", "init_cash": -5.0}, "^init_cash must be"),
    ({"engine": "orders", "fixed_fees": float("nan")}, "^fixed_fees must be"),
    ({"engine": "orders", "sl_trail": "yes"}, "^sl_trail must be a bool"),
    ({"engine": "orders", "leverage": 2.0}, r"unknown order option\(s\) \['leverage'\]"),
])
def test_bad_order_options_name_the_option(panel: Panel, kwargs: dict, match: str) -> None:
    with pytest.raises(BacktestInputError, match=match):
        run(panel, "trend_following", {"fast": 5, "slow": 20}, backend="cpu", **kwargs)


# ------------------------------------------------------------------ conversions
@settings(max_examples=80, deadline=None)
@given(arrays(np.int8, st.tuples(st.integers(1, 40), st.integers(1, 4)), elements=st.integers(-1, 1)))
def test_positions_signals_round_trip(pos: np.ndarray) -> None:
    p = pos.astype(np.float64)
    sig = positions_to_signals(p)
    np.testing.assert_array_equal(signals_to_positions(sig), p)
    assert sig.has_short == bool((p < 0).any())
    # an entry is never on the same bar as its own exit
    assert not (sig.entries & sig.exits).any()
    if sig.has_short:
        assert not (sig.short_entries & sig.short_exits).any()


def test_signal_state_machine_conflicts() -> None:
    z = np.zeros((6, 1), bool)

    def col(*bars: int) -> np.ndarray:
        a = z.copy()
        a[list(bars), 0] = True
        return a

    # bar 0: entry and exit together (ignored); bar 1 long; bar 3 short entry reverses; bar 5 short exit
    s = Signals(entries=col(0, 1), exits=col(0), short_entries=col(3), short_exits=col(5))
    assert signals_to_positions(s)[:, 0].tolist() == [0, 1, 1, -1, -1, 0]
    # a long and a short entry on the same bar cancel
    s = Signals(entries=col(2), exits=z, short_entries=col(2), short_exits=z)
    assert signals_to_positions(s)[:, 0].tolist() == [0] * 6


# ------------------------------------------------------------------ walk-forward on the orders engine
def test_walk_forward_on_the_orders_engine(panel: Panel) -> None:
    grid = {"fast": [3, 8], "slow": [20, 30]}
    res = walk_forward(panel, "trend_following", grid, train=120, test=60, engine="orders", sl_stop=0.05,
                       init_cash=1000.0, backend="cpu")
    assert res.engine == "orders" and res.n_folds == 3
    for k, fold in res.folds.iterrows():
        train = panel.select(start=int(fold.first_train_bar), stop=int(fold.first_train_bar + fold.train_bars))
        scores = [run(train, "trend_following", {"fast": f, "slow": s}, engine="orders", sl_stop=0.05,
                      init_cash=1000.0, backend="cpu").portfolio["sharpe"] for f in (3, 8) for s in (20, 30)]
        assert res.in_sample.loc[k, "sharpe"] == pytest.approx(max(scores), rel=1e-12)
        start = int(fold.first_test_bar)
        test = panel.select(start=start, stop=start + int(fold.test_bars))
        chosen = {c: int(res.params.loc[k, c]) for c in ("fast", "slow")}
        ref = run(test, "trend_following", chosen, engine="orders", sl_stop=0.05, init_cash=1000.0, backend="cpu")
        np.testing.assert_array_equal(res.out_of_sample.loc[k].to_numpy(dtype=float),
                                      ref.portfolio[list(METRICS)].to_numpy(dtype=float))
        np.testing.assert_array_equal(res.oos_returns[res.oos["fold"] == k].to_numpy(), ref.portfolio_returns)


@pytest.mark.parametrize("backend", list(backends()))
def test_orders_run_backends_agree(panel: Panel, backend: str) -> None:
    if backend == "gpu" and importlib.util.find_spec("kernels.backtest.orders.gpu") is None:
        pytest.skip("the orders engine's GPU backend (kernels/backtest/orders/gpu.py) is not there yet")
    params = {"fast": 8, "slow": 30, "long_only": False}
    cpu = run(panel, "trend_following", params, engine="orders", sl_stop=0.05, tp_stop=0.1, backend="cpu")
    other = run(panel, "trend_following", params, engine="orders", sl_stop=0.05, tp_stop=0.1, backend=backend)
    assert other.backend == backend
    np.testing.assert_allclose(np.asarray(other.equity), cpu.equity, rtol=RTOL)
    pd.testing.assert_frame_equal(other.metrics, cpu.metrics, rtol=RTOL)


def test_strategy_signals_of_builtins_and_user_strategies(panel: Panel) -> None:
    from kernels.strategies import strategy_signals

    sig = strategy_signals("trend_following", panel, fast=5, slow=20, long_only=False)
    pos = trend_following(panel, fast=5, slow=20, long_only=False)
    np.testing.assert_array_equal(signals_to_positions(sig), pos)
    assert sig.has_short and sig.entries.dtype == bool
    with pytest.raises(StrategyError, match="parameter 'slow'"):
        strategy_signals("trend_following", panel, fast=5, slow=5000)
    own = Signals(entries=np.zeros(panel.close.shape, bool), exits=np.ones(panel.close.shape, bool))
    assert strategy_signals(lambda p: own, panel) is own
