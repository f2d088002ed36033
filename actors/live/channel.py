"""A direct socket from the live routers to a worker: live work without a Ray call per request.

A Ray actor call costs 1-1.5 ms of scheduling and transport, several times the
kernels of a small live request. So each worker also listens on a TCP port (picked
by the OS) with a random token; the coordinator's routing table hands
`ChannelAddress`es to the routers, which keep a few connections open per worker.
Ray stays the control plane (placement, health, restarts, dataset refs); the socket
only carries work items and results, encoded data-only (`actors.live.wire`: msgpack,
arrays as raw bytes; never pickle, so a leaked token is not code execution).

Wire format: frames of a 4-byte big-endian length and a body. A connection starts
with the token frame; each request frame gets one reply frame whose first byte says
whether the body is the handler's answer, the exception it raised, or that the
answer cannot travel on the channel (the router then uses the actor call).
Anything wrong with the socket itself (refused, reset, timed out, closed) is a
`ChannelError`: the router treats it as a failed call (and uses the actor call).

The listening side is one asyncio loop on one thread (idle connections cost no
thread); the handler runs on a small thread pool. Where it binds is
`LiveChannelConfig.bind_host` (see `resolve_bind_host`). A connection must send
its token within `auth_timeout_s`, and a frame once started within
`frame_timeout_s`; at most `max_pending` connections wait for their token and
`max_connections` are open in all (others are closed at once).
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import socket
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from actors.config import LiveChannelConfig
from actors.live import wire

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!I")
_OK, _RAISED, _UNENCODABLE = b"\x00", b"\x01", b"\x02"
TOKEN_BYTES = 16
LOOPBACK = "127.0.0.1"
ANY_HOST = "0.0.0.0"


class ChannelError(ConnectionError):
    """The socket failed (not the work): refused, reset, closed, timed out or refused the token."""


@dataclass(frozen=True)
class ChannelAddress:
    """Where a worker's channel listens, and the token it expects."""

    host: str
    port: int
    token: bytes


def resolve_bind_host(config: LiveChannelConfig, node_ip: str, n_nodes: int) -> tuple[str, str]:
    """(address to bind, address to announce) for a worker on `node_ip` in a cluster of `n_nodes`.

    "auto": loopback on a one-node cluster (nothing else can connect), the node's IP
    once the cluster has several nodes (routers in other nodes' replicas must reach it).
    """
    bind = config.bind_host.strip()
    if bind == "auto":
        bind = node_ip if n_nodes > 1 else LOOPBACK
    announce = config.host or (node_ip if bind in (ANY_HOST, "::") else bind)
    return bind, announce


def _encode_reply(value: Any, raised: bool) -> bytes:
    """A reply frame's body; an answer that cannot travel says so (the router retries by actor call)."""
    try:
        return (_RAISED if raised else _OK) + wire.encode(value)
    except wire.EncodeError as exc:
        if raised:  # an exception always travels, as its text if nothing else
            return _RAISED + wire.encode(RuntimeError(f"{type(value).__name__}: {value}"))
        return _UNENCODABLE + str(exc).encode()


class ChannelServer:
    """A worker's listening side: `handle(message) -> message` on a small thread pool.

    `handle` receives decoded messages (a `WorkItem` from a router) and returns one
    (its `WorkResult`); its exceptions go back to the caller.
    """

    def __init__(self, handle: Callable[[Any], Any], host: str, config: LiveChannelConfig,
                 announce: str | None = None) -> None:
        self.config = config
        self._handle = handle
        self._token = secrets.token_bytes(TOKEN_BYTES)
        self._pool = ThreadPoolExecutor(config.handler_threads, thread_name_prefix="live-channel-handler")
        self._loop = asyncio.new_event_loop()
        self._pending = 0
        self._open = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self.refused = {"capacity": 0, "token": 0, "timeout": 0, "frame": 0}
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._server = self._loop.run_until_complete(
                    asyncio.start_server(self._serve, host, 0, limit=config.max_frame_bytes,
                                         backlog=config.max_pending))
            except BaseException as exc:  # noqa: BLE001 - reported to the constructor
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="live-channel", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        port = self._server.sockets[0].getsockname()[1]
        self.address = ChannelAddress(announce or host, port, self._token)
        log.info("live channel listening on %s:%d (announced as %s)", host, port, self.address.host)

    @property
    def connections(self) -> int:
        """Open connections (authenticated or not)."""
        return self._open

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cfg = self.config
        peer = writer.get_extra_info("peername")
        if self._open >= cfg.max_connections or self._pending >= cfg.max_pending:
            self.refused["capacity"] += 1
            writer.transport.abort()
            return
        self._open += 1
        self._pending += 1
        authenticated = False
        self._writers.add(writer)
        try:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                async with asyncio.timeout(cfg.auth_timeout_s):
                    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                    token = await reader.readexactly(size) if size == TOKEN_BYTES else b""
            except TimeoutError:
                self.refused["timeout"] += 1
                log.warning("live channel: connection from %s sent no token in %.1f s; closed", peer,
                            cfg.auth_timeout_s)
                return
            if not hmac.compare_digest(token, self._token):
                self.refused["token"] += 1
                log.warning("live channel: connection from %s refused (bad token)", peer)
                return
            authenticated = True
            self._pending -= 1
            while True:
                first = await reader.read(1)  # an idle, authenticated connection may wait here
                if not first:
                    return
                try:
                    async with asyncio.timeout(cfg.frame_timeout_s):
                        (size,) = _HEADER.unpack(first + await reader.readexactly(_HEADER.size - 1))
                        if size > cfg.max_frame_bytes:
                            self.refused["frame"] += 1
                            log.warning("live channel: frame of %d bytes from %s is over the limit", size, peer)
                            return
                        body = await reader.readexactly(size)
                except TimeoutError:
                    self.refused["timeout"] += 1
                    log.warning("live channel: half a frame from %s, then silence; closed", peer)
                    return
                reply = await self._loop.run_in_executor(self._pool, self._answer, body)
                writer.write(_HEADER.pack(len(reply)) + reply)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ConnectionError) as exc:
            log.debug("live channel connection from %s ended: %s", peer, exc)
        finally:
            self._open -= 1
            if not authenticated:
                self._pending -= 1
            self._writers.discard(writer)
            writer.close()

    def _answer(self, body: bytes) -> bytes:
        try:
            request = wire.decode(body)
        except wire.DecodeError as exc:
            log.warning("live channel: refused a request that is not a live message: %s", exc)
            return _encode_reply(exc, raised=True)
        try:
            return _encode_reply(self._handle(request), raised=False)
        except Exception as exc:  # noqa: BLE001 - sent back to the caller, who decides
            return _encode_reply(exc, raised=True)

    def close(self) -> None:
        if not self._loop.is_running():
            return

        async def stop() -> None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()  # their reads end: the connections' tasks finish by themselves
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if tasks:
                _, pending = await asyncio.wait(tasks, timeout=1.0)
                for task in pending:  # e.g. waiting for a handler still running on the pool
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            await self._server.wait_closed()

        try:
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=5)
        except Exception as exc:  # noqa: BLE001 - closing anyway
            log.debug("live channel close: %s", exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)


class ChannelClient:
    """A router's connections to one worker's channel (async; at most `connections` calls in flight)."""

    def __init__(self, address: ChannelAddress, config: LiveChannelConfig) -> None:
        self.address = address
        self.config = config
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _bind_loop(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections belong to the loop that opened them
            self._idle, self._loop = [], loop
            self._slots = asyncio.Semaphore(self.config.connections)
        assert self._slots is not None
        return self._slots

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        async with asyncio.timeout(self.config.connect_timeout_s):
            reader, writer = await asyncio.open_connection(self.address.host, self.address.port,
                                                          limit=self.config.max_frame_bytes)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        writer.write(_HEADER.pack(len(self.address.token)) + self.address.token)
        return reader, writer

    async def call(self, message: Any) -> Any:
        """The handler's answer to `message`; its exception re-raised; `ChannelError` if the socket fails
        (or the answer cannot travel on the channel)."""
        try:
            request = wire.encode(message)
        except wire.EncodeError as exc:
            raise ChannelError(f"live channel: the request cannot travel on the channel: {exc}") from None
        async with self._bind_loop():
            conn = None
            try:
                conn = self._idle.pop() if self._idle else await self._connect()
                reader, writer = conn
                writer.write(_HEADER.pack(len(request)) + request)
                async with asyncio.timeout(self.config.call_timeout_s):
                    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                    if size > self.config.max_frame_bytes:
                        raise ChannelError(f"reply of {size} bytes is over the limit")
                    reply = await reader.readexactly(size)
            except BaseException as exc:
                if conn is not None:
                    conn[1].close()  # mid-call: the connection's state is unknown
                if isinstance(exc, (OSError, EOFError, TimeoutError)):
                    raise ChannelError(f"live channel to {self.address.host}:{self.address.port}: "
                                       f"{type(exc).__name__}: {exc}") from exc
                raise
            self._idle.append(conn)
        if reply[:1] == _UNENCODABLE:
            raise ChannelError(f"live channel to {self.address.host}:{self.address.port}: the answer "
                               f"cannot travel on the channel ({reply[1:].decode(errors='replace')})")
        try:
            body = wire.decode(reply[1:])
        except wire.DecodeError as exc:
            raise ChannelError(f"live channel to {self.address.host}:{self.address.port}: {exc}") from None
        if reply[:1] == _RAISED:
            raise body
        return body

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle = []
