"""A direct socket from the live routers to a worker: live work without a Ray call per request.

A Ray actor call costs 1-1.5 ms of scheduling and transport, several times the
kernels of a small live request. So each worker also listens on a TCP port of its
node (picked by the OS) with a random token; the coordinator's routing table hands
`ChannelAddress`es to the routers, which keep a few connections open per worker.
Ray stays the control plane (placement, health, restarts, dataset refs); the
socket only carries `pack`ed work items and results between our own processes.

Wire format: frames of a 4-byte big-endian length and a body. A connection starts
with the token frame; each request frame gets one reply frame whose first byte
says whether the body is the handler's answer or the exception it raised.
Anything wrong with the socket itself (refused, reset, timed out, closed) is a
`ChannelError`: the router treats it as a failed call (and uses the actor call).
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import socket
import socketserver
import struct
import threading
from dataclasses import dataclass
from typing import Callable

from actors.config import LiveChannelConfig
from actors.messages import pack, unpack

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!I")
_OK, _RAISED = b"\x00", b"\x01"
TOKEN_BYTES = 16


class ChannelError(ConnectionError):
    """The socket failed (not the work): refused, reset, closed, timed out or refused the token."""


@dataclass(frozen=True)
class ChannelAddress:
    """Where a worker's channel listens, and the token it expects."""

    host: str
    port: int
    token: bytes


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            return None
        got += k
    return bytes(buf)


def _recv_frame(sock: socket.socket, limit: int) -> bytes | None:
    header = _recv_exact(sock, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > limit:
        raise ChannelError(f"frame of {size} bytes is over the limit of {limit}")
    return _recv_exact(sock, size)


def _encode_error(exc: BaseException) -> bytes:
    """The exception itself when it pickles (its type decides fallback vs client error), else its text."""
    try:
        return pack(exc)
    except Exception:  # noqa: BLE001 - e.g. a CUDA error holding a handle
        return pack(RuntimeError(f"{type(exc).__name__}: {exc}"))


class _ChannelTCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], token: bytes, handle: Callable[[bytes], bytes],
                 max_frame_bytes: int) -> None:
        self.token, self.handle, self.max_frame_bytes = token, handle, max_frame_bytes
        super().__init__(address, _ChannelRequestHandler)


class _ChannelRequestHandler(socketserver.BaseRequestHandler):
    """One connection: the token, then request -> reply until the router closes it."""

    server: _ChannelTCPServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            token = _recv_frame(sock, TOKEN_BYTES)
            if token is None or not hmac.compare_digest(token, self.server.token):
                log.warning("live channel: connection from %s refused (bad token)", self.client_address)
                return
            while True:
                request = _recv_frame(sock, self.server.max_frame_bytes)
                if request is None:
                    return
                try:
                    reply = _OK + self.server.handle(request)
                except Exception as exc:  # noqa: BLE001 - sent back to the caller, who decides
                    reply = _RAISED + _encode_error(exc)
                sock.sendall(_HEADER.pack(len(reply)) + reply)
        except (OSError, ChannelError) as exc:
            log.debug("live channel connection from %s ended: %s", self.client_address, exc)


class ChannelServer:
    """A worker's listening side: `handle(bytes) -> bytes` on a thread per connection."""

    def __init__(self, handle: Callable[[bytes], bytes], host: str, config: LiveChannelConfig) -> None:
        self._server = _ChannelTCPServer((host, 0), secrets.token_bytes(TOKEN_BYTES), handle, config.max_frame_bytes)
        self.address = ChannelAddress(host, self._server.server_address[1], self._server.token)
        self._thread = threading.Thread(target=self._server.serve_forever, name="live-channel", daemon=True)
        self._thread.start()
        log.info("live channel listening on %s:%d", host, self.address.port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


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

    async def call(self, request: bytes) -> bytes:
        """The handler's answer to `request`; its exception re-raised; `ChannelError` if the socket fails."""
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
        if reply[:1] == _RAISED:
            raise unpack(reply[1:])
        return reply[1:]

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle = []
