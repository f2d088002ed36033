"""Memory pressure of one device: levels from the budget's one set of numbers.

    ratio = charged / budget       (gpu_hal.memory.budget: what the pools hold + reservations)

| level     | from (default) | what the device and its scheduler do                        |
| --------- | -------------- | ----------------------------------------------------------- |
| NORMAL    | -              | nothing                                                     |
| TRIM      | 75 %           | idle tenant pools give their cached blocks back at once     |
| SHED      | 85 %           | no new LOW/IDLE work is admitted on this device             |
| RECLAIM   | 95 %           | running LOW/IDLE requests are cancelled at their next kernel |
|           |                | so that their memory goes back to REALTIME/HIGH requests    |

Levels are re-evaluated after every change of the budget (a listener), transitions
are kept (bounded) for status, logs and metrics, and subscribers are told of each.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Callable

from gpu_hal.memory.budget import MemoryBudget
from gpu_hal.streams.priority import JobClass

log = logging.getLogger(__name__)


class PressureLevel(IntEnum):
    NORMAL = 0
    TRIM = 1
    SHED = 2
    RECLAIM = 3


SHEDDABLE = frozenset({JobClass.LOW, JobClass.IDLE})  # the classes that give way under pressure
PROTECTED = frozenset({JobClass.REALTIME, JobClass.HIGH})  # the classes they give way to


@dataclass(frozen=True)
class Transition:
    at: float
    before: PressureLevel
    after: PressureLevel
    ratio: float

    def to_public(self) -> dict[str, Any]:
        return {"at": self.at, "from": self.before.name, "to": self.after.name, "ratio": round(self.ratio, 4)}


class MemoryPressure:
    """The pressure level of one budget, its transitions and who is told of them."""

    def __init__(self, budget: MemoryBudget, thresholds: tuple[float, float, float],
                 history: int, clock: Callable[[], float] = time.time) -> None:
        trim, shed, reclaim = (float(t) for t in thresholds)
        if not 0.0 < trim <= shed <= reclaim <= 1.0:
            raise ValueError(f"pressure thresholds must satisfy 0 < trim <= shed <= reclaim <= 1, "
                             f"got {thresholds}")
        self.budget = budget
        self.thresholds = (trim, shed, reclaim)
        self._clock = clock
        self._lock = threading.Lock()
        self._level = PressureLevel.NORMAL
        self._transitions: deque[Transition] = deque(maxlen=history)
        self._subscribers: list[Callable[[Transition], None]] = []
        budget.add_listener(self.check)

    def ratio(self) -> float:
        b = self.budget.budget
        return self.budget.charged / b if b else 1.0

    def level_for(self, ratio: float) -> PressureLevel:
        trim, shed, reclaim = self.thresholds
        if ratio >= reclaim:
            return PressureLevel.RECLAIM
        if ratio >= shed:
            return PressureLevel.SHED
        if ratio >= trim:
            return PressureLevel.TRIM
        return PressureLevel.NORMAL

    @property
    def level(self) -> PressureLevel:
        return self._level

    def subscribe(self, fn: Callable[[Transition], None]) -> None:
        """Call `fn(transition)` on every change of level (from the thread that changed the budget)."""
        with self._lock:
            self._subscribers.append(fn)

    def check(self) -> PressureLevel:
        """Re-evaluate the level; record and announce a transition."""
        ratio = self.ratio()
        new = self.level_for(ratio)
        with self._lock:
            old = self._level
            if new == old:
                return new
            self._level = new
            t = Transition(self._clock(), old, new, ratio)
            self._transitions.append(t)
            subscribers = list(self._subscribers)
        log.log(logging.WARNING if new > old else logging.INFO,
                "memory pressure %s -> %s (%.1f %% of the budget)", old.name, new.name, 100 * ratio)
        for fn in subscribers:
            try:
                fn(t)
            except Exception:  # a subscriber's failure must not break the allocation that triggered it
                log.exception("memory pressure subscriber failed")
        return new

    def admits(self, job_class: JobClass | str) -> bool:
        """Whether new work of this class may start here now (SHED stops LOW/IDLE)."""
        jc = JobClass.parse(job_class)
        return not (self._level >= PressureLevel.SHED and jc in SHEDDABLE)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            transitions = [t.to_public() for t in self._transitions]
            level = self._level
        trim, shed, reclaim = self.thresholds
        return {"level": level.name, "ratio": round(self.ratio(), 4),
                "thresholds": {"trim": trim, "shed": shed, "reclaim": reclaim},
                "transitions": transitions}


class PressureResponder:
    """Acts on rising pressure, on a thread of its own (never on the allocating
    thread, which may hold a pool's lock): TRIM and above trim every idle pool;
    RECLAIM preempts the open requests of LOW/IDLE tenants at their next kernel,
    so their memory goes back to the REALTIME/HIGH work that needs it."""

    def __init__(self, pressure: MemoryPressure, pools: Any) -> None:
        import queue  # noqa: PLC0415 - only here

        self.pressure = pressure
        self.pools = pools
        self._queue: "queue.Queue[Transition | None]" = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.counts = {"trims": 0, "preempted": 0, "reclaims": 0}
        self.last_reclaim_s: float | None = None  # time from the transition to the preemptions sent
        pressure.subscribe(self._on_transition)

    def _on_transition(self, t: Transition) -> None:
        if t.after <= t.before:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="gpu-hal-pressure", daemon=True)
                self._thread.start()
        self._queue.put(t)

    def _run(self) -> None:
        from gpu_hal.errors import DevicePressure  # noqa: PLC0415

        while True:
            t = self._queue.get()
            try:
                if t is None:
                    return
                if t.after >= PressureLevel.TRIM:
                    self.counts["trims"] += self.pools.trim_idle()
                if t.after >= PressureLevel.RECLAIM:
                    n = self.pools.preempt_classes(SHEDDABLE, lambda tenant: DevicePressure(
                        f"preempted under memory pressure ({100 * t.ratio:.0f} % of the budget): "
                        f"LOW/IDLE work of tenant {tenant!r} gives its memory back"))
                    self.counts["preempted"] += n
                    self.counts["reclaims"] += 1
                    self.last_reclaim_s = time.time() - t.at
            except Exception:
                log.exception("memory pressure action failed")
            finally:
                self._queue.task_done()

    def flush(self) -> None:
        """Wait until every queued action has run (tests, shutdown)."""
        self._queue.join()

    def close(self) -> None:
        with self._lock:
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=5.0)
