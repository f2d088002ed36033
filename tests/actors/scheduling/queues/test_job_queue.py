"""Job queue: priority order, FIFO, aging, admission limits, requeue (fake clock, no Ray)."""
from __future__ import annotations

import pickle
import threading

import pytest

from actors.config import QueueConfig
from actors.scheduling.queues.job_queue import AdmissionRefused, JobQueue
from actors.jobs.records import new_job_id
from gpu_hal.streams.priority import JobClass


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


def make(config: QueueConfig | None = None) -> tuple[JobQueue, FakeClock]:
    clock = FakeClock()
    return JobQueue(config or QueueConfig(aging_interval_s=0), clock=clock), clock


def drain(q: JobQueue) -> list[str]:
    out = []
    while (e := q.pop()) is not None:
        out.append(e.job_id)
    return out


def test_priority_order_and_fifo_within_class():
    q, clock = make()
    pushed = [("l1", "LOW"), ("n1", "NORMAL"), ("i1", "IDLE"), ("r1", "REALTIME"), ("n2", "NORMAL"),
              ("h1", "HIGH"), ("l2", "LOW"), ("r2", "REALTIME")]
    for job_id, cls in pushed:
        q.push(job_id, cls, "t")
        clock.advance(1.0)
    assert len(q) == 8 and "n2" in q
    assert q.depth_by_class() == {"REALTIME": 2, "HIGH": 1, "NORMAL": 2, "LOW": 2, "IDLE": 1}
    assert q.best_waiting_class() is JobClass.REALTIME
    assert [e.job_id for e in q.snapshot()] == ["r1", "r2", "h1", "n1", "n2", "l1", "l2", "i1"]
    assert drain(q) == ["r1", "r2", "h1", "n1", "n2", "l1", "l2", "i1"]
    assert q.pop() is None and len(q) == 0 and q.best_waiting_class() is None


def test_fifo_with_identical_timestamps_uses_arrival_order():
    q, _ = make()
    ids = [f"j{i}" for i in range(20)]
    for job_id in ids:
        q.push(job_id, JobClass.NORMAL, "t")
    assert drain(q) == ids


def test_pop_min_class():
    q, _ = make()
    q.push("n", "NORMAL", "t")
    assert q.pop(min_class=JobClass.REALTIME) is None
    assert q.pop(min_class="HIGH") is None
    q.push("r", "REALTIME", "t")
    assert q.pop(min_class=JobClass.REALTIME).job_id == "r"
    assert q.pop(min_class="NORMAL").job_id == "n"


def test_aging_rule_is_exact():
    q, clock = make(QueueConfig(aging_interval_s=10.0))
    low = q.push("low", "LOW", "t")
    idle = q.push("idle", "IDLE", "t")
    high = q.push("high", "HIGH", "t")
    rt = q.push("rt", "REALTIME", "t")
    for waited, want_low, want_idle in [(9.99, "LOW", "IDLE"), (10.0, "NORMAL", "LOW"), (20.0, "HIGH", "NORMAL"),
                                        (30.0, "HIGH", "HIGH"), (1e6, "HIGH", "HIGH")]:
        now = clock.t + waited
        assert q.effective_class(low, now).name == want_low
        assert q.effective_class(idle, now).name == want_idle
        assert q.effective_class(high, now) is JobClass.HIGH  # never above HIGH
        assert q.effective_class(rt, now) is JobClass.REALTIME


def test_aging_low_job_beats_a_stream_of_normal_arrivals():
    q, clock = make(QueueConfig(aging_interval_s=5.0))
    q.push("low", JobClass.LOW, "research")
    served = []
    # One NORMAL job arrives and one job is served every second, forever.
    for i in range(100):
        q.push(f"n{i}", JobClass.NORMAL, "desk")
        clock.advance(1.0)
        entry = q.pop()
        served.append(entry.job_id)
        if entry.job_id == "low":
            assert entry.effective_class is JobClass.NORMAL  # it won by aging, within one interval
            break
    assert "low" in served
    assert served.index("low") <= 5


def test_aging_low_job_beats_a_stream_of_high_arrivals():
    q, clock = make(QueueConfig(aging_interval_s=5.0))
    q.push("low", JobClass.LOW, "research")
    for i in range(100):
        q.push(f"h{i}", JobClass.HIGH, "desk")
        q.push(f"h{i}b", JobClass.HIGH, "desk")  # arrivals outpace service
        clock.advance(1.0)
        entry = q.pop()
        if entry.job_id == "low":
            assert entry.effective_class is JobClass.HIGH
            break
    else:
        pytest.fail("the LOW job starved")


def test_realtime_always_wins_over_aged_work():
    q, clock = make(QueueConfig(aging_interval_s=1.0))
    q.push("low", "LOW", "t")
    clock.advance(1000.0)
    q.push("rt", "REALTIME", "t")
    assert q.pop().job_id == "rt"
    assert q.pop().job_id == "low"


def test_admission_refused_per_tenant():
    q, _ = make(QueueConfig(max_queued_per_tenant=2, retry_after_s=7.5, aging_interval_s=0))
    q.push(new_job_id(), "LOW", "alice")
    q.push(new_job_id(), "HIGH", "alice")
    with pytest.raises(AdmissionRefused) as err:
        q.push(new_job_id(), "NORMAL", "alice")
    assert err.value.scope == "tenant" and err.value.retry_after_s == 7.5 and "alice" in err.value.reason
    q.push(new_job_id(), "NORMAL", "bob")  # other tenants are unaffected
    assert q.depth_by_tenant() == {"alice": 2, "bob": 1}
    # Once one of alice's jobs leaves the queue she may submit again.
    q.pop()
    q.push(new_job_id(), "NORMAL", "alice")


def test_admission_refused_per_class():
    q, _ = make(QueueConfig(max_queued_low=2, retry_after_s=3.0, aging_interval_s=0))
    a = q.push("a", "LOW", "t1")
    q.push("b", "LOW", "t2")
    with pytest.raises(AdmissionRefused) as err:
        q.push("c", "LOW", "t3")
    assert err.value.scope == "class" and err.value.retry_after_s == 3.0 and "LOW" in str(err.value)
    q.push("d", "NORMAL", "t3")  # other classes are unaffected
    assert q.remove("a") == a
    q.push("c", "LOW", "t3")


def test_admission_refused_is_picklable():
    err = AdmissionRefused("full", 2.0, "class")
    back = pickle.loads(pickle.dumps(err))
    assert (back.reason, back.retry_after_s, back.scope) == ("full", 2.0, "class")


def test_recovered_jobs_bypass_limits_and_duplicates_are_rejected():
    q, _ = make(QueueConfig(max_queued_per_tenant=1, max_queued_low=1, aging_interval_s=0))
    q.push("a", "LOW", "t")
    q.push("b", "LOW", "t", enforce_limits=False)
    assert len(q) == 2
    with pytest.raises(ValueError):
        q.push("a", "LOW", "t", enforce_limits=False)


def test_requeue_keeps_original_position():
    q, clock = make()
    for job_id in ("l1", "l2"):
        q.push(job_id, "LOW", "t")
        clock.advance(1.0)
    first = q.pop()
    assert first.job_id == "l1"
    q.push("l3", "LOW", "t")  # arrives while l1 runs
    clock.advance(1.0)
    back = q.requeue(first)  # l1 is preempted
    assert back.enqueued_at == first.enqueued_at and back.effective_class is None
    assert drain(q) == ["l1", "l2", "l3"]
    q.requeue(back)
    with pytest.raises(ValueError):
        q.requeue(back)  # already waiting


def test_requeue_keeps_earned_aging():
    q, clock = make(QueueConfig(aging_interval_s=10.0))
    q.push("low", "LOW", "t")
    clock.advance(25.0)
    entry = q.pop()
    assert entry.effective_class is JobClass.HIGH
    q.requeue(entry)
    q.push("n", "NORMAL", "t")
    assert q.best_waiting_class() is JobClass.HIGH
    assert q.pop().job_id == "low"


def test_requeue_bypasses_limits():
    q, _ = make(QueueConfig(max_queued_low=1, aging_interval_s=0))
    q.push("a", "LOW", "t")
    running = q.pop()
    q.push("b", "LOW", "t")
    q.requeue(running)
    assert len(q) == 2


def test_remove():
    q, _ = make()
    q.push("a", "LOW", "t")
    q.push("b", "LOW", "t")
    assert q.remove("zzz") is None
    assert q.remove("a").job_id == "a"
    assert q.remove("a") is None
    assert drain(q) == ["b"] and q.depth_by_tenant() == {}


def test_thread_safety_under_concurrent_push_and_pop():
    q = JobQueue(QueueConfig(max_queued_per_tenant=10_000))
    n_threads, per_thread = 4, 250
    popped: list[str] = []
    lock = threading.Lock()

    def producer(k: int) -> None:
        for i in range(per_thread):
            q.push(f"{k}-{i}", list(JobClass)[i % 5], f"tenant{k}")

    def consumer() -> None:
        while True:
            e = q.pop()
            if e is None:
                if done.is_set() and len(q) == 0:
                    return
                continue
            with lock:
                popped.append(e.job_id)

    done = threading.Event()
    producers = [threading.Thread(target=producer, args=(k,)) for k in range(n_threads)]
    consumers = [threading.Thread(target=consumer) for _ in range(2)]
    for t in producers + consumers:
        t.start()
    for t in producers:
        t.join()
    done.set()
    for t in consumers:
        t.join(timeout=30)
    assert sorted(popped) == sorted(f"{k}-{i}" for k in range(n_threads) for i in range(per_thread))
    assert len(q) == 0
