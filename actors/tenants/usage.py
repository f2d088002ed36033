"""Usage accounting per tenant: measured device seconds by device kind.

The coordinator records every chunk's measured device time here (the same figure the
fair-share policy charges); the usage route joins it with the jobs by state (the
journal), the refusals by reason (`TenantAdmission`) and the bytes the tenant's
pools hold on each device now and at peak (the devices' one memory truth).
"""
from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any, Iterable, Mapping


class UsageBook:
    """Device seconds and chunks per (tenant, device kind), since the coordinator started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._chunks: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def record(self, tenant: str, device_kind: str, seconds: float) -> None:
        with self._lock:
            self._seconds[tenant][device_kind] += max(0.0, float(seconds))
            self._chunks[tenant][device_kind] += 1

    def device_seconds(self, tenant: str) -> dict[str, float]:
        with self._lock:
            return dict(self._seconds.get(tenant, {}))

    def chunks(self, tenant: str) -> dict[str, int]:
        with self._lock:
            return dict(self._chunks.get(tenant, {}))

    def tenants(self) -> list[str]:
        with self._lock:
            return sorted(self._seconds)


def memory_by_device(devices: Iterable[Mapping[str, Any]], tenant: str) -> dict[str, dict[str, int]]:
    """The tenant's pool bytes on each device (current and peak), from `Coordinator.devices()`."""
    out: dict[str, dict[str, int]] = {}
    for d in devices:
        dev = d.get("device") if isinstance(d.get("device"), Mapping) else d
        tenants = (dev or {}).get("tenants") or {}
        t = tenants.get(tenant)
        if not t:
            continue
        out[str(d.get("worker_id") or dev.get("uuid"))] = {
            "current_bytes": int(t.get("pool_total_bytes", 0)),
            "peak_bytes": int(max(t.get("peak_pool_used_bytes", 0), t.get("pool_total_bytes", 0))),
            "limit_bytes": int(t.get("limit_bytes", 0)),
        }
    return out


def tenant_usage(tenant: str, book: UsageBook, jobs: Iterable[Mapping[str, Any]],
                 refusals: Mapping[str, int], devices: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The usage document of one tenant (GET /v1/tenants/{tenant}/usage)."""
    by_state: dict[str, int] = defaultdict(int)
    for job in jobs:
        by_state[str(job.get("state"))] += 1
    memory = memory_by_device(devices, tenant)
    return {
        "tenant": tenant,
        "device_seconds": book.device_seconds(tenant),
        "chunks": book.chunks(tenant),
        "jobs": dict(sorted(by_state.items())),
        "refusals": dict(sorted(refusals.items())),
        "memory": memory,
        "current_bytes": sum(m["current_bytes"] for m in memory.values()),
        "peak_bytes": max([m["peak_bytes"] for m in memory.values()], default=0),
    }
