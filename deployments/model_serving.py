"""Predictions in the Serve replica: multiplexed model loading and batched prediction.

`ModelServer` lives in each ingress replica. Models are loaded from the service's
own `ModelRegistry` (which checks each file's sha256 against what it recorded when
it wrote it) through `@serve.multiplexed`, keyed by `name@version`, so a replica
keeps up to `MAX_MODELS_PER_REPLICA` models in an LRU and a bare `name` always
resolves to the latest version first. Row predictions of concurrent requests are
gathered by `@serve.batch`, grouped per model and predicted in one call per model
(one kernel call amortises its fixed cost over many small requests); the batch
size and wait come from `Settings.serve` (`predict_max_batch_size`,
`predict_batch_wait_s`; RAYQUANT_SERVE__PREDICT_MAX_BATCH_SIZE, ...).
Predictions run on one thread per replica (`_executor`): tree ensembles predict
through `kernels.ml.forest`'s compiled kernel, which releases the GIL, so the
event loop parses and answers other requests meanwhile, and Numba's own threads
(large batches) are never entered from two threads at once.

Rows come as `rows` (row-major lists), `columns` (one list per feature) or
`ndarray` (base64 of a little-endian binary array: no float parsing at all), see
`deployments.http.schemas.PredictCreate`; `decode_rows` checks them per request
before they are batched, so one bad request never fails the others of its batch.
Records of explicit versions are cached per replica (a version never changes);
a bare name's latest version is looked up again after `LATEST_TTL_S`. `@serve.multiplexed` needs a Serve replica context:
this class is used inside a deployment (the HTTP tests run it for real).
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
from ray import serve

from actors.settings import SERVE_PREDICT_BATCH_WAIT_S, SERVE_PREDICT_MAX_BATCH_SIZE

# Limits and batching knobs (one place; the routes and the decorators read these).
MAX_MODELS_PER_REPLICA = 16          # models kept loaded per replica (LRU beyond that)
MAX_BATCHED_ROWS = 4_096             # requests with more rows are predicted on their own
MAX_PREDICT_ROWS = 200_000           # rows of one predict request (more: 413)
LATEST_TTL_S = 1.0                   # how long a bare name's latest version is reused per replica
TRAIN_PRIORITY = "NORMAL"            # default class of training jobs
MODEL_ID_SEPARATOR = "@"


class BadModelId(ValueError):
    """A model id that is not `name` or `name@version` (a 404: no such model)."""


class InvalidRows(ValueError):
    """Feature rows a model cannot take (shape, count, NaN/inf); a 422 on `field`."""

    def __init__(self, message: str, field: str = "rows") -> None:
        super().__init__(message)
        self.field = field


def parse_model_id(model_id: str) -> tuple[str, Optional[int]]:
    """`name` -> (name, None); `name@3` -> (name, 3). BadModelId otherwise."""
    from actors.models.registry import NAME_PATTERN, SCOPED_PATTERN, VERSION_PATTERN  # noqa: PLC0415

    name, sep, version = str(model_id).partition(MODEL_ID_SEPARATOR)
    valid_name = NAME_PATTERN.fullmatch(name) or SCOPED_PATTERN.fullmatch(name)  # scoped: a tenant's own (routes)
    if not valid_name or (sep and not VERSION_PATTERN.fullmatch(version)):
        raise BadModelId(f"malformed model id {model_id[:80]!r}: use name or name@version")
    return name, (int(version) if sep else None)


def model_key(name: str, version: int) -> str:
    return f"{name}{MODEL_ID_SEPARATOR}{int(version)}"


def check_rows(rows: Sequence[Sequence[float]], n_features: int) -> np.ndarray:
    """(rows, n_features) finite float64, or InvalidRows naming what is wrong."""
    if len(rows) == 0:
        raise InvalidRows("rows: give at least one row")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise InvalidRows("rows: every row must have the same number of features")
    width = widths.pop()
    if width != n_features:
        raise InvalidRows(f"rows: the model takes {n_features} features per row, got {width}")
    return _finite(np.asarray(rows, dtype=np.float64), "rows")


def _finite(X: np.ndarray, field: str) -> np.ndarray:
    finite = np.isfinite(X).all(axis=1)
    if not finite.all():
        raise InvalidRows(f"{field}: row {int(np.flatnonzero(~finite)[0])} has NaN or inf", field)
    return X


def check_columns(columns: Sequence[Sequence[float]], n_features: int) -> np.ndarray:
    """Columnar rows (one list per feature) as (rows, n_features) finite float64, or InvalidRows."""
    if len(columns) != n_features:
        raise InvalidRows(f"columns: the model takes {n_features} features (one list each), got {len(columns)}",
                          "columns")
    lengths = {len(c) for c in columns}
    if len(lengths) != 1 or 0 in lengths:
        raise InvalidRows("columns: every feature's list must hold the same number (>= 1) of rows", "columns")
    return _finite(np.asarray(columns, dtype=np.float64).T, "columns")


def check_ndarray(array: Any, n_features: int) -> np.ndarray:
    """A `PredictArray` (shape, dtype, base64 data) as (rows, n_features) finite float64, or InvalidRows."""
    n, width = (int(v) for v in array.shape)
    if n < 1 or width != n_features:
        raise InvalidRows(f"ndarray: the model takes shape (rows >= 1, {n_features}), got {(n, width)}", "ndarray")
    dtype = np.dtype(array.dtype).newbyteorder("<")
    try:
        raw = base64.b64decode(array.data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRows("ndarray: data is not valid base64", "ndarray") from None
    if len(raw) != n * width * dtype.itemsize:
        raise InvalidRows(f"ndarray: data holds {len(raw)} bytes, shape {(n, width)} of {array.dtype} needs "
                          f"{n * width * dtype.itemsize}", "ndarray")
    return _finite(np.frombuffer(raw, dtype=dtype).reshape(n, width).astype(np.float64), "ndarray")


def body_rows(body: Any) -> int:
    """How many feature rows a `PredictCreate` carries (0 for a dataset request), before decoding."""
    if body.rows is not None:
        return len(body.rows)
    if body.columns is not None:
        return len(body.columns[0]) if body.columns else 0
    if body.ndarray is not None:
        return max(int(body.ndarray.shape[0]), 0)
    return 0


def decode_rows(body: Any, n_features: int) -> np.ndarray:
    """The (rows, n_features) float64 feature rows of a `PredictCreate` with rows, columns or ndarray."""
    if body.rows is not None:
        return check_rows(body.rows, n_features)
    if body.columns is not None:
        return check_columns(body.columns, n_features)
    return check_ndarray(body.ndarray, n_features)


@dataclass(frozen=True)
class DatasetRows:
    """Feature rows of a dataset's latest bar: one per symbol whose features are finite."""

    X: np.ndarray
    symbols: list[str]
    timestamp: str


class ModelServer:
    """Per-replica model cache (multiplexed) and batched predictor."""

    def __init__(self, settings: Any) -> None:
        from actors.models.registry import ModelRegistry  # noqa: PLC0415

        self.settings = settings
        self.registry = ModelRegistry(settings.storage_dir)
        self._datasets: Any = None
        self._records: dict[tuple[str, Optional[int]], tuple[float, Any]] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")
        self.max_batch_size = int(settings.serve.predict_max_batch_size)
        self.batch_wait_s = float(settings.serve.predict_batch_wait_s)
        self._predict_batched.set_max_batch_size(self.max_batch_size)
        self._predict_batched.set_batch_wait_timeout_s(self.batch_wait_s)

    # ------------------------------------------------------------------ records and models
    async def record(self, model_id: str) -> Any:
        """The `ModelRecord` of `name` (latest) or `name@version`; ModelNotFound / BadModelId."""
        name, version = parse_model_id(model_id)
        now = time.monotonic()
        hit = self._records.get((name, version))
        if hit is not None and (version is not None or now - hit[0] < LATEST_TTL_S):
            return hit[1]
        record = await asyncio.to_thread(self.registry.get, name, version)
        if len(self._records) >= 4 * MAX_MODELS_PER_REPLICA:
            self._records.clear()
        self._records[(name, version)] = (now, record)
        return record

    async def _run(self, fn: Any, *args: Any) -> Any:
        """fn(*args) on the replica's prediction thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    @serve.multiplexed(max_num_models_per_replica=MAX_MODELS_PER_REPLICA)
    async def load(self, key: str) -> Any:
        """The TrainedModel of `name@version` (verified by the registry), cached per replica."""
        name, version = parse_model_id(key)
        model, _ = await self._run(self.registry.load, name, version)  # prepared: forests packed
        return model

    # ------------------------------------------------------------------ prediction
    async def predict(self, key: str, X: np.ndarray) -> tuple[np.ndarray, int]:
        """(predictions, requests in the batch) of model `key` for validated rows X.

        Small requests are batched with concurrent ones; larger ones run on their own (batch of 1).
        """
        model = await self.load(key)  # load errors stay with this request
        if X.shape[0] > MAX_BATCHED_ROWS:
            return await self._run(model.predict, X), 1
        return await self._predict_batched((key, X))

    @serve.batch(max_batch_size=SERVE_PREDICT_MAX_BATCH_SIZE, batch_wait_timeout_s=SERVE_PREDICT_BATCH_WAIT_S)
    async def _predict_batched(self, items: list[tuple[str, np.ndarray]]) -> list[tuple[np.ndarray, int]]:
        groups: dict[str, list[int]] = {}
        for i, (key, _) in enumerate(items):
            groups.setdefault(key, []).append(i)
        out: list[Any] = [None] * len(items)
        for key, idx in groups.items():
            model = await self.load(key)
            X = np.concatenate([items[i][1] for i in idx]) if len(idx) > 1 else items[idx[0]][1]
            preds = await self._run(model.predict, X)
            start = 0
            for i in idx:
                n = items[i][1].shape[0]
                out[i] = (preds[start:start + n], len(items))
                start += n
        return out

    # ------------------------------------------------------------------ dataset features
    def _dataset_store(self) -> Any:
        if self._datasets is None:
            from actors.scheduling.coordinator_actor import build_dataset_store  # noqa: PLC0415

            self._datasets = build_dataset_store(self.settings)
        return self._datasets

    def dataset_rows(self, record: Any, dataset: str, symbols: Optional[list[str]]) -> DatasetRows:
        """The model's features at a dataset's latest bar, computed here on the CPU (blocking)."""
        from kernels.ml import prediction_rows  # noqa: PLC0415

        _, panel = self._dataset_store().load(dataset)
        if symbols:
            panel = panel.select(symbols)
        rows = prediction_rows(panel, record.features)
        if list(rows.feature_names) != list(record.feature_names):
            raise InvalidRows(f"dataset {dataset!r} gives features {list(rows.feature_names)}, the model was "
                              f"trained on {list(record.feature_names)}")
        return DatasetRows(X=rows.X, symbols=[str(panel.symbols[a]) for a in rows.asset],
                           timestamp=str(panel.index[-1]))


__all__ = [
    "MAX_BATCHED_ROWS",
    "MAX_MODELS_PER_REPLICA",
    "MAX_PREDICT_ROWS",
    "TRAIN_PRIORITY",
    "BadModelId",
    "DatasetRows",
    "InvalidRows",
    "LATEST_TTL_S",
    "ModelServer",
    "body_rows",
    "check_columns",
    "check_ndarray",
    "check_rows",
    "decode_rows",
    "model_key",
    "parse_model_id",
]
