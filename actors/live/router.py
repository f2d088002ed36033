"""Live work sent straight to a worker: the coordinator is the control plane only.

Research jobs go through the coordinator's queue; live requests (features,
predictions) must not wait behind its event loop. A `LiveRouter` keeps the
coordinator's routing table (worker handles, their health/budget views, shared
dataset refs), refreshed every few seconds, chooses a worker with the same
`FallbackPolicy` as the coordinator and walks the same fallback chain on a fault.
`run_with_fallback` is the one loop both use.

The hot path skips Ray too: once a worker is known to hold the request's dataset,
the item goes over the worker's live channel (`actors.live.channel`, a socket the
router keeps open, data-only msgpack frames) and the result comes back on it. Otherwise,
or when the channel fails, it is one actor call to the worker's `execute_live` (its
own concurrency group, so a live request never waits for a thread held by a
research chunk), with the dataset ref when the worker may not hold the dataset.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from typing import Any, Awaitable, Callable

from actors.config import LiveChannelConfig
from actors.scheduling.placement.fallback import Attempt, FallbackPolicy, WorkerView
from actors.jobs.records import JobKind, JobSpec, Tier
from actors.live.channel import ChannelAddress, ChannelClient, ChannelError
from actors.messages import LIVE_JOB_ID, WorkItem, WorkResult, pack, unpack
from actors.jobs.plans import ChunkSpec, JobSpecError
from gpu_hal.errors import QuotaExceeded
from gpu_hal.streams.priority import JobClass

log = logging.getLogger(__name__)

ROUTE_TTL_S = 2.0  # how long a routing table is used before it is fetched again
NO_REF = [None]  # sent instead of a dataset ref once the worker is known to hold the dataset
LIVE_GROUP = "live"  # the worker actors' concurrency group for live work


class DatasetNotCached(RuntimeError):
    """A worker was sent no dataset ref but does not hold the dataset (it restarted)."""


def is_client_error(exc: BaseException) -> bool:
    """Errors that another tier would repeat: bad parameters, quotas."""
    return isinstance(exc, (ValueError, KeyError, TypeError, QuotaExceeded, JobSpecError))


async def run_with_fallback(
    item: WorkItem,
    first: WorkerView,
    call: Callable[[WorkerView, WorkItem], Awaitable[WorkResult]],
    next_tier: Callable[[WorkerView, list[Attempt], BaseException], Awaitable[tuple[WorkerView, Tier]]],
) -> tuple[WorkResult, Tier]:
    """Run an item on `first`, then down the fallback chain on device faults."""
    view, tier, history = first, Tier.PRIMARY, []
    while True:
        try:
            return await call(view, item), tier
        except Exception as exc:
            if is_client_error(exc):
                raise
            history.append(Attempt(view.worker_id, tier))
            view, tier = await next_tier(view, history, exc)
            item = replace(item, tier=tier.value, attempt=item.attempt + 1)


@dataclass(frozen=True)
class RoutingTable:
    """What a router needs from the coordinator, fetched in one call."""

    views: tuple[WorkerView, ...]
    handles: dict[str, Any]
    datasets: dict[str, dict[str, Any]]  # name -> {"version", "n_assets", "holder"}
    fetched_at: float
    channels: dict[str, ChannelAddress | None]  # worker -> its live channel (None: actor calls only)


class LiveRouter:
    """Runs live work on workers directly, with the coordinator's placement and fallback rules."""

    def __init__(self, coordinator: Any, policy: FallbackPolicy | None = None, ttl_s: float = ROUTE_TTL_S,
                 channel: LiveChannelConfig | None = None) -> None:
        self.coordinator = coordinator
        self.policy = policy or FallbackPolicy()
        self.ttl_s = ttl_s
        self.channel_config = channel or LiveChannelConfig()
        self._table: RoutingTable | None = None
        self._cached: set[tuple[str, str, str]] = set()  # (worker, dataset, version) known to be held
        self._refresh: asyncio.Future | None = None
        self._clients: dict[ChannelAddress, ChannelClient] = {}
        self._broken: dict[ChannelAddress, float] = {}  # channel -> when it failed (actor calls for a while)
        self.fallbacks = 0
        self.channel_calls = 0

    async def table(self, force: bool = False, dataset: str | None = None) -> RoutingTable:
        """The routing table, fetched from the coordinator when missing, forced or older than `ttl_s`."""
        if force or self._table is None or time.monotonic() - self._table.fetched_at > self.ttl_s:
            raw = await self.coordinator.routing_table.remote(dataset)
            self._table = RoutingTable(tuple(raw["views"]), raw["handles"], raw["datasets"], time.monotonic(),
                                       raw.get("channels", {}))
        return self._table

    def _channel(self, table: RoutingTable, worker_id: str) -> ChannelClient | None:
        """The open channel to a worker, or None (disabled, not announced, or failed at this address)."""
        address = table.channels.get(worker_id) if self.channel_config.enabled else None
        if address is None:
            return None
        failed_at = self._broken.get(address)
        if failed_at is not None:
            if time.monotonic() - failed_at < self.channel_config.retry_s:
                return None
            del self._broken[address]
        client = self._clients.get(address)
        if client is None:
            client = self._clients[address] = ChannelClient(address, self.channel_config)
        return client

    async def _execute(self, table: RoutingTable, worker_id: str, item: WorkItem,
                       key: tuple[str, str, str], holder: list) -> WorkResult:
        """One live item on one worker: over its channel when it holds the dataset, else an actor call."""
        handle = table.handles[worker_id]
        if key in self._cached:
            channel = self._channel(table, worker_id)
            try:
                if channel is not None:
                    result = await channel.call(item)  # data-only encoding (actors.live.wire)
                    self.channel_calls += 1
                    return result
                return unpack(await handle.execute_live.remote(pack(item)))  # no ref to pass (and borrow)
            except DatasetNotCached:
                self._cached.discard(key)
            except ChannelError as exc:  # the actor call decides whether the worker is gone
                log.warning("live channel to %s failed (%s); using actor calls", worker_id, exc)
                self._broken[channel.address] = time.monotonic()
                stale = self._clients.pop(channel.address, None)
                if stale is not None:
                    stale.close()
        result = unpack(await handle.execute_live.remote(pack(item), holder))
        self._cached.add(key)
        return result

    async def _live_table(self) -> RoutingTable:
        """The table for a live request: a stale one is refreshed in the background, not waited for.

        A coordinator busy with research submissions can take tens of ms to answer; a
        live request uses the table it has (a fault forces a fresh one, see `run`).
        """
        if self._table is None:
            return await self.table()
        if time.monotonic() - self._table.fetched_at > self.ttl_s and self._refresh is None:
            self._refresh = asyncio.ensure_future(self._refresh_in_background())
        return self._table

    async def _refresh_in_background(self) -> None:
        try:
            await self.table(force=True)
        except Exception as exc:  # noqa: BLE001 - the next request tries again
            log.warning("routing table refresh failed: %s: %s", type(exc).__name__, exc)
        finally:
            self._refresh = None

    async def run(self, kind: str, payload: dict, priority: str | int = "REALTIME", tenant: str = "live") -> WorkResult:
        started = time.perf_counter()
        spec = JobSpec(JobKind.parse(kind), dict(payload))
        name = spec.payload.get("dataset")
        table = await self._live_table()
        if name not in table.datasets:
            table = await self.table(force=True, dataset=name)
            if name not in table.datasets:
                raise JobSpecError(f"unknown dataset {name!r}")
        ds = table.datasets[name]
        symbols = spec.payload.get("symbols")
        item = WorkItem(job_id=LIVE_JOB_ID, kind=spec.kind.value, payload=dict(spec.payload),
                        chunk=ChunkSpec(0, (0, len(symbols) if symbols else ds["n_assets"])),
                        job_class=int(JobClass.parse(priority)), tenant=tenant, dataset=name,
                        dataset_version=ds["version"])

        async def call(view: WorkerView, it: WorkItem) -> WorkResult:
            key = (view.worker_id, name, ds["version"])
            return await self._execute(table, view.worker_id, it, key, ds["holder"])

        async def next_tier(failed: WorkerView, history: list[Attempt], exc: BaseException) -> tuple[WorkerView, Tier]:
            nonlocal table
            log.warning("live fault on %s (%s: %s); falling back", failed.worker_id, type(exc).__name__, exc)
            table = await self.table(force=True)
            self.fallbacks += 1
            return self.policy.next_tier(failed, history, table.views)

        result, tier = await run_with_fallback(item, self.policy.choose(table.views), call, next_tier)
        return replace(result, timings={**result.timings, "router_s": time.perf_counter() - started,
                                        "tier": tier.value})


def run_sync(router: LiveRouter, loop: asyncio.AbstractEventLoop, *args: Any, **kwargs: Any) -> WorkResult:
    """Call a router from synchronous code with a long-lived event loop."""
    return loop.run_until_complete(router.run(*args, **kwargs))
