from __future__ import annotations

import time

import pytest

from gpu_hal.config import FaultConfig
from gpu_hal.device import Device
from gpu_hal.errors import DeviceFault, DeviceUnhealthy, FaultInjectionDisabled
from gpu_hal.health.faults import FaultInjector
from gpu_hal.health.monitor import HealthChange, HealthState
from tests.gpu_hal.conftest import MiB


def test_disabled_injection_is_refused(device: Device) -> None:
    assert not device.faults.enabled
    for call in (lambda: device.faults.fail_next_kernel(), lambda: device.faults.slow_down(0.1),
                 lambda: device.faults.mark_failed(), lambda: device.faults.recover()):
        with pytest.raises(FaultInjectionDisabled):
            call()
    # The hook is a no-op: work runs normally.
    assert device.create_context("alpha").run(lambda: 7) == 7


def test_next_kernel_fails_like_a_cuda_error(fault_device: Device) -> None:
    a = fault_device.create_context("alpha")
    b = fault_device.create_context("beta")
    fault_device.faults.fail_next_kernel("alpha")
    assert b.run(lambda: 1) == 1  # another tenant is not hit
    with pytest.raises(DeviceFault) as ei:
        with a.reserve(10 * MiB) as req:
            req.run(lambda: 1)
    assert ei.value.injected and "alpha" in str(ei.value)
    assert a.run(lambda: 2) == 2  # only the next kernel
    assert a.counters()["faults"] == 1 and a.counters()["kernels"] == 1
    assert fault_device.budget.charged == 0


def test_any_tenant_and_count(fault_device: Device) -> None:
    ctx = fault_device.create_context("alpha")
    fault_device.faults.fail_next_kernel(count=2)
    for _ in range(2):
        with pytest.raises(DeviceFault):
            ctx.run(lambda: None)
    ctx.run(lambda: None)
    assert fault_device.faults.snapshot()["injected_failures"] == 2


def test_mark_failed_goes_through_health(fault_device: Device) -> None:
    seen: list[HealthChange] = []
    fault_device.health.subscribe(seen.append)
    ctx = fault_device.create_context("alpha")
    fault_device.faults.mark_failed("injected: GPU fell over")
    assert fault_device.health.state is HealthState.FAILED
    assert seen and seen[-1].state is HealthState.FAILED and "injected" in seen[-1].reasons[-1]
    assert fault_device.status()["state"] == "FAILED"
    with pytest.raises(DeviceUnhealthy):
        ctx.run(lambda: None)
    fault_device.faults.recover()
    assert fault_device.health.state is HealthState.HEALTHY
    assert ctx.run(lambda: 3) == 3


def test_slow_down(fault_device: Device) -> None:
    ctx = fault_device.create_context("alpha")
    other = fault_device.create_context("beta")
    fault_device.faults.slow_down(0.05, tenant="alpha")
    t = time.perf_counter()
    ctx.run(lambda: None)
    assert time.perf_counter() - t >= 0.05
    t = time.perf_counter()
    other.run(lambda: None)
    assert time.perf_counter() - t < 0.05
    fault_device.faults.slow_down(0, tenant="alpha")
    t = time.perf_counter()
    ctx.run(lambda: None)
    assert time.perf_counter() - t < 0.05


def test_clear_disarms(fault_device: Device) -> None:
    ctx = fault_device.create_context("alpha")
    fault_device.faults.fail_next_kernel()
    fault_device.faults.slow_down(1.0)
    fault_device.faults.clear()
    t = time.perf_counter()
    ctx.run(lambda: None)
    assert time.perf_counter() - t < 0.5


def test_injector_without_monitor_and_bad_args() -> None:
    inj = FaultInjector(FaultConfig(enabled=True))
    with pytest.raises(RuntimeError):
        inj.mark_failed()
    with pytest.raises(ValueError):
        inj.fail_next_kernel(count=0)
    with pytest.raises(ValueError):
        inj.slow_down(-1)
    inj.before_kernel("x")  # nothing armed
