"""Measured throughput (cells per second) per job kind and worker class, learned online.

A cell is one (bar, asset, combination) of a chunk (`actors.jobs.plans.chunk_cells`).
After each chunk the coordinator reports the cells and the worker's measured seconds;
the model keeps an exponentially weighted mean of the rate per (kind, worker class)
(`worker class`: "gpu", "simgpu" or "cpu", plus the device name where known) and
writes it to a JSON file in the storage directory, so that a restarted service sizes
its first chunks from what it measured before. `cells_for(kind, classes, target_s)`
is the chunk size that takes about `target_s` on the typical (median) worker among the
given classes; with no measurement yet, a conservative prior per kind.
"""
from __future__ import annotations

import json
import logging
import os
import statistics
import threading
from pathlib import Path
from typing import Iterable, Mapping

log = logging.getLogger(__name__)

THROUGHPUT_FILE = "throughput.json"
# Cells per second assumed before anything is measured (deliberately low: the first
# chunk of an unknown kind is short rather than long, then the measurement takes over).
PRIOR_CELLS_PER_S: Mapping[str, float] = {"sweep": 5e7, "backtest": 2e7, "walk_forward": 2e7}
DEFAULT_PRIOR_CELLS_PER_S = 1e7
EWMA_ALPHA = 0.3
MIN_SECONDS = 1e-4  # shorter measurements say nothing about throughput (call overhead dominates)


class ThroughputModel:
    """cells/s per (kind, worker class): EWMA of measurements, persisted as JSON."""

    def __init__(self, path: Path | None = None, prior: Mapping[str, float] | None = None,
                 alpha: float = EWMA_ALPHA) -> None:
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.path = None if path is None else Path(path)
        self.prior = dict(PRIOR_CELLS_PER_S if prior is None else prior)
        self.alpha = alpha
        self._rates: dict[str, float] = {}
        self._samples: dict[str, int] = {}
        self._lock = threading.Lock()
        self._dirty = False
        self._load()

    @staticmethod
    def _key(kind: str, worker_class: str) -> str:
        return f"{kind}/{worker_class}"

    def observe(self, kind: str, worker_class: str, cells: float, seconds: float) -> float | None:
        """Fold one chunk's measurement in; returns the updated rate (None if too short to count)."""
        if cells <= 0 or seconds < MIN_SECONDS:
            return None
        rate = float(cells) / float(seconds)
        key = self._key(kind, worker_class)
        with self._lock:
            old = self._rates.get(key)
            new = rate if old is None else (1 - self.alpha) * old + self.alpha * rate
            self._rates[key] = new
            self._samples[key] = self._samples.get(key, 0) + 1
            self._dirty = True
        return new

    def rate(self, kind: str, worker_class: str) -> float | None:
        with self._lock:
            return self._rates.get(self._key(kind, worker_class))

    def cells_for(self, kind: str, worker_classes: Iterable[str], target_s: float) -> int:
        """Cells of a chunk that takes about `target_s` on the median worker of `worker_classes`."""
        known = [r for r in (self.rate(kind, c) for c in worker_classes) if r]
        rate = statistics.median(known) if known else self.prior.get(kind, DEFAULT_PRIOR_CELLS_PER_S)
        return max(1, int(rate * target_s))

    def snapshot(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {k: {"cells_per_s": v, "samples": self._samples.get(k, 0)} for k, v in sorted(self._rates.items())}

    # -- persistence -----------------------------------------------------------------
    def _load(self) -> None:
        if self.path is None or not self.path.is_file():
            return
        try:
            data = json.loads(self.path.read_text())
            self._rates = {str(k): float(v["cells_per_s"]) for k, v in data.get("rates", {}).items()
                           if float(v["cells_per_s"]) > 0}
            self._samples = {str(k): int(v.get("samples", 0)) for k, v in data.get("rates", {}).items()}
        except Exception as exc:  # a damaged file costs only the learned rates
            log.warning("ignoring unreadable throughput file %s: %s", self.path, exc)
            self._rates, self._samples = {}, {}

    def save(self) -> bool:
        """Write the rates if they changed since the last save (atomic rename); True if written."""
        if self.path is None:
            return False
        with self._lock:
            if not self._dirty:
                return False
            data = {"rates": {k: {"cells_per_s": v, "samples": self._samples.get(k, 0)}
                              for k, v in sorted(self._rates.items())}}
            self._dirty = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.path)
        return True
