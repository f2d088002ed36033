"""Per-tenant (per-strategy) contexts: a memory pool with a hard limit, a stream at
the job class's priority, counters, and transactional reservations.

A `StrategyContext` owns
  - its own `cupy.cuda.MemoryPool` with `set_limit` called at construction (a
    `SimulatedPool` doing the same accounting on simulated devices);
  - its own non-blocking stream whose priority follows the job class;
  - counters: reserved and peak bytes, pool bytes in use and peak, kernels run,
    device time, refusals, faults.

Work runs inside a `Request` (`with ctx.reserve(nbytes) as req:`): the bytes are
reserved from the device budget atomically (QuotaExceeded if they do not fit the
tenant limit or the budget), the pool is activated only inside
`cupy.cuda.using_allocator(pool.malloc)` (thread-local) with the tenant's stream
current, and the bytes come back on success, failure or cancellation.

One memory truth: every byte a pool takes from the device goes through the pool's
base allocator, which charges the device budget first (`MemoryBudget.grow`) and
gives it back when the pool frees the block (`shrink`), so budget, pools and status
never disagree. An out-of-memory error from the pool (its hard limit hit) becomes
QuotaExceeded for this tenant only; the driver refusing memory, or the budget
spent by other owners, is DeviceOutOfMemory (a DeviceFault: the fallback chain);
any other CUDA error is DeviceFault.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import threading
import time
import weakref
from typing import Any, Callable, Iterator

import numpy as np

from gpu_hal import constants as C
from gpu_hal.memory.budget import MemoryBudget, Reservation
from gpu_hal.errors import (
    Cancelled,
    DeviceFault,
    DeviceOutOfMemory,
    DevicePressure,
    DeviceUnhealthy,
    InvalidName,
    QuotaExceeded,
    UnknownTenant,
)
from gpu_hal.health.faults import FaultInjector
from gpu_hal.health.monitor import HealthMonitor, HealthState
from gpu_hal.memory.idle_trim import IdleTrimmer
from gpu_hal.streams.priority import JobClass
from gpu_hal.streams.stream_set import StreamSet

_NAME_RE = re.compile(C.NAME_PATTERN)
_CUDA_ERRORS = ("CUDARuntimeError", "CUDADriverError", "CUBLASError", "CUSOLVERError", "CURANDError",
                "CUFFTError", "CUSPARSEError", "CUTENSORError", "NVRTCError")

log = logging.getLogger(__name__)


def validate_name(name: str, what: str = "name") -> str:
    """A client-supplied tenant or dataset name: a plain name, never a path."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidName(f"invalid {what} {name!r}: use letters, digits and _ . : @ - (max 128), "
                          f"starting with a letter or digit")
    return name


# ------------------------------------------------------------------ pool backends

class PoolCharges:
    """What a pool reports to the device budget: bytes taken from and given back to
    the device, charged to one owner."""

    __slots__ = ("budget", "owner")

    def __init__(self, budget: MemoryBudget, owner: str) -> None:
        self.budget = budget
        self.owner = owner

    def grow(self, nbytes: int) -> None:
        self.budget.grow(self.owner, nbytes)

    def shrink(self, nbytes: int) -> None:
        self.budget.shrink(self.owner, nbytes)


class _ChargedBlock:
    """Keeps one raw device allocation alive; its bytes go back to the budget when
    the pool drops the last pointer into it."""

    __slots__ = ("mem", "charges", "nbytes")

    def __init__(self, mem: Any, charges: PoolCharges, nbytes: int) -> None:
        self.mem, self.charges, self.nbytes = mem, charges, nbytes

    def __del__(self) -> None:
        self.mem = None  # the device memory is freed first
        try:
            self.charges.shrink(self.nbytes)
        except Exception:  # at interpreter exit the budget may be gone already: nothing left to account
            pass


class SimulatedOutOfMemory(MemoryError):
    """The simulated pool's hard limit was hit (mirrors cupy's OutOfMemoryError)."""

    def __init__(self, size: int, total: int, limit: int) -> None:
        self._size, self._total, self._limit = size, total, limit
        super().__init__(f"Out of memory allocating {size:,} bytes (allocated so far: {total:,} bytes, "
                         f"limit set to: {limit:,} bytes).")


class SimulatedPool:
    """Byte accounting of a caching pool with a hard limit, without CUDA.

    Freed bytes stay cached (counted in `total_bytes`) until `free_all_blocks`;
    like CuPy, a malloc that would pass the limit first drops the cache.
    """

    def __init__(self, limit: int, charges: PoolCharges | None = None) -> None:
        self._lock = threading.Lock()
        self._limit = int(limit)
        self._charges = charges
        self._used = 0
        self._cached = 0
        self._closed = False  # closed: freed bytes go straight back to the device
        self.peak_used = 0

    def set_limit(self, size: int) -> None:
        with self._lock:
            self._limit = int(size)

    def get_limit(self) -> int:
        return self._limit

    def malloc(self, nbytes: int) -> int:
        nbytes = int(nbytes)
        with self._lock:
            if self._used + nbytes > self._limit:
                raise SimulatedOutOfMemory(nbytes, self._used, self._limit)
            if self._used + self._cached + nbytes > self._limit:
                self._drop_cache()
            take = min(self._cached, nbytes)
            if nbytes > take and self._charges is not None:
                self._charges.grow(nbytes - take)  # new bytes from the device
            self._cached -= take
            self._used += nbytes
            self.peak_used = max(self.peak_used, self._used)
            return nbytes

    def free(self, nbytes: int) -> None:
        with self._lock:
            self._used -= int(nbytes)
            self._cached += int(nbytes)
            if self._closed:
                self._drop_cache()

    def close(self) -> None:
        """Give every cached byte back, and every byte freed from now on."""
        with self._lock:
            self._closed = True
            self._drop_cache()

    def used_bytes(self) -> int:
        return self._used

    def total_bytes(self) -> int:
        return self._used + self._cached

    def free_all_blocks(self) -> None:
        with self._lock:
            self._drop_cache()

    def _drop_cache(self) -> None:
        if self._cached and self._charges is not None:
            self._charges.shrink(self._cached)
        self._cached = 0

    def activate(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def empty(self, shape: Any, dtype: Any) -> np.ndarray:
        """A host array whose bytes are charged to this pool until it is freed."""
        dt = np.dtype(dtype)
        n = self.malloc(int(np.prod(shape, dtype=np.int64)) * dt.itemsize)
        try:
            arr = np.empty(shape, dtype=dt)
        except BaseException:
            self.free(n)
            raise
        weakref.finalize(arr, self.free, n)
        return arr


class CupyPool:
    """A `cupy.cuda.MemoryPool` of one device with a hard limit set at construction."""

    def __init__(self, cuda_ordinal: int, limit: int, charges: PoolCharges | None = None) -> None:
        import cupy  # noqa: PLC0415 - GPU only

        self._cp = cupy
        self.ordinal = cuda_ordinal
        self._charges = charges
        self.pool = cupy.cuda.MemoryPool(self._device_malloc) if charges is not None else cupy.cuda.MemoryPool()
        self._limit = int(limit)
        with cupy.cuda.Device(cuda_ordinal):
            # Not thread-safe, so only here. CuPy reads 0 as "no limit": a 0-byte
            # tenant gets 1 byte, which no (512-byte rounded) allocation fits.
            self.pool.set_limit(size=max(1, self._limit))
        self.peak_used = 0

    def _device_malloc(self, nbytes: int) -> Any:
        """The pool's base allocator: charge the budget, then take the bytes from the driver."""
        assert self._charges is not None
        self._charges.grow(nbytes)
        try:
            mem = self._cp.cuda.Memory(nbytes)
        except BaseException as exc:
            self._charges.shrink(nbytes)
            if _is_oom(exc):
                raise DeviceOutOfMemory(f"the driver refused {nbytes:,} bytes on device {self.ordinal}: {exc}") from exc
            raise
        block = _ChargedBlock(mem, self._charges, nbytes)
        return self._cp.cuda.MemoryPointer(self._cp.cuda.memory.UnownedMemory(mem.ptr, nbytes, block), 0)

    def get_limit(self) -> int:
        return self._limit

    def used_bytes(self) -> int:
        with self._cp.cuda.Device(self.ordinal):
            used = int(self.pool.used_bytes())
        self.peak_used = max(self.peak_used, used)
        return used

    def total_bytes(self) -> int:
        with self._cp.cuda.Device(self.ordinal):
            return int(self.pool.total_bytes())

    def free_all_blocks(self) -> None:
        with self._cp.cuda.Device(self.ordinal):
            self.pool.free_all_blocks()

    def close(self) -> None:
        """Give the cached blocks back; blocks still in use come back (and leave the
        budget) when their arrays die and the pool is gone."""
        self.free_all_blocks()

    @contextlib.contextmanager
    def activate(self) -> Iterator[None]:
        """This pool as the thread's allocator on this device (thread-local)."""
        with self._cp.cuda.Device(self.ordinal), self._cp.cuda.using_allocator(self.pool.malloc):
            yield

    def empty(self, shape: Any, dtype: Any) -> Any:
        with self.activate():
            return self._cp.empty(shape, dtype=dtype)

    def prewarm(self, nbytes: int, stream: Any) -> None:
        """Allocate and free `nbytes` on `stream` so the pool keeps them cached.

        CuPy keeps free blocks per stream, so this must be the stream the tenant's
        requests will allocate on.
        """
        with self._cp.cuda.Device(self.ordinal), stream:
            mem = self.pool.malloc(int(nbytes))
            del mem


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, SimulatedOutOfMemory) or (
        type(exc).__name__ == "OutOfMemoryError" and type(exc).__module__.startswith("cupy")
    )


def _is_cuda_error(exc: BaseException) -> bool:
    return type(exc).__name__ in _CUDA_ERRORS and type(exc).__module__.startswith(("cupy", "cupy_backends"))


# ------------------------------------------------------------------ context

_active = threading.local()  # per thread: the stack of requests whose pool is active


def _active_stack() -> list["Request"]:
    stack = getattr(_active, "stack", None)
    if stack is None:
        stack = _active.stack = []
    return stack


_CANCELLATIONS = (Cancelled, GeneratorExit, KeyboardInterrupt, asyncio.CancelledError)


class Request:
    """One transaction in a context: reserved bytes, active pool and stream.

    Use as a context manager (`with ctx.reserve(n) as req`). `cancel()` (from any
    thread) makes the next `run` raise `Cancelled`; bytes always come back.
    """

    def __init__(self, ctx: "StrategyContext", nbytes: int) -> None:
        self.ctx = ctx
        self.nbytes = int(nbytes)
        self.stream: Any = None
        self._reservation: Reservation | None = None
        self._stack: contextlib.ExitStack | None = None
        self._cancel = threading.Event()
        self._preempted: BaseException | None = None  # raised by the next run instead of Cancelled
        self._events: list[tuple[Any, Any]] = []
        self.kernels = 0
        self.device_time_s = 0.0

    # -- lifecycle ---------------------------------------------------------------
    def __enter__(self) -> "Request":
        ctx = self.ctx
        if ctx.closed:
            raise RuntimeError(f"context of tenant {ctx.tenant!r} is closed")
        ctx._check_health()
        if ctx._admits is not None and not ctx._admits(ctx.job_class):
            ctx._count("shed")
            raise DevicePressure(f"device under memory pressure: {ctx.job_class.name} work of tenant "
                                 f"{ctx.tenant!r} is not admitted here now")
        try:
            try:
                self._reservation = ctx._budget.reserve(ctx.tenant, self.nbytes)
            except QuotaExceeded as exc:
                # The device is full: reclaim (idle pools' caches; for REALTIME/HIGH also the memory of
                # running LOW/IDLE requests, which are preempted) and reserve again, or raise.
                if exc.scope != "device" or ctx._reclaim is None:
                    raise
                self._reservation = ctx._reclaim(ctx, self.nbytes)
        except QuotaExceeded:
            ctx._count("refused")
            raise
        ctx._begin()
        try:
            self.stream = ctx.stream
            stack = contextlib.ExitStack()
            try:
                stack.enter_context(ctx.pool.activate())
                stack.enter_context(self.stream)
            except BaseException:
                stack.close()
                raise
            self._stack = stack
            _active_stack().append(self)
            with ctx._lock:
                ctx._requests.add(self)
        except BaseException:
            self._reservation.release()
            ctx._end()
            raise
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        ctx = self.ctx
        sync_error: BaseException | None = None
        try:
            try:
                self.stream.synchronize()  # the work is done before its bytes come back
                self._collect_events()
            except Exception as e:  # a CUDA error surfacing at sync
                sync_error = e
            with ctx._lock:
                ctx._requests.discard(self)
            stack = _active_stack()
            if self in stack:
                stack.remove(self)
            assert self._stack is not None
            self._stack.close()
            self._stack = None
        finally:
            assert self._reservation is not None
            self._reservation.release()
            ctx._end()
        if self._preempted is not None and exc is self._preempted:
            ctx._count("preempted")
            self._preempted = None  # no cycle request -> exception -> traceback -> frames holding arrays
        elif self._cancel.is_set() or isinstance(exc, _CANCELLATIONS):
            ctx._count("cancelled")
        err = exc if exc is not None else sync_error
        if err is None or isinstance(err, _CANCELLATIONS):
            return None
        translated = ctx._translate(err)
        if translated is not None and translated is not err:
            raise translated from err
        if exc is None:  # only the sync failed
            raise err
        return None

    # -- work --------------------------------------------------------------------
    def cancel(self) -> None:
        self._cancel.set()

    def preempt(self, exc: BaseException) -> None:
        """Stop at the next kernel with `exc` (memory pressure), from any thread."""
        self._preempted = exc
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one kernel call in this request (faults, counters, error mapping)."""
        if self._cancel.is_set():
            if self._preempted is not None:
                raise self._preempted
            raise Cancelled(f"request of tenant {self.ctx.tenant!r} was cancelled")
        return self.ctx._launch(self, fn, args, kwargs)

    launch = run

    def _collect_events(self) -> None:
        if not self._events:
            return
        import cupy  # noqa: PLC0415 - only real devices record events

        total_ms = 0.0
        for start, end in self._events:
            total_ms += float(cupy.cuda.get_elapsed_time(start, end))
        self._events.clear()
        self.device_time_s += total_ms / 1000.0
        self.ctx._add_device_time(total_ms / 1000.0)


class StrategyContext:
    """One tenant's pool, stream and counters on one device."""

    def __init__(
        self,
        tenant: str,
        job_class: JobClass,
        limit_bytes: int,
        *,
        budget: MemoryBudget,
        streams: StreamSet,
        cuda_ordinal: int | None,
        simulated: bool,
        faults: FaultInjector | None = None,
        health: HealthMonitor | None = None,
        trim_idle: bool = True,
        trimmer: IdleTrimmer | None = None,
        admits: Callable[[JobClass], bool] | None = None,
        reclaim: Callable[["StrategyContext", int], Reservation] | None = None,
    ) -> None:
        self.tenant = tenant
        self.job_class = JobClass.parse(job_class)
        self.limit_bytes = int(limit_bytes)
        self.simulated = simulated
        self.backend = "cpu" if simulated else "gpu"
        self._budget = budget
        self._streams = streams
        self._faults = faults
        self._health = health
        self._trim_idle = trim_idle
        self._trimmer = trimmer  # None: trim as soon as the pool is idle
        self._admits = admits  # the device's memory-pressure admission (None: always)
        self._reclaim = reclaim  # when the device is full: frees memory for this context, reserves, or raises
        self._requests: set[Request] = set()  # open requests (preempted under memory pressure)
        self._lock = threading.Lock()
        self._active = 0
        self.closed = False
        self.floor_bytes = 0
        self._c = {"requests": 0, "refused": 0, "kernels": 0, "faults": 0, "cancelled": 0, "oom": 0,
                   "trims": 0, "shed": 0, "preempted": 0}
        self._device_time_s = 0.0
        budget.register(tenant, self.limit_bytes)
        charges = PoolCharges(budget, tenant)
        self.pool: Any = (SimulatedPool(self.limit_bytes, charges) if simulated
                          else CupyPool(cuda_ordinal, self.limit_bytes, charges))  # type: ignore[arg-type]
        try:
            self.stream = streams.create(self.job_class)
        except BaseException:
            budget.unregister(tenant)
            raise
        self._priority = streams.priority_for(self.job_class)

    # -- public API ----------------------------------------------------------------
    def reserve(self, nbytes: int = 0) -> Request:
        """A transaction of `nbytes`: `with ctx.reserve(n) as req: req.run(fn, ...)`."""
        return Request(self, nbytes)

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run `fn(*args, **kwargs)` as one kernel in this context.

        Inside an active request of this context on this thread it runs there;
        otherwise in a zero-byte request of its own (pool and stream active).
        """
        for req in reversed(_active_stack()):
            if req.ctx is self:
                return req.run(fn, *args, **kwargs)
        with self.reserve(0) as req:
            return req.run(fn, *args, **kwargs)

    launch = run

    def empty(self, shape: Any, dtype: Any = np.float64) -> Any:
        """An uninitialised array allocated from this context's pool."""
        try:
            return self.pool.empty(shape, dtype)
        except BaseException as exc:
            translated = self._translate(exc)
            if translated is not None and translated is not exc:
                raise translated from exc
            raise

    def hold(self, nbytes: int) -> Reservation:
        """A long-lived reservation of this context's bytes (preloaded data); the
        caller releases it."""
        return self._budget.reserve(self.tenant, nbytes)

    def allocating(self) -> contextlib.AbstractContextManager:
        """This context's pool as the thread's allocator, without a request (for
        long-lived data whose bytes are held with `hold`)."""
        return self.pool.activate()

    def prewarm(self, nbytes: int) -> None:
        """Keep `nbytes` allocated in the pool, guaranteed (charged) in the budget."""
        nbytes = min(int(nbytes), self.limit_bytes)
        self._budget.set_floor(self.tenant, nbytes)
        self.floor_bytes = nbytes
        if nbytes:
            self._fill_floor()

    def set_limit(self, limit_bytes: int) -> bool:
        """A new memory limit (the tenant's quota changed), applied while no request runs;
        returns whether it was applied (else the next idle moment will)."""
        limit = min(int(limit_bytes), self._budget.budget)
        if limit < 0:
            raise ValueError(f"limit_bytes must be >= 0, got {limit_bytes}")
        with self._lock:
            if self._active or self.closed:
                return False
            self._budget.set_limit(self.tenant, limit)
            self.pool.set_limit(limit)
            self.limit_bytes = limit
        return True

    def set_job_class(self, job_class: JobClass | str) -> None:
        """Follow a new job class: new requests use a stream at its priority."""
        jc = JobClass.parse(job_class)
        if jc != self.job_class:
            self.stream = self._streams.create(jc)
            self.job_class = jc
            self._priority = self._streams.priority_for(jc)
            self._refill_for_new_stream()

    def renew_stream(self) -> Any:
        """A fresh stream at the same priority (the fallback chain's first tier)."""
        self.stream = self._streams.create(self.job_class)
        self._refill_for_new_stream()
        return self.stream

    @property
    def stream_priority(self) -> int:
        """The CUDA priority this context's stream was created with."""
        return self._priority

    @property
    def active_requests(self) -> int:
        return self._active

    def counters(self) -> dict[str, Any]:
        figures = self._budget.owner_figures(self.tenant) if self._budget.has_owner(self.tenant) else {}
        with self._lock:
            c = dict(self._c)
            device_time = self._device_time_s
            active = self._active
        used = self.pool.used_bytes()
        return {
            "tenant": self.tenant,
            "job_class": self.job_class.name,
            "stream_priority": self.stream_priority,
            "backend": self.backend,
            "simulated": self.simulated,
            "limit_bytes": self.limit_bytes,
            "floor_bytes": self.floor_bytes,
            "reserved_bytes": figures.get("reserved", 0),
            "peak_reserved_bytes": figures.get("peak_reserved", 0),
            "available_bytes": figures.get("available", 0),
            "pool_used_bytes": used,
            "pool_total_bytes": self.pool.total_bytes(),
            "peak_pool_used_bytes": max(self.pool.peak_used, used),
            "active_requests": active,
            "device_time_s": device_time,
            **c,
        }

    def close(self) -> None:
        """Free the pool and give the floor back; refused while requests run."""
        with self._lock:
            if self.closed:
                return
            if self._active:
                raise RuntimeError(f"tenant {self.tenant!r} has {self._active} active request(s)")
            self.closed = True
        if self._trimmer is not None:
            self._trimmer.busy(self)
        self.pool.close()
        self._budget.unregister(self.tenant)

    # -- internals -----------------------------------------------------------------
    def _check_health(self) -> None:
        if self._health is not None:
            report = self._health.report
            if report.state is HealthState.FAILED:
                raise DeviceUnhealthy(f"device is FAILED: {'; '.join(report.reasons)}")

    def _launch(self, req: Request, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        self._check_health()
        try:
            if self._faults is not None:
                try:
                    self._faults.before_kernel(self.tenant)
                except DeviceFault:
                    self._count("faults")
                    raise
            if self.simulated:
                t0 = time.perf_counter()
                out = fn(*args, **kwargs)
                dt = time.perf_counter() - t0
                req.device_time_s += dt
                self._add_device_time(dt)
            else:
                import cupy  # noqa: PLC0415

                start, end = cupy.cuda.Event(), cupy.cuda.Event()
                start.record(req.stream)
                out = fn(*args, **kwargs)
                end.record(req.stream)
                req._events.append((start, end))
                self.pool.used_bytes()  # samples the peak (CuPy pools keep no high-water mark)
            req.kernels += 1
            self._count("kernels")
            return out
        except (Cancelled, DeviceFault, QuotaExceeded):
            raise
        except Exception as exc:
            translated = self._translate(exc)
            if translated is not None and translated is not exc:
                raise translated from exc
            raise

    def _translate(self, exc: BaseException) -> BaseException | None:
        """QuotaExceeded for a pool OOM, DeviceFault for a CUDA error, else None."""
        if isinstance(exc, DeviceOutOfMemory):
            if not getattr(exc, "_counted", False):  # it passes here more than once on its way out
                exc._counted = True  # type: ignore[attr-defined]
                self._count("oom")
            return exc
        if isinstance(exc, (QuotaExceeded, DeviceFault)):
            return exc
        if _is_oom(exc):
            self._count("oom")
            asked = int(getattr(exc, "_size", 0))
            limit = self.pool.get_limit()
            available = limit - self.pool.used_bytes()
            return QuotaExceeded(self.tenant, asked, available, "tenant",
                                 f"pool limit {limit:,} bytes reached ({exc})")
        if _is_cuda_error(exc):
            self._count("faults")
            return DeviceFault(f"CUDA error in tenant {self.tenant!r}: {exc}")
        return None

    def _begin(self) -> None:
        with self._lock:
            self._active += 1
            self._c["requests"] += 1
        if self._trimmer is not None:
            self._trimmer.busy(self)

    def _end(self) -> None:
        with self._lock:
            self._active -= 1
            idle = self._active == 0
        if idle and self._trim_idle and not self.closed:
            if self._trimmer is None:
                self._trim()
            else:
                self._trimmer.idle(self)

    def preempt_requests(self, exc: BaseException) -> int:
        """Make every open request stop at its next kernel with `exc`; returns how many."""
        with self._lock:
            requests = list(self._requests)
        for req in requests:
            req.preempt(exc)
        return len(requests)

    def trim_if_idle(self) -> None:
        """Trim now if no request runs (the delayed trim of `IdleTrimmer`)."""
        with self._lock:
            if self._active or self.closed:
                return
        self._trim()

    def _trim(self) -> None:
        """An idle pool keeps only its prewarmed floor cached (what the budget charges)."""
        try:
            if self.pool.total_bytes() > self.floor_bytes:
                self.pool.free_all_blocks()
                with self._lock:
                    self._c["trims"] += 1
                if self.floor_bytes:
                    self._fill_floor()
        except Exception:  # trimming is best effort
            pass

    def _fill_floor(self) -> None:
        if self.simulated:
            n = self.pool.malloc(self.floor_bytes)
            self.pool.free(n)
        else:
            self.pool.prewarm(self.floor_bytes, self.stream)

    def _refill_for_new_stream(self) -> None:
        # CuPy caches free blocks per stream: move the prewarmed floor to the new one.
        if self.floor_bytes and not self._active:
            try:
                self.pool.free_all_blocks()
                self._fill_floor()
            except Exception:  # best effort; the next request allocates as usual
                pass

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._c[key] += n

    def _add_device_time(self, seconds: float) -> None:
        with self._lock:
            self._device_time_s += seconds


class TenantPools:
    """The StrategyContexts of one device, by tenant (thread-safe registry)."""

    def __init__(
        self,
        budget: MemoryBudget,
        streams: StreamSet,
        *,
        cuda_ordinal: int | None,
        simulated: bool,
        default_limit: int,
        faults: FaultInjector | None = None,
        health: HealthMonitor | None = None,
        trim_idle: bool = True,
        trim_idle_after_s: float = 0.0,
        admits: Callable[[JobClass], bool] | None = None,
        reclaim_wait_s: float = 0.0,
        reclaim_poll_s: float = 0.005,
    ) -> None:
        self._budget = budget
        self._admits = admits
        self._reclaim_wait_s = float(reclaim_wait_s)
        self._reclaim_poll_s = float(reclaim_poll_s)
        self._streams = streams
        self._ordinal = cuda_ordinal
        self._simulated = simulated
        self.default_limit = int(default_limit)
        self._faults = faults
        self._health = health
        self._trim_idle = trim_idle
        # Pools are trimmed `trim_idle_after_s` after they go idle (0: at once), by one thread per device.
        self._trimmer = IdleTrimmer(trim_idle_after_s) if trim_idle and trim_idle_after_s > 0 else None
        self._lock = threading.Lock()
        self._contexts: dict[str, StrategyContext] = {}
        # Droppable holdings outside requests (a worker's cached job data): called by reclaim_for
        # with the classes whose holdings may go; each returns the bytes it gave back.
        self._reclaimers: list[Callable[[frozenset[JobClass]], int]] = []

    def create(self, tenant: str, job_class: JobClass | str = JobClass.NORMAL, limit_bytes: int | None = None,
               *, system: bool = False) -> StrategyContext:
        """A new context; its pool limit is `limit_bytes` or the default, capped by the budget."""
        if not system:
            validate_name(tenant, "tenant")
        limit = self.default_limit if limit_bytes is None else int(limit_bytes)
        if limit < 0:
            raise ValueError(f"limit_bytes must be >= 0, got {limit}")
        limit = min(limit, self._budget.budget)
        with self._lock:
            if tenant in self._contexts:
                raise ValueError(f"tenant {tenant!r} already has a context")
            ctx = StrategyContext(
                tenant, JobClass.parse(job_class), limit, budget=self._budget, streams=self._streams,
                cuda_ordinal=self._ordinal, simulated=self._simulated,
                faults=None if system else self._faults,  # injected faults hit tenants' work only
                health=self._health, trim_idle=self._trim_idle, trimmer=self._trimmer,
                admits=None if system else self._admits,  # system contexts (datasets, warm-up) are never shed
                reclaim=self.reclaim_for,
            )
            self._contexts[tenant] = ctx
            return ctx

    def ensure(self, tenant: str, job_class: JobClass | str = JobClass.NORMAL,
               limit_bytes: int | None = None) -> StrategyContext:
        """The tenant's context (created if needed), following `job_class`."""
        with self._lock:
            ctx = self._contexts.get(tenant)
        if ctx is None:
            try:
                return self.create(tenant, job_class, limit_bytes)
            except ValueError:
                with self._lock:
                    ctx = self._contexts.get(tenant)
                if ctx is None:
                    raise
        ctx.set_job_class(job_class)
        return ctx

    def get(self, tenant: str) -> StrategyContext:
        with self._lock:
            try:
                return self._contexts[tenant]
            except KeyError:
                raise UnknownTenant(f"no context for tenant {tenant!r}") from None

    def close(self, tenant: str) -> None:
        with self._lock:
            ctx = self._contexts.get(tenant)
        if ctx is None:
            return
        ctx.close()
        with self._lock:
            self._contexts.pop(tenant, None)

    def close_all(self) -> None:
        for tenant in self.tenants():
            try:
                self.close(tenant)
            except RuntimeError:
                pass

    def tenants(self) -> list[str]:
        with self._lock:
            return list(self._contexts)

    def reclaim_for(self, ctx: StrategyContext, nbytes: int) -> Reservation:
        """Memory for a request that did not fit the device budget: idle pools give their caches
        back; for a protected class (REALTIME, HIGH) the open LOW/IDLE requests are preempted too
        and it waits up to `reclaim_wait_s` for their memory. Returns the reservation, or raises
        the last QuotaExceeded."""
        from gpu_hal.memory.pressure import PROTECTED, SHEDDABLE  # noqa: PLC0415 - pressure builds on pools
        from gpu_hal.errors import DevicePressure  # noqa: PLC0415

        protected = ctx.job_class in PROTECTED

        def preempt() -> int:
            if not protected:
                return 0
            return self.preempt_classes(SHEDDABLE, lambda tenant: DevicePressure(
                f"preempted: tenant {ctx.tenant!r} ({ctx.job_class.name}) needs {nbytes:,} bytes that "
                f"LOW/IDLE work of tenant {tenant!r} holds"))

        preempted = preempt()
        if protected:
            self.drop_holdings(SHEDDABLE)
        self.reclaim_idle()
        try:
            return self._budget.reserve(ctx.tenant, nbytes)
        except QuotaExceeded as exc:
            if ctx.job_class in SHEDDABLE and exc.scope == "device":
                # The device is full of other work, not this LOW job's fault: shed it down the
                # fallback chain (another device, the CPU, or this one later) instead of failing it.
                raise DevicePressure(f"shed: tenant {ctx.tenant!r} ({ctx.job_class.name}) needs {nbytes:,} "
                                     f"bytes and the device budget is full ({exc})") from exc
            # A LOW request (or cached LOW data) may have come between the first look and the
            # reservation: look again.
            preempted += preempt()
            if protected:
                self.drop_holdings(SHEDDABLE)
            # Nothing will let go (waiting would not help) unless LOW/IDLE work holds reservations: a
            # request between its reservation and its start is preempted by the next look.
            if not preempted and not (protected and self._sheddable_reserved(SHEDDABLE)):
                raise
        deadline = time.monotonic() + self._reclaim_wait_s
        while True:  # the preempted requests stop at their next kernel; their pools go idle and are trimmed
            time.sleep(self._reclaim_poll_s)
            preempt()  # and LOW requests opened meanwhile (a sweep's next chunk) yield too
            self.trim_idle()
            try:
                return self._budget.reserve(ctx.tenant, nbytes)
            except QuotaExceeded:
                if time.monotonic() >= deadline:
                    raise

    def _sheddable_reserved(self, classes: frozenset[JobClass]) -> bool:
        with self._lock:
            contexts = [c for c in self._contexts.values() if c.job_class in classes]
        return any(self._budget.owner_figures(c.tenant)["reserved"] > 0 for c in contexts)

    def add_reclaimer(self, reclaimer: Callable[[frozenset[JobClass]], int]) -> None:
        """Register droppable holdings (e.g. a worker's cached job data, held with `hold`): when a
        REALTIME/HIGH request does not fit, `reclaimer(SHEDDABLE)` drops those of LOW/IDLE jobs and
        returns the bytes it gave back."""
        with self._lock:
            self._reclaimers.append(reclaimer)

    def drop_holdings(self, classes: frozenset[JobClass]) -> int:
        """Ask every registered reclaimer to drop the holdings of `classes`; the bytes given back."""
        with self._lock:
            reclaimers = list(self._reclaimers)
        freed = 0
        for reclaimer in reclaimers:
            try:
                freed += int(reclaimer(classes))
            except Exception:  # a cache that cannot let go must not fail the request that asked
                log.exception("reclaimer %r failed", reclaimer)
        return freed

    def reclaim_idle(self) -> int:
        """Trim every idle pool now; returns the bytes that came back to the device."""
        before = self._budget.charged
        gc.collect(1)  # arrays of finished work that only a (young) reference cycle still keeps alive
        self.trim_idle()
        return max(0, before - self._budget.charged)

    def trim_idle(self) -> int:
        """Trim every idle pool now (memory pressure); returns how many were idle."""
        with self._lock:
            contexts = list(self._contexts.values())
        idle = [ctx for ctx in contexts if not ctx.active_requests]
        for ctx in idle:
            ctx.trim_if_idle()
        return len(idle)

    def preempt_classes(self, classes: frozenset[JobClass], exc_for: Callable[[str], BaseException]) -> int:
        """Preempt the open requests of contexts whose class is in `classes`; returns how many."""
        with self._lock:
            contexts = list(self._contexts.values())
        return sum(ctx.preempt_requests(exc_for(ctx.tenant)) for ctx in contexts if ctx.job_class in classes)

    def __contains__(self, tenant: str) -> bool:
        with self._lock:
            return tenant in self._contexts

    def __len__(self) -> int:
        with self._lock:
            return len(self._contexts)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            contexts = list(self._contexts.values())
        return {ctx.tenant: ctx.counters() for ctx in contexts}
