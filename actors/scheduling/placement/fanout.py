"""How a job spread over the workers: chunks, cells and device seconds per worker, and
the chunk boundaries (start and end of every copy) that status, tests and benchmarks read.

`FanOut.public(done, total, now)` is the `progress` addition of a job's status:
`workers: [{worker_id, device, chunks, cells_per_s}]`, the job's throughput in cells
per second of wall time since its first chunk started, and an ETA from the cells
left at that throughput. Ray-free.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

CHUNK_LOG_SIZE = 100_000  # chunk boundaries kept by the coordinator (all jobs)


@dataclass(frozen=True)
class ChunkRun:
    """One copy of a chunk that returned: where, when (coordinator clock, seconds) and how long on the device."""

    job_id: str
    index: int
    worker_id: str
    job_class: str
    started: float
    finished: float
    device_s: float
    cells: int
    duplicate: bool = False  # a stolen copy that lost the race (its result was dropped)


@dataclass
class _WorkerShare:
    device: str
    chunks: int = 0
    cells: int = 0
    seconds: float = 0.0


@dataclass
class FanOut:
    """Per-job tally of where its chunks ran."""

    total_cells: int = 0
    first_start: float | None = None
    cells_done: int = 0
    workers: dict[str, _WorkerShare] = field(default_factory=dict)
    wall_s: list[float] = field(default_factory=list)  # coordinator-measured seconds per chunk (steal threshold)
    duplicates: int = 0
    stolen: int = 0

    def started(self, now: float) -> None:
        if self.first_start is None:
            self.first_start = now

    def record(self, run: ChunkRun, device: str) -> None:
        share = self.workers.setdefault(run.worker_id, _WorkerShare(device))
        share.device = device
        share.seconds += run.device_s
        share.cells += run.cells
        share.chunks += 1
        self.wall_s.append(run.finished - run.started)
        del self.wall_s[:-64]
        if run.duplicate:
            self.duplicates += 1
        else:
            self.cells_done += run.cells

    def typical_wall_s(self) -> float | None:
        """Median coordinator-measured chunk time (None before the first chunk)."""
        if not self.wall_s:
            return None
        ordered = sorted(self.wall_s)
        return ordered[len(ordered) // 2]

    def public(self, done: int, total: int | None, now: float) -> dict[str, Any]:
        workers = [{"worker_id": w, "device": s.device, "chunks": s.chunks,
                    "cells_per_s": (s.cells / s.seconds) if s.seconds > 0 else None}
                   for w, s in sorted(self.workers.items())]
        elapsed = None if self.first_start is None else max(0.0, now - self.first_start)
        rate = (self.cells_done / elapsed) if elapsed and self.cells_done else None
        left = max(0, self.total_cells - self.cells_done)
        eta = 0.0 if total is not None and done >= total else ((left / rate) if rate else None)
        return {"workers": workers, "cells_total": self.total_cells, "cells_done": self.cells_done,
                "cells_per_s": rate, "eta_s": eta, "duplicates": self.duplicates, "stolen": self.stolen}


class ChunkLog:
    """The last `size` chunk runs of every job, oldest first."""

    def __init__(self, size: int = CHUNK_LOG_SIZE) -> None:
        self._runs: deque[ChunkRun] = deque(maxlen=size)

    def add(self, run: ChunkRun) -> None:
        self._runs.append(run)

    def runs(self, job_id: str | None = None) -> list[ChunkRun]:
        return [r for r in self._runs if job_id is None or r.job_id == job_id]
