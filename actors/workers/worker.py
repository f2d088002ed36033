"""A Ray-free worker: owns one device (or the CPU) and runs work items on it.

Lifecycle as in vLLM's workers: `init_device()`, `warm_up()`, `execute(item)`,
`check_health()`, `shutdown()`. The Ray actor in `actors.workers.worker_actor` is a thin
shell around this class; `LocalExecutor` runs the same class in-process.
"""
from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from actors.config import JobDataConfig
from actors.workers.feature_cache import FeatureCache, feature_key
from actors.workers.job_data import JobDataCache
from actors.messages import WorkItem, WorkResult, to_host
from actors.metrics import WorkerMetrics
from actors.jobs.plans import execute_chunk, job_panel, predict_rows
from actors.settings import StreamsConfig
from actors.streams.registry import PushResult, StreamRegistry, StreamSnapshot, StreamSpec, TickBatch
from gpu_hal.config import GpuHalConfig
from gpu_hal.device import Device
from gpu_hal.discovery import usable_devices
from gpu_hal.errors import DeviceOutOfMemory, QuotaExceeded, UnknownDataset
from gpu_hal.memory.pressure import PROTECTED, SHEDDABLE
from gpu_hal.streams.priority import JobClass
from gpu_hal.realtime import RealtimePath, host_kernel_warmups
from kernels.data import Panel

log = logging.getLogger(__name__)

LIVE_TENANT = "live"
MODEL_CACHE = 16  # model versions a worker keeps loaded for predictions
BYTES_PER_CELL = 8  # float64 working set estimate per (bar, asset, combination) of a chunk


def use_kernel_cache(path: Path) -> Path:
    """Point CuPy's compiled-kernel cache at `path` (kept with the service's storage).

    CuPy reads CUPY_CACHE_DIR at each compile, so restarts (and `rayquant prewarm`
    at deploy time) fill and reuse the same cache instead of running NVRTC again.
    """
    path = Path(path).resolve()
    path.mkdir(parents=True, exist_ok=True)
    os.environ["CUPY_CACHE_DIR"] = str(path)
    return path


class Worker:
    """Runs chunks of jobs on one GPU, one simulated GPU, or the CPU."""

    def __init__(self, worker_id: str, kind: str, config: GpuHalConfig | None = None, device_slot: int = 0,
                 kernel_cache_dir: Path | None = None, model_root: Path | None = None,
                 streams: StreamsConfig | None = None, job_data: JobDataConfig | None = None) -> None:
        if kind not in ("gpu", "cpu"):
            raise ValueError(f"worker kind must be 'gpu' or 'cpu', got {kind!r}")
        self.worker_id = worker_id
        self.kind = kind
        self.config = config or GpuHalConfig()
        self.device_slot = device_slot
        self.device: Device | None = None
        self.realtime: RealtimePath | None = None
        self.readiness: dict[str, Any] = {"ready": False}
        self.executed = 0
        self.kernel_cache_dir = kernel_cache_dir
        self.model_root = model_root
        self._models: OrderedDict[tuple[str, int | None], tuple[Any, Any]] = OrderedDict()
        self.streams_config = streams or StreamsConfig()
        self.metrics = WorkerMetrics(worker_id)
        # Repeated live feature reads (same dataset version, symbols, indicators, window).
        self.feature_cache = FeatureCache(self.streams_config.feature_cache_max_entries,
                                          self.streams_config.feature_cache_max_bytes, self.metrics.feature_cache)
        self._streams: StreamRegistry | None = None
        self.job_data_config = job_data or JobDataConfig()
        # The data of the jobs this worker runs chunks of, kept between chunks (on the device of a GPU worker).
        self.job_data = JobDataCache(self.job_data_config)

    # -- lifecycle -------------------------------------------------------------------
    def init_device(self) -> dict[str, Any]:
        """Open this worker's device; a GPU worker sees the GPU Ray assigned it as ordinal 0."""
        if self.kind == "gpu" and self.device is None:
            if self.kernel_cache_dir is not None:
                use_kernel_cache(self.kernel_cache_dir)
            infos = usable_devices(self.config.simulation)
            if not infos:
                raise RuntimeError("GPU worker found no device (and simulation is off)")
            real = [i for i in infos if not i.simulated and i.cuda_ordinal is not None]
            info = min(real, key=lambda i: i.cuda_ordinal) if real else infos[self.device_slot % len(infos)]
            self.device = Device(info, self.config).start()
            self.realtime = RealtimePath(self.device)
            self.job_data = JobDataCache(self.job_data_config, self.device)
        return self.describe()

    def warm_up(self, datasets: dict[str, Panel] | None = None) -> dict[str, Any]:
        """Compile every kernel, prewarm the live pool, preload datasets; report readiness."""
        if self.realtime is not None:
            readiness = self.realtime.start(tenants=[(LIVE_TENANT, JobClass.REALTIME)], datasets=datasets)
            self.readiness = readiness.to_dict()
        else:
            started = time.perf_counter()
            warmups, errors = host_kernel_warmups()
            times: dict[str, float] = {}
            for name, fn in warmups.items():
                t0 = time.perf_counter()
                try:
                    fn()
                except Exception as exc:  # report, never crash the worker
                    errors[name] = f"{type(exc).__name__}: {exc}"
                times[name] = time.perf_counter() - t0
            self.readiness = {"ready": not errors, "kernel_s": times, "errors": errors,
                              "total_s": time.perf_counter() - started, "mode": "cpu"}
        self.readiness["talib"] = self._warm_talib(self.streams_config.talib_prewarm)
        return self.readiness

    def _warm_talib(self, mode: str) -> dict[str, Any]:
        """Prewarm the TA-Lib function set (`StreamsConfig.talib_prewarm`): its Numba group modules
        ("cpu", "full") and, on a real GPU, its CUDA column modules ("full"); seconds and errors."""
        out: dict[str, Any] = {"mode": mode, "errors": {}}
        if mode == "off":
            return out
        steps = [("cpu", "kernels.indicators.talib")]
        if mode == "full" and self.device is not None and not self.device.simulated:
            steps.append(("gpu", "kernels.indicators.talib.gpu_columns"))
        for label, module_name in steps:
            t0 = time.perf_counter()
            try:
                import importlib  # noqa: PLC0415

                importlib.import_module(module_name).warm_up()
            except Exception as exc:  # reported in the readiness, never crashes the worker
                log.warning("TA-Lib %s prewarm failed: %s: %s", label, type(exc).__name__, exc)
                out["errors"][label] = f"{type(exc).__name__}: {exc}"
            out[f"{label}_s"] = time.perf_counter() - t0
        return out

    def shutdown(self) -> None:
        self.job_data.clear()
        if self.realtime is not None:
            self.realtime.close()
        if self.device is not None:
            self.device.close()
        self.device = self.realtime = None

    # -- work ----------------------------------------------------------------------
    @property
    def backend(self) -> str:
        return self.device.backend if self.device is not None else "cpu"

    @property
    def label(self) -> str:
        if self.device is None:
            return "cpu"
        return self.device.info.label

    def execute(self, item: WorkItem, panel: Panel) -> WorkResult:
        """Run one chunk in the tenant's context on the stream of the job's class."""
        started = time.perf_counter()
        cache_key = None
        if item.kind == "features" and self.feature_cache.enabled:
            cache_key = feature_key(item.dataset, item.dataset_version, item.payload)
            cached = self.feature_cache.get(cache_key)
            if cached is not None:
                return self._result(item, cached, started, {"feature_cache": "hit"})
        if item.kind == "features":
            panel = self._resident(item, panel)
        if item.kind == "predict":
            result = self._predict(item, job_panel(panel, item.payload))
        elif self.device is None:
            sub = self.job_data.panel(item, panel)  # kept between the job's chunks (host memory)
            result = execute_chunk(item.kind, item.payload, sub, item.chunk, "cpu", self.job_data.keeper(item))
        else:
            ctx = self.device.context(item.tenant, JobClass(item.job_class))
            limit = _quota_limit(item, self.device.budget.budget)
            if limit is not None and limit != ctx.limit_bytes:
                ctx.set_limit(limit)  # the tenant's memory quota changed (or this is its first chunk here)
            if item.tier == "same_device":
                ctx.renew_stream()
            need = self._estimate_bytes(item, panel)
            sub = self.job_data.panel(item, panel, ctx, need)  # on the device from the job's first chunk here
            try:
                result = self._run_chunk(ctx, need, item, sub)
            except (QuotaExceeded, DeviceOutOfMemory) as exc:
                # REALTIME/HIGH work that does not fit the device: the data kept for LOW/IDLE jobs leaves
                # it (as under memory pressure), then the chunk is tried once more.
                device_full = isinstance(exc, DeviceOutOfMemory) or getattr(exc, "scope", "") == "device"
                if not device_full or JobClass(item.job_class) not in PROTECTED \
                        or not self.job_data.shed(SHEDDABLE, "reclaim"):
                    raise
                result = self._run_chunk(ctx, need, item, sub)
        self.executed += 1
        result = to_host(result)
        if cache_key is not None:
            self.feature_cache.put(cache_key, result)
            return self._result(item, result, started, {"feature_cache": "miss"})
        return self._result(item, result, started)

    def _run_chunk(self, ctx: Any, need: int, item: WorkItem, sub: Panel) -> Any:
        """One chunk as one request of `need` bytes in the tenant's context."""
        with ctx.reserve(need) as request:
            return request.run(execute_chunk, item.kind, item.payload, sub, item.chunk, self.backend,
                               self.job_data.keeper(item))

    def end_job(self, job_id: str) -> int:
        """A job ended (the coordinator tells every worker that ran a chunk of it): its data leaves
        this worker; returns the bytes given back."""
        return self.job_data.end_job(job_id)

    def _result(self, item: WorkItem, result: Any, started: float, timings: dict | None = None) -> WorkResult:
        return WorkResult(
            job_id=item.job_id,
            chunk_index=item.chunk.index,
            worker_id=self.worker_id,
            device=self.label,
            backend=self.backend,
            simulated=bool(self.device is not None and self.device.simulated),
            seconds=time.perf_counter() - started,
            result=result,
            timings=timings or {},
        )

    def _predict(self, item: WorkItem, panel: Panel) -> dict[str, Any]:
        """Live predictions with a stored model (loaded once per version, hash-checked)."""
        from actors.models.registry import ModelRegistry  # noqa: PLC0415

        if self.model_root is None:
            raise RuntimeError("this worker has no model registry")
        key = (str(item.payload.get("name")), item.payload.get("version"))
        if key not in self._models:
            self._models[key] = ModelRegistry(self.model_root).load(*key)
            while len(self._models) > MODEL_CACHE:
                self._models.popitem(last=False)
        model, record = self._models[key]
        out = predict_rows(model, panel, item.payload, record.features)
        return {**out, "name": record.name, "version": record.version}

    def _resident(self, item: WorkItem, panel: Panel) -> Panel:
        """The dataset as kept in device memory by the realtime path (preloaded on first use)."""
        if self.realtime is None or self.device is None or self.device.simulated:
            return panel
        key = f"{item.dataset}@{item.dataset_version}"
        try:
            return self.realtime.dataset(key)
        except UnknownDataset:
            return self.realtime.preload(key, panel)

    @staticmethod
    def _estimate_bytes(item: WorkItem, panel: Panel) -> int:
        lo, hi = item.chunk.assets
        combos = (item.chunk.combos[1] - item.chunk.combos[0]) if item.chunk.combos else 1
        # inputs + per-(asset, combination) outputs; sweeps keep no T x N x P intermediates
        return int(panel.n_bars * (hi - lo) * BYTES_PER_CELL * 8 + (hi - lo) * combos * BYTES_PER_CELL * 16)

    # -- streams (live ticks, REALTIME) ------------------------------------------------
    @property
    def streams(self) -> StreamRegistry:
        """This worker's streams: state on the device (CuPy) on a real GPU, else in host memory."""
        if self._streams is None:
            xp: Any = None
            if self.device is not None and not self.device.simulated and self.backend == "gpu":
                import cupy as xp  # noqa: PLC0415
            self._streams = StreamRegistry(self.streams_config, xp=xp if xp is not None else np,
                                           run=self._realtime)
        return self._streams

    def _realtime(self, fn: Any, *args: Any) -> Any:
        """Run stream work in the live tenant's REALTIME context (highest-priority stream, never preempted)."""
        if self.device is None:
            return fn(*args)
        return self.device.context(LIVE_TENANT, JobClass.REALTIME).run(fn, *args)

    def open_stream(self, item: WorkItem, spec: StreamSpec, panel: Panel) -> dict[str, Any]:
        """Seed a stream from the dataset (on a GPU: the realtime path's preloaded copy)."""
        status = self.streams.open(spec, self._resident(item, panel))
        self.metrics.streams_open(len(self.streams))
        return {**status, "worker_id": self.worker_id, "device": self.label, "backend": self.backend}

    def push_ticks(self, stream_id: str, batch: TickBatch, want_snapshot: bool = False) -> PushResult:
        result = self.streams.push(stream_id, batch, want_snapshot)
        self.metrics.stream_batch(result.rows, result.seconds, len(self.streams))
        return result

    def push_many(self, pushes: list[tuple[str, TickBatch, bool]]) -> list[tuple[str, Any]]:
        """Several streams' batches in one call: ("ok", PushResult) or ("error", (type name, message)) each.

        One stream's bad batch or fault never fails the others'.
        """
        out: list[tuple[str, Any]] = []
        for stream_id, batch, want_snapshot in pushes:
            try:
                out.append(("ok", self.push_ticks(stream_id, batch, want_snapshot)))
            except Exception as exc:  # reported per stream; the router maps it back
                out.append(("error", (type(exc).__name__, str(exc))))
        return out

    def snapshot_stream(self, stream_id: str) -> StreamSnapshot:
        return self.streams.snapshot(stream_id)

    def restore_stream(self, snap: StreamSnapshot) -> dict[str, Any]:
        status = self.streams.restore(snap)
        self.metrics.streams_open(len(self.streams))
        return {**status, "worker_id": self.worker_id, "device": self.label, "backend": self.backend}

    def close_stream(self, stream_id: str) -> dict[str, Any]:
        status = self.streams.close(stream_id)
        self.metrics.streams_open(len(self.streams))
        return status

    def stream_status(self, stream_id: str | None = None) -> dict[str, Any]:
        """One stream's status, or the registry's figures."""
        if stream_id is not None:
            return self.streams.status(stream_id)
        return self.streams.stats()

    # -- health and status ---------------------------------------------------------
    def check_health(self) -> dict[str, Any]:
        if self.device is None:
            return {"state": "HEALTHY", "reasons": [], "simulated": False}
        snap = self.device.health.snapshot()
        return {**snap, "simulated": self.device.simulated}

    def describe(self) -> dict[str, Any]:
        """A small view for placement: health, free budget, simulated or not."""
        if self.device is None:
            return {"worker_id": self.worker_id, "kind": "cpu", "device": "cpu", "index": None,
                    "healthy": True, "free_bytes": 0, "simulated": False, "backend": "cpu"}
        budget = self.device.budget.snapshot()
        report = self.device.health.report
        state = report.state.value
        reading = report.reading
        return {
            "worker_id": self.worker_id,
            "kind": "gpu",
            "device": self.device.info.label,
            "index": self.device.info.index,
            "healthy": state != "FAILED",
            "health_state": state,
            "free_bytes": int(budget["available_bytes"]),
            "used_bytes": int(budget["charged_bytes"]),
            "utilization_pct": None if reading is None else reading.utilization_gpu_pct,
            "simulated": self.device.simulated,
            "backend": self.backend,
            "pressure": self.device.pressure.level.name,
        }

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"worker_id": self.worker_id, "kind": self.kind, "executed": self.executed,
                               "readiness": self.readiness, "feature_cache": self.feature_cache.stats(),
                               "job_data": self.job_data.stats(),
                               "streams": self.streams.stats() if self._streams is not None else {"open": 0}}
        if self.device is None:
            import numba  # noqa: PLC0415 - the compute threads this worker's kernels run on

            out["threads"] = int(numba.config.NUMBA_NUM_THREADS)
        else:
            out["device"] = self.device.status()
            if self.realtime is not None:
                out["realtime"] = self.realtime.status()
        return out

    # -- fault injection (tests; refused unless enabled by configuration) ----------
    def inject_fault(self, action: str, **kwargs: Any) -> dict[str, Any]:
        if self.device is None:
            raise RuntimeError("the CPU worker has no device to inject faults into")
        faults = self.device.faults
        if action == "fail_next_kernel":
            faults.fail_next_kernel(kwargs.get("tenant"), int(kwargs.get("count", 1)))
        elif action == "mark_failed":
            faults.mark_failed(kwargs.get("reason", "injected fault"))
        elif action == "recover":
            faults.recover()
        elif action == "slow_down":
            faults.slow_down(float(kwargs["seconds"]), kwargs.get("tenant"))
        elif action == "clear":
            faults.clear()
        else:
            raise ValueError(f"unknown fault action {action!r}")
        return faults.snapshot()


def _quota_limit(item: WorkItem, device_budget: int) -> int | None:
    """The pool limit a work item's tenant quota asks for on a device with that budget."""
    if item.memory_bytes is not None:
        return min(int(item.memory_bytes), int(device_budget))
    if item.memory_fraction is not None:
        return int(device_budget * float(item.memory_fraction))
    return None
