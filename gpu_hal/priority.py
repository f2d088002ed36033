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


def device_priority_range(ordinal: int) -> tuple[int, int]:
    """The (least, greatest) stream priority range of a CUDA device (needs CuPy)."""
    import cupy  # noqa: PLC0415 - GPU only

    with cupy.cuda.Device(ordinal):
        least, greatest = cupy.cuda.runtime.deviceGetStreamPriorityRange()
    return int(least), int(greatest)
