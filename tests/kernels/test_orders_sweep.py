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
