"""The realtime path: make a device ready so the first request pays no compilation
and no allocation.

At start, for one device:
  1. compile and load every GPU kernel of `kernels` (`kernels.prewarm.gpu_warmups()`,
     timed per kernel) in a temporary warm-up context; a family whose GPU module
     fails to import is reported, not fatal;
  2. prewarm the pools of the named tenants to `prewarm_pool_bytes` (allocated,
     cached in the pool, and charged to the budget as the tenant's floor);
  3. preload named datasets (Panel -> device memory), their bytes held in the budget
     until `evict(name)`.
On a simulated device the host-side equivalent runs instead (the CPU families'
warm-ups, i.e. Numba compilation; datasets stay in host memory, still counted) and
the status says so.
"""
from __future__ import annotations

import importlib
from concurrent.futures import ThreadPoolExecutor
import importlib.util
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from gpu_hal.memory.budget import Reservation
from gpu_hal.device import Device
from gpu_hal.errors import QuotaExceeded, UnknownDataset
from gpu_hal.memory.pools import StrategyContext, validate_name
from gpu_hal.streams.priority import JobClass

log = logging.getLogger(__name__)

WARMUP_TENANT = "__warmup__"
DATASET_TENANT = "__datasets__"

Warmups = dict[str, Callable[[], None]]
WarmupSource = Callable[[], tuple[Warmups, dict[str, str]]]


def gpu_kernel_warmups() -> tuple[Warmups, dict[str, str]]:
    """Every GPU warm-up, and the import error of each family that failed."""
    from kernels import prewarm  # noqa: PLC0415

    try:
        return dict(prewarm.gpu_warmups()), {}
    except Exception as exc:  # a family is incomplete: collect the others one by one
        log.warning("kernels.prewarm.gpu_warmups() failed (%s); loading families one by one", exc)
    families = getattr(prewarm, "GPU_FAMILIES", ())
    return _family_warmups(families)


def host_kernel_warmups() -> tuple[Warmups, dict[str, str]]:
    """The CPU families' warm-ups (Numba compilation), where the families offer them."""
    from kernels import prewarm  # noqa: PLC0415

    if hasattr(prewarm, "cpu_warmups"):
        try:
            return dict(prewarm.cpu_warmups()), {}
        except Exception as exc:
            log.warning("kernels.prewarm.cpu_warmups() failed (%s); loading families one by one", exc)
    families = [m.rsplit(".", 1)[0] + ".cpu" for m in getattr(prewarm, "GPU_FAMILIES", ())]
    # A family without a `cpu` module (its CPU code lives elsewhere) has nothing to warm.
    return _family_warmups([m for m in families if _module_exists(m)])


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _family_warmups(modules: Iterable[str]) -> tuple[Warmups, dict[str, str]]:
    out: Warmups = {}
    errors: dict[str, str] = {}
    for module_name in modules:
        family = module_name.split(".")[1] if "." in module_name else module_name
        try:
            module = importlib.import_module(module_name)
            table = module.warmups() if hasattr(module, "warmups") else {}
        except Exception as exc:
            errors[module_name] = f"{type(exc).__name__}: {exc}"
            continue
        for name, fn in table.items():
            out[f"{family}.{name}"] = fn
    return out, errors


@dataclass
class Readiness:
    """What `RealtimePath.start` did and whether the device is ready."""

    ready: bool = False
    started: bool = False
    mode: str = ""  # "gpu" or "host (simulated device: CPU warm-ups)"
    simulated: bool = False
    kernel_times_s: dict[str, float] = field(default_factory=dict)
    kernel_errors: dict[str, str] = field(default_factory=dict)
    family_errors: dict[str, str] = field(default_factory=dict)
    prewarmed: dict[str, int] = field(default_factory=dict)  # tenant -> bytes
    prewarm_errors: dict[str, str] = field(default_factory=dict)
    datasets: dict[str, int] = field(default_factory=dict)  # name -> bytes
    dataset_errors: dict[str, str] = field(default_factory=dict)
    compile_s: float = 0.0
    total_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v)
                for k, v in self.__dict__.items()}


class RealtimePath:
    """Kernel precompile, pool prewarm and dataset preload for one device."""

    def __init__(self, device: Device, *, warmups: WarmupSource | None = None,
                 prewarm_pool_bytes: int | None = None) -> None:
        self.device = device
        self._warmups = warmups
        cfg = device.config.device
        self.prewarm_pool_bytes = cfg.prewarm_pool_bytes if prewarm_pool_bytes is None else int(prewarm_pool_bytes)
        self._lock = threading.RLock()
        self._datasets: dict[str, tuple[Any, Reservation]] = {}
        self._store: StrategyContext | None = None
        self.readiness = Readiness(simulated=device.simulated)

    # -- start ------------------------------------------------------------------------
    def start(
        self,
        tenants: Iterable[str | tuple[str, JobClass]] = (),
        datasets: Mapping[str, Any] | None = None,
    ) -> Readiness:
        """Compile kernels, prewarm the named tenants' pools, preload datasets.

        `tenants` are names (REALTIME class) or (name, job class) pairs; their
        contexts are created if needed.
        """
        t0 = time.perf_counter()
        r = Readiness(simulated=self.device.simulated, started=True)
        r.mode = "gpu" if not self.device.simulated else "host (simulated device: CPU warm-ups)"
        self._compile(r)
        for item in tenants:
            name, jc = (item, JobClass.REALTIME) if isinstance(item, str) else item
            try:
                ctx = self.device.context(name, jc)
                ctx.prewarm(self.prewarm_pool_bytes)
                r.prewarmed[name] = ctx.floor_bytes
            except Exception as exc:
                r.prewarm_errors[name] = f"{type(exc).__name__}: {exc}"
        for name, panel in (datasets or {}).items():
            try:
                self.preload(name, panel)
            except Exception as exc:
                r.dataset_errors[name] = f"{type(exc).__name__}: {exc}"
        r.datasets = self.datasets()
        r.total_s = time.perf_counter() - t0
        r.ready = not (r.kernel_errors or r.family_errors or r.prewarm_errors or r.dataset_errors)
        self.readiness = r
        return r

    def _compile(self, r: Readiness) -> None:
        dev = self.device
        source = self._warmups
        if source is None:
            if dev.simulated and not dev.config.device.host_warmups:
                r.notes.append("host warm-ups disabled by configuration")
                return
            source = host_kernel_warmups if dev.simulated else gpu_kernel_warmups
        try:
            table, r.family_errors = source()
        except Exception as exc:
            r.family_errors = {"kernels.prewarm": f"{type(exc).__name__}: {exc}"}
            return
        if dev.simulated:
            r.notes.append("simulated device: ran the host-side (CPU/Numba) warm-ups, no GPU compilation")
        if not table:
            r.notes.append("no warm-ups found")
        t_all = time.perf_counter()
        ctx = dev.pools.create(WARMUP_TENANT, JobClass.REALTIME, dev.config.device.warmup_pool_limit_bytes,
                               system=True)
        def warm(item: tuple[str, Callable[[], None]]) -> tuple[str, float, str | None]:
            name, fn = item
            t = time.perf_counter()
            try:
                with ctx.reserve(0) as req:  # a request per thread: pools and streams are thread-local
                    req.run(fn)
                    req.stream.synchronize()
                error = None
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
            return name, time.perf_counter() - t, error

        # NVRTC releases the GIL: GPU kernels compile in parallel threads. Host
        # (Numba) warm-ups run one after the other.
        threads = 1 if dev.simulated else max(1, dev.config.device.compile_threads)
        try:
            with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="prewarm") as pool:
                for name, seconds, error in pool.map(warm, table.items()):
                    r.kernel_times_s[name] = seconds
                    if error is not None:
                        r.kernel_errors[name] = error
        finally:
            dev.pools.close(WARMUP_TENANT)
        r.compile_s = time.perf_counter() - t_all

    # -- datasets ---------------------------------------------------------------------
    def _dataset_store(self) -> StrategyContext:
        if self._store is None:
            budget = self.device.budget.budget
            self._store = self.device.pools.create(DATASET_TENANT, JobClass.REALTIME, budget, system=True)
        return self._store

    def preload(self, name: str, panel: Any, dtype: Any = None) -> Any:
        """Put a Panel in device memory (host memory when simulated), its bytes held
        in the budget until `evict(name)`; replaces a dataset of the same name."""
        validate_name(name, "dataset")
        with self._lock:
            if name in self._datasets:
                self.evict(name)
            store = self._dataset_store()
            nbytes = _panel_nbytes(panel, dtype)
            try:
                res = store.hold(nbytes)
            except QuotaExceeded as exc:
                raise QuotaExceeded(f"dataset:{name}", exc.asked, exc.available, "device",
                                    "preloaded datasets share the device budget") from exc
            try:
                if self.device.simulated:
                    loaded = panel.to("cpu", dtype)
                else:
                    with store.allocating():
                        loaded = panel.to("gpu", dtype)
                        import cupy  # noqa: PLC0415

                        cupy.cuda.get_current_stream().synchronize()
            except BaseException:
                res.release()
                raise
            self._datasets[name] = (loaded, res)
            self.readiness.datasets = self.datasets()
            return loaded

    def dataset(self, name: str) -> Any:
        """A preloaded dataset (device arrays on a GPU)."""
        with self._lock:
            try:
                return self._datasets[name][0]
            except KeyError:
                raise UnknownDataset(f"dataset {name!r} is not preloaded on this device") from None

    def evict(self, name: str) -> int:
        """Drop a preloaded dataset; its bytes go back to the budget. Returns them."""
        with self._lock:
            try:
                loaded, res = self._datasets.pop(name)
            except KeyError:
                raise UnknownDataset(f"dataset {name!r} is not preloaded on this device") from None
            del loaded  # its blocks go back to the pool now, so the trim below frees them
            res.release()
            if self._store is not None:
                self._store.pool.free_all_blocks()
            self.readiness.datasets = self.datasets()
            return res.nbytes

    def datasets(self) -> dict[str, int]:
        with self._lock:
            return {name: res.nbytes for name, (_, res) in self._datasets.items()}

    def close(self) -> None:
        """Evict everything and free the dataset store."""
        with self._lock:
            for name in list(self._datasets):
                self.evict(name)
            if self._store is not None:
                self.device.pools.close(DATASET_TENANT)
                self._store = None

    # -- status -----------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self.readiness.ready

    def status(self) -> dict[str, Any]:
        return self.readiness.to_dict()


def _panel_nbytes(panel: Any, dtype: Any) -> int:
    if dtype is None:
        return int(panel.nbytes)
    import numpy as np  # noqa: PLC0415

    from kernels.data import FIELDS  # noqa: PLC0415

    return int(np.dtype(dtype).itemsize) * int(panel.n_bars) * int(panel.n_assets) * len(FIELDS)
