"""Compiled inference for fitted scikit-learn tree ensembles (Numba on the CPU, CUDA on the GPU)."""
from __future__ import annotations

from kernels.ml.forest.api import (
    PARALLEL_MIN_ROWS,
    PackedForest,
    UnsupportedEstimator,
    float32_floor,
    forest_predict,
    forest_predict_proba,
    forest_raw,
    pack_forest,
    supports,
    warmups,
)

__all__ = [
    "PARALLEL_MIN_ROWS",
    "PackedForest",
    "UnsupportedEstimator",
    "float32_floor",
    "forest_predict",
    "forest_predict_proba",
    "forest_raw",
    "pack_forest",
    "supports",
    "warmups",
]
