"""Models over HTTP for real: Ray Serve on a local Ray, a CPU worker, httpx.

Train (a coordinator job) on the CPU with scikit-learn, read the held-out metrics,
predict with rows (batched across concurrent requests) and with a dataset (features
computed in the replica), restart the app on the same storage directory, and check
that client mistakes are 4xx naming the field. Small synthetic universe (6 x 400).
"""
from __future__ import annotations

import concurrent.futures as cf
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")
httpx = pytest.importorskip("httpx")

from actors.models.registry import ModelRegistry  # noqa: E402
from actors.settings import DataConfig, RayConfig, Settings  # noqa: E402
from deployments.model_serving import parse_model_id  # noqa: E402
from deployments.service import deploy_app, free_port  # noqa: E402
from tests.deployments.conftest import running_service  # noqa: E402
from gpu_hal.config import GpuHalConfig, SimulationConfig  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402
from kernels.ml import prediction_rows  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]

NAMESPACE = "rayquant-models-http-test"
ASSETS, BARS = 6, 400
MAX_BODY = 128 * 1024
FEATURES = [{"name": "rsi", "params": {"timeperiod": 14}}, {"name": "roc", "params": {"timeperiod": 5}},
            {"name": "zscore", "params": {"timeperiod": 20}}]
RIDGE = {"name": "ridge5", "model": "Ridge", "params": {"alpha": 1.0}, "features": FEATURES, "horizon": 5,
         "test_fraction": 0.25}


def settings_for(tmp, port: int) -> Settings:
    return Settings(
        storage_dir=tmp,
        data=DataConfig(synthetic_assets=ASSETS, synthetic_bars=BARS),
        ray=RayConfig(namespace=NAMESPACE),
        gpu=GpuHalConfig(simulation=SimulationConfig(mode="never")),
        coordinator={"cpu_workers": 1},
        serve={"port": port, "replica_num_cpus": 0, "max_request_bytes": MAX_BODY, "wait_timeout_s": 120},
    )


@pytest.fixture(scope="module")
def service(tmp_path_factory, serve_session):
    with running_service(settings_for(tmp_path_factory.mktemp("storage"), free_port())) as svc:
        yield svc


@pytest.fixture(scope="module")
def client(service):
    with httpx.Client(base_url=service.url, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def trained(client):
    """Two models trained over HTTP: a Ridge (regression) and a small forest classifier."""
    ridge = client.post("/v1/models", params={"wait": "true"}, json=RIDGE)
    assert ridge.status_code == 200, ridge.text
    forest = client.post("/v1/models", params={"wait": "true"},
                         json={**RIDGE, "name": "forest5", "model": "RandomForestClassifier",
                               "params": {"n_estimators": 10, "max_depth": 4}})
    assert forest.status_code == 200, forest.text
    return ridge.json(), forest.json()


def error_of(resp, status: int, field: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["message"], err
    if field is not None:
        assert err.get("field") == field, err
    return err


def local_model(service, model_id: str):
    name, version = parse_model_id(model_id)
    return ModelRegistry(service.settings.storage_dir).load(name, version)


# ------------------------------------------------------------------ training and records
def test_train_over_http_reports_held_out_metrics(trained, client):
    ridge, forest = trained
    assert ridge["kind"] == "train" and ridge["state"] == "succeeded" and ridge["priority"] == "NORMAL"
    rec = ridge["record"]
    assert rec["id"] == "ridge5@1" and rec["backend"] == "cpu" and rec["task"] == "regression"
    assert np.isfinite(rec["metrics"]["mse"]) and "r2" in rec["metrics"]
    assert "scikit-learn" in rec["library_versions"] and rec["n_features"] == 3
    assert rec["window"]["train_bars"][1] <= rec["window"]["test_bars"][0]
    frec = forest["record"]
    assert frec["task"] == "classification" and 0.0 <= frec["metrics"]["accuracy"] <= 1.0
    assert "auc" in frec["metrics"]

    listed = client.get("/v1/models").json()
    assert {m["id"] for m in listed} >= {"ridge5@1", "forest5@1"}
    for model_id in ("ridge5", "ridge5@1"):
        got = client.get(f"/v1/models/{model_id}")
        assert got.status_code == 200, got.text
        assert got.json()["metrics"] == rec["metrics"] and got.json()["sha256"] == rec["sha256"]
    job = client.get(f"/v1/models/jobs/{ridge['job_id']}").json()
    assert job["state"] == "succeeded" and job["record"]["id"] == "ridge5@1"


def test_train_without_wait_is_a_job(trained, client):
    resp = client.post("/v1/models", json={**RIDGE, "params": {"alpha": 3.0}})
    assert resp.status_code == 202, resp.text
    assert resp.headers["Location"] == f"/v1/models/jobs/{resp.json()['job_id']}"
    done = client.post("/v1/models", params={"wait": "true"}, json={**RIDGE, "params": {"alpha": 2.0}})
    assert done.status_code == 200 and done.json()["record"]["version"] >= 2
    assert client.get("/v1/models/ridge5@1").json()["params"]["alpha"] == 1.0


# ------------------------------------------------------------------ predictions
def test_predict_rows_matches_the_stored_model_and_batches(service, trained, client):
    model, _ = local_model(service, "ridge5@1")
    rows = prediction_rows(synthetic_panel(ASSETS, BARS, seed=0), FEATURES, bars=range(100, 140)).X
    resp = client.post("/v1/models/ridge5@1/predict", json={"rows": rows.tolist()})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["model"] == "ridge5@1" and body["version"] == 1 and body["n_rows"] == len(rows)
    np.testing.assert_allclose(body["predictions"], model.predict(rows), rtol=1e-12)

    # Concurrent small requests (batched in the replica) each get their own rows' predictions.
    def one(i: int) -> tuple[list[float], int]:
        r = client.post("/v1/models/ridge5@1/predict", json={"rows": rows[i:i + 1 + i % 3].tolist()})
        assert r.status_code == 200, r.text
        return r.json()["predictions"], int(r.headers["X-Batch-Size"])

    with cf.ThreadPoolExecutor(8) as pool:
        got = list(pool.map(one, range(48)))
    for i, (preds, _) in enumerate(got):
        np.testing.assert_allclose(preds, model.predict(rows[i:i + 1 + i % 3]), rtol=1e-12)
    sizes = [size for _, size in got]
    assert min(sizes) >= 1 and max(sizes) > 1, sizes  # some requests shared an estimator call


def _ndarray(X: np.ndarray, dtype: str = "float64") -> dict:
    import base64  # noqa: PLC0415

    data = np.ascontiguousarray(X, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()
    return {"shape": list(X.shape), "dtype": dtype, "data": base64.b64encode(data).decode()}


def test_predict_columns_and_ndarray_bodies_equal_rows(service, trained, client):
    """The forest predicts through the packed kernel: the same numbers as scikit-learn, whatever the body."""
    model, _ = local_model(service, "forest5@1")
    assert model.compiled
    rows = prediction_rows(synthetic_panel(ASSETS, BARS, seed=0), FEATURES, bars=range(100, 160)).X
    Xs = rows if model.mean is None else (rows - model.mean) / model.scale
    want_class = model.estimator.predict(Xs).astype(float).tolist()
    for body in ({"rows": rows.tolist()}, {"columns": rows.T.tolist()}, {"ndarray": _ndarray(rows)}):
        resp = client.post("/v1/models/forest5@1/predict", json=body)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("application/json")
        assert resp.json()["predictions"] == want_class and resp.json()["n_rows"] == len(rows)
    resp = client.post("/v1/models/ridge5@1/predict", json={"ndarray": _ndarray(rows, "float32")})
    assert resp.status_code == 200, resp.text
    ridge, _ = local_model(service, "ridge5@1")
    np.testing.assert_allclose(resp.json()["predictions"], ridge.predict(rows.astype(np.float32).astype(float)),
                               rtol=1e-12)
    spec = client.get("/openapi.json").json()["paths"]["/v1/models/{model_id}/predict"]["post"]
    props = spec["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert {"rows", "columns", "ndarray", "dataset"} <= set(props)


def test_predict_bad_columnar_and_binary_bodies(trained, client):
    X = np.ones((4, 3))
    url = "/v1/models/ridge5/predict"
    error_of(client.post(url, json={"columns": X[:, :2].T.tolist()}), 422, "columns")
    error_of(client.post(url, json={"columns": [[1.0, 2.0], [1.0], [3.0, 4.0]]}), 422, "columns")
    error_of(client.post(url, json={"ndarray": _ndarray(X[:, :2])}), 422, "ndarray")
    error_of(client.post(url, json={"ndarray": {**_ndarray(X), "data": "not base64!"}}), 422, "ndarray")
    error_of(client.post(url, json={"ndarray": {**_ndarray(X), "shape": [5, 3]}}), 422, "ndarray")
    bad = X.copy()
    bad[2, 1] = np.inf
    assert "row 2" in error_of(client.post(url, json={"ndarray": _ndarray(bad)}), 422, "ndarray")["message"]
    error_of(client.post(url, json={"ndarray": {**_ndarray(X), "dtype": "int8"}}), 422, "ndarray.dtype")
    error_of(client.post(url, json={"rows": X.tolist(), "columns": X.T.tolist()}), 422)
    error_of(client.post(url, content=b"{not json", headers={"Content-Type": "application/json"}), 422)
    error_of(client.post(url, json={"rows": [[1.0, "x", 3.0]]}), 422, "rows.0.1")


def test_predict_dataset_latest_bar(service, trained, client):
    model, record = local_model(service, "forest5")
    panel = synthetic_panel(ASSETS, BARS, seed=0)
    symbols = list(panel.symbols[:4])
    resp = client.post("/v1/models/forest5/predict", json={"dataset": "synthetic", "symbols": symbols})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    expected = prediction_rows(panel.select(symbols), FEATURES)
    assert body["version"] == record.version and body["symbols"] == [symbols[a] for a in expected.asset]
    assert body["timestamp"] == str(panel.index[-1])
    np.testing.assert_allclose(body["predictions"], model.predict(expected.X))
    assert set(body["predictions"]) <= {0.0, 1.0}


def test_registry_survives_an_app_restart(service, trained, client):
    before = client.get("/v1/models/ridge5@1").json()
    assert ModelRegistry(service.settings.storage_dir).get("ridge5", 1).sha256 == before["sha256"]
    from ray import serve  # noqa: PLC0415

    serve.delete(service.settings.serve.app_name)  # the replica (and its model cache) is gone
    assert client.get("/v1/models/ridge5@1").status_code == 404  # no app: the proxy answers
    deploy_app(service.settings)  # a new replica on the same storage directory
    rows = [[50.0, 0.01, 0.5]]
    resp = None
    for _ in range(240):
        try:
            resp = client.post("/v1/models/ridge5@1/predict", json={"rows": rows})
        except httpx.HTTPError:
            resp = None
        if resp is not None and resp.status_code == 200:
            break
        time.sleep(0.25)
    assert resp is not None and resp.status_code == 200, resp and resp.text
    model, _ = local_model(service, "ridge5@1")
    np.testing.assert_allclose(resp.json()["predictions"], model.predict(np.asarray(rows)), rtol=1e-12)
    assert client.get("/v1/models/ridge5@1").json()["sha256"] == before["sha256"]


# ------------------------------------------------------------------ client mistakes
def test_bad_requests_are_4xx_naming_the_field(trained, client):
    error_of(client.get("/v1/models/nosuchmodel"), 404)
    error_of(client.get("/v1/models/ridge5@99"), 404)
    error_of(client.get("/v1/models/bad%20id"), 404)
    error_of(client.post("/v1/models/nosuchmodel/predict", json={"rows": [[1.0, 2.0, 3.0]]}), 404)
    error_of(client.post("/v1/models/ridge5@0/predict", json={"rows": [[1.0, 2.0, 3.0]]}), 404)
    assert "3 features" in error_of(client.post("/v1/models/ridge5/predict", json={"rows": [[1.0, 2.0]]}), 422,
                                    "rows")["message"]
    error_of(client.post("/v1/models/ridge5/predict", json={"rows": [[1.0, 2.0, 3.0], [1.0]]}), 422, "rows")
    for bad in ("NaN", "Infinity"):
        resp = client.post("/v1/models/ridge5/predict", content=f'{{"rows": [[1.0, {bad}, 3.0]]}}',
                           headers={"Content-Type": "application/json"})
        error_of(resp, 422, "rows")
    error_of(client.post("/v1/models/ridge5/predict", json={}), 422)
    error_of(client.post("/v1/models/ridge5/predict", json={"dataset": "nosuchdata"}), 422, "dataset")
    error_of(client.post("/v1/models/ridge5/predict", json={"dataset": "synthetic", "symbols": ["ZZZ"]}), 422)
    error_of(client.post("/v1/models", json={**RIDGE, "model": "DeepNet"}), 422, "model")
    error_of(client.post("/v1/models", json={**RIDGE, "params": {"alpha": -1}}), 422, "params")
    error_of(client.post("/v1/models", json={**RIDGE, "params": {"depth": 3}}), 422, "params")
    error_of(client.post("/v1/models", json={**RIDGE, "task": "classification"}), 422, "task")
    error_of(client.post("/v1/models", json={**RIDGE, "name": "bad name"}), 422, "name")
    error_of(client.post("/v1/models", json={**RIDGE, "features": []}), 422, "features")
    error_of(client.post("/v1/models", json={**RIDGE, "dataset": "nosuchdata"}), 422, "dataset")
    big = {"rows": [[1.0, 2.0, 3.0]] * 20_000}
    error_of(client.post("/v1/models/ridge5/predict", json=big), 413)
