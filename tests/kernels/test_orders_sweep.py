"""Sweeps over order options (stops, trailing, sizing) on the orders engine: every
row equals `from_signals(...).stats()` for that combination (asset rows, and the
portfolio row = the assets' summed value); GPU rows equal CPU rows."""
from __future__ import annotations

import numpy as np
import pytest

from kernels.backtest import from_signals, sweep
from kernels.backtest.orders.api import OrdersInputError
from kernels.backtest.orders.result import ORDER_METRICS
from kernels.backtest.sweep import SweepInputError
from kernels.data import synthetic_panel, with_late_start
from kernels.strategies import get_strategy, positions_to_signals
from tests.conftest import backends

PANEL = with_late_start(synthetic_panel(5, 260, seed=4), {"S0002": 30})
GRID = {"fast": [5, 12], "slow": [12, 30], "sl_stop": [None, 0.03], "tp_stop": [0.06, None], "sl_trail": [False, True]}
OPTS = dict(fees=0.001, slippage=0.0005, fixed_fees=0.1, init_cash=1000.0)


def _nan_close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-9) -> None:
    np.testing.assert_allclose(a, b, rtol=rtol, atol=0, equal_nan=True)


def _reference(res, cid: int, panel=PANEL, strategy="trend_following", **opts):
    row = res.params.loc[cid].to_dict()
    order = {k: row.pop(k) for k in ("sl_stop", "tp_stop", "sl_trail", "size", "size_type") if k in row}
    for k in ("sl_stop", "tp_stop"):
        if k in order and np.isnan(order[k]):
            order[k] = None
    sig = positions_to_signals(get_strategy(strategy)(panel, **row))
    kw = dict(fees=opts.get("fees", 0.0), slippage=opts.get("slippage", 0.0), fixed_fees=opts.get("fixed_fees", 0.0),
              init_cash=opts.get("init_cash", 100.0), **order)
    assets = from_signals(panel, **sig.as_kwargs(), backend="cpu", **kw).stats()
    port = from_signals(panel, **sig.as_kwargs(), backend="cpu", group_by=True, **kw).stats()
    return assets, port


def test_rows_equal_from_signals() -> None:
    res = sweep(PANEL, "trend_following", GRID, top_k=5, backend="cpu", **OPTS)
    assert list(res.asset_metrics.columns) == list(ORDER_METRICS)
    assert len(res.params) == 3 * 8  # (5,12), (5,30), (12,30) x 8 order combinations
    # order options vary fastest
    assert list(res.params["sl_trail"].iloc[:2]) == [False, True]
    for cid in range(len(res.params)):
        assets, port = _reference(res, cid, **OPTS)
        _nan_close(res.asset_metrics.loc[cid].to_numpy(), assets.to_numpy())
        _nan_close(res.portfolio_metrics.loc[cid].to_numpy(), port.to_numpy()[0])
    assert res.top["sharpe"].is_monotonic_decreasing or res.top["sharpe"].isna().any()


def test_size_sweep_and_shorts() -> None:
    grid = {"fast": [5], "slow": [20], "size": [0.5, 1.0], "size_type": ["percent"], "tp_stop": [0.05]}
    res = sweep(PANEL, "trend_following", grid, backend="cpu", init_cash=500.0, fees=0.002)
    for cid in res.params.index:
        assets, port = _reference(res, cid, init_cash=500.0, fees=0.002)
        _nan_close(res.asset_metrics.loc[cid].to_numpy(), assets.to_numpy())
        _nan_close(res.portfolio_metrics.loc[cid].to_numpy(), port.to_numpy()[0])
    grid = {"fast": [5], "slow": [20], "long_only": [False], "size": [3.0, 10.0], "sl_stop": [0.04]}
    res = sweep(PANEL, "trend_following", grid, backend="cpu", engine="orders")
    assert (res.asset_metrics["n_trades"] > 0).any()
    for cid in res.params.index:
        assets, port = _reference(res, cid)
        _nan_close(res.asset_metrics.loc[cid].to_numpy(), assets.to_numpy())


def test_bad_order_grids() -> None:
    with pytest.raises(OrdersInputError, match="sl_stop"):
        sweep(PANEL, "trend_following", {"fast": [5], "slow": [20], "sl_stop": [-0.1]}, backend="cpu")
    with pytest.raises(OrdersInputError, match="sl_stop"):
        sweep(PANEL, "trend_following", {"fast": [5], "slow": [20], "sl_stop": [1.0]}, backend="cpu")
    with pytest.raises(OrdersInputError, match="size_type"):
        sweep(PANEL, "trend_following", {"fast": [5], "slow": [20], "size_type": ["shares"]}, backend="cpu")
    with pytest.raises(OrdersInputError, match="size"):
        sweep(PANEL, "trend_following", {"fast": [5], "slow": [20], "size": [0.0]}, backend="cpu")
    with pytest.raises(OrdersInputError, match="rank_by"):
        sweep(PANEL, "trend_following", {"fast": [5], "slow": [20], "tp_stop": [0.1]}, rank_by="nope",
              backend="cpu")
    with pytest.raises(SweepInputError, match="engine"):
        sweep(PANEL, "trend_following", {"fast": [5], "slow": [20]}, engine="ticks")
    with pytest.raises(SweepInputError, match="order options"):
        sweep(PANEL, "trend_following", {"fast": [5], "slow": [20]}, init_cash=10.0)


@pytest.mark.parametrize("backend", list(backends()))
def test_backend_rows_equal_cpu(backend) -> None:
    """GPU rows equal CPU rows (float64): the same step function on both backends."""
    ref = sweep(PANEL, "trend_following", GRID, backend="cpu", **OPTS)
    got = sweep(PANEL, "trend_following", GRID, backend=backend, **OPTS)
    assert got.backend == backend
    _nan_close(got.asset_metrics.to_numpy(), ref.asset_metrics.to_numpy(), rtol=1e-12)
    _nan_close(got.portfolio_metrics.to_numpy(), ref.portfolio_metrics.to_numpy(), rtol=1e-10)


# ------------------------------------------------------------------ groups and cash sharing
def _group_reference(res, cid: int, group_by, cash_sharing: bool, **opts):
    """from_signals(..., group_by, cash_sharing) for combination cid: its group stats and value."""
    row = res.params.loc[cid].to_dict()
    order = {k: row.pop(k) for k in ("sl_stop", "tp_stop", "sl_trail", "size", "size_type") if k in row}
    for k in ("sl_stop", "tp_stop"):
        if k in order and np.isnan(order[k]):
            order[k] = None
    sig = positions_to_signals(get_strategy("trend_following")(PANEL, **row))
    r = from_signals(PANEL, **sig.as_kwargs(), backend="cpu", group_by=group_by, cash_sharing=cash_sharing,
                     **opts, **order)
    return r.stats(), r.value_array.sum(axis=1), r.active_array.any(axis=1)


def _summed_value_metrics(value: np.ndarray, active: np.ndarray, init_total: float) -> dict:
    from kernels.backtest.metrics import return_metrics

    prev = np.concatenate([[init_total], value[:-1]])
    out = return_metrics(np, (value / prev - 1.0)[:, None], active[:, None], 252, equity=(value / init_total)[:, None])
    return {k: float(v[0]) for k, v in out.items()}


CS_CASES = {
    # stops x value sizes, two groups
    "stops_value": (dict(fast=[5, 12], slow=[30], sl_stop=[None, 0.03], tp_stop=[0.05], size=[50.0, 400.0],
                         size_type=["value"]), [0, 0, 1, 1, 1], dict(init_cash=500.0, fees=0.001, fixed_fees=0.5)),
    # percent sizes with a trailing stop, one group of every asset
    "percent_trail_one_group": (dict(fast=[5], slow=[20, 40], sl_stop=[0.04], sl_trail=[False, True],
                                     size=[0.3], size_type=["percent"]), True, dict(init_cash=1000.0, slippage=0.001)),
    # shorts (long_only False: reversals), amount sizes, string labels
    "shorts_amount": (dict(fast=[5], slow=[20], long_only=[False], size=[2.0, 8.0], tp_stop=[None, 0.08]),
                      ["x", "x", "x", "y", "y"], dict(init_cash=300.0, fees=0.002)),
}


@pytest.mark.parametrize("case", list(CS_CASES))
def test_cash_sharing_rows_equal_from_signals(case: str) -> None:
    """A row per (combination, group) equal to from_signals(cash_sharing=True, group_by=...) (vectorbt's
    default call sequence: the group's columns in order within a bar); the portfolio row is the summed
    value of the groups."""
    grid, group_by, opts = CS_CASES[case]
    res = sweep(PANEL, "trend_following", grid, backend="cpu", group_by=group_by, cash_sharing=True, **opts)
    labels = ["group"] if group_by is True else list(dict.fromkeys(group_by))
    assert res.asset_metrics.index.names == ["combo_id", "group"]
    assert list(res.asset_metrics.index.get_level_values("group")[:len(labels)]) == labels
    assert (res.asset_metrics["n_trades"] > 0).any()
    for cid in res.params.index:
        stats, value, active = _group_reference(res, cid, group_by, True, **opts)
        _nan_close(res.asset_metrics.loc[cid].to_numpy(), stats.to_numpy())
        port = _summed_value_metrics(value, active, opts["init_cash"] * len(labels))
        for k, v in port.items():
            _nan_close(np.array([res.portfolio_metrics.loc[cid, k]]), np.array([v]))
        if group_by is True:  # one group: the portfolio is that group
            _nan_close(res.portfolio_metrics.loc[cid].to_numpy(), stats.to_numpy()[0])


def test_group_by_without_cash_sharing_rows_equal_from_signals() -> None:
    grid = dict(fast=[5, 12], slow=[30], sl_stop=[None, 0.05], size=[3.0])
    labels = ["a", "a", "b", "b", "b"]
    res = sweep(PANEL, "trend_following", grid, backend="cpu", group_by=labels, **OPTS)
    plain = sweep(PANEL, "trend_following", grid, backend="cpu", **OPTS)
    _nan_close(res.portfolio_metrics.to_numpy(), plain.portfolio_metrics.to_numpy(), rtol=1e-12)
    for cid in res.params.index:
        stats, _, _ = _group_reference(res, cid, labels, False, **OPTS)
        _nan_close(res.asset_metrics.loc[cid].to_numpy(), stats.to_numpy())


@pytest.mark.parametrize("kwargs, field", [
    (dict(group_by=[0, 0, 1]), "group_by"),
    (dict(group_by=[0, 1, 0, 1, 1], cash_sharing=True), "group_by"),
    (dict(group_by="sector", cash_sharing=True), "group_by"),
    (dict(cash_sharing=True), "cash_sharing"),
    (dict(group_by=True, cash_sharing="yes"), "cash_sharing"),
])
def test_bad_groups_name_the_argument(kwargs: dict, field: str) -> None:
    with pytest.raises(OrdersInputError, match=field):
        sweep(PANEL, "trend_following", {"fast": [5], "slow": [20], "sl_stop": [0.05]}, backend="cpu", **kwargs)
    if "cash_sharing" not in kwargs:  # the returns engine has no groups
        with pytest.raises(SweepInputError, match="order options"):
            sweep(PANEL, "trend_following", {"fast": [5], "slow": [20]}, backend="cpu", **kwargs)


@pytest.mark.parametrize("backend", list(backends())[1:])  # the GPU (CPU vs CPU would compare nothing)
def test_backend_group_rows_equal_cpu(backend) -> None:
    """GPU group rows equal CPU rows: cash sharing (a thread per (combination, group)) and group_by
    without sharing (warps whose assets straddle two groups add lane by lane)."""
    grid, group_by, opts = CS_CASES["stops_value"]
    for kw in (dict(group_by=group_by, cash_sharing=True), dict(group_by=["a", "a", "b", "b", "b"])):
        ref = sweep(PANEL, "trend_following", grid, backend="cpu", **opts, **kw)
        got = sweep(PANEL, "trend_following", grid, backend=backend, **opts, **kw)
        assert got.backend == backend
        _nan_close(got.asset_metrics.to_numpy(), ref.asset_metrics.to_numpy(), rtol=1e-10)
        _nan_close(got.portfolio_metrics.to_numpy(), ref.portfolio_metrics.to_numpy(), rtol=1e-10)
