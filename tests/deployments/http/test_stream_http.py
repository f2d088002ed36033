"""Streams for real: Ray Serve on a local Ray, WebSocket clients (`websockets`) and POST /v1/ticks.

One service per module (start-up dominates on 2 cores): one simulated GPU worker
and one CPU worker (the fallback tier), the small synthetic universe, a snapshot
every 4 batches and a read-ahead queue of 4 messages per connection. Expected
values are the batch indicators (`kernels.indicators`) over the dataset's history
followed by the ticks sent.
"""
from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")
httpx = pytest.importorskip("httpx")
websockets = pytest.importorskip("websockets")
msgpack = pytest.importorskip("msgpack")

from websockets.sync.client import connect  # noqa: E402

from actors.settings import DataConfig, RayConfig, Settings  # noqa: E402
from deployments.service import free_port  # noqa: E402
from tests.deployments.conftest import running_service  # noqa: E402
from gpu_hal.config import FaultConfig, GpuHalConfig, SimulationConfig  # noqa: E402
from kernels import indicators as ind  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402
from kernels.indicators.stream import OUTPUTS, StreamConfig  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]

NAMESPACE = "rayquant-stream-test"
ASSETS, BARS, NEW = 6, 240, 24
QUEUE = 4
DAY = 86_400


@pytest.fixture(scope="module")
def service(tmp_path_factory, serve_session):
    settings = Settings(
        storage_dir=tmp_path_factory.mktemp("storage"),
        data=DataConfig(synthetic_assets=ASSETS, synthetic_bars=BARS),
        ray=RayConfig(namespace=NAMESPACE),
        gpu=GpuHalConfig(simulation=SimulationConfig(mode="always", num_devices=1), faults=FaultConfig(enabled=True)),
        coordinator={"cpu_workers": 1},
        serve={"port": free_port(), "replica_num_cpus": 0},
        streams={"snapshot_every": 4, "queue_size": QUEUE},
    )
    with running_service(settings) as svc:
        yield svc


@pytest.fixture(scope="module")
def client(service):
    with httpx.Client(base_url=service.url, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def market():
    """The dataset, NEW more bars after it (epoch-second times) and the batch indicators over both."""
    hist = synthetic_panel(ASSETS, BARS, seed=0)
    more = synthetic_panel(ASSETS, NEW, seed=11)
    scale = hist.close[-1] / more.open[0]  # continue from the last close
    new = {f: getattr(more, f) * (scale if f != "volume" else 1.0) for f in ("open", "high", "low", "close", "volume")}
    last = int(hist.index[-1].astype("datetime64[s]").astype(np.int64))
    times = last + DAY * np.arange(1, NEW + 1)
    full = {f: np.vstack([getattr(hist, f), new[f]]) for f in new}
    cfg = StreamConfig()
    m, s, h = ind.macd(full["close"], cfg.macd_fast, cfg.macd_slow, cfg.macd_signal)
    want = {"ema": ind.ema(full["close"], cfg.ema_period), "rsi": ind.rsi(full["close"], cfg.rsi_period),
            "macd": m, "macdsignal": s, "macdhist": h,
            "atr": ind.atr(full["high"], full["low"], full["close"], cfg.atr_period),
            "obv": ind.obv(full["close"], full["volume"]), "sma": ind.sma(full["close"], cfg.sma_period),
            "rolling_std": ind.rolling_std(full["close"], cfg.std_period, cfg.std_nbdev),
            "roc": ind.roc(full["close"], cfg.roc_period)}
    return {"symbols": list(hist.symbols), "new": new, "times": times, "want": want}


def columns(market, k: int, cols=None) -> dict:
    cols = range(ASSETS) if cols is None else cols
    return {"symbol": [market["symbols"][j] for j in cols], "time": [int(market["times"][k])] * len(cols),
            **{f: [float(market["new"][f][k, j]) for j in cols] for f in ("open", "high", "low", "close", "volume")}}


def expect(market, features: dict, k: int, cols=None, outputs=OUTPUTS) -> None:
    cols = list(range(ASSETS)) if cols is None else list(cols)
    assert set(features) == set(outputs)
    for name in set(outputs) & set(market["want"]):
        got = np.array([np.nan if v is None else v for v in features[name]], dtype=np.float64)
        np.testing.assert_allclose(got, market["want"][name][BARS + k, cols], rtol=1e-9, equal_nan=True,
                                   err_msg=name)


def recv(ws) -> dict:
    return json.loads(ws.recv(timeout=120))


def open_ws(service, **spec):
    ws = connect(service.url.replace("http://", "ws://") + "/v1/stream", open_timeout=60)
    ws.send(json.dumps({"type": "open", "dataset": "synthetic", **spec}))
    opened = recv(ws)
    assert opened["type"] == "opened", opened
    return ws, opened


# ------------------------------------------------------------------ WebSocket
def test_ws_json_rows_and_binary_batches_match_the_batch_indicators(service, market):
    ws, opened = open_ws(service)
    assert opened["symbols"] == market["symbols"] and opened["dataset_version"] and opened["time_unit"] == "s"
    ws.send(json.dumps({**columns(market, 0), "seq": 1}))
    msg = recv(ws)
    assert msg["type"] == "features" and msg["seq"] == 1 and msg["rows"] == ASSETS, msg
    expect(market, msg["features"], 0)
    # a list of row objects
    cols = columns(market, 1)
    rows = [{c: cols[c][i] for c in cols} for i in range(ASSETS)]
    ws.send(json.dumps(rows))
    expect(market, recv(ws)["features"], 1)
    # binary: msgpack with raw float64 / int64 columns
    cols = columns(market, 2)
    frame = {"symbol": cols["symbol"], "time": np.asarray(cols["time"], dtype="<i8").tobytes(),
             **{f: np.asarray(cols[f], dtype="<f8").tobytes() for f in ("open", "high", "low", "close", "volume")},
             "seq": 3}
    ws.send(msgpack.packb(frame))
    reply = msgpack.unpackb(ws.recv(timeout=120))
    assert reply["type"] == "features" and reply["seq"] == 3
    expect(market, {k: np.frombuffer(v, "<f8") for k, v in reply["features"].items()}, 2)
    ws.send(json.dumps({"type": "close"}))
    assert recv(ws)["type"] == "closed"
    ws.close()


def test_ws_errors_keep_the_socket_and_other_streams(service, market):
    a, _ = open_ws(service)
    b, _ = open_ws(service, symbols=market["symbols"][:2], outputs=["rsi", "ema"])
    a.send(json.dumps(columns(market, 0)))
    expect(market, recv(a)["features"], 0)
    bad = columns(market, 1)
    cases = []
    stale = columns(market, 0)  # the same time as the last tick: a duplicate (issue 12), not out of order
    cases.append((stale, "duplicate_tick", "row 0"))
    dup = {k: v + v[:1] for k, v in bad.items()}
    cases.append((dup, "duplicate_tick", "rows 0 and 6"))
    unk = {**bad, "symbol": bad["symbol"][:-1] + ["NOPE"]}
    cases.append((unk, "unknown_symbol", "NOPE"))
    nan_close = {**bad, "close": bad["close"][:2] + [None] + bad["close"][3:]}
    cases.append((nan_close, "invalid_ticks", "close"))
    for body, code, needle in cases:
        a.send(json.dumps({**body, "seq": code}))
        err = recv(a)
        assert err["type"] == "error" and err["seq"] == code and err["error"]["code"] == code, err
        assert needle in err["error"]["message"], err
    a.send("{not json")
    assert recv(a)["error"]["code"] == "malformed_message"
    a.send(json.dumps({"symbol": ["x"]}))
    assert recv(a)["error"]["code"] == "invalid_ticks"
    # nothing above changed the stream: the next batch is right, and b never noticed
    a.send(json.dumps(bad))
    expect(market, recv(a)["features"], 1)
    b.send(json.dumps(columns(market, 0, cols=[0, 1])))
    expect(market, recv(b)["features"], 0, cols=[0, 1], outputs=("rsi", "ema"))
    a.close()
    b.close()


def test_ws_open_errors_and_ticks_before_open(service):
    ws = connect(service.url.replace("http://", "ws://") + "/v1/stream", open_timeout=60)
    ws.send(json.dumps({"symbol": ["S0000"], "time": [1], "high": [1], "low": [1], "close": [1], "volume": [1]}))
    assert recv(ws)["error"]["code"] == "not_open"
    ws.send(json.dumps({"type": "open", "dataset": "nope"}))
    err = recv(ws)["error"]
    assert err["code"] in ("unknown_dataset", "validation_error") and "nope" in err["message"], err
    ws.send(json.dumps({"type": "open", "symbols": ["S0000", "ZZZ"]}))
    assert "ZZZ" in recv(ws)["error"]["message"]
    ws.send(json.dumps({"type": "open", "indicators": {"ema_period": 0}}))
    assert recv(ws)["error"]["field"] == "indicators"
    ws.send(json.dumps({"type": "open", "symbols": ["S0000"]}))
    assert recv(ws)["type"] == "opened"  # the same socket, once the open message is right
    ws.close()


def test_backpressure_bounds_what_the_server_reads_ahead(service, market):
    ws, _ = open_ws(service)
    n = 40
    for k in range(n):  # a client that sends without reading
        ws.send(json.dumps({**columns(market, k % NEW), "seq": k}))
    ws.send(json.dumps({"type": "status"}))
    msgs = [recv(ws) for _ in range(n + 1)]
    assert [m["seq"] for m in msgs[:n]] == list(range(n))  # in order, every message answered
    status = msgs[-1]
    assert status["type"] == "status" and 1 <= status["max_queued"] <= QUEUE, status
    ws.close()


def test_hundred_concurrent_streams(service, market):
    from websockets.asyncio.client import connect as aconnect  # noqa: PLC0415

    url = service.url.replace("http://", "ws://") + "/v1/stream"

    async def one(i: int) -> int:
        async with aconnect(url, open_timeout=120) as ws:
            await ws.send(json.dumps({"type": "open", "dataset": "synthetic"}))
            assert json.loads(await ws.recv())["type"] == "opened"
            for k in range(3):
                await ws.send(json.dumps(columns(market, k)))
                msg = json.loads(await ws.recv())
                assert msg["type"] == "features", msg
                expect(market, msg["features"], k)
            return 1

    async def main() -> int:
        return sum(await asyncio.gather(*(one(i) for i in range(100))))

    assert asyncio.run(main()) == 100


# ------------------------------------------------------------------ HTTP
def test_http_streams_and_ticks(client, market):
    resp = client.post("/v1/streams", json={"dataset": "synthetic", "symbols": market["symbols"][:3],
                                            "stream_id": "http-1"})
    assert resp.status_code == 201, resp.text
    st = resp.json()
    assert st["stream_id"] == "http-1" and st["symbols"] == market["symbols"][:3]
    resp = client.post("/v1/ticks", json={"stream_id": "http-1", "ticks": columns(market, 0, cols=[0, 1, 2])})
    assert resp.status_code == 200, resp.text
    expect(market, resp.json()["features"], 0, cols=[0, 1, 2])
    # rows, one symbol twice (two days): applied in time order
    c1, c2 = columns(market, 2, cols=[1]), columns(market, 1, cols=[1])
    rows = [{k: c1[k][0] for k in c1}, {k: c2[k][0] for k in c2}]
    body = client.post("/v1/ticks", json={"stream_id": "http-1", "ticks": rows}).json()
    assert body["features"]["rsi"][1] == pytest.approx(market["want"]["rsi"][BARS + 1, 1], rel=1e-9)
    assert body["features"]["rsi"][0] == pytest.approx(market["want"]["rsi"][BARS + 2, 1], rel=1e-9)
    err = client.post("/v1/ticks", json={"stream_id": "http-1", "ticks": columns(market, 0, cols=[0])})
    # symbol 0's last tick is bar 0: the same time again is a duplicate (issue 12), not out of order
    assert err.status_code == 422 and err.json()["error"]["code"] == "duplicate_tick", err.text
    err = client.post("/v1/ticks", json={"stream_id": "http-1", "ticks": columns(market, 3, cols=[4])})
    assert err.status_code == 422 and err.json()["error"]["code"] == "unknown_symbol"
    got = client.get("/v1/streams/http-1").json()
    assert got["batches"] == 2 and got["ticks"] == 5
    assert client.delete("/v1/streams/http-1").json()["closed"]
    err = client.get("/v1/streams/http-1")
    assert err.status_code == 404 and err.json()["error"]["code"] == "not_found"
    err = client.post("/v1/ticks", json={"stream_id": "http-1", "ticks": columns(market, 3)})
    assert err.status_code == 404
    # open on first use
    resp = client.post("/v1/ticks", json={"stream_id": "http-2", "open": {"dataset": "synthetic"},
                                          "ticks": columns(market, 0)})
    assert resp.status_code == 200 and resp.json()["opened"], resp.text
    expect(market, resp.json()["features"], 0)
    resp = client.post("/v1/ticks", json={"stream_id": "http-2", "open": {"dataset": "synthetic"},
                                          "ticks": columns(market, 1)})
    assert not resp.json()["opened"]
    for body, field in (({"ticks": columns(market, 0)}, None),
                        ({"stream_id": "bad id!", "ticks": columns(market, 0)}, "stream_id"),
                        ({"stream_id": "http-2", "ticks": {"symbol": ["S0000"]}}, None)):
        err = client.post("/v1/ticks", json=body)
        assert err.status_code == 422 and set(err.json()) == {"error"}, err.text
    err = client.post("/v1/streams", json={"dataset": "synthetic", "outputs": ["nope"]})
    assert err.status_code == 422 and "outputs" in err.json()["error"]["message"]
    client.delete("/v1/streams/http-2")


# ------------------------------------------------------------------ priority
def test_stream_batches_do_not_wait_for_a_running_research_chunk(service, market):
    """Stream work is REALTIME in the live group: a research chunk slowed to 3 s per kernel on the
    same worker does not hold it back."""
    coord = service.coordinator
    ws, opened = open_ws(service, symbols=market["symbols"][:2])
    worker = opened["worker_id"]
    ray.get(coord.inject_fault.remote(worker, "slow_down", seconds=3.0, tenant="research"))
    bt = {"dataset": "synthetic", "strategy": "trend_following", "params": {"fast": 5, "slow": 20}}
    job = ray.get(coord.submit.remote("backtest", bt, "LOW", "research"))
    try:
        deadline = time.time() + 60
        while ray.get(coord.status.remote(job))["state"] != "running" and time.time() < deadline:
            time.sleep(0.1)
        status = ray.get(coord.status.remote(job))
        assert status["state"] == "running" and status["device"] == "simgpu:0" == worker.replace("-", ":"), status
        times = []
        for k in range(5):
            t0 = time.perf_counter()
            ws.send(json.dumps(columns(market, k, cols=[0, 1])))
            msg = recv(ws)
            times.append(time.perf_counter() - t0)
            expect(market, msg["features"], k, cols=[0, 1])
        assert ray.get(coord.status.remote(job))["state"] == "running"  # the chunk was still in flight
        assert max(times) < 1.5, times
    finally:
        ray.get(coord.inject_fault.remote(worker, "clear"))
        ray.get(coord.cancel.remote(job))
        ws.close()


# ------------------------------------------------------------------ fault tolerance
def test_worker_killed_mid_stream_resumes_without_drift(service, market):
    ws, opened = open_ws(service)
    assert opened["worker_id"] == "simgpu-0", opened
    handle = ray.get(service.coordinator.worker_handle.remote(opened["worker_id"]))
    msgs = []
    for k in range(NEW):
        if k == 6:  # two batches after the snapshot taken with batch 4
            ray.kill(handle, no_restart=False)
            time.sleep(0.2)
        ws.send(json.dumps({**columns(market, k), "seq": k}))
        msg = recv(ws)
        assert msg["type"] == "features", msg
        msgs.append(msg)
        expect(market, msg["features"], k)  # the same numbers as an uninterrupted stream
    assert msgs[6]["recovered"] and not any(m["recovered"] for m in msgs[:6])
    ws.send(json.dumps({"type": "status"}))
    status = recv(ws)
    assert status["recoveries"] >= 1 and status["batches"] == NEW, status
    ws.close()
