"""Where work runs: placement on the best worker, and the fallback chain after a fault.

Placement (`choose`): the healthy GPU worker with the most free budget, ties broken
by the least load (running items), then real before simulated, then worker id;
with no such GPU, the healthy CPU worker with the least load.

Fallback (`next_tier`), after an attempt on `failed` faulted (CUDA error, health
FAILED, worker death):

1. SAME_DEVICE: a fresh stream on the same GPU worker, once per job, only while the
   job has not fallen back yet and only if that worker is (still, or again) healthy
   in the current `workers` view;
2. OTHER_GPU: the best healthy GPU worker this job has not tried yet;
3. CPU: the least-loaded healthy CPU worker, preferring one the job has not tried
   (a CPU worker restarted after a crash may be tried again: the coordinator's
   `max_attempts` bounds the retries);
4. otherwise `NoCapacity`.

The chain only moves down: after a job reached OTHER_GPU it never goes back to
SAME_DEVICE, and after CPU it stays on CPU. Ray-free: workers are described by
`WorkerView` snapshots that the coordinator builds from its own bookkeeping.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal, Sequence

from actors.config import FallbackConfig
from actors.jobs.records import Tier
from gpu_hal.streams.priority import JobClass

WorkerKind = Literal["gpu", "cpu"]


class NoCapacity(Exception):
    """No healthy worker is left for this job (or none at all)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class WorkerView:
    """A snapshot of one worker as placement sees it."""

    worker_id: str
    kind: WorkerKind
    device: int | None = None
    healthy: bool = True
    free_budget_bytes: int = 0
    load: int = 0
    simulated: bool = False
    node_id: str | None = None  # the Ray node it runs on (None in-process)
    labels: tuple[tuple[str, str], ...] = ()  # its node's labels, e.g. (("gpu_type", "H100"),)
    pressure: str = "NORMAL"  # its device's memory-pressure level (gpu_hal.memory.pressure): SHED/RECLAIM take no LOW/IDLE

    def sheds(self, job_class: int) -> bool:
        """Whether this worker's device refuses new work of that class now (memory pressure)."""
        from gpu_hal.memory.pressure import SHEDDABLE, PressureLevel  # noqa: PLC0415

        return PressureLevel[self.pressure] >= PressureLevel.SHED and JobClass(int(job_class)) in SHEDDABLE

    def __post_init__(self) -> None:
        if self.kind not in ("gpu", "cpu"):
            raise ValueError(f"worker kind must be 'gpu' or 'cpu', got {self.kind!r}")
        if self.kind == "cpu" and self.device is not None:
            raise ValueError("a CPU worker has no device index")

    @property
    def label(self) -> str:
        """The job's `device` field: "gpu:0", "simgpu:0" for a simulated device, or "cpu"."""
        if self.kind == "cpu":
            return "cpu"
        prefix = "simgpu" if self.simulated else "gpu"
        return prefix if self.device is None else f"{prefix}:{self.device}"

    @property
    def worker_class(self) -> str:
        """What throughput is measured per: "gpu", "simgpu" or "cpu"."""
        if self.kind == "cpu":
            return "cpu"
        return "simgpu" if self.simulated else "gpu"


@dataclass(frozen=True)
class Attempt:
    """One placement of a job: which worker and which tier."""

    worker_id: str
    tier: Tier

    def __post_init__(self) -> None:
        object.__setattr__(self, "tier", Tier(self.tier))


def _gpu_key(w: WorkerView) -> tuple:
    return (-w.free_budget_bytes, w.load, w.simulated, w.worker_id)


def _cpu_key(w: WorkerView) -> tuple:
    return (w.load, w.worker_id)


class FallbackPolicy:
    """Placement and the fallback chain; pure functions of `WorkerView` lists."""

    def __init__(self, config: FallbackConfig | None = None) -> None:
        self.config = config if config is not None else FallbackConfig()

    def choose(
        self, workers: Iterable[WorkerView], exclude: Iterable[str] = (), *, min_free_bytes: int = 0
    ) -> WorkerView:
        """The best worker for new work (see the module docstring); NoCapacity if none."""
        excluded = set(exclude)
        pool = [w for w in workers if w.healthy and w.worker_id not in excluded]
        gpus = [w for w in pool if w.kind == "gpu" and w.free_budget_bytes >= min_free_bytes]
        if gpus:
            return min(gpus, key=_gpu_key)
        cpus = [w for w in pool if w.kind == "cpu"]
        if cpus:
            return min(cpus, key=_cpu_key)
        raise NoCapacity("no healthy worker available" + (f" (excluding {sorted(excluded)})" if excluded else ""))

    def next_tier(
        self,
        failed: WorkerView,
        attempt_history: Sequence[Attempt | tuple[str, Tier | str]],
        workers: Iterable[WorkerView],
        *,
        min_free_bytes: int = 0,
    ) -> tuple[WorkerView, Tier]:
        """Where a job goes after its attempt on `failed` faulted, and at which tier.

        `attempt_history` lists the job's attempts oldest first (the failed one may
        be included); `workers` is the current view (a dead worker is absent or
        unhealthy). Raises NoCapacity when the chain is exhausted.
        """
        history = [a if isinstance(a, Attempt) else Attempt(a[0], Tier(a[1])) for a in attempt_history]
        tried = {a.worker_id for a in history} | {failed.worker_id}
        reached = max((a.tier.rank for a in history), default=Tier.PRIMARY.rank)
        current = list(workers)
        by_id = {w.worker_id: w for w in current}

        if (
            self.config.same_device_retry
            and failed.kind == "gpu"
            and reached == Tier.PRIMARY.rank
            and not any(a.tier is Tier.SAME_DEVICE for a in history)
        ):
            now = by_id.get(failed.worker_id)
            if now is not None and now.healthy and now.kind == "gpu":
                return now, Tier.SAME_DEVICE

        if reached <= Tier.OTHER_GPU.rank:
            gpus = [
                w
                for w in current
                if w.kind == "gpu" and w.healthy and w.worker_id not in tried and w.free_budget_bytes >= min_free_bytes
            ]
            if gpus:
                return min(gpus, key=_gpu_key), Tier.OTHER_GPU

        if self.config.allow_cpu:
            cpus = [w for w in current if w.kind == "cpu" and w.healthy]
            if cpus:
                return min(cpus, key=lambda w: (w.worker_id in tried, *_cpu_key(w))), Tier.CPU

        raise NoCapacity(
            f"no fallback left after a fault on {failed.worker_id} "
            f"(tried {sorted(tried)}; {sum(w.healthy for w in current)} healthy workers)"
        )
