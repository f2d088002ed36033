"""Errors as clients see them, without Ray (issue 12): failed jobs' errors reduced to one
line with a code, malformed bodies as 422 naming the problem, the body timeout, the
gRPC status of each HTTP status, and the OpenAPI's declared codes."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from actors.settings import ServeConfig
from deployments.http.errors import ApiError, domain_error, grpc_status, public_job_error
from deployments.http.routes import Service, create_api
from deployments.http.schemas import JobPublic

RAY_TASK_ERROR = (
    "RayTaskError(ValueError): \x1b[36mray::WorkerActor.execute()\x1b[39m (pid=12345, ip=10.1.2.3, "
    "actor_id=8f3a2b1c4d5e6f708192a3b4c5d6e7f801000000, repr=<actors.workers.worker_actor.WorkerActor object at "
    "0x7f0a>)\n  File \"/home/svc/.venv/lib/python3.11/site-packages/ray/_private/worker.py\", line 12, in execute\n"
    "    raise ValueError(msg)\n  File \"/work/main/kernels/backtest/grid.py\", line 120, in expand\n"
    "ValueError: parameter 'slow' = 5000 is longer than the data (400 bars)"
)


@pytest.mark.parametrize("stored,code,message", [
    (RAY_TASK_ERROR, "invalid_job", "ValueError: parameter 'slow' = 5000 is longer than the data (400 bars)"),
    ("no capacity left after faults: 3 attempts failed; last: RayTaskError(CudaError): ray::W.execute() "
     "(pid=1, ip=192.168.0.7)\n  File \"/srv/a/b.py\", line 1\nCudaError: device lost at /dev/nvidia0",
     "no_capacity", "no capacity left after faults: 3 attempts failed; last: CudaError: device lost at <path>"),
    ("could not recover after restart: unknown dataset 'x'", "recovery_failed",
     "could not recover after restart: unknown dataset 'x'"),
    ("RuntimeError: boom", "job_error", "RuntimeError: boom"),
    (None, None, None),
])
def test_failed_jobs_show_one_clean_line(stored, code, message):
    assert public_job_error(stored) == (code, message)
    if stored:
        job = JobPublic(job_id="0" * 32, kind="backtest", priority="LOW", tenant="a", state="failed",
                        submitted_at=0.0, progress={"chunks_done": 0, "chunks_total": 1, "fraction": 0.0},
                        error=stored)
        assert job.error == message and job.error_code == code
        for leak in ("\x1b", "pid=", "10.1.2.3", "192.168", "actor_id", "/work/main", "Traceback", "File "):
            assert leak not in job.model_dump_json()


def test_long_errors_are_cut():
    code, message = public_job_error("ValueError: " + "x" * 5000)
    assert code == "invalid_job" and len(message) == 300 and message.endswith("...")


def test_domain_errors_and_grpc_codes():
    from actors.datasets import DatasetNameTaken
    from actors.jobs.plans import JobSpecError

    err = domain_error(JobSpecError("horizon 10000 is not shorter than the data (300 bars)"))
    assert (err.status, err.field, err.grpc_status) == (422, "horizon", "INVALID_ARGUMENT")
    err = domain_error(KeyError("unknown symbols: ['TSLA']"))
    assert err.message == "unknown symbols: ['TSLA']" and err.field == "symbols"  # not quoted twice
    err = domain_error(DatasetNameTaken("dataset 'synthetic' is built in"))
    assert (err.status, err.code, err.field, err.grpc_status) == (409, "name_taken", "name", "FAILED_PRECONDITION")
    assert [grpc_status(s) for s in (401, 403, 404, 413, 429, 503, 599)] == [
        "UNAUTHENTICATED", "PERMISSION_DENIED", "NOT_FOUND", "RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED",
        "UNAVAILABLE", "INTERNAL"]


@pytest.fixture(scope="module")
def app():
    return create_api(Service(coordinator=None, config=ServeConfig(body_timeout_s=0.5)))


@pytest.fixture(scope="module")
def client(app):
    from fastapi.testclient import TestClient

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("raw,message", [
    (b'{"strategy": "trend_following",\n "params": {12', "Expecting property name enclosed in double quotes at "
                                                          "line 2 column 13"),
    (b'{"strategy": "\xff"}', "not valid UTF-8: byte 0xff at position 14"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
])
def test_malformed_bodies_are_422_on_body(client, raw, message):
    resp = client.post("/v1/backtests", content=raw, headers={"Content-Type": "application/json"})
    assert resp.status_code == 422, resp.text
    err = resp.json()["error"]
    assert err["field"] == "body" and err["code"] == "malformed_json" and message in err["message"]


@pytest.mark.parametrize("body,field", [
    ({"strategy": "trend_following", "fees": True}, "fees"),
    ({"strategy": "trend_following", "top_k": 3, "grid": {"fast": [5]}, "bars_per_year": True}, "bars_per_year"),
    ({"strategy": "trend_following", "dataset": "trail\n"}, "dataset"),
])
def test_strict_fields(client, body, field):
    path = "/v1/sweeps" if "grid" in body else "/v1/backtests"
    resp = client.post(path, json=body)
    assert resp.status_code == 422 and resp.json()["error"]["field"] == field, resp.text


def test_openapi_declares_the_codes(app):
    paths = app.openapi()["paths"]
    for path in ("/v1/backtests", "/v1/sweeps", "/v1/models"):
        assert {"200", "202", "400", "408", "413", "422", "429", "503"} <= set(paths[path]["post"]["responses"]), path
    assert "403" in paths["/v1/jobs"]["get"]["responses"]


def test_an_incomplete_body_gets_408_and_the_connection_closes(app):
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            s.sendall(b"POST /v1/backtests HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 1000\r\n\r\n{\"strategy\": ")
            started, data = time.monotonic(), b""
            while chunk := s.recv(4096):
                data += chunk
            elapsed = time.monotonic() - started
        assert data.startswith(b"HTTP/1.1 408") and b"body_timeout" in data, data[:300]
        assert elapsed < 5  # closed, not held open (before: still open after 180 s)
    finally:
        server.should_exit = True
        thread.join(10)
