"""Errors of the HTTP API: one JSON shape, and the map from domain errors to status codes.

Every error response is `{"error": {"code", "message", "field"?}}`:

| status | when |
| --- | --- |
| 401 | API keys are configured and the X-API-Key header is missing or unknown |
| 403 | a key asks for another tenant's jobs |
| 404 | unknown or malformed job id, unknown route |
| 409 | the job's state forbids the request: the result of a job that is not finished, failed or was cancelled; cancelling a job that already succeeded or failed |
| 413 | a body over `max_request_bytes`, a sweep grid over `max_sweep_combinations`, a request over the tenant's device quota |
| 422 | validation: bad fields, unknown strategy / dataset / symbols / indicator, malformed uploads (the message names the column and row) |
| 429 | the tenant's (or the class's) queue is full; `Retry-After` says when to try again |
| 503 | no worker can take the work, or the coordinator does not answer |

A client mistake never becomes a 500: the coordinator's and the kernels'
ValueError / KeyError / TypeError are 422s, with the field named where the message
allows it.
"""
from __future__ import annotations

import logging
import math
import re
from typing import Any, Mapping, Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from actors.settings import SERVE_UNAVAILABLE_RETRY_AFTER_S

log = logging.getLogger("rayquant.http")


class ApiError(Exception):
    """An HTTP error with a stable code, a message and optionally the field at fault."""

    def __init__(self, status: int, code: str, message: str, field: Optional[str] = None,
                 headers: Optional[Mapping[str, str]] = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        detail: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            detail["field"] = self.field
        return {"error": detail}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def not_found(what: str, ident: str) -> ApiError:
    shown = ident if len(ident) <= 80 else ident[:77] + "..."
    return ApiError(404, "not_found", f"no {what} {shown!r}")


# ------------------------------------------------------------------ domain -> HTTP
def unwrap(exc: BaseException) -> BaseException:
    """The original exception behind a Ray task error (the coordinator raised it)."""
    seen = 0
    while seen < 5:
        cause = getattr(exc, "cause", None)
        if cause is None or cause is exc or not isinstance(cause, BaseException):
            return exc
        exc, seen = cause, seen + 1
    return exc


# Message patterns -> the request field they are about (first match wins).
_FIELD_PATTERNS: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"unknown strategy|strategy must be|strategy '[^']*' (?:has no|returned)"), "strategy"),
    (re.compile(r"parameter '([^']+)'"), "{params}.{0}"),
    (re.compile(r"unknown symbols?"), "symbols"),
    (re.compile(r"^grid\b|combinations exceed"), "grid"),
    (re.compile(r"rank_by"), "rank_by"),
    (re.compile(r"top_k"), "top_k"),
    (re.compile(r"\bfees\b"), "fees"),
    (re.compile(r"\bslippage\b"), "slippage"),
    (re.compile(r"bars_per_year"), "bars_per_year"),
    (re.compile(r"^window\b|window must"), "window"),
    (re.compile(r"indicator|^compute:|^(sma|ema|wma|rsi|roc|macd|stoch|bbands|atr|obv|rolling_std|zscore|vwap):"),
     "indicators"),
    (re.compile(r"dataset"), "dataset"),
    (re.compile(r"column '([^']+)'"), "{bars}.{0}"),
)


def guess_field(message: str, params_field: str = "params", bars_field: str = "file") -> Optional[str]:
    """The request field a kernel/coordinator message is about, when it says so."""
    for pattern, template in _FIELD_PATTERNS:
        m = pattern.search(message)
        if m:
            return template.format(*m.groups(), params=params_field, bars=bars_field)
    return None


def domain_error(exc: BaseException, *, params_field: str = "params", data_field: str = "file",
                 retry_after_s: int = SERVE_UNAVAILABLE_RETRY_AFTER_S) -> ApiError:
    """Map an exception from the coordinator, a worker or the kernels to an ApiError.

    Unknown exceptions are re-raised (they are server faults: 500). `retry_after_s` is
    the Retry-After of 503s (ServeConfig.unavailable_retry_after_s).
    """
    from actors.scheduling.coordinator import JobNotFound, JobNotReady  # noqa: PLC0415
    from actors.datasets import DatasetNotFound, InvalidDatasetName  # noqa: PLC0415
    from actors.scheduling.fallback import NoCapacity  # noqa: PLC0415
    from actors.scheduling.job_queue import AdmissionRefused  # noqa: PLC0415
    from actors.jobs.records import InvalidJobId  # noqa: PLC0415
    from gpu_hal.errors import QuotaExceeded  # noqa: PLC0415
    from kernels.data import DataValidationError  # noqa: PLC0415

    err = unwrap(exc)
    message = _message(err)
    if isinstance(err, ApiError):
        return err
    if isinstance(err, AdmissionRefused):
        retry = max(1, math.ceil(float(getattr(err, "retry_after_s", 1.0) or 1.0)))
        scope = getattr(err, "scope", "tenant")
        return ApiError(429, "queue_full", f"{getattr(err, 'reason', message)} ({scope} limit); retry after {retry} s",
                        headers={"Retry-After": str(retry)})
    if isinstance(err, NoCapacity):
        return ApiError(503, "no_capacity", f"no worker can take this work now: {getattr(err, 'reason', message)}",
                        headers={"Retry-After": str(retry_after_s)})
    if isinstance(err, (JobNotFound, InvalidJobId)):
        return ApiError(404, "not_found", message)
    if isinstance(err, JobNotReady):
        return ApiError(409, "job_not_ready", message)
    if isinstance(err, DatasetNotFound):
        return ApiError(422, "unknown_dataset", message, "dataset")
    if isinstance(err, InvalidDatasetName):
        return ApiError(422, "validation_error", message, "name")
    if isinstance(err, DataValidationError):
        # Inline bars name the column ("bars.close"); an uploaded file is the field itself.
        field = (guess_field(message, bars_field=data_field) or data_field) if data_field == "bars" else data_field
        return ApiError(422, "invalid_data", message, field)
    if isinstance(err, QuotaExceeded):
        return ApiError(413, "quota_exceeded", message)
    if isinstance(err, (ValueError, KeyError, TypeError)):
        return ApiError(422, "validation_error", message, guess_field(message, params_field, data_field))
    if _is_unavailable(err):
        return ApiError(503, "coordinator_unavailable", f"the coordinator did not answer: {message}",
                        headers={"Retry-After": str(retry_after_s)})
    raise exc


def _message(err: BaseException) -> str:
    if isinstance(err, KeyError) and len(err.args) == 1 and isinstance(err.args[0], str):
        return err.args[0]  # KeyError's str() adds quotes
    text = str(err) or type(err).__name__
    return text if len(text) <= 2000 else text[:1997] + "..."


def _is_unavailable(err: BaseException) -> bool:
    import asyncio  # noqa: PLC0415

    from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError  # noqa: PLC0415

    return isinstance(err, (RayActorError, ActorUnavailableError, GetTimeoutError, asyncio.TimeoutError, TimeoutError))


# ------------------------------------------------------------------ handlers
def _loc_to_field(loc: tuple) -> Optional[str]:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form", "file")]
    return ".".join(parts) or None


async def _validation_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    field = _loc_to_field(tuple(first.get("loc", ())))
    msg = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    message = f"{field}: {msg}{more}" if field else f"{msg}{more}"
    return ApiError(422, "validation_error", message, field).response()


async def _api_error_handler(request: Request, exc: ApiError) -> JSONResponse:
    return exc.response()


_HTTP_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
               409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "validation_error",
               429: "too_many_requests", 503: "unavailable"}


async def _http_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.method} {request.url.path}"
    return ApiError(exc.status_code, code, message, headers=getattr(exc, "headers", None)).response()


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return ApiError(500, "internal_error", f"internal error ({type(exc).__name__}); see the service log").response()


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_handler)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, _api_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_handler)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unhandled)


# ------------------------------------------------------------------ body size
class BodyTooLarge(StarletteHTTPException):
    """Raised while a body is read past the limit (FastAPI re-raises HTTP exceptions as they are)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body is over the limit of {max_bytes} bytes")


class BodyLimitMiddleware:
    """413 for bodies over `max_bytes`: by Content-Length up front, else while reading."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = dict(scope.get("headers") or []).get(b"content-length")
        if raw is not None:
            try:
                length = int(raw)
            except ValueError:
                await ApiError(400, "bad_request", "invalid Content-Length header").response()(scope, receive, send)
                return
            if length > self.max_bytes:
                error = ApiError(413, "too_large", f"request body ({length} bytes) is over the limit of "
                                                   f"{self.max_bytes} bytes")
                await error.response()(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)


__all__ = [
    "ApiError",
    "BodyLimitMiddleware",
    "domain_error",
    "guess_field",
    "install_error_handlers",
    "not_found",
    "unwrap",
]
