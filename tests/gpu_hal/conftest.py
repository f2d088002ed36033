"""Fixtures for gpu_hal tests: small simulated devices."""
from __future__ import annotations

from typing import Iterator

import pytest

from gpu_hal.config import DeviceConfig, FaultConfig, GpuHalConfig, HealthConfig, SimulationConfig
from gpu_hal.device import Device
from gpu_hal.discovery import simulated_devices

MiB = 1 << 20


def small_config(faults: bool = False, **device: object) -> GpuHalConfig:
    """A 1000 MiB simulated device: budget 900 MiB - 100 MiB = 800 MiB."""
    dev = {"safety_margin": 0.1, "reserved_bytes": 100 * MiB, "tenant_limit_fraction": 0.5,
           "prewarm_pool_bytes": 8 * MiB, "host_warmups": False, **device}
    return GpuHalConfig(
        device=DeviceConfig(**dev),  # type: ignore[arg-type]
        health=HealthConfig(poll_interval_s=0.05),
        simulation=SimulationConfig(num_devices=1, memory_bytes=1000 * MiB),
        faults=FaultConfig(enabled=faults),
    )


def make_device(faults: bool = False, **device: object) -> Device:
    cfg = small_config(faults, **device)
    return Device(simulated_devices(cfg.simulation)[0], cfg)


@pytest.fixture
def device() -> Iterator[Device]:
    d = make_device()
    yield d
    d.close()


@pytest.fixture
def fault_device() -> Iterator[Device]:
    d = make_device(faults=True)
    yield d
    d.close()
