"""Messages between the coordinator and the workers: frozen, host data only.

Never CuPy arrays: results are NumPy/pandas so that they can cross processes and
be stored. Serialised by Ray between our own processes only (nothing here comes
from a client unchecked).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any

from actors.plans import ChunkSpec


@dataclass(frozen=True)
class WorkItem:
    """One chunk of one job, placed on one worker."""

    job_id: str
    kind: str
    payload: dict
    chunk: ChunkSpec
    job_class: int
    tenant: str
    dataset: str
    dataset_version: str
    tier: str = "primary"
    attempt: int = 0


@dataclass(frozen=True)
class WorkResult:
    """What a worker sends back for a WorkItem."""

    job_id: str
    chunk_index: int
    worker_id: str
    device: str
    backend: str
    simulated: bool
    seconds: float
    result: Any = field(repr=False)
    timings: dict = field(default_factory=dict)  # added along the way (e.g. coordinator_s)


def to_host(obj: Any) -> Any:
    """A copy of a result with every CuPy array moved to NumPy (dataclasses, dicts, tuples)."""
    from kernels.backend import is_gpu_array  # noqa: PLC0415

    if is_gpu_array(obj):
        return obj.get()
    if is_dataclass(obj) and not isinstance(obj, type):
        changes = {f.name: to_host(getattr(obj, f.name)) for f in fields(obj) if f.init}
        return replace(obj, **changes)
    if isinstance(obj, dict):
        return {k: to_host(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_host(v) for v in obj)
    return obj
