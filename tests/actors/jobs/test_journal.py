"""Job journal: SQLite (real file) and the in-memory fake behave the same (no Ray)."""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
from pathlib import Path

import pytest

from actors.jobs.records import InvalidJobId, JobRecord, JobSpec, JobState, Tier, new_job_id
from actors.jobs.journal import InMemoryJobJournal, JobJournal, JournalError, SqliteJobJournal
from gpu_hal.streams.priority import JobClass

SPEC = JobSpec("backtest", {"dataset": "synthetic", "strategy": "momentum", "params": {"lookback": 20}})


def record(tenant: str = "t", at: float = 0.0, cls: JobClass = JobClass.NORMAL) -> JobRecord:
    return JobRecord.new(SPEC, cls, tenant, now=at)


@pytest.fixture(params=["sqlite", "memory"])
def journal(request, tmp_path: Path):
    j = SqliteJobJournal(tmp_path / "store" / "jobs.sqlite3") if request.param == "sqlite" else InMemoryJobJournal()
    yield j
    j.close()


def test_protocol(journal):
    assert isinstance(journal, JobJournal)


def test_round_trip_and_updates(journal):
    rec = record(at=10.0)
    journal.put(rec)
    assert journal.get(rec.job_id) == rec
    running = rec.transition("running", now=11.0, device="gpu:0", tier=Tier.PRIMARY, attempts=1, chunks_total=3)
    journal.put(running)
    assert journal.get(running.job_id) == running
    assert journal.get(new_job_id()) is None
    with pytest.raises(InvalidJobId):
        journal.get("../../etc/passwd")


def test_list_filters_order_and_limit(journal):
    recs = [record("alice" if i % 2 else "bob", at=float(i)) for i in range(6)]
    recs[0] = recs[0].transition("running", now=1.0).transition("succeeded", now=2.0)
    recs[1] = recs[1].transition("cancelled", now=1.0)
    for r in recs:
        journal.put(r)
    assert [r.job_id for r in journal.list(limit=None)] == [r.job_id for r in reversed(recs)]
    assert [r.job_id for r in journal.list(limit=2)] == [recs[5].job_id, recs[4].job_id]
    assert {r.tenant for r in journal.list(tenant="alice")} == {"alice"}
    assert len(journal.list(tenant="alice")) == 3
    done = journal.list(states=[JobState.SUCCEEDED, "cancelled"])
    assert {r.job_id for r in done} == {recs[0].job_id, recs[1].job_id}
    assert journal.list(states=[]) == []
    assert journal.list(tenant="nobody") == []
    assert journal.list(limit=0) == []
    with pytest.raises(ValueError):
        journal.list(limit=-1)


def test_unfinished_in_submission_order(journal):
    recs = [record(at=float(t)) for t in (5, 1, 3, 2, 4)]
    recs[2] = recs[2].transition("running", now=6.0).transition("failed", now=7.0, error="x")
    recs[3] = recs[3].transition("running", now=6.0)
    recs[4] = recs[4].transition("running", now=6.0).transition("preempted", now=7.0)
    for r in recs:
        journal.put(r)
    got = journal.unfinished()
    assert [r.submitted_at for r in got] == [1.0, 2.0, 4.0, 5.0]
    assert {r.state for r in got} == {JobState.QUEUED, JobState.RUNNING, JobState.PREEMPTED}


def test_chunk_bookkeeping(journal):
    rec = record()
    journal.put(rec)
    assert journal.chunks(rec.job_id) == {}
    journal.put_chunk(rec.job_id, 2, "/s/jobs/x/chunks/00000002.json")
    journal.put_chunk(rec.job_id, 0, "/s/jobs/x/chunks/00000000.json")
    journal.put_chunk(rec.job_id, 2, "/s/jobs/x/chunks/00000002.json")  # idempotent (a re-run chunk)
    assert journal.chunks(rec.job_id) == {0: "/s/jobs/x/chunks/00000000.json", 2: "/s/jobs/x/chunks/00000002.json"}
    other = new_job_id()
    assert journal.chunks(other) == {}
    for bad in (-1, True, 1.5, "3"):
        with pytest.raises(ValueError):
            journal.put_chunk(rec.job_id, bad, "p")
    with pytest.raises(InvalidJobId):
        journal.put_chunk("x/../y", 0, "p")
    assert journal.delete(rec.job_id) is True
    assert journal.get(rec.job_id) is None and journal.chunks(rec.job_id) == {}
    assert journal.delete(rec.job_id) is False


def test_concurrent_puts_from_threads(journal):
    n_threads, per_thread = 4, 25
    errors: list[BaseException] = []
    made: list[list[JobRecord]] = [[] for _ in range(n_threads)]

    def work(k: int) -> None:
        try:
            for i in range(per_thread):
                r = record(tenant=f"t{k}", at=float(i))
                journal.put(r)
                journal.put(r.transition("running", now=float(i) + 0.5))
                journal.put_chunk(r.job_id, 0, f"p{k}-{i}")
                made[k].append(r)
                journal.list(tenant=f"t{k}", limit=5)
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(journal.list(limit=None)) == n_threads * per_thread
    assert all(r.state is JobState.RUNNING for r in journal.unfinished())
    for k in range(n_threads):
        for r in made[k]:
            assert journal.chunks(r.job_id) == {0: f"p{k}-{r.submitted_at:.0f}"}


def test_closed_journal_refuses_calls(journal):
    journal.close()
    with pytest.raises(JournalError):
        journal.put(record())
    journal.close()  # idempotent


# --- SQLite specifics ----------------------------------------------------------------


def test_survives_close_and_reopen(tmp_path: Path):
    path = tmp_path / "jobs.sqlite3"
    j = SqliteJobJournal(path)
    queued = record(at=1.0)
    running = record(at=2.0).transition("running", now=3.0, chunks_total=4, chunks_done=2)
    done = record(at=0.5).transition("running", now=1.0).transition("succeeded", now=2.0, cache_key="k" * 64)
    for r in (queued, running, done):
        j.put(r)
    j.put_chunk(running.job_id, 0, "c0")
    j.put_chunk(running.job_id, 1, "c1")
    j.close()

    j2 = SqliteJobJournal(path)
    assert j2.get(queued.job_id) == queued and j2.get(running.job_id) == running and j2.get(done.job_id) == done
    assert [r.job_id for r in j2.unfinished()] == [queued.job_id, running.job_id]
    assert j2.chunks(running.job_id) == {0: "c0", 1: "c1"}
    j2.close()


def test_wal_mode_and_schema(tmp_path: Path):
    path = tmp_path / "jobs.sqlite3"
    with SqliteJobJournal(path) as j:
        j.put(record())
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "1"
        conn.close()


def test_visible_to_another_connection_once_put_returns(tmp_path: Path):
    path = tmp_path / "jobs.sqlite3"
    with SqliteJobJournal(path) as j:
        rec = record()
        j.put(rec)
        with SqliteJobJournal(path) as reader:
            assert reader.get(rec.job_id) == rec


def test_corrupt_and_foreign_rows_are_skipped(tmp_path: Path, caplog):
    path = tmp_path / "jobs.sqlite3"
    j = SqliteJobJournal(path)
    good = record(at=1.0)
    j.put(good)
    bad_ids = [new_job_id() for _ in range(4)]
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT INTO jobs VALUES (?, 't', 'queued', 2.0, ?)", (bad_ids[0], "{not json"))
        foreign = good.to_dict() | {"job_id": bad_ids[1], "state": "quantum"}
        conn.execute("INSERT INTO jobs VALUES (?, 't', 'queued', 3.0, ?)", (bad_ids[1], json.dumps(foreign)))
        other = good.to_dict() | {"job_id": bad_ids[2]}
        other["spec"] = {"kind": "teleport", "payload": {}}
        conn.execute("INSERT INTO jobs VALUES (?, 't', 'running', 4.0, ?)", (bad_ids[2], json.dumps(other)))
        # A row whose key does not match the record inside it.
        conn.execute("INSERT INTO jobs VALUES (?, 't', 'queued', 5.0, ?)", (bad_ids[3], good.to_json()))
        conn.execute("INSERT INTO chunks VALUES (?, -1, 'x')", (good.job_id,))
        conn.execute("INSERT INTO chunks VALUES (?, 1, 'ok')", (good.job_id,))
    conn.close()
    with caplog.at_level(logging.WARNING, logger="actors.jobs.journal"):
        assert [r.job_id for r in j.unfinished()] == [good.job_id]
        assert [r.job_id for r in j.list(limit=1)] == [good.job_id]  # bad rows do not eat the page
        assert [r.job_id for r in j.list(limit=None)] == [good.job_id]
        for bad in bad_ids:
            assert j.get(bad) is None
        assert j.chunks(good.job_id) == {1: "ok"}
    assert "skipping unreadable" in caplog.text
    j.close()


def test_not_a_database_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "jobs.sqlite3"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(JournalError, match="job journal"):
        SqliteJobJournal(path)
