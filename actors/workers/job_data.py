"""What a worker keeps of a job between its chunks: the job's data, resident on its device.

A job's chunks reach a worker one after another (the coordinator keeps a worker on the
job it ran last while that job has chunks left). Without this cache every chunk would
select the job's symbols from the dataset again and upload them to the device again.
`JobDataCache` keeps, per (job id, data digest):

- the job's panel (its symbols of one dataset version) as CuPy arrays on a GPU worker,
  NumPy on a CPU or simulated worker. A sweep reads only the close, so only the close
  is kept for it (the other fields of the resident panel are marked missing);
- prepared kernel inputs derived from it (`derived`: for sweeps, the plan of one asset
  range made by `kernels.backtest.prepare_sweep`, reused by every combination range over
  those assets: the expanded grid, the inputs on the device and what its runs build there,
  the CPU kernel's time-major inputs or the GPU's window tables of the grid's windows;
  charged at `plan.nbytes`).

Memory follows gpu_hal's one memory truth: on a device the bytes are held from the
budget in the job tenant's own context (`StrategyContext.hold`, uploaded with its pool
active, like the realtime path's preloaded datasets), so they count against the
tenant's quota and the device's pressure levels; a CPU worker bounds them by
`max_host_bytes`. Entries leave when the job ends (`end_job`: the coordinator calls it
on every worker that ran a chunk, for a success, a failure or a cancel), when more than
`max_jobs` jobs are kept (least recently used first), when a new entry does not fit,
and under memory pressure: from SHED up, the entries of SHEDDABLE (LOW, IDLE) jobs are
dropped and none are added, and gpu_hal's reclaim path (`TenantPools.add_reclaimer`) drops
them for a REALTIME/HIGH request that does not fit. An entry that cannot be kept is not an error: the chunk
runs on the data it was given, as before. Thread-safe (a worker actor runs live calls
beside a chunk). Ray-free.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

from actors.config import JobDataConfig
from actors.jobs.plans import job_panel
from actors.messages import LIVE_JOB_ID, WorkItem
from gpu_hal.errors import DeviceOutOfMemory, QuotaExceeded
from gpu_hal.memory.pressure import SHEDDABLE, PressureLevel, Transition
from gpu_hal.streams.priority import JobClass
from kernels.data import FIELDS, Panel

log = logging.getLogger(__name__)

CLOSE_ONLY = tuple(f for f in FIELDS if f != "close")


def resident_fields(item: WorkItem) -> str | None:
    """What a chunk of this item reads of its panel: "close" (returns-engine sweeps), "all"
    (returns-engine backtests), or None when its data is not kept between chunks (live work,
    the orders engine, walk-forward, training: one chunk, or kernels that take host data)."""
    if item.job_id == LIVE_JOB_ID:
        return None
    payload = item.payload
    if payload.get("engine", "returns") != "returns":
        return None
    if item.kind == "sweep":
        from kernels.backtest.orders.sweep import is_orders_grid  # noqa: PLC0415

        grid = payload.get("grid")
        return None if isinstance(grid, dict) and is_orders_grid(grid) else "close"
    if item.kind == "backtest":
        return "all"
    return None


def data_digest(item: WorkItem, fields: str) -> str:
    """The data a job's chunks share: dataset version, selected symbols and the fields kept."""
    symbols = item.payload.get("symbols")
    picked = hashlib.sha1(json.dumps(list(symbols)).encode()).hexdigest()[:16] if symbols else "all"
    return f"{item.dataset}@{item.dataset_version}/{picked}/{fields}"


@dataclass
class _Entry:
    job_id: str
    digest: str
    job_class: JobClass
    tenant: str
    panel: Panel
    nbytes: int
    hold: Any = None  # gpu_hal Reservation in the tenant's context (None on a CPU worker)
    ctx: Any = None  # the tenant's StrategyContext (trimmed once the bytes are back)
    derived: OrderedDict = field(default_factory=OrderedDict)  # key -> (value, nbytes, hold)

    def holds(self) -> list[Any]:
        return [h for h in (self.hold, *(d[2] for d in self.derived.values())) if h is not None]

    @property
    def total_bytes(self) -> int:
        return self.nbytes + sum(d[1] for d in self.derived.values())


class JobDataCache:
    """Per-worker cache of job data between chunks, keyed by (job id, data digest)."""

    def __init__(self, config: JobDataConfig | None = None, device: Any = None) -> None:
        self.config = config or JobDataConfig()
        self.device = device  # gpu_hal Device, or None on a CPU worker
        self._lock = threading.RLock()  # counts are kept under it too
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._ended: OrderedDict[str, None] = OrderedDict()
        self.counts: Counter[str] = Counter()
        self._shedder: threading.Thread | None = None
        if device is not None:
            device.pressure.subscribe(self._on_pressure)
            # A REALTIME/HIGH request that does not fit: gpu_hal's reclaim path drops LOW/IDLE jobs' data here.
            add_reclaimer = getattr(device.pools, "add_reclaimer", None)
            if add_reclaimer is not None:
                add_reclaimer(lambda classes: self.shed(frozenset(classes), "reclaim"))

    @property
    def enabled(self) -> bool:
        return bool(self.config.enabled)

    def keeper(self, item: WorkItem) -> Callable[[tuple, Callable[[bool], tuple[Any, int]]], Any] | None:
        """`keep(key, build)` for `actors.jobs.plans.execute_chunk` when this item's data is kept here."""
        if not self.enabled or self.config.max_derived == 0 or resident_fields(item) is None:
            return None
        return lambda key, build: self.derived(item, key, build)

    # -- the job's panel --------------------------------------------------------------
    def panel(self, item: WorkItem, host_panel: Panel, ctx: Any = None, headroom_bytes: int = 0) -> Panel:
        """The job's panel for this chunk: the resident copy (uploaded on the job's first chunk
        here), or the host selection when the data is not kept (disabled, ended job, no room).

        `ctx` is the job tenant's context on this worker's device (None on a CPU worker);
        `headroom_bytes` is what the chunk itself will reserve in that context: the data is
        kept only when that much stays available to the tenant beside it.
        """
        fields = resident_fields(item) if self.enabled else None
        if fields is None:
            return job_panel(host_panel, item.payload)
        key = (item.job_id, data_digest(item, fields))
        with self._lock:
            ended = item.job_id in self._ended
            entry = None if ended else self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self.counts["hits"] += 1
                return entry.panel
        sub = job_panel(host_panel, item.payload)
        if ended:
            self._count("uncached")
            return sub
        entry = self._upload(item, key, sub, fields, ctx, headroom_bytes)
        if entry is None:
            self._count("uncached")
            return sub
        return self._insert(key, entry).panel

    def _upload(self, item: WorkItem, key: tuple[str, str], sub: Panel, fields: str, ctx: Any,
                headroom_bytes: int) -> _Entry | None:
        job_class = JobClass(item.job_class)
        n_arrays = 1 if fields == "close" else len(FIELDS)
        nbytes = int(sub.close.nbytes) * n_arrays
        hold = None
        if self.device is None:
            if nbytes > self.config.max_host_bytes:
                return None
            self._make_room_host(nbytes)
        else:
            if ctx is None or (job_class in SHEDDABLE and self.device.pressure.level >= PressureLevel.SHED):
                return None
            hold = self._hold(ctx, nbytes, headroom_bytes, key[0])
            if hold is None:
                return None
        try:
            resident = self._resident(sub, fields, ctx)
        except (QuotaExceeded, DeviceOutOfMemory) as exc:
            log.info("job %s: data not kept on the device (%s)", item.job_id, exc)
            if hold is not None:
                hold.release()
            return None
        except BaseException:
            if hold is not None:
                hold.release()
            raise
        self._count("uploads")
        self._count("uploaded_bytes", nbytes)
        return _Entry(item.job_id, key[1], job_class, item.tenant, resident, nbytes, hold, ctx)

    def _hold(self, ctx: Any, nbytes: int, headroom_bytes: int, job_id: str) -> Any:
        """Hold `nbytes` in the tenant's context, leaving `headroom_bytes` for the chunk; evicts
        other jobs' entries (least recently used first) when they do not fit. None: no room."""
        while True:
            try:
                hold = ctx.hold(nbytes)
            except QuotaExceeded:
                hold = None
            if hold is not None:
                if self.device.budget.available_for(ctx.tenant) >= headroom_bytes:
                    return hold
                hold.release()
            if not self._evict_one(exclude_job=job_id, reason="room"):
                return None

    def _resident(self, sub: Panel, fields: str, ctx: Any) -> Panel:
        """The panel as kept: device arrays on a real GPU (allocated from the tenant's pool, on
        its stream), the host arrays otherwise."""
        names = ("close",) if fields == "close" else FIELDS
        if self.device is not None and not self.device.simulated:
            import cupy  # noqa: PLC0415 - GPU workers only

            with ctx.allocating(), ctx.stream:
                arrays = {f: cupy.asarray(getattr(sub, f)) for f in names}
                ctx.stream.synchronize()
        else:
            arrays = {f: getattr(sub, f) for f in names}
        if fields == "close":
            c = arrays["close"]  # the other fields are never read: the same array, marked missing
            return Panel(index=sub.index, symbols=sub.symbols, open=c, high=c, low=c, close=c, volume=c,
                         missing=CLOSE_ONLY)
        return Panel(index=sub.index, symbols=sub.symbols, missing=sub.missing, **arrays)

    def _insert(self, key: tuple[str, str], entry: _Entry) -> _Entry:
        dropped: list[_Entry] = []
        with self._lock:
            existing = self._entries.get(key)
            if existing is not None or entry.job_id in self._ended:  # another thread won, or the job ended
                dropped.append(entry)
                kept = existing
            else:
                self._entries[key] = kept = entry
                while len(self._entries) > self.config.max_jobs:
                    dropped.append(self._entries.popitem(last=False)[1])
                    self.counts["evicted_lru"] += 1
        self._free(dropped)
        return kept if kept is not None else entry

    # -- prepared inputs derived from the job's data ----------------------------------------
    def derived(self, item: WorkItem, key: tuple, build: Callable[[bool], tuple[Any, int]]) -> Any:
        """A value derived from the job's resident data (e.g. a sweep's prepared inputs for one
        asset range), built once per job and worker: `build(keeping)` -> (value, device bytes);
        `keeping` tells whether the value will be kept (so that it builds nothing to keep otherwise).

        Without a resident entry for the job (not kept, ended) it is built and not kept.
        """
        fields = resident_fields(item) if self.enabled else None
        ekey = (item.job_id, data_digest(item, fields)) if fields else None
        with self._lock:
            entry = self._entries.get(ekey) if ekey is not None else None
            if entry is not None and key in entry.derived:
                entry.derived.move_to_end(key)
                self.counts["derived_hits"] += 1
                return entry.derived[key][0]
        keeping = entry is not None and self.config.max_derived != 0
        value, nbytes = build(keeping)
        self._count("derived_builds")
        if not keeping:
            return value
        hold = None
        if entry.ctx is not None:
            try:
                hold = entry.ctx.hold(int(nbytes))
            except QuotaExceeded:
                return value
        dropped: list[Any] = []
        with self._lock:
            if self._entries.get(ekey) is not entry:  # evicted meanwhile
                dropped.append(hold)
            else:
                entry.derived[key] = (value, int(nbytes), hold)
                while len(entry.derived) > self.config.max_derived:
                    dropped.append(entry.derived.popitem(last=False)[1][2])
        for h in dropped:
            if h is not None:
                h.release()
        return value

    # -- eviction ---------------------------------------------------------------------------
    def end_job(self, job_id: str) -> int:
        """The job ended (succeeded, failed, cancelled): drop its data; returns the bytes freed.
        A chunk of it that arrives later runs on the data it brings and is not kept."""
        with self._lock:
            self._ended[job_id] = None
            while len(self._ended) > self.config.ended_kept:
                self._ended.popitem(last=False)
            gone = [self._entries.pop(k) for k in [k for k in self._entries if k[0] == job_id]]
            if gone:
                self.counts["evicted_job_end"] += len(gone)
        return self._free(gone)

    def shed(self, classes: frozenset[JobClass] = SHEDDABLE, reason: str = "pressure") -> int:
        """Drop the entries of jobs of these classes (memory pressure); returns the bytes freed."""
        with self._lock:
            gone = [self._entries.pop(k) for k, e in list(self._entries.items()) if e.job_class in classes]
            if gone:
                self.counts[f"evicted_{reason}"] += len(gone)
        return self._free(gone)

    def clear(self) -> int:
        with self._lock:
            gone = list(self._entries.values())
            self._entries.clear()
        return self._free(gone)

    def _evict_one(self, exclude_job: str, reason: str) -> bool:
        with self._lock:
            victim = next((k for k in self._entries if k[0] != exclude_job), None)
            if victim is None:
                return False
            entry = self._entries.pop(victim)
            self.counts[f"evicted_{reason}"] += 1
        self._free([entry])
        return True

    def _make_room_host(self, nbytes: int) -> None:
        """A CPU worker: least recently used entries leave until `nbytes` more fit `max_host_bytes`."""
        gone: list[_Entry] = []
        with self._lock:
            used = sum(e.total_bytes for e in self._entries.values())
            while self._entries and used + nbytes > self.config.max_host_bytes:
                entry = self._entries.popitem(last=False)[1]
                used -= entry.total_bytes
                gone.append(entry)
                self.counts["evicted_room"] += 1
        self._free(gone)

    def _free(self, entries: list[_Entry]) -> int:
        """Give the entries' bytes back to the budget (outside the lock) and trim the idle pools."""
        freed = 0
        contexts = {}
        for entry in entries:
            freed += entry.total_bytes
            for hold in entry.holds():
                hold.release()
            if entry.ctx is not None:
                contexts[id(entry.ctx)] = entry.ctx
            entry.panel = None  # type: ignore[assignment]  # the arrays go back to the tenant's pool
            entry.derived.clear()
        for ctx in contexts.values():
            ctx.trim_if_idle()  # an idle pool gives the freed blocks back to the device now
        return freed

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counts[key] += n

    def _on_pressure(self, t: Transition) -> None:
        """From SHED up, LOW/IDLE jobs' data leaves (on a thread of its own: the caller may hold
        a pool's lock while it changes the budget)."""
        if t.after < PressureLevel.SHED or t.after <= t.before:
            return
        thread = threading.Thread(target=self.shed, name="job-data-shed", daemon=True)
        self._shedder = thread
        thread.start()

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait for a pressure eviction in progress (tests, shutdown)."""
        thread = self._shedder
        if thread is not None:
            thread.join(timeout_s)

    # -- status -----------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        with self._lock:
            entries = list(self._entries.values())
            counts = dict(self.counts)
        lookups = counts.get("hits", 0) + counts.get("uploads", 0) + counts.get("uncached", 0)
        return {
            "enabled": self.enabled,
            "entries": len(entries),
            "bytes": sum(e.total_bytes for e in entries),
            "jobs": sorted({e.job_id for e in entries}),
            "hits": counts.get("hits", 0),
            "uploads": counts.get("uploads", 0),
            "uploaded_bytes": counts.get("uploaded_bytes", 0),
            "uncached": counts.get("uncached", 0),
            "hit_ratio": (counts.get("hits", 0) / lookups) if lookups else None,
            "derived_hits": counts.get("derived_hits", 0),
            "derived_builds": counts.get("derived_builds", 0),
            "evicted": {k[len("evicted_"):]: v for k, v in counts.items() if k.startswith("evicted_")},
        }


__all__ = ["JobDataCache", "data_digest", "resident_fields"]
