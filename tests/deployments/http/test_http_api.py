"""The HTTP API for real: Ray Serve on a local Ray, the coordinator and its workers, httpx.

One service per module (start-up dominates on 2 cores). It runs with API keys
(tenants alice, bob and flood), one simulated GPU worker and no CPU worker (so a
slowed-down tenant really fills its queue), small limits (body bytes, grid size,
queued jobs per tenant) and the small synthetic universe. A second app on the same
Serve, at /empty, has a coordinator with no worker at all: the honest 503.
"""
from __future__ import annotations

import io
import time

import numpy as np
import pandas as pd
import pytest

ray = pytest.importorskip("ray")
httpx = pytest.importorskip("httpx")

from actors.settings import DataConfig, RayConfig, Settings  # noqa: E402
from deployments.service import deploy_app, free_port  # noqa: E402
from tests.deployments.conftest import running_service  # noqa: E402
from gpu_hal.config import FaultConfig, GpuHalConfig, SimulationConfig  # noqa: E402
from kernels.backtest import run, sweep  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402
from kernels.indicators import compute  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]

NAMESPACE = "rayquant-http-test"
ASSETS, BARS = 12, 400
KEYS = {"alice-key-0001": "alice", "bob-key-00002": "bob", "flood-key-0003": "flood"}
MAX_BODY = 256 * 1024
MAX_COMBOS = 500
MAX_QUEUED = 3
BT = {"strategy": "trend_following", "params": {"fast": 5, "slow": 20}, "fees": 0.001}


def settings_for(tmp, port: int) -> Settings:
    return Settings(
        storage_dir=tmp,
        data=DataConfig(synthetic_assets=ASSETS, synthetic_bars=BARS),
        ray=RayConfig(namespace=NAMESPACE),
        gpu=GpuHalConfig(simulation=SimulationConfig(mode="always", num_devices=1), faults=FaultConfig(enabled=True)),
        coordinator={"cpu_workers": 0, "queue": {"max_queued_per_tenant": MAX_QUEUED}},
        serve={"port": port, "replica_num_cpus": 0, "api_keys": KEYS, "max_request_bytes": MAX_BODY,
               "max_sweep_combinations": MAX_COMBOS, "wait_timeout_s": 120},
    )


@pytest.fixture(scope="module")
def service(tmp_path_factory, serve_session):
    settings = settings_for(tmp_path_factory.mktemp("storage"), free_port())
    # A second app whose coordinator has no worker (no GPU, simulation off, no CPU worker).
    empty = Settings(
        storage_dir=tmp_path_factory.mktemp("empty").resolve(),
        data=DataConfig(synthetic_assets=4, synthetic_bars=100),
        ray=RayConfig(namespace=NAMESPACE, coordinator_name="rayquant-coordinator-empty"),
        gpu=GpuHalConfig(simulation=SimulationConfig(mode="never")),
        coordinator={"cpu_workers": 0},
        serve={"port": settings.serve.port, "replica_num_cpus": 0, "ready_timeout_s": 5},
    )
    with running_service(settings) as svc:
        deploy_app(empty, name="empty", route_prefix="/empty")
        yield svc


@pytest.fixture(scope="module")
def alice(service):
    with httpx.Client(base_url=service.url, headers={"X-API-Key": "alice-key-0001"}, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def bob(service):
    with httpx.Client(base_url=service.url, headers={"X-API-Key": "bob-key-00002"}, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def anonymous(service):
    with httpx.Client(base_url=service.url, timeout=120) as client:
        yield client


def panel():
    return synthetic_panel(ASSETS, BARS, seed=0)


def error_of(resp, status: int, code: str | None = None, field: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert err["message"], err
    if code is not None:
        assert err["code"] == code, err
    if field is not None:
        assert err.get("field") == field, err
    return err


def records(rows: list[dict], index: str) -> pd.DataFrame:
    return pd.DataFrame.from_records(rows).set_index(index)


# ------------------------------------------------------------------ health, docs, auth
def test_health_ready_docs(service, anonymous):
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    ready = anonymous.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] and ready.json()["workers_ready"] >= 1
    docs = anonymous.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = anonymous.get("/openapi.json").json()
    assert set(spec["paths"]["/v1/features"]) == {"get", "post"}
    for path in ("/v1/backtests", "/v1/backtests/{job_id}", "/v1/backtests/{job_id}/result", "/v1/sweeps",
                 "/v1/features", "/v1/datasets", "/v1/devices", "/v1/jobs", "/healthz", "/readyz"):
        assert path in spec["paths"], path
    assert "BacktestCreate" in spec["components"]["schemas"] and "ErrorBody" in spec["components"]["schemas"]


def test_auth_401_without_or_with_unknown_key(anonymous, service):
    error_of(anonymous.get("/v1/devices"), 401, "unauthorized")
    error_of(anonymous.get("/v1/devices", headers={"X-API-Key": "not-a-key-000"}), 401, "unauthorized")
    resp = anonymous.post("/v1/backtests", json=BT)
    error_of(resp, 401)
    assert "WWW-Authenticate" in resp.headers


# ------------------------------------------------------------------ devices, datasets, jobs
def test_devices_report_gpu_hal_state(alice):
    devices = alice.get("/v1/devices").json()
    sim = [d for d in devices if d["kind"] == "gpu"]
    assert sim and all(d["simulated"] and d["healthy"] and d["ready"] for d in sim)
    d = sim[0]
    assert d["budget"]["budget_bytes"] > 0 and "available_bytes" in d["budget"]
    assert d["memory"]["total_bytes"] > 0 and d["health_state"] in ("HEALTHY", "DEGRADED")


def test_datasets_list_has_the_synthetic_universe(alice):
    listed = {d["name"]: d for d in alice.get("/v1/datasets").json()}
    assert listed["synthetic"]["n_assets"] == ASSETS and listed["synthetic"]["n_bars"] == BARS
    assert len(listed["synthetic"]["version"]) == 16


# ------------------------------------------------------------------ backtests
def test_backtest_wait_returns_the_kernels_numbers(alice):
    resp = alice.post("/v1/backtests", params={"wait": "true"}, json={**BT, "symbols": ["S0000", "S0003"]})
    assert resp.status_code == 200, resp.text
    job = resp.json()
    assert job["state"] == "succeeded" and job["priority"] == "LOW" and job["tenant"] == "alice"
    assert job["device"] == "simgpu:0" and job["tier"] == "primary" and job["progress"]["fraction"] == 1.0
    assert resp.headers["Location"] == f"/v1/backtests/{job['job_id']}"
    res = job["result"]
    exp = run(panel().select(["S0000", "S0003"]), "trend_following", {"fast": 5, "slow": 20}, fees=0.001,
              backend="cpu")
    got = records(res["metrics"], "symbol")[list(exp.metrics.columns)]
    pd.testing.assert_frame_equal(got, exp.metrics, check_dtype=False, check_names=False, rtol=1e-9)
    curve = res["equity_curve"]
    assert curve["n_bars"] == BARS and curve["bar"][-1] == BARS - 1
    np.testing.assert_allclose(curve["equity"], np.asarray(exp.portfolio_equity)[curve["bar"]], rtol=1e-9)
    assert curve["time"] == [exp.portfolio_equity.index[b].isoformat() for b in curve["bar"]]  # ISO timestamps


def test_backtest_lifecycle_async(alice):
    resp = alice.post("/v1/backtests", json={**BT, "params": {"fast": 6, "slow": 30}, "priority": "normal"})
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["job_id"]
    assert resp.json()["priority"] == "NORMAL"
    deadline = time.time() + 120
    while True:
        status = alice.get(f"/v1/backtests/{job_id}").json()
        if status["state"] in ("succeeded", "failed", "cancelled") or time.time() > deadline:
            break
        time.sleep(0.1)
    assert status["state"] == "succeeded", status
    assert {"state", "progress", "device", "tier"} <= set(status)
    result = alice.get(f"/v1/backtests/{job_id}/result")
    assert result.status_code == 200 and result.json()["portfolio"]["sharpe"] is not None
    # cancelling a finished job is a conflict
    error_of(alice.delete(f"/v1/backtests/{job_id}"), 409, "job_finished")
    # listed among alice's succeeded jobs, and only hers
    listed = alice.get("/v1/jobs", params={"state": "succeeded"}).json()
    assert job_id in {j["job_id"] for j in listed} and {j["tenant"] for j in listed} == {"alice"}


# ------------------------------------------------------------------ sweeps
def test_sweep_wait_and_paged_result(alice):
    body = {"strategy": "trend_following", "grid": {"fast": [3, 5, 8], "slow": [20, 40]}, "top_k": 3,
            "rank_by": "sharpe", "fees": 0.001}
    resp = alice.post("/v1/sweeps", params={"wait": "true"}, json=body)
    assert resp.status_code == 200, resp.text
    job = resp.json()
    assert job["kind"] == "sweep" and job["state"] == "succeeded"
    res = job["result"]
    exp = sweep(panel(), "trend_following", body["grid"], fees=0.001, top_k=3, rank_by="sharpe", backend="cpu")
    assert res["n_combinations"] == len(exp.portfolio_metrics) == 6
    assert [r["combo_id"] for r in res["top"]] == list(exp.top.index)
    np.testing.assert_allclose([r["sharpe"] for r in res["top"]], exp.top["sharpe"].to_numpy(), rtol=1e-9)
    page = alice.get(f"/v1/sweeps/{job['job_id']}/result", params={"limit": 2, "offset": 1}).json()
    assert [r["combo_id"] for r in page["combinations"]] == [1, 2] and page["truncated"]
    assert {"fast", "slow", "sharpe", "max_drawdown"} <= set(page["combinations"][0])
    assert alice.get(f"/v1/sweeps/{job['job_id']}").json()["state"] == "succeeded"
    # a sweep id is not a backtest id
    error_of(alice.get(f"/v1/backtests/{job['job_id']}"), 404, "not_found")


# ------------------------------------------------------------------ features
def test_features_over_a_dataset_match_the_kernels(alice):
    body = {"dataset": "synthetic", "symbols": ["S0001", "S0004"], "window": 3,
            "indicators": [{"name": "rsi", "params": {"timeperiod": 14}}, {"name": "macd"},
                           {"name": "sma", "params": {"timeperiod": 5}, "input": "high", "label": "sma_high"}]}
    resp = alice.post("/v1/features", json=body)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["priority"] == "REALTIME" and out["source"] == "dataset" and out["symbols"] == ["S0001", "S0004"]
    assert len(out["timestamps"]) == 3
    exp = compute(panel().select(["S0001", "S0004"]), [("rsi", {"timeperiod": 14}), "macd",
                                                      {"name": "sma", "params": {"timeperiod": 5}, "input": "high",
                                                       "label": "sma_high"}])
    assert set(out["features"]) == set(exp) == {"rsi_14", "macd.macd", "macd.macdsignal", "macd.macdhist", "sma_high"}
    for label, values in exp.items():
        np.testing.assert_allclose(np.asarray(out["features"][label], dtype=float), values[-3:], rtol=1e-9)
    high = alice.post("/v1/features", json={**body, "priority": "HIGH"})
    assert high.status_code == 200 and high.json()["priority"] == "HIGH"
    assert "worker;dur=" in high.headers["Server-Timing"]


def test_features_as_a_query_match_the_post_form(alice):
    params = [("dataset", "synthetic"), ("symbols", "S0002,S0005"), ("window", 2),
              ("indicator", "rsi:timeperiod=10"), ("indicator", "bbands:timeperiod=20,nbdevup=2.5")]
    resp = alice.get("/v1/features", params=params)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    post = alice.post("/v1/features", json={"dataset": "synthetic", "symbols": ["S0002", "S0005"], "window": 2,
                                            "indicators": [{"name": "rsi", "params": {"timeperiod": 10}},
                                                           {"name": "bbands", "params": {"timeperiod": 20,
                                                                                         "nbdevup": 2.5}}]}).json()
    assert out["features"] == post["features"] and out["timestamps"] == post["timestamps"]
    assert set(out["features"]) == {"rsi_10", "bbands_20_2.5.upperband", "bbands_20_2.5.middleband",
                                    "bbands_20_2.5.lowerband"}
    error_of(alice.get("/v1/features", params=[("dataset", "synthetic"), ("indicator", "rsi:timeperiod=x")]), 422,
             field="indicator")
    error_of(alice.get("/v1/features", params=[("dataset", "synthetic")]), 422, field="indicator")
    error_of(alice.get("/v1/features", params=[("dataset", "synthetic"), ("indicator", "rsi"),
                                               ("priority", "LOW")]), 422, field="priority")


def test_live_application_serves_only_the_live_routes(service):
    """The live app (own replica): features, streams, predict and health; research routes are not there."""
    assert service.live_url == f"{service.url}/live" and service.live_entry.endswith("/live")
    headers = {"X-API-Key": "alice-key-0001"}
    body = {"dataset": "synthetic", "symbols": ["S0001"], "window": 2,
            "indicators": [{"name": "rsi", "params": {"timeperiod": 14}}]}
    main = httpx.post(f"{service.url}/v1/features", json=body, headers=headers, timeout=120)
    for base in {service.live_url, service.live_entry}:  # through the proxy, and the replica's own port
        with httpx.Client(base_url=base, headers=headers, timeout=120) as live:
            resp = live.post("/v1/features", json=body)
            assert resp.status_code == 200, resp.text
            assert resp.json()["features"] == main.json()["features"]
            assert live.get("/readyz").status_code == 200
            error_of(live.post("/v1/backtests", json={"dataset": "synthetic", **BT}), 404, "not_found")
            error_of(live.get("/v1/jobs"), 404, "not_found")
            error_of(live.post("/v1/models/nope/predict", json={"rows": [[1.0]]}), 404, "not_found")
            stream = live.post("/v1/streams", json={"dataset": "synthetic", "symbols": ["S0001"]})
            assert stream.status_code == 201, stream.text
            assert live.delete(f"/v1/streams/{stream.json()['stream_id']}").status_code == 200
            paths = set(live.get("/openapi.json").json()["paths"])
            assert {"/v1/features", "/v1/ticks", "/v1/models/{model_id}/predict"} <= paths
            assert not any(p.startswith(("/v1/backtests", "/v1/sweeps", "/v1/datasets")) for p in paths)
        error_of(httpx.post(f"{base}/v1/features", json=body, timeout=60), 401, "unauthorized")  # same keys


def test_features_over_inline_bars(alice):
    small = synthetic_panel(3, 60, seed=7)
    df = small.to_frame()
    bars = {"timestamp": [t.isoformat() for t in pd.DatetimeIndex(df["timestamp"])],
            "symbol": df["symbol"].tolist(), **{f: df[f].tolist() for f in ("open", "high", "low", "close", "volume")}}
    resp = alice.post("/v1/features", json={"bars": bars, "window": None,
                                            "indicators": [{"name": "ema", "params": {"timeperiod": 10}}]})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["source"] == "inline" and len(out["timestamps"]) == 60
    exp = compute(small, [("ema", {"timeperiod": 10})])["ema_10"]
    got = np.array([[np.nan if v is None else v for v in row] for row in out["features"]["ema_10"]])
    np.testing.assert_allclose(got, exp, rtol=1e-9)  # NaN warm-up rows are null in JSON, NaN here
    # a negative price in the bars is a 422 naming the column and the row
    bad = {**bars, "close": [-1.0, *bars["close"][1:]]}
    err = error_of(alice.post("/v1/features", json={"bars": bad, "indicators": [{"name": "rsi"}]}), 422,
                   "invalid_data", "bars.close")
    assert "row 0" in err["message"]
    # columns of different lengths
    err = error_of(alice.post("/v1/features", json={"bars": {**bars, "volume": bars["volume"][:-1]},
                                                    "indicators": [{"name": "rsi"}]}), 422)
    assert err["field"].startswith("bars")


# ------------------------------------------------------------------ uploads
def _frame(n_assets=2, n_bars=50, seed=3) -> pd.DataFrame:
    return synthetic_panel(n_assets, n_bars, seed=seed).to_frame()


def _parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def test_upload_parquet_and_csv_versioned_then_used(alice):
    df = _frame()
    resp = alice.post("/v1/datasets", data={"name": "mine"}, files={"file": ("bars.parquet", _parquet(df))})
    assert resp.status_code == 201, resp.text
    meta = resp.json()
    assert meta["name"] == "mine" and meta["n_assets"] == 2 and meta["n_bars"] == 50 and len(meta["version"]) == 16
    same = alice.post("/v1/datasets", data={"name": "mine"}, files={"file": ("again.parquet", _parquet(df))})
    assert same.status_code == 201 and same.json()["version"] == meta["version"]  # same content, same version
    # CSV of the same bars: same shape (its version may differ in the last bit: text floats and the CSV parser)
    csv = alice.post("/v1/datasets", data={"name": "mine_csv"},
                     files={"file": ("bars.csv", df.to_csv(index=False).encode())})
    assert csv.status_code == 201 and (csv.json()["n_bars"], csv.json()["n_assets"]) == (50, 2)
    other = alice.post("/v1/datasets", data={"name": "mine"}, files={"file": ("b.parquet", _parquet(_frame(seed=4)))})
    assert other.status_code == 201 and other.json()["version"] != meta["version"]
    assert "mine" in {d["name"] for d in alice.get("/v1/datasets").json()}
    resp = alice.post("/v1/backtests", params={"wait": "true"},
                      json={**BT, "dataset": "mine", "dataset_version": meta["version"]})
    assert resp.status_code == 200 and resp.json()["state"] == "succeeded", resp.text
    exp = run(synthetic_panel(2, 50, seed=3), "trend_following", {"fast": 5, "slow": 20}, fees=0.001, backend="cpu")
    got = records(resp.json()["result"]["metrics"], "symbol")[list(exp.metrics.columns)]
    pd.testing.assert_frame_equal(got, exp.metrics, check_dtype=False, check_names=False, rtol=1e-9)


@pytest.mark.parametrize(
    "filename, content, needle",
    [
        ("bars.parquet", b"this is not parquet at all", "Parquet"),
        ("bars.csv", _frame().drop(columns=["close"]).to_csv(index=False).encode(), "close"),
        ("bars.csv", _frame().assign(close=lambda d: d["close"].where(d.index != 7, -3.0)).to_csv(index=False).encode(),
         "row 7"),
        ("bars.csv", _frame().astype({"open": object}).assign(
            open=lambda d: d["open"].where(d.index != 4, "abc")).to_csv(index=False).encode(), "not numeric at row 4"),
        ("bars.csv", b"", "empty"),
    ],
    ids=["not-parquet", "missing-column", "negative-price", "non-numeric", "empty"],
)
def test_malformed_uploads_are_422_naming_the_problem(alice, filename, content, needle):
    resp = alice.post("/v1/datasets", data={"name": "broken"}, files={"file": (filename, content)})
    err = error_of(resp, 422, field="file")
    assert needle in err["message"], err


def test_close_only_and_wide_uploads(alice):
    """Close-only long CSV and wide (time x symbols) Parquet/CSV upload; backtests run on them;
    an indicator that needs high/low is a 422 naming the missing field."""
    from kernels.data import Panel  # noqa: PLC0415

    closes = synthetic_panel(3, 60, seed=5).close_frame()
    long_close = closes.stack().rename("close").reset_index()  # timestamp, symbol, close
    wide = closes.reset_index()  # timestamp, S0000, S0001, S0002
    uploads = {
        "closes_long": ("c.csv", long_close.to_csv(index=False).encode()),
        "closes_wide": ("w.parquet", _parquet(wide)),
        "closes_wide_csv": ("w.csv", wide.rename(columns={"timestamp": "date"}).to_csv(index=False).encode()),
    }
    exp = run(Panel.from_close(closes), "trend_following", {"fast": 5, "slow": 20}, fees=0.001, backend="cpu")
    for name, (filename, content) in uploads.items():
        resp = alice.post("/v1/datasets", data={"name": name}, files={"file": (filename, content)})
        assert resp.status_code == 201, resp.text
        assert (resp.json()["n_bars"], resp.json()["n_assets"]) == (60, 3)
        bt = alice.post("/v1/backtests", params={"wait": "true"}, json={**BT, "dataset": name})
        assert bt.status_code == 200 and bt.json()["state"] == "succeeded", bt.text
        got = records(bt.json()["result"]["metrics"], "symbol")[list(exp.metrics.columns)]
        pd.testing.assert_frame_equal(got, exp.metrics, check_dtype=False, check_names=False, rtol=1e-9)
    ok = alice.post("/v1/features", json={"dataset": "closes_wide", "indicators": [{"name": "rsi"}], "window": 2})
    assert ok.status_code == 200, ok.text
    err = error_of(alice.post("/v1/features", json={"dataset": "closes_long", "indicators": [{"name": "atr"}]}), 422)
    assert "'high'" in err["message"] and "atr" in err["message"], err


def test_upload_name_is_validated_never_a_path(alice):
    err = error_of(alice.post("/v1/datasets", data={"name": "../../etc"},
                              files={"file": ("x.parquet", _parquet(_frame()))}), 422, field="name")
    assert "letters" in err["message"]


# ------------------------------------------------------------------ validation 422s
@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/v1/backtests", {**BT, "params": {"fast": 0, "slow": 20}}, "params.fast"),
        ("/v1/backtests", {**BT, "strategy": "no_such_strategy"}, "strategy"),
        ("/v1/backtests", {**BT, "fees": 2}, "fees"),
        ("/v1/backtests", {**BT, "fast": 5}, "fast"),
        ("/v1/backtests", {**BT, "dataset": "nope"}, "dataset"),
        ("/v1/backtests", {**BT, "symbols": ["S0000", "ZZZZ"]}, "symbols"),
        ("/v1/backtests", {**BT, "priority": "REALTIME"}, "priority"),
        ("/v1/backtests", {**BT, "priority": "URGENT"}, "priority"),
        ("/v1/sweeps", {"strategy": "trend_following", "grid": {"fast": [5], "slow": [20]}, "rank_by": "luck"},
         "rank_by"),
        ("/v1/sweeps", {"strategy": "trend_following", "grid": {"fast": []}}, "grid"),
        ("/v1/features", {"dataset": "synthetic", "indicators": [{"name": "rsii"}]}, "indicators.0.name"),
        ("/v1/features", {"dataset": "synthetic", "indicators": [{"name": "rsi", "params": {"timeperiod": 1}}]},
         "indicators"),
        ("/v1/features", {"dataset": "synthetic", "indicators": [{"name": "rsi"}], "priority": "LOW"}, "priority"),
        ("/v1/features", {"indicators": [{"name": "rsi"}]}, None),
    ],
    ids=["param-range", "strategy", "fees", "unknown-field", "dataset", "symbols", "research-realtime",
         "priority-name", "rank-by", "empty-grid", "indicator-name", "indicator-param", "live-low", "no-source"],
)
def test_validation_errors_name_the_field(alice, path, body, field):
    err = error_of(alice.post(path, json=body), 422)
    if field is not None:
        assert err.get("field") == field, err


def test_malformed_json_and_query_are_422_not_500(alice):
    error_of(alice.post("/v1/backtests", content=b"{not json", headers={"Content-Type": "application/json"}), 422)
    error_of(alice.get("/v1/jobs", params={"state": "sleeping"}), 422, field="state")
    error_of(alice.post("/v1/backtests", params={"wait": "true", "timeout_s": -1}, json=BT), 422, field="timeout_s")


# ------------------------------------------------------------------ 404 / 403 / 413
def test_unknown_and_malformed_ids_are_404(alice, bob):
    error_of(alice.get("/v1/backtests/" + "0" * 32), 404, "not_found")
    error_of(alice.get("/v1/backtests/not-an-id/result"), 404, "not_found")
    error_of(alice.delete("/v1/sweeps/" + "f" * 31 + "g"), 404)
    error_of(alice.get("/v1/nothing-here"), 404)
    job_id = alice.post("/v1/backtests", params={"wait": "true"}, json=BT).json()["job_id"]
    error_of(bob.get(f"/v1/backtests/{job_id}"), 404)  # another tenant's job does not exist for bob
    error_of(bob.get("/v1/jobs", params={"tenant": "alice"}), 403, "forbidden")


def test_too_large_is_413(alice):
    big = b"x" * (MAX_BODY + 1)
    error_of(alice.post("/v1/datasets", data={"name": "huge"}, files={"file": ("big.csv", big)}), 413, "too_large")
    grid = {"fast": list(range(2, 27)), "slow": list(range(30, 51))}  # 25 x 21 = 525 > 500
    error_of(alice.post("/v1/sweeps", json={"strategy": "trend_following", "grid": grid}), 413, "grid_too_large",
             "grid")


# ------------------------------------------------------------------ 429 / 409 (queue full, cancel)
def test_full_tenant_queue_is_429_then_cancel_and_conflicts(service):
    coordinator = ray.get_actor(service.settings.ray.coordinator_name, namespace=NAMESPACE)
    ray.get(coordinator.inject_fault.remote("simgpu-0", "slow_down", seconds=3.0, tenant="flood"))
    ids: list[str] = []
    try:
        with httpx.Client(base_url=service.url, headers={"X-API-Key": "flood-key-0003"}, timeout=60) as flood:
            refused = None
            for i in range(MAX_QUEUED + 4):  # distinct fees: no result-cache hits
                resp = flood.post("/v1/backtests", json={**BT, "fees": 0.0001 * (i + 1)})
                if resp.status_code == 429:
                    refused = resp
                    break
                assert resp.status_code == 202, resp.text
                ids.append(resp.json()["job_id"])
            assert refused is not None, "the queue never filled"
            error_of(refused, 429, "queue_full")
            assert int(refused.headers["Retry-After"]) >= 1
            assert len(ids) >= MAX_QUEUED
            running, queued = ids[0], ids[-1]
            assert flood.get(f"/v1/backtests/{queued}").json()["state"] == "queued"
            # the result of a job that is not finished is a conflict
            error_of(flood.get(f"/v1/backtests/{running}/result"), 409, "job_not_ready")
            cancelled = flood.delete(f"/v1/backtests/{queued}")
            assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
            error_of(flood.get(f"/v1/backtests/{queued}/result"), 409, "job_cancelled")
            again = flood.delete(f"/v1/backtests/{queued}")  # idempotent
            assert again.status_code == 200 and again.json()["state"] == "cancelled"
            for job_id in ids[1:-1]:
                flood.delete(f"/v1/backtests/{job_id}")
            # live work is not queued behind the slowed research tenant: it answers while that tenant's job runs
            live = flood.post("/v1/features", json={"dataset": "synthetic", "indicators": [{"name": "rsi"}]})
            assert live.status_code == 200, live.text
    finally:
        ray.get(coordinator.inject_fault.remote("simgpu-0", "clear"))


# ------------------------------------------------------------------ 503 (no capacity)
def test_no_worker_at_all_is_503(service, anonymous):
    err = error_of(anonymous.get("/empty/readyz"), 503, "not_ready")
    assert "no workers" in err["message"]
    resp = anonymous.post("/empty/v1/features", json={"dataset": "synthetic", "indicators": [{"name": "rsi"}]})
    error_of(resp, 503, "no_capacity")
    assert "Retry-After" in resp.headers
