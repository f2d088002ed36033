"""TA-Lib functions by name through the stream endpoints: `POST /v1/streams` + `POST /v1/ticks` and
`WS /v1/stream`, real HTTP and WebSocket requests to the FastAPI routes (the stream router and real
Workers behind them; the Ray actor calls are the in-process fakes of tests/actors/streams/test_router.py,
so no Ray start-up). Values equal the batch functions' last values over the history and the ticks;
a bad name or parameter is a 422 naming the field."""
from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from actors.live.router import LiveRouter
from actors.scheduling.placement.fallback import WorkerView
from actors.settings import ServeConfig, StreamsConfig
from actors.streams.router import StreamRouter
from actors.workers.worker import Worker
from deployments.http.routes import Service, create_api
from deployments.http.stream_routes import build_stream_router
from kernels.data import synthetic_panel
from kernels.indicators import talib as ta
from kernels.indicators.talib.table import FUNCTIONS
from tests.actors.streams.test_router import FakeCoordinator, FakeWorker, Remote

N, T, SEED = 5, 200, 150
FIELD = {"real": "close", "real0": "high", "real1": "low"}


@pytest.fixture(scope="module")
def market():
    return synthetic_panel(N, T, seed=5)


@pytest.fixture(scope="module")
def client(market):
    cfg = StreamsConfig(snapshot_every=3, seed_cache=0, talib_window=64)
    workers = {"cpu-0": Remote(FakeWorker(Worker("cpu-0", "cpu", streams=cfg)))}
    coord = FakeCoordinator(market.select(stop=SEED), workers, {"cpu-0": WorkerView("cpu-0", "cpu")})
    app = create_api(Service(coordinator=None, config=ServeConfig()), live_only=True)
    app.state.streams = StreamRouter(LiveRouter(coord, ttl_s=0.0), cfg)
    app.include_router(build_stream_router(cfg))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def columns(market, t: int) -> dict:
    return {"symbol": list(market.symbols), "time": [int(market.index[t].astype("datetime64[s]").astype(np.int64))] * N,
            **{f: [float(v) for v in getattr(market, f)[t]] for f in ("open", "high", "low", "close", "volume")}}


def expect(market, features: dict, t: int, specs: list[tuple]) -> None:
    """features (JSON, null for NaN) == the batch functions over bars 0..t, row t; specs are
    (name, params, label) or (name, params, label, the field `real` reads)."""
    for name, params, label, *field in specs:
        fd = FUNCTIONS[name]
        fields = {**FIELD, "real": field[0]} if field else FIELD
        res = ta.call(name, [getattr(market, fields.get(i, i))[: t + 1] for i in fd.inputs], params)
        res = res if isinstance(res, tuple) else (res,)
        for o, r in zip(fd.outputs, res):
            key = f"{label}.{o}" if len(fd.outputs) > 1 else label
            got = np.array([np.nan if v is None else v for v in features[key]], dtype=np.float64)
            np.testing.assert_allclose(got, np.asarray(r, dtype=np.float64)[t], rtol=1e-9, atol=1e-9,
                                       err_msg=f"{key} at bar {t}")


HTTP_SPECS = [("RSI", {}, "RSI"), ("BBANDS", {"timeperiod": 20}, "BBANDS_20"), ("CDLENGULFING", {}, "CDLENGULFING"),
              ("MACD", {}, "MACD"), ("WILLR", {"timeperiod": 10}, "willr")]


def test_http_open_and_ticks_by_talib_name(client, market):
    functions = [{"name": "RSI"}, {"name": "BBANDS", "params": {"timeperiod": 20}}, {"name": "CDLENGULFING"},
                 {"name": "MACD"}, {"name": "WILLR", "params": {"timeperiod": 10}, "label": "willr"}]
    resp = client.post("/v1/streams", json={"dataset": "synthetic", "functions": functions})
    assert resp.status_code == 201, resp.text
    opened = resp.json()
    assert opened["outputs"] == ["RSI", "BBANDS_20.upperband", "BBANDS_20.middleband", "BBANDS_20.lowerband",
                                 "CDLENGULFING", "MACD.macd", "MACD.macdsignal", "MACD.macdhist", "willr"]
    for t in range(SEED, SEED + 4):
        resp = client.post("/v1/ticks", json={"stream_id": opened["stream_id"], "ticks": columns(market, t)})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert set(body["features"]) == set(opened["outputs"])
        expect(market, body["features"], t, HTTP_SPECS)
    assert client.delete(f"/v1/streams/{opened['stream_id']}").status_code == 200


def test_websocket_by_talib_name_with_the_fused_outputs(client, market):
    specs = [("STOCH", {}, "STOCH"), ("CDLHAMMER", {}, "hammer"), ("ADX", {"timeperiod": 10}, "ADX_10"),
             ("SMA", {"timeperiod": 5}, "SMA_5_high", "high")]
    functions = [{"name": "STOCH"}, {"name": "CDLHAMMER", "label": "hammer"}, {"name": "ADX", "params": {"timeperiod": 10}},
                 {"name": "SMA", "params": {"timeperiod": 5}, "input": "high"}]
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_json({"type": "open", "dataset": "synthetic", "functions": functions, "outputs": ["rsi"]})
        opened = ws.receive_json()
        assert opened["type"] == "opened", opened
        assert opened["outputs"] == ["rsi", "STOCH.slowk", "STOCH.slowd", "hammer", "ADX_10", "SMA_5_high"]
        for t in range(SEED, SEED + 3):
            ws.send_json({**columns(market, t), "seq": t})
            msg = ws.receive_json()
            assert msg["type"] == "features" and msg["seq"] == t, msg
            expect(market, msg["features"], t, specs)
            want_rsi = ta.RSI(market.close[: t + 1])[t]  # the fused stream's rsi beside them (same numbers)
            np.testing.assert_allclose(msg["features"]["rsi"], want_rsi, rtol=1e-9)
        # the patterns read open: a batch without it is refused, naming the field
        cols = columns(market, SEED + 3)
        del cols["open"]
        ws.send_json(cols)
        err = ws.receive_json()
        assert err["type"] == "error" and err["status"] == 422 and "open must be a positive number" in \
            err["error"]["message"] and err["error"]["field"] == "ticks", err
        ws.send_json({"type": "close"})


@pytest.mark.parametrize("functions, field, message", [
    ([{"name": "NOT_A_FUNCTION"}], "functions.0.name", "unknown indicator 'NOT_A_FUNCTION'"),
    ([{"name": "RSI"}, {"name": "BBANDS", "params": {"timeperiod": 1}}], "functions.1", "timeperiod must be in"),
    ([{"name": "ADX", "params": {"period": 14}}], "functions.0", "unknown parameter(s) ['period']"),
    ([{"name": "rsi"}], "functions", "is not a TA-Lib function name"),
    ([{"name": "MAVP"}], "functions", "needs a 'periods' array"),
    ([{"name": "RSI"}, {"name": "RSI"}], "functions", "given twice"),
])
def test_bad_names_and_parameters_are_422_naming_the_field(client, functions, field, message):
    resp = client.post("/v1/streams", json={"dataset": "synthetic", "functions": functions})
    assert resp.status_code == 422, resp.text
    err = resp.json()["error"]
    assert err["field"] == field and message in err["message"], err
    with client.websocket_connect("/v1/stream") as ws:  # the same over the socket
        ws.send_json({"type": "open", "dataset": "synthetic", "functions": functions})
        msg = ws.receive_json()
        assert msg["type"] == "error" and msg["status"] == 422 and msg["error"]["field"] == field, msg
