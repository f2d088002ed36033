"""Worker membership: which workers the cluster should have, and which ones the pool has.

Ray-free. `desired_workers(nodes, ...)` says, for the alive nodes of a cluster, which
workers should exist: one GPU worker per GPU of every node (pinned to its node), the
simulated devices on the coordinator's node when the cluster has no GPU (or
simulation is forced), and CPU workers (`cpu_workers` on the coordinator's node,
`node_cpu_workers` on every other node), each with a share of its node's CPUs
(`cpu_worker_threads`). The executor (`RayExecutor`) compares that
with what runs, starts the missing workers (each is prewarmed before it is reported)
and retires the workers of nodes that left. `Membership` is the coordinator's side:
the pool of ready workers, when each joined, and which were lost; a worker whose
actor died raises `WorkerLost` from its client, and its chunks go back to the queue.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from actors.config import HOME_RESERVED_THREADS, HOST_THREADS_PER_GPU_WORKER


class WorkerLost(RuntimeError):
    """The worker's process (or its node) is gone: its chunk must run again elsewhere.

    Not a device fault: a lost chunk is put back into the queue, it does not walk the
    fallback chain and does not count as an attempt of the job.
    """

    def __init__(self, worker_id: str, reason: str = "") -> None:
        super().__init__(f"worker {worker_id} lost" + (f": {reason}" if reason else ""))
        self.worker_id = worker_id
        self.reason = reason


@dataclass(frozen=True)
class NodeInfo:
    """One node of the cluster as membership needs it."""

    node_id: str
    alive: bool = True
    gpus: int = 0
    labels: Mapping[str, str] = field(default_factory=dict)
    cpus: int = 0  # Ray's CPU resource of the node (0: unknown)


@dataclass(frozen=True)
class WorkerSpec:
    """A worker that should exist: where, of which kind, with which Ray GPU share."""

    worker_id: str
    kind: str  # "gpu" or "cpu"
    node_id: str
    num_gpus: float
    slot: int
    labels: tuple[tuple[str, str], ...] = ()
    threads: int = 0  # a CPU worker's compute threads (Numba); 0: the library's default


def cpu_worker_threads(node_cpus: int, gpu_workers: int, cpu_workers: int, home: bool,
                       configured: int = 0) -> int:
    """Compute threads of each CPU worker of a node: `configured` when set (> 0), else the node's
    CPUs less `HOST_THREADS_PER_GPU_WORKER` per GPU worker (launches, copies, result tables: a
    GPU sweep's host side is most of its wall time) and `HOME_RESERVED_THREADS` on the
    coordinator's node, shared by its CPU workers, at least 1. 0 (the library's default) when
    the node's CPUs are unknown."""
    if configured > 0:
        return configured
    if node_cpus <= 0 or cpu_workers <= 0:
        return 0
    spare = node_cpus - HOST_THREADS_PER_GPU_WORKER * gpu_workers - (HOME_RESERVED_THREADS if home else 0)
    return max(1, spare // cpu_workers)


def desired_workers(nodes: Iterable[NodeInfo], home_node: str | None, *, simulation_mode: str = "auto",
                    simulated_devices: int = 1, cpu_workers: int = 1, node_cpu_workers: int = 1,
                    cpu_threads: int = 0) -> list[WorkerSpec]:
    """The workers the alive `nodes` should have (see the module docstring); CPU workers get
    `cpu_worker_threads(...)` threads (`cpu_threads` > 0 fixes it).

    Workers of the coordinator's node (`home_node`) keep the short ids of a one-node
    service ("gpu-0", "simgpu-0", "cpu-0"); those of other nodes add the node id's head
    ("gpu-0-ab12cd34").
    """
    alive = [n for n in nodes if n.alive]
    if home_node is None and alive:
        home_node = alive[0].node_id
    any_gpu = any(n.gpus > 0 for n in alive)
    simulate = simulation_mode == "always" or (simulation_mode == "auto" and not any_gpu)
    specs: list[WorkerSpec] = []
    for node in alive:
        home = node.node_id == home_node
        suffix = "" if home else f"-{node.node_id[:8]}"
        labels = tuple(sorted((str(k), str(v)) for k, v in node.labels.items()))
        gpu_specs: list[WorkerSpec] = []
        if node.gpus > 0 and simulation_mode != "always":
            gpu_specs = [WorkerSpec(f"gpu-{i}{suffix}", "gpu", node.node_id, 1, i, labels) for i in range(node.gpus)]
        elif home and simulate:
            gpu_specs = [WorkerSpec(f"simgpu-{i}", "gpu", node.node_id, 0, i, labels) for i in range(simulated_devices)]
        n_cpu = cpu_workers if home else node_cpu_workers
        threads = cpu_worker_threads(node.cpus, len(gpu_specs), n_cpu, home, cpu_threads)
        specs += gpu_specs
        specs += [WorkerSpec(f"cpu-{i}{suffix}", "cpu", node.node_id, 0, i, labels, threads) for i in range(n_cpu)]
    return specs


@dataclass
class Member:
    """A worker in the coordinator's pool."""

    worker_id: str
    client: Any
    joined_at: float
    node_id: str | None = None


@dataclass(frozen=True)
class MemberChanges:
    """What an executor's `poll_members` reports: ready workers that joined, ids that left."""

    joined: Sequence[Any] = ()  # WorkerClients, prewarmed
    left: Sequence[str] = ()


class Membership:
    """The pool of ready workers, with join times and a log of joins and losses."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, log_size: int = 256) -> None:
        self._clock = clock
        self._members: dict[str, Member] = {}
        self._events: list[tuple[float, str, str]] = []
        self._log_size = log_size

    def join(self, client: Any, node_id: str | None = None) -> Member:
        member = Member(client.worker_id, client, self._clock(), node_id)
        self._members[client.worker_id] = member
        self._event("joined", client.worker_id)
        return member

    def leave(self, worker_id: str, why: str = "left") -> Member | None:
        member = self._members.pop(worker_id, None)
        if member is not None:
            self._event(why, worker_id)
        return member

    def _event(self, what: str, worker_id: str) -> None:
        self._events.append((self._clock(), what, worker_id))
        del self._events[:-self._log_size]

    def __contains__(self, worker_id: object) -> bool:
        return worker_id in self._members

    def __len__(self) -> int:
        return len(self._members)

    def ids(self) -> list[str]:
        return list(self._members)

    def client(self, worker_id: str) -> Any:
        return self._members[worker_id].client

    def events(self) -> list[dict[str, Any]]:
        """Joins and losses, oldest first: [{"at", "event", "worker_id"}]."""
        return [{"at": t, "event": e, "worker_id": w} for t, e, w in self._events]
