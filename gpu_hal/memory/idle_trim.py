"""Give idle tenant pools' cached memory back a while after they go idle, not at once.

Freeing a CuPy pool's blocks is `cudaFree`, which waits for the whole device and
holds the driver meanwhile; allocating them again is `cudaMalloc`. A research
tenant that runs chunk after chunk goes idle between every two chunks: trimming
at each of those moments stalled the live requests that share the device (H100:
feature p99 under 20 concurrent backtests 10.0-10.3 ms without the per-chunk trims,
12.3-15.2 ms with them; bench/results/service_h100_run10*, run11*). So a pool is
trimmed once it has stayed idle for `after_s`; a request in between cancels it.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from typing import Callable, Protocol

log = logging.getLogger(__name__)


class Trimmable(Protocol):
    def trim_if_idle(self) -> None: ...


class IdleTrimmer:
    """One daemon thread per device that trims pools idle for at least `after_s` seconds."""

    def __init__(self, after_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if after_s <= 0:
            raise ValueError(f"after_s must be > 0, got {after_s}")
        self.after_s = after_s
        self._clock = clock
        self._cv = threading.Condition()
        self._due: dict[int, float] = {}  # id(pool) -> when it is due (the latest idle moment + after_s)
        self._heap: list[tuple[float, int, int, Trimmable]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def idle(self, pool: Trimmable) -> None:
        """`pool` just went idle: trim it `after_s` from now unless `busy` comes first."""
        with self._cv:
            due = self._clock() + self.after_s
            self._due[id(pool)] = due
            heapq.heappush(self._heap, (due, next(self._seq), id(pool), pool))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="gpu-idle-trim", daemon=True)
                self._thread.start()
            self._cv.notify()

    def busy(self, pool: Trimmable) -> None:
        """`pool` took a request (or closed): no trim is pending for it any more."""
        with self._cv:
            self._due.pop(id(pool), None)

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._stopped and (not self._heap or self._heap[0][0] > self._clock()):
                    self._cv.wait(None if not self._heap else self._heap[0][0] - self._clock())
                if self._stopped:
                    return
                due, _, key, pool = heapq.heappop(self._heap)
                if self._due.get(key) != due:  # busy since, or idle again later (a newer entry)
                    continue
                del self._due[key]
            try:
                pool.trim_if_idle()
            except Exception:  # noqa: BLE001 - trimming is best effort
                log.warning("idle pool trim failed", exc_info=True)


__all__ = ["IdleTrimmer", "Trimmable"]
