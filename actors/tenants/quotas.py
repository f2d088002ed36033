"""Per-tenant quotas: from configuration, changeable at run time by an admin, persisted.

A `TenantQuota` says what one tenant may use: memory per device (bytes, or a
fraction of the device budget), its weight in the fair share of device time, the
priority classes it may use (REALTIME and HIGH are granted, never claimed), how many
jobs it may have running and queued, and the largest sweep it may submit. The
`QuotaBook` answers for any tenant: its own entry, else the configured default. Run
time changes (`set`) are written to a JSON file in the storage directory before they
take effect, so that they survive a restart, and win over the configuration.
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from gpu_hal.streams.priority import JobClass

DEFAULT_CLASSES = ("NORMAL", "LOW", "IDLE")  # what a tenant may use unless granted more
ALL_CLASSES = tuple(c.name for c in JobClass)
LIVE_TENANT = "live"  # the live routes' tenant (ServeConfig.live_tenant): granted every class by default
QUOTA_FILE = "tenant_quotas.json"


class ClassNotAllowed(PermissionError):
    """A tenant asked for a priority class it is not granted (HTTP 403)."""

    def __init__(self, tenant: str, job_class: str, allowed: tuple[str, ...]) -> None:
        self.tenant, self.job_class, self.allowed = tenant, job_class, allowed
        super().__init__(f"tenant {tenant!r} may not use priority class {job_class}; "
                         f"allowed: {', '.join(allowed)}")

    def __reduce__(self):  # travels across Ray processes
        return (type(self), (self.tenant, self.job_class, self.allowed))


class TenantsDisabled(LookupError):
    """Tenant quotas are switched off in this service's settings (tenants.enabled = false)."""


class TenantLimitExceeded(RuntimeError):
    """A tenant is at one of its quotas (running or queued jobs, sweep size); names it."""

    def __init__(self, tenant: str, quota: str, limit: int, asked: int) -> None:
        self.tenant, self.quota, self.limit, self.asked = tenant, quota, int(limit), int(asked)
        super().__init__(f"tenant {tenant!r} is at its {quota} quota ({asked:,} > {limit:,})")

    def __reduce__(self):
        return (type(self), (self.tenant, self.quota, self.limit, self.asked))


@dataclass(frozen=True)
class TenantQuota:
    """What one tenant may use. None: no limit of that kind (the device's or the service's apply)."""

    memory_bytes: int | None = None          # per device
    memory_fraction: float | None = None     # per device, of its budget (when memory_bytes is None)
    weight: float = 1.0                      # share of device time within a class
    allowed_classes: tuple[str, ...] = DEFAULT_CLASSES
    max_running_jobs: int | None = None
    max_queued_jobs: int | None = None
    max_sweep_combinations: int | None = None

    def __post_init__(self) -> None:
        classes = tuple(JobClass.parse(c).name for c in self.allowed_classes)
        if not classes:
            raise ValueError("allowed_classes must name at least one class")
        object.__setattr__(self, "allowed_classes", tuple(sorted(set(classes), key=lambda n: JobClass[n])))
        if not (self.weight > 0 and self.weight < float("inf")):
            raise ValueError(f"weight must be a positive number, got {self.weight!r}")
        if self.memory_fraction is not None and not 0.0 < self.memory_fraction <= 1.0:
            raise ValueError(f"memory_fraction must be in (0, 1], got {self.memory_fraction!r}")
        for name in ("memory_bytes", "max_running_jobs", "max_queued_jobs", "max_sweep_combinations"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise ValueError(f"{name} must be a non-negative integer or null, got {v!r}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], base: "TenantQuota | None" = None) -> "TenantQuota":
        """A quota from JSON-like data; unknown keys are refused (naming them), missing ones come from `base`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown quota field(s) {unknown}; fields are {sorted(known)}")
        values = dict(data)
        if "allowed_classes" in values:
            ac = values["allowed_classes"]
            if isinstance(ac, str):
                ac = [a.strip() for a in ac.split(",") if a.strip()]
            values["allowed_classes"] = tuple(ac)
        return replace(base or cls(), **values)

    def to_public(self) -> dict[str, Any]:
        d = asdict(self)
        d["allowed_classes"] = list(self.allowed_classes)
        return d

    def allows(self, job_class: JobClass | str | int) -> bool:
        return JobClass.parse(job_class).name in self.allowed_classes

    def memory_limit(self, device_budget: int) -> int | None:
        """This tenant's pool limit on a device with that budget (None: the device default)."""
        if self.memory_bytes is not None:
            return min(int(self.memory_bytes), int(device_budget))
        if self.memory_fraction is not None:
            return int(device_budget * self.memory_fraction)
        return None


class QuotaBook:
    """Quotas by tenant: configured entries and default, run-time overrides on disk."""

    def __init__(self, default: TenantQuota, configured: Mapping[str, TenantQuota], storage_dir: str | Path) -> None:
        self._default = default
        self._configured = dict(configured)
        self._path = Path(storage_dir) / QUOTA_FILE
        self._lock = threading.Lock()
        self._overrides: dict[str, TenantQuota] = self._load()

    def _load(self) -> dict[str, TenantQuota]:
        if not self._path.exists():
            return {}
        raw = json.loads(self._path.read_text())
        return {tenant: TenantQuota.from_mapping(q) for tenant, q in raw.items()}

    def _save(self, overrides: Mapping[str, TenantQuota]) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        with open(tmp, "w") as fh:
            json.dump({t: q.to_public() for t, q in sorted(overrides.items())}, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._path)

    def get(self, tenant: str) -> TenantQuota:
        with self._lock:
            return self._overrides.get(tenant) or self._configured.get(tenant) or self._default

    def set(self, tenant: str, changes: Mapping[str, Any]) -> TenantQuota:
        """Change a tenant's quota (fields not given keep their value); durable before it applies."""
        with self._lock:
            base = self._overrides.get(tenant) or self._configured.get(tenant) or self._default
            quota = TenantQuota.from_mapping(changes, base)
            overrides = {**self._overrides, tenant: quota}
            self._save(overrides)
            self._overrides = overrides
            return quota

    def reset(self, tenant: str) -> TenantQuota:
        """Drop a tenant's run-time override (back to its configured quota)."""
        with self._lock:
            overrides = {t: q for t, q in self._overrides.items() if t != tenant}
            self._save(overrides)
            self._overrides = overrides
        return self.get(tenant)

    def tenants(self) -> dict[str, TenantQuota]:
        """Every tenant with an entry (configured or set), with its effective quota."""
        with self._lock:
            names = set(self._configured) | set(self._overrides)
        return {t: self.get(t) for t in sorted(names)}

    def weight(self, tenant: str) -> float:
        return self.get(tenant).weight

    def authorize(self, tenant: str, job_class: JobClass | str | int) -> JobClass:
        """The class, if the tenant may use it; else ClassNotAllowed (naming the allowed ones)."""
        jc = JobClass.parse(job_class)
        quota = self.get(tenant)
        if not quota.allows(jc):
            raise ClassNotAllowed(tenant, jc.name, quota.allowed_classes)
        return jc


@dataclass(frozen=True)
class TenantsConfig:
    """Tenant quotas in the service's settings (RAYQUANT_TENANTS__*, or `tenants:` in the YAML file).

    `default` applies to every tenant without an entry; `tenants` maps names to their
    quotas (e.g. RAYQUANT_TENANTS__TENANTS='{"desk": {"allowed_classes": ["HIGH", "LOW"], "weight": 3}}').
    Admins change them at run time (PUT /v1/admin/tenants/{tenant}); those changes are
    kept in the storage directory and win over this configuration.
    """

    enabled: bool = True
    default: TenantQuota = field(default_factory=TenantQuota)
    tenants: Mapping[str, TenantQuota] | str = field(  # str: a JSON object (the environment form)
        default_factory=lambda: {LIVE_TENANT: TenantQuota(allowed_classes=ALL_CLASSES)})

    def __post_init__(self) -> None:
        d = self.default if isinstance(self.default, TenantQuota) else TenantQuota.from_mapping(dict(self.default))
        object.__setattr__(self, "default", d)
        raw = json.loads(self.tenants) if isinstance(self.tenants, str) else dict(self.tenants)
        if not isinstance(raw, dict):
            raise ValueError("tenants: expected a JSON object of tenant -> quota")
        tenants = {LIVE_TENANT: TenantQuota(allowed_classes=ALL_CLASSES)}  # unless configured otherwise
        tenants.update({str(t): q if isinstance(q, TenantQuota) else TenantQuota.from_mapping(dict(q))
                        for t, q in raw.items()})
        object.__setattr__(self, "tenants", tenants)

    def book(self, storage_dir: str | Path) -> QuotaBook:
        return QuotaBook(self.default, self.tenants, storage_dir)
