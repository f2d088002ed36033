"""The tenant checks a job passes before it is accepted, and the refusals counted by reason.

Run by the coordinator's `submit` for every entry point (HTTP, gRPC, Ray client, Ray
Jobs): the priority class must be granted to the tenant (ClassNotAllowed: HTTP 403),
the tenant must be under its running and queued job quotas (TenantLimitExceeded:
HTTP 429) and a sweep under its combination quota (HTTP 413).
"""
from __future__ import annotations

import threading
from collections import defaultdict
from typing import Callable

from actors.tenants.quotas import ClassNotAllowed, QuotaBook, TenantLimitExceeded
from gpu_hal.streams.priority import JobClass


class TenantAdmission:
    """Applies a QuotaBook at submit time; counts refusals per (tenant, reason)."""

    def __init__(self, quotas: QuotaBook, on_refusal: Callable[[str, str], None] | None = None) -> None:
        self.quotas = quotas
        self._on_refusal = on_refusal
        self._lock = threading.Lock()
        self._refusals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def on_refusal(self, fn: Callable[[str, str], None]) -> None:
        """Also call `fn(tenant, reason)` on every refusal (metrics)."""
        self._on_refusal = fn

    def _refuse(self, tenant: str, reason: str, exc: Exception) -> Exception:
        with self._lock:
            self._refusals[tenant][reason] += 1
        if self._on_refusal is not None:
            self._on_refusal(tenant, reason)
        return exc

    def authorize(self, tenant: str, job_class: JobClass | str | int) -> JobClass:
        try:
            return self.quotas.authorize(tenant, job_class)
        except ClassNotAllowed as exc:
            raise self._refuse(tenant, "class_not_allowed", exc) from None

    def check_queued(self, tenant: str, waiting: int) -> None:
        """Before accepting one more job: the tenant's quota of jobs not yet finished
        (waiting or running), `max_queued_jobs`. Running jobs are bounded at dispatch
        (`may_start`), so a tenant over `max_running_jobs` waits rather than fails."""
        q = self.quotas.get(tenant)
        if q.max_queued_jobs is not None and waiting + 1 > q.max_queued_jobs:
            raise self._refuse(tenant, "max_queued_jobs",
                               TenantLimitExceeded(tenant, "max_queued_jobs", q.max_queued_jobs, waiting + 1))

    def check_sweep(self, tenant: str, combinations: int) -> None:
        q = self.quotas.get(tenant)
        if q.max_sweep_combinations is not None and combinations > q.max_sweep_combinations:
            raise self._refuse(tenant, "max_sweep_combinations",
                               TenantLimitExceeded(tenant, "max_sweep_combinations", q.max_sweep_combinations,
                                                   combinations))

    def may_start(self, tenant: str, running: int) -> bool:
        """Whether one more of the tenant's jobs may start running now (max_running_jobs)."""
        q = self.quotas.get(tenant)
        return q.max_running_jobs is None or running < q.max_running_jobs

    def refusals(self, tenant: str | None = None) -> dict[str, dict[str, int]]:
        with self._lock:
            data = {t: dict(r) for t, r in self._refusals.items()}
        return data if tenant is None else {tenant: data.get(tenant, {})}
