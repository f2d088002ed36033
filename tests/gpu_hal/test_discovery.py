from __future__ import annotations

import pytest

from gpu_hal.config import SimulationConfig
from gpu_hal.discovery import (
    DeviceInfo,
    GpuRecord,
    InfoCache,
    MigRecord,
    cuda_ordinals,
    discover,
    simulated_devices,
    usable_devices,
)
from tests.gpu_hal.fake_nvml import FakeGpu, FakeMig, FakeNvml, NVMLError_LibraryNotFound

U0 = "GPU-11111111-aaaa-bbbb-cccc-000000000000"
U1 = "GPU-22222222-aaaa-bbbb-cccc-000000000001"
U2 = "GPU-33333333-aaaa-bbbb-cccc-000000000002"


def records(n: int = 3) -> list[GpuRecord]:
    return [GpuRecord(i, u, "H100", 80 << 30, 79 << 30, (9, 0)) for i, u in enumerate([U0, U1, U2][:n])]


# ------------------------------------------------------------------ no NVML

def test_no_nvml_library_gives_empty_list() -> None:
    fake = FakeNvml(init_error=NVMLError_LibraryNotFound("NVML Shared Library Not Found"))
    assert discover(None, nvml=fake) == []


def test_real_pynvml_without_driver_gives_empty_list() -> None:
    # This machine has nvidia-ml-py but no driver: must not raise.
    assert isinstance(discover(), list)


def test_zero_gpus_gives_empty_list_and_shuts_nvml_down() -> None:
    fake = FakeNvml([])
    assert discover(None, nvml=fake) == []
    assert fake.refcount == 0


# ---------------------------------------------------------------- discovery

def test_discover_reads_every_gpu_and_balances_init() -> None:
    fake = FakeNvml([FakeGpu(U0), FakeGpu(U1, name="NVIDIA A100", cc=(8, 0))])
    infos = discover(None, nvml=fake)
    assert [d.uuid for d in infos] == [U0, U1]
    assert infos[1].name == "NVIDIA A100" and infos[1].compute_capability == (8, 0)
    assert [d.cuda_ordinal for d in infos] == [0, 1]
    assert infos[0].total_bytes == 80 << 30 and infos[0].free_bytes == 79 << 30
    assert not any(d.simulated for d in infos)
    assert fake.refcount == 0 and fake.init_calls == 1


def test_discover_honours_cuda_visible_devices_by_uuid() -> None:
    fake = FakeNvml([FakeGpu(U0), FakeGpu(U1), FakeGpu(U2)])
    infos = discover(f"{U2},{U0}", nvml=fake)
    by_uuid = {d.uuid: d.cuda_ordinal for d in infos}
    assert by_uuid == {U0: 1, U1: None, U2: 0}
    visible = discover(f"{U2},{U0}", visible_only=True, nvml=fake)
    assert {d.uuid: d.cuda_ordinal for d in visible} == {U2: 0, U0: 1}


def test_discover_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml([FakeGpu(U0), FakeGpu(U1)])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    infos = discover(nvml=fake)
    assert [d.cuda_ordinal for d in infos] == [None, 0]


def test_one_broken_gpu_does_not_hide_the_others() -> None:
    class Broken(FakeNvml):
        def nvmlDeviceGetMemoryInfo(self, h):  # type: ignore[override]
            if h.uuid == U0:
                raise RuntimeError("boom")
            return super().nvmlDeviceGetMemoryInfo(h)

    infos = discover(None, nvml=Broken([FakeGpu(U0), FakeGpu(U1)]))
    assert [d.uuid for d in infos] == [U1]


def test_mig_instances_are_devices() -> None:
    migs = [FakeMig("MIG-aaaa-0001", 10 << 30, 9 << 30), FakeMig("MIG-aaaa-0002", 20 << 30, 19 << 30)]
    fake = FakeNvml([FakeGpu(U0, migs=migs), FakeGpu(U1)])
    infos = discover("MIG-aaaa-0002", nvml=fake)
    mig = {d.uuid: d for d in infos}
    assert mig["MIG-aaaa-0002"].cuda_ordinal == 0
    assert mig["MIG-aaaa-0002"].parent_uuid == U0
    assert mig["MIG-aaaa-0002"].total_bytes == 20 << 30
    assert mig["MIG-aaaa-0001"].cuda_ordinal is None and mig[U1].cuda_ordinal is None


# ------------------------------------------------------- CUDA_VISIBLE_DEVICES rules

@pytest.mark.parametrize(
    "visible, expected",
    [
        (None, {U0: 0, U1: 1, U2: 2}),
        ("", {}),
        ("-1", {}),
        ("0,1,2", {U0: 0, U1: 1, U2: 2}),
        ("2,0", {U2: 0, U0: 1}),
        ("1", {U1: 0}),
        (f"{U1}", {U1: 0}),
        (f" {U2} , {U1} ", {U2: 0, U1: 1}),
        ("GPU-3333", {U2: 0}),                 # a unique UUID prefix is enough
        (f"{U0.lower()}", {U0: 0}),            # case-insensitive
        ("0,7,1", {U0: 0}),                    # stops at the first invalid entry
        ("GPU-deadbeef,0", {}),
        ("GPU-,1", {}),                        # ambiguous prefix: invalid
        ("1,1,0", {U1: 0, U0: 1}),             # repeats are skipped
        (f"0,{U0}", {U0: 0}),
        ("1,,0", {U1: 0}),                     # empty entry is invalid
    ],
)
def test_cuda_ordinals(visible: str | None, expected: dict[str, int]) -> None:
    assert cuda_ordinals(visible, records()) == expected


def test_cuda_ordinals_mig() -> None:
    gpus = [
        GpuRecord(0, U0, "H100", 80 << 30, 0, (9, 0), migs=(MigRecord("MIG-x1", 1, 1), MigRecord("MIG-x2", 1, 1))),
        GpuRecord(1, U1, "H100", 80 << 30, 0, (9, 0)),
    ]
    assert cuda_ordinals("MIG-x2,1", gpus) == {"MIG-x2": 0, U1: 1}
    assert cuda_ordinals(f"MIG-{U0}/1/0", gpus) == {"MIG-x2": 0}       # legacy MIG-GPU-<uuid>/gi/ci
    assert cuda_ordinals(f"MIG-{U1}/0/0", gpus) == {}                  # that GPU has no MIG
    assert cuda_ordinals("MIG-nope", gpus) == {}
    assert cuda_ordinals(None, gpus) == {"MIG-x1": 0, "MIG-x2": 1, U1: 2}


# ------------------------------------------------------------------ simulated

def test_simulated_devices_are_labelled() -> None:
    devs = simulated_devices(SimulationConfig(num_devices=3, memory_bytes=1 << 30))
    assert len(devs) == 3
    assert all(d.simulated and d.cuda_ordinal is None for d in devs)
    assert all(d.total_bytes == 1 << 30 == d.free_bytes for d in devs)
    assert len({d.uuid for d in devs}) == 3
    assert "simulated" in devs[0].label
    assert devs[0].to_dict()["simulated"] is True


def test_usable_devices_modes() -> None:
    no_gpu = FakeNvml([])
    one_gpu = FakeNvml([FakeGpu(U0)])
    assert [d.simulated for d in usable_devices(SimulationConfig(), visible_devices=None, nvml=no_gpu)] == [True]
    assert usable_devices(SimulationConfig(mode="never"), visible_devices=None, nvml=no_gpu) == []
    real = usable_devices(SimulationConfig(), visible_devices=None, nvml=one_gpu)
    assert [d.uuid for d in real] == [U0]
    always = usable_devices(SimulationConfig(mode="always", num_devices=2), visible_devices=None, nvml=one_gpu)
    assert [d.simulated for d in always] == [True, True]
    # A GPU exists but is not visible to this process: auto falls back to simulated.
    hidden = usable_devices(SimulationConfig(), visible_devices="", nvml=one_gpu)
    assert [d.simulated for d in hidden] == [True]


# ------------------------------------------------------------------ TTL cache

def test_info_cache_requeries_at_most_once_per_ttl() -> None:
    now = [100.0]
    calls = []

    def refresh(info: DeviceInfo) -> DeviceInfo:
        calls.append(now[0])
        return DeviceInfo(**{**info.__dict__, "free_bytes": info.free_bytes - 1})

    base = simulated_devices(SimulationConfig(memory_bytes=1000))[0]
    cache = InfoCache(base, refresh, ttl_s=2.0, clock=lambda: now[0])
    for _ in range(1000):
        assert cache.get().free_bytes == 1000
    assert calls == []
    now[0] += 2.5
    assert cache.get().free_bytes == 999
    assert cache.get().free_bytes == 999
    assert len(calls) == 1


def test_info_cache_keeps_old_value_when_refresh_fails() -> None:
    now = [0.0]

    def refresh(info: DeviceInfo) -> DeviceInfo:
        raise RuntimeError("nvml gone")

    base = simulated_devices(SimulationConfig(memory_bytes=1000))[0]
    cache = InfoCache(base, refresh, ttl_s=1.0, clock=lambda: now[0])
    now[0] = 5.0
    assert cache.get().free_bytes == 1000
