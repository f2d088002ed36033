"""The `/v1` routes: validate, call the coordinator, map domain errors to HTTP codes.

Routes stay thin. Everything they need (the coordinator handle and the
`ServeConfig`) comes from `Service`, reached through `Annotated[..., Depends(...)]`
aliases, so the same routes run in the Serve replica and in plain tests.
"""
from __future__ import annotations

import asyncio
import functools
import io
import math
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Optional

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, FastAPI, File, Form, Query, Request, Response, UploadFile

from actors.jobs.records import JOB_ID_PATTERN
from actors.settings import ServeConfig
from deployments.http.auth import Principal, principal_from_request
from deployments.control_loop import ControlLoop
from deployments.http.errors import (ApiError, BodyLimitMiddleware, domain_error, install_error_handlers, not_found,
                                public_job_error)
from deployments.http.schemas import (
    BacktestCreate,
    BacktestPublic,
    BacktestResultPublic,
    DatasetPublic,
    DevicePublic,
    EquityCurve,
    ErrorBody,
    FeaturesCreate,
    FeaturesPublic,
    HealthPublic,
    JobPublic,
    JobStateName,
    ReadyPublic,
    SweepCreate,
    SweepPublic,
    SweepResultPublic,
    WalkForwardCreate,
    WalkForwardPublic,
    WalkForwardResultPublic,
)

API_VERSION = "v1"
PARQUET_MAGIC = b"PAR1"


@dataclass
class Service:
    """What the routes use: the coordinator actor handle, a live router and the HTTP configuration.

    `live` (an `actors.live.router.LiveRouter`) sends live work straight to a worker
    with the coordinator's placement and fallback rules; without it, or when a
    request pins a dataset version, live work goes through `coordinator.run_live`.
    """

    coordinator: Any
    config: ServeConfig
    live: Any = None
    control: Optional[ControlLoop] = None  # where coordinator calls run (None: on the caller's loop)
    datasets: Any = None  # a read-only actors.datasets.DatasetStore on the same storage: live dataset names

    def dataset_ref(self, tenant: str, name: Optional[str]) -> Optional[str]:
        """The dataset live work uses for a tenant's plain `name`: its own (scoped) one, else the shared one.

        Without a store here (tests), or for a name nobody has, the plain name goes on (and an unknown
        dataset is a 422 from the coordinator).
        """
        if name is None or self.datasets is None:
            return name
        from actors.datasets import DatasetNotFound  # noqa: PLC0415

        try:
            return self.datasets.resolve(tenant, name)
        except DatasetNotFound:
            return name

    async def run_live(self, kind: str, payload: dict[str, Any], priority: str, tenant: str,
                       params_field: str = "params") -> Any:
        """Live work now (never queued behind research jobs); domain errors become ApiErrors."""
        if self.live is None or payload.get("dataset_version"):
            return await self.call("run_live", kind, payload, priority, tenant, params_field=params_field)
        try:
            return await bounded(self.live.run(kind, payload, priority, tenant), self.config.coordinator_timeout_s)
        except Exception as exc:  # mapped to 4xx/503, or re-raised as a server fault
            raise domain_error(exc, params_field=params_field,
                               retry_after_s=self.config.unavailable_retry_after_s) from exc

    async def remote(self, method: str, *args: Any, timeout_s: Optional[float] = None) -> Any:
        """Await one coordinator method, on the control loop when there is one (errors as raised)."""
        async def call() -> Any:
            return await getattr(self.coordinator, method).remote(*args)

        deadline = timeout_s or self.config.coordinator_timeout_s
        return await bounded(call() if self.control is None else self.control.run(call), deadline)

    async def call(self, method: str, *args: Any, timeout_s: Optional[float] = None,
                   params_field: str = "params", data_field: str = "file") -> Any:
        """Await one coordinator method; domain errors become ApiErrors."""
        try:
            return await self.remote(method, *args, timeout_s=timeout_s)
        except Exception as exc:  # mapped to 4xx/503, or re-raised as a server fault
            raise domain_error(exc, params_field=params_field, data_field=data_field,
                               retry_after_s=self.config.unavailable_retry_after_s) from exc


async def bounded(coro: Any, timeout_s: float) -> Any:
    """`await coro` with a deadline (asyncio.timeout where it exists: no extra task per call)."""
    if hasattr(asyncio, "timeout"):  # Python >= 3.11
        async with asyncio.timeout(timeout_s):
            return await coro
    return await asyncio.wait_for(coro, timeout_s)


async def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]
PrincipalDep = Annotated[Principal, Depends(principal_from_request)]

_ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 404, 408, 409, 413, 422, 429, 503)}
WAITED = "wait=true and the job finished: succeeded (with its result), failed or cancelled"


# ------------------------------------------------------------------ helpers
def _priority(given: Optional[str], default: str, allowed: tuple[str, ...], what: str) -> str:
    chosen = given or default
    if chosen not in allowed:
        raise ApiError(422, "validation_error", f"priority {chosen} is not allowed for {what}; use one of {list(allowed)}",
                       "priority")
    return chosen


def _check_symbols_limit(symbols: Optional[list[str]], config: ServeConfig) -> None:
    if symbols is not None and len(symbols) > config.max_symbols:
        raise ApiError(413, "too_large", f"{len(symbols)} symbols are over the limit of {config.max_symbols}", "symbols")


def _check_grid_limit(n: int, config: ServeConfig, code: str) -> None:
    """413 `code` naming `grid` when a grid has more combinations than max_sweep_combinations."""
    if n > config.max_sweep_combinations:
        raise ApiError(413, code, f"the grid has {n} combinations, over the limit of {config.max_sweep_combinations}",
                       "grid")


def _job_id(job_id: str) -> str:
    if not JOB_ID_PATTERN.fullmatch(job_id):
        raise not_found("job", job_id)
    return job_id


def _links(kind: str, job_id: str) -> dict[str, str]:
    base = f"/{API_VERSION}/{_collection(kind)}/{job_id}"
    return {"self": base, "result": f"{base}/result"} if kind in ("backtest", "sweep", "walk_forward") \
        else {"self": base}


def _collection(kind: str) -> str:
    return {"backtest": "backtests", "sweep": "sweeps", "walk_forward": "walkforwards"}.get(kind, "jobs")


def _public(status: dict[str, Any]) -> dict[str, Any]:
    return {**status, "links": _links(status["kind"], status["job_id"])}


def _finite(values: np.ndarray) -> list:
    """A float array as nested lists with None where the value is NaN or infinite."""
    arr = np.asarray(values, dtype=np.float64)
    out = arr.astype(object)
    out[~np.isfinite(arr)] = None
    return out.tolist()


def _py(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _column(values: Any) -> list:
    """One column as Python values: floats with None where not finite, NumPy scalars as Python."""
    arr = np.asarray(values) if isinstance(values, np.ndarray) else None
    if arr is not None and arr.dtype.kind == "f":
        return _finite(arr)
    if arr is not None and arr.dtype.kind in "iub":
        return arr.tolist()
    return [_py(v) for v in values]


def frame_records(df: pd.DataFrame, index_name: str) -> list[dict[str, Any]]:
    """A DataFrame as JSON records (index first), NaN/inf as null, NumPy scalars as Python.

    Column by column (vectorised): a sweep's tables can have thousands of rows.
    """
    keys = [index_name, *(str(c) for c in df.columns)]
    columns = [_column(df.index.to_numpy()), *(_column(col.to_numpy()) for _, col in df.items())]
    return [dict(zip(keys, row)) for row in zip(*columns)]


def _equity(equity: Any, max_points: int) -> EquityCurve:
    values = np.asarray(equity, dtype=np.float64).reshape(-1)
    n = len(values)
    stride = max(1, math.ceil(n / max_points))
    bars = list(range(0, n, stride))
    if n and bars[-1] != n - 1:
        bars.append(n - 1)
    index = getattr(equity, "index", None)  # a time-indexed Series (RunResult.portfolio_equity)
    times = None
    if isinstance(index, pd.DatetimeIndex) and len(index) == n:
        times = [index[b].isoformat() for b in bars]
    return EquityCurve(n_bars=n, stride=stride, bar=bars, equity=_finite(values[bars]) if n else [], time=times)


def backtest_result(job_id: str, result: Any, equity_max_points: int) -> BacktestResultPublic:
    metrics = result.metrics
    portfolio = metrics.loc["portfolio"] if "portfolio" in metrics.index else metrics.iloc[-1]
    return BacktestResultPublic(
        job_id=job_id,
        strategy=str(result.strategy),
        params={k: _py(v) for k, v in dict(result.params).items()},
        backend=str(result.backend),
        fees=float(result.fees),
        slippage=float(result.slippage),
        symbols=[str(s) for s in result.symbols],
        metrics=frame_records(metrics, "symbol"),
        portfolio={str(k): _py(v) for k, v in portfolio.items()},
        engine=str(getattr(result, "engine", "returns")),
        order_options={str(k): _py(v) for k, v in dict(getattr(result, "order_options", None) or {}).items()},
        equity_curve=_equity(result.portfolio_equity, equity_max_points),
    )


def sweep_result(job_id: str, result: Any, offset: int, limit: int) -> SweepResultPublic:
    table = result.params.join(result.portfolio_metrics, how="inner")
    page = table.iloc[offset: offset + limit]
    groups = None
    units = result.asset_metrics
    if isinstance(units.index, pd.MultiIndex) and units.index.names[-1] == "group":  # orders sweep with group_by
        rows = units[units.index.get_level_values("combo_id").isin(page.index)].reset_index("group")
        groups = frame_records(rows, "combo_id")
    return SweepResultPublic(
        job_id=job_id,
        strategy=str(result.strategy),
        rank_by=str(result.rank_by),
        top_k=int(result.top_k),
        backend=str(result.backend),
        n_combinations=int(len(table)),
        n_dropped=int(result.n_dropped),
        top=frame_records(result.top, "combo_id"),
        combinations=frame_records(page, "combo_id"),
        offset=offset,
        limit=limit,
        truncated=offset + len(page) < len(table),
        groups=groups,
    )


def walk_forward_result(job_id: str, result: Any, equity_max_points: int) -> WalkForwardResultPublic:
    """Per fold: windows (ISO timestamps and bars), chosen parameters, in-sample `rank_by`, out-of-sample
    metrics (`oos_*`); the stitched out-of-sample equity and its metrics."""
    folds = result.folds.copy()
    for col in ("train_start", "train_end", "test_start", "test_end"):
        folds[col] = [pd.Timestamp(t).isoformat() for t in folds[col]]
    table = pd.concat([folds, result.params, result.in_sample[[result.rank_by]].add_prefix("is_"),
                       result.out_of_sample.add_prefix("oos_")], axis=1)
    oos = result.oos_metrics.iloc[0] if len(result.oos_metrics) else pd.Series(dtype=float)
    return WalkForwardResultPublic(
        job_id=job_id,
        strategy=str(result.strategy),
        rank_by=str(result.rank_by),
        engine=str(result.engine),
        backend=str(result.backend),
        train=int(result.train),
        test=int(result.test),
        step=int(result.step),
        anchored=bool(result.anchored),
        warmup=int(getattr(result, "warmup", 0)),
        n_folds=int(len(result.folds)),
        folds=frame_records(table, "fold"),
        oos_metrics={str(k): _py(v) for k, v in oos.items()},
        equity_curve=_equity(result.oos["equity"].to_numpy(), equity_max_points),
    )


def encode_job(kind: str, equity_max_points: int, row_limit: int, status: dict[str, Any], result: Any) -> bytes:
    """A finished backtest's or sweep's response (status, links and result) as JSON bytes.

    Runs in the coordinator's process (`wait_result`, as a `functools.partial`), beside
    the stored result: the replica's event loop, which live requests share, receives
    bytes, never the result object (20 results of a burst once kept features requests
    waiting there for tens of ms: deserialising, converting, encoding).
    """
    if kind == "backtest":
        backtest = BacktestPublic(**_public(status))
        backtest.result = backtest_result(status["job_id"], result, equity_max_points)
        return backtest.model_dump_json().encode()
    if kind == "walk_forward":
        walk = WalkForwardPublic(**_public(status))
        walk.result = walk_forward_result(status["job_id"], result, equity_max_points)
        return walk.model_dump_json().encode()
    sweep = SweepPublic(**_public(status))
    sweep.result = sweep_result(status["job_id"], result, 0, row_limit)
    return sweep.model_dump_json().encode()


def encode_result(kind: str, equity_max_points: int, offset: int, limit: int, status: dict[str, Any],
                  result: Any) -> bytes:
    """`GET /{kind}s/{id}/result`'s body as JSON bytes (in the coordinator's process, `result_as`)."""
    if kind == "backtest":
        return backtest_result(status["job_id"], result, equity_max_points).model_dump_json().encode()
    if kind == "walk_forward":
        return walk_forward_result(status["job_id"], result, equity_max_points).model_dump_json().encode()
    return sweep_result(status["job_id"], result, offset, limit).model_dump_json().encode()


def feature_arrays(result: Any) -> tuple[np.ndarray, list[str], dict[str, np.ndarray]]:
    """(index, symbols, {label: (bars, symbols) array}) from a FeatureBlock or a {label: DataFrame} mapping."""
    values = getattr(result, "values", None)
    if isinstance(values, dict) and hasattr(result, "index") and hasattr(result, "symbols"):  # actors.jobs.plans.FeatureBlock
        return np.asarray(result.index), [str(s) for s in result.symbols], {str(k): np.asarray(v) for k, v in
                                                                            values.items()}
    frames = {str(label): result[label] for label in result}
    first = next(iter(frames.values()))
    return (np.asarray(pd.DatetimeIndex(first.index)), [str(s) for s in first.columns],
            {label: df.to_numpy() for label, df in frames.items()})


def features_public(result: Any, *, source: str, priority: str, device: str, backend: str, simulated: bool,
                    compute_s: float, dataset: Optional[str] = None,
                    dataset_version: Optional[str] = None) -> FeaturesPublic:
    index, symbols, values = feature_arrays(result)
    return FeaturesPublic(
        source=source,  # type: ignore[arg-type]
        dataset=dataset,
        dataset_version=dataset_version,
        symbols=symbols,
        timestamps=[t.isoformat() for t in pd.DatetimeIndex(index)],
        features={label: _finite(arr) for label, arr in values.items()},
        priority=priority,
        device=device,
        backend=backend,
        simulated=simulated,
        compute_ms=compute_s * 1e3,
    )


async def _owned_status(svc: Service, principal: Principal, job_id: str, kind: Optional[str]) -> dict[str, Any]:
    """A job's status if it exists, is of `kind` and is visible to the caller; else 404."""
    status = await svc.call("status", _job_id(job_id))
    if (kind is not None and status["kind"] != kind) or not principal.may_see(status["tenant"]):
        raise not_found(kind or "job", job_id)
    return status


def _result_conflict(status: dict[str, Any]) -> ApiError:
    state = status["state"]
    if state == "cancelled":
        return ApiError(409, "job_cancelled", f"job {status['job_id']} was cancelled; it has no result")
    if state == "failed":
        return ApiError(409, "job_failed", f"job {status['job_id']} failed: {public_job_error(status.get('error'))[1]}")
    return ApiError(409, "job_not_ready", f"job {status['job_id']} is {state}; poll its status and retry")


async def _submit(svc: Service, principal: Principal, kind: str, body: Any, response: Response, wait: bool,
                  timeout_s: Optional[float]) -> tuple[dict[str, Any], Optional[bytes]]:
    """Submit a job; with `wait`, wait for it: (status, None), or (status, the whole response's JSON bytes
    from `encode_job`) when it succeeded."""
    config = svc.config
    priority = _priority(body.priority, config.research_priority, config.research_priorities, "research jobs")
    _check_symbols_limit(body.symbols, config)
    if timeout_s is not None and timeout_s > config.max_wait_timeout_s:
        raise ApiError(422, "validation_error", f"timeout_s: at most {config.max_wait_timeout_s:g}", "timeout_s")
    params_field = "params" if kind == "backtest" else "grid"
    if not wait:
        job_id = await svc.call("submit", kind, body.payload(), priority, principal.tenant, params_field=params_field)
        response.headers["Location"] = f"/{API_VERSION}/{_collection(kind)}/{job_id}"
        response.status_code = 202
        return _public(await svc.call("status", job_id)), None
    # One coordinator call (each costs the replica's event loop about a millisecond), the result converted there.
    limit = timeout_s if timeout_s is not None else config.wait_timeout_s
    convert = functools.partial(encode_job, kind, config.equity_max_points, config.result_row_limit)
    job_id, status, encoded = await svc.call("submit_wait_result", kind, body.payload(), priority, principal.tenant,
                                             limit, convert, timeout_s=limit + config.coordinator_timeout_s,
                                             params_field=params_field)
    response.headers["Location"] = f"/{API_VERSION}/{_collection(kind)}/{job_id}"
    if encoded is None:
        response.status_code = 200 if status["state"] in ("failed", "cancelled") else 202
        return _public(status), None
    response.status_code = 200
    return _public(status), encoded


WaitFlag = Annotated[bool, Query(description="wait for the result and return it")]
WaitTimeout = Annotated[Optional[float], Query(gt=0, description="seconds to wait with wait=true (default from "
                                                                 "config, at most max_wait_timeout_s)")]
Offset = Annotated[int, Query(ge=0)]
RowLimit = Annotated[Optional[int], Query(ge=1, description="rows per page (default and maximum from config)")]
ListLimit = Annotated[Optional[int], Query(ge=1, description="at most this many (capped by the coordinator)")]
TenantFilter = Annotated[Optional[str], Query(max_length=64)]
DatasetQuery = Annotated[str, Query(max_length=64, description="registered dataset name")]
IndicatorQuery = Annotated[list[str], Query(min_length=1, description="repeat: name or name:param=value,param=value "
                                                                      "(e.g. rsi:timeperiod=14)")]
SymbolsQuery = Annotated[Optional[str], Query(description="comma-separated symbols (default: all)")]
WindowQuery = Annotated[Optional[int], Query(ge=1, description="bars returned, the latest (default 1)")]
PriorityQuery = Annotated[Optional[str], Query(description="REALTIME (default) or HIGH")]
VersionQuery = Annotated[Optional[str], Query(description="content-hash version (default: the latest)")]


# ------------------------------------------------------------------ routers
def build_live_router() -> APIRouter:
    """`POST` and `GET /v1/features` (live: also served by the live application)."""
    router = APIRouter(prefix=f"/{API_VERSION}", responses=_ERRORS)

    # -- features (live) --------------------------------------------------------------
    @router.post("/features", response_model=FeaturesPublic, tags=["live"],
                 summary="Indicators over a dataset's latest bars, or over bars sent inline (REALTIME by default)")
    async def features(body: FeaturesCreate, svc: ServiceDep, principal: PrincipalDep,
                       response: Response) -> FeaturesPublic:
        return await _features(svc, body, response, principal.tenant)

    @router.get("/features", response_model=FeaturesPublic, tags=["live"],
                summary="The same for a dataset, as a query (no request body: one hop less through Serve)")
    async def features_query(svc: ServiceDep, principal: PrincipalDep, response: Response,
                             dataset: DatasetQuery, indicator: IndicatorQuery, symbols: SymbolsQuery = None,
                             window: WindowQuery = 1, priority: PriorityQuery = None,
                             dataset_version: VersionQuery = None) -> FeaturesPublic:
        return await _features(svc, features_from_query(dataset, indicator, symbols, window, priority,
                                                        dataset_version), response, principal.tenant)

    return router


def build_router(config: ServeConfig) -> APIRouter:
    """The research and operations /v1 routes (limits that shape the OpenAPI schema come from `config`)."""
    router = APIRouter(prefix=f"/{API_VERSION}", responses=_ERRORS)

    # -- backtests -----------------------------------------------------------------
    @router.post("/backtests", response_model=BacktestPublic, status_code=202, tags=["backtests"],
                 responses={200: {"model": BacktestPublic, "description": WAITED}},
                 summary="Submit a backtest (LOW by default); wait=true returns its result")
    async def create_backtest(body: BacktestCreate, svc: ServiceDep, principal: PrincipalDep, response: Response,
                              wait: WaitFlag = False, timeout_s: WaitTimeout = None) -> BacktestPublic:
        status, encoded = await _submit(svc, principal, "backtest", body, response, wait, timeout_s)
        return BacktestPublic(**status) if encoded is None else encoded_response(encoded, response)

    @router.get("/backtests/{job_id}", response_model=JobPublic, tags=["backtests"],
                summary="A backtest's state, progress, device and tier")
    async def get_backtest(job_id: str, svc: ServiceDep, principal: PrincipalDep) -> JobPublic:
        return JobPublic(**_public(await _owned_status(svc, principal, job_id, "backtest")))

    @router.get("/backtests/{job_id}/result", response_model=BacktestResultPublic, tags=["backtests"],
                summary="Metrics table (records) and the portfolio equity curve")
    async def get_backtest_result(job_id: str, svc: ServiceDep, principal: PrincipalDep) -> BacktestResultPublic:
        status = await _owned_status(svc, principal, job_id, "backtest")
        if status["state"] != "succeeded":
            raise _result_conflict(status)
        return encoded_response(await svc.call("result_as", job_id, functools.partial(
            encode_result, "backtest", svc.config.equity_max_points, 0, 0)))

    @router.delete("/backtests/{job_id}", response_model=JobPublic, tags=["backtests"],
                   summary="Cancel a backtest (409 when it already succeeded or failed)")
    async def cancel_backtest(job_id: str, svc: ServiceDep, principal: PrincipalDep) -> JobPublic:
        return await _cancel(svc, principal, job_id, "backtest")

    # -- sweeps ----------------------------------------------------------------------
    @router.post("/sweeps", response_model=SweepPublic, status_code=202, tags=["sweeps"],
                 responses={200: {"model": SweepPublic, "description": WAITED}},
                 summary="Submit a parameter sweep (LOW by default); wait=true returns its result")
    async def create_sweep(body: SweepCreate, svc: ServiceDep, principal: PrincipalDep, response: Response,
                           wait: WaitFlag = False, timeout_s: WaitTimeout = None) -> SweepPublic:
        _check_grid_limit(body.n_combinations, svc.config, "grid_too_large")
        status, encoded = await _submit(svc, principal, "sweep", body, response, wait, timeout_s)
        return SweepPublic(**status) if encoded is None else encoded_response(encoded, response)

    @router.get("/sweeps/{job_id}", response_model=JobPublic, tags=["sweeps"],
                summary="A sweep's state, progress, device and tier")
    async def get_sweep(job_id: str, svc: ServiceDep, principal: PrincipalDep) -> JobPublic:
        return JobPublic(**_public(await _owned_status(svc, principal, job_id, "sweep")))

    @router.get("/sweeps/{job_id}/result", response_model=SweepResultPublic, tags=["sweeps"],
                summary="Top-k and a page of every combination's portfolio metrics")
    async def get_sweep_result(job_id: str, svc: ServiceDep, principal: PrincipalDep,
                               offset: Offset = 0, limit: RowLimit = None) -> SweepResultPublic:
        if limit is not None and limit > svc.config.max_result_rows:
            raise ApiError(422, "validation_error", f"limit: at most {svc.config.max_result_rows}", "limit")
        status = await _owned_status(svc, principal, job_id, "sweep")
        if status["state"] != "succeeded":
            raise _result_conflict(status)
        return encoded_response(await svc.call("result_as", job_id, functools.partial(
            encode_result, "sweep", svc.config.equity_max_points, offset, limit or svc.config.result_row_limit)))

    @router.delete("/sweeps/{job_id}", response_model=JobPublic, tags=["sweeps"],
                   summary="Cancel a sweep (409 when it already succeeded or failed)")
    async def cancel_sweep(job_id: str, svc: ServiceDep, principal: PrincipalDep) -> JobPublic:
        return await _cancel(svc, principal, job_id, "sweep")

    # -- walk-forwards -----------------------------------------------------------------
    @router.post("/walkforwards", response_model=WalkForwardPublic, status_code=202, tags=["walkforwards"],
                 responses={200: {"model": WalkForwardPublic, "description": WAITED}},
                 summary="Submit a walk-forward optimisation (LOW by default; a chunk per fold); wait=true returns "
                         "its result")
    async def create_walk_forward(body: WalkForwardCreate, svc: ServiceDep, principal: PrincipalDep,
                                  response: Response, wait: WaitFlag = False,
                                  timeout_s: WaitTimeout = None) -> WalkForwardPublic:
        _check_grid_limit(body.n_combinations, svc.config, "too_large")
        status, encoded = await _submit(svc, principal, "walk_forward", body, response, wait, timeout_s)
        return WalkForwardPublic(**status) if encoded is None else encoded_response(encoded, response)

    @router.get("/walkforwards/{job_id}", response_model=JobPublic, tags=["walkforwards"],
                summary="A walk-forward's state, progress (folds done), device and tier")
    async def get_walk_forward(job_id: str, svc: ServiceDep, principal: PrincipalDep) -> JobPublic:
        return JobPublic(**_public(await _owned_status(svc, principal, job_id, "walk_forward")))

    @router.get("/walkforwards/{job_id}/result", response_model=WalkForwardResultPublic, tags=["walkforwards"],
                summary="Per fold: windows, chosen parameters, in-sample rank metric, out-of-sample metrics; the "
                        "stitched out-of-sample equity")
    async def get_walk_forward_result(job_id: str, svc: ServiceDep, principal: PrincipalDep) -> WalkForwardResultPublic:
        status = await _owned_status(svc, principal, job_id, "walk_forward")
        if status["state"] != "succeeded":
            raise _result_conflict(status)
        return encoded_response(await svc.call("result_as", job_id, functools.partial(
            encode_result, "walk_forward", svc.config.equity_max_points, 0, 0)))

    @router.delete("/walkforwards/{job_id}", response_model=JobPublic, tags=["walkforwards"],
                   summary="Cancel a walk-forward (409 when it already succeeded or failed)")
    async def cancel_walk_forward(job_id: str, svc: ServiceDep, principal: PrincipalDep) -> JobPublic:
        return await _cancel(svc, principal, job_id, "walk_forward")

    # -- datasets ----------------------------------------------------------------------
    @router.get("/datasets", response_model=list[DatasetPublic], tags=["datasets"],
                summary="Registered datasets (latest version of each)")
    async def list_datasets(svc: ServiceDep, principal: PrincipalDep) -> list[DatasetPublic]:
        return [DatasetPublic(**d) for d in await svc.call("list_datasets", principal.tenant)]

    @router.post("/datasets", response_model=DatasetPublic, status_code=201, tags=["datasets"],
                 summary="Upload long-form OHLCV as Parquet or CSV; validated, versioned by content hash")
    async def upload_dataset(
        svc: ServiceDep,
        principal: PrincipalDep,
        name: Annotated[str, Form(description="dataset name: letters, digits, '_' or '-', starting with a letter")],
        file: Annotated[UploadFile, File(description="columns timestamp, symbol, open, high, low, close, volume")],
        format: Annotated[Optional[Literal["parquet", "csv"]], Form()] = None,
    ) -> DatasetPublic:
        from actors.datasets import NAME_PATTERN  # noqa: PLC0415

        if not NAME_PATTERN.match(name):
            raise ApiError(422, "validation_error",
                           "name: use 1-64 letters, digits, '_' or '-', starting with a letter", "name")
        data = await file.read()
        kind = format or _detect_format(file.filename, data)
        panel = await asyncio.to_thread(_parse_upload, data, kind, svc.config)
        # A tenant's upload is its own; an admin's is published, shared read-only with every tenant.
        owner = None if principal.admin else principal.tenant
        meta = await svc.call("register_dataset", name, panel, owner)
        return DatasetPublic(**meta)

    # -- devices and jobs --------------------------------------------------------------
    @router.get("/devices", response_model=list[DevicePublic], tags=["operations"],
                summary="Every worker's device: budget, use, health, simulated or not")
    async def devices(svc: ServiceDep, principal: PrincipalDep) -> list[DevicePublic]:
        return [_device(d, principal) for d in await svc.call("devices")]

    @router.get("/jobs", response_model=list[JobPublic], tags=["operations"], summary="Jobs, newest first",
                responses={403: {"model": ErrorBody, "description": "a key asks for another tenant's jobs"}})
    async def list_jobs(svc: ServiceDep, principal: PrincipalDep,
                        tenant: TenantFilter = None, state: Optional[JobStateName] = None,
                        limit: ListLimit = None) -> list[JobPublic]:
        if principal.authenticated:
            if tenant is not None and tenant != principal.tenant:
                raise ApiError(403, "forbidden", f"this key may list only tenant {principal.tenant!r}", "tenant")
            tenant = principal.tenant
        return [JobPublic(**_public(s)) for s in await svc.call("list", tenant, state, limit)]

    return router


async def _features(svc: Service, body: FeaturesCreate, response: Response,
                    tenant: Optional[str] = None) -> FeaturesPublic | Response:
    started = time.perf_counter()
    config = svc.config
    priority = _priority(body.priority, config.live_priority, config.live_priorities, "live requests")
    _check_symbols_limit(body.symbols, config)
    if len(body.indicators) > config.max_indicators:
        raise ApiError(413, "too_large", f"{len(body.indicators)} indicators are over the limit of "
                                         f"{config.max_indicators}", "indicators")
    payload = body.payload()
    if body.bars is not None:
        return await _inline_features(body, payload, priority)
    if tenant is not None:  # the caller's own dataset of that name, else the shared one
        payload["dataset"] = svc.dataset_ref(tenant, payload.get("dataset"))
    t_live = time.perf_counter()
    live = await svc.run_live("features", payload, priority, config.live_tenant, params_field="indicators")
    t_done = time.perf_counter()
    out = features_public(live.result, source="dataset", priority=priority, device=live.device,
                          backend=live.backend, simulated=bool(live.simulated), compute_s=live.seconds,
                          dataset=body.dataset, dataset_version=body.dataset_version)
    # Where the time went, for clients and benchmarks (W3C Server-Timing, milliseconds).
    timing = (f"app;dur={(time.perf_counter() - started) * 1e3:.3f}, "
              f"live;dur={(t_done - t_live) * 1e3:.3f}, worker;dur={live.seconds * 1e3:.3f}")
    return json_response(out, {"Server-Timing": timing})


def encoded_response(content: bytes | str, response: Optional[Response] = None) -> Response:
    """JSON encoded elsewhere, returned as is with `response`'s status and headers (e.g. Location).

    Research results are converted and encoded in the coordinator's process (`encode_job`,
    `encode_result`): the replica's event loop, which live requests share, only passes bytes on.
    """
    status = response.status_code if response is not None and response.status_code else 200
    headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")} \
        if response is not None else None
    return Response(content=content, media_type="application/json", status_code=status, headers=headers)


def json_response(model: Any, headers: Optional[dict[str, str]] = None, status_code: int = 200) -> Response:
    """A response model built (and validated) here, encoded once by pydantic.

    Returned as is by a route, it skips FastAPI's second validation and encoding of
    the same model (the live path's per-request cost); the JSON is the same.
    """
    return Response(content=model.model_dump_json(), media_type="application/json", headers=headers,
                    status_code=status_code)


def parse_indicator(text: str) -> dict[str, Any]:
    """'rsi' or 'bbands:timeperiod=20,nbdevup=2.5' -> {"name", "params"} (the query form of an IndicatorSpec)."""
    name, _, rest = text.partition(":")
    params: dict[str, Any] = {}
    for item in (p for p in rest.split(",") if p.strip()):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"indicator {text[:80]!r}: parameters are name=value pairs separated by commas")
        try:
            number: Any = int(value)
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"indicator {text[:80]!r}: {key.strip()} must be a number") from None
        params[key.strip()] = number
    return {"name": name.strip(), "params": params}


def features_from_query(dataset: str, indicators: list[str], symbols: Optional[str], window: Optional[int],
                        priority: Optional[str], dataset_version: Optional[str]) -> FeaturesCreate:
    """A FeaturesCreate from GET /v1/features query parameters (validation errors are 422s naming the field)."""
    from pydantic import ValidationError  # noqa: PLC0415

    try:
        specs = [parse_indicator(t) for t in indicators]
    except ValueError as exc:
        raise ApiError(422, "validation_error", str(exc), "indicator") from exc
    try:
        return FeaturesCreate(dataset=dataset, dataset_version=dataset_version, indicators=specs, window=window,
                              priority=priority,
                              symbols=[s for s in symbols.split(",") if s] if symbols is not None else None)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err.get("loc", ())]
        field = "indicator" if loc and loc[0] == "indicators" else (loc[0] if loc else None)
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        raise ApiError(422, "validation_error", f"{field}: {msg}" if field else msg, field) from exc


async def _cancel(svc: Service, principal: Principal, job_id: str, kind: str) -> JobPublic:
    status = await _owned_status(svc, principal, job_id, kind)
    if status["state"] in ("succeeded", "failed"):
        raise ApiError(409, "job_finished", f"job {job_id} already {status['state']}; there is nothing to cancel")
    return JobPublic(**_public(await svc.call("cancel", job_id)))


async def _inline_features(body: FeaturesCreate, payload: dict[str, Any], priority: str) -> FeaturesPublic:
    """Features over bars sent in the request: validated like a file, computed here on the CPU."""
    from actors.jobs.plans import compute_features  # noqa: PLC0415
    from kernels.data import DataValidationError, Panel  # noqa: PLC0415

    assert body.bars is not None

    def work() -> tuple[Any, float]:
        try:
            panel = Panel.from_frame(body.bars.frame())
        except (ValueError, TypeError) as exc:  # DataValidationError and pandas' parsing errors
            raise domain_error(exc if isinstance(exc, DataValidationError) else DataValidationError(str(exc)),
                               data_field="bars") from exc
        if body.symbols:
            try:
                panel = panel.select(body.symbols)
            except KeyError as exc:
                raise domain_error(exc) from exc
        started = time.perf_counter()
        try:
            frames = compute_features(panel, payload)
        except (ValueError, KeyError, TypeError) as exc:
            raise domain_error(exc, params_field="indicators") from exc
        return frames, time.perf_counter() - started

    frames, seconds = await asyncio.to_thread(work)
    return features_public(frames, source="inline", priority=priority, device="ingress", backend="cpu",
                           simulated=False, compute_s=seconds)


def _detect_format(filename: Optional[str], data: bytes) -> str:
    """parquet or csv: by the file name's suffix (never used as a path), else by content."""
    suffix = (filename or "").rsplit(".", 1)[-1].lower() if "." in (filename or "") else ""
    if suffix in ("parquet", "pq"):
        return "parquet"
    if suffix == "csv":
        return "csv"
    return "parquet" if data[:4] == PARQUET_MAGIC else "csv"


def upload_shape(data: bytes, kind: str) -> tuple[int, int, int]:
    """(long-form rows, symbols, timestamps) of an upload, from its metadata and key columns only.

    Read before the file is decoded and pivoted: a small compressed file can decode to
    millions of rows, and unique timestamps x symbols pivot to a huge panel. A file
    without a `symbol` column (wide: one column per symbol) counts its other columns.
    """
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415

    if kind == "parquet":
        import pyarrow.parquet as pq  # noqa: PLC0415

        meta = pq.ParquetFile(io.BytesIO(data)).metadata
        names = set(meta.schema.names)
        rows = int(meta.num_rows)
        wanted = [c for c in ("timestamp", "symbol") if c in names]
        if not wanted or rows == 0:
            return rows, 0, 0
        table = pq.read_table(io.BytesIO(data), columns=wanted)
    else:
        import pyarrow.csv as pacsv  # noqa: PLC0415

        names = set(pacsv.open_csv(io.BytesIO(data)).schema.names)
        wanted = [c for c in ("timestamp", "symbol") if c in names]
        table = pacsv.read_csv(io.BytesIO(data), convert_options=pacsv.ConvertOptions(
            include_columns=wanted, column_types={c: pa.string() for c in wanted})) if wanted else None
        rows = table.num_rows if table is not None else 0
        if table is None:
            return rows, 0, 0
    n_times = len(pc.unique(table.column("timestamp"))) if "timestamp" in wanted else rows
    if "symbol" in wanted:
        return rows, len(pc.unique(table.column("symbol"))), n_times
    n_symbols = max(0, len(names) - 1)
    return rows * n_symbols, n_symbols, n_times


def check_upload_size(data: bytes, kind: str, config: ServeConfig) -> None:
    """413 naming the limit when an upload decodes to too many rows, symbols or panel cells."""
    try:
        rows, symbols, times = upload_shape(data, kind)
    except Exception:  # noqa: BLE001 - unreadable: the parser below says what is wrong
        return
    for what, value, limit, name in (("rows", rows, config.max_upload_rows, "max_upload_rows"),
                                     ("symbols", symbols, config.max_upload_symbols, "max_upload_symbols"),
                                     ("panel cells (timestamps x symbols)", times * symbols, config.max_upload_cells,
                                      "max_upload_cells")):
        if value > limit:
            raise ApiError(413, "too_large", f"the upload has {value} {what}, over the limit of {limit} ({name})",
                           "file")


def _parse_upload(data: bytes, kind: str, config: Optional[ServeConfig] = None) -> Any:
    from kernels.data import DataValidationError, read_csv, read_parquet  # noqa: PLC0415

    if not data:
        raise ApiError(422, "invalid_data", "the uploaded file is empty", "file")
    if config is not None:
        check_upload_size(data, kind, config)
    try:
        return read_parquet(io.BytesIO(data)) if kind == "parquet" else read_csv(io.BytesIO(data))
    except DataValidationError as exc:
        raise domain_error(exc, data_field="file") from exc
    except (ValueError, TypeError, KeyError) as exc:  # e.g. timestamps pandas cannot parse
        raise ApiError(422, "invalid_data", f"the uploaded {kind} file is malformed: {exc}", "file") from exc


def _device(d: dict[str, Any], principal: Optional[Principal] = None) -> DevicePublic:
    dev = d.get("device") or {}
    tenants = dev.get("tenants")
    if isinstance(tenants, dict) and principal is not None:  # other tenants' usage: admins only (or an open API)
        tenants = {t: v for t, v in tenants.items() if principal.may_see(str(t))}
    readiness = d.get("readiness") or {}
    health = dev.get("health") or {}
    return DevicePublic(
        worker_id=str(d.get("worker_id")),
        kind=str(d.get("kind", "gpu" if dev else "cpu")),
        label=dev.get("label") or ("cpu" if not dev else None),
        simulated=bool(dev.get("simulated", False)),
        backend=dev.get("backend") or ("cpu" if not dev else None),
        healthy=bool(d.get("healthy", False)),
        health_state=dev.get("state") or health.get("state") or ("HEALTHY" if d.get("healthy") and not dev else None),
        ready=readiness.get("ready"),
        busy_job=d.get("busy_job") if principal is None or principal.may_see("") else None,
        executed=d.get("executed"),
        memory=dev.get("memory"),
        budget=dev.get("budget"),
        tenants=tenants,
        error=public_job_error(d.get("error"))[1],
    )


def build_health_router() -> APIRouter:
    """Liveness and readiness (outside /v1, no authentication)."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz", response_model=HealthPublic, summary="The HTTP replica is alive")
    async def healthz() -> HealthPublic:
        return HealthPublic(status="ok")

    @router.get("/readyz", response_model=ReadyPublic, responses={503: {"model": ErrorBody}},
                summary="Ready: the coordinator started and at least one worker finished its prewarm")
    async def readyz(svc: ServiceDep) -> ReadyPublic:
        ready = await readiness(svc)
        if not ready.ready:
            raise ApiError(503, "not_ready", ready.reason or "not ready", headers={"Retry-After": "1"})
        return ready

    return router


async def readiness(svc: Service) -> ReadyPublic:
    """Coordinator started and >= 1 worker ready; never raises."""
    timeout = svc.config.ready_timeout_s
    try:
        stats = await svc.call("stats", timeout_s=timeout)
        devices = await svc.call("devices", timeout_s=timeout)
    except ApiError as exc:
        return ReadyPublic(ready=False, workers=0, workers_ready=0, reason=exc.message)
    except Exception as exc:  # noqa: BLE001 - a probe reports, it does not fail
        return ReadyPublic(ready=False, workers=0, workers_ready=0, reason=f"{type(exc).__name__}: {exc}")
    n_ready = sum(1 for d in devices if d.get("healthy") and (d.get("readiness") or {}).get("ready"))
    depth = {str(k): int(v) for k, v in (stats.get("queue_depth") or {}).items()}
    reason = None if n_ready else ("no workers" if not devices else "no worker has finished its prewarm")
    return ReadyPublic(ready=n_ready > 0, workers=len(devices), workers_ready=n_ready, queue_depth=depth, reason=reason)


def create_api(service: Service, live_only: bool = False) -> FastAPI:
    """The FastAPI application of one Serve replica (or of a test).

    `live_only`: the live application's replicas (`ServeConfig.live_app`): health, features
    and predict here, the streams where the replica mounts them; no research routes.
    """
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        app_version = version("rayquant")
    except PackageNotFoundError:
        app_version = "0"
    app = FastAPI(
        title="rayquant",
        version=app_version,
        summary="GPU compute service for quant research and trading: backtests, sweeps, live features.",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.service = service
    app.state.config = service.config
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=service.config.max_request_bytes,
                       body_timeout_s=service.config.body_timeout_s)
    app.include_router(build_health_router())
    from deployments.http.models_routes import build_models_router, build_predict_router  # noqa: PLC0415 - it imports this module

    if not live_only:
        app.include_router(build_router(service.config))
        app.include_router(build_models_router())
        from deployments.http.tenant_routes import build_tenant_router  # noqa: PLC0415 - it builds on this module

        app.include_router(build_tenant_router())
    app.include_router(build_live_router())
    app.include_router(build_predict_router())
    return app


__all__ = ["Service", "build_live_router", "build_router", "create_api", "features_from_query", "frame_records",
           "json_response", "parse_indicator", "readiness"]
