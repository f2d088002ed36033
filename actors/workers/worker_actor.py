"""The worker actors' shared Ray shell, the executor that places them, and its client.

The logic lives in the Ray-free `actors.workers.worker.Worker`; this module only
places it with Ray (`GPUWorker` and `CPUWorker` build on `WorkerActorImpl`). A GPU
worker starts its device lazily, after Ray has set CUDA_VISIBLE_DEVICES.
"""
from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections import OrderedDict
from typing import Any

import ray

from actors.heap import freeze_long_lived
from actors.live.channel import ChannelServer
from actors.live.router import LIVE_GROUP, NO_REF, DatasetNotCached
from actors.messages import LIVE_JOB_ID, WorkItem, WorkResult, pack, unpack
from actors.settings import Settings
from actors.workers.worker import Worker
from kernels.data import Panel

log = logging.getLogger(__name__)

WORKER_PANEL_CACHE = 4  # datasets (versions) a worker keeps in host memory
# Concurrency groups of the worker actors (given to @ray.remote: `.options()` cannot set them):
# live work has threads of its own beside the default group's (max_concurrency).
WORKER_CONCURRENCY_GROUPS = {LIVE_GROUP: 8}


class WorkerActorImpl:
    """A Worker in its own process; threaded so that live work runs beside a chunk."""

    def __init__(self, worker_id: str, kind: str, settings: Settings, device_slot: int = 0) -> None:
        sys.setswitchinterval(settings.ray.gil_switch_interval_s)  # this process is the worker's own
        self.worker = Worker(worker_id, kind, settings.gpu, device_slot, settings.kernel_cache_dir.resolve(),
                             model_root=settings.storage_dir.resolve(), streams=settings.streams)
        self._lock = threading.Lock()
        self._started = False
        self._gc_freeze = settings.ray.gc_freeze
        self._panels: OrderedDict[tuple[str, str], Panel] = OrderedDict()
        self._channel: ChannelServer | None = None
        if settings.live_channel.enabled:  # live work from the routers without an actor call
            host = settings.live_channel.host or ray.util.get_node_ip_address()
            self._channel = ChannelServer(self._execute_packed, host, settings.live_channel)

    def _panel(self, item: WorkItem, holder: list) -> Panel:
        """The job's dataset: fetched from the object store once per version, then cached."""
        key = (item.dataset, item.dataset_version)
        with self._lock:
            panel = self._panels.get(key)
            if panel is not None:
                self._panels.move_to_end(key)
                return panel
        if holder[0] is None:
            raise DatasetNotCached(f"{key[0]}@{key[1]} is not cached on this worker; send its ref")
        panel = ray.get(holder[0])
        with self._lock:
            self._panels[key] = panel
            while len(self._panels) > WORKER_PANEL_CACHE:
                self._panels.popitem(last=False)
        return panel

    def _ensure_started(self) -> None:
        with self._lock:
            if not self._started:
                self.worker.init_device()
                self.worker.warm_up()
                if self._gc_freeze:
                    freeze_long_lived(f"worker {self.worker.worker_id}")
                self._started = True

    def ready(self) -> dict[str, Any]:
        self._ensure_started()
        return self.worker.readiness

    def execute(self, item: WorkItem, holder: list) -> WorkResult:
        """Run a chunk; `holder` is [ObjectRef of the Panel] (nested: resolved only on a cache miss)."""
        self._ensure_started()
        return self.worker.execute(item, self._panel(item, holder))

    @ray.method(concurrency_group=LIVE_GROUP)
    def execute_live(self, packed: bytes, holder: list | None = None) -> bytes:
        """Live work in its own thread group (never waits for a thread that runs a research chunk).

        The item and the result travel `pack`ed; `holder` ([ObjectRef of the Panel]) is sent
        only when the router does not know the dataset to be cached here.
        """
        return self._execute_packed(packed, holder)

    def _execute_packed(self, packed: bytes, holder: list | None = None) -> bytes:
        """A `pack`ed live item -> its `pack`ed result (the actor call's and the live channel's body)."""
        item: WorkItem = unpack(packed)
        self._ensure_started()
        return pack(self.worker.execute(item, self._panel(item, holder or NO_REF)))

    def describe(self) -> dict[str, Any]:
        """The worker's placement view, with where its live channel listens (None when disabled)."""
        self._ensure_started()
        return {**self.worker.describe(), "live_channel": None if self._channel is None else self._channel.address}

    def status(self) -> dict[str, Any]:
        self._ensure_started()
        return self.worker.status()

    def inject_fault(self, action: str, **kwargs: Any) -> dict[str, Any]:
        self._ensure_started()
        return self.worker.inject_fault(action, **kwargs)

    # -- streams (REALTIME, in the live group): state stays in this worker; `actors.streams.router` keeps
    # them sticky
    @ray.method(concurrency_group=LIVE_GROUP)
    def open_stream(self, item: WorkItem, spec: Any, holder: list) -> dict[str, Any]:
        self._ensure_started()
        return self.worker.open_stream(item, spec, self._panel(item, holder))

    @ray.method(concurrency_group=LIVE_GROUP)
    def push_ticks(self, stream_id: str, batch: Any, want_snapshot: bool = False) -> Any:
        self._ensure_started()
        return self.worker.push_ticks(stream_id, batch, want_snapshot)

    @ray.method(concurrency_group=LIVE_GROUP)
    def push_many(self, pushes: list) -> list:
        self._ensure_started()
        return self.worker.push_many(pushes)

    @ray.method(concurrency_group=LIVE_GROUP)
    def snapshot_stream(self, stream_id: str) -> Any:
        self._ensure_started()
        return self.worker.snapshot_stream(stream_id)

    @ray.method(concurrency_group=LIVE_GROUP)
    def restore_stream(self, snap: Any) -> dict[str, Any]:
        self._ensure_started()
        return self.worker.restore_stream(snap)

    @ray.method(concurrency_group=LIVE_GROUP)
    def close_stream(self, stream_id: str) -> dict[str, Any]:
        self._ensure_started()
        return self.worker.close_stream(stream_id)

    @ray.method(concurrency_group=LIVE_GROUP)
    def stream_status(self, stream_id: str | None = None) -> dict[str, Any]:
        self._ensure_started()
        return self.worker.stream_status(stream_id)

    def pid(self) -> int:
        import os  # noqa: PLC0415

        return os.getpid()


class RayWorkerClient:
    """A `WorkerClient` over a worker actor handle."""

    def __init__(self, worker_id: str, handle: Any) -> None:
        self.worker_id = worker_id
        self.handle = handle

    async def execute(self, item: WorkItem, panel: Any) -> WorkResult:
        if item.job_id == LIVE_JOB_ID:  # the coordinator's run_live: the live group, as LiveRouter uses it
            return unpack(await self.handle.execute_live.remote(pack(item), panel))
        return await self.handle.execute.remote(item, panel)

    async def describe(self) -> dict[str, Any]:
        return await self.handle.describe.remote()

    async def status(self) -> dict[str, Any]:
        return await self.handle.status.remote()


class RayExecutor:
    """One worker actor per GPU in the cluster (or per simulated device), plus CPU workers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.handles: dict[str, Any] = {}

    def _spawn(self, worker_id: str, kind: str, num_gpus: float, slot: int) -> Any:
        rc = self.settings.ray
        options: dict[str, Any] = dict(
            num_gpus=num_gpus,
            num_cpus=0,
            max_concurrency=rc.worker_max_concurrency,
            max_restarts=-1,
            max_task_retries=0,
            name=f"rayquant-worker-{worker_id}",
            namespace=rc.namespace,
            get_if_exists=True,
        )
        if rc.detached:
            options["lifetime"] = "detached"
        from actors.workers.cpu_worker import CPUWorker  # noqa: PLC0415 - they build on this module
        from actors.workers.gpu_worker import GPUWorker  # noqa: PLC0415

        actor_class = GPUWorker if kind == "gpu" else CPUWorker
        return actor_class.options(**options).remote(worker_id, self.settings, slot)

    async def start_workers(self) -> list[RayWorkerClient]:
        sim = self.settings.gpu.simulation
        n_gpus = int(ray.cluster_resources().get("GPU", 0))
        specs: list[tuple[str, str, float, int]] = []
        if n_gpus > 0 and sim.mode != "always":
            specs += [(f"gpu-{i}", "gpu", 1, i) for i in range(n_gpus)]
        elif sim.mode != "never":
            specs += [(f"simgpu-{i}", "gpu", 0, i) for i in range(sim.num_devices)]
        specs += [(f"cpu-{i}", "cpu", 0, i) for i in range(self.settings.coordinator.cpu_workers)]
        for worker_id, kind, gpus, slot in specs:
            self.handles[worker_id] = self._spawn(worker_id, kind, gpus, slot)
        await asyncio.gather(*(h.ready.remote() for h in self.handles.values()))
        log.info("workers ready: %s", sorted(self.handles))
        return [RayWorkerClient(w, h) for w, h in self.handles.items()]

    def share(self, panel: Panel) -> list:
        return [ray.put(panel)]
