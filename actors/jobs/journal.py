"""The job journal: every job and state change is written here before it is acknowledged.

`JobJournal` is the protocol the coordinator depends on. `SqliteJobJournal` is the
embedded default (stdlib sqlite3 in the storage directory, WAL, one connection
guarded by a lock, `PRAGMA synchronous=FULL` so `put` is durable when it returns);
`InMemoryJobJournal` is the fake for tests and notebooks.

A record is stored as its JSON (`JobRecord.to_dict`) plus a few indexed columns.
Rows that cannot be decoded (corrupt JSON, a foreign schema, an unknown state or
class written by another version) are skipped with a warning, never raised to the
reader: one bad row must not stop recovery of the others.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Iterable, Protocol, runtime_checkable

from actors.config import JOURNAL_BUSY_TIMEOUT_S, JOURNAL_SYNCHRONOUS, LIST_DEFAULT_LIMIT
from actors.jobs.records import JobRecord, JobState, validate_job_id

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_UNFINISHED = tuple(s.value for s in JobState if not s.terminal)


class JournalError(RuntimeError):
    """The journal file cannot be opened or written (not SQLite, unwritable, ...)."""


def _state_values(states: Iterable[JobState | str] | None) -> list[str] | None:
    if states is None:
        return None
    return sorted({JobState.parse(s).value for s in states})


def _check_limit(limit: int | None) -> int | None:
    if limit is None:
        return None
    if int(limit) < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    return int(limit)


def _check_index(index: int) -> int:
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"chunk index must be an int >= 0, got {index!r}")
    return index


@runtime_checkable
class JobJournal(Protocol):
    """Durable store of job records and of the chunk partials each job has finished."""

    def put(self, record: JobRecord) -> None:
        """Insert or replace a record; durable when it returns."""

    def get(self, job_id: str) -> JobRecord | None:
        """The record, or None when unknown (or unreadable)."""

    def list(
        self,
        tenant: str | None = None,
        states: Iterable[JobState | str] | None = None,
        limit: int | None = LIST_DEFAULT_LIMIT,
    ) -> list[JobRecord]:
        """Records newest first (by submission), filtered by tenant and states; `limit=None` for all."""

    def unfinished(self) -> list[JobRecord]:
        """Every non-terminal record, oldest submission first (the recovery order)."""

    def put_chunk(self, job_id: str, index: int, path: str) -> None:
        """Record that chunk `index` of a job is finished and stored at `path`; durable."""

    def chunks(self, job_id: str) -> dict[int, str]:
        """Finished chunks of a job: index -> path."""

    def delete(self, job_id: str) -> bool:
        """Forget a job and its chunks; True if it existed."""

    def close(self) -> None:
        """Release the journal (further calls are errors)."""


def _decode(job_id: str, text: str) -> JobRecord | None:
    try:
        record = JobRecord.from_dict(json.loads(text))
        if record.job_id != job_id:
            raise ValueError(f"row key {job_id!r} holds a record for {record.job_id!r}")
        return record
    except Exception as exc:  # corrupt or foreign row: skip it, keep reading
        log.warning("journal: skipping unreadable job row %r: %s: %s", job_id, type(exc).__name__, exc)
        return None


class SqliteJobJournal:
    """The embedded journal: one SQLite file (WAL), safe to share between threads."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = JOURNAL_SYNCHRONOUS,
        busy_timeout_s: float = JOURNAL_BUSY_TIMEOUT_S,
    ) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(self.path), timeout=busy_timeout_s, check_same_thread=False, isolation_level=None
            )
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"cannot open job journal {self.path}: {exc}") from exc
        self._conn: sqlite3.Connection | None = conn
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={str(synchronous).upper()}")
            self._create_schema(conn)
        except sqlite3.Error as exc:
            conn.close()
            self._conn = None
            raise JournalError(f"cannot use {self.path} as a job journal: {exc}") from exc

    @staticmethod
    def _create_schema(conn: sqlite3.Connection) -> None:
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS jobs ("
                " job_id TEXT PRIMARY KEY,"
                " tenant TEXT NOT NULL,"
                " state TEXT NOT NULL,"
                " submitted_at REAL NOT NULL,"
                " record TEXT NOT NULL)"
            )
            conn.execute("CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, submitted_at)")
            conn.execute("CREATE INDEX IF NOT EXISTS jobs_tenant ON jobs (tenant, submitted_at)")
            conn.execute("CREATE INDEX IF NOT EXISTS jobs_submitted ON jobs (submitted_at)")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS chunks ("
                " job_id TEXT NOT NULL,"
                " idx INTEGER NOT NULL,"
                " path TEXT NOT NULL,"
                " PRIMARY KEY (job_id, idx))"
            )
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise JournalError(f"job journal {self.path} is closed")
        return self._conn

    def _write(self, sql: str, params: tuple) -> int:
        with self._lock:
            conn = self._db()
            try:
                with conn:  # BEGIN ... COMMIT (fsync per `synchronous`), ROLLBACK on error
                    conn.execute("BEGIN IMMEDIATE")
                    return conn.execute(sql, params).rowcount
            except sqlite3.Error as exc:
                raise JournalError(f"job journal {self.path}: write failed: {exc}") from exc

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db().execute(sql, params).fetchall()

    # --- protocol ---------------------------------------------------------------------

    def put(self, record: JobRecord) -> None:
        self._write(
            "INSERT OR REPLACE INTO jobs (job_id, tenant, state, submitted_at, record) VALUES (?, ?, ?, ?, ?)",
            (record.job_id, record.tenant, record.state.value, record.submitted_at, record.to_json()),
        )

    def get(self, job_id: str) -> JobRecord | None:
        validate_job_id(job_id)
        rows = self._read("SELECT job_id, record FROM jobs WHERE job_id = ?", (job_id,))
        return _decode(*rows[0]) if rows else None

    def list(
        self,
        tenant: str | None = None,
        states: Iterable[JobState | str] | None = None,
        limit: int | None = LIST_DEFAULT_LIMIT,
    ) -> list[JobRecord]:
        where, params = [], []
        if tenant is not None:
            where.append("tenant = ?")
            params.append(tenant)
        values = _state_values(states)
        if values is not None:
            if not values:
                return []
            where.append(f"state IN ({','.join('?' * len(values))})")
            params.extend(values)
        sql = "SELECT job_id, record FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY submitted_at DESC, job_id DESC"
        n = _check_limit(limit)
        out: list[JobRecord] = []
        # Decode row by row so that skipped (corrupt) rows do not shorten the page.
        for row in self._read(sql, tuple(params)):
            if n is not None and len(out) >= n:
                break
            record = _decode(*row)
            if record is not None:
                out.append(record)
        return out

    def unfinished(self) -> list[JobRecord]:
        marks = ",".join("?" * len(_UNFINISHED))
        rows = self._read(
            f"SELECT job_id, record FROM jobs WHERE state IN ({marks}) ORDER BY submitted_at ASC, job_id ASC",
            _UNFINISHED,
        )
        return [r for r in (_decode(*row) for row in rows) if r is not None and not r.state.terminal]

    def put_chunk(self, job_id: str, index: int, path: str) -> None:
        validate_job_id(job_id)
        self._write(
            "INSERT OR REPLACE INTO chunks (job_id, idx, path) VALUES (?, ?, ?)",
            (job_id, _check_index(index), str(path)),
        )

    def chunks(self, job_id: str) -> dict[int, str]:
        validate_job_id(job_id)
        out: dict[int, str] = {}
        for idx, path in self._read("SELECT idx, path FROM chunks WHERE job_id = ? ORDER BY idx", (job_id,)):
            if isinstance(idx, int) and idx >= 0 and isinstance(path, str):
                out[idx] = path
            else:
                log.warning("journal: skipping unreadable chunk row of %s: %r -> %r", job_id, idx, path)
        return out

    def delete(self, job_id: str) -> bool:
        validate_job_id(job_id)
        with self._lock:
            conn = self._db()
            try:
                with conn:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute("DELETE FROM chunks WHERE job_id = ?", (job_id,))
                    return conn.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,)).rowcount > 0
            except sqlite3.Error as exc:
                raise JournalError(f"job journal {self.path}: delete failed: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> "SqliteJobJournal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InMemoryJobJournal:
    """The test fake: same behaviour as SqliteJobJournal, nothing on disk."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, JobRecord] = {}
        self._chunks: dict[str, dict[int, str]] = {}
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise JournalError("in-memory job journal is closed")

    def put(self, record: JobRecord) -> None:
        if not isinstance(record, JobRecord):
            raise TypeError(f"expected a JobRecord, got {type(record).__name__}")
        with self._lock:
            self._check_open()
            self._jobs[record.job_id] = record  # records are immutable: no copy needed

    def get(self, job_id: str) -> JobRecord | None:
        validate_job_id(job_id)
        with self._lock:
            self._check_open()
            return self._jobs.get(job_id)

    def list(
        self,
        tenant: str | None = None,
        states: Iterable[JobState | str] | None = None,
        limit: int | None = LIST_DEFAULT_LIMIT,
    ) -> list[JobRecord]:
        values = _state_values(states)
        n = _check_limit(limit)
        with self._lock:
            self._check_open()
            records = [
                r
                for r in self._jobs.values()
                if (tenant is None or r.tenant == tenant) and (values is None or r.state.value in values)
            ]
        records.sort(key=lambda r: (r.submitted_at, r.job_id), reverse=True)
        return records if n is None else records[:n]

    def unfinished(self) -> list[JobRecord]:
        with self._lock:
            self._check_open()
            records = [r for r in self._jobs.values() if not r.state.terminal]
        records.sort(key=lambda r: (r.submitted_at, r.job_id))
        return records

    def put_chunk(self, job_id: str, index: int, path: str) -> None:
        validate_job_id(job_id)
        _check_index(index)
        with self._lock:
            self._check_open()
            self._chunks.setdefault(job_id, {})[index] = str(path)

    def chunks(self, job_id: str) -> dict[int, str]:
        validate_job_id(job_id)
        with self._lock:
            self._check_open()
            return dict(sorted(self._chunks.get(job_id, {}).items()))

    def delete(self, job_id: str) -> bool:
        validate_job_id(job_id)
        with self._lock:
            self._check_open()
            self._chunks.pop(job_id, None)
            return self._jobs.pop(job_id, None) is not None

    def close(self) -> None:
        with self._lock:
            self._closed = True
