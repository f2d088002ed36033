"""Messages between the coordinator and the workers: frozen, host data only.

Never CuPy arrays: results are NumPy/pandas so that they can cross processes and
be stored. Serialised by Ray between our own processes only (nothing here comes
from a client unchecked). On the live path an item and its result each travel as
one `pack`ed blob: Ray passes bytes through untouched, which costs less than its
own serialisation of a dataclass holding dicts and NumPy arrays (~0.3 ms a call).
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from actors.jobs.plans import ChunkSpec

LIVE_JOB_ID = "live"  # the job id of live work items (not journaled, never queued)


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
    # The tenant's memory quota per device (TenantQuota.memory_bytes / memory_fraction); None: the device default.
    memory_bytes: int | None = None
    memory_fraction: float | None = None


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


def pack(message: Any) -> bytes:
    """One message as bytes (pickle, in-band buffers); only for our own processes."""
    return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def unpack(blob: bytes) -> Any:
    """The message of `pack` (never called on bytes that came from a client)."""
    return pickle.loads(blob)  # noqa: S301 - written by `pack` in one of our own actors


_HOST_LEAVES = (str, bytes, int, float, bool, type(None), np.ndarray, np.generic, pd.DataFrame, pd.Series, pd.Index)


def to_host(obj: Any) -> Any:
    """A copy of a result with every CuPy array moved to NumPy (dataclasses, dicts, tuples)."""
    from kernels.backend import is_gpu_array  # noqa: PLC0415

    if isinstance(obj, _HOST_LEAVES):
        return obj
    if is_gpu_array(obj):
        return obj.get()
    if is_dataclass(obj) and not isinstance(obj, type):
        changes = {f.name: to_host(getattr(obj, f.name)) for f in fields(obj) if f.init}
        return replace(obj, **changes)
    if isinstance(obj, dict):
        return {k: to_host(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        if all(isinstance(v, _HOST_LEAVES) for v in obj):  # e.g. symbol names: nothing to move
            return obj
        return type(obj)(to_host(v) for v in obj)
    return obj
