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
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors.heap import freeze_long_lived
from actors.live.channel import ChannelServer, resolve_bind_host
from actors.live.router import LIVE_GROUP, NO_REF, DatasetNotCached
from actors.messages import LIVE_JOB_ID, WorkItem, WorkResult, pack, unpack
from actors.scheduling.placement.membership import MemberChanges, NodeInfo, WorkerLost, WorkerSpec, desired_workers
from actors.settings import Settings
from kernels import host_memory
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
        host_memory.configure(settings.host_memory)  # before the first kernel allocates its outputs
        self.worker = Worker(worker_id, kind, settings.gpu, device_slot, settings.kernel_cache_dir.resolve(),
                             model_root=settings.storage_dir.resolve(), streams=settings.streams,
                             job_data=settings.coordinator.job_data)
        self._lock = threading.Lock()
        self._started = False
        self._gc_freeze = settings.ray.gc_freeze
        self._panels: OrderedDict[tuple[str, str], Panel] = OrderedDict()
        self._channel: ChannelServer | None = None
        if settings.live_channel.enabled:  # live work from the routers without an actor call
            bind, announce = resolve_bind_host(settings.live_channel, ray.util.get_node_ip_address(),
                                               sum(1 for n in ray.nodes() if n.get("Alive")))
            self._channel = ChannelServer(self._execute_channel, bind, settings.live_channel, announce)

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

    def end_job(self, job_id: str) -> int:
        """A job ended: its data leaves this worker (nothing to do before the device started)."""
        return self.worker.end_job(job_id)

    @ray.method(concurrency_group=LIVE_GROUP)
    def execute_live(self, packed: bytes, holder: list | None = None) -> bytes:
        """Live work in its own thread group (never waits for a thread that runs a research chunk).

        The item and the result travel `pack`ed; `holder` ([ObjectRef of the Panel]) is sent
        only when the router does not know the dataset to be cached here.
        """
        return self._execute_packed(packed, holder)

    def _execute_packed(self, packed: bytes, holder: list | None = None) -> bytes:
        """A `pack`ed live item -> its `pack`ed result (the actor call's body, from our own routers via Ray)."""
        return pack(self._execute_item(unpack(packed), holder))

    def _execute_channel(self, item: Any) -> WorkResult:
        """A live item from the channel (decoded data-only by `actors.live.wire`)."""
        if not isinstance(item, WorkItem):
            raise TypeError(f"the live channel takes work items, got a {type(item).__name__}")
        return self._execute_item(item, None)

    def _execute_item(self, item: WorkItem, holder: list | None) -> WorkResult:
        self._ensure_started()
        return self.worker.execute(item, self._panel(item, holder or NO_REF))

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


# A worker actor that died, is restarting, or whose node left (hard node affinity): the worker is lost.
ACTOR_GONE = (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError,
              ray.exceptions.ActorUnschedulableError)


class RayWorkerClient:
    """A `WorkerClient` over a worker actor handle; a dead actor raises `WorkerLost`."""

    def __init__(self, worker_id: str, handle: Any, node_id: str | None = None,
                 labels: tuple[tuple[str, str], ...] = ()) -> None:
        self.worker_id = worker_id
        self.handle = handle
        self.node_id = node_id
        self.labels = labels

    async def execute(self, item: WorkItem, panel: Any) -> WorkResult:
        try:
            if item.job_id == LIVE_JOB_ID:  # the coordinator's run_live: the live group, as LiveRouter uses it
                return unpack(await self.handle.execute_live.remote(pack(item), panel))
            return await self.handle.execute.remote(item, panel)
        except ACTOR_GONE as exc:
            raise WorkerLost(self.worker_id, type(exc).__name__) from exc

    async def describe(self) -> dict[str, Any]:
        try:
            described = await self.handle.describe.remote()
        except ACTOR_GONE as exc:
            raise WorkerLost(self.worker_id, type(exc).__name__) from exc
        return {**described, "node_id": self.node_id, "labels": dict(self.labels)}

    async def status(self) -> dict[str, Any]:
        return await self.handle.status.remote()

    async def end_job(self, job_id: str) -> int:
        try:
            return await self.handle.end_job.remote(job_id)
        except ACTOR_GONE as exc:
            raise WorkerLost(self.worker_id, type(exc).__name__) from exc


def cluster_nodes() -> list[NodeInfo]:
    """The Ray cluster's nodes: alive or not, GPUs, user labels (Ray's own `ray.io/` labels left out)."""
    return [NodeInfo(n["NodeID"], bool(n.get("Alive")), int((n.get("Resources") or {}).get("GPU", 0)),
                     {k: str(v) for k, v in (n.get("Labels") or {}).items() if not k.startswith("ray.io/")},
                     int((n.get("Resources") or {}).get("CPU", 0)))
            for n in ray.nodes()]


class RayExecutor:
    """Worker actors that follow the cluster: one per GPU of every node (pinned to it), the
    simulated devices where there is no GPU, CPU workers (see `actors.scheduling.placement.membership`).

    `start_workers` starts what the cluster has now; `poll_members` (the coordinator calls it
    every `membership_poll_s`) starts the workers of nodes that joined, reports them once
    prewarmed (`ready()`), and retires the workers of nodes that left; `forget` drops a lost
    worker so that the next poll starts it again while its node is alive.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.handles: dict[str, Any] = {}
        self.specs: dict[str, WorkerSpec] = {}
        self.home_node: str | None = None
        self._starting: dict[str, asyncio.Task] = {}
        self._joined: list[RayWorkerClient] = []

    def _desired(self, nodes: list[NodeInfo]) -> list[WorkerSpec]:
        sim = self.settings.gpu.simulation
        c = self.settings.coordinator
        return desired_workers(nodes, self.home_node, simulation_mode=sim.mode, simulated_devices=sim.num_devices,
                               cpu_workers=c.cpu_workers, node_cpu_workers=c.node_cpu_workers,
                               cpu_threads=c.cpu_worker_threads)

    def _spawn(self, spec: WorkerSpec) -> Any:
        rc = self.settings.ray
        options: dict[str, Any] = dict(
            num_gpus=spec.num_gpus,
            num_cpus=0,
            max_concurrency=rc.worker_max_concurrency,
            max_restarts=-1,
            max_task_retries=0,
            name=f"rayquant-worker-{spec.worker_id}",
            namespace=rc.namespace,
            get_if_exists=True,
            scheduling_strategy=NodeAffinitySchedulingStrategy(spec.node_id, soft=False),
        )
        if rc.detached:
            options["lifetime"] = "detached"
        if spec.threads > 0:  # the CPU worker's share of its node (Numba reads it when it starts)
            options["runtime_env"] = {"env_vars": {"NUMBA_NUM_THREADS": str(spec.threads)}}
        from actors.workers.cpu_worker import CPUWorker  # noqa: PLC0415 - they build on this module
        from actors.workers.gpu_worker import GPUWorker  # noqa: PLC0415

        actor_class = GPUWorker if spec.kind == "gpu" else CPUWorker
        return actor_class.options(**options).remote(spec.worker_id, self.settings, spec.slot)

    def _client(self, worker_id: str) -> RayWorkerClient:
        spec = self.specs[worker_id]
        return RayWorkerClient(worker_id, self.handles[worker_id], spec.node_id, spec.labels)

    async def start_workers(self) -> list[RayWorkerClient]:
        self.home_node = ray.get_runtime_context().get_node_id()
        for spec in self._desired(await asyncio.to_thread(cluster_nodes)):
            self.specs[spec.worker_id] = spec
            self.handles[spec.worker_id] = self._spawn(spec)
        await asyncio.gather(*(h.ready.remote() for h in self.handles.values()))
        log.info("workers ready: %s", sorted(self.handles))
        return [self._client(w) for w in self.handles]

    async def _start_one(self, spec: WorkerSpec) -> None:
        handle = self._spawn(spec)
        try:
            await asyncio.wait_for(handle.ready.remote(), timeout=self.settings.serve.startup_timeout_s)
        except Exception as exc:  # the node left while it started, or its prewarm failed: tried again later
            log.warning("worker %s did not start: %s", spec.worker_id, exc)
            ray.kill(handle, no_restart=True)
            return
        finally:
            self._starting.pop(spec.worker_id, None)
        self.specs[spec.worker_id] = spec
        self.handles[spec.worker_id] = handle
        self._joined.append(self._client(spec.worker_id))

    async def poll_members(self) -> MemberChanges:
        """Workers that joined (prewarmed) since the last poll, and those whose node left."""
        nodes = await asyncio.to_thread(cluster_nodes)
        alive = {n.node_id for n in nodes if n.alive}
        left = [w for w, spec in self.specs.items() if spec.node_id not in alive]
        for worker_id in left:
            handle = self.handles.pop(worker_id, None)
            self.specs.pop(worker_id, None)
            if handle is not None:
                ray.kill(handle, no_restart=True)
        for spec in self._desired(nodes):
            if spec.worker_id not in self.handles and spec.worker_id not in self._starting:
                self._starting[spec.worker_id] = asyncio.create_task(self._start_one(spec))
        joined, self._joined = self._joined, []
        return MemberChanges(joined=joined, left=left)

    def forget(self, worker_id: str) -> None:
        """A worker was lost: drop it (its node's next poll starts it again)."""
        self.handles.pop(worker_id, None)
        self.specs.pop(worker_id, None)

    def share(self, panel: Panel) -> list:
        """The panel in the object store once: each node fetches it once, its workers then share it."""
        return [ray.put(panel)]
