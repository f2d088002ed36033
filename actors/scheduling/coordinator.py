"""The coordinator: accepts jobs, queues them by class, runs them chunk by chunk.

It composes small managers and implements none of them inline: `JobQueue`
(priorities, aging, admission), `Preemptor` (yield at chunk boundaries),
`FallbackPolicy` (placement and the fault chain), `JobJournal` (durable records,
recovered in the constructor), `ResultStore` (result files), `ResultCache` and
`DatasetStore`; and the chunk scheduler's parts: `ChunkQueue` (runnable and in-flight
chunks), a `ChunkPolicy` (which job of the best class a free worker serves), `Placement`
(eligible workers), `Membership` (the worker pool as the cluster changes) and
`ThroughputModel` (chunk sizes for `target_chunk_ms`), driven by one loop (`_dispatch`):
every free eligible worker gets the next runnable chunk, so one job fans out over the
whole cluster. Workers are reached through an `Executor` (Ray actors in
`actors.workers.worker_actor`, in-process ones in `actors.workers.executor.LocalExecutor`), so
this class runs the same under Ray and in a plain asyncio loop.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
from collections import deque
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Protocol

from actors.jobs import codecs
from actors.config import CoordinatorConfig
from actors.datasets import DatasetNotFound, DatasetStore
from actors.scheduling.placement.fallback import Attempt, FallbackPolicy, NoCapacity, WorkerView
from actors.scheduling.queues.job_queue import AdmissionRefused, JobQueue, QueueEntry
from actors.live.router import is_client_error, run_with_fallback
from actors.jobs.records import InvalidJobSpec, JobKind, JobRecord, JobSpec, JobState, Tier, validate_job_id
from actors.jobs.journal import JobJournal, SqliteJobJournal
from actors.messages import WorkItem, WorkResult
from actors.metrics import CoordinatorMetrics
from actors.models.registry import ModelRegistry, validate_name as validate_model_name
from actors.jobs.plans import ChunkSpec, JobSpecError, TrainOutput, TrainResult, chunk_cells, job_panel, plan_job
from actors.scheduling.queues.chunk_queue import ChunkQueue
from actors.scheduling.placement.fanout import ChunkLog, ChunkRun, FanOut
from actors.scheduling.placement.membership import MemberChanges, Membership, WorkerLost
from actors.scheduling.placement.cpu_share import cpu_chunk_helps, cpu_steal_helps
from actors.scheduling.placement.eligibility import Placement, job_labels
from actors.scheduling.policy import Candidate, ChunkPolicy, FifoAgingPolicy
from actors.scheduling.placement.throughput import THROUGHPUT_FILE, ThroughputModel
from actors.scheduling.queues.preemptor import Preemptor
from actors.tenants.admission import TenantAdmission
from actors.tenants.usage import UsageBook, tenant_usage
from actors.jobs.result_cache import ResultCache, cache_key
from actors.jobs.result_store import ResultStore
from gpu_hal.memory.pressure import SHEDDABLE
from gpu_hal.streams.priority import JobClass
from kernels.data import Panel

log = logging.getLogger(__name__)

KERNELS_DIR = Path(__file__).resolve().parent.parent / "kernels"
FALLBACK_SAMPLES = 1000  # recent fault-to-next-tier decision times kept for stats
PLANS_DIR = "plans"  # <storage>/plans/<job_id>.json: the chunk size a job was planned with (same plan on recovery)
FANOUT_KEEP = 1024  # finished jobs whose fan-out stays in memory for their status


class JobNotFound(KeyError):
    """No job with that id."""


class JobNotReady(RuntimeError):
    """The job has no result yet (or failed / was cancelled)."""


class WorkerClient(Protocol):
    """How the coordinator reaches one worker (a Ray actor or an in-process one)."""

    worker_id: str

    async def execute(self, item: WorkItem, panel: Any) -> WorkResult: ...

    async def describe(self) -> dict[str, Any]: ...

    async def status(self) -> dict[str, Any]: ...

    # Optional: `async def end_job(self, job_id)`: the job ended, its data leaves the worker.


class Executor(Protocol):
    """Starts the workers and moves panels to where they run."""

    async def start_workers(self) -> list[WorkerClient]: ...

    def share(self, panel: Panel) -> Any: ...

    # Optional (elastic executors): `async def poll_members(self) -> MemberChanges` (workers that joined,
    # prewarmed, and ids that left) and `def forget(self, worker_id)` (a worker was lost; start it again).


def code_version() -> str:
    """A hash of the kernels' source: cached results die with a code change."""
    h = hashlib.sha256()
    for path in sorted(KERNELS_DIR.rglob("*.py")):
        h.update(path.relative_to(KERNELS_DIR).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


@dataclass
class _Job:
    """What the coordinator holds in memory for an unfinished job."""

    record: JobRecord
    chunks: list[ChunkSpec]
    partials: dict[int, Any] = field(default_factory=dict)
    entry: QueueEntry | None = None
    history: list[Attempt] = field(default_factory=list)
    cancel_requested: bool = False
    requeues: int = 0
    n_bars: int = 0
    labels: dict[str, str] = field(default_factory=dict)  # node labels the job asks for
    fanout: FanOut = field(default_factory=FanOut)
    cells_per_chunk: int = 0
    completing: bool = False
    shared: tuple[Any, Any] | None = None  # (dataset meta, shared panel ref), once per job
    latest: tuple[str, str] | None = None  # (device label, worker id) of its latest chunk
    journaled_at: float = 0.0  # when its progress was last journaled
    unsaved: list[int] = field(default_factory=list)  # finished chunks not yet checkpointed (kept in memory)
    saving: int = 0  # checkpoint writes in flight (the merge waits for them: it deletes the chunk files)


class Coordinator:
    """Job intake, priority scheduling, preemption, fallback and journaling."""

    def __init__(
        self,
        config: CoordinatorConfig,
        executor: Executor,
        datasets: DatasetStore,
        journal: JobJournal | None = None,
        store: ResultStore | None = None,
        metrics: CoordinatorMetrics | None = None,
        clock: Any = time.time,
        policy: ChunkPolicy | None = None,
        admission: TenantAdmission | None = None,
    ) -> None:
        self.config = config
        self.executor = executor
        self.datasets = datasets
        self.journal = journal or SqliteJobJournal(
            config.journal_path, synchronous=config.journal_synchronous, busy_timeout_s=config.journal_busy_timeout_s
        )
        self.store = store or ResultStore(config.results_root, chunk_fsync=config.chunk_fsync)
        self.queue = JobQueue(config.queue)
        self.preemptor = Preemptor(config.preemption)
        self.fallback = FallbackPolicy(config.fallback)
        self.cache = ResultCache(enabled=config.result_cache_enabled, max_entries=config.result_cache_max_entries)
        self.models = ModelRegistry(config.storage_dir)
        self.metrics = metrics or CoordinatorMetrics()
        self.code_version = code_version()
        self._clock = clock
        self._jobs: dict[str, _Job] = {}
        self._workers: dict[str, WorkerClient] = {}
        self._views: dict[str, WorkerView] = {}
        self._channels: dict[str, Any] = {}  # worker -> its live channel address (from describe)
        self._busy: dict[str, str | None] = {}  # worker -> job of its latest research chunk (None: idle)
        self._running: dict[str, int] = {}  # worker -> research chunk copies in flight on it
        self._last: dict[str, str] = {}  # worker -> job of the previous chunk it ran (preemption, residency)
        self._beside: dict[str, int] = {}  # worker -> urgent chunks started beside its LOW/IDLE chunk, in flight
        self.chunks: ChunkQueue[ChunkSpec] = ChunkQueue()
        self.policy: ChunkPolicy = policy or FifoAgingPolicy()
        # Tenants (quotas, granted classes): None in-process, where every class is open; the service sets it.
        self.admission = admission
        if admission is not None:
            admission.on_refusal(self.metrics.tenant_refusal)
        self.usage = UsageBook()
        self.placement = Placement(config.research_on_cpu)
        self.members = Membership()
        self.throughput = ThroughputModel(Path(config.storage_dir) / THROUGHPUT_FILE)
        self.chunk_log = ChunkLog()
        self._fanout_done: dict[str, FanOut] = {}
        self._steals = 0
        self._duplicates = 0  # chunk copies whose result came second (dropped)
        self._steal_timer: asyncio.TimerHandle | None = None
        self._member_loop: asyncio.Task | None = None
        self._live_load: dict[str, int] = {}
        self._describe_misses: dict[str, int] = {}  # worker -> describe() timeouts in a row
        self._shared: dict[tuple[str, str], Any] = {}
        self._wake: asyncio.Event | None = None
        self._scheduler: asyncio.Task | None = None
        self._refresher: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._fallbacks: dict[str, int] = {t.value: 0 for t in Tier if t is not Tier.PRIMARY}
        self._fallback_s: deque[float] = deque(maxlen=FALLBACK_SAMPLES)  # fault seen -> next tier chosen
        self._recovered = self._recover()

    # -- recovery ------------------------------------------------------------------
    def _recover(self) -> int:
        """Reload unfinished jobs (and their finished chunks) from the journal."""
        done = self.journal.list(states=[JobState.SUCCEEDED], limit=None)
        self.cache.load(done)
        count = 0
        for record in self.journal.unfinished():
            try:
                job = self._plan(record)
            except Exception as exc:  # the dataset vanished, the plan no longer fits: fail it, loudly
                self.journal.put(record.transition(JobState.FAILED, error=f"could not recover after restart: {exc}"))
                continue
            for index, _path in self.journal.chunks(record.job_id).items():
                try:
                    job.partials[index] = codecs.decode(self.store.load_chunk(record.job_id, index))
                except Exception as exc:  # rerun a chunk whose file is unreadable
                    log.warning("chunk %s/%s unreadable, will rerun: %s", record.job_id, index, exc)
            record = job.record  # the re-planned record (chunks_total set)
            if record.state in (JobState.RUNNING, JobState.PREEMPTED):
                record = record.transition(JobState.QUEUED)
            job.record = record.replace(chunks_done=len(job.partials))
            self.journal.put(job.record)
            job.entry = self.queue.push(record.job_id, record.job_class, record.tenant, enforce_limits=False)
            self._admit(job)
            count += 1
        if count:
            log.info("recovered %d unfinished job(s) from the journal", count)
        return count

    def _plan(self, record: JobRecord) -> _Job:
        payload = dict(record.spec.payload)
        meta, panel = self.datasets.load(payload["dataset"], payload.get("dataset_version"))
        sub = job_panel(panel, payload)
        kind = record.spec.kind.value
        cells = self._planned_cells(record.job_id, kind)
        chunks = plan_job(kind, payload, sub.n_bars, sub.n_assets, cells)
        try:
            labels = job_labels(payload)
        except ValueError as exc:
            raise JobSpecError(str(exc)) from exc
        job = _Job(record=record.replace(chunks_total=len(chunks)), chunks=chunks, n_bars=sub.n_bars, labels=labels)
        job.fanout.total_cells = sum(chunk_cells(c, sub.n_bars) for c in chunks)
        job.cells_per_chunk = cells
        return job

    def _plan_path(self, job_id: str) -> Path:
        return Path(self.config.storage_dir) / PLANS_DIR / f"{job_id}.json"

    def _planned_cells(self, job_id: str, kind: str) -> int:
        """Cells per chunk: as planned before (recovery), else about `target_chunk_ms` on the typical
        eligible worker by measured throughput, never above `max_cells_per_chunk`."""
        path = self._plan_path(job_id)
        if path.is_file():
            try:
                return max(1, int(json.loads(path.read_text())["cells_per_chunk"]))
            except Exception as exc:  # an unreadable plan: plan again (finished chunks may be rerun)
                log.warning("plan of job %s unreadable (%s); planning again", job_id, exc)
        views = [v for v in self._views.values() if v.healthy]
        gpus = [v.worker_class for v in views if v.kind == "gpu"]
        # Sized for the GPUs (their preemption latency is the bound); CPU workers that take research run the
        # same chunks for longer, and the GPUs steal their last ones at the tail.
        classes = gpus or [v.worker_class for v in views] or ["gpu"]
        target = self.throughput.cells_for(kind, classes, self.config.target_chunk_ms / 1000.0)
        return max(1, min(int(self.config.max_cells_per_chunk), target))

    def _admit(self, job: _Job) -> None:
        """A journaled job joins the chunk queue (its plan kept for recovery when it has several chunks)."""
        job_id = job.record.job_id
        self._jobs[job_id] = job
        self.chunks.add_job(job_id, job.chunks, done=job.partials.keys())
        if len(job.chunks) > 1 and not self._plan_path(job_id).is_file():
            path = self._plan_path(job_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"cells_per_chunk": job.cells_per_chunk}))

    # -- lifecycle -----------------------------------------------------------------
    async def start(self) -> dict[str, Any]:
        """Start the workers and the scheduling loop (idempotent)."""
        if self._scheduler is not None:
            return await self.devices()
        self._wake = asyncio.Event()
        clients = await self.executor.start_workers()
        for client in clients:
            self._add_worker(client)
        await self._refresh_views()
        self._scheduler = asyncio.create_task(self._schedule_loop())
        self._refresher = asyncio.create_task(self._refresh_loop())
        if hasattr(self.executor, "poll_members"):
            self._member_loop = asyncio.create_task(self._membership_loop())
        for job in list(self._jobs.values()):  # recovered with every chunk saved: only the merge was left
            if job.chunks and len(job.partials) == len(job.chunks) and not job.completing \
                    and not job.record.state.terminal:
                job.completing = True
                task = asyncio.create_task(self._complete(job))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        self._wake.set()
        return {"workers": len(clients), "recovered": self._recovered}

    async def _refresh_views(self, timeout_s: float | None = None) -> None:
        timeout_s = self.config.worker_call_timeout_s if timeout_s is None else timeout_s

        async def one(worker_id: str, client: WorkerClient) -> None:
            try:
                d = await asyncio.wait_for(client.describe(), timeout=timeout_s)
                self.metrics.device(worker_id, d)
                self._channels[worker_id] = d.get("live_channel")
                if worker_id not in self._workers:  # removed while describing
                    return
                self._views[worker_id] = WorkerView(
                    worker_id=worker_id, kind=d["kind"], device=d.get("index"), healthy=bool(d["healthy"]),
                    free_budget_bytes=int(d.get("free_bytes") or 0), load=self._load(worker_id),
                    simulated=bool(d.get("simulated")), node_id=d.get("node_id"),
                    labels=tuple(sorted((d.get("labels") or {}).items())),
                    pressure=str(d.get("pressure") or "NORMAL"),
                )
            except WorkerLost as exc:
                self._remove_worker(worker_id, f"lost: {exc}")
            except Exception as exc:
                # A slow answer (a busy worker, a loaded machine) is not a failure: only several timeouts
                # in a row, or an error, take the worker out of placement.
                slow = isinstance(exc, (asyncio.TimeoutError, TimeoutError))
                misses = self._describe_misses[worker_id] = self._describe_misses.get(worker_id, 0) + 1
                old = self._views.get(worker_id)
                if old is not None and (not slow or misses >= self.config.describe_misses_unhealthy):
                    self._views[worker_id] = replace(old, healthy=False)
                log.log(logging.INFO if slow else logging.WARNING, "worker %s did not answer describe() (%d in a row): %s",
                        worker_id, misses, type(exc).__name__ if slow else exc)
            else:
                self._describe_misses.pop(worker_id, None)

        await asyncio.gather(*(one(w, c) for w, c in list(self._workers.items())))
        self.metrics.workers(sum(1 for v in self._views.values() if v.healthy), len(self._workers))

    def _load(self, worker_id: str) -> int:
        return self._running.get(worker_id, 0) + self._live_load.get(worker_id, 0)

    # -- membership ----------------------------------------------------------------
    def _add_worker(self, client: WorkerClient) -> None:
        self._workers[client.worker_id] = client
        self._busy.setdefault(client.worker_id, None)
        self._running.setdefault(client.worker_id, 0)
        self._live_load.setdefault(client.worker_id, 0)
        self.members.join(client)

    def _remove_worker(self, worker_id: str, why: str = "left") -> None:
        """A worker left the pool (its node left, its actor died): its chunks go back to the queue."""
        if self._workers.pop(worker_id, None) is None:
            return
        log.warning("worker %s %s; its chunks run again elsewhere", worker_id, why)
        self.members.leave(worker_id, why)
        self._views.pop(worker_id, None)
        self._channels.pop(worker_id, None)
        self._busy.pop(worker_id, None)
        self._running.pop(worker_id, None)
        self._last.pop(worker_id, None)
        for copy in self.chunks.on_worker(worker_id):
            self._put_back(copy.job_id, copy.chunk.index, worker_id)
        forget = getattr(self.executor, "forget", None)
        if forget is not None:
            forget(worker_id)
        self._kick()

    async def _membership_loop(self) -> None:
        """Follow the cluster: add the workers of joining nodes (prewarmed), drop those that left."""
        while True:
            await asyncio.sleep(self.config.membership_poll_s)
            try:
                changes: MemberChanges = await self.executor.poll_members()  # type: ignore[attr-defined]
                for worker_id in changes.left:
                    self._remove_worker(worker_id, "left the cluster")
                for client in changes.joined:
                    self._add_worker(client)
                if changes.joined:
                    await self._refresh_views()
                    log.info("workers joined: %s", [c.worker_id for c in changes.joined])
                    self._kick()
            except Exception:
                log.exception("membership poll failed")

    # -- intake --------------------------------------------------------------------
    async def submit(self, kind: str, payload: dict, priority: str | int = "LOW", tenant: str = "default") -> str:
        """Validate, journal and queue a job; returns its id (journaled before return)."""
        job_class = JobClass.parse(priority)
        if self.admission is not None:  # the class must be granted; the tenant under its queued-jobs quota
            self.admission.authorize(tenant, job_class)
            self.admission.check_queued(tenant, self._unfinished(tenant))
        spec = self._spec(kind, payload)
        # The tenant's own dataset of that name, else a shared one (scoped names are never taken from clients).
        spec = JobSpec(spec.kind, {**spec.payload, "dataset": self.datasets.resolve(tenant, spec.payload["dataset"])})
        if spec.kind is JobKind.TRAIN:  # a model trained by a tenant is that tenant's own
            from actors.models.registry import scoped_name as scoped_model_name  # noqa: PLC0415

            spec = JobSpec(spec.kind, {**spec.payload, "name": scoped_model_name(tenant, spec.payload.get("name"))})
        meta = self.datasets.latest(spec.payload["dataset"]) if not spec.payload.get("dataset_version") else None
        version = spec.payload.get("dataset_version") or meta.version
        spec = JobSpec(spec.kind, {**spec.payload, "dataset_version": version})
        # Every check that needs the data runs now: a client mistake is refused, never an accepted job that fails.
        from actors.jobs.plans import validate_against_panel  # noqa: PLC0415

        panel = self.datasets.load(spec.payload["dataset"], version)[1]
        learnt = validate_against_panel(spec.kind.value, spec.payload, panel,
                                        max_panel_bytes=self._memory_quota(tenant).get("memory_bytes"))
        if self.admission is not None and spec.kind is JobKind.SWEEP:
            self.admission.check_sweep(tenant, int(learnt["n_combinations"]))
        key = cache_key(spec, version, self.code_version, tenant=tenant)  # a hit never reveals another tenant's spec
        record = JobRecord.new(spec, job_class, tenant).replace(cache_key=key)
        cached = self.cache.get(key)
        if cached is not None and self.store.has_result(cached):
            self.metrics.cache(hit=True)
            record = record.replace(result_path=cached, cache_hit=True, chunks_total=0)
            record = record.transition(JobState.RUNNING).transition(JobState.SUCCEEDED)
            self.journal.put(record)
            return record.job_id
        self.metrics.cache(hit=False)
        job = self._plan(record)
        self._validate(job)
        job.entry = self.queue.push(record.job_id, job_class, tenant)  # may raise AdmissionRefused
        try:
            self.journal.put(job.record)
        except Exception:
            self.queue.remove(record.job_id)
            raise
        self._admit(job)
        self.metrics.queue_depth(self.queue.depth_by_class())
        self._kick()
        return record.job_id

    def _spec(self, kind: str, payload: dict) -> JobSpec:
        try:
            spec = JobSpec(JobKind.parse(kind), dict(payload), max_bytes=self.config.max_spec_bytes)
        except InvalidJobSpec as exc:
            raise JobSpecError(str(exc)) from exc
        if "dataset" not in spec.payload:
            raise JobSpecError("payload.dataset: a dataset name is required")
        return spec

    def _validate(self, job: _Job) -> None:
        """Cheap checks at intake so that bad jobs fail with 4xx, not later."""
        from kernels.strategies import get_strategy, validate_params  # noqa: PLC0415

        payload = job.record.spec.payload
        kind = job.record.spec.kind.value
        if kind in ("backtest", "sweep"):
            spec = get_strategy(payload.get("strategy", ""))
            if kind == "backtest":
                validate_params(spec, payload.get("params") or {})
            else:
                from kernels.backtest.orders.sweep import ORDER_GRID_KEYS  # noqa: PLC0415

                grid = payload.get("grid") or {}
                first = {k: (v[0] if isinstance(v, (list, tuple)) and v else v) for k, v in grid.items()
                         if k not in ORDER_GRID_KEYS}  # order options: checked by plans.validate_against_panel
                validate_params(spec, first)
        elif kind == "train":
            from kernels.ml import check_params  # noqa: PLC0415
            from kernels.ml.labels import check_task  # noqa: PLC0415

            validate_model_name(payload.get("name"))
            check_params(str(payload.get("model", "")), payload.get("params") or {})
            check_task(payload.get("task", "regression"))
            if not payload.get("features"):
                raise JobSpecError("features: give at least one indicator spec")

    # -- queries -------------------------------------------------------------------
    def _record(self, job_id: str) -> JobRecord:
        validate_job_id(job_id)
        job = self._jobs.get(job_id)
        if job is not None:
            return job.record
        record = self.journal.get(job_id)
        if record is None:
            raise JobNotFound(f"no job {job_id}")
        return record

    async def status(self, job_id: str) -> dict[str, Any]:
        """The job's record, with its fan-out in `progress` (workers, cells/s, ETA)."""
        record = self._record(job_id)
        job = self._jobs.get(job_id)
        if job is not None and record.chunks_done != len(job.partials):  # progress not journaled yet
            record = record.replace(chunks_done=len(job.partials))
        out = record.to_public()
        fanout = job.fanout if job is not None else self._fanout_done.get(job_id)
        if fanout is not None:
            out["progress"] = {**out["progress"], **fanout.public(record.chunks_done, record.chunks_total,
                                                                  time.monotonic())}
        return out

    async def result(self, job_id: str) -> Any:
        """The job's result object (host data), loaded from the result store."""
        return self._load_result(self._succeeded(job_id))

    async def result_as(self, job_id: str, convert: Callable[[dict[str, Any], Any], Any]) -> Any:
        """`convert(status, result)` of a succeeded job, loaded and converted in a thread.

        For callers that want a large result in another form (the HTTP replica: its JSON
        bytes): the conversion runs where the result is stored, off this event loop, and
        only its output travels (the replica's event loop, which live requests share,
        never deserialises or converts a research result).
        """
        record = self._succeeded(job_id)
        return await asyncio.to_thread(lambda: convert(record.to_public(), self._load_result(record)))

    async def wait_result(self, job_id: str, timeout_s: float,
                          convert: Callable[[dict[str, Any], Any], Any]) -> tuple[dict[str, Any], Any]:
        """`wait`, then `(status, convert(status, result))` when the job succeeded, else `(status, None)`."""
        status = await self.wait(job_id, timeout_s)
        if status["state"] != JobState.SUCCEEDED.value:
            return status, None
        record = self._record(job_id)
        return status, await asyncio.to_thread(lambda: convert(status, self._load_result(record)))

    async def submit_wait_result(self, kind: str, payload: dict, priority: str | int, tenant: str, timeout_s: float,
                                 convert: Callable[[dict[str, Any], Any], Any]) -> tuple[str, dict[str, Any], Any]:
        """`submit`, then `wait_result`: (job_id, status, converted result or None), in one call."""
        job_id = await self.submit(kind, payload, priority, tenant)
        status, out = await self.wait_result(job_id, timeout_s, convert)
        return job_id, status, out

    def _succeeded(self, job_id: str) -> JobRecord:
        record = self._record(job_id)
        if record.state is not JobState.SUCCEEDED:
            raise JobNotReady(f"job {job_id} is {record.state.value}" + (f": {record.error}" if record.error else ""))
        return record

    def _load_result(self, record: JobRecord) -> Any:
        return codecs.decode(self.store.load_result(record.result_path or record.job_id))

    async def wait(self, job_id: str, timeout_s: float) -> dict[str, Any]:
        """Status once the job is terminal or the timeout passes."""
        deadline = time.monotonic() + timeout_s
        while True:
            record = self._record(job_id)
            if record.state.terminal or time.monotonic() >= deadline:
                return await self.status(job_id)
            await asyncio.sleep(0.02)

    async def list(self, tenant: str | None = None, state: str | None = None, limit: int | None = None) -> list[dict]:
        limit = min(limit or self.config.list_default_limit, self.config.list_max_limit)
        states = [JobState.parse(state)] if state else None
        return [r.to_public() for r in self.journal.list(tenant=tenant, states=states, limit=limit)]

    async def cancel(self, job_id: str) -> dict[str, Any]:
        record = self._record(job_id)
        if record.state.terminal:
            return record.to_public()
        job = self._jobs[job_id]
        job.cancel_requested = True
        self._finish(job, JobState.CANCELLED)  # chunks in flight finish on their workers; their results are dropped
        return job.record.to_public()

    async def list_models(self) -> list[dict[str, Any]]:
        """The latest record of every stored model."""
        return [r.to_public() for r in await asyncio.to_thread(self.models.list_models)]

    async def get_model(self, name: str, version: int | None = None) -> dict[str, Any]:
        """One model version's record (the latest by default); ModelNotFound (a KeyError) if absent."""
        return (await asyncio.to_thread(self.models.get, name, version)).to_public()

    async def devices(self) -> list[dict[str, Any]]:
        async def one(worker_id: str, client: WorkerClient) -> dict[str, Any]:
            try:
                st = await asyncio.wait_for(client.status(), timeout=self.config.worker_call_timeout_s)
            except Exception as exc:
                st = {"worker_id": worker_id, "error": f"{type(exc).__name__}: {exc}"}
            view = self._views.get(worker_id)
            st["healthy"] = bool(view.healthy) if view else False
            st["busy_job"] = self._busy.get(worker_id)
            return st

        return list(await asyncio.gather(*(one(w, c) for w, c in self._workers.items())))

    # -- tenants -----------------------------------------------------------------
    def _memory_quota(self, tenant: str) -> dict[str, Any]:
        """The tenant's memory quota per device, for its work items (the worker sets its pool limit)."""
        if self.admission is None:
            return {}
        q = self.admission.quotas.get(tenant)
        return {"memory_bytes": q.memory_bytes, "memory_fraction": q.memory_fraction}

    def _unfinished(self, tenant: str) -> int:
        return sum(1 for j in self._jobs.values() if j.record.tenant == tenant and not j.record.state.terminal)

    def _running_jobs(self, tenant: str) -> int:
        return sum(1 for j in self._jobs.values() if j.record.tenant == tenant and j.record.state is JobState.RUNNING)

    def _quotas(self) -> Any:
        if self.admission is None:
            from actors.tenants.quotas import TenantsDisabled  # noqa: PLC0415

            raise TenantsDisabled("tenant quotas are switched off in this service (tenants.enabled is false)")
        return self.admission.quotas

    async def get_quota(self, tenant: str) -> dict[str, Any]:
        return {"tenant": tenant, **self._quotas().get(tenant).to_public()}

    async def set_quota(self, tenant: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change a tenant's quota at run time (durable before it applies; next request sees it)."""
        quota = await asyncio.to_thread(self._quotas().set, tenant, changes)
        return {"tenant": tenant, **quota.to_public()}

    async def list_quotas(self) -> dict[str, Any]:
        return {t: q.to_public() for t, q in self._quotas().tenants().items()}

    async def tenant_usage(self, tenant: str) -> dict[str, Any]:
        jobs = await self.list(tenant=tenant, limit=None)
        refusals = self.admission.refusals(tenant)[tenant] if self.admission is not None else {}
        return tenant_usage(tenant, self.usage, jobs, refusals, await self.devices())

    async def stats(self) -> dict[str, Any]:
        return {
            "queue_depth": self.queue.depth_by_class(),
            "running": {w: j for w, j in self._busy.items() if j},
            "preemptions": self.preemptor.counts_by_class(),
            "fallbacks": dict(self._fallbacks),
            "fallback_decision_s": list(self._fallback_s),
            "cache": self.cache.stats(),
            "recovered": self._recovered,
            "workers": len(self._workers),
            "membership": self.members.events()[-32:],
            "steals": self._steals,
            "duplicates": self._duplicates,
            "throughput": self.throughput.snapshot(),
            "usage": self.policy.usage() if hasattr(self.policy, "usage") else {},
        }

    async def chunk_runs(self, job_id: str | None = None) -> list[dict[str, Any]]:
        """Recorded chunk boundaries (coordinator clock, seconds), oldest first."""
        return [dict(vars(r)) for r in self.chunk_log.runs(job_id)]

    # -- live path -----------------------------------------------------------------
    async def run_live(self, kind: str, payload: dict, priority: str | int = "REALTIME",
                       tenant: str = "live") -> WorkResult:
        """Run small live work now, beside any research chunk (never queued behind it).

        The fast path skips this actor altogether: `actors.live.router.LiveRouter`.
        """
        started = time.perf_counter()
        job_class = JobClass.parse(priority)
        spec = self._spec(kind, payload)
        meta, panel = self.datasets.load(spec.payload["dataset"], spec.payload.get("dataset_version"))
        sub = job_panel(panel, spec.payload)
        item = WorkItem(job_id="live", kind=spec.kind.value, payload=dict(spec.payload),
                        chunk=ChunkSpec(0, (0, sub.n_assets)), job_class=int(job_class), tenant=tenant,
                        dataset=meta.name, dataset_version=meta.version)
        shared = self._share(meta.name, meta.version, panel)

        async def call(view: WorkerView, it: WorkItem) -> WorkResult:
            self._live_load[view.worker_id] += 1
            try:
                return await self._workers[view.worker_id].execute(it, shared)
            finally:
                self._live_load[view.worker_id] -= 1

        result, tier = await run_with_fallback(item, self.fallback.choose(self._views.values()), call,
                                               self._next_tier)
        elapsed = time.perf_counter() - started
        self.metrics.latency(kind, job_class, elapsed)
        return replace(result, timings={**result.timings, "coordinator_s": elapsed, "tier": tier.value})

    async def routing_table(self, dataset: str | None = None) -> dict[str, Any]:
        """Worker handles and views, and shared dataset refs, for `LiveRouter`s."""
        if dataset is not None:
            meta, panel = self.datasets.load(dataset)
            self._share(meta.name, meta.version, panel)
        latest: dict[str, dict[str, Any]] = {}
        for (name, version), holder in self._shared.items():
            meta = self.datasets.latest(name)
            if meta.version == version:
                latest[name] = {"version": version, "n_assets": meta.n_assets, "holder": holder}
        return {"views": list(self._views.values()), "handles": dict(getattr(self.executor, "handles", {})),
                "datasets": latest, "channels": dict(self._channels)}

    def _share(self, name: str, version: str, panel: Panel) -> Any:
        key = (name, version)
        if key not in self._shared:
            self._shared[key] = self.executor.share(panel)
        return self._shared[key]

    # -- scheduling ----------------------------------------------------------------
    def _kick(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.view_refresh_s)
            try:
                await self._refresh_views(self.config.view_refresh_s)
                self._kick()  # a worker may be back
            except Exception:
                log.exception("worker view refresh failed")

    async def _schedule_loop(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                self._dispatch()
            except Exception:  # never let the loop die
                log.exception("scheduler error")

    def _dispatch(self) -> None:
        """Give every free eligible worker a runnable chunk: the best class first, the policy within it;
        an idle worker with nothing runnable steals the longest-running chunk at a job's tail."""
        free = [v for w, v in self._views.items()
                if v.healthy and self._running.get(w, 0) == 0 and w in self._workers]
        if not free and self.queue.best_waiting_class() not in self.preemptor.beside_classes:
            return  # nothing to start: no free worker, and no urgent work that may start beside LOW chunks
        order = self.queue.snapshot() if len(self.queue) else []
        gpus_in_pool = self.placement.gpus_in_pool(self._views.values())
        now = time.monotonic()
        yielded: set[str] = set()
        for view in self.placement.order(free):
            picked = self._stay(view, self._pick(order, view, gpus_in_pool), gpus_in_pool, yielded)
            if picked is None:
                self._steal(view, gpus_in_pool, now)
                continue
            job = picked
            chunk = self.chunks.take(job.record.job_id, view.worker_id, now)
            if chunk is None:
                continue
            if not self.chunks.has_pending(job.record.job_id):
                self.queue.remove(job.record.job_id)  # every chunk handed out; `job.entry` keeps its place
            self._launch(job, chunk, view, now)
        if order:
            self._start_beside(order, gpus_in_pool, now)
        for job_id in yielded:  # a job whose last worker went to higher-class work waits in the queue again
            job = self._jobs.get(job_id)
            if job is not None and not self.chunks.inflight(job_id) and job.record.state is JobState.RUNNING:
                self._update(job, JobState.PREEMPTED)
                self._update(job, JobState.QUEUED)
        self.metrics.queue_depth(self.queue.depth_by_class())

    def _start_beside(self, order: list[QueueEntry], gpus_in_pool: bool, now: float) -> None:
        """Urgent work (`preemption.beside_classes`, REALTIME and HIGH by default) does not wait for a
        LOW/IDLE chunk to end on a GPU worker: one urgent chunk starts beside it, on the device's
        higher-priority stream. The LOW/IDLE job still yields at its chunk boundary (`_stay`)."""
        beside = self.preemptor.beside_classes
        urgent = [e for e in order if JobClass(e.effective_class or e.job_class) in beside] if beside else []
        if not urgent:
            return
        for view in self.placement.order(self._views.values()):
            worker_id = view.worker_id
            if (view.kind != "gpu" or not view.healthy or worker_id not in self._workers
                    or self._running.get(worker_id, 0) != 1 or self._beside.get(worker_id, 0)):
                continue
            running = self._jobs.get(self._busy.get(worker_id) or "")
            if running is None or self._effective_class(running) not in SHEDDABLE:
                continue
            picked = self._pick(urgent, view, gpus_in_pool)
            if picked is None:
                continue
            job = picked[0]
            chunk = self.chunks.take(job.record.job_id, worker_id, now)
            if chunk is None:
                continue
            if not self.chunks.has_pending(job.record.job_id):
                self.queue.remove(job.record.job_id)
            self._launch(job, chunk, view, now, beside=True)

    def _effective_class(self, job: _Job) -> JobClass:
        return JobClass(self.queue.effective_class(job.entry) if job.entry is not None else job.record.job_class)

    def _pick(self, order: list[QueueEntry], view: WorkerView, gpus_in_pool: bool) -> tuple[_Job, QueueEntry] | None:
        """The job whose chunk `view` runs next: among eligible jobs with runnable chunks, those of the
        best effective class, then the policy's choice."""
        group: list[tuple[_Job, QueueEntry]] = []
        best = None
        for entry in order:
            if best is not None and entry.effective_class != best:
                break
            job = self._jobs.get(entry.job_id)
            if job is None or job.record.state.terminal or not self.chunks.has_pending(entry.job_id):
                continue
            if not self.placement.eligible(view, job.labels, gpus_in_pool):
                continue
            if view.kind == "cpu" and gpus_in_pool and not self._cpu_helps(job, view):
                continue  # the GPUs finish the job's other chunks before this CPU worker would finish one
            if view.sheds(entry.effective_class or entry.job_class):
                continue  # the device is under memory pressure: LOW/IDLE work goes to other workers
            if (self.admission is not None and job.record.state is not JobState.RUNNING
                    and not self.admission.may_start(job.record.tenant, self._running_jobs(job.record.tenant))):
                continue  # the tenant is at its running-jobs quota: this job waits
            best = entry.effective_class
            group.append((job, entry))
        if not group:
            return None
        if len(group) == 1:
            return group[0]
        last = self._last.get(view.worker_id)
        candidates = [Candidate(e.job_id, e.tenant, e.job_class, e.effective_class or e.job_class, e.enqueued_at,
                                e.seq, resident=e.job_id == last) for _, e in group]
        chosen = self.policy.pick(candidates)
        return next(pair for pair in group if pair[1].job_id == chosen.job_id)

    def _cpu_helps(self, job: _Job, view: WorkerView) -> bool:
        """Would CPU worker `view` end a chunk of `job` before the GPUs available to it finish the job's
        other pending chunks? (`actors.scheduling.placement.cpu_share`; available: eligible, healthy,
        and free or running this job.)"""
        kind = job.record.spec.kind.value
        job_id = job.record.job_id
        gpu_rates = [self.throughput.rate(kind, v.worker_class) for w, v in self._views.items()
                     if v.kind == "gpu" and w in self._workers and self.placement.eligible(v, job.labels, True)
                     and self._busy.get(w) in (None, job_id)]
        if not gpu_rates:
            return True  # every GPU runs other work: the CPU worker's chunk is extra capacity
        cells = max(1, job.cells_per_chunk)
        other = (self.chunks.pending(job_id) - 1) * cells
        return cpu_chunk_helps(cells, self.throughput.rate(kind, view.worker_class), other, gpu_rates)

    def _stay(self, view: WorkerView, best: tuple[_Job, QueueEntry] | None, gpus_in_pool: bool,
              yielded: set[str]) -> _Job | None:
        """The job `view` runs next: its previous job while that has runnable chunks and need not yield
        (data stays resident), else the best waiting one.

        The `Preemptor` judges the running job by its *effective* (aged) class: a LOW job that aged
        into HIGH keeps its workers when a fresh HIGH job arrives.
        """
        last_id = self._last.get(view.worker_id)
        last = self._jobs.get(last_id) if last_id is not None else None
        if (last is None or last.record.state.terminal or not self.chunks.has_pending(last_id)
                or not self.placement.eligible(view, last.labels, gpus_in_pool)
                or (view.kind == "cpu" and gpus_in_pool and not self._cpu_helps(last, view))):
            return None if best is None else best[0]
        if best is None or best[0] is last:
            return last
        entry = best[1]
        running_class = self.queue.effective_class(last.entry) if last.entry is not None else last.record.job_class
        if not self.preemptor.should_yield(running_class, entry.effective_class or entry.job_class):
            if (entry.effective_class or entry.job_class) == running_class and entry.tenant != last.record.tenant:
                # Same class, another tenant: the policy weighed both jobs (the running one is still queued
                # with chunks left) and chose the other, e.g. weighted fair share. Not a preemption.
                return best[0]
            return last
        self.preemptor.record_preemption(last.record.job_class)
        self.metrics.preemption(last.record.job_class)
        yielded.add(last.record.job_id)
        return best[0]

    def _launch(self, job: _Job, chunk: ChunkSpec, view: WorkerView, now: float, beside: bool = False) -> None:
        """Start one copy of `chunk` on `view`; `beside` a running LOW/IDLE chunk (urgent work), the
        worker's running job and residency stay that chunk's."""
        worker_id = view.worker_id
        self._running[worker_id] = self._running.get(worker_id, 0) + 1
        if beside:
            self._beside[worker_id] = self._beside.get(worker_id, 0) + 1
        else:
            self._busy[worker_id] = job.record.job_id
            self._last[worker_id] = job.record.job_id
        job.fanout.started(now)
        if job.record.state is not JobState.RUNNING:
            tier = Tier.PRIMARY if not job.history else job.history[-1].tier
            self._update(job, JobState.RUNNING, device=view.label, tier=tier, worker_id=worker_id,
                         attempts=job.record.attempts + 1)
        elif job.record.tier in (None, Tier.PRIMARY):  # after a fallback the record keeps the tier's device
            job.latest = (view.label, worker_id)  # recorded with the next progress journal (not per chunk)
        task = asyncio.create_task(self._run_chunk(job, chunk, view, now, beside))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _steal(self, view: WorkerView, gpus_in_pool: bool, now: float) -> bool:
        """Tail work stealing: a second copy of the longest-running chunk on the idle `view`."""
        wait: float | None = None
        for copy in self.chunks.stealable():
            job = self._jobs.get(copy.job_id)
            if job is None or job.record.state.terminal or copy.worker_id == view.worker_id:
                continue
            if not self.placement.eligible(view, job.labels, gpus_in_pool):
                continue
            holder = self._views.get(copy.worker_id)
            if view.kind == "cpu" and holder is not None and not cpu_steal_helps(
                    self.throughput.rate(job.record.spec.kind.value, view.worker_class),
                    self.throughput.rate(job.record.spec.kind.value, holder.worker_class)):
                continue  # a slower copy would not end first
            typical = job.fanout.typical_wall_s() or self.config.target_chunk_ms / 1000.0
            after = max(self.config.steal_min_s, self.config.steal_after_factor * typical)
            if now - copy.started < after:
                left = after - (now - copy.started)
                wait = left if wait is None else min(wait, left)
                continue
            chunk = self.chunks.steal(copy.job_id, copy.chunk.index, view.worker_id, now)
            if chunk is None:
                continue
            self._steals += 1
            job.fanout.stolen += 1
            self.metrics.chunk_copy("stolen")
            self._launch(job, chunk, view, now)
            return True
        if wait is not None and self._steal_timer is None:
            def fire() -> None:
                self._steal_timer = None
                self._kick()
            self._steal_timer = asyncio.get_running_loop().call_later(wait + 1e-3, fire)
        return False

    def _put_back(self, job_id: str, index: int, worker_id: str) -> None:
        """A copy of a chunk was lost: runnable again (and its job back in the queue)."""
        if self.chunks.put_back(job_id, index, worker_id):
            job = self._jobs.get(job_id)
            if job is not None and not job.record.state.terminal and job_id not in self.queue:
                job.entry = self.queue.requeue(job.entry) if job.entry else self.queue.push(
                    job_id, job.record.job_class, job.record.tenant, enforce_limits=False)
            self._kick()

    def _job_input(self, job: _Job) -> tuple[Any, Any]:
        """The job's dataset meta and its object-store ref, looked up once per job (not per chunk)."""
        if job.shared is None:
            payload = job.record.spec.payload
            meta, panel = self.datasets.load(payload["dataset"], payload["dataset_version"])
            job.shared = (meta, self._share(meta.name, meta.version, panel))
        return job.shared

    async def _run_chunk(self, job: _Job, chunk: ChunkSpec, view: WorkerView, started: float,
                         beside: bool = False) -> None:
        """One copy of a chunk on a worker, down the fallback chain on device faults.

        A lost worker puts the chunk back (it runs again elsewhere); the first result of a chunk
        is kept, a later copy's is dropped; the job completes when its last chunk is in.
        """
        job_id = job.record.job_id
        worker_id = origin = view.worker_id
        tier = Tier.PRIMARY
        history: list[Attempt] = []  # this chunk's attempts (the fallback chain is walked per chunk)
        released = False
        try:
            meta, shared = self._job_input(job)
            item = WorkItem(job_id=job_id, kind=job.record.spec.kind.value, payload=dict(job.record.spec.payload),
                            chunk=chunk, job_class=int(job.record.job_class), tenant=job.record.tenant,
                            dataset=meta.name, dataset_version=meta.version, tier=tier.value,
                            **self._memory_quota(job.record.tenant))
            while True:
                client = self._workers.get(worker_id)
                try:
                    if client is None:
                        raise WorkerLost(worker_id, "not in the pool")
                    async with asyncio.timeout(self.config.worker_call_timeout_s):  # no extra task per chunk
                        out = await client.execute(item, shared)
                    break
                except WorkerLost as exc:
                    self._release(worker_id, job_id)
                    released = True
                    self._remove_worker(worker_id, f"lost: {exc.reason or exc}")
                    self._put_back(job_id, chunk.index, worker_id)
                    return
                except Exception as exc:
                    if is_client_error(exc):
                        raise
                    if job.record.state.terminal:
                        return
                    history.append(Attempt(worker_id, tier))
                    job.history.append(history[-1])
                    if len(history) >= self.config.max_attempts:
                        raise NoCapacity(f"{len(history)} attempts failed; last: {type(exc).__name__}: {exc}") \
                            from exc
                    view, tier = await self._next_tier(view, history, exc)
                    self._release(worker_id, job_id)
                    self.chunks.moved(job_id, chunk.index, worker_id, view.worker_id, time.monotonic())
                    worker_id = view.worker_id
                    self._running[worker_id] = self._running.get(worker_id, 0) + 1
                    self._busy[worker_id] = job_id
                    if tier.rank >= (job.record.tier or Tier.PRIMARY).rank:  # the record shows the worst tier
                        job.latest = (view.label, worker_id)
                        self._update(job, device=view.label, tier=tier, worker_id=worker_id,
                                     attempts=job.record.attempts + 1)
                    item = replace(item, tier=tier.value, attempt=item.attempt + 1)
            finished = time.monotonic()
            self._release(worker_id, job_id)  # the worker is free now: the next chunk starts while this one is saved
            released = True
            self._kick()
            cells = chunk_cells(chunk, job.n_bars)
            first = self.chunks.finish(job_id, chunk.index, worker_id)
            run = ChunkRun(job_id, chunk.index, worker_id, job.record.job_class.name, started, finished,
                           float(out.seconds), cells, duplicate=not first)
            self.chunk_log.add(run)
            job.fanout.record(run, out.device)
            self.throughput.observe(job.record.spec.kind.value, view.worker_class, cells, float(out.seconds))
            self.policy.charge(job.record.tenant, float(out.seconds))
            self.usage.record(job.record.tenant, view.worker_class, float(out.seconds))
            self.metrics.tenant_device_seconds(job.record.tenant, view.worker_class, float(out.seconds))
            if not first:
                self._duplicates += 1
                self.metrics.chunk_copy("duplicate")
            if not first or job.record.state.terminal:
                return  # a duplicate (work stealing) or a job that ended meanwhile: dropped
            await self._save_chunk(job, chunk.index, out.result)
            if (len(job.partials) == len(job.chunks) and not job.saving and not job.completing
                    and not job.record.state.terminal):
                job.completing = True  # every chunk saved: merge once
                await self._complete(job)
        except NoCapacity as exc:
            if job.record.state.terminal:
                return
            if job.requeues < self.config.no_capacity_requeues and not job.cancel_requested:
                job.requeues += 1
                job.history.clear()
                log.warning("job %s: no capacity (%s); chunk %d back to the queue in %.1f s", job_id, exc,
                            chunk.index, self.config.no_capacity_retry_s)
                asyncio.get_running_loop().call_later(self.config.no_capacity_retry_s, self._put_back, job_id,
                                                      chunk.index, worker_id)
            else:
                self._finish(job, JobState.FAILED, error=f"no capacity left after faults: {exc}")
        except Exception as exc:
            log.info("job %s failed: %s", job_id, exc)
            self._finish(job, JobState.FAILED, error=f"{type(exc).__name__}: {exc}")
        finally:
            if not released:
                self._release(worker_id, job_id)
            if beside:
                self._beside[origin] = max(0, self._beside.get(origin, 0) - 1)
            self._kick()

    def _release(self, worker_id: str, job_id: str) -> None:
        """One copy fewer in flight on `worker_id` (`job_id`'s; idempotent per copy: count never below 0);
        a worker with none left runs no job."""
        n = self._running.get(worker_id)
        if n is None:
            return
        self._running[worker_id] = max(0, n - 1)
        if self._running[worker_id] == 0:
            self._busy[worker_id] = None

    async def _next_tier(self, failed: WorkerView, history: list[Attempt], exc: BaseException) -> tuple[WorkerView, Tier]:
        log.warning("fault on %s (%s: %s); falling back", failed.worker_id, type(exc).__name__, exc)
        seen = time.perf_counter()
        await self._refresh_views(self.config.fault_probe_timeout_s)
        view, tier = self.fallback.next_tier(failed, history, self._views.values())
        self._fallback_s.append(time.perf_counter() - seen)
        self._fallbacks[tier.value] += 1
        self.metrics.fallback(tier.value)
        return view, tier

    # -- bookkeeping ---------------------------------------------------------------
    def _update(self, job: _Job, state: JobState | None = None, **changes: Any) -> None:
        record = job.record
        if state is not None and state is not record.state:
            record = record.transition(state, **changes)
        elif changes:
            record = record.replace(**changes)
        job.record = record
        self.journal.put(record)

    async def _save_chunk(self, job: _Job, index: int, result: Any) -> None:
        """Keep a finished chunk, and checkpoint it (off the event loop: live requests must not wait on
        disk) once its job has run `checkpoint_after_s` since its first chunk started: a job shorter
        than that writes no chunk files (a restart reruns it, at most that much work), a longer one
        writes those kept so far, then each chunk as it finishes."""
        job_id = job.record.job_id
        job.partials[index] = result
        if len(job.chunks) > 1:
            job.unsaved.append(index)
            first = job.fanout.first_start
            if first is not None and time.monotonic() - first >= self.config.checkpoint_after_s:
                indices, job.unsaved = job.unsaved, []

                def save() -> None:
                    for i in indices:
                        if i in job.partials:
                            self.journal.put_chunk(job_id, i, self.store.save_chunk(
                                job_id, i, codecs.encode(job.partials[i])))

                job.saving += 1
                try:
                    await asyncio.to_thread(save)
                finally:
                    job.saving -= 1
        now = time.monotonic()
        if len(job.partials) == len(job.chunks) or now - job.journaled_at >= self.config.progress_journal_s:
            job.journaled_at = now  # progress journaled at most every progress_journal_s (status reads memory)
            device, worker_id = job.latest or (job.record.device, job.record.worker_id)
            self._update(job, chunks_done=len(job.partials), device=device, worker_id=worker_id)

    def _register_model(self, payload: Any, out: TrainOutput) -> TrainResult:
        """Store a trained model as the next version of its name (only the coordinator writes)."""
        record = self.models.save(payload["name"], out.model, features=out.features, horizon=out.horizon,
                                  window=out.window, metrics=out.metrics, dataset=payload.get("dataset"))
        return TrainResult(record=record.to_public())

    async def _complete(self, job: _Job) -> None:
        from actors.jobs.plans import merge_partials  # noqa: PLC0415

        def merge_and_store() -> str:
            final = merge_partials(job.record.spec.kind.value, [job.partials[c.index] for c in job.chunks])
            if isinstance(final, TrainOutput):
                final = self._register_model(job.record.spec.payload, final)
            stored = self.store.save_result(job.record.job_id, codecs.encode(final))
            if len(job.chunks) > 1:
                self.store.delete_chunks(job.record.job_id)
            self.throughput.save()
            return stored

        path = await asyncio.to_thread(merge_and_store)
        self._finish(job, JobState.SUCCEEDED, result_path=job.record.job_id)
        if job.record.cache_key:
            self.cache.put(job.record.cache_key, job.record.job_id)
        log.debug("job %s stored at %s", job.record.job_id, path)

    def _finish(self, job: _Job, state: JobState, **changes: Any) -> None:
        if job.record.state.terminal:
            return
        if state is JobState.SUCCEEDED and job.record.state is not JobState.RUNNING:
            self._update(job, JobState.RUNNING)
        self._update(job, state, **changes)
        self.metrics.latency(job.record.spec.kind.value, job.record.job_class,
                             (job.record.finished_at or self._clock()) - job.record.submitted_at)
        job_id = job.record.job_id
        self._jobs.pop(job_id, None)
        self.queue.remove(job_id)
        inflight = self.chunks.drop_job(job_id)  # copies still in flight return to a dropped job: results ignored
        self._end_job_data(job_id, set(job.fanout.workers) | {c.worker_id for c in inflight})
        self._plan_path(job_id).unlink(missing_ok=True)
        self._fanout_done[job_id] = job.fanout
        while len(self._fanout_done) > FANOUT_KEEP:
            self._fanout_done.pop(next(iter(self._fanout_done)))
        self.metrics.queue_depth(self.queue.depth_by_class())

    def _end_job_data(self, job_id: str, worker_ids: set[str]) -> None:
        """Tell every worker that ran (or runs) a chunk of an ended job to drop the job's data."""
        for worker_id in worker_ids:
            client = self._workers.get(worker_id)
            if client is None or not hasattr(client, "end_job"):
                continue

            async def end(c: WorkerClient = client) -> None:
                try:
                    async with asyncio.timeout(self.config.worker_call_timeout_s):
                        await c.end_job(job_id)  # type: ignore[attr-defined]
                except Exception as exc:  # a lost worker took the data with it
                    log.debug("end_job(%s) on %s: %s", job_id, c.worker_id, exc)

            task = asyncio.get_running_loop().create_task(end())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def shutdown(self) -> None:
        for loop_task in (self._scheduler, self._refresher, self._member_loop):
            if loop_task is not None:
                loop_task.cancel()
        if self._steal_timer is not None:
            self._steal_timer.cancel()
        self.throughput.save()
        for task in list(self._tasks):
            task.cancel()
        self.journal.close()


__all__ = [
    "AdmissionRefused",
    "Coordinator",
    "DatasetNotFound",
    "Executor",
    "JobNotFound",
    "JobNotReady",
    "WorkerClient",
    "code_version",
]
