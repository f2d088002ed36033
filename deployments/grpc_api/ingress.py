"""gRPC through Ray Serve's gRPC proxy: one deployment method per RPC of `rayquant.v1`.

The methods live on `GrpcIngress`, a mixin of the HTTP ingress class (`deployments.app.RayQuantIngress`):
the same replica, the same coordinator handle, and the same code. Each RPC turns its proto message
into the JSON body (or query) of the HTTP route it mirrors and calls the replica's own FastAPI app in
process (`AsgiCall`, no socket): validation (the pydantic schemas of `deployments.http.schemas`), the
coordinator calls, authentication and the error map are the HTTP routes' own, so both APIs give the
same answers and the same errors. The JSON answer becomes a typed reply (metrics tables as repeated
rows, arrays as packed doubles, NaN where JSON has null).

Errors: the route's status becomes a gRPC status through `deployments.http.errors.GRPC_STATUS` (the one map
the HTTP handlers' codes come from); the details name the field (`field: message`), and the trailing
metadata carries `grpc-status-details-bin` (a `google.rpc.Status` with `ErrorInfo` (reason = the
HTTP error code, metadata.field), `BadRequest` field violations and, for RESOURCE_EXHAUSTED and
UNAVAILABLE, `RetryInfo` from Retry-After) plus `retry-after` in seconds.

Metadata: `application` picks the Serve application (Serve's proxy routes on it when more than one
runs: `rayquant` for everything, `rayquant-live` for the live calls); `x-api-key` and `x-tenant`
are the HTTP headers X-API-Key and X-Tenant.

Health: grpc.health.v1 `Check`/`Watch` (service "" or any rayquant.v1 service) answer from the
replica's readiness (`/readyz`): SERVING once the coordinator runs and a worker has prewarmed.
Server reflection is Serve's own (`gRPCOptions.enable_reflection`, on by default in Ray 2.60).
"""
from __future__ import annotations

import asyncio
import base64
import json
import math
from typing import Any, AsyncIterator, Iterable, Optional
from urllib.parse import quote, urlencode

import numpy as np

from deployments.http.auth import API_KEY_HEADER, API_KEY_METADATA, TENANT_HEADER, TENANT_METADATA
from deployments.http.errors import grpc_status
from deployments.protos import backtest_pb2 as bt
from deployments.protos import common_pb2 as cm
from deployments.protos import ml_pb2 as ml
from deployments.protos import operations_pb2 as ops
from deployments.protos import realtime_pb2 as rt
from kernels.backtest.orders.result import ORDER_METRICS

# The servicer functions of Serve's gRPC proxy (`gRPCOptions.grpc_servicer_functions`; importable there).
HEALTH_SERVICER = "grpc_health.v1.health_pb2_grpc.add_HealthServicer_to_server"
GRPC_SERVICER_FUNCTIONS: tuple[str, ...] = (
    "deployments.grpc_api.services.add_backtests_servicer",  # + the proxy's log filter (services.py)
    "deployments.protos.realtime_pb2_grpc.add_RealtimeServicer_to_server",
    "deployments.protos.ml_pb2_grpc.add_ModelsServicer_to_server",
    "deployments.protos.operations_pb2_grpc.add_OperationsServicer_to_server",
    HEALTH_SERVICER,
)


def servicer_functions() -> list[str]:
    """GRPC_SERVICER_FUNCTIONS that can be imported here (grpc.health.v1 needs grpcio-health-checking)."""
    import importlib.util  # noqa: PLC0415

    if importlib.util.find_spec("grpc_health") is None:
        return [f for f in GRPC_SERVICER_FUNCTIONS if f != HEALTH_SERVICER]
    return list(GRPC_SERVICER_FUNCTIONS)


SERVICES: tuple[str, ...] = ("rayquant.v1.Backtests", "rayquant.v1.Realtime", "rayquant.v1.Models",
                             "rayquant.v1.Operations")
APPLICATION_METADATA = "application"  # Serve's proxy: which application answers
RETRY_AFTER_METADATA = "retry-after"
STATUS_DETAILS_METADATA = "grpc-status-details-bin"
METRIC_FIELDS: tuple[str, ...] = tuple(f.name for f in cm.Metrics.DESCRIPTOR.fields if f.name != "extra")
HEALTH_WATCH_INTERVAL_S = 1.0


# ------------------------------------------------------------------ in-process HTTP
class AsgiCall:
    """One HTTP request to an ASGI app in this process: (status, headers, body)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, method: str, path: str, *, body: Any = None, query: Optional[dict[str, Any]] = None,
                       headers: Iterable[tuple[str, str]] = ()) -> tuple[int, dict[str, str], bytes]:
        raw = b"" if body is None else json.dumps(body, allow_nan=False).encode()
        hdrs = [(k.lower().encode(), v.encode()) for k, v in headers]
        if body is not None:
            hdrs += [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": urlencode(query or {}, doseq=True).encode(), "root_path": "", "headers": hdrs,
            "client": ("grpc", 0), "server": ("grpc", 0), "state": {},
        }
        sent = False
        status = 500
        out_headers: dict[str, str] = {}
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": raw, "more_body": False}
            await asyncio.Event().wait()  # a disconnect never comes: the call ends with the response
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                out_headers.update({k.decode().lower(): v.decode() for k, v in message.get("headers", [])})
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, out_headers, b"".join(chunks)


class StreamFailed(Exception):
    """Ends a streaming RPC with the status set on its context."""


class RpcFailed(Exception):
    """An HTTP error answer, carried to the RPC's status."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        super().__init__(status)
        self.status, self.headers, self.body = status, headers, body


def error_status(status: int, headers: dict[str, str], body: bytes,
                 fields: Optional[dict[str, str]] = None) -> tuple[str, str, list[tuple[str, Any]]]:
    """(gRPC code name, details, trailing metadata) of an HTTP error answer."""
    from google.protobuf import any_pb2, duration_pb2  # noqa: PLC0415
    from google.rpc import code_pb2, error_details_pb2, status_pb2  # noqa: PLC0415

    try:
        err = json.loads(body)["error"]
        code, message, field = str(err.get("code", "error")), str(err.get("message", "")), err.get("field")
    except (ValueError, KeyError, TypeError):
        code, message, field = "error", body.decode(errors="replace")[:2000], None
    name = grpc_status(status)
    if status == 404 and message.startswith("no route "):
        name = "UNIMPLEMENTED"  # e.g. a research RPC sent to the live application
        message = f"this application does not serve this call ({message}); send it to the main application"
    if field:
        field = (fields or {}).get(str(field).split(".")[0], str(field).split(".")[0]) + \
            str(field)[len(str(field).split(".")[0]):]
        if not message.startswith(f"{field}:") and not message.startswith(f"{field} "):
            message = f"{field}: {message}"
    metadata: list[tuple[str, Any]] = [("rayquant-error-code", code)]
    details = [error_details_pb2.ErrorInfo(reason=code, domain="rayquant",
                                           metadata={"field": field} if field else {})]
    if field:
        metadata.append(("rayquant-error-field", str(field)))
        details.append(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=str(field), description=message)]))
    retry = headers.get("retry-after")
    if retry and retry.isdigit():
        metadata.append((RETRY_AFTER_METADATA, retry))
        details.append(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=int(retry))))
    packed = []
    for d in details:
        any_msg = any_pb2.Any()
        any_msg.Pack(d)
        packed.append(any_msg)
    rich = status_pb2.Status(code=getattr(code_pb2, name), message=message, details=packed)
    metadata.append((STATUS_DETAILS_METADATA, rich.SerializeToString()))
    return name, message, metadata


# ------------------------------------------------------------------ proto <-> JSON
def scalar_value(s: cm.Scalar) -> Any:
    kind = s.WhichOneof("kind")
    return None if kind is None else getattr(s, kind)


def scalar(value: Any) -> cm.Scalar:
    if isinstance(value, bool):
        return cm.Scalar(flag=value)
    if isinstance(value, int):
        return cm.Scalar(integer=value)
    if isinstance(value, float):
        return cm.Scalar(number=value)
    if value is None:
        return cm.Scalar(number=math.nan)
    return cm.Scalar(text=str(value))


def _opt(msg: Any, name: str, out: dict[str, Any], key: Optional[str] = None) -> None:
    """Copy an `optional` proto field into `out` when it is set."""
    if msg.HasField(name):
        out[key or name] = getattr(msg, name)


def _num(v: Optional[float]) -> Optional[float]:
    """NaN/inf -> None (JSON has no NaN; the schemas read None as missing)."""
    return None if v is None or not math.isfinite(v) else float(v)


def _nan(v: Any) -> float:
    return math.nan if v is None else float(v)


def indicator_spec(ind: cm.Indicator) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": ind.name, "params": {k: _int_if_whole(v) for k, v in ind.params.items()}}
    _opt(ind, "input", spec)
    _opt(ind, "label", spec)
    return spec


def _int_if_whole(v: float) -> Any:
    """map<string, double> parameters: whole numbers as ints (timeperiod=14, not 14.0), as JSON would send them."""
    return int(v) if math.isfinite(v) and float(v).is_integer() and abs(v) < 2 ** 53 else v


def backtest_body(req: bt.BacktestRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"strategy": req.strategy, "params": {k: scalar_value(v) for k, v in req.params.items()}}
    for name in ("dataset", "dataset_version", "fees", "slippage", "bars_per_year", "priority"):
        _opt(req, name, body)
    if req.symbols:
        body["symbols"] = list(req.symbols)
    return body


def grid_in_order(strategy: str, grid: Any) -> dict[str, list]:
    """A protobuf map's grid as a dict in a fixed key order, since a map has no order and combination ids
    follow the grid's key order: the strategy's parameters as it declares them, then the order options
    (ORDER_GRID_KEYS), then any other key by name (the job's validation names unknown ones)."""
    from kernels.backtest.orders.sweep import ORDER_GRID_KEYS  # noqa: PLC0415
    from kernels.strategies.registry import StrategyError, get_strategy  # noqa: PLC0415

    try:
        declared = [p.name for p in get_strategy(strategy).params or ()]
    except StrategyError:
        declared = []
    rank = {name: i for i, name in enumerate([*declared, *ORDER_GRID_KEYS])}
    keys = sorted(grid.keys(), key=lambda k: (rank.get(k, len(rank)), k))
    return {k: [scalar_value(v) for v in grid[k].values] for k in keys}


def sweep_body(req: bt.SweepRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"strategy": req.strategy, "grid": grid_in_order(req.strategy, req.grid)}
    for name in ("top_k", "rank_by", "dataset", "dataset_version", "fees", "slippage", "bars_per_year", "priority",
                 *SWEEP_ORDER_FIELDS):
        _opt(req, name, body)
    if req.symbols:
        body["symbols"] = list(req.symbols)
    if req.group_labels:  # group_by: one label per symbol (group_all as well: labels win, as sent)
        body["group_by"] = list(req.group_labels)
    elif req.HasField("group_all"):
        body["group_by"] = req.group_all  # false is a 422 on group_by (leave it out for no groups)
    return body


# SweepRequest's order options, by their POST /v1/sweeps names (group_by: group_all / group_labels)
SWEEP_ORDER_FIELDS = ("engine", "size", "size_type", "init_cash", "fixed_fees", "sl_stop", "sl_trail", "tp_stop",
                      "accumulate", "cash_sharing")


def wait_query(req: Any) -> dict[str, Any]:
    query: dict[str, Any] = {"wait": "true"} if req.wait else {}
    if req.HasField("timeout_s"):
        query["timeout_s"] = repr(req.timeout_s)
    return query


def features_body(req: rt.FeaturesRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"indicators": [indicator_spec(i) for i in req.indicators]}
    for name in ("dataset", "dataset_version", "window", "priority"):
        _opt(req, name, body)
    if req.symbols:
        body["symbols"] = list(req.symbols)
    if req.HasField("bars"):
        b = req.bars
        body["bars"] = {"timestamp": list(b.timestamp), "symbol": list(b.symbol),
                        **{c: [_num(v) for v in getattr(b, c)] for c in ("open", "high", "low", "close", "volume")}}
    return body


def train_body(req: ml.TrainRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"name": req.name, "model": req.model,
                            "params": {k: scalar_value(v) for k, v in req.params.items()},
                            "features": [indicator_spec(i) for i in req.features]}
    for name in ("horizon", "task", "test_fraction", "dataset", "priority"):
        _opt(req, name, body)
    if req.symbols:
        body["symbols"] = list(req.symbols)
    return body


def predict_body(req: ml.PredictRequest) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if req.HasField("rows"):
        m = req.rows
        data = np.asarray(m.values, dtype="<f8").tobytes()  # packed doubles as they came, exactly
        body["ndarray"] = {"shape": [m.rows, m.cols], "dtype": "float64", "data": base64.b64encode(data).decode()}
    _opt(req, "dataset", body)
    if req.symbols:
        body["symbols"] = list(req.symbols)
    return body


def stream_open_body(msg: rt.StreamOpen) -> dict[str, Any]:
    body: dict[str, Any] = {"indicators": {k: _int_if_whole(v) for k, v in msg.indicators.items()}}
    for name in ("dataset", "dataset_version", "history", "time_unit", "stream_id"):
        _opt(msg, name, body)
    if msg.symbols:
        body["symbols"] = list(msg.symbols)
    if msg.outputs:
        body["outputs"] = list(msg.outputs)
    return body


def tick_columns(batch: rt.TickBatch) -> dict[str, Any]:
    cols: dict[str, Any] = {"symbol": list(batch.symbol), "time": [_int_if_whole(t) for t in batch.time]}
    for c in ("high", "low", "close", "volume"):
        cols[c] = list(getattr(batch, c))
    if len(batch.open):
        cols["open"] = list(batch.open)
    return cols


def job_msg(d: dict[str, Any]) -> cm.Job:
    p = d.get("progress") or {}
    progress = cm.Progress(chunks_done=int(p.get("chunks_done") or 0))
    if p.get("chunks_total") is not None:
        progress.chunks_total = int(p["chunks_total"])
    if p.get("fraction") is not None:
        progress.fraction = float(p["fraction"])
    job = cm.Job(job_id=d["job_id"], kind=d["kind"], priority=d["priority"], tenant=d["tenant"], state=d["state"],
                 submitted_at=float(d["submitted_at"]), progress=progress, attempts=int(d.get("attempts") or 0),
                 cache_hit=bool(d.get("cache_hit")))
    for name in ("started_at", "finished_at", "device", "tier", "error"):
        if d.get(name) is not None:
            setattr(job, name, d[name] if isinstance(d[name], str) else float(d[name]))
    return job


def metrics_msg(row: dict[str, Any], skip: Iterable[str] = ()) -> cm.Metrics:
    skipped = set(skip)
    m = cm.Metrics(**{k: _nan(row.get(k)) for k in METRIC_FIELDS})
    for k, v in row.items():
        if k not in METRIC_FIELDS and k not in skipped and (v is None or isinstance(v, (int, float))) \
                and not isinstance(v, bool):
            m.extra[k] = _nan(v)
    return m


def backtest_result_msg(d: dict[str, Any]) -> bt.BacktestResult:
    eq = d.get("equity_curve") or {}
    return bt.BacktestResult(
        job_id=d["job_id"], strategy=d["strategy"], params={k: scalar(v) for k, v in d["params"].items()},
        backend=d["backend"], fees=float(d["fees"]), slippage=float(d["slippage"]), symbols=d["symbols"],
        metrics=[bt.MetricsRow(symbol=str(r["symbol"]), metrics=metrics_msg(r, ("symbol",))) for r in d["metrics"]],
        portfolio=metrics_msg(d["portfolio"]), n_bars=int(eq.get("n_bars", 0)), stride=int(eq.get("stride", 1)),
        bar=eq.get("bar", []), equity=[_nan(v) for v in eq.get("equity", [])])


def sweep_row(r: dict[str, Any]) -> bt.SweepRow:
    """A combination: its parameters, and its metrics (an orders sweep's other metrics in `extra`)."""
    params = {k: scalar(v) for k, v in r.items() if k not in ORDER_METRICS and k != "combo_id"}
    return bt.SweepRow(combo_id=int(r["combo_id"]), params=params,
                       metrics=metrics_msg({k: v for k, v in r.items() if k in ORDER_METRICS}))


def group_row(r: dict[str, Any]) -> bt.GroupRow:
    return bt.GroupRow(combo_id=int(r["combo_id"]), group=str(r["group"]),
                       metrics=metrics_msg({k: v for k, v in r.items() if k in ORDER_METRICS}))


def sweep_result_msg(d: dict[str, Any]) -> bt.SweepResult:
    return bt.SweepResult(job_id=d["job_id"], strategy=d["strategy"], rank_by=d["rank_by"], top_k=int(d["top_k"]),
                          backend=d["backend"], n_combinations=int(d["n_combinations"]),
                          n_dropped=int(d["n_dropped"]), top=[sweep_row(r) for r in d["top"]],
                          combinations=[sweep_row(r) for r in d["combinations"]], offset=int(d["offset"]),
                          limit=int(d["limit"]), truncated=bool(d["truncated"]),
                          groups=[group_row(r) for r in d.get("groups") or []])


def matrix(rows: list) -> cm.Matrix:
    """Nested lists (None: NaN) -> a packed Matrix; a flat list is one column."""
    arr = np.array([[_nan(v) for v in (r if isinstance(r, list) else [r])] for r in rows], dtype=np.float64)
    arr = arr.reshape(len(rows), -1) if rows else np.zeros((0, 0))
    return cm.Matrix(rows=arr.shape[0], cols=arr.shape[1], values=arr.ravel().tolist())


def features_msg(d: dict[str, Any]) -> rt.FeaturesReply:
    out = rt.FeaturesReply(source=d["source"], symbols=d["symbols"], timestamps=d["timestamps"],
                           features={k: matrix(v) for k, v in d["features"].items()}, priority=d["priority"],
                           device=d["device"], backend=d["backend"], simulated=bool(d["simulated"]),
                           compute_ms=float(d["compute_ms"]))
    for name in ("dataset", "dataset_version"):
        if d.get(name) is not None:
            setattr(out, name, d[name])
    return out


def model_msg(d: dict[str, Any]) -> ml.ModelRecord:
    rec = ml.ModelRecord(id=d["id"], name=d["name"], version=int(d["version"]), model=d["model"], task=d["task"],
                         backend=d["backend"], params={k: scalar(v) for k, v in (d.get("params") or {}).items()},
                         feature_names=d.get("feature_names") or [], n_features=int(d["n_features"]),
                         metrics={k: _nan(v) for k, v in (d.get("metrics") or {}).items()
                                  if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))},
                         created_at=str(d["created_at"]), sha256=d["sha256"], size_bytes=int(d["size_bytes"]),
                         n_train=int(d.get("n_train") or 0))
    if d.get("horizon") is not None:
        rec.horizon = int(d["horizon"])
    if d.get("dataset") is not None:
        rec.dataset = d["dataset"]
    return rec


def train_reply(d: dict[str, Any]) -> ml.TrainReply:
    out = ml.TrainReply(job=job_msg(d))
    if d.get("record"):
        out.record.CopyFrom(model_msg(d["record"]))
    return out


def predict_msg(d: dict[str, Any]) -> ml.PredictReply:
    out = ml.PredictReply(predictions=[_nan(v) for v in d["predictions"]], model=d["model"],
                          version=int(d["version"]), n_rows=int(d["n_rows"]), symbols=d.get("symbols") or [])
    if d.get("timestamp") is not None:
        out.timestamp = d["timestamp"]
    return out


def _numeric_map(d: Optional[dict[str, Any]]) -> dict[str, float]:
    return {k: float(v) for k, v in (d or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def device_msg(d: dict[str, Any]) -> ops.Device:
    dev = ops.Device(worker_id=d["worker_id"], kind=d["kind"], simulated=bool(d.get("simulated")),
                     healthy=bool(d["healthy"]), memory=_numeric_map(d.get("memory")),
                     budget=_numeric_map(d.get("budget")))
    for name in ("label", "backend", "health_state", "ready", "busy_job", "executed", "error"):
        if d.get(name) is not None:
            setattr(dev, name, d[name])
    return dev


def ticks_msg(d: dict[str, Any]) -> rt.MarketDataOut:
    return rt.MarketDataOut(features=rt.TickFeatures(
        stream_id=d["stream_id"], rows=int(d["rows"]), features={k: matrix(v) for k, v in d["features"].items()},
        worker_id=d["worker_id"], tier=d["tier"], recovered=bool(d["recovered"]), server_ms=float(d["server_ms"])))


def opened_msg(d: dict[str, Any]) -> rt.MarketDataOut:
    return rt.MarketDataOut(opened=rt.StreamInfo(
        stream_id=d["stream_id"], dataset=d["dataset"], dataset_version=d["dataset_version"], symbols=d["symbols"],
        outputs=d["outputs"], worker_id=d["worker_id"], tier=d["tier"]))


def _path_id(value: str) -> str:
    return quote(value, safe="@") or "-"


# ------------------------------------------------------------------ the deployment's methods
class GrpcIngress:
    """The RPCs of rayquant.v1 (and grpc.health.v1) as methods of the Serve ingress (a mixin).

    The host class sets `self.grpc_api` (its FastAPI app) once it is built; until then every RPC
    answers UNAVAILABLE.
    """

    grpc_api: Any = None

    # -- plumbing ----------------------------------------------------------------------------
    async def _http(self, ctx: Any, method: str, path: str, *, body: Any = None,
                    query: Optional[dict[str, Any]] = None) -> Any:
        """The route's JSON answer; an HTTP error raises RpcFailed."""
        if self.grpc_api is None:
            raise RpcFailed(503, {"retry-after": "1"}, json.dumps(
                {"error": {"code": "not_ready", "message": "the replica is starting"}}).encode())
        headers = []
        for key, value in (ctx.invocation_metadata() if ctx is not None else ()):
            if key == API_KEY_METADATA:
                headers.append((API_KEY_HEADER, value))
            elif key == TENANT_METADATA:
                headers.append((TENANT_HEADER, value))
        status, out_headers, data = await AsgiCall(self.grpc_api)(method, path, body=body, query=query,
                                                                  headers=headers)
        if status >= 400:
            raise RpcFailed(status, out_headers, data)
        return json.loads(data) if data else None

    async def _unary(self, ctx: Any, reply: Any, convert: Any, method: str, path: str, *, body: Any = None,
                     query: Optional[dict[str, Any]] = None, fields: Optional[dict[str, str]] = None) -> Any:
        try:
            return convert(await self._http(ctx, method, path, body=body, query=query))
        except RpcFailed as exc:
            _fail(ctx, exc, fields)
            return reply()

    # -- rayquant.v1.Backtests ---------------------------------------------------------------
    async def IntegratedBacktest(self, request: bt.BacktestRequest, grpc_context: Any = None) -> bt.BacktestReply:
        return await self._unary(grpc_context, bt.BacktestReply, _job_reply(bt.BacktestReply, backtest_result_msg),
                                 "POST", "/v1/backtests", body=backtest_body(request), query=wait_query(request))

    async def GetBacktestStatus(self, request: cm.JobRef, grpc_context: Any = None) -> cm.Job:
        return await self._unary(grpc_context, cm.Job, job_msg, "GET", f"/v1/backtests/{_path_id(request.job_id)}")

    async def GetBacktestResult(self, request: cm.JobRef, grpc_context: Any = None) -> bt.BacktestResult:
        return await self._unary(grpc_context, bt.BacktestResult, backtest_result_msg, "GET",
                                 f"/v1/backtests/{_path_id(request.job_id)}/result")

    async def CancelBacktest(self, request: cm.JobRef, grpc_context: Any = None) -> cm.Job:
        return await self._unary(grpc_context, cm.Job, job_msg, "DELETE", f"/v1/backtests/{_path_id(request.job_id)}")

    async def SubmitSweep(self, request: bt.SweepRequest, grpc_context: Any = None) -> bt.SweepReply:
        return await self._unary(grpc_context, bt.SweepReply, _job_reply(bt.SweepReply, sweep_result_msg),
                                 "POST", "/v1/sweeps", body=sweep_body(request), query=wait_query(request))

    async def GetSweepStatus(self, request: cm.JobRef, grpc_context: Any = None) -> cm.Job:
        return await self._unary(grpc_context, cm.Job, job_msg, "GET", f"/v1/sweeps/{_path_id(request.job_id)}")

    async def GetSweepResult(self, request: bt.SweepResultRequest, grpc_context: Any = None) -> bt.SweepResult:
        query: dict[str, Any] = {"offset": request.offset}
        if request.HasField("limit"):
            query["limit"] = request.limit
        return await self._unary(grpc_context, bt.SweepResult, sweep_result_msg, "GET",
                                 f"/v1/sweeps/{_path_id(request.job_id)}/result", query=query)

    async def CancelSweep(self, request: cm.JobRef, grpc_context: Any = None) -> cm.Job:
        return await self._unary(grpc_context, cm.Job, job_msg, "DELETE", f"/v1/sweeps/{_path_id(request.job_id)}")

    async def ListJobs(self, request: bt.ListJobsRequest, grpc_context: Any = None) -> bt.JobList:
        query: dict[str, Any] = {}
        for name in ("tenant", "state", "limit"):
            _opt(request, name, query)
        return await self._unary(grpc_context, bt.JobList, lambda d: bt.JobList(jobs=[job_msg(j) for j in d]),
                                 "GET", "/v1/jobs", query=query)

    # -- rayquant.v1.Realtime ----------------------------------------------------------------
    async def ComputeFeatures(self, request: rt.FeaturesRequest, grpc_context: Any = None) -> rt.FeaturesReply:
        return await self._unary(grpc_context, rt.FeaturesReply, features_msg, "POST", "/v1/features",
                                 body=features_body(request))

    async def StreamMarketData(self, requests: AsyncIterator[rt.MarketDataIn],
                               grpc_context: Any = None) -> AsyncIterator[rt.MarketDataOut]:
        async for out in self._stream(grpc_context, _opened_batches(requests)):
            yield out

    async def ReplayMarketData(self, request: rt.MarketDataReplay,
                               grpc_context: Any = None) -> AsyncIterator[rt.MarketDataOut]:
        async def messages() -> AsyncIterator[Any]:
            yield request.open
            for batch in request.batches:
                yield batch

        async for out in self._stream(grpc_context, messages()):
            yield out

    async def _stream(self, ctx: Any, messages: AsyncIterator[Any]) -> AsyncIterator[rt.MarketDataOut]:
        """Open a stream (POST /v1/streams), one POST /v1/ticks per batch, close it at the end."""
        stream_id = None
        try:
            async for msg in messages:
                if stream_id is None:
                    if not isinstance(msg, rt.StreamOpen):
                        raise RpcFailed(422, {}, _error_body("validation_error", "the first message must be open",
                                                             "open"))
                    opened = await self._http(ctx, "POST", "/v1/streams", body=stream_open_body(msg))
                    stream_id = opened["stream_id"]
                    yield opened_msg(opened)
                    continue
                if isinstance(msg, rt.StreamOpen):
                    raise RpcFailed(422, {}, _error_body("validation_error", "the stream is already open", "open"))
                yield ticks_msg(await self._http(ctx, "POST", "/v1/ticks",
                                                 body={"stream_id": stream_id, "ticks": tick_columns(msg)}))
        except RpcFailed as exc:
            # A stream's status travels with an exception (Serve applies a status set on the context only
            # with a message): the code and the details naming the field, without the rich details.
            _fail(ctx, exc)
            raise StreamFailed(ctx.details() if ctx is not None else str(exc.status)) from None
        finally:
            if stream_id is not None:
                try:
                    await self._http(ctx, "DELETE", f"/v1/streams/{_path_id(stream_id)}")
                except (RpcFailed, Exception):  # noqa: BLE001 - closing is best effort (idle streams are evicted)
                    pass

    # -- rayquant.v1.Models ------------------------------------------------------------------
    async def TrainModel(self, request: ml.TrainRequest, grpc_context: Any = None) -> ml.TrainReply:
        return await self._unary(grpc_context, ml.TrainReply, train_reply, "POST", "/v1/models",
                                 body=train_body(request), query=wait_query(request))

    async def GetTrainingStatus(self, request: cm.JobRef, grpc_context: Any = None) -> ml.TrainReply:
        return await self._unary(grpc_context, ml.TrainReply, train_reply, "GET",
                                 f"/v1/models/jobs/{_path_id(request.job_id)}")

    async def GetModelMetrics(self, request: ml.ModelRef, grpc_context: Any = None) -> ml.ModelRecord:
        return await self._unary(grpc_context, ml.ModelRecord, model_msg, "GET",
                                 f"/v1/models/{_path_id(request.model_id)}")

    async def ListModels(self, request: ml.ListModelsRequest, grpc_context: Any = None) -> ml.ModelList:
        return await self._unary(grpc_context, ml.ModelList, lambda d: ml.ModelList(models=[model_msg(m) for m in d]),
                                 "GET", "/v1/models")

    async def Predict(self, request: ml.PredictRequest, grpc_context: Any = None) -> ml.PredictReply:
        return await self._unary(grpc_context, ml.PredictReply, predict_msg, "POST",
                                 f"/v1/models/{_path_id(request.model_id)}/predict", body=predict_body(request),
                                 fields={"ndarray": "rows", "columns": "rows"})

    # -- rayquant.v1.Operations --------------------------------------------------------------
    async def ListDevices(self, request: ops.ListDevicesRequest, grpc_context: Any = None) -> ops.DeviceList:
        return await self._unary(grpc_context, ops.DeviceList,
                                 lambda d: ops.DeviceList(devices=[device_msg(x) for x in d]), "GET", "/v1/devices")

    async def ListDatasets(self, request: ops.ListDatasetsRequest, grpc_context: Any = None) -> ops.DatasetList:
        return await self._unary(grpc_context, ops.DatasetList, lambda d: ops.DatasetList(
            datasets=[ops.Dataset(**{k: v for k, v in x.items() if k in ops.Dataset.DESCRIPTOR.fields_by_name})
                      for x in d]), "GET", "/v1/datasets")

    async def Ready(self, request: ops.ReadyRequest, grpc_context: Any = None) -> ops.ReadyReply:
        body = await self._ready(grpc_context)
        out = ops.ReadyReply(ready=bool(body.get("ready")), workers=int(body.get("workers") or 0),
                             workers_ready=int(body.get("workers_ready") or 0),
                             queue_depth={k: int(v) for k, v in (body.get("queue_depth") or {}).items()})
        if body.get("reason"):
            out.reason = body["reason"]
        return out

    async def _ready(self, ctx: Any) -> dict[str, Any]:
        try:
            return await self._http(ctx, "GET", "/readyz")
        except RpcFailed as exc:
            try:
                message = json.loads(exc.body)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = "not ready"
            return {"ready": False, "reason": message}

    # -- grpc.health.v1.Health ---------------------------------------------------------------
    async def Check(self, request: Any, grpc_context: Any = None) -> Any:
        from grpc_health.v1 import health_pb2  # noqa: PLC0415

        if request.service and request.service not in SERVICES:
            _set_status(grpc_context, "NOT_FOUND", f"unknown service {request.service!r}")
            return health_pb2.HealthCheckResponse()
        ready = (await self._ready(grpc_context)).get("ready")
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING if ready
                                              else health_pb2.HealthCheckResponse.NOT_SERVING)

    async def Watch(self, request: Any, grpc_context: Any = None) -> AsyncIterator[Any]:
        """The status now, then each change (polled every HEALTH_WATCH_INTERVAL_S) until the client leaves."""
        from grpc_health.v1 import health_pb2  # noqa: PLC0415

        last = None
        while True:
            if request.service and request.service not in SERVICES:
                status = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
            else:
                ready = (await self._ready(grpc_context)).get("ready")
                status = health_pb2.HealthCheckResponse.SERVING if ready else \
                    health_pb2.HealthCheckResponse.NOT_SERVING
            if status != last:
                last = status
                yield health_pb2.HealthCheckResponse(status=status)
            await asyncio.sleep(HEALTH_WATCH_INTERVAL_S)


def _job_reply(reply_type: Any, result: Any) -> Any:
    """A submit's JSON (a job, with `result` when it waited and succeeded) -> BacktestReply / SweepReply."""
    def convert(d: dict[str, Any]) -> Any:
        out = reply_type(job=job_msg(d))
        if d.get("result"):
            out.result.CopyFrom(result(d["result"]))
        return out

    return convert


async def _opened_batches(requests: AsyncIterator[rt.MarketDataIn]) -> AsyncIterator[Any]:
    async for msg in requests:
        kind = msg.WhichOneof("message")
        if kind is not None:
            yield getattr(msg, kind)


def _error_body(code: str, message: str, field: Optional[str] = None) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, **({"field": field} if field else {})}}).encode()


def _set_status(ctx: Any, name: str, details: str, metadata: Optional[list[tuple[str, Any]]] = None) -> None:
    import grpc  # noqa: PLC0415

    if ctx is None:
        raise RuntimeError(f"{name}: {details}")
    ctx.set_code(getattr(grpc.StatusCode, name))
    ctx.set_details(details)
    if metadata:
        ctx.set_trailing_metadata(metadata)


def _fail(ctx: Any, exc: RpcFailed, fields: Optional[dict[str, str]] = None) -> None:
    name, details, metadata = error_status(exc.status, exc.headers, exc.body, fields)
    _set_status(ctx, name, details, metadata)


__all__ = ["APPLICATION_METADATA", "AsgiCall", "GRPC_SERVICER_FUNCTIONS", "GrpcIngress", "SERVICES", "error_status",
           "servicer_functions"]
