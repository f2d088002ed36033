"""GPUWorker: the long-lived Ray actor that owns one GPU (one per GPU in the cluster).

It owns a `gpu_hal.Device` and its `RealtimePath` (through `actors.workers.worker.Worker`),
starts them lazily once Ray has set CUDA_VISIBLE_DEVICES, and is threaded so that
live work never waits for a research chunk in flight. On a machine with no GPU
the same actor runs a simulated device (num_gpus=0), labelled simulated.
"""
from __future__ import annotations

import ray

from actors.workers.worker_actor import WORKER_CONCURRENCY_GROUPS, WorkerActorImpl
from actors.settings import Settings


class GPUWorkerImpl(WorkerActorImpl):
    """The GPU worker's body (see WorkerActorImpl for its methods)."""

    def __init__(self, worker_id: str, settings: Settings, device_slot: int = 0) -> None:
        super().__init__(worker_id, "gpu", settings, device_slot)


GPUWorker = ray.remote(num_gpus=1, max_restarts=-1, max_task_retries=0,
                         concurrency_groups=WORKER_CONCURRENCY_GROUPS)(GPUWorkerImpl)
