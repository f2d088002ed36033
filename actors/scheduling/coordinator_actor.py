"""The coordinator's Ray shell: the named, restartable actor and how callers find it.

The logic lives in the Ray-free `actors.scheduling.coordinator.Coordinator`; the
workers it drives are placed by `actors.workers.worker_actor.RayExecutor`.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import ray

from actors.datasets import DatasetStore
from actors.heap import freeze_long_lived
from actors.messages import WorkResult
from actors.scheduling.coordinator import Coordinator
from actors.settings import Settings
from actors.workers.worker_actor import RayExecutor
from kernels.data import Panel, synthetic_panel

log = logging.getLogger(__name__)


def build_dataset_store(settings: Settings) -> DatasetStore:
    d = settings.data
    return DatasetStore(settings.storage_dir, {
        d.synthetic_name: lambda: synthetic_panel(d.synthetic_assets, d.synthetic_bars, seed=d.synthetic_seed),
    }, max_cache_bytes=d.cache_max_bytes)


def build_tenancy(settings: Settings) -> tuple[Any, Any]:
    """The fair-share policy and the tenant admission of the service (None, None when disabled)."""
    if not settings.tenants.enabled:
        return None, None
    from actors.scheduling.queues.fair_share import WeightedFairShare  # noqa: PLC0415
    from actors.tenants.admission import TenantAdmission  # noqa: PLC0415

    quotas = settings.tenants.book(settings.storage_dir)
    return WeightedFairShare(quotas.weight), TenantAdmission(quotas)


class CoordinatorActorImpl:
    """The named, restartable coordinator actor (async: it never blocks on ray.get)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.executor = RayExecutor(settings)
        policy, admission = build_tenancy(settings)
        self.core = Coordinator(settings.coordinator_config(), self.executor, build_dataset_store(settings),
                                policy=policy, admission=admission)
        self._start_lock: asyncio.Lock | None = None
        self._started = False

    async def _ensure_started(self) -> None:
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if not self._started:
                await self.core.start()
                if self.settings.ray.gc_freeze:
                    freeze_long_lived("coordinator")
                self._started = True

    async def start(self) -> dict[str, Any]:
        await self._ensure_started()
        return await self.core.stats()

    async def submit(self, kind: str, payload: dict, priority: str = "LOW", tenant: str = "default") -> str:
        await self._ensure_started()
        return await self.core.submit(kind, payload, priority, tenant)

    async def submit_as(self, kind: str, payload: dict, priority: str, api_key: str | None,
                        tenant: str | None = None) -> str:
        """`submit` for Ray client and Ray Jobs callers: the tenant is the API key's when keys are
        configured (actors.tenants.identity), and its classes are authorised like any request."""
        from actors.tenants.identity import resolve_tenant  # noqa: PLC0415

        serve = self.settings.serve
        who = resolve_tenant(serve.api_keys, serve.default_tenant, api_key, tenant)
        await self._ensure_started()
        return await self.core.submit(kind, payload, priority, who)

    async def status(self, job_id: str) -> dict[str, Any]:
        await self._ensure_started()
        return await self.core.status(job_id)

    async def wait(self, job_id: str, timeout_s: float) -> dict[str, Any]:
        await self._ensure_started()
        return await self.core.wait(job_id, timeout_s)

    async def result(self, job_id: str) -> Any:
        await self._ensure_started()
        return await self.core.result(job_id)

    async def result_as(self, job_id: str, convert: Any) -> Any:
        """`convert(status, result)` of a succeeded job, run in this process (only its output travels)."""
        await self._ensure_started()
        return await self.core.result_as(job_id, convert)

    async def wait_result(self, job_id: str, timeout_s: float, convert: Any) -> tuple[dict[str, Any], Any]:
        """`wait`, then the succeeded job's `convert(status, result)` (see `Coordinator.wait_result`)."""
        await self._ensure_started()
        return await self.core.wait_result(job_id, timeout_s, convert)

    async def submit_wait_result(self, kind: str, payload: dict, priority: str, tenant: str, timeout_s: float,
                                 convert: Any) -> tuple[str, dict[str, Any], Any]:
        """`submit` then `wait_result` in one call (the HTTP replica's `wait=true`)."""
        await self._ensure_started()
        return await self.core.submit_wait_result(kind, payload, priority, tenant, timeout_s, convert)

    async def cancel(self, job_id: str) -> dict[str, Any]:
        await self._ensure_started()
        return await self.core.cancel(job_id)

    async def list(self, tenant: str | None = None, state: str | None = None, limit: int | None = None) -> list:
        await self._ensure_started()
        return await self.core.list(tenant, state, limit)

    async def run_live(self, kind: str, payload: dict, priority: str = "REALTIME", tenant: str = "live") -> WorkResult:
        await self._ensure_started()
        return await self.core.run_live(kind, payload, priority, tenant)

    async def devices(self) -> list[dict[str, Any]]:
        await self._ensure_started()
        return await self.core.devices()

    async def list_models(self) -> list[dict[str, Any]]:
        await self._ensure_started()
        return await self.core.list_models()

    async def get_model(self, name: str, version: int | None = None) -> dict[str, Any]:
        await self._ensure_started()
        return await self.core.get_model(name, version)

    async def routing_table(self, dataset: str | None = None) -> dict[str, Any]:
        await self._ensure_started()
        return await self.core.routing_table(dataset)

    async def stats(self) -> dict[str, Any]:
        await self._ensure_started()
        return await self.core.stats()

    async def service_settings(self) -> Settings:
        """The service's settings (clients that attach take its storage directory from here)."""
        return self.settings

    async def chunk_runs(self, job_id: str | None = None) -> list[dict[str, Any]]:
        """Recorded chunk boundaries (start, end, worker) of a job, or of every job."""
        await self._ensure_started()
        return await self.core.chunk_runs(job_id)

    async def get_quota(self, tenant: str) -> dict[str, Any]:
        return await self.core.get_quota(tenant)

    async def set_quota(self, tenant: str, changes: dict[str, Any]) -> dict[str, Any]:
        return await self.core.set_quota(tenant, changes)

    async def list_quotas(self) -> dict[str, Any]:
        return await self.core.list_quotas()

    async def tenant_usage(self, tenant: str) -> dict[str, Any]:
        await self._ensure_started()
        return await self.core.tenant_usage(tenant)

    async def register_dataset(self, name: str, panel: Panel, tenant: str | None = None) -> dict[str, Any]:
        """Store a dataset: `tenant`'s own, or shared (None: admins and the Ray client)."""
        meta = await asyncio.to_thread(self.core.datasets.register, name, panel, tenant)
        return meta.to_public()

    async def list_datasets(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """Shared datasets and `tenant`'s own."""
        metas = await asyncio.to_thread(self.core.datasets.list, tenant)
        return [m.to_public() for m in metas]

    async def inject_fault(self, worker_id: str, action: str, **kwargs: Any) -> dict[str, Any]:
        await self._ensure_started()
        return await self.executor.handles[worker_id].inject_fault.remote(action, **kwargs)

    async def worker_handle(self, worker_id: str) -> Any:
        await self._ensure_started()
        return self.executor.handles[worker_id]


CoordinatorActor = ray.remote(CoordinatorActorImpl)


def get_or_create_coordinator(settings: Settings) -> Any:
    """The named coordinator actor, created if it does not exist (restartable)."""
    rc = settings.ray
    options: dict[str, Any] = dict(
        name=rc.coordinator_name,
        namespace=rc.namespace,
        get_if_exists=True,
        num_cpus=0,
        max_restarts=-1,
        max_task_retries=-1,
        max_concurrency=1000,
    )
    if rc.detached:
        options["lifetime"] = "detached"
    return CoordinatorActor.options(**options).remote(settings)
