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


class _Memory:
    def __init__(self, pool: "_DevicePool", size: int, stream: int) -> None:
        self.pool, self.size, self.stream = pool, size, stream

    def __del__(self) -> None:
        self.pool._free(self)


class _DevicePool:
    def __init__(self) -> None:
        self.limit = 0
        self.used = 0
        self.free: dict[int, list[int]] = {}  # stream ptr -> cached block sizes
        self.cuda_mallocs = 0

    def total(self) -> int:
        return self.used + sum(sum(v) for v in self.free.values())

    def malloc(self, size: int) -> _Memory:
        size = -(-int(size) // 512) * 512
        stream = get_current_stream().ptr
        cached = self.free.get(stream, [])
        for i, blk in enumerate(cached):
            if blk >= size:
                cached.pop(i)
                if blk > size:
                    cached.append(blk - size)
                self.used += size
                return _Memory(self, size, stream)
        limit = self.limit or (1 << 62)
        if self.total() + size > limit:
            self.free.clear()
            if self.used + size > limit:
                raise OutOfMemoryError(size, self.used, limit)
        self.cuda_mallocs += 1
        self.used += size
        return _Memory(self, size, stream)

    def _free(self, mem: _Memory) -> None:
        self.used -= mem.size
        self.free.setdefault(mem.stream, []).append(mem.size)


class MemoryPool:
    def __init__(self) -> None:
        self._pools: dict[int, _DevicePool] = {}

    def device_pool(self) -> _DevicePool:
        return self._pools.setdefault(_current_device(), _DevicePool())

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
        self.device_pool().free.clear()


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
    cuda.memory = types.SimpleNamespace(OutOfMemoryError=OutOfMemoryError)
    cupy.cuda = cuda
    cupy.empty = empty
    cupy.get_default_memory_pool = lambda: _default_pool
    return cupy
