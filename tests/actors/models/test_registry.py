"""actors.models.registry: versioned models on disk, verified before loading."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from actors.models.registry import (
    InvalidModelName,
    ModelIntegrityError,
    ModelNotFound,
    ModelRegistry,
)
from kernels.data import synthetic_panel
from kernels.ml import build_dataset, fit, holdout, train

SPECS = [("rsi", {"timeperiod": 14}), ("roc", {"timeperiod": 5})]


@pytest.fixture(scope="module")
def trained():
    ds = build_dataset(synthetic_panel(4, 300, seed=2), SPECS, horizon=2)
    split = holdout(ds.bar, 2)
    model, metrics = train(ds, "Ridge", split, {"alpha": 0.5}, backend="cpu")
    return ds, split, model, metrics


def _save(reg, name, trained, **kw):
    ds, split, model, metrics = trained
    return reg.save(name, model, features=SPECS, horizon=2, window=ds.window(split), metrics=metrics, dataset="synthetic", **kw)


def test_round_trip_and_versions(tmp_path, trained):
    ds, _, model, metrics = trained
    reg = ModelRegistry(tmp_path)
    r1 = _save(reg, "ridge-a", trained)
    r2 = _save(reg, "ridge-a", trained, extra={"note": "second"})
    _save(reg, "other_1", trained)
    assert (r1.version, r2.version) == (1, 2)
    assert reg.names() == ["other_1", "ridge-a"]
    assert [r.version for r in reg.versions("ridge-a")] == [1, 2]
    assert [(r.name, r.version) for r in reg.list_models()] == [("other_1", 1), ("ridge-a", 2)]
    rec = reg.get("ridge-a", 1)
    assert rec.model == "Ridge" and rec.task == "regression" and rec.backend == "cpu"
    assert rec.params == {"standardize": True, "alpha": 0.5, "fit_intercept": True}
    assert rec.features == [["rsi", {"timeperiod": 14}], ["roc", {"timeperiod": 5}]]
    assert rec.feature_names == list(ds.feature_names) and rec.n_features == 2 and rec.horizon == 2
    assert rec.metrics == pytest.approx(metrics) and rec.window["test_bars"] == list(trained[1].test_bars)
    assert {"python", "numpy", "scikit-learn"} <= set(rec.library_versions)
    assert rec.created_at.endswith("+00:00") and len(rec.sha256) == 64
    assert reg.get("ridge-a").version == 2 and reg.get("ridge-a", "2").extra == {"note": "second"}
    loaded, lrec = reg.load("ridge-a")
    assert lrec == reg.get("ridge-a", 2)
    np.testing.assert_array_equal(loaded.predict(ds.X[:50]), model.predict(ds.X[:50]))
    json.dumps(rec.to_public(), allow_nan=False)  # the public form is plain JSON


def test_nan_metrics_are_stored_as_null(tmp_path, trained):
    reg = ModelRegistry(tmp_path)
    ds, split, model, _ = trained
    rec = reg.save("m", model, metrics={"r2": float("nan"), "auc": None})
    assert reg.get("m").metrics == {"r2": None, "auc": None} == rec.metrics


def test_reopen_after_restart_sees_everything(tmp_path, trained):
    reg = ModelRegistry(tmp_path)
    _save(reg, "a", trained)
    _save(reg, "a", trained)
    _save(reg, "b", trained)
    before = [r.to_public() for r in reg.list_models()]
    del reg
    again = ModelRegistry(tmp_path)  # a new process would do exactly this
    assert [r.to_public() for r in again.list_models()] == before
    assert [r.version for r in again.versions("a")] == [1, 2]
    assert _save(again, "a", trained).version == 3
    model, _ = again.load("b")
    assert model.predict(trained[0].X[:3]).shape == (3,)


def test_tampered_model_file_is_refused(tmp_path, trained, monkeypatch):
    reg = ModelRegistry(tmp_path)
    _save(reg, "m", trained)
    path = reg.directory / "m" / "1" / "model.pkl"
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    import pickle

    calls = []
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: calls.append(1))
    with pytest.raises(ModelIntegrityError, match="sha256"):
        reg.load("m")
    path.write_bytes(bytes(blob[:-10]))  # truncated
    with pytest.raises(ModelIntegrityError):
        reg.load("m")
    path.unlink()
    with pytest.raises(ModelIntegrityError, match="missing"):
        reg.load("m")
    assert calls == []  # nothing was ever unpickled
    assert reg.get("m").version == 1  # the metadata is still listed


def test_swapped_file_and_damaged_metadata_are_refused(tmp_path, trained):
    reg = ModelRegistry(tmp_path)
    _save(reg, "m", trained)
    ds = trained[0]
    other = fit("LinearRegression", ds.X, ds.y, backend="cpu")
    reg.save("n", other)
    # a valid model file of another version in place of this one: the hash differs
    (reg.directory / "m" / "1" / "model.pkl").write_bytes((reg.directory / "n" / "1" / "model.pkl").read_bytes())
    with pytest.raises(ModelIntegrityError):
        reg.load("m")
    meta = reg.directory / "n" / "1" / "meta.json"
    raw = json.loads(meta.read_text())
    meta.write_text(json.dumps({**raw, "name": "m"}))
    with pytest.raises(ModelIntegrityError, match="another model"):
        reg.get("n")
    meta.write_text("{not json")
    with pytest.raises(ModelIntegrityError, match="unreadable"):
        reg.load("n")
    assert ModelRegistry(tmp_path).list_models()[0].name == "m"  # the damaged one is skipped


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", ".hidden", "1abc", "a" * 65, "a b", "ok\n", None, 3])
def test_bad_names_refused(tmp_path, trained, bad):
    reg = ModelRegistry(tmp_path)
    with pytest.raises(InvalidModelName):
        reg.save(bad, trained[2])
    with pytest.raises(InvalidModelName):
        reg.load(bad)
    assert list(reg.directory.iterdir()) == []


@pytest.mark.parametrize("bad", [0, -1, "01", "1.0", "../1", True, 1.5])
def test_bad_versions_refused(tmp_path, trained, bad):
    reg = ModelRegistry(tmp_path)
    _save(reg, "m", trained)
    with pytest.raises(InvalidModelName):
        reg.get("m", bad)


def test_gpu_model_needs_cuml_to_load(tmp_path, trained, monkeypatch):
    from kernels.backend import BackendUnavailable
    import actors.models.registry as mr

    reg = ModelRegistry(tmp_path)
    _save(reg, "m", trained)
    meta = reg.directory / "m" / "1" / "meta.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "backend": "gpu"}))
    monkeypatch.setattr(mr, "cuml_available", lambda: False)
    with pytest.raises(BackendUnavailable, match="cuML"):
        reg.load("m")


def test_unknown_models_and_delete(tmp_path, trained):
    reg = ModelRegistry(tmp_path)
    with pytest.raises(ModelNotFound):
        reg.get("nope")
    with pytest.raises(ModelNotFound):
        reg.versions("nope")
    _save(reg, "m", trained)
    _save(reg, "m", trained)
    with pytest.raises(ModelNotFound):
        reg.load("m", 7)
    reg.delete("m", 2)
    assert [r.version for r in reg.versions("m")] == [1]
    with pytest.raises(ModelNotFound):
        reg.delete("m", 2)
    with pytest.raises(TypeError):
        reg.save("x", object())


def test_concurrent_saves_get_distinct_versions(tmp_path, trained):
    reg = ModelRegistry(tmp_path)
    versions = []
    lock = threading.Lock()

    def work():
        r = _save(reg, "m", trained)
        with lock:
            versions.append(r.version)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(versions) == [1, 2, 3, 4, 5, 6]
    assert not [p for p in (reg.directory / "m").iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_loaded_forest_is_packed_in_memory_only(tmp_path):
    """`load` prepares a tree ensemble for the compiled kernel; the stored file holds the estimator only."""
    ds = build_dataset(synthetic_panel(4, 300, seed=2), SPECS, horizon=2)
    model = fit("RandomForestRegressor", ds.X, ds.y, {"n_estimators": 5, "max_depth": 3}, backend="cpu")
    assert model.compiled  # packed in this process...
    reg = ModelRegistry(tmp_path)
    rec = reg.save("forest", model, features=SPECS)
    blob = (tmp_path / "models" / "forest" / "1" / "model.pkl").read_bytes()
    assert b"PackedForest" not in blob and len(blob) == rec.size_bytes  # ...but never stored
    loaded, _ = reg.load("forest")
    assert loaded._forest is not None and loaded.compiled
    np.testing.assert_array_equal(loaded.predict(ds.X), model.estimator.predict(ds.X))
