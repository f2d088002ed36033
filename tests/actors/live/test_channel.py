"""The live channel on real sockets (no Ray): round trips, errors, tokens, failures, and the
hardening of issue 12 (unauthenticated connections time out and are capped, half a header is
closed, idle connections hold no thread, frames are data only: a pickle is refused)."""
from __future__ import annotations

import asyncio
import os
import pickle
import socket
import struct
import threading
import time
from dataclasses import replace

import numpy as np
import pytest

from actors.config import LiveChannelConfig
from actors.jobs.plans import ChunkSpec
from actors.live.channel import ChannelAddress, ChannelClient, ChannelError, ChannelServer, resolve_bind_host
from actors.messages import WorkItem, WorkResult
from actors.live import wire
from actors.jobs.plans import JobSpecError

CFG = LiveChannelConfig(connections=4, connect_timeout_s=2.0, call_timeout_s=5.0, max_frame_bytes=1 << 20)


class Unpicklable(RuntimeError):
    def __reduce__(self):
        raise TypeError("cannot pickle this")


def handle(msg):
    """Echo, or raise what the request names."""
    if not isinstance(msg, (str, tuple)):
        return ("echo", msg)
    if msg == "value":
        raise ValueError("bad parameter x")
    if msg == "spec":
        raise JobSpecError("unknown strategy 'nope'")
    if msg == "device":
        raise Unpicklable("CUDA error: illegal address")
    if isinstance(msg, tuple) and msg[0] == "sleep":
        threading.Event().wait(msg[1])
    if msg == "unencodable":
        return object()
    return ("echo", msg)


@pytest.fixture
def server():
    srv = ChannelServer(handle, "127.0.0.1", CFG)
    yield srv
    srv.close()


def run(coro):
    return asyncio.run(coro)


def test_round_trips_reuse_connections(server):
    client = ChannelClient(server.address, CFG)

    async def main():
        out = [await client.call(i) for i in range(20)]
        return out, len(client._idle)

    out, idle = run(main())
    assert out == [("echo", i) for i in range(20)]
    assert idle == 1  # one connection served the sequential calls


def test_large_message_round_trips(server):
    client = ChannelClient(server.address, CFG)
    arr = np.arange(100_000, dtype=np.float64)
    tag, back = run(client.call(arr))
    assert tag == "echo" and np.array_equal(back, arr)


def test_concurrent_calls_are_bounded_by_connections(server):
    client = ChannelClient(server.address, CFG)

    async def main():
        return await asyncio.gather(*(client.call(("sleep", 0.05, i)) for i in range(10)))

    out = run(main())
    assert [o[1][2] for o in out] == list(range(10))
    assert len(client._idle) == CFG.connections


def test_handler_exceptions_keep_their_type(server):
    client = ChannelClient(server.address, CFG)

    async def main():
        with pytest.raises(ValueError, match="bad parameter x"):
            await client.call("value")
        with pytest.raises(JobSpecError, match="unknown strategy"):
            await client.call("spec")
        with pytest.raises(RuntimeError, match="Unpicklable: CUDA error"):
            await client.call("device")
        return await client.call("after")  # the connection is still good

    assert run(main()) == ("echo", "after")


def test_wrong_token_is_refused(server):
    bad = replace(server.address, token=b"x" * len(server.address.token))
    with pytest.raises(ChannelError):
        run(ChannelClient(bad, CFG).call(1))


def test_closed_server_is_a_channel_error(server):
    client = ChannelClient(server.address, CFG)
    assert run(client.call(1)) == ("echo", 1)
    server.close()
    with pytest.raises(ChannelError):
        run(client.call(2))  # a new loop: a new connection, refused


def test_nothing_listening_is_a_channel_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ChannelError):
        run(ChannelClient(ChannelAddress("127.0.0.1", port, b"t" * 16), CFG).call(1))


def test_call_timeout_is_a_channel_error(server):
    client = ChannelClient(server.address, replace(CFG, call_timeout_s=0.1))

    async def main():
        with pytest.raises(ChannelError, match="TimeoutError"):
            await client.call(("sleep", 1.0, 0))
        assert client._idle == []  # the timed-out connection is not reused
        return await client.call("next")

    assert run(main()) == ("echo", "next")


def test_oversized_request_closes_the_connection(server):
    client = ChannelClient(server.address, replace(CFG, max_frame_bytes=1 << 22))
    with pytest.raises(ChannelError):
        run(client.call(b"\x00" * ((1 << 20) + 1)))  # over the server's limit


def test_config_is_validated():
    with pytest.raises(ValueError, match="connections"):
        LiveChannelConfig(connections=0)
    with pytest.raises(ValueError, match="timeout"):
        LiveChannelConfig(call_timeout_s=0)


def test_unencodable_answer_is_a_channel_error(server):
    """The router then uses the actor call; the connection stays usable."""
    client = ChannelClient(server.address, CFG)

    async def main():
        with pytest.raises(ChannelError, match="cannot travel"):
            await client.call("unencodable")
        return await client.call("after")

    assert run(main()) == ("echo", "after")


# --------------------------------------------------------------- hardening (issue 12)
HEADER = struct.Struct("!I")


def raw_connect(address: ChannelAddress, token: bytes | None = None) -> socket.socket:
    sock = socket.create_connection((address.host, address.port), timeout=5)
    if token is not None:
        sock.sendall(HEADER.pack(len(token)) + token)
    return sock


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the peer closed the socket (recv returns b"" or resets), None if it stayed open."""
    start = time.monotonic()
    sock.settimeout(seconds)
    try:
        while True:
            if sock.recv(4096) == b"":
                return time.monotonic() - start
    except (ConnectionResetError, BrokenPipeError):
        return time.monotonic() - start
    except socket.timeout:
        return None


def thread_count() -> int:
    return len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else threading.active_count()


def test_silent_connection_is_closed_within_a_second(server):
    with raw_connect(server.address) as sock:
        took = closed_within(sock, 3.0)
    assert took is not None and took < 1.0, took
    assert server.refused["timeout"] >= 1


def test_half_a_header_then_silence_is_closed(server):
    with raw_connect(server.address) as sock:
        sock.sendall(b"\x00\x00")  # two of the token frame's four header bytes
        took = closed_within(sock, 3.0)
    assert took is not None and took < 1.0, took


def test_half_a_frame_after_the_token_is_closed():
    srv = ChannelServer(handle, "127.0.0.1", replace(CFG, frame_timeout_s=0.3))
    try:
        with raw_connect(srv.address, srv.address.token) as sock:
            sock.sendall(b"\x00\x00")
            took = closed_within(sock, 3.0)
        assert took is not None and took < 1.0, took
    finally:
        srv.close()


def test_wrong_token_length_is_refused_at_once(server):
    with raw_connect(server.address) as sock:
        sock.sendall(HEADER.pack(1 << 30))  # claims a 1 GiB token
        took = closed_within(sock, 3.0)
    assert took is not None and took < 1.0


def test_idle_connections_hold_no_threads():
    """200 idle unauthenticated connections (issue 12: threads 53 -> 252) add no thread."""
    cfg = replace(CFG, auth_timeout_s=5.0, max_pending=300, max_connections=400)
    srv = ChannelServer(handle, "127.0.0.1", cfg)
    socks = []
    try:
        before = thread_count()
        socks = [raw_connect(srv.address) for _ in range(200)]
        deadline = time.monotonic() + 5
        while srv.connections < 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert srv.connections == 200
        assert thread_count() - before <= 2, (before, thread_count())
        # and the channel still serves an authenticated client meanwhile
        assert run(ChannelClient(srv.address, CFG).call("ok")) == ("echo", "ok")
    finally:
        for s in socks:
            s.close()
        srv.close()


def test_pending_and_total_connections_are_capped():
    cfg = replace(CFG, auth_timeout_s=5.0, max_pending=4, max_connections=6)
    srv = ChannelServer(handle, "127.0.0.1", cfg)
    socks = []

    def settle(n: int) -> None:
        deadline = time.monotonic() + 5
        while srv.connections != n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert srv.connections == n

    try:
        socks = [raw_connect(srv.address) for _ in range(4)]  # silent: pending
        settle(4)
        assert closed_within(raw_connect(srv.address), 2.0) is not None  # over max_pending: closed at once
        for s in socks:
            s.close()
        settle(0)
        socks = []
        for _ in range(6):  # authenticated connections count towards max_connections
            socks.append(raw_connect(srv.address, srv.address.token))
            settle(len(socks))
        assert closed_within(raw_connect(srv.address, srv.address.token), 2.0) is not None
        assert srv.refused["capacity"] == 2
        for s in socks:
            s.close()
        settle(0)
        assert run(ChannelClient(srv.address, CFG).call("ok")) == ("echo", "ok")  # and serves again
    finally:
        for s in socks:
            s.close()
        srv.close()


class Exploit:
    """What an attacker with the token would send if frames were unpickled."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_payload_is_refused_and_not_run(server, tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(Exploit(str(marker)))
    with raw_connect(server.address, server.address.token) as sock:
        sock.sendall(HEADER.pack(len(payload)) + payload)
        sock.settimeout(5)
        (size,) = HEADER.unpack(sock.recv(4, socket.MSG_WAITALL))
        reply = sock.recv(size, socket.MSG_WAITALL)
    assert reply[:1] == b"\x01"  # an error comes back
    err = wire.decode(reply[1:])
    assert isinstance(err, ValueError) and "not a live channel message" in str(err)
    assert not marker.exists()


def test_unknown_types_are_refused_by_the_decoder():
    import msgpack  # noqa: PLC0415

    dataclass_of_another_module = msgpack.packb(msgpack.ExtType(4, msgpack.packb(["Popen", {"args": ["id"]}])))
    with pytest.raises(wire.DecodeError, match="unknown type 'Popen'"):
        wire.decode(dataclass_of_another_module)
    obj_array = msgpack.packb(msgpack.ExtType(2, msgpack.packb(["|O", [1], b"\x00" * 8])))
    with pytest.raises(wire.DecodeError, match="not allowed"):
        wire.decode(obj_array)
    with pytest.raises(wire.EncodeError):
        wire.encode(np.array([object()]))


def test_work_messages_round_trip_exactly():
    from actors.jobs.plans import execute_chunk  # noqa: PLC0415
    from kernels.data import synthetic_panel  # noqa: PLC0415

    panel = synthetic_panel(3, 120, seed=1)
    payload = {"dataset": "synthetic", "window": 4, "indicators": [{"name": "rsi"}, {"name": "macd"}],
               "symbols": ["S0000", "S0002"]}
    item = WorkItem("live", "features", payload, ChunkSpec(0, (0, 3)), 0, "t", "synthetic", "v1")
    assert wire.decode(wire.encode(item)) == item
    block = execute_chunk("features", payload, panel, ChunkSpec(0, (0, 3)), "cpu")
    result = WorkResult("live", 0, "w0", "cpu", "cpu", False, 0.01, block, {"feature_cache": "miss"})
    back = wire.decode(wire.encode(result))
    assert back.result.symbols == block.symbols and back.timings == result.timings
    for label in block:
        pd_equal = back.result[label].equals(block[label])
        assert pd_equal, label
    assert back.result.index.dtype == block.index.dtype
    prediction = {"predictions": np.arange(3.0), "symbols": ["A", "B", "C"], "bar": "2020-01-01 00:00:00"}
    out = wire.decode(wire.encode(prediction))
    assert np.array_equal(out["predictions"], prediction["predictions"]) and out["symbols"] == ["A", "B", "C"]


def test_bind_host_defaults_to_loopback_on_one_node():
    cfg = LiveChannelConfig()
    assert cfg.bind_host == "auto"
    assert resolve_bind_host(cfg, "10.0.0.5", 1) == ("127.0.0.1", "127.0.0.1")
    assert resolve_bind_host(cfg, "10.0.0.5", 3) == ("10.0.0.5", "10.0.0.5")
    assert resolve_bind_host(replace(cfg, bind_host="0.0.0.0"), "10.0.0.5", 1) == ("0.0.0.0", "10.0.0.5")
    assert resolve_bind_host(replace(cfg, bind_host="0.0.0.0", host="gpu-7"), "10.0.0.5", 1) == ("0.0.0.0", "gpu-7")


def test_bind_host_comes_from_the_environment(monkeypatch):
    from actors.settings import load_settings  # noqa: PLC0415

    monkeypatch.setenv("RAYQUANT_LIVE_CHANNEL__BIND_HOST", "0.0.0.0")
    monkeypatch.setenv("RAYQUANT_LIVE_CHANNEL__AUTH_TIMEOUT_S", "0.25")
    cfg = load_settings().live_channel
    assert cfg.bind_host == "0.0.0.0" and cfg.auth_timeout_s == 0.25
    with pytest.raises(ValueError, match="max_pending"):
        LiveChannelConfig(max_pending=10, max_connections=5)
