from __future__ import annotations

import asyncio
import json
import random
import threading
import time

import numpy as np
import pytest

from gpu_hal.memory.budget import compute_budget
from gpu_hal.device import Device
from gpu_hal.discovery import DeviceInfo
from gpu_hal.errors import (
    Cancelled,
    DeviceFault,
    DeviceUnavailable,
    DeviceUnhealthy,
    InvalidName,
    QuotaExceeded,
    UnknownTenant,
)
from gpu_hal.streams.priority import JobClass
from tests.gpu_hal.conftest import MiB, make_device, small_config


def test_simulated_device_is_labelled_and_runs_cpu(device: Device) -> None:
    assert device.simulated and device.backend == "cpu"
    st = device.status()
    assert st["simulated"] is True and st["backend"] == "cpu" and "simulated" in st["label"]
    json.dumps(st)  # JSON-friendly


def test_budget_is_the_one_formula(device: Device) -> None:
    cfg = device.config.device
    assert device.budget.budget == compute_budget(1000 * MiB, cfg.safety_margin, cfg.reserved_bytes) == 800 * MiB
    assert device.status()["budget"]["budget_bytes"] == device.budget.budget


def test_real_device_without_cupy_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "cupy", None)  # import cupy -> ImportError
    info = DeviceInfo(0, "GPU-x", "H100", 80 << 30, 80 << 30, (9, 0), cuda_ordinal=0)
    with pytest.raises(DeviceUnavailable):
        Device(info, small_config())
    hidden = DeviceInfo(0, "GPU-x", "H100", 80 << 30, 80 << 30, (9, 0), cuda_ordinal=None)
    with pytest.raises(DeviceUnavailable, match="not visible"):
        Device(hidden, small_config())


def test_open_all_simulated() -> None:
    cfg = small_config()
    cfg = type(cfg)(device=cfg.device, health=cfg.health, faults=cfg.faults,
                    simulation=type(cfg.simulation)(mode="always", num_devices=2, memory_bytes=1000 * MiB))
    devs = Device.open_all(cfg)
    assert len(devs) == 2 and all(d.simulated for d in devs)
    for d in devs:
        d.close()


def test_open_all_gives_simulated_devices_without_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import gpu_hal.discovery as discovery

    monkeypatch.setattr(discovery, "discover", lambda *a, **k: [])
    devs = Device.open_all(small_config())
    assert len(devs) == 1 and devs[0].simulated
    for d in devs:
        d.close()


def test_context_limits(device: Device) -> None:
    a = device.create_context("alpha")
    assert a.limit_bytes == 400 * MiB  # half the budget by default
    b = device.create_context("beta", limit_bytes=10 * MiB)
    assert b.limit_bytes == 10 * MiB
    c = device.create_context("gamma", limit_bytes=10_000 * MiB)
    assert c.limit_bytes == device.budget.budget  # capped
    with pytest.raises(ValueError, match="already"):
        device.create_context("alpha")
    assert device.get_context("alpha") is a
    with pytest.raises(UnknownTenant):
        device.get_context("nobody")


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", " x", "_hidden", "x" * 200, "a\nb"])
def test_tenant_names_are_plain(device: Device, bad: str) -> None:
    with pytest.raises(InvalidName):
        device.create_context(bad)


def test_request_reserves_and_gives_back(device: Device) -> None:
    ctx = device.create_context("alpha")
    with ctx.reserve(100 * MiB) as req:
        assert device.budget.charged == 100 * MiB
        assert req.run(np.add, 1, 2) == 3
        assert ctx.counters()["reserved_bytes"] == 100 * MiB
    c = ctx.counters()
    assert device.budget.charged == 0
    assert c["reserved_bytes"] == 0 and c["peak_reserved_bytes"] == 100 * MiB
    assert c["kernels"] == 1 and c["requests"] == 1 and c["device_time_s"] >= 0


def test_quota_exceeded_tenant_and_device(device: Device) -> None:
    a = device.create_context("alpha", limit_bytes=300 * MiB)
    b = device.create_context("beta", limit_bytes=700 * MiB)
    with pytest.raises(QuotaExceeded) as ei:
        with a.reserve(301 * MiB):
            pass
    assert (ei.value.tenant, ei.value.asked, ei.value.available, ei.value.scope) == (
        "alpha", 301 * MiB, 300 * MiB, "tenant")
    with a.reserve(300 * MiB):
        with pytest.raises(QuotaExceeded) as ei:
            with b.reserve(600 * MiB):
                pass
        assert (ei.value.tenant, ei.value.available, ei.value.scope) == ("beta", 500 * MiB, "device")
    assert a.counters()["refused"] == 1 and b.counters()["refused"] == 1
    assert device.budget.charged == 0


def test_pool_limit_hit_is_quota_exceeded_for_that_tenant_only(device: Device) -> None:
    a = device.create_context("alpha", limit_bytes=10 * MiB)
    b = device.create_context("beta", limit_bytes=10 * MiB)
    keep = b.empty((1024,))  # beta holds memory through all of this
    with pytest.raises(QuotaExceeded) as ei:
        with a.reserve(1 * MiB) as req:
            req.run(lambda: a.empty((20 * MiB,), np.uint8))
    assert ei.value.tenant == "alpha" and ei.value.asked == 20 * MiB and ei.value.available == 10 * MiB
    assert a.counters()["oom"] == 1 and a.counters()["pool_used_bytes"] == 0
    # Beta is untouched and keeps working.
    with b.reserve(1 * MiB) as req:
        out = req.run(lambda: b.empty((1000,)))
    assert out.shape == (1000,) and keep.shape == (1024,)
    assert b.counters()["oom"] == 0
    # A pool OOM raised directly in the body (not through run) is translated too.
    with pytest.raises(QuotaExceeded):
        with a.reserve(0):
            a.pool.malloc(11 * MiB)
    # One memory truth: what is charged is what beta's pool holds from the device
    # (its live array and its cached block); alpha holds nothing.
    assert device.budget.owner_figures("alpha")["charged"] == 0
    assert device.budget.charged == b.pool.total_bytes() == 8 * 1024 + 8 * 1000


def test_failure_inside_gives_bytes_back_and_propagates(device: Device) -> None:
    ctx = device.create_context("alpha")
    with pytest.raises(ZeroDivisionError):
        with ctx.reserve(50 * MiB) as req:
            req.run(lambda: 1 / 0)
    assert device.budget.charged == 0 and ctx.active_requests == 0


def test_cancel(device: Device) -> None:
    ctx = device.create_context("alpha")
    with pytest.raises(Cancelled):
        with ctx.reserve(50 * MiB) as req:
            req.run(lambda: None)
            req.cancel()
            req.run(lambda: None)
    assert ctx.counters()["cancelled"] == 1 and ctx.counters()["kernels"] == 1
    assert device.budget.charged == 0


def test_asyncio_cancellation_gives_bytes_back(device: Device) -> None:
    ctx = device.create_context("alpha")

    async def job() -> None:
        with ctx.reserve(50 * MiB):
            await asyncio.sleep(10)

    async def main() -> None:
        task = asyncio.create_task(job())
        await asyncio.sleep(0.01)
        assert device.budget.charged == 50 * MiB
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert device.budget.charged == 0 and ctx.counters()["cancelled"] == 1


def test_run_outside_and_inside_a_request(device: Device) -> None:
    ctx = device.create_context("alpha")
    assert ctx.run(lambda x: x * 2, 21) == 42
    assert ctx.counters()["requests"] == 1
    with ctx.reserve(MiB):
        ctx.run(lambda: None)  # joins the active request: no new one
        ctx.launch(lambda: None)
    c = ctx.counters()
    assert c["requests"] == 2 and c["kernels"] == 3


def test_stream_follows_job_class(device: Device) -> None:
    rt = device.create_context("live", JobClass.REALTIME)
    low = device.create_context("research", "low")
    assert rt.stream_priority < low.stream_priority  # lower number = higher priority
    assert rt.stream_priority == device.streams.priority_for(JobClass.REALTIME)
    old = low.stream
    device.context("research", JobClass.HIGH)
    assert low.job_class is JobClass.HIGH and low.stream is not old
    assert low.stream_priority == device.streams.priority_for(JobClass.HIGH)
    s = low.stream
    assert low.renew_stream() is not s and low.stream_priority == device.streams.priority_for(JobClass.HIGH)


def test_context_is_get_or_create(device: Device) -> None:
    a = device.context("alpha", JobClass.LOW)
    assert device.context("alpha", JobClass.LOW) is a


def test_close_context(device: Device) -> None:
    ctx = device.create_context("alpha")
    with ctx.reserve(MiB):
        with pytest.raises(RuntimeError, match="active"):
            device.close_context("alpha")
    device.close_context("alpha")
    assert "alpha" not in device.status()["tenants"] and device.budget.charged == 0
    with pytest.raises(RuntimeError, match="closed"):
        with ctx.reserve(0):
            pass
    device.create_context("alpha")  # the name can be reused


def test_prewarm_floor_and_idle_trim() -> None:
    device = make_device(trim_idle_after_s=0.0)  # trimmed as soon as it is idle
    ctx = device.create_context("live", JobClass.REALTIME)
    ctx.prewarm(8 * MiB)
    assert device.budget.charged == 8 * MiB and ctx.pool.total_bytes() == 8 * MiB
    with ctx.reserve(4 * MiB) as req:
        req.run(lambda: ctx.empty((4 * MiB,), np.uint8))
        assert device.budget.charged == 8 * MiB  # within the floor
    assert ctx.pool.total_bytes() == 8 * MiB and ctx.counters()["trims"] == 0
    with ctx.reserve(20 * MiB) as req:
        arr = req.run(lambda: ctx.empty((20 * MiB,), np.uint8))
        del arr
    # Idle again: the pool keeps only its prewarmed floor.
    assert ctx.pool.total_bytes() == 8 * MiB and ctx.counters()["trims"] == 1
    assert device.budget.charged == 8 * MiB
    device.close()


def test_idle_trim_waits_and_a_new_request_cancels_it() -> None:
    device = make_device(trim_idle_after_s=0.3)
    ctx = device.create_context("research", JobClass.LOW)
    ctx.prewarm(8 * MiB)

    def big_request() -> None:
        with ctx.reserve(20 * MiB) as req:
            arr = req.run(lambda: ctx.empty((20 * MiB,), np.uint8))
            del arr

    big_request()
    assert ctx.pool.total_bytes() > 8 * MiB and ctx.counters()["trims"] == 0  # cached for the next chunk
    time.sleep(0.1)
    big_request()  # back to back: the pending trim is cancelled, the cache reused
    time.sleep(0.2)
    assert ctx.counters()["trims"] == 0
    deadline = time.monotonic() + 5
    while ctx.counters()["trims"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ctx.counters()["trims"] == 1 and ctx.pool.total_bytes() == 8 * MiB
    device.close()


def test_failed_device_takes_no_new_work(fault_device: Device) -> None:
    ctx = fault_device.create_context("alpha")
    fault_device.faults.mark_failed("test")
    with pytest.raises(DeviceUnhealthy):
        with ctx.reserve(MiB):
            pass
    assert isinstance(DeviceUnhealthy("x"), DeviceFault)
    assert fault_device.budget.charged == 0
    fault_device.faults.recover()
    with ctx.reserve(MiB):
        pass


def test_info_is_cached(device: Device) -> None:
    cache = device._info
    for _ in range(1000):
        device.status()
    assert cache.refreshes <= 1


def test_10000_random_request_sequences_from_threads_leave_zero() -> None:
    """Success, failure, cancellation, quota refusals, pool OOM and injected faults
    from 8 threads over 4 tenants: every counter ends exactly at zero."""
    dev = make_device(faults=True)
    tenants = [dev.create_context(f"t{i}", jc, limit_bytes=lim)
               for i, (jc, lim) in enumerate([(JobClass.REALTIME, 100 * MiB), (JobClass.HIGH, 300 * MiB),
                                               (JobClass.LOW, 500 * MiB), (JobClass.IDLE, None)])]
    tenants[0].prewarm(8 * MiB)
    seen: dict[str, int] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        local: dict[str, int] = {}
        try:
            for _ in range(1250):
                ctx = rng.choice(tenants)
                n = rng.randint(0, 300) * MiB
                kind = rng.random()
                outcome = "ok"
                try:
                    with ctx.reserve(n) as req:
                        req.run(lambda: ctx.empty((rng.randint(0, 64) * 1024,), np.uint8))
                        if kind < 0.15:
                            req.run(lambda: 1 / 0)
                        elif kind < 0.3:
                            req.cancel()
                            req.run(lambda: None)
                        elif kind < 0.4:
                            req.run(lambda: ctx.empty((ctx.limit_bytes + 1,), np.uint8))
                        elif kind < 0.45:
                            dev.faults.fail_next_kernel(ctx.tenant)
                            req.run(lambda: None)
                except QuotaExceeded:
                    outcome = "quota"
                except ZeroDivisionError:
                    outcome = "failed"
                except Cancelled:
                    outcome = "cancelled"
                except DeviceFault:
                    outcome = "fault"
                local[outcome] = local.get(outcome, 0) + 1
            with lock:
                for k, v in local.items():
                    seen[k] = seen.get(k, 0) + v
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    assert sum(seen.values()) == 10_000
    assert set(seen) == {"ok", "quota", "failed", "cancelled", "fault"}, seen
    dev.faults.clear()
    dev.budget.check_invariants()
    # One memory truth: the budget charges exactly what the pools hold from the device.
    assert dev.budget.charged == sum(max(ctx.floor_bytes, ctx.pool.total_bytes()) for ctx in tenants)
    for ctx in tenants:
        ctx.trim_if_idle()
    assert dev.budget.charged == 8 * MiB  # only the prewarmed floor
    for ctx in tenants:
        c = ctx.counters()
        assert c["reserved_bytes"] == 0 and c["active_requests"] == 0 and c["pool_used_bytes"] == 0, c
    assert sum(c["requests"] for c in dev.status()["tenants"].values()) > 0
    dev.close()
    assert dev.budget.charged == 0
