"""Every exception gpu_hal raises, in one module."""
from __future__ import annotations


class GpuHalError(RuntimeError):
    """Base class of gpu_hal errors."""


class QuotaExceeded(GpuHalError):
    """A request does not fit its tenant's limit or the device budget.

    Carries the tenant, the bytes asked and the bytes available so that callers
    (and HTTP error bodies) can say exactly what did not fit.
    """

    def __init__(self, tenant: str, asked: int, available: int, scope: str = "tenant", detail: str = "") -> None:
        self.tenant = tenant
        self.asked = int(asked)
        self.available = max(0, int(available))
        self.scope = scope  # "tenant" (its limit or pool) or "device" (the budget)
        self.detail = detail
        msg = (
            f"tenant {tenant!r} asked for {self.asked:,} bytes but only {self.available:,} bytes are "
            f"available ({scope} quota)"
        )
        super().__init__(f"{msg}: {detail}" if detail else msg)

    def __reduce__(self):  # picklable across processes (Ray)
        return (type(self), (self.tenant, self.asked, self.available, self.scope, self.detail))


class DeviceFault(GpuHalError):
    """The device failed a kernel (a CUDA error, or an injected one).

    Worker code treats every DeviceFault the same way: the fallback chain (fresh
    stream, another GPU, the CPU).
    """

    def __init__(self, message: str, injected: bool = False) -> None:
        self.injected = injected
        super().__init__(message)

    def __reduce__(self):
        return (type(self), (self.args[0], self.injected))


class DeviceOutOfMemory(DeviceFault):
    """The device has no memory left for an allocation: the driver refused it, or the
    device budget is spent by other owners. Not the tenant's quota (that is
    QuotaExceeded): the work can run on another device, so it walks the fallback chain.
    """

    def __init__(self, message: str, injected: bool = False) -> None:
        super().__init__(message, injected)


class DevicePressure(DeviceFault):
    """The device sheds LOW/IDLE work under memory pressure (not admitted, or preempted
    to give its memory to REALTIME/HIGH work). The work runs on the next tier or
    later, with the same result; nothing is wrong with the device."""


class DeviceUnhealthy(DeviceFault):
    """The device's health is FAILED; it takes no new work."""


class DeviceUnavailable(GpuHalError):
    """A device cannot be opened here (no CuPy, not visible to this process, ...)."""


class FaultInjectionDisabled(GpuHalError):
    """Fault injection was asked for but FaultConfig.enabled is False."""


class Cancelled(GpuHalError):
    """A request was cancelled before its next launch."""


class UnknownTenant(GpuHalError, KeyError):
    """No context exists for this tenant."""


class UnknownDataset(GpuHalError, KeyError):
    """No dataset of this name is preloaded."""


class InvalidName(GpuHalError, ValueError):
    """A tenant or dataset name is not a plain name (no paths, no odd characters)."""
