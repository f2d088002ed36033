"""Warm-up callables for every compiled kernel, so that no request pays compilation.

GPU: each module in `GPU_FAMILIES` exposes `warmups() -> dict[str, Callable[[], None]]`,
one entry per compiled CUDA kernel (CuPy compiles lazily). CPU: `cpu_warmups()` runs
the public API once on a tiny panel, which compiles (or loads from Numba's cache)
every Numba kernel behind it. `gpu_hal.realtime` calls these at start.

`python -m kernels.prewarm --jobs N` fills Numba's on-disk cache in N processes (every CPU
warm-up and each TA-Lib kernel module, `compile_tasks`), so that the workers a node starts
later load the kernels instead of compiling them (a cold compile of everything is ~7.5
minutes of one core; 4.4 minutes on 2 cores, seconds once cached). Not done before the test
suite: measured there, it cost more (~6 min) than the tests saved (~1 min).
"""
from __future__ import annotations

import argparse
import functools
import importlib
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Callable

log = logging.getLogger(__name__)

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


def compile_tasks() -> dict[str, Callable[[], None]]:
    """Every CPU compilation unit as a separate task: the TA-Lib modules (the longest, first) and the
    other warm-ups (`cpu_warmups`)."""
    from kernels.indicators import talib  # noqa: PLC0415

    return {**{f"talib.{k}": v for k, v in talib.warm_up_tasks().items()}, **cpu_warmups()}


@functools.lru_cache(maxsize=1)
def _tasks_here() -> dict[str, Callable[[], None]]:
    return compile_tasks()  # once per process: its panels and closures serve every task it runs


def _run_task(name: str) -> tuple[str, float]:
    t0 = time.perf_counter()
    _tasks_here()[name]()
    return name, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Fill Numba's on-disk cache with every CPU kernel, in parallel.")
    ap.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    ap.add_argument("--verbose", action="store_true", help="one line per task with its seconds")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    names = list(compile_tasks())
    t0 = time.perf_counter()
    if args.jobs <= 1:
        done = [_run_task(n) for n in names]
    else:  # spawned, not forked: each process starts Numba (and its threads) on its own
        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
            done = list(pool.map(_run_task, names))
    for name, seconds in done:
        log.info("%7.1f s  %s", seconds, name)
    log.info("%d kernel groups ready in %.1f s (%d processes)", len(done), time.perf_counter() - t0, args.jobs)


if __name__ == "__main__":
    main()
