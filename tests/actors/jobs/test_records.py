"""Job specs, records, ids and the lifecycle (plain data, no Ray)."""
from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from actors.config import ERROR_MAX_CHARS, SPEC_MAX_BYTES
from actors.jobs.records import (
    InvalidJobId,
    InvalidJobSpec,
    InvalidTransition,
    JobKind,
    JobRecord,
    JobSpec,
    JobState,
    Tier,
    new_job_id,
    validate_job_id,
)
from gpu_hal.streams.priority import JobClass

SPEC = JobSpec(
    JobKind.SWEEP,
    {"dataset": "synthetic", "strategy": "trend_following", "grid": {"fast": [5, 10], "slow": [20, 50]},
     "costs": {"fees": 0.001, "slippage": 0.0005}, "top_k": 5},
)


def test_state_terminal_flags():
    assert {s for s in JobState if s.terminal} == {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}
    assert JobState.parse("RUNNING") is JobState.RUNNING
    with pytest.raises(ValueError):
        JobState.parse("done")


def test_tier_order():
    assert [t.rank for t in (Tier.PRIMARY, Tier.SAME_DEVICE, Tier.OTHER_GPU, Tier.CPU)] == [0, 1, 2, 3]
    assert Tier("other_gpu") is Tier.OTHER_GPU


def test_job_ids():
    a, b = new_job_id(), new_job_id()
    assert a != b and validate_job_id(a) == a and len(a) == 32
    for bad in ["../x", "", a.upper(), a[:-1], a + "0", a[:-1] + "g", "/" + a[1:], None, 123, a + "\n"]:
        with pytest.raises(InvalidJobId):
            validate_job_id(bad)
    assert issubclass(InvalidJobId, ValueError)


def test_spec_json_round_trip_and_canonical_form():
    again = JobSpec.from_json(SPEC.to_json())
    assert again == SPEC and hash(again) == hash(SPEC)
    reordered = JobSpec("sweep", dict(reversed(list(SPEC.payload.items()))))
    assert reordered.to_json() == SPEC.to_json()
    assert json.loads(SPEC.to_json())["kind"] == "sweep"
    assert pickle.loads(pickle.dumps(SPEC)) == SPEC


def test_spec_normalises_numpy_and_tuples():
    spec = JobSpec("backtest", {"window": np.int64(20), "grid": np.arange(3), "symbols": ("A", "B"), "x": np.float32(0.5)})
    assert spec.payload == {"window": 20, "grid": [0, 1, 2], "symbols": ["A", "B"], "x": 0.5}
    assert type(spec.payload["window"]) is int


@pytest.mark.parametrize(
    "payload",
    [
        {"x": float("nan")},
        {"x": float("inf")},
        {"x": object()},
        {1: "int key"},
        {"x": {2: "nested int key"}},
        {"x": np.array([object()], dtype=object)},
        {"x": {1, 2}},
    ],
)
def test_spec_rejects_non_json_payloads(payload):
    with pytest.raises(InvalidJobSpec):
        JobSpec("backtest", payload)


def test_spec_rejects_unknown_kind_bad_payload_and_oversize():
    with pytest.raises(InvalidJobSpec):
        JobSpec("mine_bitcoin", {})
    with pytest.raises(InvalidJobSpec):
        JobSpec("backtest", ["not", "a", "mapping"])
    with pytest.raises(InvalidJobSpec):
        JobSpec("backtest", {"blob": "x" * SPEC_MAX_BYTES})
    with pytest.raises(InvalidJobSpec):
        JobSpec("backtest", {"blob": "x" * 200}, max_bytes=100)
    with pytest.raises(InvalidJobSpec):
        JobSpec.from_json("{" * (SPEC_MAX_BYTES + 1))
    with pytest.raises(InvalidJobSpec):
        JobSpec.from_json("not json")
    with pytest.raises(InvalidJobSpec):
        JobSpec.from_json('{"kind": "backtest", "payload": {}, "extra": 1}')
    with pytest.raises(InvalidJobSpec):
        JobSpec.from_json('{"kind": "backtest", "payload": {"x": NaN}}')


def test_record_round_trip_and_public_view():
    rec = JobRecord.new(SPEC, "low", "desk-a", now=100.0)
    assert rec.state is JobState.QUEUED and rec.job_class is JobClass.LOW and rec.attempts == 0
    running = rec.transition(JobState.RUNNING, now=102.0, device="gpu:0", worker_id="w0", tier=Tier.PRIMARY,
                             chunks_total=4, attempts=1)
    done = running.replace(chunks_done=4).transition("succeeded", now=105.0, result_path="/x/result.json")
    assert JobRecord.from_json(done.to_json()) == done
    assert JobRecord.from_dict(json.loads(json.dumps(done.to_dict()))) == done
    pub = done.to_public(now=200.0)
    json.dumps(pub)  # JSON-able
    assert pub["state"] == "succeeded" and pub["priority"] == "LOW" and pub["tier"] == "primary"
    assert pub["progress"] == {"chunks_done": 4, "chunks_total": 4, "fraction": 1.0}
    assert pub["timings"] == {"queued_s": 2.0, "running_s": 3.0, "total_s": 5.0}
    assert "result_path" not in pub and "payload" not in pub and "worker_id" not in pub
    assert pickle.loads(pickle.dumps(done)) == done


def test_record_lifecycle_and_validation():
    rec = JobRecord.new(SPEC, JobClass.NORMAL, "t", now=0.0)
    run1 = rec.transition("running", now=1.0)
    pre = run1.transition("preempted", now=2.0)
    run2 = pre.transition("running", now=3.0)
    assert run2.started_at == 1.0  # the first start is kept across resumes
    failed = run2.transition("failed", now=4.0, error="boom" * ERROR_MAX_CHARS)
    assert failed.finished_at == 4.0 and len(failed.error) == ERROR_MAX_CHARS
    with pytest.raises(InvalidTransition):
        failed.transition("running")
    with pytest.raises(InvalidTransition):
        rec.transition("preempted")
    assert rec.transition("cancelled", now=5.0).state.terminal
    with pytest.raises(InvalidJobId):
        JobRecord("../etc", SPEC, JobClass.LOW, "t")
    with pytest.raises(ValueError):
        JobRecord(new_job_id(), SPEC, JobClass.LOW, "")
    with pytest.raises(ValueError):
        JobRecord(new_job_id(), SPEC, "URGENT", "t")


def test_record_from_foreign_data_raises():
    good = JobRecord.new(SPEC, "high", "t").to_dict()
    for mutate in (
        lambda d: d.update(state="exploded"),
        lambda d: d.update(job_class="ULTRA"),
        lambda d: d.pop("spec"),
        lambda d: d.update(job_id="not-an-id"),
        lambda d: d.update(tier="moon"),
    ):
        bad = dict(good)
        mutate(bad)
        with pytest.raises((ValueError, KeyError, TypeError)):
            JobRecord.from_dict(bad)
