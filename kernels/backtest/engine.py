"""Positions -> returns: the vectorised backtest engine, written once for NumPy and CuPy.

Semantics (docs/backtest-semantics.md): the position decided at bar t's close is
held over bar t+1; costs are charged on turnover at the bar where it happens; the
portfolio is equal weight over the assets with data at each bar.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Simulation:
    """Per-asset (T, N) and portfolio (T,) series of one backtest (NumPy or CuPy)."""

    positions: Any  # target positions, 0 where there is no data
    active: Any  # close is finite
    gross: Any
    cost: Any
    net: Any
    equity: Any
    portfolio_net: Any
    portfolio_active: Any
    portfolio_equity: Any


def asset_returns(xp: ModuleType, close: Any, positions: Any, fees: float, slippage: float) -> tuple[Any, ...]:
    """(positions, active, gross, cost, net) for target positions over `close` (T, N).

    Positions are forced to 0 where the close is missing; gross is 0 unless both
    closes of the bar are finite.
    """
    dtype = close.dtype
    active = xp.isfinite(close)
    p = xp.where(active, positions, 0.0).astype(dtype, copy=False)
    zero_row = xp.zeros((1, close.shape[1]), dtype=dtype)
    p_prev = xp.concatenate([zero_row, p[:-1]], axis=0)
    both = active[1:] & active[:-1]
    with np.errstate(all="ignore"):
        change = xp.where(both, close[1:] / close[:-1] - 1.0, 0.0).astype(dtype, copy=False)
    gross = xp.concatenate([zero_row, p[:-1] * change], axis=0)
    cost = ((fees + slippage) * xp.abs(p - p_prev)).astype(dtype, copy=False)
    net = gross - cost
    return p, active, gross, cost, net


def portfolio_returns(xp: ModuleType, net: Any, active: Any) -> tuple[Any, Any]:
    """Equal-weight portfolio over active assets: (R (T,), active (T,)); R = 0 with none."""
    count = active.sum(axis=1)
    total = xp.where(active, net, 0.0).sum(axis=1)
    with np.errstate(all="ignore"):
        port = xp.where(count > 0, total / xp.maximum(count, 1), 0.0).astype(net.dtype, copy=False)
    return port, count > 0


def simulate(xp: ModuleType, close: Any, positions: Any, fees: float = 0.0, slippage: float = 0.0) -> Simulation:
    """Run positions over a close panel: per-asset and portfolio returns and equity."""
    p, active, gross, cost, net = asset_returns(xp, close, positions, fees, slippage)
    equity = xp.cumprod(1.0 + net, axis=0)
    port, port_active = portfolio_returns(xp, net, active)
    return Simulation(
        positions=p,
        active=active,
        gross=gross,
        cost=cost,
        net=net,
        equity=equity,
        portfolio_net=port,
        portfolio_active=port_active,
        portfolio_equity=xp.cumprod(1.0 + port),
    )
