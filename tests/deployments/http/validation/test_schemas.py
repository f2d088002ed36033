"""The API's shapes without a cluster: request/response models, error mapping, auth, limits, configs."""
from __future__ import annotations

import pytest
import yaml
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import ValidationError

from actors.settings import ServeConfig, Settings
from deployments.http.auth import Principal, authenticate
from deployments.http.errors import ApiError, BodyLimitMiddleware, domain_error, guess_field, install_error_handlers
from deployments.http.schemas import BacktestCreate, FeaturesCreate, InlineBars, SweepCreate


def locs(exc: ValidationError) -> set[tuple]:
    return {tuple(e["loc"]) for e in exc.errors()}


# ------------------------------------------------------------------ create shapes
def test_backtest_create_payload_and_bounds():
    b = BacktestCreate(strategy="trend_following", params={"fast": 10, "slow": 50}, priority="low", fees=0.001)
    assert b.priority == "LOW"
    assert b.payload() == {"dataset": "synthetic", "strategy": "trend_following", "params": {"fast": 10, "slow": 50},
                           "fees": 0.001, "slippage": 0.0, "bars_per_year": 252}
    with pytest.raises(ValidationError) as e:
        BacktestCreate(strategy="x", fees=1.5, slippage=-0.1, priority="soon", typo=1)
    assert {("fees",), ("slippage",), ("priority",), ("typo",)} <= locs(e.value)
    with pytest.raises(ValidationError) as e:
        BacktestCreate(strategy="x", params={"fast": float("nan")})
    assert ("params",) in locs(e.value)
    with pytest.raises(ValidationError) as e:
        BacktestCreate(strategy="x", dataset="../etc", symbols=["ok", "bad symbol"], dataset_version="latest")
    assert {("dataset",), ("symbols",), ("dataset_version",)} <= locs(e.value)


def test_sweep_create_grid_and_rank_by():
    s = SweepCreate(strategy="trend_following", grid={"fast": [5, 10], "slow": [20, 40, 60]}, top_k=3)
    assert s.n_combinations == 6 and s.payload()["grid"] == {"fast": [5, 10], "slow": [20, 40, 60]}
    with pytest.raises(ValidationError) as e:
        SweepCreate(strategy="x", grid={"fast": []}, rank_by="luck", top_k=0)
    assert {("grid",), ("rank_by",), ("top_k",)} <= locs(e.value)
    with pytest.raises(ValidationError):
        SweepCreate(strategy="x", grid={})


def test_features_create_sources_and_indicators():
    f = FeaturesCreate(dataset="synthetic", indicators=[{"name": "bbands", "params": {"timeperiod": 20},
                                                          "label": "bb"}], window=5)
    assert f.payload() == {"dataset": "synthetic", "window": 5,
                           "indicators": [{"name": "bbands", "params": {"timeperiod": 20}, "label": "bb"}]}
    assert FeaturesCreate(dataset="synthetic", indicators=[{"name": "rsi"}], window=None).payload().get("window") is None
    with pytest.raises(ValidationError) as e:
        FeaturesCreate(dataset="synthetic", indicators=[{"name": "rsi", "params": {"period": 3}}])
    assert ("indicators", 0) in locs(e.value)
    with pytest.raises(ValidationError) as e:
        FeaturesCreate(dataset="synthetic", indicators=[{"name": "nope"}, {"name": "sma", "label": "1bad"}])
    assert {("indicators", 0, "name"), ("indicators", 1, "label")} <= locs(e.value)
    with pytest.raises(ValidationError):
        FeaturesCreate(indicators=[{"name": "rsi"}])  # neither dataset nor bars
    with pytest.raises(ValidationError):
        FeaturesCreate(indicators=[])


def test_inline_bars_lengths_and_frame():
    cols = {"symbol": ["A", "A"], "open": [1.0, 1.1], "high": [1.2, 1.3], "low": [0.9, 1.0], "close": [1.1, None],
            "volume": [10.0, 12.0]}
    iso = InlineBars(timestamp=["2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"], **cols).frame()
    epoch = InlineBars(timestamp=[1704153600, 1704240000], **cols).frame()
    assert list(iso["timestamp"]) == list(epoch["timestamp"])
    assert iso["close"].isna().tolist() == [False, True]
    with pytest.raises(ValidationError) as e:
        InlineBars(timestamp=["2024-01-02"], **cols)
    assert "has 2 rows" in str(e.value)


# ------------------------------------------------------------------ errors
def test_guess_field_from_kernel_messages():
    assert guess_field("parameter 'fast' must be >= 2, got 1") == "params.fast"
    assert guess_field("parameter 'fast' must be >= 2", params_field="grid") == "grid.fast"
    assert guess_field("unknown strategy 'x'; known strategies: [...]") == "strategy"
    assert guess_field("\"unknown symbols: ['ZZ']\"") == "symbols"
    assert guess_field("rsi: timeperiod must be >= 2, got 1") == "indicators"
    assert guess_field("column 'close' must be positive, got -1.0 at row 3", bars_field="bars") == "bars.close"
    assert guess_field("something else entirely") is None


def test_domain_errors_map_to_4xx_and_503():
    from actors.scheduling.coordinator import JobNotFound, JobNotReady
    from actors.datasets import DatasetNotFound
    from actors.scheduling.placement.fallback import NoCapacity
    from actors.scheduling.queues.job_queue import AdmissionRefused
    from actors.jobs.plans import JobSpecError
    from kernels.data import DataValidationError

    e = domain_error(AdmissionRefused("tenant alice has 3 queued jobs", 2.2, "tenant"))
    assert (e.status, e.code, e.headers["Retry-After"]) == (429, "queue_full", "3")
    assert domain_error(NoCapacity("no healthy worker available")).status == 503
    assert domain_error(JobNotFound("no job x")).status == 404
    assert domain_error(JobNotReady("job x is running")).status == 409
    d = domain_error(DatasetNotFound("unknown dataset 'nope'"))
    assert (d.status, d.field, d.message) == (422, "dataset", "unknown dataset 'nope'")
    v = domain_error(DataValidationError("column 'close' must be positive, got -1.0 at row 3"), data_field="bars")
    assert (v.status, v.field) == (422, "bars.close")
    assert domain_error(DataValidationError("missing column(s) ['volume']"), data_field="file").field == "file"
    assert domain_error(JobSpecError("grid: 0 combinations")).field == "grid"
    assert domain_error(KeyError("unknown field 'x'")).status == 422
    with pytest.raises(RuntimeError):
        domain_error(RuntimeError("a real server fault"))  # not a client mistake: stays a 500


def test_domain_error_unwraps_ray_task_errors():
    class Wrapped(Exception):
        def __init__(self, cause):
            super().__init__(str(cause))
            self.cause = cause

    from actors.scheduling.queues.job_queue import AdmissionRefused

    e = domain_error(Wrapped(AdmissionRefused("full", 5.0, "class")))
    assert e.status == 429 and e.headers["Retry-After"] == "5"


def test_error_handlers_and_body_limit_middleware():
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=100)

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        return {"n": len(await request.body())}

    @app.get("/conflict")
    async def conflict() -> dict:
        raise ApiError(409, "job_finished", "already done")

    client = TestClient(app)
    assert client.post("/echo", content=b"x" * 100).json() == {"n": 100}
    r = client.post("/echo", content=b"x" * 101)
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"

    def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(5):
            yield b"x" * 40

    r = client.post("/echo", content=chunks())
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large", r.text
    assert client.get("/conflict").json() == {"error": {"code": "job_finished", "message": "already done"}}
    r = client.get("/missing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


# ------------------------------------------------------------------ auth
def test_authenticate_open_and_with_keys():
    assert authenticate({}, "default", None, None) == Principal("default", False)
    assert authenticate({}, "default", None, "desk-1") == Principal("desk-1", False)
    with pytest.raises(ApiError) as e:
        authenticate({}, "default", None, "../x")
    assert e.value.status == 422
    keys = {"alice-key-0001": "alice"}
    assert authenticate(keys, "default", "alice-key-0001", "bob") == Principal("alice", True)  # X-Tenant ignored
    for key in (None, "", "alice-key-0002"):
        with pytest.raises(ApiError) as e:
            authenticate(keys, "default", key, None)
        assert e.value.status == 401
    p = Principal("alice", True)
    assert p.may_see("alice") and not p.may_see("bob") and Principal("default", False).may_see("bob")


# ------------------------------------------------------------------ configuration
def test_serve_config_validation_and_environment(monkeypatch):
    c = ServeConfig(api_keys='{"key-00000001": "a"}', live_priorities="realtime,high", research_priority="normal")
    assert c.api_keys == {"key-00000001": "a"} and c.live_priorities == ("REALTIME", "HIGH")
    assert c.research_priority == "NORMAL" and c.auth_enabled
    assert ServeConfig(api_keys="key-00000001=a, key-00000002=b").api_keys == {"key-00000001": "a",
                                                                              "key-00000002": "b"}
    for bad in (dict(api_keys={"short": "a"}), dict(live_priority="LOW"), dict(port=70000),
                dict(max_sweep_combinations=10**9), dict(wait_timeout_s=0),
                dict(predict_max_batch_size=0), dict(predict_batch_wait_s=-1.0), dict(live_num_replicas=0),
                dict(live_route_prefix="/v1"), dict(live_route_prefix="live"), dict(live_app_name="rayquant")):
        with pytest.raises(ValueError):
            ServeConfig(**bad)
    monkeypatch.setenv("RAYQUANT_SERVE__PORT", "9123")
    monkeypatch.setenv("RAYQUANT_SERVE__API_KEYS", "env-key-0001=ops")
    monkeypatch.setenv("RAYQUANT_SERVE__PREDICT_MAX_BATCH_SIZE", "8")
    monkeypatch.setenv("RAYQUANT_SERVE__LIVE_APP", "false")
    monkeypatch.setenv("RAYQUANT_LIVE_CHANNEL__ENABLED", "false")
    monkeypatch.setenv("RAYQUANT_RAY__GIL_SWITCH_INTERVAL_S", "0.0002")
    s = Settings(serve={"host": "0.0.0.0"})
    assert (s.serve.host, s.serve.port, s.serve.api_keys) == ("0.0.0.0", 9123, {"env-key-0001": "ops"})
    assert s.serve.predict_max_batch_size == 8
    assert not s.serve.live_app and not s.live_channel.enabled and s.ray.gil_switch_interval_s == 0.0002
    with pytest.raises(ValueError, match="gil_switch_interval_s"):
        Settings(ray={"gil_switch_interval_s": 0})


def test_serve_config_yaml_is_a_valid_serve_deploy_config():
    from pathlib import Path

    from ray.serve.schema import ServeDeploySchema

    from deployments.app import AppArgs, build_app

    path = Path(__file__).resolve().parents[4] / "deployments" / "manifests" / "serve_config.yaml"
    cfg = ServeDeploySchema.model_validate(yaml.safe_load(path.read_text()))
    app_cfg, live_cfg = cfg.applications
    assert app_cfg.import_path == live_cfg.import_path == "deployments.app:build_app"
    assert (app_cfg.route_prefix, live_cfg.route_prefix) == ("/", "/live")
    args, live_args = AppArgs.model_validate(app_cfg.args), AppArgs.model_validate(live_cfg.args)
    assert (args.role, live_args.role) == ("all", "live")
    assert args.settings == live_args.settings and args.settings["ray"]["detached"] is True
    for a in (args, live_args):
        application = build_app(a)  # builds without a cluster (binding is lazy)
        assert type(application).__name__ == "Application"
    with pytest.raises(ValidationError):
        AppArgs.model_validate({"setting": {}})
