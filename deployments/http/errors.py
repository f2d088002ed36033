"""Errors of the HTTP API: one JSON shape, and the map from domain errors to status codes.

Every error response is `{"error": {"code", "message", "field"?}}`:

| status | when |
| --- | --- |
| 401 | API keys are configured and the X-API-Key header is missing or unknown |
| 403 | a key asks for another tenant's jobs |
| 404 | unknown or malformed job id, unknown route |
| 400 | a body that cannot be read (malformed multipart, invalid Content-Length) |
| 409 | the job's state forbids the request: the result of a job that is not finished, failed or was cancelled; cancelling a job that already succeeded or failed; a dataset name that is shared (built-in or published) |
| 413 | a body over `max_request_bytes`, a sweep grid over `max_sweep_combinations`, a request over the tenant's device quota |
| 422 | validation: bad fields, unknown strategy / dataset / symbols / indicator, malformed uploads (the message names the column and row) |
| 429 | the tenant's (or the class's) queue is full; `Retry-After` says when to try again |
| 503 | no worker can take the work, or the coordinator does not answer |

A client mistake never becomes a 500: the coordinator's and the kernels'
ValueError / KeyError / TypeError are 422s, with the field named where the message
allows it.
"""
from __future__ import annotations

import asyncio
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

    @property
    def grpc_status(self) -> str:
        """The gRPC status code name of this error (the same map for both APIs)."""
        return grpc_status(self.status)


def not_found(what: str, ident: str) -> ApiError:
    shown = ident if len(ident) <= 80 else ident[:77] + "..."
    return ApiError(404, "not_found", f"no {what} {shown!r}")


# gRPC status of each HTTP status (the gRPC service maps the same domain errors through `domain_error`).
GRPC_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    405: "UNIMPLEMENTED", 409: "FAILED_PRECONDITION", 413: "RESOURCE_EXHAUSTED", 415: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
}


def grpc_status(status: int) -> str:
    """The gRPC status code name of an HTTP status (INTERNAL for anything unlisted)."""
    return GRPC_STATUS.get(int(status), "INTERNAL")


# ------------------------------------------------------------------ job errors as clients see them
MAX_JOB_ERROR_CHARS = 300
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_RAY_FRAME = re.compile(r"ray::\S+(?:\s*\([^)]*\))?")
_KEY_VALUE = re.compile(r"\b(?:pid|ip|actor_id|node_id|worker_id|task_id|repr|address)=[^\s,)]+,?\s*")
_IP = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b|\[[0-9a-fA-F:]+\](?::\d+)?")
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[/\\][^\s/\\'\"():,]+){2,}[/\\]?")
_LONG_HEX = re.compile(r"\b[0-9a-fA-F]{24,}\b")
_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:\([\w.]+\))?):\s*(.*)$")
_INVALID_JOB = ("ValueError", "KeyError", "TypeError", "JobSpecError", "StrategyError", "GridError",
                "UnknownStrategy", "DataValidationError", "InvalidParams", "SweepInputError")


def _redact(text: str) -> str:
    text = _RAY_FRAME.sub("", text)
    text = _KEY_VALUE.sub("", text)
    text = _IP.sub("<address>", text)
    text = _PATH.sub("<path>", text)
    text = _LONG_HEX.sub("<id>", text)
    return re.sub(r"\s{2,}", " ", text).strip(" :;,")


def public_job_error(error: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    """(code, message) of a failed job's stored error, as clients may see it.

    One short line: no traceback, ANSI codes, pids, IP addresses, actor ids or paths
    (those stay in the service log). A Ray task error is reduced to the exception
    its worker raised; the code says what kind of failure it was.
    """
    if not error:
        return None, None
    text = _CONTROL.sub(" ", _ANSI.sub("", str(error)))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    head = lines[0] if lines else ""
    last_exc = None
    for line in reversed(lines[1:]):
        m = _EXC_LINE.match(line)
        if m and not line.startswith(("File ", "Traceback")):
            last_exc = m
            break
    head = re.split(r"\b(?:RayTaskError|RayActorError|ray::)", head)[0].strip(" :;,") or head
    if last_exc is not None:
        name, detail = last_exc.group(1), last_exc.group(2)
        cause = f"{name.split('.')[-1]}: {detail}"
        message = f"{head}: {cause}" if head and not _EXC_LINE.match(head) else cause
    else:
        message = head
    message = _redact(message) or "the job failed"
    if len(message) > MAX_JOB_ERROR_CHARS:
        message = message[: MAX_JOB_ERROR_CHARS - 3] + "..."
    lowered = text.lower()
    if lowered.startswith("no capacity"):
        code = "no_capacity"
    elif lowered.startswith("could not recover"):
        code = "recovery_failed"
    elif "quotaexceeded" in lowered:
        code = "quota_exceeded"
    elif any(re.search(rf"\b{name}\b", message.split(":")[0] if ":" in message else "") for name in _INVALID_JOB):
        code = "invalid_job"
    else:
        code = "job_error"
    return code, message


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
    (re.compile(r"^train\b"), "train"),
    (re.compile(r"^test\b"), "test"),
    (re.compile(r"^step\b"), "step"),
    (re.compile(r"^warmup\b"), "warmup"),
    (re.compile(r"^engine\b"), "engine"),
    (re.compile(r"^(size_type|size|direction|init_cash|fixed_fees|sl_stop|sl_trail|tp_stop|accumulate)\b"), "{0}"),
    (re.compile(r"^(group_by|cash_sharing)\b"), "{0}"),
    (re.compile(r"top_k"), "top_k"),
    (re.compile(r"\bfees\b"), "fees"),
    (re.compile(r"\bslippage\b"), "slippage"),
    (re.compile(r"bars_per_year"), "bars_per_year"),
    (re.compile(r"^window\b|window must"), "window"),
    (re.compile(r"^test_fraction\b"), "test_fraction"),
    (re.compile(r"^horizon\b"), "horizon"),
    (re.compile(r"^features\b"), "features"),
    (re.compile(r"^symbols\b"), "symbols"),
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
    from actors.datasets import DatasetNameTaken, DatasetNotFound, InvalidDatasetName  # noqa: PLC0415
    from actors.scheduling.placement.fallback import NoCapacity  # noqa: PLC0415
    from actors.scheduling.queues.job_queue import AdmissionRefused  # noqa: PLC0415
    from actors.jobs.records import InvalidJobId  # noqa: PLC0415
    from actors.tenants.quotas import ClassNotAllowed, TenantLimitExceeded, TenantsDisabled  # noqa: PLC0415
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
    if isinstance(err, DatasetNameTaken):
        return ApiError(409, "name_taken", message, "name")
    if isinstance(err, InvalidDatasetName):
        return ApiError(422, "validation_error", message, "name")
    if isinstance(err, DataValidationError):
        # Inline bars name the column ("bars.close"); an uploaded file is the field itself.
        field = (guess_field(message, bars_field=data_field) or data_field) if data_field == "bars" else data_field
        return ApiError(422, "invalid_data", message, field)
    if isinstance(err, QuotaExceeded):
        return ApiError(413, "quota_exceeded", message)
    if isinstance(err, ClassNotAllowed):
        return ApiError(403, "class_not_allowed", message, "priority")
    if isinstance(err, TenantLimitExceeded):
        if err.quota == "max_sweep_combinations":
            return ApiError(413, "quota_exceeded", message, "grid")
        return ApiError(429, "quota_exceeded", f"{message}; retry after {retry_after_s} s",
                        headers={"Retry-After": str(retry_after_s)})
    if isinstance(err, TenantsDisabled):
        return ApiError(404, "not_found", message)
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


def _line_column(doc: Any, pos: int) -> tuple[int, int]:
    text = doc.decode("utf-8", "replace") if isinstance(doc, (bytes, bytearray)) else str(doc or "")
    pos = max(0, min(int(pos), len(text)))
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _json_error(exc: RequestValidationError, first: dict) -> ApiError:
    """Malformed JSON: where (line, column) and what, on the field `body`."""
    loc = tuple(first.get("loc", ()))
    pos = loc[-1] if loc and isinstance(loc[-1], int) else 0
    line, column = _line_column(getattr(exc, "body", None), pos)
    what = str((first.get("ctx") or {}).get("error") or "invalid JSON")
    return ApiError(422, "malformed_json", f"the body is not valid JSON: {what} at line {line} column {column}",
                    "body")


async def _validation_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    if first.get("type") == "json_invalid":
        return _json_error(exc, first).response()
    field = _loc_to_field(tuple(first.get("loc", ())))
    msg = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    message = f"{field}: {msg}{more}" if field else f"{msg}{more}"
    return ApiError(422, "validation_error", message, field).response()


async def _api_error_handler(request: Request, exc: ApiError) -> JSONResponse:
    return exc.response()


_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 408: "body_timeout", 409: "conflict", 413: "too_large",
               415: "unsupported_media_type", 422: "validation_error", 429: "too_many_requests", 503: "unavailable"}


def _body_error(exc: StarletteHTTPException) -> Optional[ApiError]:
    """What FastAPI's "There was an error parsing the body" (400) was, from its cause."""
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        return ApiError(422, "malformed_json", f"the body is not valid UTF-8: byte {cause.object[cause.start]:#04x} "
                                               f"at position {cause.start}", "body")
    if isinstance(cause, RecursionError):
        return ApiError(422, "malformed_json", "the body's JSON is nested too deeply", "body")
    if isinstance(cause, ValueError) and "json" in type(cause).__module__.lower():
        return ApiError(422, "malformed_json", f"the body is not valid JSON: {cause}", "body")
    if cause is not None and "multipart" in type(cause).__module__.lower() + type(cause).__name__.lower():
        return ApiError(400, "malformed_body", f"malformed multipart/form-data body: {cause}", "body")
    if cause is not None:
        return ApiError(400, "malformed_body", f"the body could not be read: {type(cause).__name__}", "body")
    return None


async def _http_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400:
        body_error = _body_error(exc)
        if body_error is not None:
            return body_error.response()
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


class BodyTimeout(StarletteHTTPException):
    """A request body that stopped arriving (e.g. a Content-Length larger than what is sent)."""

    def __init__(self, timeout_s: float, received: int) -> None:
        super().__init__(408, f"the request body stopped arriving: nothing for {timeout_s:g} s after {received} "
                              f"bytes (is Content-Length larger than the body?)", headers={"Connection": "close"})


class BodyLimitMiddleware:
    """413 for bodies over `max_bytes`: by Content-Length up front, else while reading; 408 when the
    body stops arriving for `body_timeout_s` (a client cannot hold a request open by sending less than
    its Content-Length)."""

    def __init__(self, app: ASGIApp, max_bytes: int, body_timeout_s: Optional[float] = None) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)
        self.body_timeout_s = body_timeout_s

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
        body_done = False

        async def limited_receive() -> Message:
            nonlocal received, body_done
            if body_done or self.body_timeout_s is None:
                message = await receive()
            else:
                try:
                    message = await asyncio.wait_for(receive(), self.body_timeout_s)
                except asyncio.TimeoutError:
                    raise BodyTimeout(self.body_timeout_s, received) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)


__all__ = [
    "ApiError",
    "BodyLimitMiddleware",
    "GRPC_STATUS",
    "domain_error",
    "grpc_status",
    "guess_field",
    "install_error_handlers",
    "not_found",
    "unwrap",
]
