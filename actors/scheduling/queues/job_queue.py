"""The coordinator's waiting room: priority classes, FIFO within a class, aging, admission.

Service rule (exact). Each waiting entry has a submitted class `c` (rank 0 for
REALTIME .. 4 for IDLE), an enqueue time `t0` (from the injected monotonic clock)
and a sequence number `seq` (arrival order). At time `now` its effective rank is

    rank(c)                                          if c is REALTIME or HIGH
    max(rank(HIGH), rank(c) - floor((now - t0) / aging_interval_s))   otherwise

(no aging when `aging_interval_s <= 0`). `pop` returns the entry with the smallest
`(effective rank, t0, seq)`: highest effective class first, then the longest
waiting. A LOW job therefore becomes NORMAL after one interval and HIGH after two,
and within its effective class it is older than every later arrival, so a stream
of NORMAL or HIGH arrivals cannot starve it. Only REALTIME (live work, which aging
never reaches) can wait ahead of it indefinitely.

A preempted job is `requeue`d with its original `t0` and `seq`, so it resumes
before later arrivals of its class and keeps the aging it had earned. Admission
limits count waiting entries (not running jobs) per tenant and per submitted class;
requeued and recovered jobs were already admitted and bypass them.
"""
from __future__ import annotations

import bisect
import itertools
import math
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterator

from actors.config import QueueConfig
from gpu_hal.streams.priority import JobClass

_CLASSES: tuple[JobClass, ...] = tuple(sorted(JobClass))  # service order, highest first
_RANK = {c: i for i, c in enumerate(_CLASSES)}
_AGING_CEILING = JobClass.HIGH


class AdmissionRefused(Exception):
    """The queue is full for this tenant or this class; try again after `retry_after_s`.

    `scope` is "tenant" or "class". Picklable (travels through Ray unchanged).
    """

    def __init__(self, reason: str, retry_after_s: float, scope: str) -> None:
        super().__init__(reason, retry_after_s, scope)
        self.reason = reason
        self.retry_after_s = retry_after_s
        self.scope = scope

    def __str__(self) -> str:
        return f"{self.reason} (retry after {self.retry_after_s:g} s)"


@dataclass(frozen=True)
class QueueEntry:
    """A waiting job. `effective_class` is filled in by `pop` (aging applied)."""

    job_id: str
    job_class: JobClass
    tenant: str
    enqueued_at: float
    seq: int
    effective_class: JobClass | None = None

    @property
    def sort_key(self) -> tuple[float, int]:
        return (self.enqueued_at, self.seq)


class JobQueue:
    """Thread-safe priority queue of job ids with aging and admission limits."""

    def __init__(self, config: QueueConfig | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config if config is not None else QueueConfig()
        self._clock = clock
        self._lock = threading.Lock()
        self._seq = itertools.count()
        # Per submitted class: keys sorted by (enqueued_at, seq), and the entries.
        self._keys: dict[JobClass, list[tuple[float, int, str]]] = {c: [] for c in _CLASSES}
        self._entries: dict[str, QueueEntry] = {}
        self._by_tenant: dict[str, int] = {}

    # --- aging ----------------------------------------------------------------------

    def effective_class(self, entry: QueueEntry, now: float | None = None) -> JobClass:
        """The class `entry` is served as at `now` (see the module docstring)."""
        rank = _RANK[entry.job_class]
        ceiling = _RANK[_AGING_CEILING]
        interval = self.config.aging_interval_s
        if rank <= ceiling or interval <= 0:
            return entry.job_class
        waited = (self._clock() if now is None else now) - entry.enqueued_at
        levels = int(math.floor(max(0.0, waited) / interval))
        return _CLASSES[max(ceiling, rank - levels)]

    # --- mutation -------------------------------------------------------------------

    def push(
        self, job_id: str, job_class: JobClass | str | int, tenant: str, *, enforce_limits: bool = True
    ) -> QueueEntry:
        """Enqueue a job; raise AdmissionRefused when its tenant or class is full.

        `enforce_limits=False` is for jobs that were already accepted (recovery
        after a restart): they must never be refused.
        """
        jc = JobClass.parse(job_class)
        with self._lock:
            if job_id in self._entries:
                raise ValueError(f"job {job_id} is already queued")
            if enforce_limits:
                self._admit(jc, tenant)
            entry = QueueEntry(job_id, jc, tenant, self._clock(), next(self._seq))
            self._insert(entry)
            return entry

    def requeue(self, entry: QueueEntry) -> QueueEntry:
        """Put back a preempted (or displaced) job with its original enqueue time.

        It resumes before later arrivals of its class; limits are not applied.
        """
        stored = replace(entry, effective_class=None)
        with self._lock:
            if stored.job_id in self._entries:
                raise ValueError(f"job {stored.job_id} is already queued")
            self._insert(stored)
            return stored

    def pop(self, min_class: JobClass | str | int | None = None) -> QueueEntry | None:
        """Remove and return the next job to serve, or None.

        With `min_class`, only an entry whose effective class is at least that
        class (e.g. REALTIME for the live path) is returned.
        """
        limit = None if min_class is None else _RANK[JobClass.parse(min_class)]
        with self._lock:
            best = self._best(self._clock())
            if best is None:
                return None
            entry, eff = best
            if limit is not None and _RANK[eff] > limit:
                return None
            self._delete(entry)
            return replace(entry, effective_class=eff)

    def remove(self, job_id: str) -> QueueEntry | None:
        """Remove a waiting job (cancel); returns its entry, or None if it was not queued."""
        with self._lock:
            entry = self._entries.get(job_id)
            if entry is None:
                return None
            self._delete(entry)
            return entry

    # --- inspection -----------------------------------------------------------------

    def best_waiting_class(self) -> JobClass | None:
        """The highest effective class among waiting jobs (what a running job competes with)."""
        with self._lock:
            best = self._best(self._clock())
            return None if best is None else best[1]

    def depth_by_class(self) -> dict[str, int]:
        """Waiting jobs per submitted class name, every class present (queue-depth metric)."""
        with self._lock:
            return {c.name: len(self._keys[c]) for c in _CLASSES}

    def depth_by_tenant(self) -> dict[str, int]:
        with self._lock:
            return dict(self._by_tenant)

    def snapshot(self) -> list[QueueEntry]:
        """Waiting entries in service order at this instant, with effective classes."""
        with self._lock:
            now = self._clock()
            entries = [replace(e, effective_class=self.effective_class(e, now)) for e in self._entries.values()]
        entries.sort(key=lambda e: (_RANK[e.effective_class], e.enqueued_at, e.seq))
        return entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, job_id: object) -> bool:
        with self._lock:
            return job_id in self._entries

    def __iter__(self) -> Iterator[QueueEntry]:
        return iter(self.snapshot())

    # --- internals (lock held) --------------------------------------------------------

    def _admit(self, jc: JobClass, tenant: str) -> None:
        cfg = self.config
        if self._by_tenant.get(tenant, 0) >= cfg.max_queued_per_tenant:
            raise AdmissionRefused(
                f"tenant {tenant!r} already has {cfg.max_queued_per_tenant} jobs waiting",
                cfg.retry_after_s,
                "tenant",
            )
        limit = cfg.class_limit(jc)
        if len(self._keys[jc]) >= limit:
            raise AdmissionRefused(f"the {jc.name} queue is full ({limit} jobs waiting)", cfg.retry_after_s, "class")

    def _insert(self, entry: QueueEntry) -> None:
        bisect.insort(self._keys[entry.job_class], (entry.enqueued_at, entry.seq, entry.job_id))
        self._entries[entry.job_id] = entry
        self._by_tenant[entry.tenant] = self._by_tenant.get(entry.tenant, 0) + 1

    def _delete(self, entry: QueueEntry) -> None:
        keys = self._keys[entry.job_class]
        key = (entry.enqueued_at, entry.seq, entry.job_id)
        i = bisect.bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            del keys[i]
        else:  # pragma: no cover - defensive: keep the structures consistent
            keys.remove(key)
        del self._entries[entry.job_id]
        left = self._by_tenant[entry.tenant] - 1
        if left:
            self._by_tenant[entry.tenant] = left
        else:
            del self._by_tenant[entry.tenant]

    def _best(self, now: float) -> tuple[QueueEntry, JobClass] | None:
        # The head of each class list waited longest, so it has that class's highest
        # effective class and earliest (t0, seq): only heads can win.
        best: tuple[int, float, int] | None = None
        winner: tuple[QueueEntry, JobClass] | None = None
        for c in _CLASSES:
            keys = self._keys[c]
            if not keys:
                continue
            entry = self._entries[keys[0][2]]
            eff = self.effective_class(entry, now)
            key = (_RANK[eff], entry.enqueued_at, entry.seq)
            if best is None or key < best:
                best, winner = key, (entry, eff)
        return winner
