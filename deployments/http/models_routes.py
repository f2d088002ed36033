"""The `/v1/models` routes: train (a coordinator job), list, describe, predict (live, in the replica).

Training is research work: a coordinator job of kind "train" (NORMAL by default).
Records come from the coordinator (`list_models`, `get_model`). Predictions are
live work served here, by the replica's `deployments.model_serving.ModelServer`
(multiplexed models, batched rows); nothing about a prediction goes through the
coordinator.

Errors: an unknown or malformed model id is a 404; rows of the wrong width, NaN or
inf rows, bad parameters and unknown model types are 422s naming the field; more
rows than `MAX_PREDICT_ROWS` (or a body over the byte limit) is a 413.

The predict route is the hot path (issue 6: >= 20,000 rows/s per replica), so it
reads the body itself: pydantic-core parses and validates the raw JSON in one pass
(`PredictCreate.model_validate_json`, about 7x faster than `json.loads` and then
validating 4,000 floats), errors still become the usual 422 naming the field, and
the answer is encoded once by pydantic-core (`PredictionPublic.model_dump_json`)
into a plain Response instead of FastAPI's validate-then-`json.dumps`. The body's
schema is still published in the OpenAPI document.
"""
from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from deployments.http.errors import ApiError, domain_error, not_found, unwrap
from deployments.model_serving import (
    MAX_PREDICT_ROWS,
    TRAIN_PRIORITY,
    BadModelId,
    InvalidRows,
    ModelServer,
    body_rows,
    decode_rows,
    model_key,
    parse_model_id,
)
from deployments.http.routes import (
    API_VERSION,
    PrincipalDep,
    Service,
    ServiceDep,
    WAITED,
    WaitFlag,
    WaitTimeout,
    _check_symbols_limit,
    _job_id,
    _priority,
)
from deployments.http.schemas import ErrorBody, ModelCreate, ModelJobPublic, ModelPublic, PredictCreate, PredictionPublic

_ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 404, 408, 409, 413, 422, 429, 503)}
JOB_KIND = "train"


async def get_model_server(request: Request) -> ModelServer:
    server = getattr(request.app.state, "models", None)
    if server is None:
        raise ApiError(503, "unavailable", "this replica serves no models")
    return server


ModelServerDep = Annotated[ModelServer, Depends(get_model_server)]


# ------------------------------------------------------------------ helpers
def _model_links(name: str, version: int) -> dict[str, str]:
    base = f"/{API_VERSION}/models/{model_key(name, version)}"
    return {"self": base, "predict": f"{base}/predict"}


def model_public(record: Any) -> ModelPublic:
    """A ModelPublic from a record dict (the coordinator's) or a `ModelRecord` (named as its tenant knows it)."""
    from actors.datasets import public_name as public_dataset  # noqa: PLC0415
    from actors.models.registry import public_name  # noqa: PLC0415

    rec = record if isinstance(record, dict) else record.to_public()
    rec = {k: v for k, v in rec.items() if k in ModelPublic.model_fields}
    rec["name"] = public_name(rec["name"])
    if rec.get("dataset"):
        rec["dataset"] = public_dataset(rec["dataset"])
    return ModelPublic(**rec, id=model_key(rec["name"], rec["version"]),
                       links=_model_links(rec["name"], rec["version"]))


def _job_public(status: dict[str, Any]) -> dict[str, Any]:
    return {**status, "links": {"self": f"/{API_VERSION}/models/jobs/{status['job_id']}"}}


def _record_of(result: Any) -> Any:
    """The record dict of a train job's result (an object with `.record`, or the dict itself)."""
    return getattr(result, "record", result)


def _model_error(exc: BaseException, model_id: str, svc: Service) -> ApiError:
    """KeyError (unknown model) and malformed ids are 404s; the rest as `domain_error` maps them."""
    err = unwrap(exc)
    if isinstance(err, ApiError):
        return err
    if isinstance(err, (KeyError, BadModelId)):
        return not_found("model", model_id)
    from actors.models.registry import InvalidModelName  # noqa: PLC0415

    if isinstance(err, InvalidModelName):
        return not_found("model", model_id)
    return domain_error(err, retry_after_s=svc.config.unavailable_retry_after_s)


async def _scoped_id(request: Request, svc: Service, tenant: str, model_id: str) -> str:
    """`name[@version]` as the registry knows the tenant's model: its own (scoped), else a shared one.

    Clients give plain names only; another tenant's model is a 404, as if it did not exist.
    """
    from actors.models.registry import ModelNotFound  # noqa: PLC0415

    name, version = _parse(model_id)
    if "~" in name:
        raise not_found("model", model_id)
    server = getattr(request.app.state, "models", None)
    try:
        if server is None:
            from actors.models.registry import scoped_name  # noqa: PLC0415

            scoped = scoped_name(tenant, name)
        else:
            scoped = await asyncio.to_thread(server.registry.resolve, tenant, name)
    except ModelNotFound:
        raise not_found("model", model_id) from None
    except Exception as exc:
        raise _model_error(exc, model_id, svc) from exc
    return scoped if version is None else model_key(scoped, version)


async def _coordinator_model(svc: Service, model_id: str, scoped_id: Optional[str] = None) -> dict[str, Any]:
    _parse(model_id)
    name, version = _parse(scoped_id or model_id)
    try:
        return await svc.remote("get_model", name, version)
    except Exception as exc:  # mapped: 404 / 422 / 503, or a server fault
        raise _model_error(exc, model_id, svc) from exc


def _parse(model_id: str) -> tuple[str, Optional[int]]:
    try:
        return parse_model_id(model_id)
    except BadModelId:
        raise not_found("model", model_id) from None


async def _local_record(server: ModelServer, svc: Service, model_id: str, scoped_id: Optional[str] = None) -> Any:
    _parse(model_id)
    try:
        return await server.record(scoped_id or model_id)
    except Exception as exc:
        raise _model_error(exc, model_id, svc) from exc


def _predict_error(exc: BaseException, svc: Service, model_id: str) -> ApiError:
    from kernels.backend import BackendUnavailable  # noqa: PLC0415
    from kernels.ml import InvalidInput  # noqa: PLC0415

    err = unwrap(exc)
    if isinstance(err, ApiError):
        return err
    if isinstance(err, (InvalidRows, InvalidInput)):
        return ApiError(422, "validation_error", str(err), getattr(err, "field", "rows"))
    if isinstance(err, BackendUnavailable):
        return ApiError(503, "backend_unavailable", str(err), headers={"Retry-After": str(
            svc.config.unavailable_retry_after_s)})
    from actors.models.registry import ModelIntegrityError, ModelNotFound  # noqa: PLC0415

    if isinstance(err, ModelNotFound):
        return not_found("model", model_id)
    if isinstance(err, ModelIntegrityError):
        return ApiError(500, "model_integrity", str(err))
    return domain_error(err, retry_after_s=svc.config.unavailable_retry_after_s)


def _inline_refs(schema: Any, defs: dict[str, Any]) -> Any:
    """A JSON schema with its local `#/$defs/...` references replaced by the definitions."""
    if isinstance(schema, dict):
        ref = schema.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline_refs(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline_refs(v, defs) for v in schema]
    return schema


def _predict_body_openapi() -> dict[str, Any]:
    schema = PredictCreate.model_json_schema()
    body = _inline_refs(schema, schema.get("$defs", {}))
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": body}}}}


async def _predict_body(request: Request) -> PredictCreate:
    """The request body parsed and validated by pydantic-core in one pass (422s as FastAPI's)."""
    raw = await request.body()
    try:
        return PredictCreate.model_validate_json(raw or b"null")
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None


# ------------------------------------------------------------------ router
def build_models_router() -> APIRouter:
    """The /v1/models routes but predict: training, its jobs, the registry."""
    router = APIRouter(prefix=f"/{API_VERSION}/models", responses=_ERRORS, tags=["models"])

    @router.post("", response_model=ModelJobPublic, status_code=202,
                 responses={200: {"model": ModelJobPublic, "description": WAITED}},
                 summary="Train a model (a NORMAL job by default); wait=true returns its record")
    async def train_model(body: ModelCreate, svc: ServiceDep, principal: PrincipalDep, response: Response,
                          wait: WaitFlag = False, timeout_s: WaitTimeout = None) -> ModelJobPublic:
        config = svc.config
        priority = _priority(body.priority, TRAIN_PRIORITY, config.research_priorities, "training jobs")
        _check_symbols_limit(body.symbols, config)
        if len(body.features) > config.max_indicators:
            raise ApiError(413, "too_large", f"{len(body.features)} features are over the limit of "
                                             f"{config.max_indicators}", "features")
        if timeout_s is not None and timeout_s > config.max_wait_timeout_s:
            raise ApiError(422, "validation_error", f"timeout_s: at most {config.max_wait_timeout_s:g}", "timeout_s")
        job_id = await svc.call("submit", JOB_KIND, body.payload(), priority, principal.tenant)
        response.headers["Location"] = f"/{API_VERSION}/models/jobs/{job_id}"
        if not wait:
            response.status_code = 202
            return ModelJobPublic(**_job_public(await svc.call("status", job_id)))
        limit = timeout_s if timeout_s is not None else config.wait_timeout_s
        status = await svc.call("wait", job_id, limit, timeout_s=limit + config.coordinator_timeout_s)
        out = ModelJobPublic(**_job_public(status))
        if status["state"] != "succeeded":
            response.status_code = 200 if status["state"] in ("failed", "cancelled") else 202
            return out
        response.status_code = 200
        out.record = model_public(_record_of(await svc.call("result", job_id)))
        return out

    @router.get("/jobs/{job_id}", response_model=ModelJobPublic,
                summary="A training job's state and progress; its record once it succeeded")
    async def get_train_job(job_id: str, svc: ServiceDep, principal: PrincipalDep) -> ModelJobPublic:
        status = await svc.call("status", _job_id(job_id))
        if status["kind"] != JOB_KIND or not principal.may_see(status["tenant"]):
            raise not_found("training job", job_id)
        out = ModelJobPublic(**_job_public(status))
        if status["state"] == "succeeded":
            out.record = model_public(_record_of(await svc.call("result", job_id)))
        return out

    @router.get("", response_model=list[ModelPublic], summary="Every model's latest version (the tenant's own and "
                                                              "shared ones)")
    async def list_models(svc: ServiceDep, principal: PrincipalDep) -> list[ModelPublic]:
        from actors.models.registry import owner_of  # noqa: PLC0415

        records = await svc.call("list_models")
        own = {r["name"].partition("~")[2] for r in records if owner_of(r["name"]) == principal.tenant}
        visible = [r for r in records if owner_of(r["name"]) == principal.tenant
                   or (owner_of(r["name"]) is None and r["name"] not in own)]  # the tenant's own first
        return [model_public(r) for r in visible]

    @router.get("/{model_id}", response_model=ModelPublic,
                summary="One model (name: the latest version, or name@version) with its held-out metrics")
    async def get_model(model_id: str, request: Request, svc: ServiceDep, principal: PrincipalDep) -> ModelPublic:
        scoped = await _scoped_id(request, svc, principal.tenant, model_id)
        return model_public(await _coordinator_model(svc, model_id, scoped))

    return router


def build_predict_router() -> APIRouter:
    """`POST /v1/models/{id}/predict` (live: also served by the live application)."""
    router = APIRouter(prefix=f"/{API_VERSION}/models", responses=_ERRORS, tags=["models"])

    @router.post("/{model_id}/predict", response_model=PredictionPublic, openapi_extra=_predict_body_openapi(),
                 summary="Predict feature rows, or a dataset's latest bar (live, batched, in the replica)")
    async def predict(model_id: str, request: Request, svc: ServiceDep, principal: PrincipalDep,
                      server: ModelServerDep) -> Response:
        started = time.perf_counter()
        body = await _predict_body(request)
        record = await _local_record(server, svc, model_id, await _scoped_id(request, svc, principal.tenant, model_id))
        key = model_key(record.name, record.version)
        symbols = timestamp = None
        batch = 0
        try:
            if body.dataset is None:
                n_rows = body_rows(body)
                if n_rows > MAX_PREDICT_ROWS:
                    field = next(k for k in ("rows", "columns", "ndarray") if getattr(body, k) is not None)
                    raise ApiError(413, "too_large", f"{n_rows} rows are over the limit of {MAX_PREDICT_ROWS}",
                                   field)
                X = decode_rows(body, record.n_features)
            else:
                _check_symbols_limit(body.symbols, svc.config)
                dataset = svc.dataset_ref(principal.tenant, body.dataset)  # the tenant's own, else a shared one
                rows = await asyncio.to_thread(server.dataset_rows, record, dataset, body.symbols)
                X, symbols, timestamp = rows.X, rows.symbols, rows.timestamp
            t_predict = time.perf_counter()
            preds, batch = await server.predict(key, X) if X.shape[0] else ([], 0)
            t_done = time.perf_counter()
        except ApiError:
            raise
        except Exception as exc:  # mapped to 4xx/503, or a server fault
            raise _predict_error(exc, svc, model_id) from exc
        values = preds.tolist() if hasattr(preds, "tolist") else list(preds)
        content = PredictionPublic(predictions=values, model=model_id, version=record.version, n_rows=len(values),
                                   symbols=symbols, timestamp=timestamp).model_dump_json()
        # How many requests shared this one's kernel call, and where the time went (ms).
        return Response(content=content, media_type="application/json", headers={
            "X-Batch-Size": str(batch),
            "Server-Timing": (f"app;dur={(time.perf_counter() - started) * 1e3:.3f}, "
                              f"predict;dur={(t_done - t_predict) * 1e3:.3f}")})

    return router


__all__ = ["build_models_router", "build_predict_router", "get_model_server", "model_public"]
