"""Machine learning on panels, no Ray: datasets, purged splits and the model zoo.

`build_dataset` turns indicator specs and a label horizon into time-ordered rows;
`walk_forward` / `holdout` cut them into purged train/test windows; `fit`, `train`
and `evaluate` run scikit-learn on the CPU or cuML on the GPU (`backend="cpu" |
"gpu" | "auto"`, the rule of `kernels.backend`).
"""
from __future__ import annotations

from kernels.ml.features import Dataset, build_dataset, feature_cube, prediction_rows
from kernels.ml.labels import TASKS, direction, forward_returns, make_labels
from kernels.ml.models import (
    MODELS,
    InvalidInput,
    InvalidParams,
    TrainedModel,
    UnknownModel,
    check_params,
    cross_validate,
    cuml_available,
    evaluate,
    fit,
    library_versions,
    resolve_ml_backend,
    train,
)
from kernels.ml.splits import Split, holdout, walk_forward

__all__ = [
    "MODELS",
    "TASKS",
    "Dataset",
    "InvalidInput",
    "InvalidParams",
    "Split",
    "TrainedModel",
    "UnknownModel",
    "build_dataset",
    "check_params",
    "cross_validate",
    "cuml_available",
    "direction",
    "evaluate",
    "feature_cube",
    "fit",
    "forward_returns",
    "holdout",
    "library_versions",
    "make_labels",
    "prediction_rows",
    "resolve_ml_backend",
    "train",
    "walk_forward",
]
