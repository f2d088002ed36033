"""Warm-up callables for every compiled kernel, so that no request pays compilation.

GPU: each module in `GPU_FAMILIES` exposes `warmups() -> dict[str, Callable[[], None]]`,
one entry per compiled CUDA kernel (CuPy compiles lazily). CPU: `cpu_warmups()` runs
the public API once on a tiny panel, which compiles (or loads from Numba's cache)
every Numba kernel behind it. `gpu_hal.realtime` calls these at start.
"""
from __future__ import annotations

import importlib
from typing import Callable

GPU_FAMILIES: tuple[str, ...] = (
    "kernels.indicators.gpu",
    "kernels.indicators.stream_gpu",
    "kernels.backtest.gpu",
    "kernels.backtest.engine",
    "kernels.backtest.metrics",
    "kernels.strategies.builtin",
    "kernels.backtest.orders.gpu",
    "kernels.backtest.orders.sweep_gpu",
)

# A tiny sweep grid per built-in strategy (valid on WARMUP_BARS bars).
WARMUP_ASSETS, WARMUP_BARS = 4, 64
WARMUP_GRIDS: dict[str, dict[str, list]] = {
    "trend_following": {"fast": [2, 3], "slow": [5]},
    "momentum": {"lookback": [2, 3]},
    "mean_reversion": {"window": [5, 6]},
    "pairs": {"window": [5, 6]},
}


def gpu_warmups() -> dict[str, Callable[[], None]]:
    """Every GPU kernel's warm-up callable, keyed "<module>.<kernel>"."""
    out: dict[str, Callable[[], None]] = {}
    for module_name in GPU_FAMILIES:
        module = importlib.import_module(module_name)
        label = module_name.removeprefix("kernels.")
        for name, fn in module.warmups().items():
            out[f"{label}.{name}"] = fn
    return out


def cpu_warmups() -> dict[str, Callable[[], None]]:
    """The CPU backend's kernels, exercised once through the public API."""
    from kernels.backtest import run, sweep  # noqa: PLC0415
    from kernels.data import synthetic_panel  # noqa: PLC0415
    from kernels.indicators import INDICATORS, compute  # noqa: PLC0415

    panel = synthetic_panel(WARMUP_ASSETS, WARMUP_BARS, seed=0)
    small = {"timeperiod": 3}
    specs = [{"name": name, "params": small} if any(p.name == "timeperiod" for p in ind.params) else name
             for name, ind in INDICATORS.items()]
    out: dict[str, Callable[[], None]] = {"indicators.compute": lambda: compute(panel, specs)}
    out["indicators.stream"] = lambda: _stream_warmup(panel)
    out["indicators.nan_policy"] = lambda: _gaps_warmup(panel)
    out["backtest.from_signals"] = lambda: _orders_warmup(panel)
    for strategy, grid in WARMUP_GRIDS.items():
        first = {k: v[0] for k, v in grid.items()}
        out[f"backtest.run.{strategy}"] = lambda s=strategy, p=first: run(panel, s, p, backend="cpu")
        out[f"backtest.sweep.{strategy}"] = lambda s=strategy, g=grid: sweep(panel, s, g, backend="cpu")
    return out


def _orders_warmup(panel: object) -> None:
    """The orders engine's CPU kernels: from_signals (with stops) and an order-option sweep."""
    from kernels.backtest import from_signals, sweep  # noqa: PLC0415

    close = panel.close
    entries, exits = close > close.mean(axis=0), close < close.mean(axis=0)
    from_signals(close, entries, exits, sl_stop=0.05, tp_stop=0.1, backend="cpu").stats()
    sweep(panel, "trend_following", {**WARMUP_GRIDS["trend_following"], "sl_stop": [0.05]}, backend="cpu")


def _gaps_warmup(panel: object) -> None:
    """The NaN policy's packing (kernels/indicators/gaps.py) and the sweep's gap path (sweep_gaps)."""
    import numpy as np  # noqa: PLC0415

    from kernels.backtest import sweep  # noqa: PLC0415
    from kernels.indicators import compute  # noqa: PLC0415

    close = np.array(panel.close, copy=True)
    close[WARMUP_BARS // 2, 0] = np.nan
    compute({"close": close}, [("sma", {"timeperiod": 3})], max_gap=1)
    sweep(close, "trend_following", WARMUP_GRIDS["trend_following"], backend="cpu")


def _stream_warmup(panel: object) -> None:
    """Seed a streaming state; a small tick batch and one large enough to run threaded (where the pool allows)."""
    import numpy as np  # noqa: PLC0415

    from kernels.indicators import stream, stream_cpu  # noqa: PLC0415

    state = stream.StreamState.create(WARMUP_ASSETS)
    stream.seed(state, panel)
    last = np.stack([np.asarray(getattr(panel, f))[-1] for f in stream.TICK_FIELDS])
    stream.update_packed(state, np.arange(WARMUP_ASSETS), last)
    n = stream_cpu.PARALLEL_MIN_TICKS
    big = stream.StreamState.create(n)
    stream.update_packed(big, np.arange(n), np.ones((4, n)))
