"""One device's state, composed of one class per concern.

`Device` = `InfoCache` (what the device is, refreshed at most once per TTL) +
`MemoryBudget` (the one budget formula and its reservations) + `StreamSet`
(prioritised streams) + `TenantPools` (a `StrategyContext` per tenant) +
`HealthMonitor` + `FaultInjector` + `MemoryPressure` (levels of the budget, acted on by a
`PressureResponder`). A real GPU runs the "gpu" backend (CuPy); a
simulated device runs the "cpu" backend and does exactly the same accounting, so
all of it can be exercised in plain pytest. Status and results carry `simulated`.
"""
from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any, Callable

from gpu_hal.memory.budget import MemoryBudget
from gpu_hal.config import GpuHalConfig
from gpu_hal.discovery import DeviceInfo, InfoCache, nvml_refresh, usable_devices
from gpu_hal.errors import DeviceUnavailable
from gpu_hal.health.faults import FaultInjector
from gpu_hal.health.monitor import HealthMonitor, HealthReader, HealthReading, NvmlReader, ScriptedReader
from gpu_hal.memory.pools import StrategyContext, TenantPools
from gpu_hal.memory.pressure import MemoryPressure, PressureResponder
from gpu_hal.streams.priority import JobClass
from gpu_hal.streams.stream_set import StreamSet

log = logging.getLogger(__name__)


class _NoReadings:
    """Health reader for a GPU whose NVML cannot be opened: empty readings."""

    def __init__(self, why: str) -> None:
        self.why = why
        self.xid_supported = False

    def read(self) -> HealthReading:
        return HealthReading(at=time.monotonic())

    def close(self) -> None:
        return None


class Device:
    """One GPU (backend "gpu") or simulated device (backend "cpu")."""

    def __init__(
        self,
        info: DeviceInfo,
        config: GpuHalConfig | None = None,
        *,
        reader: HealthReader | None = None,
        info_refresh: Callable[[DeviceInfo], DeviceInfo] | None = None,
    ) -> None:
        self.config = config = config or GpuHalConfig()
        self.simulated = bool(info.simulated)
        self.backend = "cpu" if self.simulated else "gpu"
        if not self.simulated:
            _require_gpu(info)
        self.budget = MemoryBudget(info.total_bytes, config.device.safety_margin, config.device.reserved_bytes)
        if info_refresh is None:
            info_refresh = self._simulated_refresh if self.simulated else nvml_refresh
        self._info = InfoCache(info, info_refresh, config.device.info_ttl_s)
        self.streams = StreamSet(info.cuda_ordinal, self.simulated)
        if reader is None:
            reader = self._default_reader(info)
        self.health = HealthMonitor(reader, config.health, name=info.uuid)
        self.faults = FaultInjector(config.faults, self.health)
        dcfg = config.device
        default_limit = dcfg.tenant_limit_bytes if dcfg.tenant_limit_bytes is not None else int(
            self.budget.budget * dcfg.tenant_limit_fraction)
        self.pressure = MemoryPressure(self.budget, (dcfg.pressure_trim, dcfg.pressure_shed, dcfg.pressure_reclaim),
                                       dcfg.pressure_history)
        self.pools = TenantPools(
            self.budget, self.streams, cuda_ordinal=info.cuda_ordinal, simulated=self.simulated,
            default_limit=default_limit, faults=self.faults, health=self.health,
            trim_idle=dcfg.trim_idle_pools, trim_idle_after_s=dcfg.trim_idle_after_s,
            admits=self.pressure.admits, reclaim_wait_s=dcfg.reclaim_wait_s, reclaim_poll_s=dcfg.reclaim_poll_s,
        )
        self.pressure_responder = PressureResponder(self.pressure, self.pools)
        self._started = False

    # -- construction helpers ---------------------------------------------------------
    @classmethod
    def open_all(cls, config: GpuHalConfig | None = None, **kwargs: Any) -> list["Device"]:
        """Devices for every visible GPU, or simulated ones (per SimulationConfig)."""
        config = config or GpuHalConfig()
        return [cls(info, config, **kwargs) for info in usable_devices(config.simulation)]

    def _default_reader(self, info: DeviceInfo) -> HealthReader:
        if self.simulated:
            return ScriptedReader(base=self._simulated_reading)
        try:
            return NvmlReader(info.uuid, self.config.health.xid_wait_ms)
        except Exception as exc:
            log.warning("NVML health readings unavailable for %s: %s", info.uuid, exc)
            return _NoReadings(str(exc))

    def _simulated_reading(self) -> HealthReading:
        return HealthReading(
            at=time.monotonic(),
            memory_used_bytes=self.budget.charged,
            memory_total_bytes=self.budget.total_bytes,
            simulated=True,
        )

    def _simulated_refresh(self, info: DeviceInfo) -> DeviceInfo:
        return replace(info, free_bytes=max(0, info.total_bytes - self.budget.charged))

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> "Device":
        """Start the health monitor (idempotent)."""
        if not self._started:
            self.health.start()
            self._started = True
        return self

    def close(self) -> None:
        """Stop monitoring and free every tenant pool."""
        self.health.close()
        self.pressure_responder.close()
        self.pools.close_all()
        self._started = False

    def __enter__(self) -> "Device":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- identity ------------------------------------------------------------------
    @property
    def info(self) -> DeviceInfo:
        """Device information, cached for `info_ttl_s`."""
        return self._info.get()

    @property
    def uuid(self) -> str:
        return self._info.get().uuid

    @property
    def cuda_ordinal(self) -> int | None:
        return self._info.get().cuda_ordinal

    # -- tenants -------------------------------------------------------------------
    def create_context(self, tenant: str, job_class: JobClass | str = JobClass.NORMAL,
                       limit_bytes: int | None = None) -> StrategyContext:
        """A new context for `tenant` (pool with a hard limit, stream, counters)."""
        return self.pools.create(tenant, job_class, limit_bytes)

    def context(self, tenant: str, job_class: JobClass | str = JobClass.NORMAL,
                limit_bytes: int | None = None) -> StrategyContext:
        """The tenant's context, created if needed; its stream follows `job_class`."""
        return self.pools.ensure(tenant, job_class, limit_bytes)

    def get_context(self, tenant: str) -> StrategyContext:
        return self.pools.get(tenant)

    def close_context(self, tenant: str) -> None:
        self.pools.close(tenant)

    # -- status --------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Everything an operator or the coordinator needs, JSON-friendly."""
        info = self.info
        budget = self.budget.snapshot()
        tenants = self.pools.snapshot()
        budget.pop("owners")
        budget["pool_used_bytes"] = sum(t["pool_used_bytes"] for t in tenants.values())
        budget["pool_total_bytes"] = sum(t["pool_total_bytes"] for t in tenants.values())
        health = self.health.snapshot()
        return {
            "uuid": info.uuid,
            "index": info.index,
            "name": info.name,
            "label": info.label,
            "simulated": self.simulated,
            "backend": self.backend,
            "cuda_ordinal": info.cuda_ordinal,
            "compute_capability": list(info.compute_capability),
            "memory": {"total_bytes": info.total_bytes, "free_bytes": info.free_bytes},
            "budget": budget,
            "tenants": tenants,
            "streams": self.streams.snapshot(),
            "health": health,
            "state": health["state"],
            "faults": self.faults.snapshot(),
            "pressure": {**self.pressure.snapshot(), **self.pressure_responder.counts},
        }

    def __repr__(self) -> str:
        info = self._info.get()
        return f"Device({info.label}, budget={self.budget.budget:,} bytes, health={self.health.state.value})"


def _require_gpu(info: DeviceInfo) -> None:
    if info.cuda_ordinal is None:
        raise DeviceUnavailable(f"GPU {info.uuid} is not visible to this process (CUDA_VISIBLE_DEVICES)")
    try:
        import cupy  # noqa: PLC0415 - GPU only

        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        raise DeviceUnavailable(f"GPU {info.uuid} needs CuPy and a CUDA runtime: {exc}") from exc
    if info.cuda_ordinal >= count:
        raise DeviceUnavailable(f"GPU {info.uuid}: CUDA ordinal {info.cuda_ordinal} but CUDA sees {count} device(s)")
