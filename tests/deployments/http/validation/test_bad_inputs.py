"""The hand-made bad-input corpus of issue 12, against a real service (Ray Serve on a local
Ray, API keys on): every case is a 4xx whose message names the problem (and the field),
never an accepted job that fails, a 5xx or a traceback. Each case failed on the code
before issue 12 (the comment says what it did then). Tenant isolation of datasets,
models, caches, streams and devices is checked here too.
"""
from __future__ import annotations

import io
import json
import socket
import time
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pytest

ray = pytest.importorskip("ray")
httpx = pytest.importorskip("httpx")
websockets = pytest.importorskip("websockets")

from websockets.sync.client import connect  # noqa: E402

from actors.settings import DataConfig, RayConfig, Settings  # noqa: E402
from deployments.service import free_port  # noqa: E402
from gpu_hal.config import GpuHalConfig, SimulationConfig  # noqa: E402
from tests.deployments.conftest import running_service  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ASSETS, BARS = 6, 300
KEYS = {"alice-key-0001": "alice", "bob-key-00002": "bob", "ops-key-000003": "ops"}
BODY_TIMEOUT_S = 1.0
MA = {"strategy": "trend_following", "params": {"fast": 5, "slow": 20}}
HEADER = "timestamp,symbol,open,high,low,close,volume\n"


@pytest.fixture(scope="module")
def service(tmp_path_factory, serve_session):
    settings = Settings(
        storage_dir=tmp_path_factory.mktemp("storage"),
        data=DataConfig(synthetic_assets=ASSETS, synthetic_bars=BARS),
        ray=RayConfig(namespace="rayquant-bad-inputs"),
        gpu=GpuHalConfig(simulation=SimulationConfig(mode="always", num_devices=1)),
        coordinator={"cpu_workers": 0},
        serve={"port": free_port(), "replica_num_cpus": 0, "api_keys": KEYS, "admin_tenants": "ops",
               "body_timeout_s": BODY_TIMEOUT_S, "wait_timeout_s": 120, "live_app": False},
    )
    with running_service(settings) as svc:
        yield svc


def client(service, key: str) -> httpx.Client:
    return httpx.Client(base_url=service.url, headers={"X-API-Key": key}, timeout=120)


@pytest.fixture(scope="module")
def alice(service):
    with client(service, "alice-key-0001") as c:
        yield c


@pytest.fixture(scope="module")
def bob(service):
    with client(service, "bob-key-00002") as c:
        yield c


def refused(resp, status: int, *needles: str, field: str | None = None) -> dict:
    """A 4xx JSON error whose message names the problem; no traceback, no quoting twice."""
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    for needle in needles:
        assert needle in err["message"], (needle, err)
    if field is not None:
        assert err.get("field") == field, err
    text = json.dumps(err)
    assert "Traceback" not in text and "\x1b" not in text and not err["message"].startswith('"'), err
    return err


def csv_of(rows: list[str]) -> bytes:
    return (HEADER + "".join(r + "\n" for r in rows)).encode()


GOOD_ROWS = [f"2020-01-{d:02d},X,1,2,1,1.5,10" for d in range(1, 29)]


# ------------------------------------------------------------------ validation before acceptance
@pytest.mark.parametrize("body,needles,field", [
    # before: 200 with state failed and a RayTaskError traceback (ANSI codes) in `error`
    ({**MA, "params": {"fast": 10, "slow": 5000}}, ["'slow' = 5000", "longer than the data (300 bars)"], "params.slow"),
    # before: accepted, then failed
    ({"strategy": "mean_reversion", "params": {"window": 2**63}}, ["'window' = 9223372036854775808", "longer than"],
     "params.window"),
    # before: "\"unknown symbols: ['TSLA']\"" (quoted twice)
    ({**MA, "symbols": ["TSLA"]}, ["unknown symbols: ['TSLA']"], "symbols"),
])
def test_backtests_refused_before_acceptance(alice, body, needles, field):
    before = len(alice.get("/v1/jobs").json())
    refused(alice.post("/v1/backtests?wait=true", json=body), 422, *needles, field=field)
    assert len(alice.get("/v1/jobs").json()) == before  # no job exists


def test_every_grid_value_is_checked_and_invalid_combinations_are_dropped(alice):
    # before: accepted; then failed (values were checked for the first combination only)
    refused(alice.post("/v1/sweeps", json={"strategy": "trend_following",
                                           "grid": {"fast": [5, -3, "abc", 10**12], "slow": [40]}}),
            422, "parameter 'fast'", field="grid.fast")
    # before: the job failed with "chunk combos range(0, 20) is outside 0..17" (planned on the raw product)
    resp = alice.post("/v1/sweeps?wait=true", json={"strategy": "trend_following", "top_k": 3,
                                                    "grid": {"fast": list(range(5, 51, 5)), "slow": [40, 60]}})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["state"] == "succeeded" and body["result"]["n_dropped"] == 3
    assert body["result"]["n_combinations"] == 17


@pytest.mark.parametrize("change,needles,field", [
    ({"horizon": 10_000}, ["horizon 10000", "300 bars"], "horizon"),  # before: accepted, then failed
    ({"test_fraction": 0.999999}, ["test_fraction 0.999999"], "test_fraction"),  # before: accepted, then failed
    ({"name": "m1\n"}, ["name"], "name"),  # before: field null (and the newline passed the pattern)
])
def test_training_refused_before_acceptance(alice, change, needles, field):
    body = {"name": "m1", "model": "Ridge", "features": [{"name": "rsi"}], "horizon": 5, **change}
    refused(alice.post("/v1/models?wait=true", json=body), 422, *needles, field=field)


# ------------------------------------------------------------------ bodies
@pytest.mark.parametrize("raw,needles", [
    (b'{"strategy": "trend_following",\n "params": {12', ["not valid JSON", "line 2 column"]),  # was field "12"
    (b'{"strategy": "\xff\xfe"}', ["not valid UTF-8", "0xff"]),  # was 400 "There was an error parsing the body"
    (b"[" * 100_000 + b"]" * 100_000, ["nested too deeply"]),  # was 400
])
def test_malformed_bodies(alice, raw, needles):
    refused(alice.post("/v1/backtests", content=raw, headers={"Content-Type": "application/json"}), 422, *needles,
            field="body")


def test_strict_types_on_live_requests(alice):
    # before: "window": true was taken as 1
    refused(alice.post("/v1/features", json={"dataset": "synthetic", "indicators": [{"name": "rsi"}],
                                             "window": True}), 422, "valid integer", field="window")


def test_incomplete_body_is_not_held_open(service):
    """A Content-Length larger than the body: 408 after body_timeout_s (before: still open after 180 s)."""
    url = urlparse(service.url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as s:
        s.sendall(b"POST /v1/backtests HTTP/1.1\r\nHost: x\r\nX-API-Key: alice-key-0001\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"strategy\": \"tr")
        started, data = time.monotonic(), b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        elapsed = time.monotonic() - started
    assert data.startswith(b"HTTP/1.1 408"), data[:200]
    assert b"body_timeout" in data and elapsed < BODY_TIMEOUT_S + 10


# ------------------------------------------------------------------ uploads
@pytest.mark.parametrize("rows,name,needles,field", [
    (GOOD_ROWS, "trail\n", ["name"], "name"),  # before: 201 and a directory named "trail\n"
    (GOOD_ROWS[:5] + ["2020-01-06,X,1,0.5,1,1.5,10"], "inverted", ["'high' is below column 'low'", "row 5"], "file"),
    (GOOD_ROWS[:5] + ["9999-12-31,X,1,2,1,1.5,10"], "future", ["'timestamp' is out of range", "row 5"], "file"),
])
def test_bad_uploads(alice, rows, name, needles, field):
    # before: 201 for all three (the 9999-12-31 row was stored as 1816-03-29)
    refused(alice.post("/v1/datasets", data={"name": name}, files={"file": ("d.csv", csv_of(rows))}), 422, *needles,
            field=field)


def test_upload_that_would_pivot_to_a_huge_panel(alice):
    # before: 201 and +2 GB in the coordinator (a 4000 x 4000 panel from 4,000 rows)
    rows = [f"2020-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d},S{i},1,2,1,1.5,10" for i in range(4000)]
    refused(alice.post("/v1/datasets", data={"name": "wide"}, files={"file": ("d.csv", csv_of(rows))}), 413,
            "16000000 panel cells", "max_upload_cells", field="file")


# ------------------------------------------------------------------ tenants
def test_datasets_are_per_tenant_and_never_taken_over(service, alice, bob):
    with client(service, "ops-key-000003") as ops:
        synthetic = ops.get("/v1/datasets").json()
        assert [d["name"] for d in synthetic] == ["synthetic"]
        # before: bob's upload of "synthetic" replaced the built-in universe for everyone
        refused(bob.post("/v1/datasets", data={"name": "synthetic"}, files={"file": ("d.csv", csv_of(GOOD_ROWS))}),
                409, "synthetic", field="name")
        mine = alice.post("/v1/datasets", data={"name": "alicedata"}, files={"file": ("d.csv", csv_of(GOOD_ROWS))})
        assert mine.status_code == 201 and mine.json()["shared"] is False, mine.text
        # before: bob listed, read and replaced alice's dataset
        assert "alicedata" not in [d["name"] for d in bob.get("/v1/datasets").json()]
        refused(bob.post("/v1/backtests", json={**MA, "dataset": "alicedata"}), 422, "unknown dataset 'alicedata'",
                field="dataset")
        other = [r.replace(",1.5,", ",1.7,") for r in GOOD_ROWS]
        theirs = bob.post("/v1/datasets", data={"name": "alicedata"}, files={"file": ("d.csv", csv_of(other))})
        assert theirs.status_code == 201 and theirs.json()["version"] != mine.json()["version"]
        listed = {d["name"]: d["version"] for d in alice.get("/v1/datasets").json()}
        assert listed["alicedata"] == mine.json()["version"]  # alice still reads her own
        done = alice.post("/v1/features", json={"dataset": "alicedata", "indicators": [{"name": "sma", "params": {
            "timeperiod": 2}}], "window": 1}).json()
        assert done["features"]["sma_2"] == [[1.5]] and done["dataset"] == "alicedata"
        published = ops.post("/v1/datasets", data={"name": "published"}, files={"file": ("d.csv", csv_of(GOOD_ROWS))})
        assert published.status_code == 201 and published.json()["shared"] is True
        assert "published" in [d["name"] for d in bob.get("/v1/datasets").json()]
        refused(bob.post("/v1/datasets", data={"name": "published"}, files={"file": ("d.csv", csv_of(other))}),
                409, "shared", field="name")


def test_models_and_cache_are_per_tenant(alice, bob):
    train = {"name": "alicemodel", "model": "Ridge", "features": [{"name": "rsi"}], "horizon": 5}
    first = alice.post("/v1/models?wait=true", json=train)
    assert first.status_code == 200 and first.json()["record"]["id"] == "alicemodel@1", first.text
    # before: bob read and predicted with alice's model, and his training made alice's next request use his
    refused(bob.get("/v1/models/alicemodel"), 404, "alicemodel")
    refused(bob.post("/v1/models/alicemodel/predict", json={"dataset": "synthetic"}), 404, "alicemodel")
    assert bob.get("/v1/models").json() == []
    assert bob.post("/v1/models?wait=true", json=train).json()["record"]["id"] == "alicemodel@1"  # his own
    assert alice.get("/v1/models/alicemodel").json()["version"] == 1
    pred = alice.post("/v1/models/alicemodel/predict", json={"dataset": "synthetic"})
    assert pred.status_code == 200 and pred.json()["version"] == 1, pred.text
    # before: cache_hit true on another tenant's exact spec
    a = alice.post("/v1/backtests?wait=true", json=MA).json()
    b = bob.post("/v1/backtests?wait=true", json=MA).json()
    again = alice.post("/v1/backtests?wait=true", json=MA).json()
    assert a["state"] == b["state"] == again["state"] == "succeeded"
    assert not b["cache_hit"] and again["cache_hit"]


def test_devices_show_other_tenants_to_admins_only(service, alice, bob):
    alice.post("/v1/backtests?wait=true", json={**MA, "params": {"fast": 6, "slow": 21}})
    for c, tenant in ((bob, "bob"),):
        for d in c.get("/v1/devices").json():
            assert set(d.get("tenants") or {}) <= {tenant}, d["tenants"]
            assert d["busy_job"] is None
    with client(service, "ops-key-000003") as ops:
        seen = set()
        for d in ops.get("/v1/devices").json():
            seen |= set(d.get("tenants") or {})
        assert "alice" in seen or "live" in seen


def ws(service, key: str):
    return connect(service.url.replace("http://", "ws://") + "/v1/stream", open_timeout=60,
                   additional_headers={"X-API-Key": key})


def test_streams_are_per_tenant_and_ticks_are_checked(service):
    with ws(service, "alice-key-0001") as a, ws(service, "bob-key-00002") as b:
        a.send(json.dumps({"type": "open", "dataset": "synthetic", "stream_id": "desk-1", "symbols": ["S0000"]}))
        opened = json.loads(a.recv(timeout=60))
        assert opened["type"] == "opened" and opened["stream_id"] == "desk-1", opened
        # before: "stream 'desk-1' is already open" told bob that alice's stream exists
        b.send(json.dumps({"type": "open", "dataset": "synthetic", "stream_id": "desk-1", "symbols": ["S0001"]}))
        theirs = json.loads(b.recv(timeout=60))
        assert theirs["type"] == "opened" and theirs["symbols"] == ["S0001"], theirs
        last = pd.Timestamp(opened.get("last_time") or "2030-01-01")
        t = int(pd.Timestamp("2031-01-01").timestamp())
        tick = {"symbol": ["S0000"], "time": [t], "high": [101.0], "low": [99.0], "close": [100.5], "volume": [1e6]}
        cases = [
            ({**tick, "close": [-50.0]}, "invalid_ticks", "close must be positive"),  # before: accepted
            ({**tick, "high": [90.0]}, "invalid_ticks", "below low"),
            ("[" * 100_000 + "]" * 100_000, "malformed_message", "nested too deeply"),  # before: internal_error 500
        ]
        for frame, code, needle in cases:
            a.send(frame if isinstance(frame, str) else json.dumps(frame))
            reply = json.loads(a.recv(timeout=60))
            assert reply["type"] == "error" and reply["error"]["code"] == code, reply
            assert needle in reply["error"]["message"] and reply["status"] == 422
        a.send(json.dumps(tick))
        assert json.loads(a.recv(timeout=60))["type"] == "features"
        a.send(json.dumps(tick))  # the same time again: before, reported as out_of_order
        reply = json.loads(a.recv(timeout=60))
        assert reply["error"]["code"] == "duplicate_tick", reply
        assert last is not None


def test_openapi_declares_what_can_happen(alice):
    spec = alice.get("/openapi.json").json()
    post = spec["paths"]["/v1/backtests"]["post"]["responses"]
    assert {"200", "202", "400", "401", "408", "413", "422", "429", "503"} <= set(post)  # before: no 200, 400
    assert "403" in spec["paths"]["/v1/jobs"]["get"]["responses"]
    assert "400" in spec["paths"]["/v1/datasets"]["post"]["responses"]
    assert "shared" in spec["components"]["schemas"]["DatasetPublic"]["properties"]
    assert "error_code" in spec["components"]["schemas"]["JobPublic"]["properties"]
