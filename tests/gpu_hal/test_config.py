from __future__ import annotations

import dataclasses

import pytest

from gpu_hal import constants as C
from gpu_hal.config import DeviceConfig, FaultConfig, GpuHalConfig, HealthConfig, SimulationConfig


def test_defaults_come_from_constants() -> None:
    cfg = GpuHalConfig()
    assert cfg.device.safety_margin == C.SAFETY_MARGIN
    assert cfg.device.reserved_bytes == C.RESERVED_BYTES
    assert cfg.health.poll_interval_s == C.HEALTH_POLL_INTERVAL_S == 1.0
    assert cfg.simulation.num_devices == C.SIM_NUM_DEVICES
    assert cfg.faults.enabled is False


def test_configs_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DeviceConfig().safety_margin = 0.5  # type: ignore[misc]


@pytest.mark.parametrize(
    "build",
    [
        lambda: DeviceConfig(safety_margin=1.0),
        lambda: DeviceConfig(safety_margin=-0.1),
        lambda: DeviceConfig(reserved_bytes=-1),
        lambda: DeviceConfig(tenant_limit_fraction=0.0),
        lambda: HealthConfig(poll_interval_s=0),
        lambda: HealthConfig(temperature_degraded_c=90, temperature_failed_c=80),
        lambda: SimulationConfig(mode="sometimes"),  # type: ignore[arg-type]
        lambda: SimulationConfig(memory_bytes=0),
    ],
)
def test_bad_values_are_refused(build) -> None:
    with pytest.raises(ValueError):
        build()


def test_fault_config_off_by_default() -> None:
    assert FaultConfig().enabled is False
