"""gpu_hal on a real GPU (skipped without CuPy and a CUDA device)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Iterator

import numpy as np
import pytest

from gpu_hal.config import DeviceConfig, GpuHalConfig, HealthConfig
from gpu_hal.device import Device
from gpu_hal.discovery import discover
from gpu_hal.errors import DeviceFault, QuotaExceeded
from gpu_hal.health.monitor import HealthMonitor, HealthState, NvmlReader
from gpu_hal.streams.priority import JobClass, stream_priority, stream_priority_of
from gpu_hal.realtime import RealtimePath, gpu_kernel_warmups

pytestmark = pytest.mark.gpu
MiB = 1 << 20


@pytest.fixture(scope="module")
def gpu() -> Iterator[Device]:
    infos = discover(visible_only=True)
    assert infos, "no visible GPU found by NVML"
    # The monitor is not started: a machine-state FAILED reading must fail only
    # test_nvml_readings, not every test that reserves memory.
    dev = Device(infos[0], GpuHalConfig(device=DeviceConfig(prewarm_pool_bytes=16 * MiB)))
    yield dev
    dev.close()


def test_real_discovery_matches_cuda() -> None:
    import cupy

    infos = discover(visible_only=True)
    assert infos and not infos[0].simulated and infos[0].uuid.startswith(("GPU-", "MIG-"))
    assert sorted(d.cuda_ordinal for d in infos) == list(range(cupy.cuda.runtime.getDeviceCount()))
    d0 = next(d for d in infos if d.cuda_ordinal == 0)
    with cupy.cuda.Device(0):
        free, total = cupy.cuda.runtime.memGetInfo()
        cc = cupy.cuda.Device(0).compute_capability
    # NVML's total includes memory the driver reserves; CUDA reports what it can use.
    assert total <= d0.total_bytes <= total + (1 << 30)
    assert f"{d0.compute_capability[0]}{d0.compute_capability[1]}" == cc


def test_discovery_creates_no_cuda_context() -> None:
    """In a fresh process, discover() leaves the primary context inactive."""
    code = textwrap.dedent(
        """
        import ctypes, json
        from gpu_hal.discovery import discover
        infos = discover()
        cuda = ctypes.CDLL("libcuda.so.1")
        assert cuda.cuInit(0) == 0
        dev = ctypes.c_int()
        assert cuda.cuDeviceGet(ctypes.byref(dev), 0) == 0
        flags, active = ctypes.c_uint(), ctypes.c_int()
        assert cuda.cuDevicePrimaryCtxGetState(dev, ctypes.byref(flags), ctypes.byref(active)) == 0
        before = active.value
        import cupy
        cupy.arange(3).sum()
        cuda.cuDevicePrimaryCtxGetState(dev, ctypes.byref(flags), ctypes.byref(active))
        print(json.dumps({"n": len(infos), "before": before, "after": active.value}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ}, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["n"] >= 1 and res["before"] == 0 and res["after"] == 1, res


def test_pool_hard_limit_is_quota_exceeded_and_other_tenant_unaffected(gpu: Device) -> None:
    import cupy

    a = gpu.create_context("gpu-alpha", JobClass.LOW, limit_bytes=64 * MiB)
    b = gpu.create_context("gpu-beta", JobClass.HIGH, limit_bytes=64 * MiB)
    default_before = cupy.get_default_memory_pool().used_bytes()
    try:
        with b.reserve(32 * MiB) as rb:
            x = rb.run(lambda: cupy.arange(1_000_000, dtype=cupy.float64))
            assert b.pool.used_bytes() >= 8_000_000  # allocated from beta's own pool
            with pytest.raises(QuotaExceeded) as ei:
                with a.reserve(16 * MiB) as ra:
                    ra.run(lambda: cupy.empty(128 * MiB, dtype=cupy.uint8))
            assert ei.value.tenant == "gpu-alpha" and ei.value.asked >= 128 * MiB
            assert ei.value.available <= 64 * MiB
            # Beta's data and work are untouched.
            total = float(rb.run(lambda: x.sum()))
        assert total == 999_999 * 1_000_000 / 2
        assert cupy.get_default_memory_pool().used_bytes() == default_before
        assert a.counters()["oom"] == 1 and b.counters()["oom"] == 0
        assert a.counters()["reserved_bytes"] == 0 and gpu.budget.charged >= 0
        del x
    finally:
        gpu.close_context("gpu-alpha")
        gpu.close_context("gpu-beta")


def test_streams_follow_job_class(gpu: Device) -> None:
    import cupy

    rt = gpu.create_context("gpu-live", JobClass.REALTIME)
    low = gpu.create_context("gpu-research", JobClass.LOW)
    try:
        least, greatest = gpu.streams.priority_range
        assert greatest < least, gpu.streams.snapshot()  # H100: a real range, e.g. (0, -5)
        assert rt.stream_priority == greatest == stream_priority(JobClass.REALTIME, (least, greatest))
        assert low.stream_priority == stream_priority(JobClass.LOW, (least, greatest))
        assert rt.stream_priority < low.stream_priority
        actual_rt, actual_low = stream_priority_of(rt.stream), stream_priority_of(low.stream)
        if actual_rt is not None:  # what CUDA says the streams got
            assert (actual_rt, actual_low) == (rt.stream_priority, low.stream_priority)
        with rt.reserve(MiB) as req:
            assert cupy.cuda.get_current_stream() == rt.stream
            req.run(lambda: cupy.ones(1000).sum())
        assert rt.counters()["device_time_s"] > 0 and rt.counters()["kernels"] == 1
    finally:
        gpu.close_context("gpu-live")
        gpu.close_context("gpu-research")


def test_cuda_error_becomes_device_fault(gpu: Device) -> None:
    import cupy

    ctx = gpu.create_context("gpu-faulty")
    try:
        with pytest.raises(DeviceFault):
            ctx.run(lambda: cupy.cuda.runtime.setDevice(10_000))
        assert ctx.run(lambda: int(cupy.arange(4).sum())) == 6
    finally:
        gpu.close_context("gpu-faulty")


def test_nvml_readings(gpu: Device) -> None:
    reader = NvmlReader(gpu.uuid, xid_wait_ms=1)
    try:
        r = reader.read()
        report = HealthMonitor(reader, HealthConfig()).poll_once()
    finally:
        reader.close()
    assert r.memory_total_bytes and r.memory_total_bytes > 0
    assert r.temperature_c is not None and 0 < r.temperature_c < 120
    assert r.power_w is not None and r.power_w > 0
    assert r.throttle_reasons is not None and not r.lost
    assert report.state is not HealthState.FAILED, report.reasons
    assert reader.xid_supported or reader.xid_error
    st = gpu.status()
    assert st["simulated"] is False and st["backend"] == "gpu"
    json.dumps(st)


def test_prewarm_and_preload(gpu: Device) -> None:
    import cupy

    from kernels.data import synthetic_panel

    rt = RealtimePath(gpu)
    panel = synthetic_panel(16, 256)
    r = rt.start(["gpu-rt"], {"bench": panel})
    try:
        table, family_errors = gpu_kernel_warmups()
        assert set(r.kernel_times_s) == set(table)
        assert not r.kernel_errors, r.kernel_errors
        assert r.prewarmed == {"gpu-rt": 16 * MiB}
        ctx = gpu.get_context("gpu-rt")
        assert ctx.pool.total_bytes() >= 16 * MiB
        loaded = rt.dataset("bench")
        assert isinstance(loaded.close, cupy.ndarray)
        np.testing.assert_array_equal(cupy.asnumpy(loaded.close), panel.close)
        assert r.datasets == {"bench": panel.nbytes}
        charged = gpu.budget.charged
        rt.evict("bench")
        assert gpu.budget.charged == charged - panel.nbytes
        assert r.ready == (not family_errors), (r.family_errors, r.prewarm_errors, r.dataset_errors)
    finally:
        rt.close()
        gpu.close_context("gpu-rt")


def test_real_pools_charge_the_budget_at_allocation(gpu: Device) -> None:
    """One memory truth on real CuPy: every chunk a tenant's pool takes from the
    driver is charged to the budget when it is allocated and comes back when the
    pool frees it; the budget and the pools agree after every step."""
    import cupy

    ctx = gpu.create_context("gpu-truth", JobClass.LOW, limit_bytes=256 * MiB)
    base = gpu.budget.charged
    try:
        arrays = []
        for n in (1, 3, 17, 64):
            with ctx.reserve(0) as req:
                arrays.append(req.run(lambda: cupy.ones(n * MiB // 8, dtype=cupy.float64)))
            figures = gpu.budget.owner_figures("gpu-truth")
            assert figures["pool"] == ctx.pool.total_bytes() > 0, figures
            assert gpu.budget.charged == base + max(ctx.floor_bytes, ctx.pool.total_bytes())
        assert float(sum(float(a.sum()) for a in arrays)) == sum(n * MiB // 8 for n in (1, 3, 17, 64))
        del arrays
        ctx.trim_if_idle()
        assert ctx.pool.total_bytes() == gpu.budget.owner_figures("gpu-truth")["pool"] == 0
        assert gpu.budget.charged == base
    finally:
        gpu.pools.close("gpu-truth")
    assert gpu.budget.charged == base
