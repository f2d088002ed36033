"""Memory pressure levels: trim at 75 %, shed LOW/IDLE at 85 %, reclaim at 95 %."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from gpu_hal.errors import DevicePressure, DeviceFault
from gpu_hal.memory.pressure import MemoryPressure, PressureLevel
from gpu_hal.memory.budget import MemoryBudget
from gpu_hal.streams.priority import JobClass
from tests.gpu_hal.conftest import MiB, make_device


def test_levels_follow_the_budget_and_transitions_are_kept() -> None:
    budget = MemoryBudget(1000, 0.0, 0)
    budget.register("a", None)
    p = MemoryPressure(budget, (0.75, 0.85, 0.95), history=8)
    seen = []
    p.subscribe(seen.append)
    held = []
    for nbytes, level in [(700, "NORMAL"), (60, "TRIM"), (100, "SHED"), (100, "RECLAIM")]:
        held.append(budget.reserve("a", nbytes))
        assert p.level.name == level
    for res in held:
        res.release()
    assert p.level.name == "NORMAL"
    assert [(t.before.name, t.after.name) for t in seen] == [
        ("NORMAL", "TRIM"), ("TRIM", "SHED"), ("SHED", "RECLAIM"), ("RECLAIM", "NORMAL")]
    assert [round(t.ratio, 2) for t in seen] == [0.76, 0.86, 0.96, 0.26]
    assert p.snapshot()["level"] == "NORMAL" and len(p.snapshot()["transitions"]) == len(seen)
    assert p.admits(JobClass.LOW)
    with pytest.raises(ValueError, match="thresholds"):
        MemoryPressure(budget, (0.9, 0.8, 0.95), history=8)


def test_trim_level_gives_idle_pools_back() -> None:
    dev = make_device(trim_idle_after_s=60.0)  # without pressure, idle pools keep their cache a minute
    idle = dev.create_context("idle", JobClass.LOW, limit_bytes=400 * MiB)
    a = idle.empty((300 * MiB,), np.uint8)
    del a  # 300 MiB cached in the idle pool
    assert dev.budget.charged == 300 * MiB
    busy = dev.create_context("busy", JobClass.HIGH, limit_bytes=400 * MiB)
    keep = busy.empty((320 * MiB,), np.uint8)  # 620 / 800 MiB = 77.5 %: TRIM
    dev.pressure_responder.flush()
    assert dev.status()["pressure"]["trims"] >= 1
    assert idle.pool.total_bytes() == 0 and dev.budget.charged == 320 * MiB
    assert dev.pressure.level is PressureLevel.NORMAL  # 40 %: back to normal after the trim
    del keep
    dev.close()


def test_shed_level_refuses_new_low_work_only() -> None:
    dev = make_device(trim_idle_after_s=60.0)
    high = dev.create_context("high", JobClass.HIGH, limit_bytes=800 * MiB)
    low = dev.create_context("low", JobClass.LOW, limit_bytes=400 * MiB)
    keep = high.empty((700 * MiB,), np.uint8)  # 87.5 %: SHED
    assert dev.pressure.level is PressureLevel.SHED
    with pytest.raises(DevicePressure) as ei:
        with low.reserve(MiB):
            pass
    assert isinstance(ei.value, DeviceFault)  # walks the fallback chain: another device, or the CPU
    assert low.counters()["shed"] == 1 and dev.budget.owner_figures("low")["charged"] == 0
    with high.reserve(MiB) as req:  # HIGH is still admitted
        req.run(lambda: None)
    del keep
    high.trim_if_idle()
    with low.reserve(MiB) as req:  # and LOW again once the pressure is gone
        req.run(lambda: None)
    dev.close()


def test_reclaim_preempts_running_low_work_and_high_gets_its_memory() -> None:
    """A HIGH request that needs memory held by a running LOW request: the LOW request
    is preempted at its next kernel, its memory comes back, HIGH then fits."""
    dev = make_device(trim_idle_after_s=0.0)
    low = dev.create_context("low", JobClass.LOW, limit_bytes=800 * MiB)
    high = dev.create_context("high", JobClass.HIGH, limit_bytes=800 * MiB)
    started, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def low_job() -> None:
        try:
            with low.reserve(0) as req:
                held = req.run(lambda: low.empty((770 * MiB,), np.uint8))  # 96 %: RECLAIM
                started.set()
                release.wait(5)
                req.run(lambda: held.sum())  # the next kernel: preempted here
                outcome["low"] = "finished"
        except DevicePressure as exc:
            outcome["low"] = type(exc)  # not the exception: its traceback would keep `held` alive

    th = threading.Thread(target=low_job)
    th.start()
    assert started.wait(5)
    dev.pressure_responder.flush()
    assert dev.status()["pressure"]["preempted"] == 1
    release.set()
    th.join(5)
    assert outcome["low"] is DevicePressure
    assert low.counters()["preempted"] == 1
    # LOW's freed blocks are still cached in its (idle) pool: HIGH's reservation does not fit
    # until the reclaim path trims idle pools, which it does by itself.
    with high.reserve(600 * MiB) as req:
        out = req.run(lambda: high.empty((600 * MiB,), np.uint8))
    assert out.nbytes == 600 * MiB
    assert dev.budget.owner_figures("low")["charged"] == 0
    assert dev.status()["pressure"]["reclaims"] == 1 and dev.pressure_responder.last_reclaim_s < 0.1
    dev.close()


def test_high_request_waits_for_the_memory_of_a_running_low_request() -> None:
    """A HIGH reservation that does not fit preempts the LOW request holding the memory and gets
    it as soon as the LOW request stops at its next kernel; a LOW request asking the same waits for
    nobody and is refused at once."""
    dev = make_device(trim_idle_after_s=0.0)
    low = dev.create_context("low", JobClass.LOW, limit_bytes=800 * MiB)
    high = dev.create_context("high", JobClass.HIGH, limit_bytes=800 * MiB)
    other_low = dev.create_context("low2", JobClass.LOW, limit_bytes=800 * MiB)
    in_request, outcome = threading.Event(), {}

    def low_chunk() -> None:
        try:
            with low.reserve(600 * MiB) as req:  # a chunk's reservation: the memory HIGH will need
                in_request.set()
                for _ in range(400):  # kernel after kernel until preempted (at most ~4 s)
                    req.run(lambda: threading.Event().wait(0.01))
                outcome["low"] = "finished"
        except DevicePressure:
            outcome["low"] = "preempted"

    th = threading.Thread(target=low_chunk)
    th.start()
    assert in_request.wait(5)
    with pytest.raises(Exception) as refused:  # another LOW tenant: refused at once, nobody preempted
        with other_low.reserve(400 * MiB):
            pass
    # shed, not failed: a LOW request that finds the device full walks the fallback chain (DeviceFault)
    assert type(refused.value) is DevicePressure and low.counters()["preempted"] == 0
    assert "device budget is full" in str(refused.value) and type(refused.value.__cause__).__name__ == "QuotaExceeded"
    t0 = time.perf_counter()
    with high.reserve(400 * MiB) as req:
        waited = time.perf_counter() - t0
        req.run(lambda: None)
    th.join(5)
    assert outcome["low"] == "preempted" and low.counters()["preempted"] == 1
    assert waited < dev.config.device.reclaim_wait_s, waited  # within the wait (one LOW kernel, ~10 ms, here)
    dev.close()


def test_high_request_drops_cached_low_holdings_through_the_registered_reclaimers() -> None:
    """Memory a LOW job holds outside any request (a worker's cached job data, `hold`) is given
    back when a HIGH request needs it; a NORMAL request that does not fit leaves it alone."""
    dev = make_device(trim_idle_after_s=0.0)
    low = dev.create_context("low", JobClass.LOW, limit_bytes=800 * MiB)
    normal = dev.create_context("normal", JobClass.NORMAL, limit_bytes=800 * MiB)
    high = dev.create_context("high", JobClass.HIGH, limit_bytes=800 * MiB)
    held = {"low": low.hold(600 * MiB)}  # cached data of a LOW job
    asked: list[frozenset] = []

    def reclaimer(classes: frozenset) -> int:
        asked.append(classes)
        if JobClass.LOW not in classes or "low" not in held:
            return 0
        held.pop("low").release()
        return 600 * MiB

    dev.pools.add_reclaimer(reclaimer)
    with pytest.raises(Exception) as refused:  # NORMAL: refused, the cache stays
        with normal.reserve(400 * MiB):
            pass
    assert type(refused.value).__name__ == "QuotaExceeded" and asked == [] and "low" in held
    with high.reserve(400 * MiB) as req:  # HIGH: the LOW cache goes, the request fits
        assert req.run(lambda: high.empty((400 * MiB,), np.uint8)).nbytes == 400 * MiB
    assert "low" not in held and asked and JobClass.LOW in asked[0] and JobClass.HIGH not in asked[0]
    assert dev.budget.owner_figures("low")["charged"] == 0
    dev.close()
