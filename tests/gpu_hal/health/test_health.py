from __future__ import annotations

import threading
import time

import pytest

from gpu_hal.config import HealthConfig
from gpu_hal.health.monitor import (
    HealthChange,
    HealthMonitor,
    HealthReading,
    HealthState,
    NvmlReader,
    ScriptedReader,
    evaluate,
    throttle_names,
)
from tests.gpu_hal.fake_nvml import FakeGpu, FakeNvml

CFG = HealthConfig()
OK = HealthReading(temperature_c=50, memory_used_bytes=10, memory_total_bytes=100, ecc_uncorrected=0,
                   ecc_corrected=0, throttle_reasons=0)


# ------------------------------------------------------------------ thresholds

@pytest.mark.parametrize(
    "reading, state, words",
    [
        (OK, HealthState.HEALTHY, ()),
        (HealthReading(), HealthState.HEALTHY, ()),  # nothing supported: nothing wrong
        (HealthReading(temperature_c=86), HealthState.DEGRADED, ("temperature",)),
        (HealthReading(temperature_c=96), HealthState.FAILED, ("temperature",)),
        (HealthReading(memory_used_bytes=99, memory_total_bytes=100), HealthState.DEGRADED, ("memory",)),
        (HealthReading(ecc_uncorrected=1), HealthState.FAILED, ("uncorrected ECC",)),
        (HealthReading(ecc_corrected=5000), HealthState.DEGRADED, ("corrected ECC",)),
        (HealthReading(throttle_reasons=0x40), HealthState.DEGRADED, ("hw_thermal_slowdown",)),
        (HealthReading(throttle_reasons=0x1 | 0x4), HealthState.HEALTHY, ()),  # idle, power cap: normal
        (HealthReading(remap_failed=True), HealthState.FAILED, ("remapping",)),
        (HealthReading(remap_pending=True), HealthState.DEGRADED, ("remapping",)),
        (HealthReading(xids=(79,)), HealthState.FAILED, ("XID 79",)),
        (HealthReading(xids=(13,)), HealthState.DEGRADED, ("XID 13",)),
        (HealthReading(lost=True), HealthState.FAILED, ("lost",)),
        (HealthReading(temperature_c=86, ecc_uncorrected=2), HealthState.FAILED, ("uncorrected", "temperature")),
    ],
)
def test_evaluate(reading: HealthReading, state: HealthState, words: tuple[str, ...]) -> None:
    got, reasons = evaluate(reading, CFG)
    assert got is state
    for w in words:
        assert any(w in r for r in reasons), reasons
    if state is HealthState.HEALTHY:
        assert reasons == ()


def test_thresholds_come_from_config() -> None:
    cfg = HealthConfig(temperature_degraded_c=60, temperature_failed_c=70)
    assert evaluate(HealthReading(temperature_c=65), cfg)[0] is HealthState.DEGRADED
    assert evaluate(HealthReading(temperature_c=65), CFG)[0] is HealthState.HEALTHY


def test_throttle_names() -> None:
    assert throttle_names(0x8 | 0x40) == ["hw_slowdown", "hw_thermal_slowdown"]
    assert throttle_names(None) == [] and throttle_names(0) == []


# ------------------------------------------------------------------ monitor logic

def monitor(*readings: HealthReading, **cfg: object) -> tuple[HealthMonitor, ScriptedReader, list[HealthChange]]:
    reader = ScriptedReader(readings, base=lambda: OK)
    mon = HealthMonitor(reader, HealthConfig(**cfg), name="test")  # type: ignore[arg-type]
    seen: list[HealthChange] = []
    mon.subscribe(seen.append)
    return mon, reader, seen


def test_transitions_and_subscribers_on_every_change() -> None:
    mon, reader, seen = monitor(
        OK, HealthReading(temperature_c=88), HealthReading(temperature_c=89), HealthReading(temperature_c=97), OK)
    states = [mon.poll_once().state for _ in range(5)]
    assert states == [HealthState.HEALTHY, HealthState.DEGRADED, HealthState.DEGRADED, HealthState.FAILED,
                      HealthState.HEALTHY]
    # Every change (state or reasons), and nothing when nothing changed.
    assert [(c.previous, c.state) for c in seen] == [
        (HealthState.HEALTHY, HealthState.DEGRADED),
        (HealthState.DEGRADED, HealthState.DEGRADED),  # 88 C -> 89 C: reasons changed
        (HealthState.DEGRADED, HealthState.FAILED),
        (HealthState.FAILED, HealthState.HEALTHY),
    ]
    mon.poll_once()
    assert len(seen) == 4


def test_fatal_xid_latches_until_reset() -> None:
    mon, reader, seen = monitor(HealthReading(xids=(79,)))
    assert mon.poll_once().state is HealthState.FAILED
    assert mon.poll_once().state is HealthState.FAILED  # the next reading is fine, the XID latched
    assert any("XID 79" in r for r in mon.reasons)
    assert mon.reset().state is HealthState.HEALTHY
    assert seen[-1].state is HealthState.HEALTHY


def test_non_fatal_xid_degrades_for_the_hold_time() -> None:
    now = [0.0]
    reader = ScriptedReader([HealthReading(xids=(13,))], base=lambda: OK)
    mon = HealthMonitor(reader, HealthConfig(xid_degraded_hold_s=10), clock=lambda: now[0])
    assert mon.poll_once().state is HealthState.DEGRADED
    now[0] = 5
    assert mon.poll_once().state is HealthState.DEGRADED
    now[0] = 11
    assert mon.poll_once().state is HealthState.HEALTHY


def test_read_failures_degrade_then_fail() -> None:
    mon, reader, seen = monitor(read_failures_failed=3)
    reader.fail_next(3)
    assert mon.poll_once().state is HealthState.DEGRADED
    assert mon.poll_once().state is HealthState.DEGRADED
    assert mon.poll_once().state is HealthState.FAILED
    assert "read failed" in mon.reasons[0]
    assert mon.poll_once().state is HealthState.HEALTHY


def test_force_notifies_at_once_and_wins() -> None:
    mon, reader, seen = monitor()
    mon.poll_once()
    mon.force(HealthState.FAILED, "operator drained the GPU")
    assert mon.state is HealthState.FAILED and seen[-1].state is HealthState.FAILED
    assert mon.poll_once().state is HealthState.FAILED  # healthy readings do not clear it
    mon.reset()
    assert mon.state is HealthState.HEALTHY


def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    mon, reader, seen = monitor(HealthReading(temperature_c=99))

    def bad(change: HealthChange) -> None:
        raise RuntimeError("subscriber bug")

    mon.subscribe(bad)
    got: list[HealthChange] = []
    unsubscribe = mon.subscribe(got.append)
    mon.poll_once()
    assert got and got[-1].state is HealthState.FAILED
    unsubscribe()
    mon.reset()
    assert len(got) == 1


def test_subscriber_sees_injected_failed_reading_within_1_5_poll_intervals() -> None:
    """Logic test with a short interval: a FAILED reading queued between polls is
    delivered by the background thread within 1.5 intervals."""
    interval = 0.2
    mon, reader, _ = monitor(poll_interval_s=interval)
    got = threading.Event()
    seen_at: list[float] = []

    def on_change(change: HealthChange) -> None:
        if change.state is HealthState.FAILED:
            seen_at.append(time.monotonic())
            got.set()

    mon.subscribe(on_change)
    mon.start()
    try:
        time.sleep(interval * 0.3)  # somewhere between polls
        t0 = time.monotonic()
        reader.push(HealthReading(ecc_uncorrected=3))
        assert got.wait(3 * interval), "FAILED reading never reached the subscriber"
        latency = seen_at[0] - t0
        assert latency <= 1.5 * interval, f"{latency:.3f}s > 1.5 x {interval}s"
        assert mon.running
    finally:
        mon.stop()
    assert not mon.running


def test_poll_thread_keeps_a_fixed_rate() -> None:
    mon, reader, _ = monitor(poll_interval_s=0.02)
    mon.start()
    time.sleep(0.25)
    mon.stop()
    assert 5 <= reader.reads <= 16


# ------------------------------------------------------------------ NVML reader

def test_nvml_reader_with_fake_nvml() -> None:
    gpu = FakeGpu("GPU-1", temperature=70, throttle=0x4, ecc_cor=3)
    fake = FakeNvml([gpu])
    reader = NvmlReader("GPU-1", xid_wait_ms=1, nvml=fake)
    assert reader.xid_supported
    r = reader.read()
    assert r.temperature_c == 70 and r.power_w == 300.0 and r.power_limit_w == 700.0
    assert r.memory_total_bytes == gpu.total and r.utilization_gpu_pct == 50
    assert r.throttle_reasons == 0x4 and r.ecc_corrected == 3 and r.ecc_uncorrected == 0
    assert r.remap_pending is None  # NotSupported -> None
    assert r.xids == ()
    gpu.xids.extend([31, 79])
    assert reader.read().xids == (31, 79)
    mon = HealthMonitor(reader, HealthConfig())
    gpu.xids.append(79)
    assert mon.poll_once().state is HealthState.FAILED
    gpu.lost = True
    assert reader.read().lost
    mon.close()
    assert fake.refcount == 0 and fake.event_sets[0].get("freed")


def test_nvml_reader_tolerates_unsupported_events() -> None:
    fake = FakeNvml([FakeGpu("GPU-1", events_supported=False)])
    reader = NvmlReader("GPU-1", xid_wait_ms=1, nvml=fake)
    assert not reader.xid_supported and "not supported" in (reader.xid_error or "")
    assert reader.read().xids == ()
    reader.close()
    reader.close()
    assert fake.refcount == 0


def test_nvml_reader_for_unknown_uuid_releases_nvml() -> None:
    fake = FakeNvml([FakeGpu("GPU-1")])
    with pytest.raises(Exception):
        NvmlReader("GPU-nope", xid_wait_ms=1, nvml=fake)
    assert fake.refcount == 0
