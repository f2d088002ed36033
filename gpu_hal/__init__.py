"""gpu_hal: one device's state, no Ray.

Discovery (NVML, no CUDA context), the memory budget and per-tenant pools, CUDA
streams with priorities, the health monitor, the realtime path (kernel precompile,
pool prewarm, dataset preload) and fault injection. Simulated devices stand in for
GPUs on machines without one and are labelled `simulated` everywhere.

Layout: `memory/` (budget, pools, pressure, idle trimming), `streams/` (job-class
priorities, stream set), `health/` (monitor, fault injection); at the top the pieces
every part shares (config, constants, errors), discovery, the `Device` that composes
them, and the realtime path built on it.
"""
from __future__ import annotations

from gpu_hal.config import DeviceConfig, FaultConfig, GpuHalConfig, HealthConfig, SimulationConfig
from gpu_hal.device import Device
from gpu_hal.discovery import DeviceInfo, discover, simulated_devices, usable_devices
from gpu_hal.errors import (
    Cancelled,
    DeviceFault,
    DeviceUnavailable,
    DeviceUnhealthy,
    FaultInjectionDisabled,
    GpuHalError,
    InvalidName,
    QuotaExceeded,
    UnknownDataset,
    UnknownTenant,
)
from gpu_hal.health.faults import FaultInjector
from gpu_hal.health.monitor import HealthChange, HealthMonitor, HealthReading, HealthState, ScriptedReader
from gpu_hal.memory.budget import MemoryBudget, Reservation, compute_budget
from gpu_hal.memory.pools import Request, StrategyContext, TenantPools
from gpu_hal.realtime import Readiness, RealtimePath
from gpu_hal.streams.priority import JobClass, stream_priority
from gpu_hal.streams.stream_set import StreamSet

__all__ = [
    "Cancelled", "Device", "DeviceConfig", "DeviceFault", "DeviceInfo", "DeviceUnavailable", "DeviceUnhealthy",
    "FaultConfig", "FaultInjectionDisabled", "FaultInjector", "GpuHalConfig", "GpuHalError", "HealthChange",
    "HealthConfig", "HealthMonitor", "HealthReading", "HealthState", "InvalidName", "JobClass", "MemoryBudget",
    "QuotaExceeded", "Readiness", "RealtimePath", "Request", "Reservation", "ScriptedReader",
    "SimulationConfig", "StrategyContext", "StreamSet", "TenantPools", "UnknownDataset", "UnknownTenant",
    "compute_budget", "discover", "simulated_devices", "stream_priority", "usable_devices",
]
