"""The gRPC API for real: grpcio clients against Serve's gRPC proxy on a local Ray (2 CPUs, no GPU).

The first tests need no Ray: the committed stubs are what grpcio-tools makes of the protos, the
Serve configs name the servicers the code registers, and the error map gives every HTTP status
its gRPC code. Then one running service (module scope; start-up dominates on 2 cores) with four
Serve applications: `rayquant` with API keys, `rayquant-live` (the live routes), `open` (the same
coordinator, no keys) and `empty` (a coordinator with no worker: the honest UNAVAILABLE). Every RPC
is called: happy path, the error codes from real bad requests, auth on and off, and the same
numbers as the HTTP route for the same request.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

grpc = pytest.importorskip("grpc")

from deployments.grpc_api.ingress import GRPC_SERVICER_FUNCTIONS, SERVICES, error_status, scalar_value  # noqa: E402
from deployments.protos import backtest_pb2 as bt  # noqa: E402
from deployments.protos import common_pb2 as cm  # noqa: E402
from deployments.protos import ml_pb2 as ml  # noqa: E402
from deployments.protos import operations_pb2 as ops  # noqa: E402
from deployments.protos import realtime_pb2 as rt  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
PROTOS = REPO / "deployments" / "protos"


# ------------------------------------------------------------------ no Ray
def test_committed_stubs_match_the_protos(tmp_path):
    """`python -m grpc_tools.protoc` on the protos gives exactly the committed modules (regenerate: README)."""
    pytest.importorskip("grpc_tools")
    (tmp_path / "deployments" / "protos").mkdir(parents=True)
    for proto in PROTOS.glob("*.proto"):
        shutil.copy(proto, tmp_path / "deployments" / "protos" / proto.name)
    protos = sorted(f"deployments/protos/{p.name}" for p in PROTOS.glob("*.proto"))
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", ".", "--python_out=.", "--grpc_python_out=.",
                    "--pyi_out=.", *protos], cwd=tmp_path, check=True)
    made = sorted(p.name for p in (tmp_path / "deployments" / "protos").glob("*_pb2*"))
    committed = sorted(p.name for p in PROTOS.glob("*_pb2*"))
    assert made == committed
    for name in made:
        assert (tmp_path / "deployments" / "protos" / name).read_text() == (PROTOS / name).read_text(), name


def test_services_and_servicer_functions():
    from ray.serve.config import gRPCOptions  # noqa: PLC0415

    names = {bt.DESCRIPTOR.services_by_name["Backtests"].full_name, rt.DESCRIPTOR.services_by_name["Realtime"].full_name,
             ml.DESCRIPTOR.services_by_name["Models"].full_name,
             ops.DESCRIPTOR.services_by_name["Operations"].full_name}
    assert names == set(SERVICES)
    assert len(gRPCOptions(grpc_servicer_functions=list(GRPC_SERVICER_FUNCTIONS)).grpc_servicer_func_callable) == 5
    # Serve's proxy routes on the method name alone: every RPC name is unique across the services.
    methods = [m.name for f in (bt, rt, ml, ops) for s in f.DESCRIPTOR.services_by_name.values() for m in s.methods]
    assert len(methods) == len(set(methods))
    from deployments.app import RayQuantIngress  # noqa: PLC0415

    assert all(callable(getattr(RayQuantIngress, m)) for m in methods + ["Check", "Watch"])


def test_serve_configs_start_the_grpc_proxy_with_our_servicers():
    config = yaml.safe_load((REPO / "deployments" / "manifests" / "serve_config.yaml").read_text())
    manifests = [d for d in yaml.safe_load_all((REPO / "deployments" / "manifests" / "rayservice.yaml").read_text()) if d]
    (service,) = [d for d in manifests if d.get("kind") == "RayService"]
    v2 = yaml.safe_load(service["spec"]["serveConfigV2"])
    from ray.serve.schema import ServeDeploySchema  # noqa: PLC0415

    from actors.settings import SERVE_GRPC_PORT  # noqa: PLC0415

    for cfg in (config, v2):
        opts = ServeDeploySchema.model_validate(cfg).grpc_options
        assert opts.port == SERVE_GRPC_PORT and opts.enable_reflection
        assert tuple(opts.grpc_servicer_functions) == GRPC_SERVICER_FUNCTIONS


@pytest.mark.parametrize("status,code", [(422, "INVALID_ARGUMENT"), (401, "UNAUTHENTICATED"), (404, "NOT_FOUND"),
                                         (409, "FAILED_PRECONDITION"), (413, "RESOURCE_EXHAUSTED"),
                                         (429, "RESOURCE_EXHAUSTED"), (503, "UNAVAILABLE"), (500, "INTERNAL")])
def test_error_status_uses_the_shared_map(status, code):
    from google.rpc import error_details_pb2, status_pb2  # noqa: PLC0415

    from deployments.http.errors import ApiError  # noqa: PLC0415

    err = ApiError(status, "some_code", "it is wrong", "params.fast", headers={"Retry-After": "3"})
    name, details, metadata = error_status(status, {"retry-after": "3"}, err.response().body)
    assert name == code == err.grpc_status
    assert details == "params.fast: it is wrong"
    rich = status_pb2.Status.FromString(dict(metadata)["grpc-status-details-bin"])
    assert rich.code == getattr(grpc.StatusCode, code).value[0]
    kinds = {d.type_url.rsplit(".", 1)[-1] for d in rich.details}
    assert kinds == {"ErrorInfo", "BadRequest", "RetryInfo"}
    retry = error_details_pb2.RetryInfo()
    next(d for d in rich.details if d.Is(retry.DESCRIPTOR)).Unpack(retry)
    assert retry.retry_delay.seconds == 3


def test_an_rpc_runs_the_http_route_in_process():
    """No Ray: the ingress's RPC method calls the FastAPI app's route in process (inline bars need no
    coordinator), with the route's validation and the shared error map."""
    import asyncio  # noqa: PLC0415

    from actors.settings import ServeConfig  # noqa: PLC0415
    from deployments.grpc_api.ingress import GrpcIngress  # noqa: PLC0415
    from deployments.http.routes import Service, create_api  # noqa: PLC0415

    class Context:  # what Serve passes as grpc_context, reduced to what the methods use
        code = details = metadata = None

        def invocation_metadata(self):
            return []

        def set_code(self, code):
            self.code = code

        def set_details(self, details):
            self.details = details

        def set_trailing_metadata(self, metadata):
            self.metadata = metadata

    ingress = GrpcIngress()
    ingress.grpc_api = create_api(Service(None, ServeConfig()))
    close = [100.0 + i for i in range(20)]
    bars = rt.Bars(timestamp=[f"2030-01-{d:02d}T00:00:00" for d in range(1, 21)], symbol=["X"] * 20, open=close,
                   high=[c + 1 for c in close], low=[c - 1 for c in close], close=close, volume=[1e6] * 20)
    ctx = Context()
    reply = asyncio.run(ingress.ComputeFeatures(rt.FeaturesRequest(
        bars=bars, window=2, indicators=[cm.Indicator(name="sma", params={"timeperiod": 5})]), grpc_context=ctx))
    assert ctx.code is None and list(reply.features) == ["sma_5"]
    m = reply.features["sma_5"]
    assert (m.rows, m.cols) == (2, 1) and list(m.values) == [sum(close[-6:-1]) / 5, sum(close[-5:]) / 5]
    bad = rt.Bars(timestamp=bars.timestamp, symbol=bars.symbol, open=close, high=bars.high, low=bars.low,
                  close=close[:-1], volume=bars.volume)  # one close short
    reply = asyncio.run(ingress.ComputeFeatures(rt.FeaturesRequest(bars=bad, indicators=[cm.Indicator(name="sma")]),
                                                grpc_context=ctx))
    assert ctx.code == grpc.StatusCode.INVALID_ARGUMENT and ctx.details.startswith("bars"), ctx.details
    assert reply == rt.FeaturesReply()


def test_proxy_log_filter_turns_a_client_close_into_info():
    import logging  # noqa: PLC0415

    from deployments.grpc_api.services import WebSocketCloseFilter  # noqa: PLC0415

    def record(exc: BaseException, msg: str = "Request failed due to unexpected error.") -> logging.LogRecord:
        try:
            raise exc
        except BaseException:  # noqa: BLE001
            return logging.getLogger("ray.serve").makeRecord("ray.serve", logging.ERROR, __file__, 1, msg, (),
                                                             sys.exc_info())

    closed = record(GeneratorExit())
    assert WebSocketCloseFilter().filter(closed)
    assert (closed.levelno, closed.getMessage(), closed.exc_info) == (logging.INFO, "WebSocket closed by the client",
                                                                      None)
    other = record(RuntimeError("boom"))
    assert WebSocketCloseFilter().filter(other) and other.levelno == logging.ERROR and other.exc_info


# ------------------------------------------------------------------ a real service
ray = pytest.importorskip("ray")
httpx = pytest.importorskip("httpx")

from actors.settings import DataConfig, RayConfig, Settings  # noqa: E402
from deployments.grpc_api.client import GrpcClient, error_info  # noqa: E402
from deployments.service import deploy_app, free_port  # noqa: E402
from gpu_hal.config import FaultConfig, GpuHalConfig, SimulationConfig  # noqa: E402
from tests.deployments.conftest import running_service  # noqa: E402

NAMESPACE = "rayquant-grpc-test"
ASSETS, BARS = 8, 300
KEYS = {"alice-key-0001": "alice", "flood-key-0003": "flood"}
MAX_QUEUED = 2
MAX_COMBOS = 50
BT = {"strategy": "trend_following", "params": {"fast": 5, "slow": 20}, "fees": 0.001}
FEATURES = [{"name": "rsi", "params": {"timeperiod": 14}}, {"name": "roc"}]


def settings_for(tmp: Path, port: int, keys: dict) -> Settings:
    return Settings(
        storage_dir=tmp,
        data=DataConfig(synthetic_assets=ASSETS, synthetic_bars=BARS),
        ray=RayConfig(namespace=NAMESPACE),
        gpu=GpuHalConfig(simulation=SimulationConfig(mode="always", num_devices=1), faults=FaultConfig(enabled=True)),
        coordinator={"cpu_workers": 0, "queue": {"max_queued_per_tenant": MAX_QUEUED}},
        serve={"port": port, "grpc_port": 0, "replica_num_cpus": 0, "api_keys": keys, "autoscaling": False,
               "max_sweep_combinations": MAX_COMBOS, "wait_timeout_s": 120},
    )


@pytest.fixture(scope="module")
def service(tmp_path_factory, serve_session):
    storage = tmp_path_factory.mktemp("storage").resolve()
    settings = settings_for(storage, free_port(), KEYS)
    empty = Settings(
        storage_dir=tmp_path_factory.mktemp("empty").resolve(),
        data=DataConfig(synthetic_assets=4, synthetic_bars=100),
        ray=RayConfig(namespace=NAMESPACE, coordinator_name="rayquant-coordinator-empty-grpc"),
        gpu=GpuHalConfig(simulation=SimulationConfig(mode="never")),
        coordinator={"cpu_workers": 0},
        serve={"port": settings.serve.port, "replica_num_cpus": 0, "ready_timeout_s": 5, "autoscaling": False},
    )
    with running_service(settings) as svc:
        assert svc.grpc_target
        deploy_app(settings_for(storage, settings.serve.port, {}), name="open", route_prefix="/open")
        deploy_app(empty, name="empty", route_prefix="/empty")
        yield svc


@pytest.fixture(scope="module")
def alice(service):
    with GrpcClient(service.grpc_target, api_key="alice-key-0001") as client:
        client.health(timeout=120)  # the first call waits for the proxy to know the applications
        yield client


@pytest.fixture(scope="module")
def opened(service):
    """The `open` application: no API keys (auth off), the same coordinator."""
    with GrpcClient(service.grpc_target, application="open", live_application="open") as client:
        deadline = time.monotonic() + 120
        while client.health() != "SERVING":
            assert time.monotonic() < deadline, "the open application never became ready"
            time.sleep(0.5)
        yield client


@pytest.fixture(scope="module")
def http(service):
    with httpx.Client(base_url=service.url, headers={"X-API-Key": "alice-key-0001"}, timeout=120) as client:
        yield client


def http_ok(send, attempts: int = 4) -> dict:
    """The reference HTTP answer (JSON), retried as the API asks on 503 + Retry-After (on a loaded 2-core
    machine a worker can miss one health refresh, and placement then sees no healthy worker for a moment)."""
    for _ in range(attempts - 1):
        resp = send()
        if resp.status_code != 503:
            break
        time.sleep(min(2.0, float(resp.headers.get("Retry-After", "1"))))
    else:
        resp = send()
    assert resp.status_code < 300, resp.text
    return resp.json()


def grpc_ok(fn, attempts: int = 4):
    """`fn()` retried as the API asks on UNAVAILABLE with retry info (see `http_ok`)."""
    for _ in range(attempts - 1):
        try:
            return fn()
        except grpc.RpcError as exc:
            info = error_info(exc)
            if exc.code() != grpc.StatusCode.UNAVAILABLE or info.retry_after_s is None:
                raise
            time.sleep(min(2.0, info.retry_after_s))
    return fn()


def rpc_error(fn, *args, **kwargs):
    with pytest.raises(grpc.RpcError) as info:
        fn(*args, **kwargs)
    return info.value, error_info(info.value)


def ints(**params) -> dict[str, cm.Scalar]:
    return {k: cm.Scalar(integer=v) for k, v in params.items()}


def metrics_of(m: cm.Metrics) -> dict[str, float]:
    return {f.name: getattr(m, f.name) for f in cm.Metrics.DESCRIPTOR.fields if f.name != "extra"}


def same(grpc_value: float, json_value) -> bool:
    return (json_value is None and np.isnan(grpc_value)) or grpc_value == json_value


# -- health, reflection, Serve's own health -----------------------------------------------
@pytest.mark.ray
@pytest.mark.slow
def test_health_reflection_and_serve_healthz(service, alice):
    from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: PLC0415
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc  # noqa: PLC0415
    from ray.serve.generated import serve_pb2, serve_pb2_grpc  # noqa: PLC0415

    assert alice.health() == "SERVING" and alice.health("rayquant.v1.Backtests") == "SERVING"
    exc, _ = rpc_error(health_pb2_grpc.HealthStub(alice.channel).Check,
                       health_pb2.HealthCheckRequest(service="no.such.Service"), metadata=alice.metadata(), timeout=30)
    assert exc.code() == grpc.StatusCode.NOT_FOUND
    watch = health_pb2_grpc.HealthStub(alice.channel).Watch(health_pb2.HealthCheckRequest(),
                                                            metadata=alice.metadata(), timeout=30)
    assert next(iter(watch)).status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()
    # Server reflection (Serve's, on the proxy itself: no application metadata needed).
    stub = reflection_pb2_grpc.ServerReflectionStub(alice.channel)
    (answer,) = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                          timeout=30)
    listed = {s.name for s in answer.list_services_response.service}
    assert set(SERVICES) | {"grpc.health.v1.Health"} <= listed
    # Serve's own health RPCs need no application metadata (the probe for load balancers).
    serve_stub = serve_pb2_grpc.RayServeAPIServiceStub(alice.channel)
    assert serve_stub.Healthz(serve_pb2.HealthzRequest(), timeout=30).message == "success"
    apps = set(serve_stub.ListApplications(serve_pb2.ListApplicationsRequest(), timeout=30).application_names)
    assert {"rayquant", "rayquant-live", "open", "empty"} <= apps
    ready = alice.call(alice.operations.Ready, ops.ReadyRequest(), timeout=30)
    assert ready.ready and ready.workers_ready >= 1


# -- auth ------------------------------------------------------------------------------------
@pytest.mark.ray
@pytest.mark.slow
def test_auth_on_and_off(service, alice, opened):
    anonymous = GrpcClient(service.grpc_target)
    wrong = GrpcClient(service.grpc_target, api_key="not-a-key-000")
    try:
        for client in (anonymous, wrong):
            exc, info = rpc_error(client.call, client.operations.ListDevices, ops.ListDevicesRequest(), timeout=60)
            assert exc.code() == grpc.StatusCode.UNAUTHENTICATED and info.reason == "unauthorized"
            assert "API key" in exc.details()
    finally:
        anonymous.close()
        wrong.close()
    devices = alice.call(alice.operations.ListDevices, ops.ListDevicesRequest(), timeout=60).devices
    assert [d.worker_id for d in devices] == ["simgpu-0"] and devices[0].simulated and devices[0].healthy
    # Auth off: no key needed; the tenant comes from x-tenant metadata.
    reply = opened.backtests.IntegratedBacktest(bt.BacktestRequest(strategy="trend_following", params=ints(fast=4, slow=30)),
                                                metadata=opened.metadata(**{"x-tenant": "carol"}), timeout=60)
    assert reply.job.tenant == "carol" and reply.job.state in ("queued", "running", "succeeded")
    exc, info = rpc_error(opened.backtests.ListJobs, bt.ListJobsRequest(),
                          metadata=opened.metadata(**{"x-tenant": "bad tenant!"}), timeout=60)
    assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT and info.field == "X-Tenant"


# -- backtests: same numbers as HTTP ---------------------------------------------------------
@pytest.mark.ray
@pytest.mark.slow
def test_integrated_backtest_equals_http(alice, http):
    req = bt.BacktestRequest(strategy="trend_following", params=ints(fast=5, slow=20), fees=0.001,
                             symbols=["S0000", "S0003"], wait=True)
    reply = alice.call(alice.backtests.IntegratedBacktest, req, timeout=120)
    assert reply.job.state == "succeeded" and reply.job.kind == "backtest" and reply.HasField("result")
    want = http_ok(lambda: http.post("/v1/backtests", params={"wait": "true"},
                                     json={**BT, "symbols": ["S0000", "S0003"]}))["result"]
    got = reply.result
    assert [r.symbol for r in got.metrics] == [r["symbol"] for r in want["metrics"]] == ["S0000", "S0003", "portfolio"]
    for row, ref in zip(got.metrics, want["metrics"]):
        assert all(same(v, ref[k]) for k, v in metrics_of(row.metrics).items()), (row, ref)
    assert all(same(v, want["portfolio"][k]) for k, v in metrics_of(got.portfolio).items())
    assert list(got.equity) == want["equity_curve"]["equity"] and list(got.bar) == want["equity_curve"]["bar"]
    assert {k: scalar_value(v) for k, v in got.params.items()} == want["params"]
    assert (want["params"]["fast"], want["params"]["slow"]) == (5, 20)
    # The job's lifecycle: status, result, cancel of a finished job (FAILED_PRECONDITION).
    ref = cm.JobRef(job_id=reply.job.job_id)
    assert alice.call(alice.backtests.GetBacktestStatus, ref, timeout=60).state == "succeeded"
    again = alice.call(alice.backtests.GetBacktestResult, ref, timeout=60)
    assert list(again.equity) == list(got.equity) and metrics_of(again.portfolio) == metrics_of(got.portfolio)
    exc, info = rpc_error(alice.call, alice.backtests.CancelBacktest, ref, timeout=60)
    assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION and info.reason == "job_finished"
    jobs = alice.call(alice.backtests.ListJobs, bt.ListJobsRequest(limit=50), timeout=60).jobs
    assert reply.job.job_id in {j.job_id for j in jobs} and {j.tenant for j in jobs} == {"alice"}


@pytest.mark.ray
@pytest.mark.slow
def test_backtest_errors_name_the_field(alice):
    cases = [
        (bt.BacktestRequest(strategy="no_such_strategy"), "strategy"),
        (bt.BacktestRequest(strategy="trend_following", params=ints(fast=0, slow=20)), "params.fast"),
        (bt.BacktestRequest(strategy="trend_following", fees=2.0), "fees"),
        (bt.BacktestRequest(strategy="trend_following", symbols=["NOPE"]), "symbols"),
        (bt.BacktestRequest(strategy="trend_following", priority="REALTIME"), "priority"),
    ]
    for req, field in cases:
        exc, info = rpc_error(alice.call, alice.backtests.IntegratedBacktest, req, timeout=60)
        assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, (field, exc.details())
        assert info.field == field and exc.details().startswith((f"{field}:", f"{field} ")), (field, exc.details())
    for method in (alice.backtests.GetBacktestStatus, alice.backtests.GetBacktestResult, alice.backtests.CancelBacktest):
        exc, info = rpc_error(alice.call, method, cm.JobRef(job_id="no-such-job"), timeout=60)
        assert exc.code() == grpc.StatusCode.NOT_FOUND and info.reason == "not_found"


@pytest.mark.ray
@pytest.mark.slow
def test_full_queue_is_resource_exhausted_with_retry_info(service):
    coordinator = ray.get_actor(service.settings.ray.coordinator_name, namespace=NAMESPACE)
    ray.get(coordinator.inject_fault.remote("simgpu-0", "slow_down", seconds=3.0, tenant="flood"))
    ids: list[str] = []
    try:
        with GrpcClient(service.grpc_target, api_key="flood-key-0003") as flood:
            refused = None
            for i in range(MAX_QUEUED + 4):  # distinct fees: no result-cache hits
                try:
                    reply = flood.call(flood.backtests.IntegratedBacktest, bt.BacktestRequest(
                        strategy="trend_following", params=ints(fast=5, slow=20), fees=0.0001 * (i + 1)), timeout=60)
                except grpc.RpcError as exc:
                    refused = exc
                    break
                ids.append(reply.job.job_id)
            assert refused is not None, "the queue never filled"
            info = error_info(refused)
            assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and info.reason == "queue_full"
            assert info.retry_after_s is not None and info.retry_after_s >= 1
            running = ids[0]
            # the result of a job that is not finished: FAILED_PRECONDITION
            exc, info = rpc_error(flood.call, flood.backtests.GetBacktestResult, cm.JobRef(job_id=running), timeout=60)
            assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION and info.reason == "job_not_ready"
            cancelled = flood.call(flood.backtests.CancelBacktest, cm.JobRef(job_id=ids[-1]), timeout=60)
            assert cancelled.state == "cancelled"
            for job_id in ids[1:-1]:
                flood.call(flood.backtests.CancelBacktest, cm.JobRef(job_id=job_id), timeout=60)
    finally:
        ray.get(coordinator.inject_fault.remote("simgpu-0", "clear"))


# -- sweeps ---------------------------------------------------------------------------------
@pytest.mark.ray
@pytest.mark.slow
def test_sweep_equals_http_and_pages(alice, http):
    grid = {"fast": [3, 5, 8], "slow": [20, 40]}
    req = bt.SweepRequest(strategy="trend_following", top_k=3, rank_by="sharpe", wait=True,
                          grid={k: cm.ScalarList(values=[cm.Scalar(integer=v) for v in vs]) for k, vs in grid.items()})
    reply = alice.call(alice.backtests.SubmitSweep, req, timeout=120)
    assert reply.job.state == "succeeded" and reply.result.n_combinations == 6
    want = http_ok(lambda: http.post("/v1/sweeps", params={"wait": "true"}, json={
        "strategy": "trend_following", "grid": grid, "top_k": 3, "rank_by": "sharpe"}))
    for rows, ref in ((reply.result.top, want["result"]["top"]), (reply.result.combinations,
                                                                  want["result"]["combinations"])):
        assert [r.combo_id for r in rows] == [r["combo_id"] for r in ref]
        for row, r in zip(rows, ref):
            params = {k: scalar_value(v) for k, v in row.params.items()}
            assert params == {k: v for k, v in r.items() if k not in metrics_of(row.metrics) and k != "combo_id"}
            assert (params["fast"], params["slow"]) in {(f, s) for f in grid["fast"] for s in grid["slow"]}
            assert all(same(v, r[k]) for k, v in metrics_of(row.metrics).items() if k in r)
    ref = cm.JobRef(job_id=reply.job.job_id)
    assert alice.call(alice.backtests.GetSweepStatus, ref, timeout=60).state == "succeeded"
    page = alice.call(alice.backtests.GetSweepResult, bt.SweepResultRequest(job_id=ref.job_id, offset=2, limit=3),
                      timeout=60)
    assert [r.combo_id for r in page.combinations] == [r.combo_id for r in reply.result.combinations[2:5]]
    assert page.truncated and page.offset == 2 and page.limit == 3
    exc, info = rpc_error(alice.call, alice.backtests.CancelSweep, ref, timeout=60)
    assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION
    big = bt.SweepRequest(strategy="trend_following", grid={"fast": cm.ScalarList(values=[
        cm.Scalar(integer=v) for v in range(2, 12)]), "slow": cm.ScalarList(values=[
            cm.Scalar(integer=v) for v in range(30, 40)])})  # 100 > MAX_COMBOS
    exc, info = rpc_error(alice.call, alice.backtests.SubmitSweep, big, timeout=60)
    assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and info.field == "grid"
    exc, info = rpc_error(alice.call, alice.backtests.SubmitSweep, bt.SweepRequest(
        strategy="trend_following", grid=req.grid, rank_by="luck"), timeout=60)
    assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT and info.field == "rank_by"


# -- realtime -------------------------------------------------------------------------------
@pytest.mark.ray
@pytest.mark.slow
def test_compute_features_equals_http_on_the_live_app(alice, http):
    req = rt.FeaturesRequest(dataset="synthetic", symbols=["S0000", "S0002"], window=4, indicators=[
        cm.Indicator(name="rsi", params={"timeperiod": 14}), cm.Indicator(name="macd")])
    reply = grpc_ok(lambda: alice.call(alice.realtime.ComputeFeatures, req, timeout=60))
    want = http_ok(lambda: http.post("/live/v1/features", json={
        "dataset": "synthetic", "symbols": ["S0000", "S0002"], "window": 4,
        "indicators": [{"name": "rsi", "params": {"timeperiod": 14}}, {"name": "macd"}]}))
    assert list(reply.symbols) == want["symbols"] and list(reply.timestamps) == want["timestamps"]
    assert set(reply.features) == set(want["features"]) and reply.priority == "REALTIME"
    for label, m in reply.features.items():
        assert (m.rows, m.cols) == (4, 2)
        flat = [v for row in want["features"][label] for v in row]
        assert all(same(a, b) for a, b in zip(m.values, flat, strict=True)), label
    # Inline bars (computed in the replica) and the errors.
    ts = [f"2030-01-{d:02d}T00:00:00" for d in range(1, 21)]
    close = [100.0 + i for i in range(20)]
    bars = rt.Bars(timestamp=ts, symbol=["X"] * 20, open=close, high=[c + 1 for c in close],
                   low=[c - 1 for c in close], close=close, volume=[1e6] * 20)
    inline = alice.call(alice.realtime.ComputeFeatures, rt.FeaturesRequest(
        bars=bars, window=1, indicators=[cm.Indicator(name="sma", params={"timeperiod": 5})]), timeout=60)
    assert inline.source == "inline" and list(inline.features) == ["sma_5"], inline
    assert list(inline.features["sma_5"].values) == [sum(close[-5:]) / 5]
    exc, info = rpc_error(alice.call, alice.realtime.ComputeFeatures, rt.FeaturesRequest(
        dataset="synthetic", indicators=[cm.Indicator(name="no_such_indicator")]), timeout=60)
    assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT and info.field.startswith("indicators")
    exc, info = rpc_error(alice.call, alice.realtime.ComputeFeatures, rt.FeaturesRequest(
        dataset="missing", indicators=[cm.Indicator(name="rsi")]), timeout=60)
    assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT and info.field == "dataset"
    # A research call sent to the live application is not served there.
    exc, _ = rpc_error(alice.backtests.ListJobs, bt.ListJobsRequest(), metadata=alice.metadata(live=True), timeout=60)
    assert exc.code() == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.ray
@pytest.mark.slow
def test_no_worker_is_unavailable(service):
    with GrpcClient(service.grpc_target, application="empty", live_application="empty") as empty:
        assert empty.health() == "NOT_SERVING"
        exc, info = rpc_error(empty.call, empty.realtime.ComputeFeatures, rt.FeaturesRequest(
            dataset="synthetic", indicators=[cm.Indicator(name="rsi")]), timeout=60)
        assert exc.code() == grpc.StatusCode.UNAVAILABLE and info.reason == "no_capacity"
        assert info.retry_after_s is not None and info.retry_after_s >= 1


def tick_batches(t0: float) -> list[dict]:
    return [{"symbol": ["S0000", "S0001"], "time": [t0, t0], "high": [101.0, 51.0], "low": [99.0, 49.0],
             "close": [100.5, 50.2], "volume": [1e6, 2e6]},
            {"symbol": ["S0000"], "time": [t0 + 60], "high": [102.0], "low": [100.0], "close": [101.7],
             "volume": [1.5e6]}]


@pytest.mark.ray
@pytest.mark.slow
def test_market_data_streams_equal_http_ticks(alice, http):
    t0 = 4.0e9  # seconds since the epoch: after the synthetic history
    opening = rt.StreamOpen(dataset="synthetic", symbols=["S0000", "S0001"], outputs=["rsi", "ema"])
    batches = tick_batches(t0)

    def messages():
        yield rt.MarketDataIn(open=opening)
        for b in batches:
            yield rt.MarketDataIn(ticks=rt.TickBatch(**b))

    bidi = grpc_ok(lambda: list(alice.call(alice.realtime.StreamMarketData, messages(), timeout=60)))
    replay = grpc_ok(lambda: list(alice.call(alice.realtime.ReplayMarketData, rt.MarketDataReplay(
        open=opening, batches=[rt.TickBatch(**b) for b in batches]), timeout=60)))
    opened = http_ok(lambda: http.post("/live/v1/streams", json={"dataset": "synthetic", "symbols": ["S0000", "S0001"],
                                                                 "outputs": ["rsi", "ema"]}))
    want = [http_ok(lambda b=b: http.post("/live/v1/ticks", json={"stream_id": opened["stream_id"], "ticks": b}))
            for b in batches]
    for out in (bidi, replay):
        assert out[0].WhichOneof("message") == "opened" and list(out[0].opened.symbols) == ["S0000", "S0001"]
        assert [o.WhichOneof("message") for o in out[1:]] == ["features", "features"]
        for got, ref in zip(out[1:], want, strict=True):
            assert got.features.rows == ref["rows"] and set(got.features.features) == set(ref["features"])
            for name, m in got.features.features.items():
                assert all(same(a, b) for a, b in zip(m.values, ref["features"][name], strict=True)), name
    # An out-of-order tick ends the stream with INVALID_ARGUMENT naming the ticks.
    late = rt.MarketDataReplay(open=opening, batches=[rt.TickBatch(**batches[0]), rt.TickBatch(**batches[0])])
    stream = alice.call(alice.realtime.ReplayMarketData, late, timeout=60)
    with pytest.raises(grpc.RpcError) as failed:
        list(stream)
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT and failed.value.details().startswith("ticks:")


# -- models -----------------------------------------------------------------------------------
@pytest.mark.ray
@pytest.mark.slow
def test_models_train_metrics_predict_equal_http(alice, http):
    from kernels.data import synthetic_panel  # noqa: PLC0415
    from kernels.ml import prediction_rows  # noqa: PLC0415

    req = ml.TrainRequest(name="ridge_grpc", model="Ridge", params={"alpha": cm.Scalar(number=1.0)}, horizon=5,
                          features=[cm.Indicator(name="rsi", params={"timeperiod": 14}), cm.Indicator(name="roc")],
                          wait=True)
    trained = alice.call(alice.models.TrainModel, req, timeout=120)
    assert trained.job.state == "succeeded" and trained.record.id == "ridge_grpc@1"
    rec = alice.call(alice.models.GetModelMetrics, ml.ModelRef(model_id="ridge_grpc"), timeout=60)
    assert rec.version == 1 and set(rec.metrics) >= {"r2", "mse"}
    assert dict(rec.metrics) == http.get("/v1/models/ridge_grpc").json()["metrics"]
    status = alice.call(alice.models.GetTrainingStatus, cm.JobRef(job_id=trained.job.job_id), timeout=60)
    assert status.job.state == "succeeded" and status.record.sha256 == rec.sha256
    assert "ridge_grpc" in {m.name for m in alice.call(alice.models.ListModels, ml.ListModelsRequest(),
                                                        timeout=60).models}
    rows = prediction_rows(synthetic_panel(ASSETS, BARS, seed=0), FEATURES, bars=range(100, 110)).X
    reply = alice.call(alice.models.Predict, ml.PredictRequest(model_id="ridge_grpc@1", rows=cm.Matrix(
        rows=rows.shape[0], cols=rows.shape[1], values=rows.ravel().tolist())), timeout=60)
    want = http_ok(lambda: http.post("/live/v1/models/ridge_grpc@1/predict", json={"rows": rows.tolist()}))
    assert list(reply.predictions) == want["predictions"] and reply.n_rows == len(rows) and reply.version == 1
    by_dataset = alice.call(alice.models.Predict, ml.PredictRequest(model_id="ridge_grpc", dataset="synthetic",
                                                                     symbols=["S0001"]), timeout=60)
    assert list(by_dataset.symbols) == ["S0001"] and by_dataset.HasField("timestamp")
    exc, info = rpc_error(alice.call, alice.models.Predict, ml.PredictRequest(model_id="ridge_grpc", rows=cm.Matrix(
        rows=1, cols=rows.shape[1] + 1, values=[0.5] * (rows.shape[1] + 1))), timeout=60)
    assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT and info.field.startswith("rows"), exc.details()
    for method, ref in ((alice.models.Predict, ml.PredictRequest(model_id="no_model", rows=cm.Matrix(
            rows=1, cols=1, values=[1.0]))), (alice.models.GetModelMetrics, ml.ModelRef(model_id="no_model"))):
        exc, _ = rpc_error(alice.call, method, ref, timeout=60)
        assert exc.code() == grpc.StatusCode.NOT_FOUND
    exc, info = rpc_error(alice.call, alice.models.TrainModel, ml.TrainRequest(
        name="bad", model="NoSuchModel", features=[cm.Indicator(name="rsi")]), timeout=60)
    assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT and info.field == "model"


@pytest.mark.ray
@pytest.mark.slow
def test_operations_datasets(alice, http):
    datasets = alice.call(alice.operations.ListDatasets, ops.ListDatasetsRequest(), timeout=60).datasets
    want = http.get("/v1/datasets").json()
    assert [(d.name, d.version, d.n_assets) for d in datasets] == [(d["name"], d["version"], d["n_assets"])
                                                                   for d in want]


@pytest.mark.ray
@pytest.mark.slow
def test_a_client_closing_a_websocket_is_not_logged_as_an_error(service):
    """Quiet logs: the proxy logs a client's normal close (1000) as one INFO line, not an ERROR traceback."""
    import asyncio  # noqa: PLC0415
    import json  # noqa: PLC0415

    websockets = pytest.importorskip("websockets")
    ws_url = service.url.replace("http://", "ws://") + "/open/v1/stream"

    async def talk() -> None:
        async with websockets.connect(ws_url, compression=None) as ws:  # closed by the client (1000) on exit
            await ws.send(json.dumps({"type": "open", "dataset": "synthetic", "symbols": ["S0000"]}))
            assert json.loads(await ws.recv())["type"] == "opened"

    asyncio.run(talk())
    logs = sorted(Path(service.log_dir, "serve").glob("proxy_*.log"))
    assert logs, service.log_dir
    deadline = time.monotonic() + 20
    while "WebSocket closed by the client" not in "".join(p.read_text() for p in logs):
        assert time.monotonic() < deadline, "the proxy did not log the close"
        time.sleep(0.2)
    text = "".join(p.read_text() for p in logs)
    assert "GeneratorExit" not in text and "Request failed due to unexpected error" not in text
