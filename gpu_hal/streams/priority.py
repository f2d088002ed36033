"""Job classes and their CUDA stream priorities: the only place with named levels.

Classes, highest first: REALTIME (live trading), HIGH, NORMAL, LOW (research
backtests and sweeps), IDLE. The integer values sort highest first (REALTIME is 0),
so `sorted(classes)` is the service order.

In CUDA (and CuPy) a LOWER stream priority number is a HIGHER priority; the device
reports its range as (least, greatest), e.g. (0, -5). REALTIME gets the greatest
priority, IDLE the least, the others spread evenly in between.
"""
from __future__ import annotations

import enum


class JobClass(enum.IntEnum):
    """Priority class of a job (lower value = served first)."""

    REALTIME = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3
    IDLE = 4

    @classmethod
    def parse(cls, value: "JobClass | str | int") -> "JobClass":
        """Accept a JobClass, its name (any case) or its value."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls[value.strip().upper()]
            except KeyError:
                raise ValueError(f"unknown job class {value!r}; classes are {[c.name for c in cls]}") from None
        return cls(int(value))


def stream_priority(job_class: JobClass | str | int, priority_range: tuple[int, int]) -> int:
    """CUDA stream priority for a job class, given the device's (least, greatest) range."""
    jc = JobClass.parse(job_class)
    least, greatest = int(priority_range[0]), int(priority_range[1])
    span = least - greatest  # >= 0: number of steps from highest to lowest priority
    if span <= 0:
        return least
    rank = int(jc) / (len(JobClass) - 1)  # 0 for REALTIME .. 1 for IDLE
    return greatest + int(round(rank * span))


def device_priority_range(ordinal: int) -> tuple[tuple[int, int], str]:
    """The (least, greatest) stream priority range of a CUDA device, and where it
    came from (needs CuPy).

    CuPy does not bind cudaDeviceGetStreamPriorityRange in every version, so this
    tries, in order: the runtime binding, the driver's cuCtxGetStreamPriorityRange
    for the device's primary context (through ctypes), and a probe of CUDA's
    clamping of out-of-range priorities. If all fail, the usual range of recent
    NVIDIA GPUs is assumed; CUDA clamps requests outside the real range anyway.
    """
    import cupy  # noqa: PLC0415 - GPU only

    runtime = cupy.cuda.runtime
    with cupy.cuda.Device(ordinal):
        fn = getattr(runtime, "deviceGetStreamPriorityRange", None)
        if fn is not None:
            least, greatest = fn()
            return (int(least), int(greatest)), "cudaDeviceGetStreamPriorityRange"
        probe = cupy.cuda.Stream(non_blocking=True)  # makes the primary context current here
        try:
            return _driver_priority_range(), "cuCtxGetStreamPriorityRange"
        except Exception:
            pass
        lo = stream_priority_of(cupy.cuda.Stream(non_blocking=True, priority=_PROBE))
        hi = stream_priority_of(cupy.cuda.Stream(non_blocking=True, priority=-_PROBE))
        del probe
        if lo is not None and hi is not None:
            return (lo, hi), "clamping probe"
    return ASSUMED_PRIORITY_RANGE, "assumed"


ASSUMED_PRIORITY_RANGE = (0, -5)  # (least, greatest) on recent NVIDIA GPUs
_PROBE = 1 << 16


def _driver_priority_range() -> tuple[int, int]:
    import ctypes  # noqa: PLC0415
    import ctypes.util  # noqa: PLC0415

    name = ctypes.util.find_library("cuda") or "libcuda.so.1"
    lib = ctypes.CDLL(name)
    least, greatest = ctypes.c_int(), ctypes.c_int()
    rc = lib.cuCtxGetStreamPriorityRange(ctypes.byref(least), ctypes.byref(greatest))
    if rc != 0:
        raise RuntimeError(f"cuCtxGetStreamPriorityRange returned {rc}")
    return int(least.value), int(greatest.value)


def stream_priority_of(stream: object) -> int | None:
    """The priority CUDA reports for a CuPy stream, or None if CuPy cannot say."""
    try:
        return int(stream.priority)  # type: ignore[attr-defined]
    except Exception:
        pass
    try:
        import cupy  # noqa: PLC0415

        return int(cupy.cuda.runtime.streamGetPriority(stream.ptr))  # type: ignore[attr-defined]
    except Exception:
        return None
