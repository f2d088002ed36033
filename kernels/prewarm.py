"""The GPU kernels of every family, as warm-up callables.

Each family's `gpu.py` exposes `warmups() -> dict[str, Callable[[], None]]`: one
entry per compiled kernel, which compiles it (CuPy compiles lazily) and runs it once
on tiny inputs. `gpu_hal.realtime` calls these at start so that the first request
pays no compilation.
"""
from __future__ import annotations

import importlib
from typing import Callable

GPU_FAMILIES: tuple[str, ...] = ("kernels.indicators.gpu", "kernels.backtest.gpu")


def gpu_warmups() -> dict[str, Callable[[], None]]:
    """Every GPU kernel's warm-up callable, keyed "family.kernel"."""
    out: dict[str, Callable[[], None]] = {}
    for module_name in GPU_FAMILIES:
        module = importlib.import_module(module_name)
        family = module_name.split(".")[1]
        for name, fn in module.warmups().items():
            out[f"{family}.{name}"] = fn
    return out
