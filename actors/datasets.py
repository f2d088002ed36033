"""Named, versioned market datasets kept in the storage directory, in tenant namespaces.

A dataset is a Panel stored as long-form Parquet, where the version is a content hash:

- shared datasets (the built-ins, those published by an admin or the Ray client, and
  every dataset stored before namespaces existed) under
  `<root>/datasets/<name>/<version>.parquet`: every tenant reads them, none overwrites them;
- a tenant's own datasets under `<root>/tenant-datasets/<tenant>/<name>/<version>.parquet`:
  only that tenant sees, reads and writes them. The default tenant's namespace is the
  shared one (an open API, the Ray client, Ray Jobs and the CLI use it).

Inside the service a tenant's dataset is referred to by a *scoped* name,
`<tenant>~<name>` (`scoped_name`); clients only ever give plain names, resolved for
their tenant by `DatasetStore.resolve` (their own first, then shared). A tenant can
never take a name over: uploading a shared dataset's name is refused
(`DatasetNameTaken`), and another tenant's dataset is simply unknown to it.
Names and tenants are validated against strict patterns: client strings never
become paths. The built-in `synthetic` dataset is generated deterministically on
first use. Loaded panels are kept in an LRU cache bounded in bytes.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from actors.settings import SERVE_DEFAULT_TENANT
from kernels.data import FIELDS, Panel, read_parquet, write_parquet

log = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}\Z")
VERSION_PATTERN = re.compile(r"^[0-9a-f]{16}\Z")
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
OWNER_SEP = "~"  # scoped names: "<tenant>~<name>" (in neither pattern, so never a client's plain name)
# The default tenant's namespace is the shared one: what an open API, the Ray client, Ray Jobs and the CLI use,
# and where every dataset stored before namespaces existed stays.
SHARED_TENANT = SERVE_DEFAULT_TENANT
SHARED_DIR = "datasets"
TENANTS_DIR = "tenant-datasets"
DEFAULT_CACHE_BYTES = 2 << 30  # actors.settings.DataConfig.cache_max_bytes sets it in the service


class DatasetNotFound(KeyError):
    """No dataset (or version) of that name is registered."""


class InvalidDatasetName(ValueError):
    """A dataset name that does not match NAME_PATTERN."""


class DatasetNameTaken(ValueError):
    """A tenant asked to store a dataset under a shared (built-in or published) dataset's name."""


def scoped_name(tenant: str, name: str) -> str:
    """The service-internal name of a tenant's own dataset (the default tenant's: the plain, shared name)."""
    if not isinstance(tenant, str) or not TENANT_PATTERN.match(tenant):
        raise InvalidDatasetName(f"invalid tenant {str(tenant)[:80]!r}")
    if tenant == SHARED_TENANT:
        return validate_name(name)
    return f"{tenant}{OWNER_SEP}{validate_name(name)}"


def split_name(ref: str) -> tuple[str | None, str]:
    """(owner tenant or None for a shared dataset, plain name) of a dataset reference; validated."""
    if isinstance(ref, str) and OWNER_SEP in ref:
        owner, _, name = ref.partition(OWNER_SEP)
        if not TENANT_PATTERN.match(owner):
            raise InvalidDatasetName(f"invalid dataset name {ref[:80]!r}")
        return owner, validate_name(name)
    return None, validate_name(ref)


def public_name(ref: str) -> str:
    """The name a client knows a dataset by (its scoped form without the owner)."""
    return ref.partition(OWNER_SEP)[2] if isinstance(ref, str) and OWNER_SEP in ref else ref


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
        out["name"] = public_name(self.name)
        out["shared"] = OWNER_SEP not in self.name
        out["symbols"] = list(self.symbols[:max_symbols])
        out["symbols_truncated"] = len(self.symbols) > max_symbols
        return out


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        shown = name[:80] if isinstance(name, str) else name
        raise InvalidDatasetName(
            f"invalid dataset name {shown!r}: use 1-64 letters, digits, '_' or '-', starting with a letter"
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
    """Registers, lists and loads named datasets; thread-safe, with an LRU panel cache bounded in bytes."""

    def __init__(self, root: Path, builtins: dict[str, Callable[[], Panel]] | None = None,
                 max_cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.root = Path(root) / SHARED_DIR
        self.root.mkdir(parents=True, exist_ok=True)
        self.tenants_root = Path(root) / TENANTS_DIR
        self._builtins = dict(builtins or {})
        self._lock = threading.RLock()
        self.max_cache_bytes = int(max_cache_bytes)
        self._panels: OrderedDict[tuple[str, str], Panel] = OrderedDict()
        self._cache_bytes = 0

    def _dir(self, ref: str) -> Path:
        owner, name = split_name(ref)
        return self.root / name if owner is None else self.tenants_root / owner / name

    def _has_versions(self, ref: str) -> bool:
        d = self._dir(ref)
        return d.is_dir() and any(VERSION_PATTERN.match(p.stem) for p in d.glob("*.json"))

    # -- namespaces ----------------------------------------------------------------
    def is_shared(self, name: str) -> bool:
        """Whether `name` (plain) is a built-in or a stored shared dataset."""
        return validate_name(name) in self._builtins or self._has_versions(name)

    def resolve(self, tenant: str | None, name: str) -> str:
        """The dataset a tenant means by a plain `name`: its own (scoped name), else a shared one.

        DatasetNotFound when neither exists (another tenant's dataset of that name is unknown here).
        """
        validate_name(name)
        if tenant is not None and tenant != SHARED_TENANT:
            own = scoped_name(tenant, name)
            if self._has_versions(own):
                return own
        if self.is_shared(name):
            return name
        raise DatasetNotFound(f"unknown dataset {name!r}")

    # -- storage -------------------------------------------------------------------
    def register(self, name: str, panel: Panel, owner: str | None = None) -> DatasetVersion:
        """Store a panel under `name` (plain): a tenant's own (`owner`) or shared (None or the default
        tenant: admins, the Ray client, an open API); returns the (possibly existing) version.

        DatasetNameTaken when a tenant uses a shared dataset's name, or anyone a built-in's name.
        """
        validate_name(name)
        if name in self._builtins:
            raise DatasetNameTaken(f"dataset {name!r} is built in (shared, read-only); choose another name")
        if owner is not None and owner != SHARED_TENANT:
            if self.is_shared(name):
                raise DatasetNameTaken(f"dataset {name!r} is shared (read-only); choose another name")
            ref = scoped_name(owner, name)
        else:
            ref = name
        return self._store(ref, panel)

    def _store(self, ref: str, panel: Panel) -> DatasetVersion:
        # Canonical form (symbols sorted, bars with no data dropped): what a reload gives.
        panel = Panel.from_frame(panel.to_frame())
        version = content_version(panel)
        meta = DatasetVersion(
            name=ref,
            version=version,
            n_bars=panel.n_bars,
            n_assets=panel.n_assets,
            start=str(panel.index[0]),
            end=str(panel.index[-1]),
            symbols=tuple(panel.symbols),
            created_at=time.time(),
        )
        with self._lock:
            d = self._dir(ref)
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
                meta = self._read_meta(ref, version)
            self._cache_put((ref, version), panel.to("cpu"))
            log.info("dataset registered", extra={"dataset": ref, "version": version})
            return meta

    def _read_meta(self, ref: str, version: str) -> DatasetVersion:
        raw = json.loads((self._dir(ref) / f"{version}.json").read_text())
        raw["symbols"] = tuple(raw["symbols"])
        raw["name"] = ref  # a stored name is the directory's (files written before namespaces included)
        return DatasetVersion(**raw)

    def _ensure_builtin(self, ref: str) -> None:
        if ref in self._builtins and not any(self._dir(ref).glob("*.json")):
            self._store(ref, self._builtins[ref]())

    def versions(self, ref: str) -> list[DatasetVersion]:
        """Stored versions of a dataset (plain shared name or scoped name), oldest first."""
        with self._lock:
            owner, name = split_name(ref)
            self._ensure_builtin(ref)
            d = self._dir(ref)
            if not d.is_dir():
                raise DatasetNotFound(f"unknown dataset {name!r}")
            metas = [self._read_meta(ref, p.stem) for p in d.glob("*.json") if VERSION_PATTERN.match(p.stem)]
            if not metas:
                raise DatasetNotFound(f"unknown dataset {name!r}")
            return sorted(metas, key=lambda m: m.created_at)

    def latest(self, ref: str) -> DatasetVersion:
        return self.versions(ref)[-1]

    def list(self, tenant: str | None = None) -> list[DatasetVersion]:
        """The latest version of every shared dataset (built-ins included) and of `tenant`'s own."""
        with self._lock:
            for name in self._builtins:
                self._ensure_builtin(name)
            refs = sorted(p.name for p in self.root.iterdir() if p.is_dir() and NAME_PATTERN.match(p.name))
            if tenant is not None and tenant != SHARED_TENANT and TENANT_PATTERN.match(tenant) \
                    and (self.tenants_root / tenant).is_dir():
                refs += sorted(scoped_name(tenant, p.name) for p in (self.tenants_root / tenant).iterdir()
                               if p.is_dir() and NAME_PATTERN.match(p.name))
            return [self.latest(r) for r in refs if self._has_versions(r)]

    def load(self, ref: str, version: str | None = None) -> tuple[DatasetVersion, Panel]:
        """The panel of a dataset version (the latest by default)."""
        meta = self.latest(ref) if version is None else self._version(ref, version)
        key = (meta.name, meta.version)
        with self._lock:
            panel = self._panels.get(key)
            if panel is not None:
                self._panels.move_to_end(key)
                return meta, panel
        panel = read_parquet(self._dir(ref) / f"{meta.version}.parquet")
        with self._lock:
            self._cache_put(key, panel)
        return meta, panel

    def _cache_put(self, key: tuple[str, str], panel: Panel) -> None:
        """Keep a panel, evicting the least recently used ones beyond `max_cache_bytes` (lock held)."""
        old = self._panels.pop(key, None)
        if old is not None:
            self._cache_bytes -= panel_bytes(old)
        size = panel_bytes(panel)
        if size > self.max_cache_bytes:
            return  # larger than the whole cache: read from disk each time
        self._panels[key] = panel
        self._cache_bytes += size
        while self._cache_bytes > self.max_cache_bytes and self._panels:
            _, evicted = self._panels.popitem(last=False)
            self._cache_bytes -= panel_bytes(evicted)

    def cache_stats(self) -> dict[str, int]:
        with self._lock:
            return {"panels": len(self._panels), "bytes": self._cache_bytes, "max_bytes": self.max_cache_bytes}

    def _version(self, ref: str, version: str) -> DatasetVersion:
        owner, name = split_name(ref)
        if not VERSION_PATTERN.match(str(version)):
            raise DatasetNotFound(f"invalid version {str(version)[:80]!r} for dataset {name!r}")
        with self._lock:
            self._ensure_builtin(ref)
            if not (self._dir(ref) / f"{version}.json").exists():
                raise DatasetNotFound(f"dataset {name!r} has no version {version!r}")
            return self._read_meta(ref, version)


def panel_bytes(panel: Panel) -> int:
    """Host bytes of a panel's arrays (its index and fields)."""
    total = int(getattr(np.asarray(panel.index), "nbytes", 0))
    for f in FIELDS:
        total += int(getattr(getattr(panel, f), "nbytes", 0))
    return total
