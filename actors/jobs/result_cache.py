"""Reuse of finished results: a content key per job, mapped to the job that computed it.

`cache_key(spec, dataset_version, code_version)` is the sha256 of a canonical JSON
of the job kind, its payload (dataset name, strategy, parameters or grid, costs,
symbols, top_k, ...), the dataset's content version, the code version and the
tenant (the coordinator passes it: a hit must not reveal another tenant's spec).
Keys are independent of dict order; the priority class is not part of the key. Values are compared as JSON, so
`5` and `5.0` give different keys.

Persistence: the journal is the durable source. A SUCCEEDED `JobRecord` whose
`cache_key` is set is a cache entry; after a restart the coordinator calls
`ResultCache.load(journal.list(states=[SUCCEEDED], limit=None))`. To make an
invalidation survive a restart, the coordinator also clears that record's
`cache_key` (or deletes the job) in the journal.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Iterable

from actors.config import RESULT_CACHE_MAX_ENTRIES
from actors.jobs.records import JobRecord, JobSpec, JobState, canonical_json, validate_job_id

CACHE_KEY_FORMAT = 1


def cache_key(spec: JobSpec, dataset_version: str, code_version: str, tenant: str | None = None) -> str:
    """Hex sha256 of the canonical JSON of (spec, dataset version, code version[, tenant]).

    With `tenant`, results are reused only within that tenant: a cache hit must not
    tell one tenant that another submitted the same spec.
    """
    if not isinstance(spec, JobSpec):
        raise TypeError(f"spec must be a JobSpec, got {type(spec).__name__}")
    for label, value in (("dataset_version", dataset_version), ("code_version", code_version)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{label} must be a non-empty string, got {value!r}")
    doc = {
        "format": CACHE_KEY_FORMAT,
        "spec": spec.to_dict(),
        "dataset_version": dataset_version,
        "code_version": code_version,
    }
    if tenant is not None:
        doc["tenant"] = str(tenant)
    return hashlib.sha256(canonical_json(doc).encode("ascii")).hexdigest()


class ResultCache:
    """Thread-safe LRU map cache key -> job id, with hit and miss counts.

    `max_entries=0` means unbounded. When disabled, `get` returns None and counts
    nothing, and `put` stores nothing.
    """

    def __init__(self, *, enabled: bool = True, max_entries: int = RESULT_CACHE_MAX_ENTRIES) -> None:
        if max_entries < 0:
            raise ValueError(f"max_entries must be >= 0, got {max_entries}")
        self.enabled = enabled
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._hits = 0
        self._misses = 0

    def get(self, key: str) -> str | None:
        """The job id holding the result for `key`, or None; counts a hit or a miss."""
        if not self.enabled:
            return None
        with self._lock:
            job_id = self._entries.get(key)
            if job_id is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return job_id

    def put(self, key: str, job_id: str) -> None:
        """Remember that `job_id` holds the result for `key` (evicting the least recent)."""
        validate_job_id(job_id)
        if not self.enabled:
            return
        with self._lock:
            self._entries[key] = job_id
            self._entries.move_to_end(key)
            if self.max_entries:
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)

    def invalidate(self, key: str) -> bool:
        """Forget one key; True if it was there."""
        with self._lock:
            return self._entries.pop(key, None) is not None

    def invalidate_job(self, job_id: str) -> int:
        """Forget every key that points at `job_id` (its result was deleted); returns how many."""
        with self._lock:
            keys = [k for k, j in self._entries.items() if j == job_id]
            for k in keys:
                del self._entries[k]
            return len(keys)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def load(self, records: Iterable[JobRecord]) -> int:
        """Add the SUCCEEDED records that carry a cache key (oldest first, so the newest wins).

        Does not touch the hit/miss counts; returns how many entries were added.
        """
        usable = [r for r in records if r.state is JobState.SUCCEEDED and r.cache_key and not r.cache_hit]
        usable.sort(key=lambda r: (r.finished_at or r.submitted_at, r.job_id))
        for r in usable:
            self.put(r.cache_key, r.job_id)
        return len(usable) if self.enabled else 0

    @property
    def hits(self) -> int:
        with self._lock:
            return self._hits

    @property
    def misses(self) -> int:
        with self._lock:
            return self._misses

    def stats(self) -> dict[str, float | int]:
        """hits, misses, size and hit_ratio (0.0 before any lookup)."""
        with self._lock:
            total = self._hits + self._misses
            return {
                "hits": self._hits,
                "misses": self._misses,
                "size": len(self._entries),
                "hit_ratio": self._hits / total if total else 0.0,
            }

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries
