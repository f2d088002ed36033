"""Optional API-key authentication; tenants derive from keys.

With no keys configured (`ServeConfig.api_keys` empty) the API is open: the tenant
is the `X-Tenant` header when given (validated) or the configured default. With
keys configured, every `/v1` request needs `X-API-Key` set to a known key (401
otherwise), and the tenant is the key's: `X-Tenant` is ignored, and a caller sees
and touches only its own tenant's jobs, datasets, models and streams. Keys of the
`admin_tenants` publish shared datasets and see every tenant in `GET /v1/devices`.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Mapping, Optional

from fastapi import Request, Security
from fastapi.security import APIKeyHeader

from deployments.http.errors import ApiError
from deployments.http.schemas import TENANT_PATTERN

API_KEY_HEADER = "X-API-Key"
TENANT_HEADER = "X-Tenant"
# gRPC (deployments/grpc_api/ingress.py): the same key and tenant as metadata (gRPC metadata keys are lower case).
API_KEY_METADATA = API_KEY_HEADER.lower()
TENANT_METADATA = TENANT_HEADER.lower()

# Declared for OpenAPI (the "Authorize" button of /docs); checked by `authenticate`.
api_key_scheme = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="required when keys are configured")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant, and whether a key proved it."""

    tenant: str
    authenticated: bool
    admin: bool = False  # an admin tenant's key (ServeConfig.admin_tenants): publishes shared datasets, sees all

    def may_see(self, tenant: str) -> bool:
        """An authenticated caller sees only its own tenant (an admin every one); an open API hides nothing."""
        return not self.authenticated or self.admin or tenant == self.tenant


def tenant_for_key(api_keys: Mapping[str, str], given: Optional[str]) -> Optional[str]:
    """The tenant of a key (constant-time comparison against every configured key)."""
    if not given:
        return None
    found = None
    for key, tenant in api_keys.items():
        if hmac.compare_digest(key.encode(), given.encode()):
            found = tenant
    return found


def authenticate(api_keys: Mapping[str, str], default_tenant: str, key: Optional[str],
                 tenant_header: Optional[str], admin_tenants: tuple[str, ...] = ()) -> Principal:
    """The caller's principal, or ApiError 401/422 (admins only ever by key)."""
    if api_keys:
        tenant = tenant_for_key(api_keys, key)
        if tenant is None:
            reason = "missing" if not key else "unknown"
            raise ApiError(401, "unauthorized", f"{reason} API key: send a configured key in the {API_KEY_HEADER} header",
                           headers={"WWW-Authenticate": f'ApiKey header="{API_KEY_HEADER}"'})
        return Principal(tenant=tenant, authenticated=True, admin=tenant in admin_tenants)
    if tenant_header is not None:
        if not TENANT_PATTERN.match(tenant_header):
            raise ApiError(422, "validation_error", "X-Tenant: 1-64 letters, digits, '_', '.' or '-'", TENANT_HEADER)
        return Principal(tenant=tenant_header, authenticated=False)
    return Principal(tenant=default_tenant, authenticated=False)


async def principal_from_request(request: Request,
                                 key: Annotated[Optional[str], Security(api_key_scheme)] = None) -> Principal:
    """FastAPI dependency: the principal of this request (config from the app state)."""
    config = request.app.state.config
    return authenticate(config.api_keys, config.default_tenant, key, request.headers.get(TENANT_HEADER),
                        tuple(getattr(config, "admin_tenants", ())))


__all__ = ["API_KEY_HEADER", "API_KEY_METADATA", "TENANT_HEADER", "TENANT_METADATA", "Principal", "authenticate", "principal_from_request", "tenant_for_key"]
