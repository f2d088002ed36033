"""Packed tree ensembles: flatten a fitted scikit-learn forest once, predict with a compiled kernel.

scikit-learn predicts a 100-tree forest with a Python loop over the trees (one
Cython call and a few allocations each, through joblib), which costs milliseconds
per call whatever the batch size. `pack_forest` copies the fitted trees into flat
node arrays once (at model load); `forest_predict` / `forest_predict_proba` then
traverse them with one Numba kernel on the CPU (one thread for small batches,
Numba's threads for large ones) or one CUDA kernel on the GPU (a thread per row).

Exactness: the results equal scikit-learn's `predict` / `predict_proba`, bit for
bit on the CPU and the GPU:
- X is cast to float32 first, as scikit-learn does before traversal, and each
  float64 threshold t is stored as the largest float32 <= t, so `x <= t32` takes
  the same branch as scikit-learn's `x <= t` for every float32 x;
- each row's leaf values are added in tree order to an accumulator that starts
  at 0 (forests) or at the initial raw prediction (gradient boosting, whose leaf
  values are pre-multiplied by the learning rate exactly as `predict_stages`
  does), then the same final operations run in NumPy (divide by the number of
  trees, argmax, expit).

Supported: RandomForest / ExtraTrees regressors and classifiers and
GradientBoosting regressors and binary classifiers, single-output, with their
default init. Anything else: `supports(est)` is False and callers keep the
estimator's own predict.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kernels.backend import is_gpu_array, resolve_backend
from kernels.ml.forest import cpu

PARALLEL_MIN_ROWS = 512  # batches from this size use Numba's threads when parallel=None (8+ row blocks)
MAX_NODES = 2**31 - 1  # int32 node indices

FOREST, BOOSTING = "forest", "boosting"


class UnsupportedEstimator(ValueError):
    """An estimator that `pack_forest` cannot flatten (callers keep its own predict)."""


@dataclass(frozen=True, eq=False)
class PackedForest:
    """The trees of one fitted ensemble as flat arrays (host memory).

    nodes: int32 (n_nodes, 4) = (feature | MISSING_LEFT, left, right, float32
    threshold bits) with global node indices, a leaf's children being itself;
    values: float64 (n_nodes, n_out) leaf values (class fractions for forest
    classifiers, learning-rate-scaled for boosting); roots, depths: int64
    (n_trees,) root node and depth of each tree; init: float64 (n_out,) start of
    each row's sum; classes: the estimator's classes_ (classifiers) or None.
    """

    kind: str
    task: str
    n_features: int
    nodes: np.ndarray
    values: np.ndarray
    roots: np.ndarray
    depths: np.ndarray
    init: np.ndarray
    classes: np.ndarray | None = None

    @property
    def n_trees(self) -> int:
        return int(self.roots.shape[0])

    @property
    def n_nodes(self) -> int:
        return int(self.nodes.shape[0])

    @property
    def n_out(self) -> int:
        return int(self.values.shape[1])

    @property
    def thresholds(self) -> np.ndarray:
        """float32 view of the thresholds column of `nodes`."""
        return self.nodes.view(np.float32)[:, 3]

    @property
    def nbytes(self) -> int:
        return int(self.nodes.nbytes + self.values.nbytes + self.roots.nbytes + self.depths.nbytes)


# ------------------------------------------------------------------ packing
def _sklearn_classes() -> dict[str, tuple[type, ...]]:
    from sklearn import ensemble as ens  # noqa: PLC0415

    return {
        "forest_reg": (ens.RandomForestRegressor, ens.ExtraTreesRegressor),
        "forest_clf": (ens.RandomForestClassifier, ens.ExtraTreesClassifier),
        "gb_reg": (ens.GradientBoostingRegressor,),
        "gb_clf": (ens.GradientBoostingClassifier,),
    }


def _why_unsupported(est: Any) -> str | None:
    kinds = _sklearn_classes()
    if not isinstance(est, sum(kinds.values(), ())):
        return f"{type(est).__name__} is not a supported scikit-learn tree ensemble"
    if not hasattr(est, "estimators_"):
        return "the estimator is not fitted"
    if getattr(est, "n_outputs_", 1) != 1:
        return "multi-output ensembles are not supported"
    if isinstance(est, kinds["gb_reg"] + kinds["gb_clf"]):
        from sklearn.dummy import DummyClassifier, DummyRegressor  # noqa: PLC0415

        if not (est.init_ == "zero" or isinstance(est.init_, (DummyRegressor, DummyClassifier))):
            return "gradient boosting with a custom init estimator is not supported"
        if isinstance(est, kinds["gb_clf"]) and len(est.classes_) != 2:
            return "gradient boosting classifiers are supported for two classes only"
    return None


def supports(est: Any) -> bool:
    """True when `pack_forest(est)` can flatten this fitted estimator."""
    try:
        return _why_unsupported(est) is None
    except Exception:  # scikit-learn missing, or an odd object
        return False


def float32_floor(t: np.ndarray) -> np.ndarray:
    """The largest float32 <= t, elementwise (t float64): `x <= t` == `x <= float32_floor(t)` for float32 x."""
    t = np.asarray(t, dtype=np.float64)
    with np.errstate(over="ignore"):
        t32 = t.astype(np.float32)
    down = t32.astype(np.float64) > t
    t32[down] = np.nextafter(t32[down], np.float32(-np.inf))
    return t32


def _leaf_values_normalised() -> bool:
    """scikit-learn >= 1.4 stores class fractions in classifier trees (older: weighted counts)."""
    import sklearn  # noqa: PLC0415

    major, minor = (int(p) for p in sklearn.__version__.split(".")[:2])
    return (major, minor) >= (1, 4)


def pack_forest(est: Any) -> PackedForest:
    """Flatten a fitted supported ensemble into a `PackedForest` (UnsupportedEstimator otherwise)."""
    why = _why_unsupported(est)
    if why is not None:
        raise UnsupportedEstimator(why)
    kinds = _sklearn_classes()
    boosting = isinstance(est, kinds["gb_reg"] + kinds["gb_clf"])
    classifier = isinstance(est, kinds["forest_clf"] + kinds["gb_clf"])
    n_features = int(est.n_features_in_)
    if boosting:
        trees = [t.tree_ for t in np.asarray(est.estimators_)[:, 0]]
        scale = float(est.learning_rate)
        n_out = 1
    else:
        trees = [t.tree_ for t in est.estimators_]
        scale = None
        n_out = int(est.n_classes_) if classifier else 1
    sizes = np.array([t.node_count for t in trees], dtype=np.int64)
    total = int(sizes.sum())
    if total > MAX_NODES:
        raise UnsupportedEstimator(f"{total} nodes are over the int32 index limit")
    offsets = np.zeros(len(trees), dtype=np.int64)
    np.cumsum(sizes[:-1], out=offsets[1:])
    nodes = np.empty((total, 4), dtype=np.int32)
    thr = nodes.view(np.float32)
    depths = np.array([t.max_depth for t in trees], dtype=np.int64)
    values = np.empty((total, n_out), dtype=np.float64)
    normalise = classifier and not boosting and not _leaf_values_normalised()
    for tree, off, size in zip(trees, offsets, sizes):
        sl = slice(int(off), int(off + size))
        left = tree.children_left.astype(np.int64)
        right = tree.children_right.astype(np.int64)
        leaf = left < 0
        own = np.arange(off, off + size)
        feature = np.where(leaf, 0, tree.feature).astype(np.int64)
        if hasattr(tree, "missing_go_to_left"):  # scikit-learn >= 1.3
            feature |= np.where(leaf, 0, np.asarray(tree.missing_go_to_left, dtype=np.int64)) << 31
        nodes[sl, 0] = feature.astype(np.uint32).view(np.int32)
        nodes[sl, 1] = np.where(leaf, own, left + off)
        nodes[sl, 2] = np.where(leaf, own, right + off)
        thr[sl, 3] = np.where(leaf, np.float32(0), float32_floor(tree.threshold))
        v = np.asarray(tree.value, dtype=np.float64)[:, 0, :n_out]
        if normalise:
            norm = v.sum(axis=1, keepdims=True)
            norm[norm == 0.0] = 1.0
            v = v / norm
        values[sl] = scale * v if boosting else v  # the product predict_stages computes
    init = np.zeros(n_out, dtype=np.float64)
    if boosting and est.init_ != "zero":
        init[:] = np.asarray(est._raw_predict_init(np.zeros((1, n_features), dtype=np.float32)),
                             dtype=np.float64).reshape(-1)[:n_out]
    classes = np.asarray(est.classes_).copy() if classifier else None
    return PackedForest(kind=BOOSTING if boosting else FOREST, task="classification" if classifier else "regression",
                        n_features=n_features, nodes=nodes, values=values, roots=offsets, depths=depths,
                        init=init, classes=classes)


# ------------------------------------------------------------------ prediction
def _check_X(forest: PackedForest, X: Any) -> Any:
    if X.ndim != 2 or X.shape[1] != forest.n_features:
        raise ValueError(f"X must be (rows, {forest.n_features}), got shape {tuple(X.shape)}")
    return X


def forest_raw(forest: PackedForest, X: Any, backend: str = "cpu", parallel: bool | None = None) -> np.ndarray:
    """Per-row sums (rows, n_out) float64 on the host: init + leaf values in tree order.

    backend "cpu" | "gpu" | "auto" (the kernels rule); `parallel` (CPU): None =
    Numba's threads from PARALLEL_MIN_ROWS rows, else as given. The results do not
    depend on either choice.
    """
    used = resolve_backend(backend, X)
    if not is_gpu_array(X):
        X = np.asarray(X)
    if used == "gpu":
        from kernels.ml.forest import gpu  # noqa: PLC0415 - CuPy only when asked for

        return gpu.forest_raw(forest, _check_X(forest, X))
    X32 = np.ascontiguousarray(_check_X(forest, X), dtype=np.float32)
    out = np.empty((X32.shape[0], forest.n_out), dtype=np.float64)
    out[:] = forest.init
    if parallel is None:
        parallel = X32.shape[0] >= PARALLEL_MIN_ROWS
    kernel = cpu.forest_sum_parallel_nb if parallel else cpu.forest_sum_nb
    kernel(X32, forest.nodes, forest.thresholds, forest.values, forest.roots, forest.depths, out)
    return out


def _proba(forest: PackedForest, raw: np.ndarray) -> np.ndarray:
    if forest.kind == FOREST:
        return raw / forest.n_trees  # ForestClassifier: proba /= len(estimators_)
    from scipy.special import expit  # noqa: PLC0415 - HalfBinomialLoss.predict_proba

    p1 = expit(raw[:, 0])
    return np.stack([1.0 - p1, p1], axis=1)


def forest_predict(forest: PackedForest, X: Any, backend: str = "cpu", parallel: bool | None = None) -> np.ndarray:
    """The estimator's `predict`: mean of the trees (regression) or the class (classifiers), host array."""
    raw = forest_raw(forest, X, backend, parallel)
    if forest.task == "regression":
        return raw[:, 0] / forest.n_trees if forest.kind == FOREST else raw[:, 0]
    if forest.kind == BOOSTING:
        return forest.classes.take((raw[:, 0] > 0).astype(np.intp), axis=0)
    return forest.classes.take(np.argmax(_proba(forest, raw), axis=1), axis=0)


def forest_predict_proba(forest: PackedForest, X: Any, backend: str = "cpu",
                         parallel: bool | None = None) -> np.ndarray:
    """The classifier's `predict_proba` (rows, n_classes), host array."""
    if forest.task != "classification":
        raise ValueError("predict_proba needs a classifier")
    return _proba(forest, forest_raw(forest, X, backend, parallel))


def warmups(forest: PackedForest) -> None:
    """Compile (or load from Numba's cache) both CPU kernels, predicting one row."""
    X = np.zeros((1, forest.n_features), dtype=np.float32)
    forest_raw(forest, X, "cpu", parallel=False)
    forest_raw(forest, X, "cpu", parallel=True)

