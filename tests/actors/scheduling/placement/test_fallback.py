"""Placement and the fallback chain (no Ray)."""
from __future__ import annotations

import pickle

import pytest

from actors.config import FallbackConfig
from actors.scheduling.placement.fallback import Attempt, FallbackPolicy, NoCapacity, WorkerView
from actors.jobs.records import Tier

GiB = 1 << 30


def gpu(i: int, free: int = 8 * GiB, load: int = 0, healthy: bool = True, simulated: bool = False) -> WorkerView:
    return WorkerView(f"gpu{i}", "gpu", i, healthy, free, load, simulated)


def cpu(i: int, load: int = 0, healthy: bool = True) -> WorkerView:
    return WorkerView(f"cpu{i}", "cpu", None, healthy, 0, load)


POLICY = FallbackPolicy()


def test_worker_view_validation_and_label():
    assert gpu(1).label == "gpu:1" and cpu(0).label == "cpu"
    assert gpu(0, simulated=True).label == "simgpu:0"
    with pytest.raises(ValueError):
        WorkerView("x", "tpu")
    with pytest.raises(ValueError):
        WorkerView("x", "cpu", device=0)


def test_choose_most_free_budget_then_least_load():
    workers = [gpu(0, free=4 * GiB), gpu(1, free=8 * GiB, load=3), gpu(2, free=8 * GiB, load=1), cpu(0)]
    assert POLICY.choose(workers).worker_id == "gpu2"
    assert POLICY.choose(workers, exclude={"gpu2"}).worker_id == "gpu1"
    assert POLICY.choose(workers, exclude=["gpu1", "gpu2"]).worker_id == "gpu0"
    assert POLICY.choose(workers, min_free_bytes=5 * GiB, exclude={"gpu1", "gpu2"}).worker_id == "cpu0"


def test_choose_skips_unhealthy_and_prefers_real_devices_on_ties():
    workers = [gpu(0, healthy=False, free=100 * GiB), gpu(1, simulated=True), gpu(2)]
    assert POLICY.choose(workers).worker_id == "gpu2"


def test_choose_falls_back_to_least_loaded_cpu():
    workers = [gpu(0, healthy=False), cpu(0, load=2), cpu(1, load=1)]
    assert POLICY.choose(workers).worker_id == "cpu1"
    with pytest.raises(NoCapacity):
        POLICY.choose([gpu(0, healthy=False), cpu(0, healthy=False)])
    with pytest.raises(NoCapacity):
        POLICY.choose([])


def test_full_chain_order():
    workers = [gpu(0), gpu(1, free=6 * GiB), gpu(2, free=7 * GiB), cpu(0)]
    history = [Attempt("gpu0", Tier.PRIMARY)]
    w, tier = POLICY.next_tier(gpu(0), history, workers)
    assert (w.worker_id, tier) == ("gpu0", Tier.SAME_DEVICE)
    history.append(Attempt(w.worker_id, tier))
    w, tier = POLICY.next_tier(w, history, workers)
    assert (w.worker_id, tier) == ("gpu2", Tier.OTHER_GPU)  # most free budget among the others
    history.append(Attempt(w.worker_id, tier))
    w, tier = POLICY.next_tier(w, history, workers)
    assert (w.worker_id, tier) == ("gpu1", Tier.OTHER_GPU)
    history.append(Attempt(w.worker_id, tier))
    w, tier = POLICY.next_tier(w, history, workers)
    assert (w.worker_id, tier) == ("cpu0", Tier.CPU)
    history.append(Attempt(w.worker_id, tier))
    # The CPU worker stays a candidate while it is healthy (max_attempts bounds retries).
    assert POLICY.next_tier(w, history, workers) == (workers[3], Tier.CPU)
    dead_cpu = [gpu(0), gpu(1), gpu(2), cpu(0, healthy=False)]
    with pytest.raises(NoCapacity):
        POLICY.next_tier(w, history, dead_cpu)


def test_same_device_needs_a_healthy_device():
    # The failed worker died (absent from the view) or its device went FAILED.
    workers = [gpu(1), cpu(0)]
    assert POLICY.next_tier(gpu(0), [("gpu0", "primary")], workers)[1] is Tier.OTHER_GPU
    workers = [gpu(0, healthy=False), gpu(1), cpu(0)]
    w, tier = POLICY.next_tier(gpu(0), [], workers)
    assert (w.worker_id, tier) == ("gpu1", Tier.OTHER_GPU)


def test_same_device_only_once_and_never_after_falling_back():
    workers = [gpu(0), gpu(1), cpu(0)]
    after_same = [Attempt("gpu0", Tier.PRIMARY), Attempt("gpu0", Tier.SAME_DEVICE)]
    assert POLICY.next_tier(gpu(0), after_same, workers) == (workers[1], Tier.OTHER_GPU)
    # A fault on the OTHER_GPU tier does not retry that device: the chain moves down.
    after_other = [Attempt("gpu0", Tier.PRIMARY), Attempt("gpu1", Tier.OTHER_GPU)]
    assert POLICY.next_tier(gpu(1), after_other, workers) == (workers[2], Tier.CPU)


def test_never_goes_back_up_from_cpu():
    workers = [gpu(0), cpu(0), cpu(1, load=5)]
    history = [Attempt("cpu0", Tier.CPU)]
    w, tier = POLICY.next_tier(cpu(0), history, workers)
    assert (w.worker_id, tier) == ("cpu1", Tier.CPU)  # an untried CPU worker first, even if busier


def test_cpu_only_machine():
    workers = [cpu(0)]
    placed = POLICY.choose(workers)
    assert placed.worker_id == "cpu0"
    assert POLICY.next_tier(placed, [Attempt("cpu0", Tier.PRIMARY)], workers) == (placed, Tier.CPU)
    with pytest.raises(NoCapacity):
        POLICY.next_tier(placed, [], [cpu(0, healthy=False)])


def test_configurable_tiers():
    workers = [gpu(0), gpu(1), cpu(0)]
    no_same = FallbackPolicy(FallbackConfig(same_device_retry=False))
    assert no_same.next_tier(gpu(0), [], workers)[1] is Tier.OTHER_GPU
    no_cpu = FallbackPolicy(FallbackConfig(allow_cpu=False))
    with pytest.raises(NoCapacity):
        no_cpu.next_tier(gpu(1), [Attempt("gpu0", Tier.PRIMARY), Attempt("gpu1", Tier.OTHER_GPU)], workers)


def test_uses_the_current_view_of_the_failed_worker():
    # `failed` may be a stale snapshot: the current view decides health.
    stale = gpu(0, healthy=True)
    workers = [gpu(0, healthy=False), cpu(0)]
    assert POLICY.next_tier(stale, [], workers) == (workers[1], Tier.CPU)


def test_no_capacity_is_picklable():
    err = pickle.loads(pickle.dumps(NoCapacity("nothing left")))
    assert err.reason == "nothing left" and "nothing left" in str(err)
