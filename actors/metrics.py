"""Prometheus metrics of the coordinator, through Ray's own metrics API.

Outside a Ray worker process (unit tests, the in-process executor) the same calls
only update local counters, so the coordinator code never branches on Ray.
"""
from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from gpu_hal.streams.priority import JobClass

log = logging.getLogger(__name__)

HEALTH_LEVELS = {"HEALTHY": 0, "DEGRADED": 1, "FAILED": 2}  # rayquant_device_health


class CoordinatorMetrics:
    """Queue depth per class, job latency, preemptions, fallbacks by tier, cache hits."""

    def __init__(self, enable_ray: bool = True) -> None:
        self.counts: Counter[str] = Counter()
        self._ray: dict[str, Any] = {}
        if enable_ray:
            try:
                import ray  # noqa: PLC0415
                from ray.util import metrics as m  # noqa: PLC0415

                if ray.is_initialized():
                    self._ray = {
                        "depth": m.Gauge("rayquant_queue_depth", "Queued jobs per priority class", tag_keys=("job_class",)),
                        "latency": m.Histogram("rayquant_job_latency_seconds", "Job latency from submit to finish",
                                               boundaries=[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
                                               tag_keys=("kind", "job_class")),
                        "preemptions": m.Counter("rayquant_preemptions_total", "Preemptions at chunk boundaries",
                                                 tag_keys=("job_class",)),
                        "fallbacks": m.Counter("rayquant_fallbacks_total", "Work moved down the fallback chain",
                                               tag_keys=("tier",)),
                        "cache": m.Counter("rayquant_result_cache_total", "Result cache lookups",
                                           tag_keys=("outcome",)),
                        "device_used": m.Gauge("rayquant_device_memory_used_bytes", "Bytes charged to a device's budget",
                                               tag_keys=("worker", "device")),
                        "device_free": m.Gauge("rayquant_device_memory_free_bytes", "Bytes left in a device's budget",
                                               tag_keys=("worker", "device")),
                        "device_util": m.Gauge("rayquant_device_utilization_pct", "GPU utilisation (NVML)",
                                               tag_keys=("worker", "device")),
                        "device_budget_used": m.Gauge(
                            "rayquant_device_budget_used_ratio",
                            "Charged / budget of a device (memory pressure; 0.75 / 0.85 / 0.95: trim, stop low-class "
                            "placement, preempt)", tag_keys=("worker", "device")),
                        "device_pressure": m.Gauge(
                            "rayquant_device_memory_pressure_level",
                            "Memory pressure level of a device: 0 NORMAL, 1 TRIM, 2 SHED, 3 RECLAIM (gpu_hal.memory.pressure)",
                            tag_keys=("worker", "device")),
                        "device_health": m.Gauge("rayquant_device_health",
                                                 "Device health: 0 HEALTHY, 1 DEGRADED, 2 FAILED",
                                                 tag_keys=("worker", "device")),
                        "workers": m.Gauge("rayquant_workers", "Workers the coordinator knows, by state",
                                           tag_keys=("state",)),
                        "tenant_device_s": m.Counter("rayquant_tenant_device_seconds_total",
                                                     "Measured device seconds of research chunks per tenant",
                                                     tag_keys=("tenant", "device_kind")),
                        "chunk_copies": m.Counter("rayquant_chunk_copies_total",
                                                  "Second copies of chunks at a job's tail (work stealing): "
                                                  "started, and dropped as duplicates", tag_keys=("outcome",)),
                        "tenant_refusals": m.Counter("rayquant_tenant_refusals_total",
                                                     "Requests refused by tenant quotas, by reason",
                                                     tag_keys=("tenant", "reason")),
                    }
            except Exception as exc:  # metrics must never stop the service
                log.warning("Ray metrics unavailable: %s", exc)

    def queue_depth(self, depth: dict[str, int]) -> None:
        if "depth" in self._ray:
            for name, value in depth.items():
                self._ray["depth"].set(value, tags={"job_class": name})

    def latency(self, kind: str, job_class: JobClass, seconds: float) -> None:
        self.counts[f"finished_{kind}"] += 1
        if "latency" in self._ray:
            self._ray["latency"].observe(seconds, tags={"kind": kind, "job_class": JobClass(job_class).name})

    def preemption(self, job_class: JobClass) -> None:
        self.counts["preemptions"] += 1
        if "preemptions" in self._ray:
            self._ray["preemptions"].inc(tags={"job_class": JobClass(job_class).name})

    def fallback(self, tier: str) -> None:
        self.counts[f"fallback_{tier}"] += 1
        if "fallbacks" in self._ray:
            self._ray["fallbacks"].inc(tags={"tier": tier})

    def device(self, worker_id: str, described: dict[str, Any]) -> None:
        """Per-device memory and utilisation, from a worker's describe()."""
        if "device_used" not in self._ray or described.get("kind") != "gpu":
            return
        tags = {"worker": worker_id, "device": str(described.get("device"))}
        self._ray["device_used"].set(described.get("used_bytes") or 0, tags=tags)
        self._ray["device_free"].set(described.get("free_bytes") or 0, tags=tags)
        if described.get("utilization_pct") is not None:
            self._ray["device_util"].set(described["utilization_pct"], tags=tags)
        used, free = int(described.get("used_bytes") or 0), int(described.get("free_bytes") or 0)
        if used + free > 0:
            self._ray["device_budget_used"].set(used / (used + free), tags=tags)
        if described.get("pressure") is not None:
            from gpu_hal.memory.pressure import PressureLevel  # noqa: PLC0415

            level = described["pressure"]
            self._ray["device_pressure"].set(int(PressureLevel[level] if isinstance(level, str) else level), tags=tags)
        state = described.get("health_state") or ("HEALTHY" if described.get("healthy") else "FAILED")
        self._ray["device_health"].set(HEALTH_LEVELS.get(str(state), 2), tags=tags)

    def workers(self, healthy: int, total: int) -> None:
        """How many workers the coordinator knows, and how many of them are healthy."""
        self.counts["workers_healthy"], self.counts["workers_total"] = healthy, total
        if "workers" in self._ray:
            self._ray["workers"].set(healthy, tags={"state": "healthy"})
            self._ray["workers"].set(total, tags={"state": "total"})

    def tenant_device_seconds(self, tenant: str, device_kind: str, seconds: float) -> None:
        self.counts[f"device_s_{tenant}"] += 1
        if "tenant_device_s" in self._ray:
            self._ray["tenant_device_s"].inc(max(0.0, seconds), tags={"tenant": tenant, "device_kind": device_kind})

    def tenant_refusal(self, tenant: str, reason: str) -> None:
        self.counts[f"refused_{reason}"] += 1
        if "tenant_refusals" in self._ray:
            self._ray["tenant_refusals"].inc(tags={"tenant": tenant, "reason": reason})

    def chunk_copy(self, outcome: str) -> None:
        """A second copy of a chunk was started at a job's tail ("stolen"), or one lost the race ("duplicate")."""
        self.counts[f"chunk_copies_{outcome}"] += 1
        if "chunk_copies" in self._ray:
            self._ray["chunk_copies"].inc(tags={"outcome": outcome})

    def cache(self, hit: bool) -> None:
        outcome = "hit" if hit else "miss"
        self.counts[f"cache_{outcome}"] += 1
        if "cache" in self._ray:
            self._ray["cache"].inc(tags={"outcome": outcome})


class WorkerMetrics:
    """A worker's live-path metrics: the feature cache (hits, misses, hit ratio) and its streams.

    Like `CoordinatorMetrics`, plain counters outside a Ray worker process.
    """

    def __init__(self, worker_id: str, enable_ray: bool = True) -> None:
        self.worker_id = worker_id
        self.counts: Counter[str] = Counter()
        self._tags = {"worker": worker_id}
        self._ray: dict[str, Any] = {}
        if enable_ray:
            try:
                import ray  # noqa: PLC0415
                from ray.util import metrics as m  # noqa: PLC0415

                if ray.is_initialized():
                    self._ray = {
                        "cache": m.Counter("rayquant_feature_cache_total", "Live feature cache lookups on a worker",
                                           tag_keys=("worker", "outcome")),
                        "ratio": m.Gauge("rayquant_feature_cache_hit_ratio", "Feature cache hits / lookups",
                                         tag_keys=("worker",)),
                        "ticks": m.Counter("rayquant_stream_ticks_total", "Ticks applied to streams",
                                           tag_keys=("worker",)),
                        "batch": m.Histogram("rayquant_stream_batch_seconds", "Time to apply one tick batch",
                                             boundaries=[0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5],
                                             tag_keys=("worker",)),
                        "streams": m.Gauge("rayquant_streams_open", "Open streams on a worker", tag_keys=("worker",)),
                    }
            except Exception as exc:  # metrics must never stop the service
                log.warning("Ray metrics unavailable: %s", exc)

    def feature_cache(self, hit: bool) -> None:
        outcome = "hit" if hit else "miss"
        self.counts[f"feature_cache_{outcome}"] += 1
        if "cache" in self._ray:
            self._ray["cache"].inc(tags={**self._tags, "outcome": outcome})
            hits, misses = self.counts["feature_cache_hit"], self.counts["feature_cache_miss"]
            self._ray["ratio"].set(hits / (hits + misses), tags=self._tags)

    def stream_batch(self, ticks: int, seconds: float, open_streams: int) -> None:
        self.counts["stream_ticks"] += ticks
        self.counts["stream_batches"] += 1
        if "ticks" in self._ray:
            self._ray["ticks"].inc(ticks, tags=self._tags)
            self._ray["batch"].observe(seconds, tags=self._tags)
            self._ray["streams"].set(open_streams, tags=self._tags)

    def streams_open(self, n: int) -> None:
        if "streams" in self._ray:
            self._ray["streams"].set(n, tags=self._tags)
