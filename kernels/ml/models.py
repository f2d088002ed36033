"""The model zoo: fit and predict with scikit-learn (CPU) or cuML (GPU).

Models (the seed system's list): LinearRegression, Ridge, Lasso, RandomForestRegressor
(regression) and LogisticRegression, RandomForestClassifier (classification of the
label's sign). `backend` follows `kernels.backend.resolve_backend`: "cpu" is
scikit-learn; "gpu" needs cuML and a CUDA device and raises `BackendUnavailable`
otherwise; "auto" uses cuML when both are there and falls back to scikit-learn.
The backend that ran is recorded on the `TrainedModel`.

Parameters are a per-model whitelist with bounds (clients choose them), the same
names on both libraries, plus `standardize` (default on for the linear models):
features are centred and scaled by the training rows' mean and std, kept with the
model and applied again at prediction. Inputs must be finite: a NaN or inf row is an error, not a
silent prediction. Held-out metrics: R2 and MSE for regression, accuracy and AUC for
classification (AUC is None when the test labels hold one class only). GPU
predictions come back as NumPy arrays.

Tree ensembles fitted on the CPU predict through `kernels.ml.forest`: the trees are
packed into flat arrays once (`TrainedModel.prepare`, or the first prediction) and
traversed by a compiled kernel, with results identical to scikit-learn's predict /
predict_proba and none of its per-call overhead. The packed form is derived data:
it is never pickled with the model (a registry file holds the estimator only) and
is rebuilt from the verified estimator after each load.

No I/O here: persisting models is `actors.models.registry`'s job.
"""
from __future__ import annotations

import functools
import math
import numbers
import platform
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Mapping, Sequence

import numpy as np

from kernels.backend import BackendUnavailable, resolve_backend, to_numpy
from kernels.ml.features import Dataset
from kernels.ml.splits import Split


PREDICT_N_JOBS = 1  # threads of a fitted CPU model's predict calls


class UnknownModel(ValueError):
    """A model name that is not in MODELS."""


class InvalidParams(ValueError):
    """A model parameter that is unknown, of the wrong type or out of bounds."""


class InvalidInput(ValueError):
    """Feature rows or labels that a model cannot take (shape, count, NaN/inf)."""


# ------------------------------------------------------------------ the zoo
@dataclass(frozen=True)
class P:
    """One allowed parameter: kind "int" | "float" | "bool" | "max_features", bounds, default."""

    kind: str
    default: Any
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str
    module: str  # attribute path inside sklearn / cuml, e.g. "linear_model.Ridge"
    cuml_module: str
    params: Mapping[str, P] = field(default_factory=dict)


_LIN = {"standardize": P("bool", True)}
_RF = {
    "standardize": P("bool", False),
    "n_estimators": P("int", 100, 1, 2000),
    "max_depth": P("int", 16, 1, 64),
    "min_samples_leaf": P("int", 1, 1, 1_000_000),
    "random_state": P("int", 0, 0, 2**31 - 1),
}
MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        ModelSpec("LinearRegression", "regression", "linear_model.LinearRegression", "linear_model.LinearRegression",
                  {**_LIN, "fit_intercept": P("bool", True)}),
        ModelSpec("Ridge", "regression", "linear_model.Ridge", "linear_model.Ridge",
                  {**_LIN, "alpha": P("float", 1.0, 0.0, 1e12), "fit_intercept": P("bool", True)}),
        ModelSpec("Lasso", "regression", "linear_model.Lasso", "linear_model.Lasso",
                  {**_LIN, "alpha": P("float", 1e-4, 0.0, 1e12, lo_open=True), "fit_intercept": P("bool", True),
                   "max_iter": P("int", 1000, 1, 1_000_000)}),
        ModelSpec("LogisticRegression", "classification", "linear_model.LogisticRegression",
                  "linear_model.LogisticRegression",
                  {**_LIN, "C": P("float", 1.0, 0.0, 1e12, lo_open=True), "fit_intercept": P("bool", True),
                   "max_iter": P("int", 1000, 1, 1_000_000)}),
        ModelSpec("RandomForestRegressor", "regression", "ensemble.RandomForestRegressor",
                  "ensemble.RandomForestRegressor",
                  {**_RF, "max_features": P("max_features", 1.0)}),
        ModelSpec("RandomForestClassifier", "classification", "ensemble.RandomForestClassifier",
                  "ensemble.RandomForestClassifier", {**_RF, "max_features": P("max_features", "sqrt")}),
    )
}


def model_spec(name: Any) -> ModelSpec:
    if not isinstance(name, str) or name not in MODELS:
        raise UnknownModel(f"unknown model {name!r}; models are {sorted(MODELS)}")
    return MODELS[name]


def _check_param(model: str, key: str, p: P, v: Any) -> Any:
    if p.kind == "bool":
        if not isinstance(v, bool):
            raise InvalidParams(f"{model}: parameter {key!r} must be true or false, got {v!r}")
        return v
    if p.kind == "max_features":
        if v in ("sqrt", "log2"):
            return v
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (0.0 < float(v) <= 1.0):
            raise InvalidParams(f"{model}: max_features must be 'sqrt', 'log2' or a fraction in (0, 1], got {v!r}")
        return float(v)
    if p.kind == "int":
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            if isinstance(v, numbers.Real) and float(v).is_integer():
                v = int(v)
            else:
                raise InvalidParams(f"{model}: parameter {key!r} must be an integer, got {v!r}")
        v = int(v)
    else:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
            raise InvalidParams(f"{model}: parameter {key!r} must be a finite number, got {v!r}")
        v = float(v)
    if (p.lo is not None and (v < p.lo or (p.lo_open and v == p.lo))) or (p.hi is not None and v > p.hi):
        left = "(" if p.lo_open else "["
        raise InvalidParams(f"{model}: parameter {key!r} must lie in {left}{p.lo}, {p.hi}], got {v!r}")
    return v


def check_params(name: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The full parameter dict of a model: given values validated, defaults filled in."""
    spec = model_spec(name)
    params = dict(params or {})
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        raise InvalidParams(f"{name}: unknown parameter(s) {unknown}; parameters are {sorted(spec.params)}")
    return {k: _check_param(name, k, p, params.get(k, p.default)) for k, p in spec.params.items()}


# ------------------------------------------------------------------ backends
@functools.lru_cache(maxsize=1)
def _cuml() -> ModuleType | None:
    try:
        import cuml  # noqa: PLC0415 - optional dependency, GPU machines only
    except Exception:  # ImportError, or CUDA libraries that fail to load
        return None
    return cuml


def cuml_available() -> bool:
    return _cuml() is not None


def resolve_ml_backend(backend: str, *arrays: Any) -> str:
    """"cpu" (scikit-learn) or "gpu" (cuML) by the kernels rule, plus: the GPU needs cuML."""
    chosen = resolve_backend(backend, *arrays)
    if chosen == "gpu" and not cuml_available():
        if backend == "auto":
            return "cpu"  # CuPy inputs are copied to the host by `fit`
        raise BackendUnavailable("backend='gpu' for models needs cuML, which is not installed here")
    return chosen


def library_versions(backend: str) -> dict[str, str]:
    """Versions of the libraries a model of this backend depends on (recorded with it)."""
    import sklearn  # noqa: PLC0415

    out = {"python": platform.python_version(), "numpy": np.__version__, "scikit-learn": sklearn.__version__}
    if backend == "gpu":
        cuml = _cuml()
        if cuml is not None:
            out["cuml"] = str(getattr(cuml, "__version__", "unknown"))
        try:
            import cupy  # noqa: PLC0415

            out["cupy"] = cupy.__version__
        except Exception:
            pass
    return out


def _estimator_class(spec: ModelSpec, backend: str) -> type:
    import importlib  # noqa: PLC0415

    if backend == "gpu":
        mod_path, cls = spec.cuml_module.rsplit(".", 1)
        return getattr(importlib.import_module(f"cuml.{mod_path}"), cls)
    mod_path, cls = spec.module.rsplit(".", 1)
    return getattr(importlib.import_module(f"sklearn.{mod_path}"), cls)


def make_estimator(name: str, params: Mapping[str, Any], backend: str, n_jobs: int | None = None) -> Any:
    """An unfitted estimator of the resolved backend ("cpu" or "gpu")."""
    spec = model_spec(name)
    kwargs = {k: v for k, v in params.items() if k != "standardize"}
    if spec.module.startswith("ensemble") and backend == "cpu":
        kwargs["n_jobs"] = n_jobs
    if spec.name == "LogisticRegression" and backend == "cpu":
        kwargs["solver"] = "lbfgs"
    return _estimator_class(spec, backend)(**kwargs)


# ------------------------------------------------------------------ inputs
def check_features(X: Any, n_features: int | None = None) -> np.ndarray:
    """A finite float64 (rows, F) host array, or InvalidInput saying what is wrong."""
    X = to_numpy(X)
    if X.ndim == 1 and n_features is not None and X.shape[0] == n_features:
        X = X.reshape(1, -1)
    if X.ndim != 2 or X.shape[0] == 0:
        raise InvalidInput(f"features must be a non-empty 2-D array (rows, features), got shape {tuple(X.shape)}")
    if n_features is not None and X.shape[1] != n_features:
        raise InvalidInput(f"expected {n_features} features per row, got {X.shape[1]}")
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"features must be numbers: {exc}") from None
    finite = np.isfinite(X).all(axis=1)
    if not finite.all():
        raise InvalidInput(f"features must be finite; row {int(np.flatnonzero(~finite)[0])} has NaN or inf")
    return X


def _check_labels(y: Any, n_rows: int, task: str) -> np.ndarray:
    y = np.asarray(to_numpy(y), dtype=np.float64).reshape(-1)
    if y.shape[0] != n_rows:
        raise InvalidInput(f"got {y.shape[0]} labels for {n_rows} feature rows")
    if not np.isfinite(y).all():
        raise InvalidInput(f"labels must be finite; row {int(np.flatnonzero(~np.isfinite(y))[0])} is not")
    if task == "classification":
        if not np.isin(y, (0.0, 1.0)).all():
            raise InvalidInput("classification labels must be 0 or 1")
        if np.unique(y).size < 2:
            raise InvalidInput("classification needs both classes (0 and 1) in the training labels")
    return y


# ------------------------------------------------------------------ fitted models
@dataclass(eq=False)
class TrainedModel:
    """A fitted estimator with what is needed to use and describe it."""

    name: str
    task: str
    params: dict[str, Any]
    backend: str
    n_features: int
    feature_names: tuple[str, ...]
    estimator: Any
    n_train: int = 0
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    # The packed trees (`kernels.ml.forest.PackedForest`), False when the estimator has none, None
    # until `prepare`; not pickled (see __getstate__), not part of the model's identity.
    _forest: Any = field(default=None, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_forest", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._forest = None

    def prepare(self) -> "TrainedModel":
        """Pack a CPU tree ensemble for the compiled kernel and compile it (once); returns self."""
        if self._forest is None:
            from kernels.ml import forest  # noqa: PLC0415

            packed: Any = False
            if self.backend == "cpu" and forest.supports(self.estimator):
                packed = forest.pack_forest(self.estimator)
                forest.warmups(packed)
            self._forest = packed
        return self

    @property
    def compiled(self) -> bool:
        """True when predictions run on the packed-forest kernel (after `prepare`)."""
        return bool(self.prepare()._forest)

    def _standardized(self, X: np.ndarray) -> np.ndarray:
        return X if self.mean is None else (X - self.mean) / self.scale

    def _to_device(self, X: np.ndarray) -> Any:
        X = self._standardized(X)
        if self.backend == "gpu":
            import cupy  # noqa: PLC0415

            return cupy.asarray(X, dtype=cupy.float32)
        return X

    def predict(self, X: Any) -> np.ndarray:
        """Predicted return (regression) or class 0/1 (classification), one per row, float64."""
        X = check_features(X, self.n_features)
        if self.prepare()._forest:
            from kernels.ml.forest import forest_predict  # noqa: PLC0415

            return np.asarray(forest_predict(self._forest, self._standardized(X)), dtype=np.float64).reshape(-1)
        return np.asarray(to_numpy(self.estimator.predict(self._to_device(X))), dtype=np.float64).reshape(-1)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probability of class 1 (the return is positive), one per row; classifiers only."""
        if self.task != "classification":
            raise InvalidInput(f"{self.name} is a regression model; it has no class probabilities")
        X = check_features(X, self.n_features)
        if self.prepare()._forest:
            from kernels.ml.forest import forest_predict_proba  # noqa: PLC0415

            proba = forest_predict_proba(self._forest, self._standardized(X))
        else:
            proba = np.asarray(to_numpy(self.estimator.predict_proba(self._to_device(X))), dtype=np.float64)
        classes = [float(c) for c in to_numpy(getattr(self.estimator, "classes_", np.array([0.0, 1.0])))]
        return proba[:, classes.index(1.0)]


def fit(
    name: str,
    X: Any,
    y: Any,
    params: Mapping[str, Any] | None = None,
    backend: str = "auto",
    feature_names: Sequence[str] | None = None,
    n_jobs: int | None = None,
) -> TrainedModel:
    """Fit model `name` on (X, y); `backend` as in `resolve_ml_backend`."""
    spec = model_spec(name)
    full = check_params(name, params)
    used = resolve_ml_backend(backend, X, y)
    Xh = check_features(X)
    yh = _check_labels(y, Xh.shape[0], spec.task)
    names = tuple(feature_names) if feature_names is not None else tuple(f"f{i}" for i in range(Xh.shape[1]))
    if len(names) != Xh.shape[1]:
        raise InvalidInput(f"got {len(names)} feature names for {Xh.shape[1]} features")
    est = make_estimator(name, full, used, n_jobs)
    mean = scale = None
    if full["standardize"]:
        mean = Xh.mean(axis=0)
        scale = Xh.std(axis=0)
        scale[~(scale > 0)] = 1.0  # a constant column stays centred, not divided by 0
        Xh = (Xh - mean) / scale
    if used == "gpu":
        import cupy  # noqa: PLC0415

        Xd = cupy.asarray(Xh, dtype=cupy.float32)
        yd = cupy.asarray(yh, dtype=cupy.int32 if spec.task == "classification" else cupy.float32)
        est.fit(Xd, yd)
    else:
        est.fit(Xh, yh.astype(np.int64) if spec.task == "classification" else yh)
    if used == "cpu" and "n_jobs" in est.get_params():
        # Fits use many cores; predictions are small batches on a serving path, where
        # waking a thread pool per call costs more than it saves (5x on 20 rows).
        est.set_params(n_jobs=PREDICT_N_JOBS)
    return TrainedModel(name, spec.task, full, used, Xh.shape[1], names, est, int(Xh.shape[0]), mean, scale)


def evaluate(model: TrainedModel, X: Any, y: Any) -> dict[str, Any]:
    """Held-out metrics: {"r2", "mse"} or {"accuracy", "auc"}, plus "n" (rows)."""
    from sklearn import metrics as skm  # noqa: PLC0415 - host metrics for both backends

    Xh = check_features(X, model.n_features)
    yh = np.asarray(to_numpy(y), dtype=np.float64).reshape(-1)
    if yh.shape[0] != Xh.shape[0] or not np.isfinite(yh).all():
        raise InvalidInput("labels must be finite, one per feature row")
    pred = model.predict(Xh)
    if model.task == "regression":
        r2 = float(skm.r2_score(yh, pred)) if yh.size > 1 else None
        return {"r2": r2, "mse": float(skm.mean_squared_error(yh, pred)), "n": int(yh.size)}
    auc = None
    if np.unique(yh).size == 2:
        auc = float(skm.roc_auc_score(yh, model.predict_proba(Xh)))
    return {"accuracy": float(skm.accuracy_score(yh, pred)), "auc": auc, "n": int(yh.size)}


def train(
    dataset: Dataset,
    name: str,
    split: Split,
    params: Mapping[str, Any] | None = None,
    backend: str = "auto",
    n_jobs: int | None = None,
) -> tuple[TrainedModel, dict[str, Any]]:
    """Fit on the split's training rows, score on its test rows: (model, held-out metrics)."""
    spec = model_spec(name)
    if spec.task != dataset.task:
        raise InvalidInput(f"{name} is a {spec.task} model but the dataset's labels are for {dataset.task}")
    tr, te = dataset.take(split.train), dataset.take(split.test)
    model = fit(name, tr.X, tr.y, params, backend, dataset.feature_names, n_jobs)
    return model, evaluate(model, te.X, te.y)


def cross_validate(
    dataset: Dataset,
    name: str,
    splits: Sequence[Split],
    params: Mapping[str, Any] | None = None,
    backend: str = "auto",
    n_jobs: int | None = None,
) -> list[dict[str, Any]]:
    """Held-out metrics of each walk-forward fold (a fresh model per fold)."""
    return [train(dataset, name, s, params, backend, n_jobs)[1] for s in splits]
