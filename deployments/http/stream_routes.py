"""Live ticks in, streamed features out: `WS /v1/stream` and the socket-less `/v1/streams`, `/v1/ticks`.

WebSocket protocol (one stream per connection):

1. the client sends an open message: `{"type": "open", "dataset", "symbols", "indicators", ...}`
   (`StreamCreate`); the server answers `{"type": "opened", ...StreamPublic}`;
2. then tick batches, each as a text frame holding JSON columns
   `{"symbol": [...], "time": [...], "open"?, "high", "low", "close", "volume", "seq"?}`,
   `{"rows": [{...}, ...], "seq"?}` or a bare list of row objects; or as a binary
   frame: the same column map in msgpack, where numeric columns may also be raw
   little-endian float64 (`time`: int64 or float64) bytes. Each batch is answered with
   `{"type": "features", "seq", "rows", "features": {name: [...]}, "worker_id", "tier",
   "recovered", "server_ms"}` (values row-aligned with the batch, null where undefined);
   a binary batch gets a msgpack answer with float64 bytes per feature (NaN where undefined);
3. `{"type": "status"}` asks for the stream's status; `{"type": "close"}` closes the stream
   and the socket (so does disconnecting).

A bad message (out-of-order or duplicate tick, unknown symbol, malformed JSON...)
gets `{"type": "error", "seq", "error": {"code", "message", "field"?}}`; the socket
stays open and no other stream is touched. Backpressure: a connection reads at most
`StreamsConfig.queue_size` messages ahead of the one being processed; then it stops
reading, so a client that sends faster than the service (or than it reads the
answers) is held back by TCP flow control instead of filling the replica's memory.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Annotated, Any, Optional

import numpy as np
from fastapi import APIRouter, Depends, Request, WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect

from actors.settings import ServeConfig, StreamsConfig
from deployments.http.auth import API_KEY_HEADER, TENANT_HEADER, Principal, authenticate, principal_from_request
from deployments.http.errors import ApiError, domain_error, unwrap
from deployments.http.schemas import ErrorBody, StreamCreate, StreamPublic, TicksCreate, TicksPublic

log = logging.getLogger("rayquant.stream")

API_PREFIX = "/v1"
WS_POLICY_VIOLATION = 1008
_NUMERIC = ("open", "high", "low", "close", "volume")
_ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 404, 408, 409, 413, 422, 429, 503)}
PrincipalDep = Annotated[Principal, Depends(principal_from_request)]


# ------------------------------------------------------------------ errors
def stream_error(exc: BaseException, retry_after_s: int) -> ApiError:
    """Stream-specific errors to ApiErrors (the others through `domain_error`)."""
    from actors.streams.router import StreamFault  # noqa: PLC0415
    from actors.streams.registry import StreamError, StreamLimitReached, StreamNotFound  # noqa: PLC0415

    err = unwrap(exc)
    message = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    if isinstance(err, ApiError):
        return err
    if isinstance(err, StreamNotFound):
        return ApiError(404, "not_found", message)
    if isinstance(err, StreamLimitReached):
        return ApiError(429, "too_many_streams", message, headers={"Retry-After": str(retry_after_s)})
    if isinstance(err, StreamFault):
        return ApiError(503, "stream_unavailable", message, headers={"Retry-After": str(retry_after_s)})
    if isinstance(err, StreamError):
        code, field = _classify(message)
        return ApiError(413 if "over the limit" in message else 422, code, message, field)
    if isinstance(err, ValidationError):
        first = err.errors()[0] if err.errors() else {"loc": (), "msg": "invalid"}
        field = ".".join(str(p) for p in first.get("loc", ())) or None
        msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        return ApiError(422, "validation_error", f"{field}: {msg}" if field else msg, field)
    return domain_error(exc, params_field="indicators", retry_after_s=retry_after_s)


def _classify(message: str) -> tuple[str, Optional[str]]:
    if message.startswith("out-of-order"):
        return "out_of_order", "ticks"
    if message.startswith("duplicate tick"):
        return "duplicate_tick", "ticks"
    if message.startswith("unknown symbol(s) for stream"):
        return "unknown_symbol", "ticks"
    if message.startswith("ticks:") or message.startswith("time_unit"):
        return "invalid_ticks", "ticks"
    if message.startswith("unknown symbols") or message.startswith("symbols:"):
        return "unknown_symbol", "symbols"
    for prefix, field in (("config:", "indicators"), ("outputs:", "outputs"), ("functions:", "functions"),
                          ("history", "history"),
                          ("dataset_version", "dataset_version"), ("stream ", "stream_id")):
        if message.startswith(prefix):
            return "validation_error", field
    return "validation_error", None


# ------------------------------------------------------------------ shared steps
def _router(app_state: Any) -> Any:
    router = getattr(app_state, "streams", None)
    if router is None:
        raise ApiError(503, "unavailable", "streams are not enabled on this replica")
    return router


async def _bounded(coro: Any, timeout_s: float) -> Any:
    from deployments.http.routes import bounded  # noqa: PLC0415

    return await bounded(coro, timeout_s)


def _dataset_ref(app_state: Any, tenant: str, name: str) -> str:
    """The tenant's own dataset of that name (scoped), else the shared one (see `Service.dataset_ref`)."""
    service = getattr(app_state, "service", None)
    return name if service is None else service.dataset_ref(tenant, name)


async def _open(router: Any, body: StreamCreate, tenant: str, serve: ServeConfig,
                app_state: Any = None) -> dict[str, Any]:
    if body.symbols is not None and len(body.symbols) > serve.max_symbols:
        raise ApiError(413, "too_large", f"{len(body.symbols)} symbols are over the limit of {serve.max_symbols}",
                       "symbols")
    dataset = _dataset_ref(app_state, tenant, body.dataset)
    return await _bounded(router.open(dataset, dataset_version=body.dataset_version, symbols=body.symbols,
                                      config=body.indicators, outputs=body.outputs, history=body.history,
                                      tenant=tenant, stream_id=body.stream_id, meta={"time_unit": body.time_unit},
                                      functions=None if body.functions is None else
                                      [f.model_dump(exclude_none=True) for f in body.functions]),
                          serve.coordinator_timeout_s)


def _batch(columns: Any, time_unit: str, streams: StreamsConfig) -> Any:
    from actors.streams.registry import TickBatch  # noqa: PLC0415

    if isinstance(columns, list):
        return TickBatch.from_rows(columns, time_unit, streams.max_ticks)
    return TickBatch.from_columns(columns, time_unit, streams.max_ticks)


def features_json(features: dict[str, np.ndarray]) -> str:
    """{name: [values]} as JSON with null for NaN/inf (names are the fixed output names)."""
    parts = [f'"{name}":{json.dumps(np.asarray(arr, dtype=np.float64).tolist())}' for name, arr in features.items()]
    body = "{" + ",".join(parts) + "}"
    return body.replace("-Infinity", "null").replace("Infinity", "null").replace("NaN", "null")


# ------------------------------------------------------------------ router
def build_stream_router(streams: StreamsConfig) -> APIRouter:
    """`WS /v1/stream`, `POST/GET/DELETE /v1/streams`, `POST /v1/ticks`."""
    router = APIRouter(prefix=API_PREFIX, responses=_ERRORS)

    def svc_config(request: Request) -> ServeConfig:
        return request.app.state.config

    @router.post("/streams", response_model=StreamPublic, status_code=201, tags=["streams"],
                 summary="Open a stream (seeded from the dataset's history) for POST /v1/ticks")
    async def create_stream(body: StreamCreate, request: Request, principal: PrincipalDep) -> StreamPublic:
        serve = svc_config(request)
        try:
            status = await _open(_router(request.app.state), body, principal.tenant, serve, request.app.state)
        except Exception as exc:
            raise stream_error(exc, serve.unavailable_retry_after_s) from exc
        return StreamPublic(**status)

    @router.get("/streams/{stream_id}", response_model=StreamPublic, tags=["streams"],
                summary="A stream's status: worker, tier, batches, recoveries")
    async def get_stream(stream_id: str, request: Request, principal: PrincipalDep) -> StreamPublic:
        serve = svc_config(request)
        try:
            return StreamPublic(**_router(request.app.state).status(stream_id, principal.tenant))
        except Exception as exc:
            raise stream_error(exc, serve.unavailable_retry_after_s) from exc

    @router.delete("/streams/{stream_id}", response_model=StreamPublic, tags=["streams"],
                   summary="Close a stream (its state is dropped on the worker)")
    async def delete_stream(stream_id: str, request: Request, principal: PrincipalDep) -> StreamPublic:
        serve = svc_config(request)
        try:
            status = await _bounded(_router(request.app.state).close(stream_id, principal.tenant),
                                    serve.coordinator_timeout_s)
        except Exception as exc:
            raise stream_error(exc, serve.unavailable_retry_after_s) from exc
        return StreamPublic(**status)

    @router.post("/ticks", response_model=TicksPublic, tags=["streams"],
                 summary="Apply a tick batch to a stream (or open one on first use); the values per tick")
    async def post_ticks(body: TicksCreate, request: Request, principal: PrincipalDep) -> TicksPublic:
        started = time.perf_counter()
        serve = svc_config(request)
        sr = _router(request.app.state)
        opened = False
        try:
            stream_id = body.stream_id
            known = stream_id is not None and _exists(sr, stream_id, principal.tenant)
            if not known:
                if body.open is None:
                    from actors.streams.registry import StreamNotFound  # noqa: PLC0415

                    raise StreamNotFound(f"no stream {stream_id!r}; give open to open it on first use")
                spec = body.open if stream_id is None else body.open.model_copy(update={"stream_id": stream_id})
                stream_id = (await _open(sr, spec, principal.tenant, serve, request.app.state))["stream_id"]
                opened = True
            unit = sr.meta(stream_id, principal.tenant).get("time_unit", "s")
            batch = _batch(body.columns(), unit, streams)
            routed = await _bounded(sr.push(stream_id, batch, principal.tenant), serve.coordinator_timeout_s)
        except Exception as exc:
            raise stream_error(exc, serve.unavailable_retry_after_s) from exc
        res = routed.result
        return TicksPublic(stream_id=stream_id, rows=res.rows,
                           features={k: _nullable(v) for k, v in res.features.items()},
                           worker_id=routed.worker_id, tier=routed.tier, recovered=routed.recovered, opened=opened,
                           server_ms=(time.perf_counter() - started) * 1e3)

    @router.websocket("/stream")
    async def stream_socket(ws: WebSocket) -> None:
        await StreamConnection(ws, streams).run()

    return router


def _exists(sr: Any, stream_id: str, tenant: str) -> bool:
    from actors.streams.registry import StreamNotFound  # noqa: PLC0415

    try:
        sr.status(stream_id, tenant)
        return True
    except StreamNotFound:
        return False


def _nullable(arr: np.ndarray) -> list:
    out = np.asarray(arr, dtype=np.float64).astype(object)
    out[~np.isfinite(np.asarray(arr, dtype=np.float64))] = None
    return out.tolist()


# ------------------------------------------------------------------ WebSocket
class StreamConnection:
    """One WebSocket: a reader bounded by `queue_size` and one processor, in message order."""

    def __init__(self, ws: WebSocket, streams: StreamsConfig) -> None:
        self.ws = ws
        self.streams = streams
        self.serve: ServeConfig = ws.app.state.config
        self.router = getattr(ws.app.state, "streams", None)
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=streams.queue_size)
        self.stream_id: Optional[str] = None
        self.time_unit = "s"
        self.tenant = self.serve.default_tenant
        self.max_queued = 0

    async def run(self) -> None:
        ws = self.ws
        await ws.accept()
        try:
            principal = authenticate(self.serve.api_keys, self.serve.default_tenant, ws.headers.get(API_KEY_HEADER),
                                     ws.headers.get(TENANT_HEADER))
        except ApiError as err:
            await ws.send_text(json.dumps({"type": "error", "seq": None, **err.body()}))
            await ws.close(WS_POLICY_VIOLATION)
            return
        self.tenant = principal.tenant
        if self.router is None:
            await ws.send_text(json.dumps({"type": "error", "seq": None,
                                           "error": {"code": "unavailable", "message": "streams are not enabled"}}))
            await ws.close()
            return
        reader = asyncio.ensure_future(self._read())
        try:
            while True:
                message = await self.queue.get()
                if message is None:
                    break
                if not await self._handle(message):
                    break
        except WebSocketDisconnect:
            pass
        except Exception as exc:  # noqa: BLE001 - e.g. sending to a client that went away
            log.debug("stream connection ended: %s: %s", type(exc).__name__, exc)
        finally:
            reader.cancel()
            if self.stream_id is not None:
                try:
                    await self.router.close(self.stream_id, self.tenant)
                except Exception:  # noqa: BLE001 - already gone (evicted) or the worker is down
                    pass
            try:
                await ws.close()
            except Exception:  # noqa: BLE001 - the client is gone
                pass

    async def _read(self) -> None:
        """Read messages into the bounded queue; when it is full, stop reading (TCP backpressure)."""
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                await self.queue.put(message)  # blocks while the queue is full: nothing more is read
                self.max_queued = max(self.max_queued, self.queue.qsize())
        except asyncio.CancelledError:  # the processor ended the connection
            return
        except Exception:  # noqa: BLE001 - a broken connection ends the reader
            pass
        await self.queue.put(None)  # after the messages already read

    async def _handle(self, message: dict) -> bool:
        """Process one message; False when the connection should end."""
        started = time.perf_counter()
        binary = message.get("bytes") is not None
        seq = None
        try:
            data = self._decode(message, binary)
            if isinstance(data, dict):
                seq = data.pop("seq", None)
                kind = data.pop("type", None) if data.get("type") in ("open", "close", "status", "ticks") else None
            else:
                kind = None
            if kind == "close":
                if self.stream_id is not None:
                    status = await self.router.close(self.stream_id, self.tenant)
                    self.stream_id = None
                    await self._send_json({"type": "closed", "seq": seq, **status})
                return False
            if kind == "status":
                self._require_open()
                await self._send_json({"type": "status", "seq": seq,
                                       **self.router.status(self.stream_id, self.tenant),
                                       "max_queued": self.max_queued})
                return True
            if kind == "open" or (self.stream_id is None and isinstance(data, dict) and "symbol" not in data
                                  and "rows" not in data):
                if self.stream_id is not None:
                    raise ApiError(409, "already_open", "this connection already has an open stream")
                body = StreamCreate.model_validate(data)
                status = await _open(self.router, body, self.tenant, self.serve, self.ws.app.state)
                self.stream_id, self.time_unit = status["stream_id"], body.time_unit
                await self._send_json({"type": "opened", "seq": seq, **status})
                return True
            self._require_open()
            columns = data.get("rows") if isinstance(data, dict) and "rows" in data else data
            if binary and isinstance(columns, dict):
                columns = _binary_columns(columns)
            batch = _batch(columns, self.time_unit, self.streams)
            routed = await _bounded(self.router.push(self.stream_id, batch, self.tenant),
                                    self.serve.coordinator_timeout_s)
        except WebSocketDisconnect:
            raise
        except Exception as exc:  # every error is a message on the socket; the socket stays open
            await self._send_error(exc, seq)
            return True
        res = routed.result
        server_ms = (time.perf_counter() - started) * 1e3
        if binary:
            import msgpack  # noqa: PLC0415 - a Ray dependency

            await self.ws.send_bytes(msgpack.packb({
                "type": "features", "seq": seq, "rows": res.rows, "worker_id": routed.worker_id, "tier": routed.tier,
                "recovered": routed.recovered, "server_ms": server_ms, "worker_ms": res.seconds * 1e3,
                "features": {k: np.asarray(v, dtype="<f8").tobytes() for k, v in res.features.items()}}))
        else:
            head = json.dumps({"type": "features", "seq": seq, "rows": res.rows, "worker_id": routed.worker_id,
                               "tier": routed.tier, "recovered": routed.recovered, "server_ms": server_ms,
                               "worker_ms": res.seconds * 1e3})
            await self.ws.send_text(f'{head[:-1]},"features":{features_json(res.features)}}}')
        return True

    def _require_open(self) -> None:
        if self.stream_id is None:
            raise ApiError(409, "not_open", "open the stream first: send an open message "
                                            "{\"type\": \"open\", \"dataset\": ..., \"symbols\": [...]}")

    @staticmethod
    def _decode(message: dict, binary: bool) -> Any:
        if binary:
            import msgpack  # noqa: PLC0415

            try:
                return msgpack.unpackb(message["bytes"], raw=False, strict_map_key=True)
            except Exception as exc:  # noqa: BLE001 - any malformed frame
                raise ApiError(422, "malformed_message", f"binary frame is not valid msgpack: {exc}") from None
        text = message.get("text")
        try:
            data = json.loads(text or "")
        except (TypeError, ValueError) as exc:
            raise ApiError(422, "malformed_message", f"message is not valid JSON: {exc}") from None
        except RecursionError:
            raise ApiError(422, "malformed_message", "message is not valid JSON: nested too deeply") from None
        if not isinstance(data, (dict, list)):
            raise ApiError(422, "malformed_message", "message must be a JSON object or a list of tick rows")
        return data

    async def _send_json(self, body: dict) -> None:
        await self.ws.send_text(json.dumps(body))

    async def _send_error(self, exc: BaseException, seq: Any) -> None:
        try:
            err = stream_error(exc, self.serve.unavailable_retry_after_s)
        except Exception as unknown:  # noqa: BLE001 - a server fault: reported, the socket stays open
            log.exception("stream message failed")
            err = ApiError(500, "internal_error", f"internal error ({type(unknown).__name__}); see the service log")
        await self._send_json({"type": "error", "seq": seq, "status": err.status, **err.body()})


def _binary_columns(columns: dict) -> dict:
    """msgpack columns: raw little-endian bytes become arrays (time: int64, or float64 with time_f8)."""
    out = dict(columns)
    for name in ("time", *_NUMERIC):
        value = out.get(name)
        if isinstance(value, (bytes, bytearray)):
            from actors.streams.registry import StreamError  # noqa: PLC0415

            dtype = "<i8" if name == "time" and not columns.get("time_f8") else "<f8"
            if len(value) % 8:
                raise StreamError(f"ticks: {name} bytes are not a whole number of 8-byte values")
            out[name] = np.frombuffer(value, dtype=dtype)
    out.pop("time_f8", None)
    return out


__all__ = ["StreamConnection", "build_stream_router", "features_json", "stream_error"]
