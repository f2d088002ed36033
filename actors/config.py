"""Typed configuration of the coordinator's managers: frozen dataclasses and defaults.

Every default number of the actors' managers (queue limits, aging, chunk sizes,
timeouts, journal and cache settings) is a module constant here; no other module
of `actors/` holds a literal limit, size or timeout. No environment reads: the
service's single pydantic-settings `Settings` builds these dataclasses from
RAYQUANT_* variables and the YAML file and passes them down through constructors.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gpu_hal.streams.priority import JobClass

KiB = 1 << 10
MiB = 1 << 20

# --- queue: admission limits, aging, refusal hint ----------------------------------
MAX_QUEUED_PER_TENANT = 256
MAX_QUEUED_REALTIME = 1024
MAX_QUEUED_HIGH = 1024
MAX_QUEUED_NORMAL = 2048
MAX_QUEUED_LOW = 4096
MAX_QUEUED_IDLE = 4096
# A waiting job's effective class rises one level per interval waited (capped at HIGH).
AGING_INTERVAL_S = 30.0
# Hint returned with an admission refusal (HTTP Retry-After).
RETRY_AFTER_S = 5.0

# --- preemption -------------------------------------------------------------------
PREEMPTION_ENABLED = True
# A running job yields only to waiting work at least this many classes higher.
PREEMPT_MIN_CLASS_GAP = 1
# Classes that never yield (REALTIME is always among them).
PREEMPT_PROTECTED_CLASSES: tuple[str, ...] = ("REALTIME",)
# Chunks of these classes start at once beside a LOW/IDLE chunk on a GPU worker (on the device's
# higher-priority stream; one such chunk per worker) instead of waiting for that chunk's end; the LOW
# job still yields at its chunk boundary. Empty: they wait for the boundary.
PREEMPT_BESIDE_CLASSES: tuple[str, ...] = ("REALTIME", "HIGH")

# --- fallback ---------------------------------------------------------------------
FALLBACK_SAME_DEVICE_RETRY = True
FALLBACK_ALLOW_CPU = True

# --- jobs ---------------------------------------------------------------------------
# Hard ceiling of a job spec's canonical JSON (request sizes are bounded).
SPEC_MAX_BYTES = 1 * MiB
# Longest error message kept in a job record.
ERROR_MAX_CHARS = 4 * KiB

# --- coordinator --------------------------------------------------------------------
STORAGE_DIR = ".rayquant"
JOURNAL_FILENAME = "jobs.sqlite3"
# Target GPU time of one chunk: the preemption latency of a low-class job.
TARGET_CHUNK_MS = 50.0
# Upper bound on the cells (bars x assets x combinations) of one chunk, whatever
# the timing estimate says: bounds memory and the time of a chunk on the CPU tier.
MAX_CELLS_PER_CHUNK = 1 << 26
WORKER_CALL_TIMEOUT_S = 300.0
# Attempts of one job across fallback tiers (primary, same device, other GPU, CPU).
MAX_ATTEMPTS = 4
# When every tier is exhausted (all workers dead or failed at once), an accepted job
# goes back to the queue after a pause instead of failing, this many times.
NO_CAPACITY_REQUEUES = 20
NO_CAPACITY_RETRY_S = 1.0
# Worker health/budget views: refreshed in the background, and with a short probe
# after a fault (a restarting actor must not hold up the fallback decision).
VIEW_REFRESH_S = 1.0
FAULT_PROBE_TIMEOUT_S = 0.05
DESCRIBE_MISSES_UNHEALTHY = 3  # describe() timeouts in a row before a worker leaves placement (slow != failed)
CPU_WORKERS = 1
# Chunk-level scheduling (actors.scheduling): research chunks on CPU workers too (else they are only
# the fallback tier, or the workers of a cluster without GPUs); CPU workers of every node that is not
# the coordinator's; how often membership follows the cluster (a joining node's workers take work
# within this plus their prewarm); tail work stealing: a chunk in flight longer than this factor times
# the job's typical chunk time (and at least STEAL_MIN_S) gets a second copy on an idle worker.
RESEARCH_ON_CPU = False
NODE_CPU_WORKERS = 1
# A CPU worker's compute threads: 0 (auto) leaves HOST_THREADS_PER_GPU_WORKER threads of its node to
# each GPU worker's host side and HOME_RESERVED_THREADS to the coordinator (and Serve) on its node,
# and shares the rest among the node's CPU workers (actors.scheduling.placement.membership).
CPU_WORKER_THREADS = 0
HOST_THREADS_PER_GPU_WORKER = 2
HOME_RESERVED_THREADS = 2
MEMBERSHIP_POLL_S = 1.0
STEAL_AFTER_FACTOR = 2.0
STEAL_MIN_S = 0.02
# A job's record (progress) is journaled at most this often while chunks finish (chunk files are
# journaled each): per-chunk journal writes would cap the dispatch rate.
PROGRESS_JOURNAL_S = 0.5
RESULT_CACHE_ENABLED = True
RESULT_CACHE_MAX_ENTRIES = 100_000
# sqlite3 PRAGMA synchronous for the journal: FULL makes a put durable on return.
JOURNAL_SYNCHRONOUS = "FULL"
# Chunk partials are written without fsync (recovery reruns a chunk whose files did not survive a crash);
# final results always are flushed (actors.jobs.result_store).
CHUNK_FSYNC = False
# Chunk partials are checkpointed only once a job has run this long (from its first chunk's start): a
# shorter job writes none (a restart reruns it), a longer one writes the finished ones then and each
# later one as it finishes. A GPU sweep of 100,000 combinations x 500 assets has ~9 GB of partials.
CHECKPOINT_AFTER_S = 10.0
JOURNAL_BUSY_TIMEOUT_S = 30.0
LIST_DEFAULT_LIMIT = 100
LIST_MAX_LIMIT = 10_000

# --- job data kept on a worker between the chunks of a job (actors.workers.job_data) ---------
JOB_DATA_ENABLED = True
JOB_DATA_MAX_JOBS = 4  # jobs whose data one worker keeps at once (the least recently used leaves first)
JOB_DATA_MAX_HOST_BYTES = 2 << 30  # a CPU worker's job data in host memory (it has no device budget)
JOB_DATA_MAX_DERIVED = 16  # prepared kernel inputs (one per asset range of a sweep) kept per job
JOB_DATA_ENDED_KEPT = 4096  # ended job ids a worker remembers (a late chunk of one is not cached again)

# --- live channel: routers' direct sockets to the workers (actors.live.channel) ---------
LIVE_CHANNEL_ENABLED = True
LIVE_CHANNEL_CONNECTIONS = 8  # open connections (calls in flight) per router and worker
LIVE_CHANNEL_CONNECT_TIMEOUT_S = 0.5
LIVE_CHANNEL_CALL_TIMEOUT_S = 60.0
LIVE_CHANNEL_MAX_FRAME_BYTES = 1 << 30  # one live message (an item or a result)
LIVE_CHANNEL_RETRY_S = 5.0  # after a channel failed, actor calls for this long before it is tried again
# Where a worker's channel listens: "auto" = loopback while the Ray cluster has one node, the
# node's IP once it has more (routers on other nodes must reach it); or an address to bind.
LIVE_CHANNEL_BIND_HOST = "auto"
LIVE_CHANNEL_AUTH_TIMEOUT_S = 0.5  # a connection that has not sent its token by then is closed
LIVE_CHANNEL_FRAME_TIMEOUT_S = 10.0  # a frame whose first byte arrived must be complete by then
LIVE_CHANNEL_MAX_PENDING = 64  # connections not yet authenticated (more are closed at once)
LIVE_CHANNEL_MAX_CONNECTIONS = 512  # connections in all, per worker
LIVE_CHANNEL_HANDLER_THREADS = 8  # threads that run live items from the channel, per worker

_SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


@dataclass(frozen=True)
class QueueConfig:
    """Admission limits and aging of the job queue.

    Aging: a job that has waited `k * aging_interval_s` seconds is served as if its
    class were `k` levels higher, never above HIGH (REALTIME is only for live
    work). `aging_interval_s <= 0` disables aging.
    """

    max_queued_per_tenant: int = MAX_QUEUED_PER_TENANT
    max_queued_realtime: int = MAX_QUEUED_REALTIME
    max_queued_high: int = MAX_QUEUED_HIGH
    max_queued_normal: int = MAX_QUEUED_NORMAL
    max_queued_low: int = MAX_QUEUED_LOW
    max_queued_idle: int = MAX_QUEUED_IDLE
    aging_interval_s: float = AGING_INTERVAL_S
    retry_after_s: float = RETRY_AFTER_S

    def __post_init__(self) -> None:
        if self.max_queued_per_tenant < 0:
            raise ValueError(f"max_queued_per_tenant must be >= 0, got {self.max_queued_per_tenant}")
        for job_class in JobClass:
            if self.class_limit(job_class) < 0:
                raise ValueError(f"max_queued_{job_class.name.lower()} must be >= 0")
        if self.retry_after_s < 0:
            raise ValueError(f"retry_after_s must be >= 0, got {self.retry_after_s}")

    def class_limit(self, job_class: JobClass | str | int) -> int:
        """The most jobs of one (submitted) class that may wait in the queue."""
        return int(getattr(self, f"max_queued_{JobClass.parse(job_class).name.lower()}"))


@dataclass(frozen=True)
class PreemptionConfig:
    """When a running job yields its device at the next chunk boundary.

    `protected_classes` never yield; REALTIME is always added. `beside_classes` start
    beside a running LOW/IDLE chunk on a GPU worker's higher-priority stream instead of
    waiting for its end. A string is read as comma-separated class names (convenient
    from an environment variable).
    """

    enabled: bool = PREEMPTION_ENABLED
    min_class_gap: int = PREEMPT_MIN_CLASS_GAP
    protected_classes: tuple[str, ...] | str = PREEMPT_PROTECTED_CLASSES
    beside_classes: tuple[str, ...] | str = PREEMPT_BESIDE_CLASSES

    def __post_init__(self) -> None:
        if self.min_class_gap < 1:
            raise ValueError(f"min_class_gap must be >= 1, got {self.min_class_gap}")
        given = self.protected_classes
        if isinstance(given, str):
            given = tuple(part for part in given.split(",") if part.strip())
        names = tuple(dict.fromkeys(JobClass.parse(c).name for c in given))
        if JobClass.REALTIME.name not in names:
            names = (JobClass.REALTIME.name, *names)
        object.__setattr__(self, "protected_classes", names)
        beside = self.beside_classes
        if isinstance(beside, str):
            beside = tuple(part for part in beside.split(",") if part.strip())
        beside = tuple(dict.fromkeys(JobClass.parse(c).name for c in beside))
        if any(JobClass[c] in (JobClass.LOW, JobClass.IDLE) for c in beside):
            raise ValueError(f"beside_classes: LOW and IDLE chunks never run beside others, got {beside}")
        object.__setattr__(self, "beside_classes", beside)


@dataclass(frozen=True)
class FallbackConfig:
    """Which tiers of the fallback chain are used after a fault."""

    same_device_retry: bool = FALLBACK_SAME_DEVICE_RETRY
    allow_cpu: bool = FALLBACK_ALLOW_CPU


@dataclass(frozen=True)
class JobDataConfig:
    """What a worker keeps of a job between its chunks (`actors.workers.job_data.JobDataCache`):
    the job's panel on the device (host memory on CPU and simulated workers) and prepared
    kernel inputs, charged to the device budget, dropped when the job ends."""

    enabled: bool = JOB_DATA_ENABLED
    max_jobs: int = JOB_DATA_MAX_JOBS
    max_host_bytes: int = JOB_DATA_MAX_HOST_BYTES
    max_derived: int = JOB_DATA_MAX_DERIVED
    ended_kept: int = JOB_DATA_ENDED_KEPT

    def __post_init__(self) -> None:
        if self.max_jobs < 1 or self.max_derived < 0 or self.max_host_bytes < 0 or self.ended_kept < 1:
            raise ValueError("job_data: need max_jobs >= 1, max_derived >= 0, max_host_bytes >= 0, ended_kept >= 1")


@dataclass(frozen=True)
class CoordinatorConfig:
    """Everything the coordinator and its managers need, with the defaults above."""

    storage_dir: Path = Path(STORAGE_DIR)
    target_chunk_ms: float = TARGET_CHUNK_MS
    max_cells_per_chunk: int = MAX_CELLS_PER_CHUNK
    worker_call_timeout_s: float = WORKER_CALL_TIMEOUT_S
    max_attempts: int = MAX_ATTEMPTS
    no_capacity_requeues: int = NO_CAPACITY_REQUEUES
    no_capacity_retry_s: float = NO_CAPACITY_RETRY_S
    view_refresh_s: float = VIEW_REFRESH_S
    fault_probe_timeout_s: float = FAULT_PROBE_TIMEOUT_S
    describe_misses_unhealthy: int = DESCRIBE_MISSES_UNHEALTHY
    cpu_workers: int = CPU_WORKERS
    research_on_cpu: bool = RESEARCH_ON_CPU
    node_cpu_workers: int = NODE_CPU_WORKERS
    cpu_worker_threads: int = CPU_WORKER_THREADS
    membership_poll_s: float = MEMBERSHIP_POLL_S
    steal_after_factor: float = STEAL_AFTER_FACTOR
    steal_min_s: float = STEAL_MIN_S
    progress_journal_s: float = PROGRESS_JOURNAL_S
    result_cache_enabled: bool = RESULT_CACHE_ENABLED
    result_cache_max_entries: int = RESULT_CACHE_MAX_ENTRIES
    max_spec_bytes: int = SPEC_MAX_BYTES
    journal_synchronous: str = JOURNAL_SYNCHRONOUS
    chunk_fsync: bool = CHUNK_FSYNC
    checkpoint_after_s: float = CHECKPOINT_AFTER_S
    journal_busy_timeout_s: float = JOURNAL_BUSY_TIMEOUT_S
    list_default_limit: int = LIST_DEFAULT_LIMIT
    list_max_limit: int = LIST_MAX_LIMIT
    queue: QueueConfig = field(default_factory=QueueConfig)
    preemption: PreemptionConfig = field(default_factory=PreemptionConfig)
    fallback: FallbackConfig = field(default_factory=FallbackConfig)
    job_data: JobDataConfig = field(default_factory=JobDataConfig)

    def __post_init__(self) -> None:
        object.__setattr__(self, "storage_dir", Path(self.storage_dir))
        if self.target_chunk_ms <= 0:
            raise ValueError(f"target_chunk_ms must be > 0, got {self.target_chunk_ms}")
        if self.max_cells_per_chunk < 1:
            raise ValueError(f"max_cells_per_chunk must be >= 1, got {self.max_cells_per_chunk}")
        if self.worker_call_timeout_s <= 0:
            raise ValueError(f"worker_call_timeout_s must be > 0, got {self.worker_call_timeout_s}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.cpu_workers < 0:
            raise ValueError(f"cpu_workers must be >= 0, got {self.cpu_workers}")
        if self.node_cpu_workers < 0:
            raise ValueError(f"node_cpu_workers must be >= 0, got {self.node_cpu_workers}")
        if self.cpu_worker_threads < 0:
            raise ValueError(f"cpu_worker_threads must be >= 0 (0: automatic), got {self.cpu_worker_threads}")
        if self.membership_poll_s <= 0 or self.steal_after_factor < 1 or self.steal_min_s < 0:
            raise ValueError("need membership_poll_s > 0, steal_after_factor >= 1 and steal_min_s >= 0")
        if self.progress_journal_s < 0:
            raise ValueError(f"progress_journal_s must be >= 0, got {self.progress_journal_s}")
        if self.result_cache_max_entries < 0:
            raise ValueError("result_cache_max_entries must be >= 0")
        if not 0 < self.max_spec_bytes <= SPEC_MAX_BYTES:
            raise ValueError(f"max_spec_bytes must be in (0, {SPEC_MAX_BYTES}], got {self.max_spec_bytes}")
        sync = str(self.journal_synchronous).upper()
        if sync not in _SYNCHRONOUS_MODES:
            raise ValueError(f"journal_synchronous must be one of {_SYNCHRONOUS_MODES}, got {self.journal_synchronous!r}")
        object.__setattr__(self, "journal_synchronous", sync)
        if not 0 < self.list_default_limit <= self.list_max_limit:
            raise ValueError("need 0 < list_default_limit <= list_max_limit")

    @property
    def journal_path(self) -> Path:
        """The SQLite journal file inside the storage directory."""
        return self.storage_dir / JOURNAL_FILENAME

    @property
    def results_root(self) -> Path:
        """Root of the result store (results live under `<root>/jobs/<job_id>/`)."""
        return self.storage_dir


@dataclass(frozen=True)
class LiveChannelConfig:
    """The direct socket between live routers and workers (see `actors.live.channel`).

    `bind_host` is the address a worker listens on ("auto": 127.0.0.1 on a one-node
    Ray cluster, the node's IP on a multi-node one; "0.0.0.0" for every interface);
    `host`, if set, is the address announced to routers instead of the bound one.
    Unauthenticated connections are closed after `auth_timeout_s`, frames left
    half-sent after `frame_timeout_s`; `max_pending` unauthenticated and
    `max_connections` connections in all. Disabled, live work takes the worker actor call.
    """

    enabled: bool = LIVE_CHANNEL_ENABLED
    host: str | None = None
    bind_host: str = LIVE_CHANNEL_BIND_HOST
    auth_timeout_s: float = LIVE_CHANNEL_AUTH_TIMEOUT_S
    frame_timeout_s: float = LIVE_CHANNEL_FRAME_TIMEOUT_S
    max_pending: int = LIVE_CHANNEL_MAX_PENDING
    max_connections: int = LIVE_CHANNEL_MAX_CONNECTIONS
    handler_threads: int = LIVE_CHANNEL_HANDLER_THREADS
    connections: int = LIVE_CHANNEL_CONNECTIONS
    connect_timeout_s: float = LIVE_CHANNEL_CONNECT_TIMEOUT_S
    call_timeout_s: float = LIVE_CHANNEL_CALL_TIMEOUT_S
    max_frame_bytes: int = LIVE_CHANNEL_MAX_FRAME_BYTES
    retry_s: float = LIVE_CHANNEL_RETRY_S

    def __post_init__(self) -> None:
        if self.retry_s < 0:
            raise ValueError(f"live_channel: retry_s must be >= 0, got {self.retry_s}")
        if self.connections < 1:
            raise ValueError(f"live_channel: connections must be >= 1, got {self.connections}")
        if self.connect_timeout_s <= 0 or self.call_timeout_s <= 0:
            raise ValueError("live_channel: connect_timeout_s and call_timeout_s must be > 0")
        if self.max_frame_bytes < 1024:
            raise ValueError(f"live_channel: max_frame_bytes must be >= 1024, got {self.max_frame_bytes}")
        if not self.bind_host.strip():
            raise ValueError("live_channel: bind_host must be 'auto' or an address")
        if self.auth_timeout_s <= 0 or self.frame_timeout_s <= 0:
            raise ValueError("live_channel: auth_timeout_s and frame_timeout_s must be > 0")
        if self.max_pending < 1 or self.max_connections < self.max_pending or self.handler_threads < 1:
            raise ValueError("live_channel: need max_pending >= 1, max_connections >= max_pending, "
                             f"handler_threads >= 1 (got {self.max_pending}, {self.max_connections}, "
                             f"{self.handler_threads})")
