"""Host wall-clock timing shared by the benchmark scripts (GPU code is timed with
cupyx.profiler.benchmark in the scripts themselves)."""
from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Iterable


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one), for the reports."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            name = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return name


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


def write_report(path: str | Path, report: dict[str, Any]) -> None:
    """Write a benchmark report as JSON and print which targets it met."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str))
    print("targets:", {k: v["met"] for k, v in report.get("targets", {}).items()}, flush=True)
    print(f"wrote {path}", flush=True)


def report_rows(summary: dict[str, Any], out: str | None) -> None:
    """Print a per-function benchmark's summary (all but its "rows") and write the whole of it to `out`
    as JSON when given."""
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}))
    if out:
        with open(out, "w") as f:
            json.dump(summary, f, indent=1)
