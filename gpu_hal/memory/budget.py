"""The memory budget of one device: the one place its memory is accounted.

    budget = total x (1 - safety_margin) - reserved_bytes

computed by `compute_budget` and nowhere else. Every owner (a tenant's pool, the
dataset store, stream state) registers with a limit and an optional guaranteed
floor (its prewarmed pool bytes). An owner is charged

    charge = max(floor, reserved, pool)

where `reserved` is what its open requests and holds asked for up front (so a
request is sure to get the bytes it was admitted with) and `pool` is what its
memory pool really took from the device: every allocation the pool makes is
charged here when it happens (`grow`) and given back when the pool frees it
(`shrink`). The budget, the pools, the device status and the metrics therefore
read one set of numbers. A reservation is a context manager: its bytes come back
on success, failure or cancellation, exactly once.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from gpu_hal.errors import DeviceOutOfMemory, QuotaExceeded


def compute_budget(total_bytes: int, safety_margin: float, reserved_bytes: int) -> int:
    """THE budget formula: total x (1 - safety_margin) - reserved, floored at 0."""
    return max(0, int(int(total_bytes) * (1.0 - float(safety_margin))) - int(reserved_bytes))


@dataclass
class _Owner:
    limit: int | None  # None: bounded by the device budget only
    floor: int = 0
    used: int = 0  # reserved up front by open requests and holds
    pool: int = 0  # taken from the device by the owner's pool (allocator-charged)
    peak: int = 0
    peak_pool: int = 0
    refused: int = 0
    closed: bool = False  # unregistered while its pool still held bytes: kept until they come back

    @property
    def charge(self) -> int:
        return max(self.floor, self.used, self.pool)


class Reservation:
    """Bytes held by one owner until released (idempotent; a context manager)."""

    __slots__ = ("_budget", "owner", "nbytes", "_released", "__weakref__")

    def __init__(self, budget: "MemoryBudget", owner: str, nbytes: int) -> None:
        self._budget = budget
        self.owner = owner
        self.nbytes = nbytes
        self._released = False

    @property
    def released(self) -> bool:
        return self._released

    def release(self) -> None:
        """Give the bytes back; later calls do nothing."""
        self._budget._release(self)

    def __enter__(self) -> "Reservation":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "released" if self._released else "held"
        return f"Reservation({self.owner!r}, {self.nbytes:,} bytes, {state})"


class MemoryBudget:
    """Thread-safe accounting of one device's budget across owners."""

    def __init__(self, total_bytes: int, safety_margin: float, reserved_bytes: int) -> None:
        self.total_bytes = int(total_bytes)
        self.safety_margin = float(safety_margin)
        self.reserved_bytes = int(reserved_bytes)
        self.budget = compute_budget(total_bytes, safety_margin, reserved_bytes)
        # Re-entrant: a pool block's finalizer (shrink) can run in a garbage collection
        # that starts inside a budget call on the same thread.
        self._lock = threading.RLock()
        self._owners: dict[str, _Owner] = {}
        self._charged = 0  # sum of owner charges, kept incrementally
        self._peak = 0
        self._listeners: list[Any] = []

    def add_listener(self, fn: Any) -> None:
        """Call `fn()` after every change of the charged bytes (outside the lock)."""
        self._listeners.append(fn)

    def _changed(self) -> None:
        for fn in self._listeners:
            fn()

    # -- owners ----------------------------------------------------------------
    def register(self, owner: str, limit: int | None) -> None:
        """Add an owner with a byte limit (None: the device budget is its limit)."""
        with self._lock:
            old = self._owners.get(owner)
            if old is not None and not old.closed:
                raise ValueError(f"owner {owner!r} is already registered")
            new = _Owner(limit=None if limit is None else int(limit))
            if old is not None:  # bytes its previous pool still holds stay charged to the name
                new.pool = new.peak_pool = old.pool
                new.limit = None if new.limit is None else max(new.limit, old.pool)
            self._owners[owner] = new

    def unregister(self, owner: str) -> None:
        """Remove an owner that holds nothing but its floor (which comes back)."""
        with self._lock:
            o = self._owners.get(owner)
            if o is None:
                return
            if o.used:
                raise RuntimeError(f"owner {owner!r} still holds {o.used:,} reserved bytes")
            if o.pool:  # arrays of its pool are still alive: charged until the pool frees them
                before = o.charge
                o.floor, o.closed = 0, True
                self._charged += o.charge - before
                return
            self._charged -= o.charge
            del self._owners[owner]

    def set_limit(self, owner: str, limit: int | None) -> None:
        """Change an owner's byte limit (its tenant quota); bytes it holds above it stay until freed."""
        with self._lock:
            self._owner(owner).limit = None if limit is None else int(limit)

    def set_floor(self, owner: str, floor: int) -> None:
        """Guarantee `floor` bytes to an owner (charged now); QuotaExceeded if no room."""
        floor = int(floor)
        with self._lock:
            o = self._owner(owner)
            if floor < 0 or (o.limit is not None and floor > o.limit):
                raise QuotaExceeded(owner, floor, o.limit or 0, "tenant", "floor exceeds the tenant limit")
            delta = max(floor, o.used, o.pool) - o.charge
            if delta > self.budget - self._charged:
                raise QuotaExceeded(owner, floor, o.charge + self.budget - self._charged, "device",
                                    "prewarm floor does not fit the device budget")
            o.floor = floor
            self._charged += delta
            self._peak = max(self._peak, self._charged)
        self._changed()

    def has_owner(self, owner: str) -> bool:
        with self._lock:
            o = self._owners.get(owner)
            return o is not None and not o.closed

    # -- reservations ------------------------------------------------------------
    def reserve(self, owner: str, nbytes: int) -> Reservation:
        """Atomically reserve `nbytes` for an owner, or raise QuotaExceeded."""
        nbytes = int(nbytes)
        if nbytes < 0:
            raise ValueError(f"cannot reserve a negative number of bytes ({nbytes})")
        with self._lock:
            o = self._owner(owner)
            owner_room = (o.limit - o.used) if o.limit is not None else None
            new_used = o.used + nbytes
            delta = max(o.floor, new_used, o.pool) - o.charge
            device_room = self.budget - self._charged
            if owner_room is not None and nbytes > owner_room:
                o.refused += 1
                raise QuotaExceeded(owner, nbytes, self._available(o), "tenant",
                                    f"limit {o.limit:,} bytes, {o.used:,} in use")
            if delta > device_room:
                o.refused += 1
                raise QuotaExceeded(owner, nbytes, self._available(o), "device",
                                    f"device budget {self.budget:,} bytes, {self._charged:,} charged")
            o.used = new_used
            o.peak = max(o.peak, new_used)
            self._charged += delta
            self._peak = max(self._peak, self._charged)
            reservation = Reservation(self, owner, nbytes)
        self._changed()
        return reservation

    # -- pool allocations ----------------------------------------------------------
    def grow(self, owner: str, nbytes: int) -> None:
        """Charge `nbytes` that the owner's pool is taking from the device now.

        Raises QuotaExceeded (scope "tenant") past the owner's limit, and
        DeviceOutOfMemory when the device budget has no room: the device, not the
        tenant, is full, so the work may run elsewhere (the fallback chain).
        """
        nbytes = int(nbytes)
        if nbytes < 0:
            raise ValueError(f"cannot grow a pool by a negative number of bytes ({nbytes})")
        with self._lock:
            o = self._owner(owner)
            new_pool = o.pool + nbytes
            if o.limit is not None and new_pool > o.limit:
                o.refused += 1
                raise QuotaExceeded(owner, nbytes, max(0, o.limit - o.pool), "tenant",
                                    f"pool limit {o.limit:,} bytes, {o.pool:,} held")
            delta = max(o.floor, o.used, new_pool) - o.charge
            room = self.budget - self._charged
            if delta > room:
                o.refused += 1
                raise DeviceOutOfMemory(
                    f"device budget exhausted: {owner!r} needs {nbytes:,} more bytes, "
                    f"{room:,} of {self.budget:,} left")
            o.pool = new_pool
            o.peak_pool = max(o.peak_pool, new_pool)
            self._charged += delta
            self._peak = max(self._peak, self._charged)
        self._changed()

    def shrink(self, owner: str, nbytes: int) -> None:
        """Give back `nbytes` that the owner's pool returned to the device."""
        nbytes = int(nbytes)
        with self._lock:
            o = self._owners.get(owner)
            if o is None:  # the owner is gone (its pool outlived it): nothing is charged
                return
            before = o.charge
            o.pool = max(0, o.pool - nbytes)
            self._charged += o.charge - before
            if o.closed and o.pool == 0:
                del self._owners[owner]
        self._changed()

    def available_for(self, owner: str) -> int:
        """Bytes the owner could reserve right now."""
        with self._lock:
            return self._available(self._owner(owner))

    def _available(self, o: _Owner) -> int:
        # Room under the device budget, counting what the owner is charged but does not use.
        device = self.budget - self._charged + max(0, o.charge - o.used)
        owner = (o.limit - o.used) if o.limit is not None else device
        return max(0, min(device, owner))

    def _release(self, r: Reservation) -> None:
        with self._lock:
            if r._released:
                return
            r._released = True
            o = self._owners[r.owner]
            before = o.charge
            o.used -= r.nbytes
            self._charged += o.charge - before
        self._changed()

    def _owner(self, owner: str) -> _Owner:
        try:
            return self._owners[owner]
        except KeyError:
            raise KeyError(f"unknown budget owner {owner!r}") from None

    # -- figures -----------------------------------------------------------------
    @property
    def charged(self) -> int:
        """Bytes charged to owners (reservations plus unused floors)."""
        with self._lock:
            return self._charged

    @property
    def available(self) -> int:
        with self._lock:
            return self.budget - self._charged

    def owner_figures(self, owner: str) -> dict[str, int | None]:
        with self._lock:
            o = self._owner(owner)
            return {"limit": o.limit, "floor": o.floor, "reserved": o.used, "peak_reserved": o.peak,
                    "pool": o.pool, "peak_pool": o.peak_pool, "charged": o.charge,
                    "refused": o.refused, "available": self._available(o)}

    def snapshot(self) -> dict[str, Any]:
        """Budget figures and per-owner usage (a consistent copy)."""
        with self._lock:
            return {
                "total_bytes": self.total_bytes,
                "safety_margin": self.safety_margin,
                "reserved_bytes": self.reserved_bytes,
                "budget_bytes": self.budget,
                "charged_bytes": self._charged,
                "available_bytes": self.budget - self._charged,
                "peak_charged_bytes": self._peak,
                "owners": {
                    name: {"limit": o.limit, "floor": o.floor, "reserved": o.used, "peak_reserved": o.peak,
                           "pool": o.pool, "peak_pool": o.peak_pool, "charged": o.charge, "refused": o.refused}
                    for name, o in self._owners.items()
                },
            }

    def check_invariants(self) -> None:
        """Raise AssertionError if the incremental totals drifted (tests, debugging)."""
        with self._lock:
            total = sum(o.charge for o in self._owners.values())
            if total != self._charged:
                raise AssertionError(f"charged {self._charged} != sum of owner charges {total}")
            if self._charged > self.budget:
                raise AssertionError(f"charged {self._charged} exceeds budget {self.budget}")
            for name, o in self._owners.items():
                if o.used < 0 or (o.limit is not None and o.used > o.limit):
                    raise AssertionError(f"owner {name!r} holds {o.used} (limit {o.limit})")
                if o.pool < 0 or (o.limit is not None and o.pool > o.limit):
                    raise AssertionError(f"owner {name!r} pool holds {o.pool} (limit {o.limit})")
