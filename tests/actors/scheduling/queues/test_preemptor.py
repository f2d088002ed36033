"""Preemption rule and counters (no Ray)."""
from __future__ import annotations

import threading

import pytest

from actors.config import PreemptionConfig
from actors.scheduling.queues.preemptor import Preemptor
from gpu_hal.streams.priority import JobClass

C = JobClass


@pytest.mark.parametrize(
    "running, waiting, expected",
    [
        (C.LOW, C.HIGH, True),
        (C.LOW, C.NORMAL, True),
        (C.IDLE, C.LOW, True),
        (C.NORMAL, C.REALTIME, True),
        (C.HIGH, C.REALTIME, True),
        (C.LOW, C.LOW, False),  # same class: FIFO, no yield
        (C.LOW, C.IDLE, False),
        (C.HIGH, C.NORMAL, False),
        (C.REALTIME, C.REALTIME, False),  # REALTIME never yields
        (C.LOW, None, False),  # nothing waiting
    ],
)
def test_default_rule(running, waiting, expected):
    assert Preemptor().should_yield(running, waiting) is expected


def test_accepts_names():
    assert Preemptor().should_yield("low", "HIGH") is True


def test_disabled_never_yields():
    p = Preemptor(PreemptionConfig(enabled=False))
    assert not p.should_yield(C.IDLE, C.REALTIME)


def test_min_class_gap():
    p = Preemptor(PreemptionConfig(min_class_gap=2))
    assert not p.should_yield(C.LOW, C.NORMAL)
    assert p.should_yield(C.LOW, C.HIGH)
    with pytest.raises(ValueError):
        PreemptionConfig(min_class_gap=0)


def test_protected_classes_always_include_realtime():
    cfg = PreemptionConfig(protected_classes=("HIGH",))
    assert set(cfg.protected_classes) == {"REALTIME", "HIGH"}
    p = Preemptor(cfg)
    assert not p.should_yield(C.HIGH, C.REALTIME)
    assert not p.should_yield(C.REALTIME, C.REALTIME)
    assert p.should_yield(C.NORMAL, C.REALTIME)
    assert set(PreemptionConfig(protected_classes="high, low").protected_classes) == {"REALTIME", "HIGH", "LOW"}
    with pytest.raises(ValueError):
        PreemptionConfig(protected_classes=("URGENT",))


def test_counts():
    p = Preemptor()
    assert p.preemptions == 0
    p.record_preemption(C.LOW)
    p.record_preemption("low")
    p.record_preemption(C.IDLE)
    assert p.preemptions == 3
    assert p.counts_by_class() == {"REALTIME": 0, "HIGH": 0, "NORMAL": 0, "LOW": 2, "IDLE": 1}


def test_counts_are_thread_safe():
    p = Preemptor()
    threads = [threading.Thread(target=lambda: [p.record_preemption(C.LOW) for _ in range(500)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert p.preemptions == 2000
