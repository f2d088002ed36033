"""Which job a free worker serves next, among the runnable jobs of the best class.

The coordinator asks the `JobQueue` for the jobs that have runnable chunks in service
order (effective class after aging, then arrival), keeps those of the best effective
class that the worker may run, and hands them to a `ChunkPolicy`. The default,
`FifoAgingPolicy`, picks the earliest arrival (aging already lifted long waiters into
a better class), preferring the job whose data the worker holds only on a tie. After
every chunk the coordinator calls `charge(tenant, device_seconds)` with the worker's
measured time: a fair-share policy (the tenants issue) orders tenants by it; the
default only keeps the totals (`usage()`, reported in the coordinator's stats).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Protocol, Sequence

from gpu_hal.streams.priority import JobClass


@dataclass(frozen=True)
class Candidate:
    """A job with runnable chunks, as a policy sees it."""

    job_id: str
    tenant: str
    job_class: JobClass  # submitted
    effective_class: JobClass  # after aging
    enqueued_at: float
    seq: int
    resident: bool = False  # the asking worker ran this job's previous chunk (its data is in place)


class ChunkPolicy(Protocol):
    """Chooses among candidates of one effective class; told the device time each chunk used."""

    def pick(self, candidates: Sequence[Candidate]) -> Candidate: ...

    def charge(self, tenant: str, device_seconds: float) -> None: ...


class FifoAgingPolicy:
    """First come, first served within a class (aging is the queue's); device seconds are tallied."""

    def __init__(self) -> None:
        self._usage: dict[str, float] = defaultdict(float)
        self._chunks: dict[str, int] = defaultdict(int)

    def pick(self, candidates: Sequence[Candidate]) -> Candidate:
        if not candidates:
            raise ValueError("no candidates to pick from")
        return min(candidates, key=lambda c: (c.enqueued_at, c.seq, not c.resident))

    def charge(self, tenant: str, device_seconds: float) -> None:
        self._usage[tenant] += max(0.0, float(device_seconds))
        self._chunks[tenant] += 1

    def usage(self) -> dict[str, dict[str, float]]:
        """Measured device seconds and chunks per tenant since start."""
        return {t: {"device_s": self._usage[t], "chunks": self._chunks[t]} for t in sorted(self._usage)}
