"""A minimal stand-in for the CuPy API gpu_hal touches, so the GPU code paths
(pools with limits, allocator activation, streams, events) run on CPU-only CI.
It checks that gpu_hal calls CuPy in the right shape; real behaviour is covered by
the `gpu` tests on a GPU machine."""
from __future__ import annotations

import contextlib
import threading
import types
from typing import Any

import numpy as np

_tls = threading.local()


class OutOfMemoryError(MemoryError):
    def __init__(self, size: int, total: int, limit: int = 0) -> None:
        self._size, self._total, self._limit = size, total, limit
        super().__init__(f"Out of memory allocating {size:,} bytes (allocated so far: {total:,} bytes, "
                         f"limit set to: {limit:,} bytes).")


OutOfMemoryError.__module__ = "cupy.cuda.memory"


class CUDARuntimeError(RuntimeError):
    pass


CUDARuntimeError.__module__ = "cupy_backends.cuda.api.runtime"


def _current_device() -> int:
    return getattr(_tls, "device", 0)


class Device:
    def __init__(self, ordinal: int = 0) -> None:
        self.id = ordinal
        self.compute_capability = "90"

    def __enter__(self) -> "Device":
        self._prev = _current_device()
        _tls.device = self.id
        return self

    def __exit__(self, *exc: Any) -> None:
        _tls.device = self._prev


class _Chunk:
    """One base allocation (what the pool's allocator returned) and the bytes of it in use."""

    def __init__(self, raw: Any, size: int, stream: int) -> None:
        self.raw, self.size, self.stream, self.used = raw, size, stream, 0


class _Memory:
    """A block handed out by the pool, inside one chunk."""

    def __init__(self, pool: "_DevicePool", size: int, chunk: _Chunk) -> None:
        self.pool, self.size, self.chunk = pool, size, chunk

    def __del__(self) -> None:
        self.pool._free(self)


class _DevicePool:
    """CuPy's accounting: chunks are cached per stream; `total` counts every chunk
    held, `free_all_blocks` gives back only chunks with nothing in use (a chunk
    with a live block stays whole), and a chunk's base allocation dies with it."""

    def __init__(self, allocator: Any = None) -> None:
        self.limit = 0
        self.chunks: list[_Chunk] = []
        self.cuda_mallocs = 0
        self.allocator = allocator or (lambda size: MemoryPointer(Memory(size), 0))

    @property
    def used(self) -> int:
        return sum(c.used for c in self.chunks)

    def total(self) -> int:
        return sum(c.size for c in self.chunks)

    def malloc(self, size: int) -> _Memory:
        size = -(-int(size) // 512) * 512
        stream = get_current_stream().ptr
        block = self._from_cache(size, stream)  # no chunk stays referenced by this frame
        if block is not None:
            return block
        limit = self.limit or (1 << 62)
        if self.total() + size > limit:
            self.free_all()
            if self.total() + size > limit:
                raise OutOfMemoryError(size, self.used, limit)
        chunk = _Chunk(self.allocator(size), size, stream)
        self.cuda_mallocs += 1
        self.chunks.append(chunk)
        chunk.used = size
        return _Memory(self, size, chunk)

    def _from_cache(self, size: int, stream: int) -> _Memory | None:
        for chunk in self.chunks:
            if chunk.stream == stream and chunk.size - chunk.used >= size:
                chunk.used += size
                return _Memory(self, size, chunk)
        return None

    def _free(self, mem: _Memory) -> None:
        mem.chunk.used -= mem.size

    def free_all(self) -> None:
        self.chunks = [c for c in self.chunks if c.used > 0]


class Memory:
    """Device memory from the driver (cudaMalloc)."""

    _next_ptr = [1 << 20]

    def __init__(self, size: int) -> None:
        self.size = int(size)
        self.ptr = Memory._next_ptr[0]
        Memory._next_ptr[0] += self.size + 512


class UnownedMemory:
    def __init__(self, ptr: int, size: int, owner: Any, device_id: int = 0) -> None:
        self.ptr, self.size, self._owner = ptr, size, owner


class MemoryPointer:
    def __init__(self, mem: Any, offset: int) -> None:
        self.mem, self.ptr = mem, mem.ptr + offset


class MemoryPool:
    def __init__(self, allocator: Any = None) -> None:
        self._pools: dict[int, _DevicePool] = {}
        self._allocator = allocator

    def device_pool(self) -> _DevicePool:
        return self._pools.setdefault(_current_device(), _DevicePool(self._allocator))

    def set_limit(self, size: int | None = None, fraction: float | None = None) -> None:
        self.device_pool().limit = int(size or 0)

    def get_limit(self) -> int:
        return self.device_pool().limit

    def malloc(self, size: int) -> _Memory:
        return self.device_pool().malloc(size)

    def used_bytes(self) -> int:
        return self.device_pool().used

    def total_bytes(self) -> int:
        return self.device_pool().total()

    def free_all_blocks(self, stream: Any = None) -> None:
        self.device_pool().free_all()


_default_pool = MemoryPool()


def _allocator() -> Any:
    return getattr(_tls, "allocator", _default_pool.malloc)


@contextlib.contextmanager
def using_allocator(allocator: Any = None):
    prev = getattr(_tls, "allocator", None)
    _tls.allocator = allocator
    try:
        yield
    finally:
        _tls.allocator = prev


class Stream:
    _next = [100]

    def __init__(self, null: bool = False, non_blocking: bool = False, priority: int = 0) -> None:
        self.ptr = 0 if null else Stream._next[0]
        Stream._next[0] += 1
        self._priority = min(0, max(-5, priority))  # CUDA clamps to (least 0, greatest -5)
        self.device_id = _current_device()
        self.synchronized = 0

    @property
    def priority(self) -> int:
        return self._priority

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stream) and other.ptr == self.ptr

    def __hash__(self) -> int:
        return self.ptr

    def __enter__(self) -> "Stream":
        if self.device_id != _current_device():
            raise RuntimeError("stream device does not match the current device")
        stack = getattr(_tls, "streams", None) or []
        stack.append(self)
        _tls.streams = stack
        return self

    def __exit__(self, *exc: Any) -> None:
        _tls.streams.pop()

    def synchronize(self) -> None:
        self.synchronized += 1


_null = Stream(null=True)


def get_current_stream() -> Stream:
    stack = getattr(_tls, "streams", None)
    return stack[-1] if stack else _null


class Event:
    _clock = [0.0]

    def record(self, stream: Stream | None = None) -> None:
        Event._clock[0] += 0.25
        self.t = Event._clock[0]


def get_elapsed_time(start: Event, end: Event) -> float:
    return end.t - start.t


class FakeArray:
    def __init__(self, shape: Any, dtype: Any) -> None:
        n = int(np.prod(shape)) * np.dtype(dtype).itemsize
        self.mem = _allocator()(n)
        self.shape, self.dtype, self.nbytes = shape, np.dtype(dtype), n


def empty(shape: Any, dtype: Any = float) -> FakeArray:
    return FakeArray(shape, dtype)


def make_module() -> types.ModuleType:
    """A module object to put in sys.modules["cupy"]."""
    cupy = types.ModuleType("cupy")
    cuda = types.ModuleType("cupy.cuda")
    runtime = types.SimpleNamespace(
        getDeviceCount=lambda: 1,
        deviceGetStreamPriorityRange=lambda: (0, -5),
        setDevice=lambda i: (_ for _ in ()).throw(CUDARuntimeError("cudaErrorInvalidDevice")),
    )
    cuda.Device = Device
    cuda.MemoryPool = MemoryPool
    cuda.using_allocator = using_allocator
    cuda.Stream = Stream
    cuda.Event = Event
    cuda.get_elapsed_time = get_elapsed_time
    cuda.get_current_stream = get_current_stream
    cuda.runtime = runtime
    cuda.Memory = Memory
    cuda.MemoryPointer = MemoryPointer
    cuda.memory = types.SimpleNamespace(OutOfMemoryError=OutOfMemoryError, UnownedMemory=UnownedMemory)
    cupy.cuda = cuda
    cupy.empty = empty
    cupy.get_default_memory_pool = lambda: _default_pool
    return cupy
