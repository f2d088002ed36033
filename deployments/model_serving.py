"""Predictions in the Serve replica: multiplexed model loading and batched prediction.

`ModelServer` lives in each ingress replica. Models are loaded from the service's
own `ModelRegistry` (which checks each file's sha256 against what it recorded when
it wrote it) through `@serve.multiplexed`, keyed by `name@version`, so a replica
keeps up to `MAX_MODELS_PER_REPLICA` models in an LRU and a bare `name` always
resolves to the latest version first. Row predictions of concurrent requests are
gathered by `@serve.batch`, grouped per model and predicted in one call per model
(one estimator call amortises its fixed cost over many small requests).

Rows are validated per request before they are batched, so one bad request never
fails the others of its batch. `@serve.multiplexed` needs a Serve replica context:
this class is used inside a deployment (the HTTP tests run it for real).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
from ray import serve

# Limits and batching knobs (one place; the routes and the decorators read these).
MAX_MODELS_PER_REPLICA = 16          # models kept loaded per replica (LRU beyond that)
PREDICT_MAX_BATCH_SIZE = 64          # requests gathered into one batch
PREDICT_BATCH_WAIT_S = 0.002         # how long a batch waits to fill
MAX_BATCHED_ROWS = 4_096             # requests with more rows are predicted on their own
MAX_PREDICT_ROWS = 200_000           # rows of one predict request (more: 413)
TRAIN_PRIORITY = "NORMAL"            # default class of training jobs
MODEL_ID_SEPARATOR = "@"


class BadModelId(ValueError):
    """A model id that is not `name` or `name@version` (a 404: no such model)."""


class InvalidRows(ValueError):
    """Feature rows a model cannot take (shape, count, NaN/inf); a 422 on `rows`."""


def parse_model_id(model_id: str) -> tuple[str, Optional[int]]:
    """`name` -> (name, None); `name@3` -> (name, 3). BadModelId otherwise."""
    from actors.model_registry import NAME_PATTERN, VERSION_PATTERN  # noqa: PLC0415

    name, sep, version = str(model_id).partition(MODEL_ID_SEPARATOR)
    if not NAME_PATTERN.fullmatch(name) or (sep and not VERSION_PATTERN.fullmatch(version)):
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
    X = np.asarray(rows, dtype=np.float64)
    finite = np.isfinite(X).all(axis=1)
    if not finite.all():
        raise InvalidRows(f"rows: row {int(np.flatnonzero(~finite)[0])} has NaN or inf")
    return X


@dataclass(frozen=True)
class DatasetRows:
    """Feature rows of a dataset's latest bar: one per symbol whose features are finite."""

    X: np.ndarray
    symbols: list[str]
    timestamp: str


class ModelServer:
    """Per-replica model cache (multiplexed) and batched predictor."""

    def __init__(self, settings: Any) -> None:
        from actors.model_registry import ModelRegistry  # noqa: PLC0415

        self.settings = settings
        self.registry = ModelRegistry(settings.storage_dir)
        self._datasets: Any = None

    # ------------------------------------------------------------------ records and models
    async def record(self, model_id: str) -> Any:
        """The `ModelRecord` of `name` (latest) or `name@version`; ModelNotFound / BadModelId."""
        name, version = parse_model_id(model_id)
        return await asyncio.to_thread(self.registry.get, name, version)

    @serve.multiplexed(max_num_models_per_replica=MAX_MODELS_PER_REPLICA)
    async def load(self, key: str) -> Any:
        """The TrainedModel of `name@version` (verified by the registry), cached per replica."""
        name, version = parse_model_id(key)
        model, _ = await asyncio.to_thread(self.registry.load, name, version)
        return model

    # ------------------------------------------------------------------ prediction
    async def predict(self, key: str, X: np.ndarray) -> tuple[np.ndarray, int]:
        """(predictions, requests in the batch) of model `key` for validated rows X.

        Small requests are batched with concurrent ones; larger ones run on their own (batch of 1).
        """
        model = await self.load(key)  # load errors stay with this request
        if X.shape[0] > MAX_BATCHED_ROWS:
            return await asyncio.to_thread(model.predict, X), 1
        return await self._predict_batched((key, X))

    @serve.batch(max_batch_size=PREDICT_MAX_BATCH_SIZE, batch_wait_timeout_s=PREDICT_BATCH_WAIT_S)
    async def _predict_batched(self, items: list[tuple[str, np.ndarray]]) -> list[tuple[np.ndarray, int]]:
        groups: dict[str, list[int]] = {}
        for i, (key, _) in enumerate(items):
            groups.setdefault(key, []).append(i)
        out: list[Any] = [None] * len(items)
        for key, idx in groups.items():
            model = await self.load(key)
            X = np.concatenate([items[i][1] for i in idx]) if len(idx) > 1 else items[idx[0]][1]
            preds = await asyncio.to_thread(model.predict, X)
            start = 0
            for i in idx:
                n = items[i][1].shape[0]
                out[i] = (preds[start:start + n], len(items))
                start += n
        return out

    # ------------------------------------------------------------------ dataset features
    def _dataset_store(self) -> Any:
        if self._datasets is None:
            from actors.ray_wrappers import build_dataset_store  # noqa: PLC0415

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
    "PREDICT_BATCH_WAIT_S",
    "PREDICT_MAX_BATCH_SIZE",
    "TRAIN_PRIORITY",
    "BadModelId",
    "DatasetRows",
    "InvalidRows",
    "ModelServer",
    "check_rows",
    "model_key",
    "parse_model_id",
]
