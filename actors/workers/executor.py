"""In-process workers for tests and notebooks (like vLLM's UniProcExecutor).

The same `Worker` class the Ray actors wrap, called from a thread pool so that
the coordinator's asyncio loop is never blocked.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from actors.config import JobDataConfig
from actors.messages import WorkItem, WorkResult
from actors.workers.worker import Worker
from gpu_hal.config import GpuHalConfig
from kernels.data import Panel


class LocalWorkerClient:
    """A `WorkerClient` over an in-process Worker."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.worker_id = worker.worker_id

    async def execute(self, item: WorkItem, panel: Any) -> WorkResult:
        return await asyncio.to_thread(self.worker.execute, item, panel)

    async def describe(self) -> dict[str, Any]:
        return self.worker.describe()

    async def status(self) -> dict[str, Any]:
        return self.worker.status()

    async def end_job(self, job_id: str) -> int:
        return await asyncio.to_thread(self.worker.end_job, job_id)


class LocalExecutor:
    """Starts `gpu_workers` (real or simulated devices) and `cpu_workers` in-process."""

    def __init__(self, config: GpuHalConfig, gpu_workers: int, cpu_workers: int, warm_up: bool = False,
                 model_root: Path | None = None, job_data: JobDataConfig | None = None) -> None:
        self.config = config
        self.gpu_workers = gpu_workers
        self.cpu_workers = cpu_workers
        self.warm = warm_up
        self.model_root = model_root
        self.job_data = job_data
        self.workers: list[Worker] = []

    async def start_workers(self) -> list[LocalWorkerClient]:
        self.workers = [Worker(f"gpu-{i}", "gpu", self.config, device_slot=i, model_root=self.model_root,
                               job_data=self.job_data) for i in range(self.gpu_workers)]
        self.workers += [Worker(f"cpu-{i}", "cpu", self.config, model_root=self.model_root, job_data=self.job_data)
                         for i in range(self.cpu_workers)]
        for w in self.workers:
            w.init_device()
            if self.warm:
                w.warm_up()
        return [LocalWorkerClient(w) for w in self.workers]

    def share(self, panel: Panel) -> Panel:
        return panel
