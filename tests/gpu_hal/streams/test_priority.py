from __future__ import annotations

import pytest

from gpu_hal.streams.priority import JobClass, stream_priority


def test_classes_sort_highest_first() -> None:
    assert sorted([JobClass.IDLE, JobClass.REALTIME, JobClass.LOW, JobClass.HIGH, JobClass.NORMAL]) == [
        JobClass.REALTIME, JobClass.HIGH, JobClass.NORMAL, JobClass.LOW, JobClass.IDLE]


def test_parse() -> None:
    assert JobClass.parse("realtime") is JobClass.REALTIME
    assert JobClass.parse(" Low ") is JobClass.LOW
    assert JobClass.parse(2) is JobClass.NORMAL
    assert JobClass.parse(JobClass.IDLE) is JobClass.IDLE
    with pytest.raises(ValueError, match="unknown job class"):
        JobClass.parse("urgent")


def test_realtime_gets_the_greatest_priority_lower_number() -> None:
    rng = (0, -5)  # (least, greatest) as cudaDeviceGetStreamPriorityRange reports
    prios = [stream_priority(jc, rng) for jc in JobClass]
    assert prios[0] == -5 and prios[-1] == 0
    # Monotone: a higher class never gets a numerically higher (= lower) priority.
    assert prios == sorted(prios)
    assert len(set(prios)) == len(prios)


def test_narrow_and_empty_ranges() -> None:
    assert {stream_priority(jc, (0, 0)) for jc in JobClass} == {0}
    two = [stream_priority(jc, (0, -1)) for jc in JobClass]
    assert two[0] == -1 and two[-1] == 0 and two == sorted(two)
