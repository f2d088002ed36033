"""Versioned models in the storage directory, written and read only by the service.

Layout (names pass NAME_PATTERN and versions are integers >= 1 before either is
joined to a path; nothing read from a file or a client ever becomes a path):

    <root>/models/<name>/<version>/...                    shared models (the default tenant's, and
                                                          those stored before tenant namespaces
                                                          existed: every tenant reads them)
    <root>/tenant-models/<tenant>/<name>/<version>/...    a tenant's own models, named inside the
                                                          service `<tenant>~<name>` (`scoped_name`)

    <name>/<version>/model.pkl   the pickled `kernels.ml.TrainedModel`
    <root>/models/<name>/<version>/meta.json   `ModelRecord`: features, window,
                                               parameters, metrics, backend, library
                                               versions, created_at, sha256 of model.pkl

A save writes both files into `<name>/.tmp-<uuid>/`, flushes them, then renames that
directory to the next free version: a version directory exists only once it is
complete, and a concurrent writer that loses the race simply takes the next number.
The registry keeps no state besides the files, so a new `ModelRegistry` on the same
directory (a restart) sees every model.

Why pickle is acceptable here, and only here: the model files are produced by this
service from estimators it trained itself; clients never upload one. Before loading,
the registry reads the file once into memory, checks its size and sha256 against
the values it recorded in meta.json when it wrote the file, and unpickles those same
bytes only if they match (no window between check and use); anything else raises
`ModelIntegrityError` and nothing is unpickled. Files are only ever read from the
registry's own directory. The hash guards against corruption, truncation and a
swapped or edited model file; it does not defend against someone who can rewrite
both files in the service's storage directory (they control the service anyway).

`load` returns the model prepared for prediction (`TrainedModel.prepare`: a tree
ensemble's packed node arrays for `kernels.ml.forest`, built in memory from the
verified estimator; they are never written to or read from a file).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import os
import pickle
import re
import shutil
import threading
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from actors.jobs.result_store import fsync_path
from actors.settings import SERVE_DEFAULT_TENANT
from kernels.backend import BackendUnavailable
from kernels.ml.models import TrainedModel, cuml_available, library_versions

log = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
TENANT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
OWNER_SEP = "~"  # "<tenant>~<name>": a tenant's own model (never a client's plain name)
SCOPED_PATTERN = re.compile(rf"{TENANT_PATTERN.pattern}{OWNER_SEP}{NAME_PATTERN.pattern}")
VERSION_PATTERN = re.compile(r"[1-9][0-9]{0,8}")
MODELS_SUBDIR = "models"
TENANT_MODELS_SUBDIR = "tenant-models"
SHARED_TENANT = SERVE_DEFAULT_TENANT  # its models are the shared (plain-named) ones, as before namespaces
MODEL_FILE = "model.pkl"
META_FILE = "meta.json"
FORMAT = 1
PICKLE_PROTOCOL = 5
_TMP_PREFIX = ".tmp-"


class ModelNotFound(KeyError):
    """No model (or no such version) of that name in the registry."""


class InvalidModelName(ValueError):
    """A model name or version that does not pass validation."""


class ModelIntegrityError(RuntimeError):
    """A stored model whose file or metadata does not match what the service wrote."""


@dataclass(frozen=True)
class ModelRecord:
    """The metadata of one stored model version (meta.json)."""

    name: str
    version: int
    model: str
    task: str
    backend: str
    params: dict[str, Any]
    feature_names: list[str]
    n_features: int
    features: list[Any]
    horizon: int | None
    window: dict[str, Any]
    metrics: dict[str, Any]
    library_versions: dict[str, str]
    created_at: str
    sha256: str
    size_bytes: int
    n_train: int = 0
    dataset: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT

    def to_public(self) -> dict[str, Any]:
        """A JSON-able dict (everything but nothing secret: there is nothing secret)."""
        return asdict(self)


def validate_name(name: Any) -> str:
    """A plain name, or a tenant's scoped one (`scoped_name`)."""
    if not isinstance(name, str) or not (NAME_PATTERN.fullmatch(name) or SCOPED_PATTERN.fullmatch(name)):
        shown = name[:80] if isinstance(name, str) else name
        raise InvalidModelName(
            f"invalid model name {shown!r}: use 1-64 letters, digits, '_' or '-', starting with a letter"
        )
    return name


def scoped_name(tenant: str, name: Any) -> str:
    """The registry name of `tenant`'s own model `name` (a plain name: clients never give scoped ones)."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        shown = name[:80] if isinstance(name, str) else name
        raise InvalidModelName(
            f"invalid model name {shown!r}: use 1-64 letters, digits, '_' or '-', starting with a letter"
        )
    if not isinstance(tenant, str) or not TENANT_PATTERN.fullmatch(tenant):
        raise InvalidModelName(f"invalid tenant {str(tenant)[:80]!r}")
    return name if tenant == SHARED_TENANT else f"{tenant}{OWNER_SEP}{name}"


def owner_of(name: str) -> str | None:
    """The tenant owning a scoped model name (None: a shared model)."""
    return name.partition(OWNER_SEP)[0] if OWNER_SEP in name else None


def public_name(name: str) -> str:
    """The name a client knows a model by."""
    return name.partition(OWNER_SEP)[2] if OWNER_SEP in name else name


def validate_version(version: Any) -> int:
    """An integer version >= 1 (an int, or a string of digits as in a URL path)."""
    if isinstance(version, str) and VERSION_PATTERN.fullmatch(version):
        return int(version)
    if isinstance(version, (int, np.integer)) and not isinstance(version, bool) and 1 <= version < 10**9:
        return int(version)
    raise InvalidModelName(f"invalid model version {version!r}: an integer >= 1")


def _jsonable(value: Any) -> Any:
    """Plain JSON types: tuples -> lists, NumPy scalars -> Python, NaN/inf -> None."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise ValueError(f"metadata value {value!r} of type {type(value).__name__} is not JSON-able")


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


class ModelRegistry:
    """Saves, lists and loads versioned models under `<root>/models/`; thread-safe."""

    def __init__(self, root: str | os.PathLike) -> None:
        self._dir = Path(root) / MODELS_SUBDIR
        self._dir.mkdir(parents=True, exist_ok=True)
        self._tenants_dir = Path(root) / TENANT_MODELS_SUBDIR
        self._lock = threading.Lock()

    @property
    def directory(self) -> Path:
        return self._dir

    # ------------------------------------------------------------------ paths
    def _name_dir(self, name: str) -> Path:
        validate_name(name)
        if OWNER_SEP in name:
            owner, _, plain = name.partition(OWNER_SEP)
            return self._tenants_dir / owner / plain
        return self._dir / name

    def resolve(self, tenant: str, name: str) -> str:
        """The model a tenant means by a plain `name`: its own, else a shared one of that name
        (ModelNotFound when neither exists: another tenant's model is unknown here)."""
        own = scoped_name(tenant, name)
        if self._version_numbers(own):
            return own
        if self._version_numbers(name):
            return name
        raise ModelNotFound(f"no model named {name!r}")

    def _version_dir(self, name: str, version: Any) -> Path:
        return self._name_dir(name) / str(validate_version(version))

    def _version_numbers(self, name: str) -> list[int]:
        d = self._name_dir(name)
        if not d.is_dir():
            return []
        return sorted(int(p.name) for p in d.iterdir() if VERSION_PATTERN.fullmatch(p.name) and p.is_dir())

    # ------------------------------------------------------------------ writing
    def save(
        self,
        name: str,
        model: TrainedModel,
        *,
        features: Sequence[Any] = (),
        horizon: int | None = None,
        window: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        dataset: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> ModelRecord:
        """Store a new version of `name`; returns its record (version = previous + 1)."""
        validate_name(name)
        if not isinstance(model, TrainedModel):
            raise TypeError(f"the registry stores kernels.ml.TrainedModel, got {type(model).__name__}")
        blob = pickle.dumps(model, protocol=PICKLE_PROTOCOL)
        digest = hashlib.sha256(blob).hexdigest()
        base = {
            "name": name,
            "model": model.name,
            "task": model.task,
            "backend": model.backend,
            "params": _jsonable(model.params),
            "feature_names": list(model.feature_names),
            "n_features": int(model.n_features),
            "features": _jsonable(list(features)),
            "horizon": None if horizon is None else int(horizon),
            "window": _jsonable(dict(window or {})),
            "metrics": _jsonable(dict(metrics or {})),
            "library_versions": library_versions(model.backend),
            "sha256": digest,
            "size_bytes": len(blob),
            "n_train": int(model.n_train),
            "dataset": dataset,
            "extra": _jsonable(dict(extra or {})),
            "format": FORMAT,
        }
        name_dir = self._name_dir(name)
        name_dir.mkdir(parents=True, exist_ok=True)
        tmp = name_dir / f"{_TMP_PREFIX}{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            _write_file(tmp / MODEL_FILE, blob)
            with self._lock:
                version = (self._version_numbers(name) or [0])[-1] + 1
                while True:
                    created = datetime.now(timezone.utc).isoformat()
                    record = ModelRecord(version=version, created_at=created, **base)
                    meta = json.dumps(record.to_public(), allow_nan=False, indent=1, sort_keys=True)
                    _write_file(tmp / META_FILE, meta.encode())
                    fsync_path(tmp)
                    try:
                        os.rename(tmp, name_dir / str(version))
                        break
                    except OSError:
                        if not (name_dir / str(version)).exists():
                            raise
                        version += 1  # another process took this number
            fsync_path(name_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return record

    def delete(self, name: str, version: Any) -> None:
        """Remove one stored version (renamed away first, so readers never see half of it)."""
        d = self._version_dir(name, version)
        if not d.is_dir():
            raise ModelNotFound(f"no model {name!r} version {validate_version(version)}")
        gone = d.parent / f"{_TMP_PREFIX}{uuid.uuid4().hex}"
        os.rename(d, gone)
        shutil.rmtree(gone, ignore_errors=True)

    # ------------------------------------------------------------------ reading
    def names(self) -> list[str]:
        """Names with at least one stored version, sorted: shared ones, then every tenant's (scoped)."""
        out = []
        for p in sorted(self._dir.iterdir()):
            if p.is_dir() and NAME_PATTERN.fullmatch(p.name) and self._version_numbers(p.name):
                out.append(p.name)
        if self._tenants_dir.is_dir():
            for t in sorted(self._tenants_dir.iterdir()):
                if not (t.is_dir() and TENANT_PATTERN.fullmatch(t.name)):
                    continue
                for p in sorted(t.iterdir()):
                    name = f"{t.name}{OWNER_SEP}{p.name}"
                    if p.is_dir() and NAME_PATTERN.fullmatch(p.name) and self._version_numbers(name):
                        out.append(name)
        return out

    def _read_record(self, name: str, version: int) -> ModelRecord:
        path = self._version_dir(name, version) / META_FILE
        try:
            raw = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise ModelNotFound(f"no model {name!r} version {version}") from None
        except (OSError, ValueError) as exc:
            raise ModelIntegrityError(f"model {name!r} version {version}: unreadable metadata ({exc})") from None
        try:
            record = ModelRecord(**raw)
        except TypeError as exc:
            raise ModelIntegrityError(f"model {name!r} version {version}: bad metadata ({exc})") from None
        if record.name != name or record.version != version or record.format != FORMAT:
            raise ModelIntegrityError(f"model {name!r} version {version}: metadata belongs to another model")
        return record

    def versions(self, name: str) -> list[ModelRecord]:
        """Every readable stored version of `name`, oldest first (unreadable ones are logged and left out)."""
        if not self._version_numbers(name):
            raise ModelNotFound(f"no model named {name!r}")
        out = []
        for v in self._version_numbers(name):
            try:
                out.append(self._read_record(name, v))
            except (ModelIntegrityError, ModelNotFound) as exc:
                log.warning("skipping stored model: %s", exc)
        return out

    def get(self, name: str, version: Any = None) -> ModelRecord:
        """The record of one version (default: the latest)."""
        numbers = self._version_numbers(name)
        if not numbers:
            raise ModelNotFound(f"no model named {name!r}")
        v = numbers[-1] if version is None else validate_version(version)
        return self._read_record(name, v)

    def list_models(self) -> list[ModelRecord]:
        """The latest readable version of every model, by name."""
        out = []
        for name in self.names():
            recs = self.versions(name)
            if recs:
                out.append(recs[-1])
        return out

    def load(self, name: str, version: Any = None) -> tuple[TrainedModel, ModelRecord]:
        """The stored model and its record, after checking size and sha256 (see module doc).

        A model trained with cuML needs cuML to load: `BackendUnavailable` otherwise.
        """
        record = self.get(name, version)
        path = self._version_dir(name, record.version) / MODEL_FILE
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise ModelIntegrityError(f"model {name!r} version {record.version}: the model file is missing") from None
        if len(blob) != record.size_bytes or not hmac.compare_digest(
            hashlib.sha256(blob).hexdigest(), str(record.sha256)
        ):
            raise ModelIntegrityError(
                f"model {name!r} version {record.version}: the model file does not match the sha256 "
                "recorded when the service wrote it; refusing to load it"
            )
        if record.backend == "gpu" and not cuml_available():
            raise BackendUnavailable(
                f"model {name!r} version {record.version} was trained with cuML (backend 'gpu'), "
                "which is not installed here"
            )
        model = pickle.loads(blob)  # noqa: S301 - our own file, verified above
        if not isinstance(model, TrainedModel) or (model.name, model.task, model.n_features) != (
            record.model, record.task, record.n_features
        ):
            raise ModelIntegrityError(f"model {name!r} version {record.version}: file and metadata disagree")
        model.prepare()  # tree ensembles: packed for the compiled kernel from the verified estimator
        return model, record
