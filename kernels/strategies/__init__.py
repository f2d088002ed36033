"""Strategies: pure functions `fn(panel, **params) -> positions (T, N)` in [-1, 1]
(or `Signals`: entries/exits for the orders engine, `kernels.strategies.signals`).

A registry names them and validates their parameters; the built-ins
(trend_following, momentum, mean_reversion, pairs) register on import. Users
register their own with `@register(...)` or pass a plain function to
`kernels.backtest.run`.
"""
from __future__ import annotations

from kernels.strategies.registry import (
    ParamSpec,
    StrategyError,
    StrategySpec,
    UnknownStrategy,
    as_spec,
    get_strategy,
    list_strategies,
    per_asset,
    register,
    register_spec,
    unregister,
    validate_params,
    validate_positions,
)
from kernels.strategies import builtin  # noqa: E402, F401 - registers the built-ins
from kernels.strategies.builtin import band_state, mean_reversion, momentum, pairs, trend_following
from kernels.strategies.signals import (
    Signals,
    positions_to_signals,
    signals_to_positions,
    strategy_signals,
    validate_signals,
)

__all__ = [
    "ParamSpec",
    "Signals",
    "StrategyError",
    "StrategySpec",
    "UnknownStrategy",
    "as_spec",
    "band_state",
    "get_strategy",
    "list_strategies",
    "mean_reversion",
    "momentum",
    "per_asset",
    "positions_to_signals",
    "pairs",
    "register",
    "register_spec",
    "signals_to_positions",
    "strategy_signals",
    "trend_following",
    "unregister",
    "validate_params",
    "validate_positions",
    "validate_signals",
]
