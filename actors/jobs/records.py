"""Jobs as data: what was asked (`JobSpec`), and what the service knows (`JobRecord`).

Both are plain, picklable host data (no arrays, no Ray), so they travel between
actors and into the journal unchanged. A spec's payload is normalised to strict
JSON at construction: what the journal stores, the cache hashes and a worker
receives are the same thing. Job ids are uuid4 hex strings and are validated
before they are used for anything (client strings never become paths).
"""
from __future__ import annotations

import dataclasses
import enum
import json
import math
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from actors.config import ERROR_MAX_CHARS, SPEC_MAX_BYTES
from gpu_hal.streams.priority import JobClass

JOB_ID_PATTERN = re.compile(r"[0-9a-f]{32}")


class InvalidJobId(ValueError):
    """A job id that is not 32 lowercase hexadecimal characters."""


class InvalidJobSpec(ValueError):
    """A job spec whose kind is unknown or whose payload is not bounded strict JSON."""


class InvalidTransition(ValueError):
    """A state change that the job lifecycle does not allow (e.g. out of a terminal state)."""


class JobState(str, enum.Enum):
    """Lifecycle of a job. SUCCEEDED, FAILED and CANCELLED are terminal."""

    QUEUED = "queued"
    RUNNING = "running"
    PREEMPTED = "preempted"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL

    @classmethod
    def parse(cls, value: "JobState | str") -> "JobState":
        """Accept a JobState, its value or its name (any case)."""
        if isinstance(value, cls):
            return value
        text = str(value).strip().lower()
        try:
            return cls(text)
        except ValueError:
            raise ValueError(f"unknown job state {value!r}; states are {[s.value for s in cls]}") from None


_TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})

# Allowed state changes. RUNNING -> QUEUED is a job sent back to the queue (a fault
# with no capacity left right now, or recovery after a coordinator restart);
# PREEMPTED jobs wait in the queue until they run again.
_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED, JobState.FAILED, JobState.SUCCEEDED}),
    JobState.RUNNING: frozenset(
        {JobState.PREEMPTED, JobState.QUEUED, JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}
    ),
    JobState.PREEMPTED: frozenset({JobState.RUNNING, JobState.QUEUED, JobState.CANCELLED, JobState.FAILED}),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}


class JobKind(str, enum.Enum):
    """What a job computes."""

    BACKTEST = "backtest"
    SWEEP = "sweep"
    WALK_FORWARD = "walk_forward"
    FEATURES = "features"
    TRAIN = "train"
    PREDICT = "predict"

    @classmethod
    def parse(cls, value: "JobKind | str") -> "JobKind":
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise InvalidJobSpec(f"unknown job kind {value!r}; kinds are {[k.value for k in cls]}") from None


class Tier(str, enum.Enum):
    """Which level of the fallback chain served (or serves) a job, best first."""

    PRIMARY = "primary"
    SAME_DEVICE = "same_device"  # a fresh stream on the device that faulted
    OTHER_GPU = "other_gpu"
    CPU = "cpu"

    @property
    def rank(self) -> int:
        """0 for PRIMARY .. 3 for CPU: the chain only moves to higher ranks."""
        return _TIER_ORDER.index(self)


_TIER_ORDER = (Tier.PRIMARY, Tier.SAME_DEVICE, Tier.OTHER_GPU, Tier.CPU)


# --- job ids --------------------------------------------------------------------------


def new_job_id() -> str:
    """A fresh job id: uuid4 as 32 lowercase hex characters."""
    return uuid.uuid4().hex


def validate_job_id(job_id: Any) -> str:
    """Return `job_id` if it is exactly 32 lowercase hex characters, else raise InvalidJobId."""
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.fullmatch(job_id):
        shown = job_id if isinstance(job_id, str) and len(job_id) <= 64 else type(job_id).__name__
        raise InvalidJobId(f"invalid job id {shown!r}: expected 32 lowercase hex characters")
    return job_id


# --- spec -------------------------------------------------------------------------------


def _to_json_value(value: Any, where: str) -> Any:
    """Strict-JSON copy of `value`: str keys, finite floats, lists for sequences.

    NumPy scalars and arrays become Python numbers and lists, so a grid built with
    `np.arange` is accepted.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if not math.isfinite(f):
            raise InvalidJobSpec(f"payload{where}: {f} is not a finite number")
        return f
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidJobSpec(f"payload{where}: keys must be strings, got {k!r}")
            out[k] = _to_json_value(v, f"{where}.{k}")
        return out
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise InvalidJobSpec(f"payload{where}: object arrays are not accepted")
        return _to_json_value(value.tolist(), where)
    if isinstance(value, (list, tuple)):
        return [_to_json_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise InvalidJobSpec(f"payload{where}: {type(value).__name__} is not JSON-serialisable")


def canonical_json(value: Any) -> str:
    """Compact, key-sorted strict JSON: equal data gives equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


@dataclass(frozen=True)
class JobSpec:
    """What a client asked for: a kind and a JSON payload (dataset, strategy, params...).

    The payload is normalised at construction (numpy values -> Python, tuples ->
    lists) and must be strict JSON no larger than `max_bytes` (default
    `SPEC_MAX_BYTES`) once encoded. Treat `payload` as read-only.
    """

    kind: JobKind
    payload: Mapping[str, Any] = field(default_factory=dict)
    max_bytes: dataclasses.InitVar[int] = SPEC_MAX_BYTES
    _canonical: str = field(init=False, repr=False, compare=False)

    def __post_init__(self, max_bytes: int) -> None:
        object.__setattr__(self, "kind", JobKind.parse(self.kind))
        if not isinstance(self.payload, Mapping):
            raise InvalidJobSpec(f"payload must be a mapping, got {type(self.payload).__name__}")
        payload = _to_json_value(self.payload, "")
        object.__setattr__(self, "payload", payload)
        text = canonical_json({"kind": self.kind.value, "payload": payload})
        limit = min(int(max_bytes), SPEC_MAX_BYTES)
        if len(text) > limit:
            raise InvalidJobSpec(f"job spec is {len(text)} bytes as JSON; the limit is {limit}")
        object.__setattr__(self, "_canonical", text)

    def __hash__(self) -> int:
        return hash(self._canonical)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, JobSpec):
            return NotImplemented
        return self._canonical == other._canonical

    def to_json(self) -> str:
        """Canonical JSON text: {"kind": ..., "payload": {...}} with sorted keys."""
        return self._canonical

    def to_dict(self) -> dict:
        return {"kind": self.kind.value, "payload": json.loads(self._canonical)["payload"]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], max_bytes: int = SPEC_MAX_BYTES) -> "JobSpec":
        if not isinstance(data, Mapping) or "kind" not in data:
            raise InvalidJobSpec("a job spec needs a 'kind' and a 'payload'")
        unknown = set(data) - {"kind", "payload"}
        if unknown:
            raise InvalidJobSpec(f"unknown job spec fields {sorted(unknown)}")
        return cls(data["kind"], data.get("payload", {}), max_bytes)

    @classmethod
    def from_json(cls, text: str | bytes, max_bytes: int = SPEC_MAX_BYTES) -> "JobSpec":
        """Parse a spec, refusing text over `max_bytes` before decoding it."""
        limit = min(int(max_bytes), SPEC_MAX_BYTES)
        if len(text) > limit:
            raise InvalidJobSpec(f"job spec is {len(text)} bytes; the limit is {limit}")
        try:
            data = json.loads(text)
        except (ValueError, TypeError) as exc:
            raise InvalidJobSpec(f"job spec is not valid JSON: {exc}") from None
        return cls.from_dict(data, max_bytes)


# --- record ------------------------------------------------------------------------------


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class JobRecord:
    """Everything the service knows about one job; immutable, changed with `replace`.

    Timestamps are wall-clock seconds since the epoch (`time.time()`), so they mean
    the same thing after a restart. `device` is a label such as "gpu:0" or "cpu";
    `worker_id` names the worker that runs (or ran) it; `tier` is the fallback tier
    that served it; `cache_key` is set when the result may be reused;
    `result_path` is the stored result's location (internal, not public).
    """

    job_id: str
    spec: JobSpec
    job_class: JobClass
    tenant: str
    state: JobState = JobState.QUEUED
    submitted_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    chunks_done: int = 0
    chunks_total: int | None = None
    device: str | None = None
    worker_id: str | None = None
    tier: Tier | None = None
    error: str | None = None
    cache_key: str | None = None
    cache_hit: bool = False
    attempts: int = 0
    result_path: str | None = None
    updated_at: float | None = None

    def __post_init__(self) -> None:
        validate_job_id(self.job_id)
        if not isinstance(self.spec, JobSpec):
            raise TypeError(f"spec must be a JobSpec, got {type(self.spec).__name__}")
        object.__setattr__(self, "job_class", JobClass.parse(self.job_class))
        object.__setattr__(self, "state", JobState.parse(self.state))
        if self.tier is not None:
            object.__setattr__(self, "tier", Tier(self.tier))
        if not isinstance(self.tenant, str) or not self.tenant:
            raise ValueError("tenant must be a non-empty string")
        if self.chunks_done < 0 or (self.chunks_total is not None and self.chunks_total < 0):
            raise ValueError("chunk counts must be >= 0")
        if self.error is not None and len(self.error) > ERROR_MAX_CHARS:
            object.__setattr__(self, "error", self.error[: ERROR_MAX_CHARS - 3] + "...")

    @classmethod
    def new(
        cls, spec: JobSpec, job_class: JobClass | str | int, tenant: str, *, now: float | None = None
    ) -> "JobRecord":
        """A freshly submitted, QUEUED job with a new id."""
        at = time.time() if now is None else now
        return cls(new_job_id(), spec, JobClass.parse(job_class), tenant, submitted_at=at, updated_at=at)

    def replace(self, **changes: Any) -> "JobRecord":
        """A copy with some fields changed (no lifecycle checks: see `transition`)."""
        return dataclasses.replace(self, **changes)

    def transition(self, state: JobState | str, *, now: float | None = None, **changes: Any) -> "JobRecord":
        """A copy in `state`, checking the lifecycle and stamping the timestamps.

        RUNNING sets `started_at` the first time; a terminal state sets
        `finished_at`. Raises InvalidTransition for a change the lifecycle forbids.
        """
        new = JobState.parse(state)
        if new not in _TRANSITIONS[self.state]:
            raise InvalidTransition(f"job {self.job_id}: cannot go from {self.state.value} to {new.value}")
        at = time.time() if now is None else now
        if new is JobState.RUNNING and self.started_at is None:
            changes.setdefault("started_at", at)
        if new.terminal:
            changes.setdefault("finished_at", at)
        return dataclasses.replace(self, state=new, updated_at=at, **changes)

    @property
    def progress(self) -> float | None:
        """Fraction of chunks done, or None while the job has not been planned."""
        if not self.chunks_total:
            return 1.0 if self.state is JobState.SUCCEEDED else None
        return min(1.0, self.chunks_done / self.chunks_total)

    def timings(self, now: float | None = None) -> dict[str, float | None]:
        """Seconds queued before the first start, running since then, and in total."""
        at = time.time() if now is None else now
        end = self.finished_at if self.finished_at is not None else at
        queued = (self.started_at if self.started_at is not None else end) - self.submitted_at
        running = None if self.started_at is None else end - self.started_at
        return {"queued_s": max(0.0, queued), "running_s": running, "total_s": max(0.0, end - self.submitted_at)}

    def to_public(self, now: float | None = None) -> dict[str, Any]:
        """The status response: JSON-able, without internal paths or the payload."""
        return {
            "job_id": self.job_id,
            "kind": self.spec.kind.value,
            "priority": self.job_class.name,
            "tenant": self.tenant,
            "state": self.state.value,
            "submitted_at": self.submitted_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "progress": {
                "chunks_done": self.chunks_done,
                "chunks_total": self.chunks_total,
                "fraction": self.progress,
            },
            "device": self.device,
            "tier": None if self.tier is None else self.tier.value,
            "attempts": self.attempts,
            "cache_hit": self.cache_hit,
            "error": self.error,
            "timings": self.timings(now),
        }

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON-able data (what the journal stores)."""
        return {
            "job_id": self.job_id,
            "spec": self.spec.to_dict(),
            "job_class": self.job_class.name,
            "tenant": self.tenant,
            "state": self.state.value,
            "submitted_at": self.submitted_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "chunks_done": self.chunks_done,
            "chunks_total": self.chunks_total,
            "device": self.device,
            "worker_id": self.worker_id,
            "tier": None if self.tier is None else self.tier.value,
            "error": self.error,
            "cache_key": self.cache_key,
            "cache_hit": self.cache_hit,
            "attempts": self.attempts,
            "result_path": self.result_path,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "JobRecord":
        """Inverse of `to_dict`; raises ValueError/KeyError/TypeError on foreign data."""
        if not isinstance(data, Mapping):
            raise TypeError(f"a job record must be a mapping, got {type(data).__name__}")
        chunks_total = data.get("chunks_total")
        return cls(
            job_id=data["job_id"],
            spec=JobSpec.from_dict(data["spec"]),
            job_class=JobClass.parse(data["job_class"]),
            tenant=data["tenant"],
            state=JobState.parse(data["state"]),
            submitted_at=float(data["submitted_at"]),
            started_at=_opt_float(data.get("started_at")),
            finished_at=_opt_float(data.get("finished_at")),
            chunks_done=int(data.get("chunks_done") or 0),
            chunks_total=None if chunks_total is None else int(chunks_total),
            device=data.get("device"),
            worker_id=data.get("worker_id"),
            tier=None if data.get("tier") is None else Tier(data["tier"]),
            error=data.get("error"),
            cache_key=data.get("cache_key"),
            cache_hit=bool(data.get("cache_hit", False)),
            attempts=int(data.get("attempts") or 0),
            result_path=data.get("result_path"),
            updated_at=_opt_float(data.get("updated_at")),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> "JobRecord":
        return cls.from_dict(json.loads(text))
