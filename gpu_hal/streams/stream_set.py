"""CUDA streams whose priority follows the job class (simulated: host stand-ins).

The device's (least, greatest) priority range is queried once; `gpu_hal.streams.priority`
maps job classes onto it. Each tenant context gets its own non-blocking stream;
`create` also serves the fallback chain's "retry on a fresh stream".
"""
from __future__ import annotations

import threading
from typing import Any

from gpu_hal import constants as C
from gpu_hal.streams.priority import JobClass, device_priority_range, stream_priority


class SimulatedStream:
    """A stream stand-in for simulated devices: same interface, no CUDA."""

    def __init__(self, priority: int) -> None:
        self.priority = priority

    def synchronize(self) -> None:
        return None

    @property
    def done(self) -> bool:
        return True

    def __enter__(self) -> "SimulatedStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def __repr__(self) -> str:
        return f"SimulatedStream(priority={self.priority})"


class StreamSet:
    """Creates prioritised streams on one device and counts them."""

    def __init__(self, cuda_ordinal: int | None, simulated: bool) -> None:
        self.cuda_ordinal = cuda_ordinal
        self.simulated = simulated
        if simulated:
            self.priority_range: tuple[int, int] = C.SIM_STREAM_PRIORITY_RANGE
            self.range_source = "simulated"
        else:
            assert cuda_ordinal is not None
            self.priority_range, self.range_source = device_priority_range(cuda_ordinal)
        self._lock = threading.Lock()
        self.created = 0

    def priority_for(self, job_class: JobClass) -> int:
        return stream_priority(job_class, self.priority_range)

    def create(self, job_class: JobClass) -> Any:
        """A new non-blocking stream at the job class's priority."""
        priority = self.priority_for(job_class)
        if self.simulated:
            stream: Any = SimulatedStream(priority)
        else:
            import cupy  # noqa: PLC0415 - GPU only

            with cupy.cuda.Device(self.cuda_ordinal):
                stream = cupy.cuda.Stream(non_blocking=True, priority=priority)
        with self._lock:
            self.created += 1
        return stream

    def snapshot(self) -> dict[str, Any]:
        return {
            "priority_range": list(self.priority_range),
            "priority_range_source": self.range_source,
            "priorities": {jc.name: self.priority_for(jc) for jc in JobClass},
            "created": self.created,
        }
