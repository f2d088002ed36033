"""A fake of the pynvml functions gpu_hal calls, driven by plain data."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any


class NVMLError(Exception):
    pass


class NVMLError_NotSupported(NVMLError):
    pass


class NVMLError_Timeout(NVMLError):
    pass


class NVMLError_GpuIsLost(NVMLError):
    pass


class NVMLError_LibraryNotFound(NVMLError):
    pass


@dataclass
class FakeMig:
    uuid: str
    total: int
    free: int


@dataclass
class FakeGpu:
    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    total: int = 80 << 30
    free: int = 79 << 30
    cc: tuple[int, int] = (9, 0)
    migs: list[FakeMig] = field(default_factory=list)
    temperature: int = 40
    throttle: int = 0
    ecc_unc: int = 0
    ecc_cor: int = 0
    events_supported: bool = True
    xids: list[int] = field(default_factory=list)
    lost: bool = False


class FakeNvml:
    """Module-like object with the pynvml names gpu_hal uses."""

    NVML_DEVICE_MIG_ENABLE = 1
    NVML_TEMPERATURE_GPU = 0
    NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
    NVML_VOLATILE_ECC = 0
    nvmlEventTypeXidCriticalError = 0x8
    NVMLError = NVMLError
    NVMLError_GpuIsLost = NVMLError_GpuIsLost

    def __init__(self, gpus: list[FakeGpu] | None = None, init_error: Exception | None = None) -> None:
        self.gpus = gpus or []
        self.init_error = init_error
        self.refcount = 0
        self.init_calls = 0
        self.event_sets: list[dict] = []

    # lifecycle
    def nvmlInit(self) -> None:
        self.init_calls += 1
        if self.init_error is not None:
            raise self.init_error
        self.refcount += 1

    def nvmlShutdown(self) -> None:
        self.refcount -= 1

    # handles
    def _h(self, handle: Any) -> Any:
        if isinstance(handle, FakeGpu) and handle.lost:
            raise NVMLError_GpuIsLost("GPU is lost")
        return handle

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> FakeGpu:
        return self.gpus[i]

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> Any:
        for g in self.gpus:
            if g.uuid == uuid:
                return g
            for m in g.migs:
                if m.uuid == uuid:
                    return m
        raise NVMLError("not found")

    def nvmlDeviceGetUUID(self, h: Any) -> str:
        return h.uuid

    def nvmlDeviceGetName(self, h: Any) -> bytes:
        return h.name.encode()

    def nvmlDeviceGetMemoryInfo(self, h: Any) -> Any:
        h = self._h(h)
        return SimpleNamespace(total=h.total, free=h.free, used=h.total - h.free)

    def nvmlDeviceGetCudaComputeCapability(self, h: Any) -> tuple[int, int]:
        return h.cc

    def nvmlDeviceGetMigMode(self, h: Any) -> tuple[int, int]:
        return (1, 1) if h.migs else (0, 0)

    def nvmlDeviceGetMaxMigDeviceCount(self, h: Any) -> int:
        return 7

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h: Any, j: int) -> Any:
        if j >= len(h.migs):
            raise NVMLError("not found")
        return h.migs[j]

    # readings
    def nvmlDeviceGetUtilizationRates(self, h: Any) -> Any:
        self._h(h)
        return SimpleNamespace(gpu=50, memory=20)

    def nvmlDeviceGetTemperature(self, h: Any, sensor: int) -> int:
        return self._h(h).temperature

    def nvmlDeviceGetPowerUsage(self, h: Any) -> int:
        self._h(h)
        return 300_000

    def nvmlDeviceGetEnforcedPowerLimit(self, h: Any) -> int:
        return 700_000

    def nvmlDeviceGetCurrentClocksEventReasons(self, h: Any) -> int:
        return self._h(h).throttle

    def nvmlDeviceGetTotalEccErrors(self, h: Any, kind: int, counter: int) -> int:
        h = self._h(h)
        return h.ecc_unc if kind == 1 else h.ecc_cor

    def nvmlDeviceGetRemappedRows(self, h: Any) -> tuple[int, int, int, int]:
        raise NVMLError_NotSupported("not supported")

    # events
    def nvmlEventSetCreate(self) -> dict:
        es = {"devices": []}
        self.event_sets.append(es)
        return es

    def nvmlDeviceRegisterEvents(self, h: Any, types: int, es: dict) -> None:
        if not h.events_supported:
            raise NVMLError_NotSupported("events not supported")
        es["devices"].append(h)

    def nvmlEventSetWait(self, es: dict, timeout_ms: int) -> Any:
        for h in es["devices"]:
            if h.xids:
                return SimpleNamespace(eventType=self.nvmlEventTypeXidCriticalError, eventData=h.xids.pop(0))
        raise NVMLError_Timeout("timeout")

    def nvmlEventSetFree(self, es: dict) -> None:
        es["freed"] = True
