"""Host wall-clock timing shared by the benchmark scripts (GPU code is timed with
cupyx.profiler.benchmark in the scripts themselves)."""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Iterable


def wall_times(fn: Callable[[], Any], repeat: int, warmup: int = 1) -> list[float]:
    """Seconds per call of `fn`, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def summary(times_s: Iterable[float]) -> dict[str, float]:
    """Median, minimum and mean in milliseconds, and the count."""
    ms = [float(t) * 1e3 for t in times_s]
    return {"median_ms": statistics.median(ms), "min_ms": min(ms), "mean_ms": statistics.fmean(ms), "n": len(ms)}
