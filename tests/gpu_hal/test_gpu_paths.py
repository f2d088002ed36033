"""The real-GPU code paths of gpu_hal (CupyPool, CUDA streams and events, dataset
store) driven through a fake CuPy on CPU-only CI. The `gpu` tests cover the real
thing on a GPU machine."""
from __future__ import annotations

import sys
from typing import Iterator

import pytest

from gpu_hal.device import Device
from gpu_hal.discovery import DeviceInfo
from gpu_hal.errors import DeviceFault, QuotaExceeded
from gpu_hal.streams.priority import JobClass
from gpu_hal.realtime import RealtimePath
from tests.gpu_hal.conftest import MiB, small_config
from tests.gpu_hal.fake_cupy import get_current_stream, make_module


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Device]:
    cp = make_module()
    monkeypatch.setitem(sys.modules, "cupy", cp)
    info = DeviceInfo(0, "GPU-fake", "Fake H100", 1000 * MiB, 1000 * MiB, (9, 0), cuda_ordinal=0)
    dev = Device(info, small_config(faults=True))
    yield dev
    dev.close()


def test_real_device_path_backend_and_status(fake_gpu: Device) -> None:
    assert fake_gpu.backend == "gpu" and not fake_gpu.simulated
    st = fake_gpu.status()
    assert st["simulated"] is False and st["streams"]["priority_range"] == [0, -5]


def test_pool_limit_stream_and_events(fake_gpu: Device) -> None:
    cp = sys.modules["cupy"]
    a = fake_gpu.create_context("alpha", JobClass.REALTIME, limit_bytes=10 * MiB)
    b = fake_gpu.create_context("beta", JobClass.LOW, limit_bytes=10 * MiB)
    assert a.pool.pool.get_limit() == 10 * MiB  # set at construction, on the device
    assert a.stream.priority == -5 and b.stream.priority == -1
    with a.reserve(MiB) as req:
        assert get_current_stream() == a.stream
        x = req.run(lambda: cp.empty((1000,), "f8"))
        assert a.pool.used_bytes() >= 8000 and cp.get_default_memory_pool().used_bytes() == 0
        with pytest.raises(QuotaExceeded) as ei:
            req.run(lambda: cp.empty((20 * MiB,), "u1"))
        assert ei.value.tenant == "alpha" and ei.value.asked == 20 * MiB
        # beta is unaffected
        y = b.run(lambda: cp.empty((1000,), "f8"))
        assert b.pool.used_bytes() >= 8000
    assert get_current_stream().ptr == 0
    c = a.counters()
    assert c["kernels"] == 1 and c["device_time_s"] > 0 and c["oom"] == 1
    assert a.stream.synchronized >= 1
    del x, y


def test_zero_limit_is_not_unlimited(fake_gpu: Device) -> None:
    ctx = fake_gpu.create_context("zero", limit_bytes=0)
    assert ctx.pool.pool.get_limit() == 1
    with pytest.raises(QuotaExceeded):
        ctx.empty((1,), "u1")


def test_prewarm_is_cached_on_the_tenant_stream(fake_gpu: Device) -> None:
    cp = sys.modules["cupy"]
    ctx = fake_gpu.create_context("live", JobClass.REALTIME)
    ctx.prewarm(8 * MiB)
    dp = ctx.pool.pool.device_pool()
    mallocs = dp.cuda_mallocs
    with ctx.reserve(MiB) as req:
        req.run(lambda: cp.empty((MiB,), "u1"))
    assert dp.cuda_mallocs == mallocs  # served from the prewarmed block
    ctx.renew_stream()  # the floor moves to the new stream
    mallocs = dp.cuda_mallocs
    with ctx.reserve(MiB) as req:
        req.run(lambda: cp.empty((MiB,), "u1"))
    assert dp.cuda_mallocs == mallocs


def test_cuda_error_is_device_fault(fake_gpu: Device) -> None:
    cp = sys.modules["cupy"]
    ctx = fake_gpu.create_context("alpha")
    with pytest.raises(DeviceFault):
        ctx.run(lambda: cp.cuda.runtime.setDevice(10_000))
    fake_gpu.faults.fail_next_kernel("alpha")
    with pytest.raises(DeviceFault):
        ctx.run(lambda: None)


def test_realtime_on_gpu_path(fake_gpu: Device) -> None:
    cp = sys.modules["cupy"]

    class FakePanel:
        nbytes = 4 * MiB

        def to(self, backend: str, dtype: object = None) -> object:
            assert backend == "gpu"
            return cp.empty((self.nbytes,), "u1")

    calls: list[str] = []
    rt = RealtimePath(fake_gpu, warmups=lambda: ({"f.k": lambda: calls.append("k")}, {}))
    r = rt.start(["live"], {"d": FakePanel()})
    assert r.ready and r.mode == "gpu" and calls == ["k"], r
    assert r.datasets == {"d": 4 * MiB}
    store = fake_gpu.get_context("__datasets__")
    assert store.pool.used_bytes() == 4 * MiB
    rt.evict("d")
    assert fake_gpu.budget.charged == fake_gpu.get_context("live").floor_bytes
    rt.close()


def test_priority_range_without_a_runtime_binding(monkeypatch: pytest.MonkeyPatch) -> None:
    from gpu_hal.streams.priority import device_priority_range

    cp = make_module()
    del cp.cuda.runtime.deviceGetStreamPriorityRange  # as in the CuPy on the H100 machine
    monkeypatch.setitem(sys.modules, "cupy", cp)
    rng, source = device_priority_range(0)
    # Without libcuda (CI) the clamping probe answers; on a GPU machine the driver may.
    assert source in ("clamping probe", "cuCtxGetStreamPriorityRange"), source
    if source == "clamping probe":
        assert rng == (0, -5)
    info = DeviceInfo(0, "GPU-fake", "Fake H100", 1000 * MiB, 1000 * MiB, (9, 0), cuda_ordinal=0)
    dev = Device(info, small_config())
    assert dev.status()["streams"]["priority_range_source"] == source
    dev.close()


def test_priority_range_assumed_when_nothing_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    import gpu_hal.streams.priority as priority

    cp = make_module()
    del cp.cuda.runtime.deviceGetStreamPriorityRange

    class Opaque(cp.cuda.Stream):
        priority = property(lambda self: (_ for _ in ()).throw(AttributeError("no")))

    cp.cuda.Stream = Opaque
    monkeypatch.setitem(sys.modules, "cupy", cp)
    monkeypatch.setattr(priority, "_driver_priority_range", lambda: (_ for _ in ()).throw(OSError("no libcuda")))
    assert priority.device_priority_range(0) == (priority.ASSUMED_PRIORITY_RANGE, "assumed")
