"""A bounded LRU of live feature results, kept by each worker.

Trading systems read the same few feature windows over and over (the seed system:
many clients polling a handful of popular (dataset, symbols, indicators, window)
combinations). The key holds the dataset *version* (a content hash), so a new
version of the data is simply a new key: nothing to invalidate, the old entries
age out. Bounded by entries and by bytes (both from `StreamsConfig`); thread-safe,
since a worker actor serves several live calls at once.
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any, Callable, Mapping

import numpy as np


def feature_key(dataset: str, dataset_version: str, payload: Mapping[str, Any]) -> tuple:
    """(dataset, version, symbols, indicators, window): what a features result depends on."""
    symbols = payload.get("symbols")
    indicators = json.dumps(payload.get("indicators") or [], sort_keys=True, separators=(",", ":"), default=str)
    return (str(dataset), str(dataset_version), tuple(symbols) if symbols else None, indicators,
            payload.get("window"))


def nbytes_of(value: Any) -> int:
    """Bytes of the arrays in a result (a FeatureBlock, a mapping or an array); small overhead otherwise."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    values = getattr(value, "values", None)
    if isinstance(values, Mapping):
        index = getattr(value, "index", None)
        return int(sum(nbytes_of(v) for v in values.values()) + (nbytes_of(index) if index is not None else 0))
    if isinstance(value, Mapping):
        return int(sum(nbytes_of(v) for v in value.values()))
    return 64


class FeatureCache:
    """LRU by entries and bytes; `get` / `put` / `get_or_compute`, with hit and miss counts."""

    def __init__(self, max_entries: int, max_bytes: int,
                 on_lookup: Callable[[bool], None] | None = None) -> None:
        if max_entries < 0 or max_bytes < 0:
            raise ValueError("feature cache bounds must be >= 0")
        self.max_entries = int(max_entries)
        self.max_bytes = int(max_bytes)
        self.on_lookup = on_lookup
        self._items: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.max_bytes > 0

    def get(self, key: tuple) -> Any | None:
        """The cached value (and counts a hit), or None (counts a miss)."""
        with self._lock:
            entry = self._items.get(key)
            if entry is not None:
                self._items.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
        if self.on_lookup is not None:
            self.on_lookup(entry is not None)
        return None if entry is None else entry[0]

    def put(self, key: tuple, value: Any) -> bool:
        """Keep `value` (read-only arrays); False when it alone is over the byte bound."""
        size = nbytes_of(value)
        if not self.enabled or size > self.max_bytes:
            return False
        _freeze(value)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (value, size)
            self._bytes += size
            while self._items and (len(self._items) > self.max_entries or self._bytes > self.max_bytes):
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped
                self.evictions += 1
        return True

    def get_or_compute(self, key: tuple, compute: Callable[[], Any]) -> tuple[Any, bool]:
        """(value, hit): the cached value, or `compute()` kept for next time."""
        if not self.enabled:
            return compute(), False
        value = self.get(key)
        if value is not None:
            return value, True
        value = compute()
        self.put(key, value)
        return value, False

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            lookups = self.hits + self.misses
            return {"entries": len(self._items), "bytes": self._bytes, "max_entries": self.max_entries,
                    "max_bytes": self.max_bytes, "hits": self.hits, "misses": self.misses,
                    "evictions": self.evictions, "hit_ratio": (self.hits / lookups) if lookups else None}


def _freeze(value: Any) -> None:
    """Make cached arrays read-only: every reader shares them."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
        return
    values = getattr(value, "values", None)
    if isinstance(values, Mapping):
        for v in values.values():
            _freeze(v)
        index = getattr(value, "index", None)
        if isinstance(index, np.ndarray):
            _freeze(index)
    elif isinstance(value, Mapping):
        for v in value.values():
            _freeze(v)


__all__ = ["FeatureCache", "feature_key", "nbytes_of"]
