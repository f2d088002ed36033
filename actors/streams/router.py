"""Streams routed from a Serve replica to the worker that holds their state.

A stream is sticky: its indicator state lives in one worker (`actors.streams.registry`), so
every batch goes there. The router keeps, per stream, the last snapshot of that
state plus the tick batches accepted since (a snapshot comes back with every
`snapshot_every`-th batch, in the same call). When the worker dies or faults, the
stream is restored from the snapshot on the next tier of the coordinator's
fallback chain (the same `FallbackPolicy` and routing table as `LiveRouter`:
same device on a fresh stream, another GPU, then the CPU), the batches since the
snapshot are replayed, and the failed batch is applied: the resumed stream gives
the numbers an uninterrupted one would. A worker that lost the stream (restart,
idle eviction) gets it back the same way.

Concurrent pushes of different streams to one worker are coalesced into one
`push_many` call (at most `max_inflight` calls in flight per worker): under load
the per-call overhead is shared; when idle a push goes out at once.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from actors.datasets import public_name
from actors.scheduling.placement.fallback import Attempt, WorkerView
from actors.jobs.records import Tier
from actors.live.router import LiveRouter, is_client_error, run_with_fallback
from actors.messages import WorkItem
from actors.jobs.plans import ChunkSpec, JobSpecError
from actors.settings import StreamsConfig
from actors.streams.registry import (
    PushResult,
    StreamError,
    StreamLimitReached,
    StreamNotFound,
    StreamSnapshot,
    StreamSpec,
    TickBatch,
)
from gpu_hal.streams.priority import JobClass

log = logging.getLogger(__name__)

STREAM_ID_CHARS = 64


class StreamFault(RuntimeError):
    """A worker failed a stream's batch for a reason that is not the client's (device fault, death)."""


_CLIENT_ERRORS: dict[str, type[Exception]] = {"StreamError": StreamError, "StreamNotFound": StreamNotFound,
                                              "StreamLimitReached": StreamLimitReached}


def _rebuild(kind: str, message: str) -> Exception:
    cls = _CLIENT_ERRORS.get(kind)
    return cls(message) if cls is not None else StreamFault(f"{kind}: {message}")


@dataclass
class _Record:
    spec: StreamSpec
    tenant: str
    view: WorkerView
    tier: Tier
    snapshot: StreamSnapshot
    symbols: tuple[str, ...]
    log: list[TickBatch] = field(default_factory=list)
    batches: int = 0
    ticks: int = 0
    recoveries: int = 0
    history: list[Attempt] = field(default_factory=list)
    last_used: float = 0.0
    last_symbols: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)  # the caller's own fields (e.g. the HTTP layer's time unit)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    client_id: str = ""  # the id the tenant knows (spec.stream_id, on the worker, is unique across tenants)


@dataclass(frozen=True)
class RoutedPush:
    """A batch's values and where they were computed."""

    result: PushResult
    worker_id: str
    tier: str
    recovered: bool
    seconds: float


class _Lane:
    """Pushes bound for one worker: coalesced into `push_many` calls, a few in flight."""

    def __init__(self, handle: Any, max_coalesce: int, max_inflight: int) -> None:
        self.handle = handle
        self.max_coalesce = max_coalesce
        self.max_inflight = max_inflight
        self.pending: list[tuple[str, TickBatch, bool, asyncio.Future]] = []
        self.inflight = 0
        self.calls = 0
        self.pushes = 0

    def submit(self, stream_id: str, batch: TickBatch, want_snapshot: bool) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self.pending.append((stream_id, batch, want_snapshot, fut))
        self._pump()
        return fut

    def _pump(self) -> None:
        while self.pending and self.inflight < self.max_inflight:
            take, self.pending = self.pending[: self.max_coalesce], self.pending[self.max_coalesce:]
            self.inflight += 1
            asyncio.ensure_future(self._send(take))

    async def _send(self, take: list) -> None:
        self.calls += 1
        self.pushes += len(take)
        try:
            outcomes = await self.handle.push_many.remote([(s, b, w) for s, b, w, _ in take])
        except Exception as exc:  # the whole call failed: the worker died or is unreachable
            for *_, fut in take:
                if not fut.done():
                    fut.set_exception(exc)
        else:
            for (*_, fut), (status, value) in zip(take, outcomes):
                if fut.done():
                    continue
                if status == "ok":
                    fut.set_result(value)
                else:
                    fut.set_exception(_rebuild(*value))
        finally:
            self.inflight -= 1
            self._pump()


class StreamRouter:
    """Opens, feeds, snapshots and recovers streams for one Serve replica."""

    def __init__(self, live: LiveRouter, config: StreamsConfig | None = None, tenant: str = "live",
                 clock: Any = time.monotonic) -> None:
        self.live = live
        self.config = config or StreamsConfig()
        self.tenant = tenant  # the device tenant whose REALTIME context runs stream work
        self.clock = clock
        self._streams: dict[str, _Record] = {}
        self._lanes: dict[str, _Lane] = {}
        self._last_sweep = clock()
        self.counts = {"opened": 0, "closed": 0, "evicted": 0, "batches": 0, "ticks": 0, "recoveries": 0,
                       "fallbacks": 0, "rejected": 0}

    # -- helpers ----------------------------------------------------------------------
    def _lane(self, worker_id: str, handle: Any) -> _Lane:
        lane = self._lanes.get(worker_id)
        if lane is None or lane.handle is not handle:
            lane = self._lanes[worker_id] = _Lane(handle, self.config.max_coalesce, self.config.max_inflight)
        return lane

    async def _handle(self, worker_id: str) -> Any:
        table = await self.live.table()
        if worker_id not in table.handles:
            table = await self.live.table(force=True)
        try:
            return table.handles[worker_id]
        except KeyError:
            raise StreamFault(f"worker {worker_id} is not in the routing table") from None

    def _key(self, stream_id: str, tenant: str | None) -> str:
        """Streams are per tenant: the same id in two tenants is two streams, and one never sees the other's."""
        return f"{'default' if tenant is None else tenant}\x1f{stream_id}"  # None: open()'s default tenant

    def _get(self, stream_id: str, tenant: str | None) -> _Record:
        rec = self._streams.get(self._key(stream_id, tenant))
        if rec is None:
            raise StreamNotFound(f"no stream {stream_id[:STREAM_ID_CHARS]!r}")
        return rec

    # -- open / close -----------------------------------------------------------------
    async def open(self, dataset: str, *, dataset_version: str | None = None, symbols: Sequence[str] | None = None,
                   config: Mapping[str, Any] | None = None, outputs: Sequence[str] | None = None,
                   history: int | None = None, tenant: str = "default", stream_id: str | None = None,
                   meta: Mapping[str, Any] | None = None, functions: Sequence[Any] | None = None) -> dict[str, Any]:
        """Open a stream over the latest version of `dataset` on the best worker; its status.
        `functions`: TA-Lib functions by name (`StreamSpec.build`)."""
        self._sweep()
        client_id = stream_id or uuid.uuid4().hex
        key = self._key(client_id, tenant)
        if key in self._streams:  # only the tenant's own streams are looked at
            raise StreamError(f"stream {client_id!r} is already open")
        if len(self._streams) >= self.config.max_streams or self._count(tenant) >= self.config.max_streams_per_tenant:
            self.evict_idle()
            if self._count(tenant) >= self.config.max_streams_per_tenant:
                raise StreamLimitReached(f"{self.config.max_streams_per_tenant} streams of this tenant are open "
                                         f"on this replica (the per-tenant limit)")
            if len(self._streams) >= self.config.max_streams:
                raise StreamLimitReached(f"{self.config.max_streams} streams are open on this replica")
        table = await self.live.table()
        if dataset not in table.datasets:
            table = await self.live.table(force=True, dataset=dataset)
            if dataset not in table.datasets:
                raise JobSpecError(f"unknown dataset {public_name(dataset)!r}")
        ds = table.datasets[dataset]
        if dataset_version is not None and dataset_version != ds["version"]:
            raise StreamError(f"dataset_version {dataset_version!r} is not the latest version of {dataset!r} "
                              f"({ds['version']}); streams start from the latest")
        # On the worker a stream has an id unique across tenants (a generated id is already; a chosen one is not).
        worker_id = client_id if stream_id is None else uuid.uuid4().hex
        spec = StreamSpec.build(worker_id, dataset, ds["version"], symbols, config, outputs, history, functions)
        item = WorkItem(job_id=f"stream-{spec.stream_id}", kind="stream", payload={}, chunk=ChunkSpec(0, (0, 0)),
                        job_class=int(JobClass.REALTIME), tenant=self.tenant, dataset=dataset,
                        dataset_version=ds["version"])

        async def call(view: WorkerView, it: WorkItem) -> tuple[dict, StreamSnapshot, WorkerView]:
            handle = table.handles[view.worker_id]
            status = await handle.open_stream.remote(it, spec, ds["holder"])
            snap = await handle.snapshot_stream.remote(spec.stream_id)
            return status, snap, view

        async def next_tier(failed: WorkerView, history: list[Attempt], exc: BaseException) -> tuple[WorkerView, Tier]:
            nonlocal table
            log.warning("stream open fault on %s (%s: %s); falling back", failed.worker_id, type(exc).__name__, exc)
            table = await self.live.table(force=True)
            self.counts["fallbacks"] += 1
            return self.live.policy.next_tier(failed, history, table.views)

        (status, snap, view), tier = await run_with_fallback(item, self.live.policy.choose(table.views), call,
                                                             next_tier)
        rec = _Record(spec=spec, tenant=tenant, view=view, tier=tier, snapshot=snap, symbols=tuple(snap.symbols),
                      last_used=self.clock(), meta=dict(meta or {}), client_id=client_id)
        self._streams[key] = rec
        self.counts["opened"] += 1
        return {**self._status(rec), "device": status.get("device"), "backend": status.get("backend")}

    async def close(self, stream_id: str, tenant: str | None = None) -> dict[str, Any]:
        rec = self._get(stream_id, tenant)
        async with rec.lock:
            self._streams.pop(self._key(stream_id, tenant), None)
            self.counts["closed"] += 1
            await self._forget(rec)
        return {**self._status(rec), "closed": True}

    async def _forget(self, rec: _Record) -> None:
        try:
            handle = await self._handle(rec.view.worker_id)
            await handle.close_stream.remote(rec.spec.stream_id)
        except Exception as exc:  # noqa: BLE001 - the worker evicts it anyway
            log.debug("close of %s on %s: %s", rec.spec.stream_id, rec.view.worker_id, exc)

    def evict_idle(self, now: float | None = None) -> list[str]:
        """Forget streams idle for longer than `idle_timeout_s` (and close them on their workers)."""
        now = self.clock() if now is None else now
        self._last_sweep = now
        gone = [sid for sid, r in self._streams.items()
                if now - r.last_used > self.config.idle_timeout_s and not r.lock.locked()]
        for sid in gone:
            rec = self._streams.pop(sid)
            asyncio.ensure_future(self._forget(rec))
        self.counts["evicted"] += len(gone)
        return gone

    def _sweep(self) -> None:
        if self.clock() - self._last_sweep >= self.config.evict_interval_s:
            self.evict_idle()

    # -- ticks ------------------------------------------------------------------------
    async def push(self, stream_id: str, batch: TickBatch, tenant: str | None = None) -> RoutedPush:
        """Apply a batch on the stream's worker (recovering the stream first if that worker lost it)."""
        started = time.perf_counter()
        self._sweep()
        rec = self._get(stream_id, tenant)
        if len(batch) > self.config.max_ticks:
            raise StreamError(f"ticks: {len(batch)} ticks in one batch are over the limit of {self.config.max_ticks}")
        async with rec.lock:
            if self._streams.get(self._key(stream_id, tenant)) is not rec:
                raise StreamNotFound(f"no stream {stream_id[:STREAM_ID_CHARS]!r}")
            batch = self._intern(rec, batch)
            want = (rec.batches + 1) % self.config.snapshot_every == 0
            recovered = False
            for _ in range(self.config.max_recoveries + 1):
                try:
                    handle = await self._handle(rec.view.worker_id)
                    result = await self._lane(rec.view.worker_id, handle).submit(rec.spec.stream_id, batch, want)
                    break
                except StreamNotFound:  # the worker restarted or evicted it: bring it back there
                    await self._recover(rec, None)
                except StreamError:
                    self.counts["rejected"] += 1
                    raise
                except Exception as exc:
                    if is_client_error(exc) or isinstance(exc, StreamLimitReached):
                        raise
                    await self._recover(rec, exc)
                recovered = True
            else:
                raise StreamFault(f"stream {stream_id!r}: gave up after {self.config.max_recoveries} recoveries")
            rec.batches += 1
            rec.ticks += len(batch)
            rec.last_used = self.clock()
            if result.snapshot is not None:
                rec.snapshot, rec.log = result.snapshot, []
            else:
                rec.log.append(batch)
        self.counts["batches"] += 1
        self.counts["ticks"] += len(batch)
        return RoutedPush(result, rec.view.worker_id, rec.tier.value, recovered, time.perf_counter() - started)

    @staticmethod
    def _intern(rec: _Record, batch: TickBatch) -> TickBatch:
        """Share one symbol tuple between the logged batches of a feed that repeats its symbol list."""
        for known in (rec.symbols, rec.last_symbols):
            if batch.symbol is not known and batch.symbol == known:
                return replace(batch, symbol=known)
        rec.last_symbols = batch.symbol
        return batch

    async def _recover(self, rec: _Record, exc: BaseException | None) -> None:
        """Restore the stream from its snapshot and replay the batches since: on the same worker
        when it only lost the stream (`exc` None), else down the fallback chain."""
        for _ in range(self.config.max_recoveries + 1):
            if exc is not None:
                log.warning("stream %s: fault on %s (%s: %s); restoring on the next tier", rec.spec.stream_id,
                            rec.view.worker_id, type(exc).__name__, exc)
                rec.history.append(Attempt(rec.view.worker_id, rec.tier))
                table = await self.live.table(force=True)
                rec.view, rec.tier = self.live.policy.next_tier(rec.view, rec.history, table.views)
                self.counts["fallbacks"] += 1
            try:
                handle = await self._handle(rec.view.worker_id)
                await handle.restore_stream.remote(rec.snapshot)
                for k in range(0, len(rec.log), self.config.max_coalesce):
                    part = rec.log[k: k + self.config.max_coalesce]
                    outcomes = await handle.push_many.remote([(rec.spec.stream_id, b, False) for b in part])
                    bad = [v for s, v in outcomes if s != "ok"]
                    if bad:
                        raise StreamFault(f"replay failed: {bad[0][0]}: {bad[0][1]}")
            except Exception as err:
                if is_client_error(err) and not isinstance(err, StreamNotFound):
                    raise
                exc = err
                continue
            rec.recoveries += 1
            self.counts["recoveries"] += 1
            return
        raise StreamFault(f"stream {rec.spec.stream_id!r}: no worker could restore it ({exc})")

    # -- status -----------------------------------------------------------------------
    def status(self, stream_id: str, tenant: str | None = None) -> dict[str, Any]:
        return self._status(self._get(stream_id, tenant))

    def meta(self, stream_id: str, tenant: str | None = None) -> dict[str, Any]:
        """The fields given to `open(meta=...)`."""
        return self._get(stream_id, tenant).meta

    def _status(self, rec: _Record) -> dict[str, Any]:
        spec = rec.spec
        return {"stream_id": rec.client_id or spec.stream_id, "dataset": public_name(spec.dataset),
                "dataset_version": spec.dataset_version,
                "symbols": list(rec.symbols), "outputs": list(spec.labels), "config": dict(spec.config),
                "worker_id": rec.view.worker_id, "tier": rec.tier.value, "batches": rec.batches, "ticks": rec.ticks,
                "batches_since_snapshot": len(rec.log), "recoveries": rec.recoveries,
                "idle_s": max(0.0, self.clock() - rec.last_used), **rec.meta}

    def __len__(self) -> int:
        return len(self._streams)

    def _count(self, tenant: str | None) -> int:
        prefix = self._key("", tenant)
        return sum(1 for k in self._streams if k.startswith(prefix))

    def stats(self) -> dict[str, Any]:
        lanes = {w: {"calls": lane.calls, "pushes": lane.pushes, "inflight": lane.inflight}
                 for w, lane in self._lanes.items()}
        return {"open": len(self._streams), **self.counts, "lanes": lanes}


__all__ = ["RoutedPush", "StreamFault", "StreamRouter"]
