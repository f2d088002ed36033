"""The orders engine: `from_signals` (vectorbt's `Portfolio.from_signals` semantics).

`api.py` validates inputs and dispatches, `cpu.py` (Numba) and `gpu.py` (CUDA) run
the simulation with one shared per-bar step (`order_step_nb`; a `__device__` function on the GPU), `result.py` wraps the order
records into pandas outputs, `sweep_cpu.py` / `sweep_gpu.py` sweep stops and sizes.
Semantics: docs/backtest-semantics.md ("Orders engine").
"""
from __future__ import annotations

from typing import Any

_EXPORTS = {
    "from_signals": "kernels.backtest.orders.api",
    "OrdersInputError": "kernels.backtest.orders.api",
    "OrdersResult": "kernels.backtest.orders.result",
    "ORDER_METRICS": "kernels.backtest.orders.result",
    "order_dt": "kernels.backtest.orders.enums",
    "trade_dt": "kernels.backtest.orders.enums",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # Lazy: importing the package must not compile Numba kernels or import CuPy.
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'kernels.backtest.orders' has no attribute {name!r}")
