"""Backtests of one parameter set (`run`) and parameter sweeps (`sweep`).

Semantics: docs/backtest-semantics.md.
"""
from __future__ import annotations

from typing import Any

_EXPORTS = {
    "run": "kernels.backtest.runner",
    "RunResult": "kernels.backtest.runner",
    "sweep": "kernels.backtest.sweep",
    "SweepResult": "kernels.backtest.sweep",
    "Chunk": "kernels.backtest.sweep",
    "plan_chunks": "kernels.backtest.sweep",
    "prepare_sweep": "kernels.backtest.sweep",
    "SweepPlan": "kernels.backtest.sweep",
    "merge_sweeps": "kernels.backtest.sweep",
    "METRICS": "kernels.backtest.metrics",
    "from_signals": "kernels.backtest.orders.api",
    "OrdersResult": "kernels.backtest.orders.result",
    "OrdersInputError": "kernels.backtest.orders.api",
    "ORDER_METRICS": "kernels.backtest.orders.result",
    "walk_forward": "kernels.backtest.walk_forward",
    "WalkForwardResult": "kernels.backtest.walk_forward",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # Lazy: importing the package must not compile Numba kernels or import CuPy.
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'kernels.backtest' has no attribute {name!r}")
