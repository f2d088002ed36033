"""Typed configuration of gpu_hal: frozen dataclasses with the defaults.

No environment reads here. The service's single pydantic-settings `Settings`
(actors/settings.py: RAYQUANT_* variables and a YAML file) builds these and passes
them down through constructors. Defaults come from `gpu_hal.constants`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gpu_hal import constants as C


@dataclass(frozen=True)
class DeviceConfig:
    """Memory budget and tenant pools of one device."""

    safety_margin: float = C.SAFETY_MARGIN
    reserved_bytes: int = C.RESERVED_BYTES
    info_ttl_s: float = C.INFO_TTL_S
    tenant_limit_fraction: float = C.TENANT_LIMIT_FRACTION
    tenant_limit_bytes: int | None = None  # overrides the fraction when set
    prewarm_pool_bytes: int = C.PREWARM_POOL_BYTES
    warmup_pool_limit_bytes: int = C.WARMUP_POOL_LIMIT_BYTES
    compile_threads: int = C.COMPILE_THREADS
    # An idle tenant pool gives back cached blocks beyond its prewarmed floor, once it has been idle this
    # long (0: at once; see gpu_hal.memory.idle_trim for why not at once by default).
    trim_idle_pools: bool = True
    trim_idle_after_s: float = C.TRIM_IDLE_AFTER_S
    # On simulated devices, run the CPU families' warm-ups (Numba compilation).
    host_warmups: bool = True
    # Memory pressure levels (fractions of the budget): trim idle pools, shed new LOW/IDLE work,
    # preempt running LOW/IDLE work (gpu_hal.memory.pressure).
    pressure_trim: float = C.PRESSURE_TRIM
    pressure_shed: float = C.PRESSURE_SHED
    pressure_reclaim: float = C.PRESSURE_RECLAIM
    pressure_history: int = C.PRESSURE_HISTORY
    reclaim_wait_s: float = C.RECLAIM_WAIT_S
    reclaim_poll_s: float = C.RECLAIM_POLL_S

    def __post_init__(self) -> None:
        if not 0.0 <= self.safety_margin < 1.0:
            raise ValueError(f"safety_margin must be in [0, 1), got {self.safety_margin}")
        if self.reserved_bytes < 0:
            raise ValueError(f"reserved_bytes must be >= 0, got {self.reserved_bytes}")
        if not 0.0 < self.tenant_limit_fraction <= 1.0:
            raise ValueError(f"tenant_limit_fraction must be in (0, 1], got {self.tenant_limit_fraction}")
        if self.tenant_limit_bytes is not None and self.tenant_limit_bytes < 0:
            raise ValueError(f"tenant_limit_bytes must be >= 0, got {self.tenant_limit_bytes}")
        if self.trim_idle_after_s < 0:
            raise ValueError(f"trim_idle_after_s must be >= 0, got {self.trim_idle_after_s}")
        if not 0.0 < self.pressure_trim <= self.pressure_shed <= self.pressure_reclaim <= 1.0:
            raise ValueError("pressure thresholds must satisfy 0 < trim <= shed <= reclaim <= 1, got "
                             f"{(self.pressure_trim, self.pressure_shed, self.pressure_reclaim)}")
        if self.info_ttl_s < 0 or self.prewarm_pool_bytes < 0 or self.warmup_pool_limit_bytes < 0:
            raise ValueError("info_ttl_s, prewarm_pool_bytes and warmup_pool_limit_bytes must be >= 0")


@dataclass(frozen=True)
class HealthConfig:
    """Polling interval and the thresholds that map readings to health states."""

    poll_interval_s: float = C.HEALTH_POLL_INTERVAL_S
    temperature_degraded_c: float = C.TEMPERATURE_DEGRADED_C
    temperature_failed_c: float = C.TEMPERATURE_FAILED_C
    memory_used_degraded_fraction: float = C.MEMORY_USED_DEGRADED_FRACTION
    ecc_corrected_degraded: int = C.ECC_CORRECTED_DEGRADED
    ecc_uncorrected_failed: int = C.ECC_UNCORRECTED_FAILED
    xid_fatal: tuple[int, ...] = C.XID_FATAL
    xid_degraded_hold_s: float = C.XID_DEGRADED_HOLD_S
    throttle_degraded_mask: int = C.THROTTLE_DEGRADED_MASK
    read_failures_failed: int = C.READ_FAILURES_FAILED
    xid_wait_ms: int = C.XID_WAIT_MS

    def __post_init__(self) -> None:
        if self.poll_interval_s <= 0:
            raise ValueError(f"poll_interval_s must be > 0, got {self.poll_interval_s}")
        if self.temperature_failed_c < self.temperature_degraded_c:
            raise ValueError("temperature_failed_c must be >= temperature_degraded_c")
        if self.read_failures_failed < 1:
            raise ValueError("read_failures_failed must be >= 1")


@dataclass(frozen=True)
class SimulationConfig:
    """Simulated devices for machines with no GPU (CPU backend, labelled simulated).

    mode: "auto" simulates only when discovery finds no usable GPU, "always" uses
    simulated devices even where GPUs exist (tests), "never" never simulates.
    """

    mode: Literal["auto", "always", "never"] = "auto"
    num_devices: int = C.SIM_NUM_DEVICES
    memory_bytes: int = C.SIM_MEMORY_BYTES
    name: str = C.SIM_NAME

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "always", "never"):
            raise ValueError(f"simulation mode must be auto, always or never, got {self.mode!r}")
        if self.num_devices < 0 or self.memory_bytes <= 0:
            raise ValueError("num_devices must be >= 0 and memory_bytes > 0")


@dataclass(frozen=True)
class FaultConfig:
    """Fault injection (tests of preemption and fallback). Off unless enabled."""

    enabled: bool = False


@dataclass(frozen=True)
class GpuHalConfig:
    """Everything gpu_hal needs, built once by the service's Settings."""

    device: DeviceConfig = field(default_factory=DeviceConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    faults: FaultConfig = field(default_factory=FaultConfig)
