"""One memory truth: what the budget charges is what the pools took from the device.

The seed system's defect ("available memory computed in two places") and the
probe of the tenants issue (three tenants at 200 MiB each on a 1 GiB device: pools
600 MiB, budget 409 MiB) are the regressions here, plus a Hypothesis state machine
of interleaved allocations, frees, requests, faults and cancellations across
tenants on simulated devices and on the CuPy code path (fake CuPy on CI, real CuPy
in tests/gpu_hal/test_gpu.py on the GPU machine).
"""
from __future__ import annotations

import gc
import sys
from typing import Any, Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from gpu_hal.device import Device
from gpu_hal.discovery import DeviceInfo
from gpu_hal.errors import Cancelled, DeviceFault, DeviceOutOfMemory, QuotaExceeded
from tests.gpu_hal.conftest import MiB, make_device, small_config
from tests.gpu_hal.fake_cupy import make_module


def _truth(dev: Device) -> tuple[int, list]:
    total, mismatches = 0, []
    for tenant in dev.pools.tenants():
        ctx = dev.pools.get(tenant)
        figures = dev.budget.owner_figures(tenant)
        if figures["pool"] != ctx.pool.total_bytes():
            mismatches.append((tenant, figures, ctx.pool.total_bytes()))
        total += max(ctx.floor_bytes, figures["reserved"], ctx.pool.total_bytes())
    return total, mismatches


def pool_truth(dev: Device) -> int:
    """What the budget must charge: per owner, max(floor, reserved, pool bytes held),
    each owner's pool bytes in the budget equal to its pool's own count.

    A block that a pool has dropped but an unreachable exception cycle still
    references is device memory in use until the collector runs, and the budget
    (rightly) charges it until then: on a mismatch, collect once and look again."""
    total, mismatches = _truth(dev)
    if mismatches or total != dev.budget.charged:
        gc.collect()
        total, mismatches = _truth(dev)
    assert not mismatches, mismatches
    return total


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Device]:
    monkeypatch.setitem(sys.modules, "cupy", make_module())
    info = DeviceInfo(0, "GPU-fake", "Fake H100", 1000 * MiB, 1000 * MiB, (9, 0), cuda_ordinal=0)
    dev = Device(info, small_config(faults=True, trim_idle_after_s=0.0))
    yield dev
    dev.close()


def test_three_tenants_pools_are_what_the_budget_shows(device: Device) -> None:
    """The issue's probe: 3 x 200 MiB of pool memory is 600 MiB used in the budget."""
    held = []
    for name in ("a", "b", "c"):
        ctx = device.create_context(name, limit_bytes=300 * MiB)
        held.append(ctx.empty((200 * MiB,), np.uint8))
    status = device.status()
    assert device.budget.charged == 600 * MiB == pool_truth(device)
    assert device.budget.available == device.budget.budget - 600 * MiB
    assert sum(t["pool_total_bytes"] for t in status["tenants"].values()) == 600 * MiB
    del held
    assert device.budget.charged == pool_truth(device)  # freed blocks stay cached (and charged) ...
    for name in ("a", "b", "c"):
        device.pools.get(name).trim_if_idle()
    assert device.budget.charged == 0  # ... until the pools give them back


def test_pool_growth_past_the_device_budget_is_a_device_error(device: Device) -> None:
    """Other tenants' pools fill the device: the next allocation is DeviceOutOfMemory
    (a DeviceFault, so the work walks the fallback chain), not the tenant's quota."""
    big = [device.create_context(n, limit_bytes=400 * MiB) for n in ("a", "b")]
    keep = [ctx.empty((400 * MiB,), np.uint8) for ctx in big]
    c = device.create_context("c", limit_bytes=100 * MiB)
    with pytest.raises(DeviceOutOfMemory) as ei:
        with c.reserve(0) as req:
            req.run(lambda: c.empty((MiB,), np.uint8))
    assert isinstance(ei.value, DeviceFault) and "device budget exhausted" in str(ei.value)
    assert c.counters()["oom"] == 1 and device.budget.owner_figures("c")["charged"] == 0
    # Over its own limit is still the tenant's QuotaExceeded.
    del keep[0]
    big[0].trim_if_idle()
    with pytest.raises(QuotaExceeded) as qe:
        c.empty((101 * MiB,), np.uint8)
    assert qe.value.scope == "tenant" and qe.value.tenant == "c"
    assert device.budget.charged == pool_truth(device)


def test_a_request_is_charged_once_for_what_it_reserved_and_allocates(device: Device) -> None:
    ctx = device.create_context("a", limit_bytes=300 * MiB)
    with ctx.reserve(100 * MiB) as req:
        x = req.run(lambda: ctx.empty((60 * MiB,), np.uint8))
        assert device.budget.charged == 100 * MiB  # inside its reservation: no extra charge
        y = req.run(lambda: ctx.empty((80 * MiB,), np.uint8))
        assert device.budget.charged == 140 * MiB  # past it: the pool's bytes are the truth
    del x, y
    assert device.budget.charged == pool_truth(device) == 140 * MiB  # cached until the trim
    ctx.trim_if_idle()
    assert device.budget.charged == 0


def test_closed_context_keeps_live_arrays_charged_until_they_die(device: Device) -> None:
    ctx = device.create_context("a", limit_bytes=100 * MiB)
    arr = ctx.empty((10 * MiB,), np.uint8)
    device.pools.close("a")
    assert device.budget.charged == 10 * MiB  # the array still holds device memory
    del arr
    assert device.budget.charged == 0
    again = device.create_context("a", limit_bytes=100 * MiB)  # the name is free again
    assert again.counters()["pool_total_bytes"] == 0


def test_gpu_path_charges_at_allocation_and_driver_oom_is_a_device_error(fake_gpu: Device,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    cp = sys.modules["cupy"]
    a = fake_gpu.create_context("alpha", limit_bytes=50 * MiB)
    with a.reserve(0) as req:
        x = req.run(lambda: cp.empty((4 * MiB,), "u1"))
        assert fake_gpu.budget.owner_figures("alpha")["pool"] == 4 * MiB == a.pool.total_bytes()
    del x
    a.trim_if_idle()
    assert fake_gpu.budget.charged == 0

    def refuse(size: int) -> Any:
        raise cp.cuda.memory.OutOfMemoryError(size, 0)

    monkeypatch.setattr(cp.cuda, "Memory", refuse)
    with pytest.raises(DeviceOutOfMemory, match="driver refused"):
        with a.reserve(0) as req:
            req.run(lambda: cp.empty((MiB,), "u1"))
    assert fake_gpu.budget.charged == 0 and a.counters()["oom"] == 1


class MemoryTruthMachine(RuleBasedStateMachine):
    """Random interleavings across tenants; after every step the budget equals the
    pools (plus open reservations), and everything released means zero."""

    gpu_path = False

    @initialize()
    def start(self) -> None:
        if self.gpu_path:
            self._mp = pytest.MonkeyPatch()
            self._mp.setitem(sys.modules, "cupy", make_module())
            info = DeviceInfo(0, "GPU-fake", "Fake H100", 1000 * MiB, 1000 * MiB, (9, 0), cuda_ordinal=0)
            self.dev = Device(info, small_config(faults=True, trim_idle_after_s=0.0))
        else:
            self.dev = make_device(faults=True, trim_idle_after_s=0.0)
        self.ctxs = [self.dev.create_context(f"t{i}", limit_bytes=lim)
                     for i, lim in enumerate((64 * MiB, 128 * MiB, 256 * MiB))]
        self.arrays: list[tuple[int, Any]] = []
        self.requests: list[Any] = []

    def _empty(self, ctx: Any, nbytes: int) -> Any:
        if self.gpu_path:
            import cupy  # noqa: PLC0415 - the fake module installed above

            with ctx.pool.activate():
                return cupy.empty((nbytes,), "u1")
        return ctx.empty((nbytes,), np.uint8)

    @rule(t=st.integers(0, 2), kib=st.integers(1, 96 * 1024))
    def allocate(self, t: int, kib: int) -> None:
        ctx = self.ctxs[t]
        try:
            self.arrays.append((t, ctx.run(lambda: self._empty(ctx, kib * 1024))))
        except (QuotaExceeded, DeviceFault):
            pass

    @precondition(lambda self: self.arrays)
    @rule(i=st.integers(0, 10_000))
    def free(self, i: int) -> None:
        self.arrays.pop(i % len(self.arrays))

    @rule(t=st.integers(0, 2), mib=st.integers(0, 200), what=st.sampled_from(["ok", "fail", "cancel", "fault"]))
    def request(self, t: int, mib: int, what: str) -> None:
        ctx = self.ctxs[t]
        try:
            with ctx.reserve(mib * MiB) as req:
                keep = req.run(lambda: self._empty(ctx, 256 * 1024))
                if what == "fail":
                    req.run(lambda: 1 / 0)
                elif what == "cancel":
                    req.cancel()
                    req.run(lambda: None)
                elif what == "fault":
                    self.dev.faults.fail_next_kernel(ctx.tenant)
                    req.run(lambda: None)
                assert self.dev.budget.charged == pool_truth(self.dev)
                del keep
        except (QuotaExceeded, DeviceFault, Cancelled, ZeroDivisionError):
            pass

    @rule(t=st.integers(0, 2))
    def trim(self, t: int) -> None:
        self.ctxs[t].trim_if_idle()

    @rule(t=st.integers(0, 2))
    def hold_and_release(self, t: int) -> None:
        ctx = self.ctxs[t]
        try:
            res = ctx.hold(MiB)
        except QuotaExceeded:
            return
        assert self.dev.budget.charged == pool_truth(self.dev)
        res.release()

    @invariant()
    def budget_is_the_pools(self) -> None:
        self.dev.budget.check_invariants()
        assert self.dev.budget.charged == pool_truth(self.dev)

    def teardown(self) -> None:
        self.arrays.clear()
        for ctx in self.ctxs:
            ctx.trim_if_idle()
        assert self.dev.budget.charged == 0, self.dev.budget.snapshot()
        self.dev.close()
        assert self.dev.budget.charged == 0
        if self.gpu_path:
            self._mp.undo()


class GpuPathMemoryTruthMachine(MemoryTruthMachine):
    gpu_path = True


def _settings(examples: int, steps: int) -> settings:
    return settings(max_examples=examples, stateful_step_count=steps, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


# 100 x 100 = 10,000 random interleaved steps on simulated devices (the property test)
TestMemoryTruthSimulated = MemoryTruthMachine.TestCase
TestMemoryTruthSimulated.settings = _settings(100, 100)
TestMemoryTruthGpuPath = GpuPathMemoryTruthMachine.TestCase
TestMemoryTruthGpuPath.settings = _settings(25, 40)


def test_a_tenant_quota_change_sets_its_pool_limit(device: Device) -> None:
    ctx = device.create_context("a", limit_bytes=100 * MiB)
    assert ctx.set_limit(20 * MiB) and ctx.limit_bytes == 20 * MiB
    assert device.budget.owner_figures("a")["limit"] == 20 * MiB and ctx.pool.get_limit() == 20 * MiB
    with pytest.raises(QuotaExceeded) as ei:
        ctx.empty((30 * MiB,), np.uint8)
    assert ei.value.scope == "tenant"
    with ctx.reserve(0):
        assert not ctx.set_limit(50 * MiB)  # not while a request runs
    assert ctx.set_limit(50 * MiB) and ctx.empty((30 * MiB,), np.uint8).nbytes == 30 * MiB
