"""Who a Ray client or Ray Jobs caller is: the tenant of its API key.

The HTTP and gRPC services authenticate in `deployments.http.auth`; callers that reach the
coordinator through Ray (notebooks with `actors.client.connect`, `ray job submit`)
present the same keys (`RAYQUANT_CLIENT__API_KEY`, or `connect(api_key=...)`). With
keys configured (ServeConfig.api_keys) the key names the tenant and a claimed tenant
is ignored; without keys the claimed tenant (or the default) is taken as given.
Classes are then authorised for that tenant like any other request.
"""
from __future__ import annotations

import hmac
from typing import Mapping


class Unauthenticated(PermissionError):
    """Keys are configured and the caller's key is missing or unknown."""


def resolve_tenant(api_keys: Mapping[str, str], default_tenant: str, api_key: str | None,
                   claimed: str | None) -> str:
    """The caller's tenant (constant-time comparison against every configured key)."""
    if not api_keys:
        return claimed or default_tenant
    found = None
    for key, tenant in api_keys.items():
        if api_key and hmac.compare_digest(key.encode(), api_key.encode()):
            found = tenant
    if found is None:
        reason = "missing" if not api_key else "unknown"
        raise Unauthenticated(f"{reason} API key: set RAYQUANT_CLIENT__API_KEY (or connect(api_key=...)) "
                              f"to a key configured in serve.api_keys")
    return found
