"""Fault injection for tests of preemption and fallback; off unless configured.

With `FaultConfig.enabled` False every injection call raises
`FaultInjectionDisabled`, so production code cannot trip it by accident. The hook
`before_kernel(tenant)` runs in `StrategyContext.run`/`launch` before each kernel:
it raises a `DeviceFault` (what a CUDA error becomes) when a failure is armed, and
sleeps when a slow-down is set. Marking the device FAILED goes through the health
monitor, so subscribers and the device's admission control see it like a real
failure.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from gpu_hal.config import FaultConfig
from gpu_hal.errors import DeviceFault, FaultInjectionDisabled
from gpu_hal.health.monitor import HealthMonitor, HealthState

ANY = "*"  # a fault armed for every tenant of the device


class FaultInjector:
    """Armed faults and slow-downs of one device (thread-safe)."""

    def __init__(self, config: FaultConfig, health: HealthMonitor | None = None) -> None:
        self.config = config
        self.health = health
        self._lock = threading.Lock()
        self._fail: dict[str, list[str]] = {}  # tenant or ANY -> pending failure messages
        self._delay: dict[str, float] = {}     # tenant or ANY -> added seconds per kernel
        self._armed = False                    # fast path: nothing to do
        self.injected_failures = 0
        self.injected_delay_s = 0.0

    @property
    def enabled(self) -> bool:
        return bool(self.config.enabled)

    def _require(self) -> None:
        if not self.enabled:
            raise FaultInjectionDisabled("fault injection is disabled (set FaultConfig.enabled to use it)")

    # -- arming -------------------------------------------------------------------
    def fail_next_kernel(self, tenant: str | None = None, count: int = 1,
                         message: str = "injected CUDA error (cudaErrorLaunchFailure)") -> None:
        """The next `count` kernels of `tenant` (None: any tenant) raise DeviceFault."""
        self._require()
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        with self._lock:
            self._fail.setdefault(tenant or ANY, []).extend([message] * count)
            self._armed = True

    def slow_down(self, seconds: float, tenant: str | None = None) -> None:
        """Add `seconds` of latency before every kernel of `tenant` (None: all)."""
        self._require()
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        with self._lock:
            if seconds == 0:
                self._delay.pop(tenant or ANY, None)
            else:
                self._delay[tenant or ANY] = float(seconds)
            self._armed = bool(self._fail or self._delay)

    def mark_failed(self, reason: str = "injected fault: device marked FAILED") -> None:
        """Mark the device FAILED through its health monitor (until `recover()`)."""
        self._require()
        if self.health is None:
            raise RuntimeError("this injector has no health monitor to mark FAILED")
        self.health.force(HealthState.FAILED, reason)

    def recover(self) -> None:
        """Undo `mark_failed` (clears the monitor's forced state and latches)."""
        self._require()
        if self.health is not None:
            self.health.reset()

    def clear(self) -> None:
        """Disarm every pending failure and slow-down (health is left as it is)."""
        with self._lock:
            self._fail.clear()
            self._delay.clear()
            self._armed = False

    # -- the hook -----------------------------------------------------------------
    def before_kernel(self, tenant: str) -> None:
        """Apply armed faults to the kernel about to run in `tenant`'s context."""
        if not self._armed:
            return
        message = None
        with self._lock:
            delay = self._delay.get(tenant, self._delay.get(ANY, 0.0))
            for key in (tenant, ANY):
                pending = self._fail.get(key)
                if pending:
                    message = pending.pop(0)
                    if not pending:
                        del self._fail[key]
                    break
            self._armed = bool(self._fail or self._delay)
            if message is not None:
                self.injected_failures += 1
            self.injected_delay_s += delay
        if delay:
            time.sleep(delay)
        if message is not None:
            raise DeviceFault(f"{message} [tenant {tenant!r}]", injected=True)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "enabled": self.enabled,
                "pending_failures": {k: len(v) for k, v in self._fail.items()},
                "slow_down_s": dict(self._delay),
                "injected_failures": self.injected_failures,
                "injected_delay_s": self.injected_delay_s,
            }
