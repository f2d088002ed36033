"""Hypothesis suite for the WebSocket frame parser of `WS /v1/stream` (issue 12): any text or
binary frame becomes a tick batch, an open message or a 4xx error message for the socket
(`stream_error`), never a server error (500) and never an exception out of the connection."""
from __future__ import annotations

import json

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from actors.settings import StreamsConfig
from actors.streams.registry import StreamError, TickBatch
from deployments.http.errors import ApiError
from deployments.http.schemas import StreamCreate
from deployments.http.stream_routes import StreamConnection, _batch, _binary_columns, stream_error

pytestmark = pytest.mark.slow  # ~15 s on 2 cores

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STREAMS = StreamsConfig(max_ticks=64)

json_scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
numbers = st.integers(-10, 10**6) | st.floats(allow_nan=True, allow_infinity=True) | st.booleans() | st.none() \
    | st.text(max_size=4)
KEYS = ("symbol", "time", "open", "high", "low", "close", "volume", "seq", "type", "rows")


@st.composite
def tick_like(draw) -> dict:
    """Frames shaped like tick columns, with wrong types, lengths and values mixed in."""
    n = draw(st.integers(0, 4))
    frame = {k: draw(st.lists(numbers, min_size=n, max_size=n) | numbers)
             for k in ("time", "open", "high", "low", "close", "volume") if draw(st.booleans()) or k != "open"}
    frame["symbol"] = draw(st.lists(st.text(max_size=4) | st.integers(), min_size=n, max_size=n) | json_scalars)
    if draw(st.booleans()):
        frame[draw(st.sampled_from(KEYS))] = draw(json_values)
    return frame


def handle(message: dict) -> str:
    """What `StreamConnection._handle` does with a frame before it reaches a worker; "ok" or the error code."""
    binary = message.get("bytes") is not None
    try:
        data = StreamConnection._decode(message, binary)
        if isinstance(data, dict):
            data.pop("seq", None)
            kind = data.pop("type", None) if data.get("type") in ("open", "close", "status", "ticks") else None
            if kind == "open" or ("symbol" not in data and "rows" not in data):
                StreamCreate.model_validate(data)
                return "ok"
        columns = data.get("rows") if isinstance(data, dict) and "rows" in data else data
        if binary and isinstance(columns, dict):
            columns = _binary_columns(columns)
        batch = _batch(columns, "s", STREAMS)
        assert isinstance(batch, TickBatch) and len(batch) >= 1
        return "ok"
    except Exception as exc:  # noqa: BLE001 - every error must map to a 4xx for the socket
        err = stream_error(exc, 1)  # raises for an unmapped (server) error: the test fails
        assert isinstance(err, ApiError) and 400 <= err.status < 500, (type(exc), exc)
        assert err.message and "Traceback" not in err.message
        return err.code


@FUZZ
@given(value=json_values)
def test_any_json_text_frame(value):
    handle({"type": "websocket.receive", "text": json.dumps(value)})


@FUZZ
@given(frame=tick_like())
def test_tick_shaped_frames(frame):
    try:
        text = json.dumps(frame)
    except (ValueError, TypeError):
        return
    handle({"type": "websocket.receive", "text": text})
    handle({"type": "websocket.receive", "text": json.dumps({"rows": [frame]}, default=str)})


@FUZZ
@given(frame=tick_like(), raw=st.binary(max_size=64))
def test_binary_frames(frame, raw):
    packed = msgpack.packb({**frame, "time": raw} if frame else {"high": raw}, default=str)
    handle({"type": "websocket.receive", "bytes": packed})
    handle({"type": "websocket.receive", "bytes": raw})


@FUZZ
@given(text=st.text(max_size=64))
def test_arbitrary_text(text):
    handle({"type": "websocket.receive", "text": text})


@pytest.mark.parametrize("text,code", [
    ("[" * 100_000 + "]" * 100_000, "malformed_message"),  # was a 500 (RecursionError)
    ('{"a": ' * 50_000 + "1" + "}" * 50_000, "malformed_message"),
    ('{"symbol": ["A"], "time": [1], "high": [1], "low": [1], "close": [true], "volume": [1]}', "invalid_ticks"),
    ('{"symbol": ["A"], "time": [1], "high": [1], "low": [2], "close": [1], "volume": [1]}', "ok"),  # checked on
    ("null", "malformed_message"),                                                                    # the worker
    ('{"type": "open", "dataset": "trail\\n"}', "validation_error"),
    ('{"type": "open", "dataset": "synthetic", "history": true}', "validation_error"),
])
def test_regressions(text, code):
    assert handle({"type": "websocket.receive", "text": text}) == code


def test_worker_side_tick_checks_are_4xx():
    from actors.streams.registry import StreamRegistry, StreamSpec
    from kernels.data import synthetic_panel

    panel = synthetic_panel(2, 60, seed=1)
    reg = StreamRegistry()
    reg.open(StreamSpec.build("s", "synthetic", "v1"), panel)
    last = int(np.asarray(panel.index[-1]).astype("datetime64[ns]").astype(np.int64))
    base = {"symbol": [panel.symbols[0]], "time": [last + 10**9], "high": [2.0], "low": [1.0], "close": [1.5],
            "volume": [1.0]}
    for change, needle, code in [({"close": [-50.0]}, "close must be positive", "invalid_ticks"),
                                 ({"high": [0.5]}, "below low", "invalid_ticks"),
                                 ({"volume": [-1.0]}, "volume must be non-negative", "invalid_ticks"),
                                 ({"time": [last]}, "duplicate tick", "duplicate_tick"),
                                 ({"time": [last - 10**9]}, "out-of-order", "out_of_order")]:
        with pytest.raises(StreamError, match=needle) as err:
            reg.push("s", TickBatch.from_columns({**base, **change}))
        assert stream_error(err.value, 1).code == code and stream_error(err.value, 1).status == 422
    assert reg.push("s", TickBatch.from_columns(base)).rows == 1
