"""Device health: a background thread polls a reading source and maps readings to
HEALTHY / DEGRADED / FAILED with reasons; subscribers hear every change.

The reading source is injectable: `NvmlReader` (memory, utilisation, temperature,
power, clock-throttle reasons, ECC counts, row remapping, XID events through an
NVML event set) on real GPUs; `ScriptedReader` for tests and simulated devices.
Thresholds come from `HealthConfig`. Fatal XIDs latch FAILED until `reset()`;
other XIDs degrade the device for a hold time. `force()` lets fault injection mark
the device FAILED through the same path subscribers already watch.
"""
from __future__ import annotations

import collections
import enum
import logging
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Iterable, Protocol

from gpu_hal.config import HealthConfig

log = logging.getLogger(__name__)


class HealthState(str, enum.Enum):
    HEALTHY = "HEALTHY"
    DEGRADED = "DEGRADED"
    FAILED = "FAILED"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {HealthState.HEALTHY: 0, HealthState.DEGRADED: 1, HealthState.FAILED: 2}

# NVML clock-throttle ("clocks event") reason bits and their names, for reports.
THROTTLE_REASON_NAMES: dict[int, str] = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}


def throttle_names(mask: int | None) -> list[str]:
    if not mask:
        return []
    return [name for bit, name in THROTTLE_REASON_NAMES.items() if mask & bit]


@dataclass(frozen=True)
class HealthReading:
    """One poll of a device. None means "not supported / not read"."""

    at: float = 0.0
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    utilization_gpu_pct: float | None = None
    utilization_memory_pct: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    throttle_reasons: int | None = None
    ecc_corrected: int | None = None
    ecc_uncorrected: int | None = None
    remap_pending: bool | None = None
    remap_failed: bool | None = None
    xids: tuple[int, ...] = ()
    lost: bool = False  # the GPU fell off the bus / NVML says it is lost
    simulated: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["xids"] = list(self.xids)
        d["throttle_reason_names"] = throttle_names(self.throttle_reasons)
        return d


def evaluate(reading: HealthReading, cfg: HealthConfig) -> tuple[HealthState, tuple[str, ...]]:
    """Map one reading to a state and the reasons for it (pure; XID latching is the
    monitor's job, this only looks at the XIDs in this reading)."""
    failed: list[str] = []
    degraded: list[str] = []
    if reading.lost:
        failed.append("GPU is lost (fell off the bus or NVML cannot reach it)")
    t = reading.temperature_c
    if t is not None:
        if t >= cfg.temperature_failed_c:
            failed.append(f"temperature {t:.0f} C >= {cfg.temperature_failed_c:.0f} C")
        elif t >= cfg.temperature_degraded_c:
            degraded.append(f"temperature {t:.0f} C >= {cfg.temperature_degraded_c:.0f} C")
    if reading.memory_used_bytes is not None and reading.memory_total_bytes:
        frac = reading.memory_used_bytes / reading.memory_total_bytes
        if frac >= cfg.memory_used_degraded_fraction:
            degraded.append(f"memory {frac:.1%} used >= {cfg.memory_used_degraded_fraction:.0%}")
    if reading.ecc_uncorrected is not None and reading.ecc_uncorrected >= cfg.ecc_uncorrected_failed:
        failed.append(f"{reading.ecc_uncorrected} uncorrected ECC error(s)")
    if reading.ecc_corrected is not None and reading.ecc_corrected >= cfg.ecc_corrected_degraded:
        degraded.append(f"{reading.ecc_corrected} corrected ECC errors >= {cfg.ecc_corrected_degraded}")
    if reading.remap_failed:
        failed.append("row remapping failed")
    if reading.remap_pending:
        degraded.append("row remapping pending (reset needed)")
    if reading.throttle_reasons and reading.throttle_reasons & cfg.throttle_degraded_mask:
        names = throttle_names(reading.throttle_reasons & cfg.throttle_degraded_mask)
        degraded.append("clocks throttled: " + ", ".join(names))
    for xid in reading.xids:
        (failed if xid in cfg.xid_fatal else degraded).append(f"XID {xid}")
    if failed:
        return HealthState.FAILED, tuple(failed + degraded)
    if degraded:
        return HealthState.DEGRADED, tuple(degraded)
    return HealthState.HEALTHY, ()


@dataclass(frozen=True)
class HealthReport:
    """The monitor's current verdict."""

    state: HealthState
    reasons: tuple[str, ...]
    reading: HealthReading | None
    at: float
    since: float  # when the state last changed

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "reasons": list(self.reasons),
            "since": self.since,
            "at": self.at,
            "reading": self.reading.to_dict() if self.reading else None,
        }


@dataclass(frozen=True)
class HealthChange:
    """What subscribers receive: the new report and the previous state."""

    report: HealthReport
    previous: HealthState

    @property
    def state(self) -> HealthState:
        return self.report.state

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.report.reasons


Subscriber = Callable[[HealthChange], None]


# --------------------------------------------------------------------- readers

class HealthReader(Protocol):
    def read(self) -> HealthReading: ...

    def close(self) -> None: ...


class ScriptedReader:
    """Readings from a script (tests, simulated devices).

    `push()` queues readings returned one per `read()`; when the queue is empty
    `read()` returns `base()` (default: a healthy simulated reading). `fail_next()`
    makes the next reads raise, like a broken NVML.
    """

    def __init__(self, readings: Iterable[HealthReading] = (), base: Callable[[], HealthReading] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._queue: collections.deque[HealthReading] = collections.deque(readings)
        self._base = base or (lambda: HealthReading(simulated=True))
        self._clock = clock
        self._lock = threading.Lock()
        self._fail = 0
        self.reads = 0

    def push(self, *readings: HealthReading) -> None:
        with self._lock:
            self._queue.extend(readings)

    def fail_next(self, n: int = 1) -> None:
        with self._lock:
            self._fail += n

    def read(self) -> HealthReading:
        with self._lock:
            self.reads += 1
            if self._fail:
                self._fail -= 1
                raise RuntimeError("scripted read failure")
            r = self._queue.popleft() if self._queue else self._base()
        return replace(r, at=self._clock()) if r.at == 0.0 else r

    def close(self) -> None:
        return None


class NvmlReader:
    """Readings of one GPU (or MIG instance) through NVML, with XID events.

    Holds NVML initialised for its lifetime (the event set needs it). Anything the
    device does not support reads as None; an event set that cannot be created or
    registered (NotSupported, e.g. on MIG or in containers) is noted in
    `xid_supported` and skipped.
    """

    def __init__(self, uuid: str, xid_wait_ms: int, nvml: Any = None) -> None:
        if nvml is None:
            from gpu_hal.discovery import load_nvml  # noqa: PLC0415

            nvml = load_nvml()
            if nvml is None:
                raise RuntimeError("nvidia-ml-py (pynvml) is not installed")
        self._nv = nvml
        self._wait_ms = int(xid_wait_ms)
        nvml.nvmlInit()
        self._closed = False
        try:
            self._handle = nvml.nvmlDeviceGetHandleByUUID(uuid)
        except BaseException:
            self._closed = True
            nvml.nvmlShutdown()
            raise
        self._events: Any = None
        self.xid_supported = False
        self.xid_error: str | None = None
        try:
            self._events = nvml.nvmlEventSetCreate()
            nvml.nvmlDeviceRegisterEvents(self._handle, nvml.nvmlEventTypeXidCriticalError, self._events)
            self.xid_supported = True
        except Exception as exc:  # NotSupported on some devices / containers
            self.xid_error = str(exc)
            self._free_events()

    def _free_events(self) -> None:
        if self._events is not None:
            try:
                self._nv.nvmlEventSetFree(self._events)
            except Exception:
                pass
            self._events = None

    def _get(self, fn: str, *args: Any) -> Any:
        try:
            return getattr(self._nv, fn)(self._handle, *args)
        except Exception as exc:
            if type(exc).__name__ == "NVMLError_GpuIsLost":
                raise
            return None

    def _drain_xids(self) -> tuple[int, ...]:
        if self._events is None:
            return ()
        out: list[int] = []
        wait = self._wait_ms
        while True:
            try:
                data = self._nv.nvmlEventSetWait(self._events, wait)
            except Exception:  # NVMLError_Timeout: nothing (more) pending
                break
            if int(data.eventType) & int(self._nv.nvmlEventTypeXidCriticalError):
                out.append(int(data.eventData))
            wait = 0
        return tuple(out)

    def read(self) -> HealthReading:
        nv = self._nv
        try:
            mem = self._get("nvmlDeviceGetMemoryInfo")
            util = self._get("nvmlDeviceGetUtilizationRates")
            temp = self._get("nvmlDeviceGetTemperature", getattr(nv, "NVML_TEMPERATURE_GPU", 0))
            power = self._get("nvmlDeviceGetPowerUsage")
            limit = self._get("nvmlDeviceGetEnforcedPowerLimit")
            throttle = self._get("nvmlDeviceGetCurrentClocksEventReasons")
            if throttle is None:
                throttle = self._get("nvmlDeviceGetCurrentClocksThrottleReasons")
            unc_t = getattr(nv, "NVML_MEMORY_ERROR_TYPE_UNCORRECTED", 1)
            cor_t = getattr(nv, "NVML_MEMORY_ERROR_TYPE_CORRECTED", 0)
            vol = getattr(nv, "NVML_VOLATILE_ECC", 0)
            ecc_unc = self._get("nvmlDeviceGetTotalEccErrors", unc_t, vol)
            ecc_cor = self._get("nvmlDeviceGetTotalEccErrors", cor_t, vol)
            remap = self._get("nvmlDeviceGetRemappedRows")  # (corr, unc, pending, failure)
            xids = self._drain_xids()
        except Exception:  # GpuIsLost: the only error _get lets through
            return HealthReading(at=time.monotonic(), lost=True, xids=())
        return HealthReading(
            at=time.monotonic(),
            memory_used_bytes=int(mem.used) if mem is not None else None,
            memory_total_bytes=int(mem.total) if mem is not None else None,
            utilization_gpu_pct=float(util.gpu) if util is not None else None,
            utilization_memory_pct=float(util.memory) if util is not None else None,
            temperature_c=float(temp) if temp is not None else None,
            power_w=power / 1000.0 if power is not None else None,
            power_limit_w=limit / 1000.0 if limit is not None else None,
            throttle_reasons=int(throttle) if throttle is not None else None,
            ecc_corrected=int(ecc_cor) if ecc_cor is not None else None,
            ecc_uncorrected=int(ecc_unc) if ecc_unc is not None else None,
            remap_pending=bool(remap[2]) if remap is not None else None,
            remap_failed=bool(remap[3]) if remap is not None else None,
            xids=xids,
        )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._free_events()
        try:
            self._nv.nvmlShutdown()
        except Exception:
            pass


# --------------------------------------------------------------------- monitor

@dataclass
class _Latch:
    fatal_xids: list[int] = field(default_factory=list)
    degraded_xids: dict[int, float] = field(default_factory=dict)  # xid -> until
    forced: tuple[HealthState, str] | None = None
    read_failures: int = 0
    last_error: str | None = None


class HealthMonitor:
    """Polls a reader on a background thread and tells subscribers of changes."""

    def __init__(self, reader: HealthReader, config: HealthConfig, name: str = "device",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.reader = reader
        self.config = config
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._notify_lock = threading.RLock()  # subscribers may call force()
        self._subscribers: list[Subscriber] = []
        self._latch = _Latch()
        now = clock()
        self._report = HealthReport(HealthState.HEALTHY, (), None, now, now)
        self._last_reading: HealthReading | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.polls = 0

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> "HealthMonitor":
        """Start the polling thread (one poll happens before this returns)."""
        if self._thread is not None:
            return self
        self.poll_once()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"health-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        t, self._thread = self._thread, None
        if t is not None and t is not threading.current_thread():
            t.join(timeout=max(5.0, 2 * self.config.poll_interval_s))

    def close(self) -> None:
        self.stop()
        try:
            self.reader.close()
        except Exception:
            log.debug("health reader close failed", exc_info=True)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        interval = self.config.poll_interval_s
        next_t = time.monotonic() + interval
        while not self._stop.wait(max(0.0, next_t - time.monotonic())):
            self.poll_once()
            now = time.monotonic()
            next_t += interval
            if next_t < now:  # a slow poll: skip the missed ticks, keep the phase
                next_t += interval * (1 + int((now - next_t) // interval))

    # -- polling -----------------------------------------------------------------
    def poll_once(self) -> HealthReport:
        """Read once, re-evaluate, notify on change; returns the current report."""
        try:
            reading: HealthReading | None = self.reader.read()
            error = None
        except Exception as exc:
            reading, error = None, f"{type(exc).__name__}: {exc}"
        with self._notify_lock:
            with self._lock:
                self.polls += 1
                if reading is not None:
                    self._last_reading = reading
                    self._latch.read_failures = 0
                    self._latch.last_error = None
                else:
                    self._latch.read_failures += 1
                    self._latch.last_error = error
                change = self._reevaluate_locked(reading)
            self._notify(change)
        return self.report

    def _reevaluate_locked(self, reading: HealthReading | None) -> HealthChange | None:
        """Latch this reading's XIDs, combine everything, and set the new report."""
        cfg, latch, now = self.config, self._latch, self._clock()
        if reading is not None:
            for xid in reading.xids:
                if xid in cfg.xid_fatal:
                    if xid not in latch.fatal_xids:
                        latch.fatal_xids.append(xid)
                else:
                    latch.degraded_xids[xid] = now + cfg.xid_degraded_hold_s
        for xid in [x for x, until in latch.degraded_xids.items() if until <= now]:
            del latch.degraded_xids[xid]
        if reading is not None:
            state, base_reasons = evaluate(replace(reading, xids=()), cfg)
        else:
            state, base_reasons = HealthState.HEALTHY, ()
        reasons = list(base_reasons)
        if latch.read_failures:
            failed = latch.read_failures >= cfg.read_failures_failed
            reasons.append(f"health read failed {latch.read_failures}x: {latch.last_error}")
            state = _worst(state, HealthState.FAILED if failed else HealthState.DEGRADED)
        for xid in latch.fatal_xids:
            reasons.append(f"XID {xid} (fatal)")
            state = HealthState.FAILED
        for xid in latch.degraded_xids:
            reasons.append(f"XID {xid}")
            state = _worst(state, HealthState.DEGRADED)
        if latch.forced is not None:
            fstate, freason = latch.forced
            reasons.append(freason)
            state = _worst(state, fstate)
        prev = self._report
        since = now if state != prev.state else prev.since
        self._report = HealthReport(state, tuple(reasons), reading or self._last_reading, now, since)
        if state != prev.state or self._report.reasons != prev.reasons:
            return HealthChange(self._report, prev.state)
        return None

    def _notify(self, change: HealthChange | None) -> None:
        # Called with _notify_lock held (so changes arrive in order) but not _lock.
        if change is None:
            return
        with self._lock:
            subs = list(self._subscribers)
        for cb in subs:
            try:
                cb(change)
            except Exception:
                log.exception("health subscriber %r failed", cb)

    def _replay_locked(self) -> HealthChange | None:
        last = self._last_reading
        return self._reevaluate_locked(None if last is None else replace(last, xids=()))

    # -- control -----------------------------------------------------------------
    def force(self, state: HealthState, reason: str) -> HealthReport:
        """Hold the device at least at `state` (fault injection, operator action);
        subscribers hear it at once."""
        with self._notify_lock:
            with self._lock:
                self._latch.forced = (HealthState(state), reason)
                change = self._replay_locked()
            self._notify(change)
        return self.report

    def reset(self) -> HealthReport:
        """Clear forced states, latched XIDs and read failures (after a GPU reset)."""
        with self._notify_lock:
            with self._lock:
                self._latch = _Latch()
                change = self._replay_locked()
            self._notify(change)
        return self.report

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(change)` on every change; returns an unsubscribe function."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    # -- views -------------------------------------------------------------------
    @property
    def report(self) -> HealthReport:
        with self._lock:
            return self._report

    @property
    def state(self) -> HealthState:
        return self.report.state

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.report.reasons

    def snapshot(self) -> dict[str, Any]:
        d = self.report.to_dict()
        d["polls"] = self.polls
        d["poll_interval_s"] = self.config.poll_interval_s
        d["running"] = self.running
        d["xid_supported"] = getattr(self.reader, "xid_supported", None)
        return d


def _worst(a: HealthState, b: HealthState) -> HealthState:
    return a if a.rank >= b.rank else b
