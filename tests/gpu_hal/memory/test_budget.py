from __future__ import annotations

import random
import threading

import pytest

from gpu_hal.memory.budget import MemoryBudget, compute_budget
from gpu_hal.errors import QuotaExceeded

GiB = 1 << 30


def test_budget_formula() -> None:
    assert compute_budget(80 * GiB, 0.10, 512 << 20) == int(80 * GiB * 0.9) - (512 << 20)
    assert compute_budget(1000, 0.0, 0) == 1000
    assert compute_budget(1000, 0.5, 100) == 400
    assert compute_budget(1000, 0.5, 10_000) == 0  # never negative


def test_budget_object_uses_the_formula() -> None:
    b = MemoryBudget(16 * GiB, 0.2, GiB)
    assert b.budget == compute_budget(16 * GiB, 0.2, GiB)
    assert b.available == b.budget and b.charged == 0


def test_reserve_and_release_are_exact() -> None:
    b = MemoryBudget(1000, 0.0, 0)
    b.register("a", 600)
    with b.reserve("a", 400) as r:
        assert b.available == 600 and b.owner_figures("a")["reserved"] == 400
        assert not r.released
    assert r.released and b.available == 1000
    r.release()  # idempotent
    assert b.available == 1000


def test_quota_error_names_tenant_asked_available_tenant_scope() -> None:
    b = MemoryBudget(1000, 0.0, 0)
    b.register("alpha", 300)
    r = b.reserve("alpha", 200)
    with pytest.raises(QuotaExceeded) as ei:
        b.reserve("alpha", 150)
    e = ei.value
    assert (e.tenant, e.asked, e.available, e.scope) == ("alpha", 150, 100, "tenant")
    assert "alpha" in str(e) and "150" in str(e) and "100" in str(e)
    r.release()


def test_quota_error_device_scope() -> None:
    b = MemoryBudget(1000, 0.0, 0)
    b.register("a", None)
    b.register("b", 900)
    held = b.reserve("a", 700)
    with pytest.raises(QuotaExceeded) as ei:
        b.reserve("b", 400)
    assert (ei.value.tenant, ei.value.asked, ei.value.available, ei.value.scope) == ("b", 400, 300, "device")
    held.release()
    b.reserve("b", 400).release()
    assert b.owner_figures("b")["refused"] == 1


def test_floor_is_charged_up_front_and_used_first() -> None:
    b = MemoryBudget(1000, 0.0, 0)
    b.register("rt", 500)
    b.register("other", None)
    b.set_floor("rt", 200)
    assert b.charged == 200
    with b.reserve("rt", 150):
        assert b.charged == 200  # inside the floor: no extra charge
        with b.reserve("rt", 100):
            assert b.charged == 250
    assert b.charged == 200
    # Others cannot take the floor.
    with pytest.raises(QuotaExceeded):
        b.reserve("other", 801)
    b.unregister("rt")
    assert b.charged == 0
    b.check_invariants()


def test_floor_must_fit() -> None:
    b = MemoryBudget(1000, 0.0, 0)
    b.register("a", 2000)
    b.register("b", None)
    held = b.reserve("b", 900)
    with pytest.raises(QuotaExceeded) as ei:
        b.set_floor("a", 200)
    assert ei.value.scope == "device"
    held.release()
    b.register("small", 100)
    with pytest.raises(QuotaExceeded):
        b.set_floor("small", 200)


def test_unregister_with_live_reservation_is_refused() -> None:
    b = MemoryBudget(1000, 0.0, 0)
    b.register("a", None)
    r = b.reserve("a", 10)
    with pytest.raises(RuntimeError, match="still holds"):
        b.unregister("a")
    r.release()
    b.unregister("a")


def test_negative_and_unknown() -> None:
    b = MemoryBudget(1000, 0.0, 0)
    b.register("a", None)
    with pytest.raises(ValueError):
        b.reserve("a", -1)
    with pytest.raises(KeyError):
        b.reserve("nobody", 1)
    with pytest.raises(ValueError):
        b.register("a", None)


def test_10000_random_sequences_from_threads_leave_zero() -> None:
    """Reserve / release / failure / cancel from 8 threads; the books end at zero."""
    b = MemoryBudget(10_000, 0.1, 1000)  # budget 8000
    tenants = {f"t{i}": lim for i, lim in enumerate([2000, 3000, 5000, None])}
    for t, lim in tenants.items():
        b.register(t, lim)
    b.set_floor("t0", 500)
    n_threads, per_thread = 8, 1250
    outcomes = {"ok": 0, "refused": 0, "failed": 0, "cancelled": 0}
    lock = threading.Lock()
    errors: list[BaseException] = []

    class Cancel(BaseException):
        pass

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        local = dict.fromkeys(outcomes, 0)
        try:
            for _ in range(per_thread):
                t = rng.choice(list(tenants))
                n = rng.randint(0, 3000)
                kind = rng.random()
                try:
                    with b.reserve(t, n):
                        if kind < 0.25:
                            raise ValueError("work failed")
                        if kind < 0.4:
                            raise Cancel()
                        if kind < 0.5:  # nested reservation
                            with b.reserve(t, rng.randint(0, 500)):
                                pass
                    local["ok"] += 1
                except QuotaExceeded:
                    local["refused"] += 1
                except ValueError:
                    local["failed"] += 1
                except Cancel:
                    local["cancelled"] += 1
            with lock:
                for k, v in local.items():
                    outcomes[k] += v
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert sum(outcomes.values()) == n_threads * per_thread == 10_000
    assert all(v > 0 for v in outcomes.values()), outcomes
    b.check_invariants()
    snap = b.snapshot()
    assert all(o["reserved"] == 0 for o in snap["owners"].values())
    assert b.charged == 500  # only t0's floor
    b.set_floor("t0", 0)
    assert b.charged == 0 and b.available == b.budget
