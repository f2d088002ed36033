"""The live channel on real sockets (no Ray): round trips, errors, tokens, failures."""
from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

import pytest

from actors.config import LiveChannelConfig
from actors.live.channel import ChannelAddress, ChannelClient, ChannelError, ChannelServer
from actors.messages import pack, unpack
from actors.jobs.plans import JobSpecError

CFG = LiveChannelConfig(connections=4, connect_timeout_s=2.0, call_timeout_s=5.0, max_frame_bytes=1 << 20)


class Unpicklable(RuntimeError):
    def __reduce__(self):
        raise TypeError("cannot pickle this")


def handle(request: bytes) -> bytes:
    """Echo, or raise what the request names."""
    msg = unpack(request)
    if not isinstance(msg, (str, tuple)):
        return pack(("echo", msg))
    if msg == "value":
        raise ValueError("bad parameter x")
    if msg == "spec":
        raise JobSpecError("unknown strategy 'nope'")
    if msg == "device":
        raise Unpicklable("CUDA error: illegal address")
    if isinstance(msg, tuple) and msg[0] == "sleep":
        threading.Event().wait(msg[1])
    return pack(("echo", msg))


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
        out = [unpack(await client.call(pack(i))) for i in range(20)]
        return out, len(client._idle)

    out, idle = run(main())
    assert out == [("echo", i) for i in range(20)]
    assert idle == 1  # one connection served the sequential calls


def test_large_message_round_trips(server):
    import numpy as np  # noqa: PLC0415

    client = ChannelClient(server.address, CFG)
    arr = np.arange(100_000, dtype=np.float64)
    tag, back = unpack(run(client.call(pack(arr))))
    assert tag == "echo" and np.array_equal(back, arr)


def test_concurrent_calls_are_bounded_by_connections(server):
    client = ChannelClient(server.address, CFG)

    async def main():
        return await asyncio.gather(*(client.call(pack(("sleep", 0.05, i))) for i in range(10)))

    out = [unpack(r) for r in run(main())]
    assert [o[1][2] for o in out] == list(range(10))
    assert len(client._idle) == CFG.connections


def test_handler_exceptions_keep_their_type(server):
    client = ChannelClient(server.address, CFG)

    async def main():
        with pytest.raises(ValueError, match="bad parameter x"):
            await client.call(pack("value"))
        with pytest.raises(JobSpecError, match="unknown strategy"):
            await client.call(pack("spec"))
        with pytest.raises(RuntimeError, match="Unpicklable: CUDA error"):
            await client.call(pack("device"))
        return unpack(await client.call(pack("after")))  # the connection is still good

    assert run(main()) == ("echo", "after")


def test_wrong_token_is_refused(server):
    bad = replace(server.address, token=b"x" * len(server.address.token))
    with pytest.raises(ChannelError):
        run(ChannelClient(bad, CFG).call(pack(1)))


def test_closed_server_is_a_channel_error(server):
    client = ChannelClient(server.address, CFG)
    assert unpack(run(client.call(pack(1)))) == ("echo", 1)
    server.close()
    with pytest.raises(ChannelError):
        run(client.call(pack(2)))  # a new loop: a new connection, refused


def test_nothing_listening_is_a_channel_error():
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ChannelError):
        run(ChannelClient(ChannelAddress("127.0.0.1", port, b"t" * 16), CFG).call(pack(1)))


def test_call_timeout_is_a_channel_error(server):
    client = ChannelClient(server.address, replace(CFG, call_timeout_s=0.1))

    async def main():
        with pytest.raises(ChannelError, match="TimeoutError"):
            await client.call(pack(("sleep", 1.0, 0)))
        assert client._idle == []  # the timed-out connection is not reused
        return unpack(await client.call(pack("next")))

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
