"""Tenant quotas: defaults, configured entries, run-time changes that survive a restart."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.tenants.quotas import ClassNotAllowed, QuotaBook, TenantQuota
from gpu_hal.streams.priority import JobClass


def book(tmp_path: Path) -> QuotaBook:
    return QuotaBook(TenantQuota(), {"desk": TenantQuota(allowed_classes=("REALTIME", "HIGH", "NORMAL", "LOW"),
                                                         weight=3.0)}, tmp_path)


def test_realtime_and_high_are_granted_not_claimed(tmp_path: Path) -> None:
    b = book(tmp_path)
    assert b.authorize("desk", "realtime") is JobClass.REALTIME
    assert b.authorize("anyone", "LOW") is JobClass.LOW
    for jc in ("HIGH", "REALTIME"):
        with pytest.raises(ClassNotAllowed) as ei:
            b.authorize("anyone", jc)
        assert jc in str(ei.value) and "NORMAL, LOW, IDLE" in str(ei.value)
        assert ei.value.allowed == ("NORMAL", "LOW", "IDLE")


def test_changes_apply_at_once_and_survive_a_restart(tmp_path: Path) -> None:
    b = book(tmp_path)
    assert b.weight("bob") == 1.0
    q = b.set("bob", {"weight": 2.5, "allowed_classes": ["HIGH", "LOW"], "max_queued_jobs": 3})
    assert q.allowed_classes == ("HIGH", "LOW") and b.authorize("bob", "HIGH") is JobClass.HIGH
    assert b.get("bob").max_queued_jobs == 3
    b.set("desk", {"weight": 5.0})  # an override keeps the configured fields it does not change
    again = book(tmp_path)  # a restart with the same storage directory
    assert again.get("bob") == q and again.weight("desk") == 5.0
    assert again.get("desk").allows("REALTIME")
    again.reset("desk")
    assert book(tmp_path).weight("desk") == 3.0


def test_bad_quota_changes_name_the_field_and_change_nothing(tmp_path: Path) -> None:
    b = book(tmp_path)
    for bad, field in [({"weight": 0}, "weight"), ({"weight": -1}, "weight"), ({"memory_fraction": 1.5}, "memory_fraction"),
                       ({"max_running_jobs": -2}, "max_running_jobs"), ({"max_queued_jobs": True}, "max_queued_jobs"),
                       ({"allowed_classes": ["SUPER"]}, "SUPER"), ({"allowed_classes": []}, "allowed_classes"),
                       ({"colour": "red"}, "colour")]:
        with pytest.raises(ValueError, match=field):
            b.set("bob", bad)
    assert b.get("bob") == TenantQuota() and not (tmp_path / "tenant_quotas.json").exists()


def test_memory_limit_in_bytes_or_fraction() -> None:
    assert TenantQuota(memory_bytes=5 << 30).memory_limit(4 << 30) == 4 << 30
    assert TenantQuota(memory_fraction=0.25).memory_limit(1000) == 250
    assert TenantQuota().memory_limit(1000) is None


@settings(max_examples=100, deadline=None)
@given(st.sets(st.sampled_from([c.name for c in JobClass]), min_size=1), st.sampled_from(list(JobClass)))
def test_authorize_is_exactly_membership(classes: set[str], asked: JobClass) -> None:
    q = TenantQuota(allowed_classes=tuple(classes))
    assert q.allows(asked) == (asked.name in classes)
