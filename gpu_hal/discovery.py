"""Which GPUs exist, and how this process sees them, through NVML.

Discovery never creates a CUDA context: it uses NVML only (nvidia-ml-py), with
every call wrapped in nvmlInit/nvmlShutdown (`with_nvml_context`, as vLLM does).
No driver, no library or no GPU gives an empty list, never an exception.

The CUDA ordinal of each device honours CUDA_VISIBLE_DEVICES the way the CUDA
runtime does: entries are NVML indices, GPU UUIDs ("GPU-..." or a unique prefix)
or MIG UUIDs ("MIG-..." or legacy "MIG-GPU-<uuid>/<gi>/<ci>"); enumeration stops
at the first entry that matches nothing (or is ambiguous); repeated entries are
skipped; an empty value hides every device. Integer entries are taken as NVML
(PCI bus) order, which equals CUDA's order with CUDA_DEVICE_ORDER=PCI_BUS_ID and
on nodes of identical GPUs.

Machines with no GPU get simulated devices (count and memory from configuration),
labelled `simulated` wherever they appear; they run the CPU backend.
"""
from __future__ import annotations

import functools
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from types import ModuleType
from typing import Any, Callable, Sequence, TypeVar

from gpu_hal.config import SimulationConfig

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_NOT_GIVEN: Any = object()


# --------------------------------------------------------------------------- NVML

def load_nvml() -> ModuleType | None:
    """The pynvml module, or None when nvidia-ml-py is not installed."""
    try:
        import pynvml  # noqa: PLC0415 - optional at import time
    except Exception:  # ImportError, or a broken install
        return None
    return pynvml


def with_nvml_context(fn: F) -> F:
    """Run `fn(nvml, ...)` between nvmlInit and nvmlShutdown (NVML is refcounted).

    The wrapped function gets the NVML module as its first argument: the caller may
    pass one (`nvml=` keyword, a fake in tests); otherwise pynvml is loaded.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, nvml: Any = None, **kwargs: Any) -> Any:
        nv = nvml if nvml is not None else load_nvml()
        if nv is None:
            raise RuntimeError("nvidia-ml-py (pynvml) is not installed")
        nv.nvmlInit()
        try:
            return fn(nv, *args, **kwargs)
        finally:
            try:
                nv.nvmlShutdown()
            except Exception:  # shutdown failures must not hide the result
                log.debug("nvmlShutdown failed", exc_info=True)

    return wrapper  # type: ignore[return-value]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _optional(call: Callable[[], Any], default: Any = None) -> Any:
    """An NVML reading, or `default` where the device does not support it."""
    try:
        return call()
    except Exception:
        return default


@dataclass(frozen=True)
class MigRecord:
    """One MIG instance as NVML reports it."""

    uuid: str
    total_bytes: int
    free_bytes: int


@dataclass(frozen=True)
class GpuRecord:
    """One physical GPU as NVML reports it (raw discovery data)."""

    index: int
    uuid: str
    name: str
    total_bytes: int
    free_bytes: int
    compute_capability: tuple[int, int]
    migs: tuple[MigRecord, ...] = ()


@with_nvml_context
def query_gpus(nvml: Any) -> list[GpuRecord]:
    """Every GPU NVML sees, in NVML index order (needs NVML; raises if it fails)."""
    out: list[GpuRecord] = []
    for i in range(int(nvml.nvmlDeviceGetCount())):
        try:
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            mem = nvml.nvmlDeviceGetMemoryInfo(h)
            cc = _optional(lambda: tuple(int(x) for x in nvml.nvmlDeviceGetCudaComputeCapability(h)), (0, 0))
            migs: list[MigRecord] = []
            mode = _optional(lambda: nvml.nvmlDeviceGetMigMode(h))
            mig_on = bool(mode and int(mode[0]) == int(getattr(nvml, "NVML_DEVICE_MIG_ENABLE", 1)))
            if mig_on:
                for j in range(int(_optional(lambda: nvml.nvmlDeviceGetMaxMigDeviceCount(h), 0))):
                    mh = _optional(lambda: nvml.nvmlDeviceGetMigDeviceHandleByIndex(h, j))
                    if mh is None:
                        continue
                    mm = nvml.nvmlDeviceGetMemoryInfo(mh)
                    migs.append(MigRecord(_text(nvml.nvmlDeviceGetUUID(mh)), int(mm.total), int(mm.free)))
            out.append(
                GpuRecord(
                    index=i,
                    uuid=_text(nvml.nvmlDeviceGetUUID(h)),
                    name=_text(nvml.nvmlDeviceGetName(h)),
                    total_bytes=int(mem.total),
                    free_bytes=int(mem.free),
                    compute_capability=cc,  # type: ignore[arg-type]
                    migs=tuple(migs),
                )
            )
        except Exception as exc:  # one broken GPU must not hide the others
            log.warning("NVML could not read GPU %d: %s", i, exc)
    return out


@with_nvml_context
def query_free_bytes(nvml: Any, uuid: str) -> tuple[int, int]:
    """(total, free) bytes of one GPU or MIG instance, by UUID."""
    mem = nvml.nvmlDeviceGetMemoryInfo(nvml.nvmlDeviceGetHandleByUUID(uuid))
    return int(mem.total), int(mem.free)


# ------------------------------------------------------------ CUDA_VISIBLE_DEVICES

def cuda_visible_devices() -> str | None:
    """This process's CUDA_VISIBLE_DEVICES (set by Ray or the operator), or None."""
    return os.environ.get("CUDA_VISIBLE_DEVICES")


def _unique_prefix(token: str, candidates: Sequence[str]) -> int | None:
    t = token.lower()
    hits = [i for i, c in enumerate(candidates) if c.lower() == t]
    if not hits:
        hits = [i for i, c in enumerate(candidates) if c.lower().startswith(t)]
    return hits[0] if len(hits) == 1 else None


def cuda_ordinals(visible: str | None, gpus: Sequence[GpuRecord]) -> dict[str, int]:
    """Map the UUID of each device this process sees to its CUDA ordinal.

    Keys are GPU UUIDs, or MIG UUIDs for MIG instances. Devices not visible are
    absent. See the module docstring for the rules.
    """
    if visible is None:
        order: list[str] = []
        for g in gpus:
            order.extend([m.uuid for m in g.migs] if g.migs else [g.uuid])
        return {u: k for k, u in enumerate(order)}
    gpu_uuids = [g.uuid for g in gpus]
    mig_uuids = [m.uuid for g in gpus for m in g.migs]
    out: dict[str, int] = {}
    for raw in visible.split(","):
        token = raw.strip()
        key: str | None = None
        if token.lstrip("-").isdigit():
            n = int(token)
            if 0 <= n < len(gpus):
                g = gpus[n]
                key = g.migs[0].uuid if g.migs else g.uuid
        elif token.upper().startswith("MIG-GPU-"):
            # Legacy MIG-GPU-<gpu uuid>/<gi>/<ci>: the instance within that GPU.
            parent, _, rest = token[4:].partition("/")
            pos = _unique_prefix(parent, gpu_uuids)
            if pos is not None and gpus[pos].migs:
                parts = rest.split("/")
                k = int(parts[0]) if parts and parts[0].isdigit() else 0
                key = gpus[pos].migs[k].uuid if k < len(gpus[pos].migs) else None
        elif token.upper().startswith("MIG-"):
            pos = _unique_prefix(token, mig_uuids)
            key = mig_uuids[pos] if pos is not None else None
        elif token.upper().startswith("GPU-"):
            pos = _unique_prefix(token, gpu_uuids)
            if pos is not None:
                g = gpus[pos]
                key = g.migs[0].uuid if g.migs else g.uuid
        if key is None:  # CUDA stops enumerating at the first invalid entry
            break
        if key not in out:
            out[key] = len(out)
    return out


# ------------------------------------------------------------------ device info

@dataclass(frozen=True)
class DeviceInfo:
    """One device (a GPU, a MIG instance, or a simulated device).

    `index` is the NVML index of the physical GPU; `cuda_ordinal` is the device
    number CuPy uses in this process (None: not visible here, or simulated).
    """

    index: int
    uuid: str
    name: str
    total_bytes: int
    free_bytes: int
    compute_capability: tuple[int, int]
    cuda_ordinal: int | None
    simulated: bool = False
    parent_uuid: str | None = None  # the physical GPU of a MIG instance
    queried_at: float = field(default=0.0, compare=False)

    @property
    def visible(self) -> bool:
        return self.cuda_ordinal is not None

    @property
    def label(self) -> str:
        """Short human label; says `simulated` for simulated devices."""
        kind = "simulated" if self.simulated else f"cuda:{self.cuda_ordinal}"
        return f"{self.name} #{self.index} ({kind})"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["compute_capability"] = list(self.compute_capability)
        d.pop("queried_at")
        return d


def infos_from_records(gpus: Sequence[GpuRecord], visible: str | None, now: float = 0.0) -> list[DeviceInfo]:
    """DeviceInfo for each GPU (or each MIG instance) with its CUDA ordinal."""
    ordinals = cuda_ordinals(visible, gpus)
    out: list[DeviceInfo] = []
    for g in gpus:
        if g.migs:
            for m in g.migs:
                out.append(DeviceInfo(g.index, m.uuid, f"{g.name} MIG", m.total_bytes, m.free_bytes,
                                      g.compute_capability, ordinals.get(m.uuid), False, g.uuid, now))
        else:
            out.append(DeviceInfo(g.index, g.uuid, g.name, g.total_bytes, g.free_bytes,
                                  g.compute_capability, ordinals.get(g.uuid), False, None, now))
    return out


def discover(visible_devices: str | None = _NOT_GIVEN, *, visible_only: bool = False, nvml: Any = None) -> list[DeviceInfo]:
    """Every GPU through NVML; [] when there is no driver, no library or no GPU.

    `visible_devices` defaults to this process's CUDA_VISIBLE_DEVICES; with
    `visible_only` the devices this process cannot use are left out.
    """
    if visible_devices is _NOT_GIVEN:
        visible_devices = cuda_visible_devices()
    try:
        gpus = query_gpus(nvml=nvml)
    except Exception as exc:  # no library, no driver, driver/library mismatch, ...
        log.info("NVML unavailable, no GPUs discovered: %s", exc)
        return []
    infos = infos_from_records(gpus, visible_devices, time.monotonic())
    return [d for d in infos if d.visible] if visible_only else infos


def simulated_devices(config: SimulationConfig) -> list[DeviceInfo]:
    """`config.num_devices` simulated devices of `config.memory_bytes` each."""
    return [
        DeviceInfo(
            index=i,
            uuid=f"SIM-{i:04d}",
            name=config.name,
            total_bytes=int(config.memory_bytes),
            free_bytes=int(config.memory_bytes),
            compute_capability=(0, 0),
            cuda_ordinal=None,
            simulated=True,
            queried_at=time.monotonic(),
        )
        for i in range(config.num_devices)
    ]


def usable_devices(config: SimulationConfig, *, visible_devices: str | None = _NOT_GIVEN, nvml: Any = None) -> list[DeviceInfo]:
    """The devices this process should open: visible GPUs, else simulated ones.

    mode "auto": simulated devices only when no GPU is visible; "always": only
    simulated devices; "never": only real GPUs (possibly none).
    """
    if config.mode == "always":
        return simulated_devices(config)
    real = discover(visible_devices, visible_only=True, nvml=nvml)
    if real or config.mode == "never":
        return real
    return simulated_devices(config)


# ------------------------------------------------------------------- TTL cache

class InfoCache:
    """A DeviceInfo refreshed at most once per TTL (thread-safe).

    `refresh(info) -> info` re-queries what changes (free memory); when it fails
    the previous value is kept. Nothing is re-queried per request.
    """

    def __init__(
        self,
        info: DeviceInfo,
        refresh: Callable[[DeviceInfo], DeviceInfo] | None,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._info = replace(info, queried_at=clock())
        self._refresh = refresh
        self._ttl = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self.refreshes = 0

    def get(self) -> DeviceInfo:
        if self._refresh is None:
            return self._info
        now = self._clock()
        if now - self._info.queried_at < self._ttl:
            return self._info
        with self._lock:
            if now - self._info.queried_at >= self._ttl:
                try:
                    self._info = replace(self._refresh(self._info), queried_at=now)
                    self.refreshes += 1
                except Exception as exc:
                    log.debug("device info refresh failed, keeping the cached value: %s", exc)
                    self._info = replace(self._info, queried_at=now)
            return self._info


def nvml_refresh(info: DeviceInfo) -> DeviceInfo:
    """Refresh a real device's free memory through NVML (for InfoCache)."""
    total, free = query_free_bytes(info.uuid)
    return replace(info, total_bytes=total, free_bytes=free)
