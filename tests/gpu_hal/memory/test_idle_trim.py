"""IdleTrimmer: a pool is trimmed once it stayed idle for `after_s`; a request in between cancels it."""
from __future__ import annotations

import threading
import time

import pytest

from gpu_hal.memory.idle_trim import IdleTrimmer


class Pool:
    def __init__(self) -> None:
        self.trims = 0
        self.trimmed = threading.Event()

    def trim_if_idle(self) -> None:
        self.trims += 1
        self.trimmed.set()


def test_trims_after_the_delay():
    trimmer = IdleTrimmer(0.1)
    pool = Pool()
    t0 = time.monotonic()
    trimmer.idle(pool)
    assert pool.trimmed.wait(5)
    assert time.monotonic() - t0 >= 0.1 and pool.trims == 1
    time.sleep(0.15)
    assert pool.trims == 1  # once per idle period
    trimmer.stop()


def test_busy_cancels_and_idle_again_restarts_the_delay():
    trimmer = IdleTrimmer(0.2)
    a, b = Pool(), Pool()
    trimmer.idle(a)
    trimmer.idle(b)
    trimmer.busy(a)  # a took a request
    assert b.trimmed.wait(5) and a.trims == 0
    trimmer.idle(a)
    time.sleep(0.1)
    trimmer.idle(a)  # idle again later: the delay counts from now
    time.sleep(0.15)
    assert a.trims == 0
    assert a.trimmed.wait(5) and a.trims == 1
    trimmer.stop()


def test_a_failing_trim_does_not_stop_the_thread():
    trimmer = IdleTrimmer(0.05)

    class Broken:
        def trim_if_idle(self) -> None:
            raise RuntimeError("cudaFree failed")

    trimmer.idle(Broken())
    pool = Pool()
    trimmer.idle(pool)
    assert pool.trimmed.wait(5)
    trimmer.stop()


def test_delay_must_be_positive():
    with pytest.raises(ValueError):
        IdleTrimmer(0)
