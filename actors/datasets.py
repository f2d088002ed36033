"""Named, versioned market datasets kept in the storage directory.

A dataset is a Panel stored as long-form Parquet under
`<root>/datasets/<name>/<version>.parquet`, where the version is a content hash.
Names are validated against a strict pattern: client strings never become paths.
The built-in `synthetic` dataset is generated deterministically on first use.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from kernels.data import FIELDS, Panel, read_parquet, write_parquet

log = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}\Z")
VERSION_PATTERN = re.compile(r"^[0-9a-f]{16}\Z")


class DatasetNotFound(KeyError):
    """No dataset (or version) of that name is registered."""


class InvalidDatasetName(ValueError):
    """A dataset name that does not match NAME_PATTERN."""


@dataclass(frozen=True)
class DatasetVersion:
    """What the service knows about one stored version of a dataset."""

    name: str
    version: str
    n_bars: int
    n_assets: int
    start: str
    end: str
    symbols: tuple[str, ...]
    created_at: float

    def to_public(self, max_symbols: int = 50) -> dict:
        out = asdict(self)
        out["symbols"] = list(self.symbols[:max_symbols])
        out["symbols_truncated"] = len(self.symbols) > max_symbols
        return out


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidDatasetName(
            f"invalid dataset name {name!r}: use 1-64 letters, digits, '_' or '-', starting with a letter"
        )
    return name


def content_version(panel: Panel) -> str:
    """A short content hash of a panel (index, symbols and every field)."""
    host = panel.to("cpu")
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(host.index).view(np.int64).tobytes())
    h.update(json.dumps(list(host.symbols)).encode())
    for f in FIELDS:
        h.update(np.ascontiguousarray(getattr(host, f), dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


class DatasetStore:
    """Registers, lists and loads named datasets; thread-safe, with an in-memory cache."""

    def __init__(self, root: Path, builtins: dict[str, Callable[[], Panel]] | None = None) -> None:
        self.root = Path(root) / "datasets"
        self.root.mkdir(parents=True, exist_ok=True)
        self._builtins = dict(builtins or {})
        self._lock = threading.RLock()
        self._panels: dict[tuple[str, str], Panel] = {}

    def _dir(self, name: str) -> Path:
        return self.root / validate_name(name)

    def register(self, name: str, panel: Panel) -> DatasetVersion:
        """Store a panel under `name`; returns the (possibly existing) version."""
        validate_name(name)
        # Canonical form (symbols sorted, bars with no data dropped): what a reload gives.
        panel = Panel.from_frame(panel.to_frame())
        version = content_version(panel)
        meta = DatasetVersion(
            name=name,
            version=version,
            n_bars=panel.n_bars,
            n_assets=panel.n_assets,
            start=str(panel.index[0]),
            end=str(panel.index[-1]),
            symbols=tuple(panel.symbols),
            created_at=time.time(),
        )
        with self._lock:
            d = self._dir(name)
            d.mkdir(parents=True, exist_ok=True)
            target = d / f"{version}.parquet"
            if not target.exists():
                tmp = d / f".{version}.{os.getpid()}.tmp"
                write_parquet(panel, tmp)
                os.replace(tmp, target)
                meta_tmp = d / f".{version}.json.tmp"
                meta_tmp.write_text(json.dumps(asdict(meta)))
                os.replace(meta_tmp, d / f"{version}.json")
            else:
                meta = self._read_meta(name, version)
            self._panels[(name, version)] = panel.to("cpu")
            log.info("dataset registered", extra={"dataset": name, "version": version})
            return meta

    def _read_meta(self, name: str, version: str) -> DatasetVersion:
        raw = json.loads((self._dir(name) / f"{version}.json").read_text())
        raw["symbols"] = tuple(raw["symbols"])
        return DatasetVersion(**raw)

    def _ensure_builtin(self, name: str) -> None:
        if name in self._builtins and not any(self._dir(name).glob("*.json")):
            self.register(name, self._builtins[name]())

    def versions(self, name: str) -> list[DatasetVersion]:
        """Stored versions of a dataset, oldest first."""
        with self._lock:
            self._ensure_builtin(validate_name(name))
            d = self._dir(name)
            if not d.is_dir():
                raise DatasetNotFound(f"unknown dataset {name!r}")
            metas = [self._read_meta(name, p.stem) for p in d.glob("*.json") if VERSION_PATTERN.match(p.stem)]
            if not metas:
                raise DatasetNotFound(f"unknown dataset {name!r}")
            return sorted(metas, key=lambda m: m.created_at)

    def latest(self, name: str) -> DatasetVersion:
        return self.versions(name)[-1]

    def list(self) -> list[DatasetVersion]:
        """The latest version of every dataset (built-ins included)."""
        with self._lock:
            for name in self._builtins:
                self._ensure_builtin(name)
            names = sorted(p.name for p in self.root.iterdir() if p.is_dir() and NAME_PATTERN.match(p.name))
            return [self.latest(n) for n in names if any((self.root / n).glob("*.json"))]

    def load(self, name: str, version: str | None = None) -> tuple[DatasetVersion, Panel]:
        """The panel of a dataset version (the latest by default)."""
        meta = self.latest(name) if version is None else self._version(name, version)
        key = (meta.name, meta.version)
        with self._lock:
            panel = self._panels.get(key)
            if panel is None:
                panel = read_parquet(self._dir(name) / f"{meta.version}.parquet")
                self._panels[key] = panel
            return meta, panel

    def _version(self, name: str, version: str) -> DatasetVersion:
        if not VERSION_PATTERN.match(str(version)):
            raise DatasetNotFound(f"invalid version {version!r} for dataset {name!r}")
        with self._lock:
            self._ensure_builtin(validate_name(name))
            if not (self._dir(name) / f"{version}.json").exists():
                raise DatasetNotFound(f"dataset {name!r} has no version {version!r}")
            return self._read_meta(name, version)
