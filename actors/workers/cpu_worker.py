"""CPUWorker: the same interface as GPUWorker on the CPU backend.

The last tier of the fallback chain, and the only worker on a machine without a GPU.
"""
from __future__ import annotations

import ray

from actors.workers.worker_actor import WORKER_CONCURRENCY_GROUPS, WorkerActorImpl
from actors.settings import Settings


class CPUWorkerImpl(WorkerActorImpl):
    """The CPU worker's body (see WorkerActorImpl for its methods)."""

    def __init__(self, worker_id: str, settings: Settings, device_slot: int = 0) -> None:
        super().__init__(worker_id, "cpu", settings, device_slot)


CPUWorker = ray.remote(num_gpus=0, max_restarts=-1, max_task_retries=0,
                         concurrency_groups=WORKER_CONCURRENCY_GROUPS)(CPUWorkerImpl)
