"""kernels.ml: datasets, labels, purged walk-forward splits and the model zoo (CPU)."""
from __future__ import annotations

import numpy as np
import pytest

from kernels.backend import BackendUnavailable
from kernels.data import synthetic_panel, with_late_start
from kernels.indicators import compute
from kernels.ml import (
    MODELS,
    InvalidInput,
    InvalidParams,
    UnknownModel,
    build_dataset,
    check_params,
    cross_validate,
    cuml_available,
    fit,
    forward_returns,
    holdout,
    make_labels,
    prediction_rows,
    resolve_ml_backend,
    train,
    walk_forward,
)

SPECS = [("rsi", {"timeperiod": 14}), ("roc", {"timeperiod": 5}), "macd", ("zscore", {"timeperiod": 20})]
SMALL_RF = {"n_estimators": 10, "max_depth": 4}


@pytest.fixture(scope="module")
def panel():
    return synthetic_panel(6, 600, seed=3)


@pytest.fixture(scope="module")
def reg(panel):
    return build_dataset(panel, SPECS, horizon=3, task="regression")


@pytest.fixture(scope="module")
def clf(panel):
    return build_dataset(panel, SPECS, horizon=3, task="classification")


# ------------------------------------------------------------------ labels
@pytest.mark.parametrize("h", [1, 3, 10])
def test_forward_returns_equal_plain_computation(panel, h):
    close = np.asarray(panel.close)
    expected = np.full(close.shape, np.nan)
    for t in range(close.shape[0] - h):
        expected[t] = close[t + h] / close[t] - 1.0
    got = forward_returns(close, h)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-15, equal_nan=True)
    sign = make_labels(close, h, "classification")
    np.testing.assert_array_equal(sign[:-h], (expected[:-h] > 0).astype(float))
    assert np.isnan(sign[-h:]).all()


def test_labels_validation():
    with pytest.raises(ValueError, match="horizon"):
        forward_returns(np.ones(5), 0)
    with pytest.raises(ValueError, match="task"):
        make_labels(np.ones(5), 1, "ranking")
    assert np.isnan(forward_returns(np.ones(3), 5)).all()


# ------------------------------------------------------------------ features
def test_dataset_shapes_and_warmup(panel, reg):
    out = compute(panel, SPECS)
    names = tuple(out)
    assert reg.feature_names == names and reg.n_features == 6
    cube = np.stack([out[k] for k in names], axis=-1)
    labels = forward_returns(panel.close, 3)
    keep = np.isfinite(cube).all(-1) & np.isfinite(labels)
    assert reg.n_rows == int(keep.sum())
    assert np.isfinite(reg.X).all() and np.isfinite(reg.y).all()
    # every row is the (bar, asset) cell it claims to be, and rows are time-ordered
    np.testing.assert_array_equal(reg.X, cube[reg.bar, reg.asset])
    np.testing.assert_array_equal(reg.y, labels[reg.bar, reg.asset])
    assert np.all(np.diff(reg.bar) >= 0)
    # warm-up (MACD: 33 bars) and the last h bars (no label yet) are gone
    assert reg.bar.min() == 33 and reg.bar.max() == panel.n_bars - 1 - 3


def test_late_start_assets_drop_consistently():
    base = synthetic_panel(4, 300, seed=1)
    p = with_late_start(base, {base.symbols[1]: 120})
    ds = build_dataset(p, [("rsi", {"timeperiod": 14})], horizon=2)
    assert ds.bar[ds.asset == 1].min() == 120 + 14
    assert ds.bar[ds.asset == 0].min() == 14
    assert np.isfinite(ds.X).all() and np.isfinite(ds.y).all()


def test_prediction_rows(panel):
    rows = prediction_rows(panel, SPECS)
    assert rows.n_rows == panel.n_assets and (rows.bar == panel.n_bars - 1).all()
    assert np.isnan(rows.y).all()
    rows2 = prediction_rows(panel, SPECS, bars=[0, 100, -1])
    assert sorted(set(rows2.bar.tolist())) == [100, panel.n_bars - 1]  # bar 0 is warm-up
    with pytest.raises(ValueError, match="bars"):
        prediction_rows(panel, SPECS, bars=[panel.n_bars])
    with pytest.raises(ValueError, match="at least one"):
        build_dataset(panel, [])


# ------------------------------------------------------------------ splits
@pytest.mark.parametrize("h", [1, 3, 7])
@pytest.mark.parametrize("train_size", [None, 150])
def test_walk_forward_has_no_leakage(panel, h, train_size):
    ds = build_dataset(panel, SPECS, horizon=h)
    splits = walk_forward(ds.bar, h, n_splits=4, train_size=train_size)
    assert len(splits) == 4
    for k, s in enumerate(splits):
        train_bars, test_bars = ds.bar[s.train], ds.bar[s.test]
        # no training label bar (t + h) at or after the first test bar ...
        assert train_bars.max() + h < test_bars.min()
        # ... and features of every training row end before the test window too
        assert train_bars.max() < s.test_bars[0]
        # the purge gap is exactly h bars
        assert s.test_bars[0] - s.train_bars[1] == h == s.purge
        assert test_bars.min() - train_bars.max() == h + 1
        # rows are cut by bars: every asset of a bar is on the same side
        assert set(train_bars.tolist()).isdisjoint(test_bars.tolist())
        if train_size is not None:
            assert s.train_bars[1] - s.train_bars[0] <= train_size
        if k:
            assert s.test_bars[0] == splits[k - 1].test_bars[1]  # consecutive test windows
    assert splits[-1].test_bars[1] == ds.bar.max() + 1


def test_embargo_and_holdout(reg):
    s = walk_forward(reg.bar, 3, n_splits=2, embargo=5)
    for f in s:
        assert reg.bar[f.train].max() + 3 + 5 < reg.bar[f.test].min()
    h = holdout(reg.bar, 3, test_fraction=0.25)
    assert reg.bar[h.train].max() + 3 < reg.bar[h.test].min()
    span = reg.bar.max() - reg.bar.min() + 1
    assert h.test_bars[1] - h.test_bars[0] == round(span * 0.25)
    w = reg.window(h)
    assert w["test_bars"] == list(h.test_bars) and w["purge_bars"] == 3 and w["test_rows"] == h.test.size
    assert w["train_end"] == str(reg.index[h.train_bars[1] - 1]) and w["test_start"] == str(reg.index[h.test_bars[0]])
    with pytest.raises(ValueError, match="training bars"):
        walk_forward(reg.bar, 3, n_splits=3, test_size=200)
    with pytest.raises(ValueError, match="test_fraction"):
        holdout(reg.bar, 3, test_fraction=1.0)
    with pytest.raises(ValueError, match="horizon"):
        walk_forward(reg.bar, 0)


# ------------------------------------------------------------------ models
@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_model_trains_on_cpu(reg, clf, name):
    ds = reg if MODELS[name].task == "regression" else clf
    split = holdout(ds.bar, ds.horizon)
    params = SMALL_RF if "Forest" in name else None
    model, metrics = train(ds, name, split, params, backend="cpu")
    assert model.backend == "cpu" and model.name == name and model.n_features == ds.n_features
    assert model.n_train == split.train.size and metrics["n"] == split.test.size
    pred = model.predict(ds.X[split.test])
    assert pred.shape == (split.test.size,) and np.isfinite(pred).all()
    if ds.task == "regression":
        assert np.isfinite(metrics["r2"]) and metrics["mse"] >= 0
        assert metrics["r2"] > -1.0  # a return forecast near zero skill, but not absurd
    else:
        assert 0.0 <= metrics["accuracy"] <= 1.0 and 0.0 <= metrics["auc"] <= 1.0
        assert set(np.unique(pred)) <= {0.0, 1.0}
        proba = model.predict_proba(ds.X[split.test])
        assert ((proba >= 0) & (proba <= 1)).all()


def test_auto_backend_runs_and_records(reg):
    model = fit("Ridge", reg.X, reg.y, backend="auto")
    assert model.backend == resolve_ml_backend("auto")
    if not cuml_available():
        assert model.backend == "cpu"


@pytest.mark.skipif(cuml_available(), reason="cuML is installed here")
def test_explicit_gpu_without_cuml_raises(reg):
    with pytest.raises(BackendUnavailable):
        fit("LinearRegression", reg.X, reg.y, backend="gpu")
    with pytest.raises(BackendUnavailable):
        resolve_ml_backend("gpu")
    with pytest.raises(ValueError, match="backend"):
        resolve_ml_backend("tpu")


@pytest.mark.gpu
@pytest.mark.skipif(not cuml_available(), reason="needs cuML")
@pytest.mark.parametrize("name", sorted(MODELS))
def test_gpu_models_match_cpu_roughly(reg, clf, name):
    ds = reg if MODELS[name].task == "regression" else clf
    split = holdout(ds.bar, ds.horizon)
    params = SMALL_RF if "Forest" in name else None
    gpu, gm = train(ds, name, split, params, backend="gpu")
    cpu, cm = train(ds, name, split, params, backend="cpu")
    assert gpu.backend == "gpu" and gm["n"] == cm["n"]
    if name in ("LinearRegression", "Ridge"):
        np.testing.assert_allclose(gpu.predict(ds.X[split.test]), cpu.predict(ds.X[split.test]), rtol=1e-3, atol=1e-5)
    key = "mse" if ds.task == "regression" else "accuracy"
    assert np.isfinite(gm[key])


def test_params_are_validated():
    assert check_params("Ridge", None) == {"standardize": True, "alpha": 1.0, "fit_intercept": True}
    assert check_params("RandomForestRegressor", {"n_estimators": 5.0})["n_estimators"] == 5
    with pytest.raises(UnknownModel):
        check_params("SVC", {})
    with pytest.raises(InvalidParams, match="unknown"):
        check_params("Ridge", {"solver": "svd"})
    with pytest.raises(InvalidParams, match="alpha"):
        check_params("Ridge", {"alpha": -1})
    with pytest.raises(InvalidParams, match="alpha"):
        check_params("Lasso", {"alpha": 0})
    with pytest.raises(InvalidParams):
        check_params("RandomForestClassifier", {"max_depth": 1000})
    with pytest.raises(InvalidParams):
        check_params("RandomForestClassifier", {"max_features": "all"})
    with pytest.raises(InvalidParams):
        check_params("LinearRegression", {"fit_intercept": "yes"})


def test_standardize(reg):
    # OLS is invariant to affine feature scaling: the same predictions either way
    on = fit("LinearRegression", reg.X, reg.y, backend="cpu")
    off = fit("LinearRegression", reg.X, reg.y, {"standardize": False}, backend="cpu")
    assert on.mean is not None and off.mean is None
    np.testing.assert_allclose(on.predict(reg.X[:100]), off.predict(reg.X[:100]), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose((reg.X - on.mean) / on.scale @ on.estimator.coef_ + on.estimator.intercept_,
                               on.predict(reg.X), rtol=1e-9, atol=1e-15)
    const = reg.X.copy()
    const[:, 0] = 5.0
    m = fit("Ridge", const, reg.y, backend="cpu")
    assert m.scale[0] == 1.0 and np.isfinite(m.predict(const[:5])).all()


def test_bad_inputs_are_refused(reg, clf):
    model = fit("LinearRegression", reg.X, reg.y, backend="cpu")
    with pytest.raises(InvalidInput, match="features per row"):
        model.predict(reg.X[:, :3])
    bad = reg.X[:4].copy()
    bad[2, 1] = np.nan
    with pytest.raises(InvalidInput, match="row 2"):
        model.predict(bad)
    assert model.predict(reg.X[0]).shape == (1,)  # one row as a 1-D vector
    with pytest.raises(InvalidInput, match="labels"):
        fit("Ridge", reg.X, reg.y[:-1], backend="cpu")
    with pytest.raises(InvalidInput, match="0 or 1"):
        fit("LogisticRegression", reg.X, reg.y, backend="cpu")
    with pytest.raises(InvalidInput, match="both classes"):
        fit("LogisticRegression", clf.X, np.ones(clf.n_rows), backend="cpu")
    with pytest.raises(InvalidInput, match="regression model"):
        model.predict_proba(reg.X[:2])
    with pytest.raises(InvalidInput, match="classification"):
        train(reg, "LogisticRegression", holdout(reg.bar, 3), backend="cpu")


def test_cross_validate_and_determinism(clf):
    splits = walk_forward(clf.bar, clf.horizon, n_splits=3)
    folds = cross_validate(clf, "RandomForestClassifier", splits, SMALL_RF, backend="cpu")
    again = cross_validate(clf, "RandomForestClassifier", splits, SMALL_RF, backend="cpu")
    assert len(folds) == 3 and folds == again
    assert [f["n"] for f in folds] == [s.test.size for s in splits]


# ------------------------------------------------------------------ packed forests (kernels.ml.forest)
from kernels.ml import forest as fil  # noqa: E402
from tests.conftest import backends  # noqa: E402

ENSEMBLES = ["RandomForestRegressor", "RandomForestClassifier", "ExtraTreesRegressor", "ExtraTreesClassifier",
             "GradientBoostingRegressor", "GradientBoostingClassifier"]


def _ensemble(name, n_classes=2, nan=False, seed=0):
    from sklearn import ensemble  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(700, 6)) * np.array([1.0, 10.0, 0.01, 1e3, 1.0, 1e-5])
    z = X[:, 0] + np.sin(X[:, 1]) + 50 * X[:, 2] + rng.normal(size=700) * 0.3
    if nan:
        X[rng.random(X.shape) < 0.1] = np.nan
    if name.endswith("Regressor"):
        y = z
    else:
        y = np.digitize(z, np.quantile(z, np.linspace(0, 1, n_classes + 1)[1:-1])) * 2 - 1  # labels -1, 1, 3, ...
    kw = {"n_estimators": 12, "max_depth": 7, "random_state": seed}
    if name.startswith("Gradient"):
        kw.update(max_depth=3, learning_rate=0.3)
    return getattr(ensemble, name)(**kw).fit(X[:500], y[:500]), X[500:]


def _boundary_rows(est, X):
    """Rows whose values sit exactly on, and one float32 step around, the trees' thresholds."""
    trees = est.estimators_.ravel() if hasattr(est.estimators_, "ravel") else est.estimators_
    rows = [X]
    for t in trees[:4]:
        tr = t.tree_
        for node in np.flatnonzero(tr.children_left >= 0)[:20]:
            t32 = np.float32(tr.threshold[node])
            for v in (t32, np.nextafter(t32, np.float32(np.inf)), np.nextafter(t32, np.float32(-np.inf)),
                      tr.threshold[node]):
                r = X[:3].copy()
                r[:, tr.feature[node]] = v
                rows.append(r)
    return np.concatenate(rows)


@pytest.mark.parametrize("backend", list(backends()))
@pytest.mark.parametrize("name", ENSEMBLES)
def test_packed_forest_equals_sklearn(name, backend):
    est, X = _ensemble(name)
    X = _boundary_rows(est, X)
    packed = fil.pack_forest(est)
    assert fil.supports(est) and packed.n_trees == np.asarray(est.estimators_).shape[0]
    got = fil.forest_predict(packed, X, backend)
    want = est.predict(X)
    if backend == "cpu":
        np.testing.assert_array_equal(got, want)  # bit for bit
        np.testing.assert_array_equal(fil.forest_predict(packed, X, "cpu", parallel=True), want)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    if hasattr(est, "predict_proba"):
        np.testing.assert_allclose(fil.forest_predict_proba(packed, X, backend), est.predict_proba(X),
                                   rtol=0, atol=1e-9)
        if backend == "cpu":
            np.testing.assert_array_equal(fil.forest_predict_proba(packed, X, backend), est.predict_proba(X))


@pytest.mark.parametrize("backend", list(backends()))
@pytest.mark.parametrize("name", ["RandomForestClassifier", "ExtraTreesClassifier"])
def test_packed_forest_multiclass_and_missing_values(name, backend):
    est, X = _ensemble(name, n_classes=4, nan=True, seed=1)
    packed = fil.pack_forest(est)
    assert packed.n_out == 4 and np.isnan(X).any()
    np.testing.assert_allclose(fil.forest_predict_proba(packed, X, backend), est.predict_proba(X), rtol=0, atol=1e-9)
    np.testing.assert_array_equal(fil.forest_predict(packed, X, backend), est.predict(X))


def test_packed_forest_regressor_with_missing_values():
    est, X = _ensemble("RandomForestRegressor", nan=True, seed=2)
    np.testing.assert_array_equal(fil.forest_predict(fil.pack_forest(est), X), est.predict(X))


def test_float32_floor():
    t = np.array([0.1, -0.1, 1.0, 1e-300, -1e-300, 3.4e38, 1e39, -1e39, 0.5 + 2**-30])
    f = fil.float32_floor(t)
    assert f.dtype == np.float32 and (f.astype(np.float64) <= t).all()
    with np.errstate(over="ignore"):
        up = np.nextafter(f, np.float32(np.inf))
    assert ((up.astype(np.float64) > t) | np.isinf(f)).all()  # the largest float32 <= t


def test_unsupported_estimators_and_bad_shapes():
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor  # noqa: PLC0415
    from sklearn.linear_model import Ridge  # noqa: PLC0415

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    assert not fil.supports(Ridge().fit(X, X[:, 0]))
    assert not fil.supports(RandomForestRegressor(n_estimators=2).fit(X, X[:, :2]))  # multi-output
    assert not fil.supports(GradientBoostingClassifier(n_estimators=2).fit(X, np.arange(60) % 3))
    assert not fil.supports(RandomForestRegressor())  # not fitted
    with pytest.raises(fil.UnsupportedEstimator):
        fil.pack_forest(Ridge())
    packed = fil.pack_forest(RandomForestRegressor(n_estimators=2, random_state=0).fit(X, X[:, 0]))
    with pytest.raises(ValueError, match="rows, 3"):
        fil.forest_predict(packed, X[:, :2])
    assert fil.forest_predict(packed, X[:0]).shape == (0,)


@pytest.mark.parametrize("name", ["RandomForestRegressor", "RandomForestClassifier"])
def test_zoo_forests_predict_through_the_packed_kernel(reg, clf, name):
    import pickle  # noqa: PLC0415

    ds = reg if MODELS[name].task == "regression" else clf
    model = fit(name, ds.X, ds.y, {**SMALL_RF, "standardize": True}, backend="cpu")
    assert model.compiled and isinstance(model._forest, fil.PackedForest)
    Xs = (ds.X - model.mean) / model.scale
    np.testing.assert_array_equal(model.predict(ds.X), model.estimator.predict(Xs).astype(np.float64))
    if name.endswith("Classifier"):
        np.testing.assert_array_equal(model.predict_proba(ds.X), model.estimator.predict_proba(Xs)[:, 1])
    blob = pickle.dumps(model)
    assert b"PackedForest" not in blob  # derived data: never stored with the model
    again = pickle.loads(blob)
    assert again._forest is None and again.compiled
    np.testing.assert_array_equal(again.predict(ds.X[:50]), model.predict(ds.X[:50]))
    state = dict(model.__dict__)
    state.pop("_forest")
    old = object.__new__(type(model))
    old.__setstate__(state)  # a pickle written before the packed forest existed
    np.testing.assert_array_equal(old.predict(ds.X[:50]), model.predict(ds.X[:50]))
    assert not fit("Ridge", reg.X, reg.y, backend="cpu").compiled
