"""Tenant routes: quotas (admins, changeable at run time) and usage accounting.

- `GET /v1/admin/tenants` and `GET/PUT /v1/admin/tenants/{tenant}`: an admin key's
  caller (ServeConfig.admin_tenants) reads and changes any tenant's quota; the change
  is durable before it applies and the next request sees it. Others get 403.
- `GET /v1/tenants/{tenant}/usage`: device seconds by device kind, pool bytes per
  device (current and peak), jobs by state and refusals by reason; a caller's own
  tenant, or any tenant with the admin key.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from deployments.http.errors import ApiError
from deployments.http.routes import API_VERSION, PrincipalDep, ServiceDep
from deployments.http.schemas import TENANT_PATTERN, ErrorBody, QuotaPublic, QuotaUpdate, TenantUsagePublic

_ERRORS = {code: {"model": ErrorBody} for code in (401, 403, 422, 503)}


def _tenant(tenant: str) -> str:
    if not TENANT_PATTERN.match(tenant):
        raise ApiError(422, "validation_error", "tenant: 1-64 letters, digits, '_', '.' or '-'", "tenant")
    return tenant


def _require_admin(principal: Any) -> None:
    if not principal.admin:
        raise ApiError(403, "forbidden", "tenant quotas are changed and listed with an admin key "
                                         "(ServeConfig.admin_tenants)")


def build_tenant_router() -> APIRouter:
    """The quota and usage routes."""
    router = APIRouter(prefix=f"/{API_VERSION}", responses=_ERRORS, tags=["tenants"])

    @router.get("/admin/tenants", response_model=dict[str, QuotaPublic])
    async def list_quotas(svc: ServiceDep, principal: PrincipalDep) -> Any:
        """Every tenant with a configured or changed quota (admin)."""
        _require_admin(principal)
        quotas = await svc.call("list_quotas")
        return {t: {"tenant": t, **q} for t, q in quotas.items()}

    @router.get("/admin/tenants/{tenant}", response_model=QuotaPublic)
    async def get_quota(tenant: str, svc: ServiceDep, principal: PrincipalDep) -> Any:
        """A tenant's effective quota (its own entry, else the default) (admin)."""
        _require_admin(principal)
        return await svc.call("get_quota", _tenant(tenant))

    @router.put("/admin/tenants/{tenant}", response_model=QuotaPublic)
    async def set_quota(tenant: str, body: QuotaUpdate, svc: ServiceDep, principal: PrincipalDep) -> Any:
        """Change a tenant's quota without a restart; fields left out keep their value (admin)."""
        _require_admin(principal)
        changes = body.model_dump(exclude_unset=True)
        if not changes:
            raise ApiError(422, "validation_error", "give at least one quota field to change", "body")
        try:
            return await svc.call("set_quota", _tenant(tenant), changes)
        except ApiError as exc:
            if exc.status == 422 and exc.field is None:
                exc.field = next((f for f in changes if f in exc.message), None)
            raise

    @router.get("/tenants/{tenant}/usage", response_model=TenantUsagePublic)
    async def usage(tenant: str, svc: ServiceDep, principal: PrincipalDep) -> Any:
        """Usage of one tenant: your own, or any with the admin key."""
        _tenant(tenant)
        if principal.authenticated and not principal.admin and tenant != principal.tenant:
            raise ApiError(403, "forbidden", f"the usage of tenant {tenant!r} is visible to that tenant and admins only")
        return await svc.call("tenant_usage", tenant)

    return router
