"""Weighted fair share of device time between tenants, within one priority class.

Stride scheduling on measured device seconds: each tenant has a virtual time
`device_seconds / weight`; among the candidates of one effective class (the queue
and aging already decided the class) the tenant with the least virtual time is
served next, and arrival order breaks ties. A tenant that was idle does not bank
credit: when it comes back its virtual time is lifted to the least virtual time of
the tenants that kept the devices busy, so it shares from now on instead of
monopolising the devices to catch up. Weights come from the tenants' quotas and
may change at run time.
"""
from __future__ import annotations

import threading
from collections import defaultdict
from typing import Callable, Sequence

from actors.scheduling.policy import Candidate


class WeightedFairShare:
    """A `ChunkPolicy`: the least-served tenant (by weighted device seconds) goes first."""

    def __init__(self, weight_of: Callable[[str], float]) -> None:
        self._weight_of = weight_of
        self._lock = threading.Lock()
        self._vtime: dict[str, float] = {}
        self._usage: dict[str, float] = defaultdict(float)
        self._chunks: dict[str, int] = defaultdict(int)

    def _weight(self, tenant: str) -> float:
        w = float(self._weight_of(tenant))
        return w if w > 0 else 1e-9

    def _floor(self, active: Sequence[str]) -> float:
        known = [self._vtime[t] for t in active if t in self._vtime]
        return min(known) if known else 0.0

    def pick(self, candidates: Sequence[Candidate]) -> Candidate:
        if not candidates:
            raise ValueError("no candidates to pick from")
        with self._lock:
            tenants = sorted({c.tenant for c in candidates})
            floor = self._floor(tenants)
            for t in tenants:  # a returning (or new) tenant starts level with the others, not behind them
                if self._vtime.get(t, floor) < floor or t not in self._vtime:
                    self._vtime[t] = floor
            return min(candidates, key=lambda c: (self._vtime[c.tenant], c.enqueued_at, c.seq, not c.resident))

    def charge(self, tenant: str, device_seconds: float) -> None:
        s = max(0.0, float(device_seconds))
        with self._lock:
            self._vtime[tenant] = self._vtime.get(tenant, 0.0) + s / self._weight(tenant)
            self._usage[tenant] += s
            self._chunks[tenant] += 1

    def usage(self) -> dict[str, dict[str, float]]:
        """Measured device seconds, chunks and virtual time per tenant since start."""
        with self._lock:
            return {t: {"device_s": self._usage[t], "chunks": self._chunks[t], "vtime": self._vtime.get(t, 0.0)}
                    for t in sorted(self._usage)}
