"""When a running job gives its device back: the preemption rule and its counters.

Rule: at each chunk boundary the coordinator asks `should_yield(running_class,
best_waiting_class)`. The job yields when preemption is enabled, its class is not
protected (REALTIME never yields), and the best waiting class is at least
`min_class_gap` levels higher (default 1: strictly higher). Pass the running job's
*effective* class (the one it was popped with), so a job that aged into HIGH is not
displaced by fresh HIGH arrivals. A yielding job keeps its finished chunks and is
requeued; the coordinator then calls `record_preemption`.
"""
from __future__ import annotations

import threading

from actors.config import PreemptionConfig
from gpu_hal.streams.priority import JobClass

_RANK = {c: i for i, c in enumerate(sorted(JobClass))}


class Preemptor:
    """Stateless decision plus thread-safe preemption counts (total and per class)."""

    def __init__(self, config: PreemptionConfig | None = None) -> None:
        self.config = config if config is not None else PreemptionConfig()
        self._protected = frozenset(JobClass.parse(c) for c in self.config.protected_classes)
        self.beside_classes = frozenset(JobClass.parse(c) for c in self.config.beside_classes)
        self._lock = threading.Lock()
        self._counts: dict[JobClass, int] = {c: 0 for c in JobClass}

    def should_yield(
        self, running_class: JobClass | str | int, best_waiting_class: JobClass | str | int | None
    ) -> bool:
        """True when the running job should stop at its next chunk boundary."""
        if not self.config.enabled or best_waiting_class is None:
            return False
        running = JobClass.parse(running_class)
        if running in self._protected:
            return False
        waiting = JobClass.parse(best_waiting_class)
        return _RANK[running] - _RANK[waiting] >= self.config.min_class_gap

    def record_preemption(self, job_class: JobClass | str | int) -> None:
        """Count one preemption of a job of `job_class` (its submitted class)."""
        jc = JobClass.parse(job_class)
        with self._lock:
            self._counts[jc] += 1

    @property
    def preemptions(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def counts_by_class(self) -> dict[str, int]:
        with self._lock:
            return {c.name: self._counts[c] for c in sorted(JobClass)}
