"""Job results and chunk partials as files the service writes itself (no pickle).

A result is a mapping name -> value, where a value is a pandas DataFrame or Series
(an Arrow IPC file via pyarrow, uncompressed: a sweep chunk's per-asset table went to
disk at ~730 MB/s against Parquet's ~90 MB/s on the 2-core development box; Parquet
files of older stores are still read), a NumPy array (.npy, `allow_pickle=False`, so
object arrays are refused) or a small JSON-able value (kept inline in the manifest; NaN allowed,
tuples come back as lists). Names are 1-64 letters, digits, '_' or '-'.

Layout under `root/jobs/<job_id>/`:

    result.json                  manifest: the commit point of the final result
    result.<version>/            its data files (<name>.arrow, <name>.npy)
    chunks/<index:08d>.json      manifest of one chunk partial
    chunks/<index:08d>.<version>/

A save writes a fresh `<stem>.<version>/` directory (version: uuid4 hex), then the
manifest to a temporary file that `os.replace` moves over `<stem>.json`, then
removes the previous version. Readers only follow manifests, so they see either the
old or the new result, never a mix, whatever happens in between. With `fsync=True`
(default) a final result's files and directories are flushed before its manifest is
replaced. Chunk partials are flushed only with `chunk_fsync=True`: they can be
computed again, and the coordinator's recovery reruns a chunk whose files did not
survive a crash, while flushing every chunk (a GPU sweep writes ~9 GB of them) keeps
the disk busy with flushes that the job journal's own ones then wait behind. Job ids pass
`validate_job_id` before they are joined to a path.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from actors.jobs.records import validate_job_id

MANIFEST_FORMAT = 1
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")
_VERSION_PATTERN = r"[0-9a-f]{32}"
_RESULT_STEM = "result"
_CHUNKS_DIR = "chunks"
_SERIES_COLUMN = "value"
_FRAME_SUFFIX = ".arrow"  # Arrow IPC file format (Feather v2), uncompressed


def _write_frame(path: Path, frame: pd.DataFrame, name: str, what: str) -> None:
    """A DataFrame (index and column metadata kept) as an uncompressed Arrow IPC file."""
    try:
        table = pa.Table.from_pandas(frame)
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
    except (ValueError, TypeError, NotImplementedError, pa.ArrowException) as exc:
        raise InvalidResult(f"result {name!r}: cannot write {what} as Arrow: {exc}") from None


def _read_frame(path: Path) -> pd.DataFrame:
    """A stored DataFrame: Arrow IPC, or Parquet (stores written before Arrow)."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path, engine="pyarrow")
    with pa.OSFile(str(path), "rb") as source:
        return pa.ipc.open_file(source).read_all().to_pandas()


class ResultNotFound(KeyError):
    """No stored result (or chunk) for this job."""


class InvalidResult(ValueError):
    """A result value or name that the store cannot write (or a damaged manifest)."""


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidResult(f"invalid result name {name!r}: use 1-64 letters, digits, '_' or '-'")
    return name


def _check_index(index: Any) -> int:
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
        raise ValueError(f"chunk index must be an int >= 0, got {index!r}")
    return int(index)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.dtype != object:
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _sync(path: Path, fsync: bool) -> None:
    if fsync:
        fsync_path(path)


def fsync_path(path: Path) -> None:
    """Flush a file or directory entry to disk (a rename is durable once its directory is)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ResultStore:
    """Saves and loads results and chunk partials under `root/jobs/<job_id>/`."""

    def __init__(self, root: str | Path, *, fsync: bool = True, chunk_fsync: bool = False) -> None:
        self.root = Path(root)
        self.fsync = fsync
        self.chunk_fsync = fsync and chunk_fsync
        (self.root / "jobs").mkdir(parents=True, exist_ok=True)

    # --- paths ------------------------------------------------------------------------

    def job_dir(self, job_id: str) -> Path:
        """The directory of a job (validated id; the directory may not exist)."""
        return self.root / "jobs" / validate_job_id(job_id)

    def _chunk_stem(self, job_id: str, index: int) -> tuple[Path, str]:
        return self.job_dir(job_id) / _CHUNKS_DIR, f"{_check_index(index):08d}"

    # --- results ----------------------------------------------------------------------

    def save_result(self, job_id: str, values: Mapping[str, Any]) -> str:
        """Store a job's final result atomically; returns the manifest path."""
        return str(self._save(self.job_dir(job_id), _RESULT_STEM, values, self.fsync))

    def load_result(self, job_id: str) -> dict[str, Any]:
        """The stored final result; ResultNotFound if there is none."""
        return self._load(self.job_dir(job_id), _RESULT_STEM, f"result of job {job_id}")

    def has_result(self, job_id: str) -> bool:
        return (self.job_dir(job_id) / f"{_RESULT_STEM}.json").is_file()

    # --- chunk partials ---------------------------------------------------------------

    def save_chunk(self, job_id: str, index: int, values: Mapping[str, Any]) -> str:
        """Store one chunk partial atomically; returns the manifest path (for the journal)."""
        parent, stem = self._chunk_stem(job_id, index)
        return str(self._save(parent, stem, values, self.chunk_fsync))

    def load_chunk(self, job_id: str, index: int) -> dict[str, Any]:
        parent, stem = self._chunk_stem(job_id, index)
        return self._load(parent, stem, f"chunk {index} of job {job_id}")

    def has_chunk(self, job_id: str, index: int) -> bool:
        parent, stem = self._chunk_stem(job_id, index)
        return (parent / f"{stem}.json").is_file()

    def chunk_indices(self, job_id: str) -> list[int]:
        """Indices of the committed chunk partials of a job, ascending."""
        folder = self.job_dir(job_id) / _CHUNKS_DIR
        if not folder.is_dir():
            return []
        return sorted(int(p.stem) for p in folder.iterdir() if re.fullmatch(r"\d{8}\.json", p.name))

    def delete_chunks(self, job_id: str) -> None:
        """Remove every chunk partial of a job (once its final result is stored)."""
        shutil.rmtree(self.job_dir(job_id) / _CHUNKS_DIR, ignore_errors=True)

    def delete(self, job_id: str) -> bool:
        """Remove everything stored for a job; True if something was there."""
        folder = self.job_dir(job_id)
        if not folder.exists():
            return False
        shutil.rmtree(folder)
        return True

    # --- internals --------------------------------------------------------------------

    def _save(self, parent: Path, stem: str, values: Mapping[str, Any], fsync: bool) -> Path:
        if not isinstance(values, Mapping):
            raise InvalidResult(f"a result must be a mapping of name -> value, got {type(values).__name__}")
        for name in values:
            _check_name(name)
        version = uuid.uuid4().hex
        data_dir = parent / f"{stem}.{version}"
        data_dir.mkdir(parents=True)
        committed = False
        try:
            items = {name: self._write_value(data_dir, name, value, fsync) for name, value in values.items()}
            manifest = {"format": MANIFEST_FORMAT, "version": version, "items": items}
            try:
                text = json.dumps(manifest, default=_json_default, allow_nan=True, sort_keys=True)
            except (TypeError, ValueError) as exc:
                raise InvalidResult(f"result values are not JSON-serialisable: {exc}") from None
            if fsync:
                fsync_path(data_dir)
            target = parent / f"{stem}.json"
            previous = self._read_manifest(target, missing_ok=True)
            tmp = parent / f".{stem}.json.tmp-{version}"
            try:
                with open(tmp, "w", encoding="utf-8") as fh:
                    fh.write(text)
                    fh.flush()
                    if fsync:
                        os.fsync(fh.fileno())
                os.replace(tmp, target)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            committed = True
            if fsync:
                fsync_path(parent)
        except BaseException:
            if not committed:
                shutil.rmtree(data_dir, ignore_errors=True)
            raise
        if previous is not None:
            old = previous.get("version")
            if isinstance(old, str) and re.fullmatch(_VERSION_PATTERN, old) and old != version:
                shutil.rmtree(parent / f"{stem}.{old}", ignore_errors=True)
        return target

    def _write_value(self, data_dir: Path, name: str, value: Any, fsync: bool) -> dict[str, Any]:
        if isinstance(value, pd.DataFrame):
            path = data_dir / f"{name}{_FRAME_SUFFIX}"
            _write_frame(path, value, name, "DataFrame")
            _sync(path, fsync)
            return {"kind": "frame", "file": path.name}
        if isinstance(value, pd.Series):
            path = data_dir / f"{name}{_FRAME_SUFFIX}"
            series_name = value.name
            if not (series_name is None or isinstance(series_name, (str, int, float, bool))):
                series_name = str(series_name)
            _write_frame(path, value.to_frame(_SERIES_COLUMN), name, "Series")
            _sync(path, fsync)
            return {"kind": "series", "file": path.name, "name": series_name}
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                raise InvalidResult(f"result {name!r}: object arrays are not stored (no pickle)")
            path = data_dir / f"{name}.npy"
            np.save(path, value, allow_pickle=False)
            _sync(path, fsync)
            return {"kind": "array", "file": path.name}
        try:
            json.dumps(value, default=_json_default, allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise InvalidResult(f"result {name!r}: {type(value).__name__} is not storable: {exc}") from None
        return {"kind": "json", "value": value}

    @staticmethod
    def _read_manifest(path: Path, *, missing_ok: bool = False) -> dict[str, Any] | None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if missing_ok:
                return None
            raise
        try:
            manifest = json.loads(text)
        except ValueError:
            if missing_ok:
                return None
            raise InvalidResult(f"damaged result manifest {path}") from None
        if not isinstance(manifest, dict):
            if missing_ok:
                return None
            raise InvalidResult(f"damaged result manifest {path}")
        return manifest

    def _load(self, parent: Path, stem: str, what: str) -> dict[str, Any]:
        try:
            return self._load_once(parent, stem, what)
        except FileNotFoundError:
            # A concurrent save replaced the manifest and removed the version we
            # were reading: read the new one (once; a second miss is real damage).
            try:
                return self._load_once(parent, stem, what)
            except FileNotFoundError as exc:
                raise InvalidResult(f"stored {what} is missing a data file: {exc.filename}") from None

    def _load_once(self, parent: Path, stem: str, what: str) -> dict[str, Any]:
        target = parent / f"{stem}.json"
        try:
            manifest = self._read_manifest(target)
        except FileNotFoundError:
            raise ResultNotFound(f"no stored {what}") from None
        assert manifest is not None
        version = manifest.get("version")
        items = manifest.get("items")
        if manifest.get("format") != MANIFEST_FORMAT or not isinstance(items, dict):
            raise InvalidResult(f"unknown result manifest format in {target}")
        if not isinstance(version, str) or not re.fullmatch(_VERSION_PATTERN, version):
            raise InvalidResult(f"damaged result manifest {target}")
        data_dir = parent / f"{stem}.{version}"
        out: dict[str, Any] = {}
        for name, item in items.items():
            _check_name(name)
            kind = item.get("kind") if isinstance(item, dict) else None
            if kind == "json":
                out[name] = item.get("value")
                continue
            expected = [f"{name}.npy"] if kind == "array" else [f"{name}{s}" for s in (_FRAME_SUFFIX, ".parquet")]
            if kind not in ("frame", "series", "array") or item.get("file") not in expected:
                raise InvalidResult(f"damaged entry {name!r} in {target}")
            path = data_dir / item["file"]
            if kind == "array":
                out[name] = np.load(path, allow_pickle=False)
            elif kind == "frame":
                out[name] = _read_frame(path)
            else:
                series = _read_frame(path)[_SERIES_COLUMN]
                series.name = item.get("name")
                out[name] = series
        return out
