"""The stream router (Ray-free, fake actor handles over real Workers): stickiness, recovery, coalescing."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest

from actors.scheduling.placement.fallback import WorkerView
from actors.live.router import LiveRouter
from actors.settings import StreamsConfig
from actors.streams.router import StreamRouter
from actors.streams.registry import StreamError, StreamNotFound, StreamRegistry, StreamSpec, TickBatch
from actors.workers.worker import Worker
from kernels.data import synthetic_panel
from kernels.indicators.stream import OUTPUTS

N, T, SEED_BARS = 5, 240, 150


class Remote:
    """`handle.method.remote(...)` -> awaitable, over a plain object; `dead` makes every call fail."""

    def __init__(self, target) -> None:
        self.target = target
        self.dead = False

    def __getattr__(self, name):
        outer = self

        class _Method:
            def remote(self, *args, **kwargs):
                async def call():
                    await asyncio.sleep(0)
                    if outer.dead:
                        raise RuntimeError("actor died (test)")
                    fn = getattr(outer.target, name)
                    return fn(*args, **kwargs)
                return call()
        return _Method()


class FakeWorker:
    """The actor shell's stream methods over a Worker (holder = [panel])."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def open_stream(self, item, spec, holder):
        return self.worker.open_stream(item, spec, holder[0])

    def __getattr__(self, name):
        return getattr(self.worker, name)


class FakeCoordinator:
    def __init__(self, panel, workers: dict[str, Remote], views: dict[str, WorkerView]) -> None:
        self.panel, self.workers, self.views = panel, workers, views
        self.routing_table = _TableRemote(self)

    def routing_table_impl(self, dataset=None):
        return {"views": list(self.views.values()), "handles": dict(self.workers),
                "datasets": {"synthetic": {"version": "v1", "n_assets": N, "holder": [self.panel]}}}


def setup(snapshot_every: int = 3):
    panel = synthetic_panel(N, T, seed=5)
    history = panel.select(stop=SEED_BARS)
    cfg = StreamsConfig(snapshot_every=snapshot_every, seed_cache=0)
    workers = {"simgpu-0": Remote(FakeWorker(Worker("simgpu-0", "cpu", streams=cfg))),
               "cpu-0": Remote(FakeWorker(Worker("cpu-0", "cpu", streams=cfg)))}
    views = {"simgpu-0": WorkerView("simgpu-0", "gpu", 0, free_budget_bytes=1 << 30, simulated=True),
             "cpu-0": WorkerView("cpu-0", "cpu")}
    coord = FakeCoordinator(history, workers, views)
    router = StreamRouter(LiveRouter(coord, ttl_s=0.0), cfg)
    return panel, history, router, workers, views


class _TableRemote:
    def __init__(self, coord) -> None:
        self.coord = coord

    def remote(self, dataset=None):
        async def call():
            return self.coord.routing_table_impl(dataset)
        return call()


def ticks(panel, t: int, cols=None) -> TickBatch:
    cols = list(range(N)) if cols is None else cols
    return TickBatch.from_columns({
        "symbol": [panel.symbols[j] for j in cols],
        "time": [int(panel.index[t].astype("datetime64[ns]").astype(np.int64))] * len(cols),
        **{f: [float(getattr(panel, f)[t, j]) for j in cols] for f in ("open", "high", "low", "close", "volume")},
    })


def reference(panel, history, bars):
    reg = StreamRegistry(StreamsConfig(seed_cache=0))
    reg.open(StreamSpec.build("ref", "synthetic", "v1"), history)
    return [reg.push("ref", ticks(panel, t)).features for t in bars]


def same(a, b):
    for name in OUTPUTS:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_open_is_sticky_and_snapshots_every_n_batches():
    panel, history, router, workers, _ = setup(snapshot_every=3)

    async def go():
        st = await router.open("synthetic", tenant="alice")
        assert st["worker_id"] == "simgpu-0" and st["tier"] == "primary" and st["symbols"] == list(panel.symbols)
        sid = st["stream_id"]
        want = reference(panel, history, range(SEED_BARS, SEED_BARS + 7))
        for k, t in enumerate(range(SEED_BARS, SEED_BARS + 7)):
            res = await router.push(sid, ticks(panel, t), tenant="alice")
            assert res.worker_id == "simgpu-0" and not res.recovered
            same(res.result.features, want[k])
        status = router.status(sid, "alice")
        assert status["batches"] == 7 and status["batches_since_snapshot"] == 1  # snapshots at 3 and 6
        with pytest.raises(StreamNotFound):
            router.status(sid, "bob")  # another tenant sees nothing
        assert "simgpu-0" in workers and sid in workers["simgpu-0"].target.worker.streams
        await router.close(sid, "alice")
        assert sid not in workers["simgpu-0"].target.worker.streams
        with pytest.raises(StreamNotFound):
            await router.push(sid, ticks(panel, SEED_BARS + 8))

    asyncio.run(go())


@pytest.mark.parametrize("failure", ["worker_dies", "worker_restarts"])
def test_recovery_replays_without_drift(failure):
    panel, history, router, workers, views = setup(snapshot_every=4)
    bars = list(range(SEED_BARS, SEED_BARS + 14))
    want = reference(panel, history, bars)

    async def go():
        sid = (await router.open("synthetic"))["stream_id"]
        got = []
        for k, t in enumerate(bars):
            if k == 6:  # two batches after the snapshot at batch 4
                if failure == "worker_dies":
                    workers["simgpu-0"].dead = True
                    views["simgpu-0"] = WorkerView("simgpu-0", "gpu", 0, healthy=False, simulated=True)
                else:  # the actor came back empty
                    workers["simgpu-0"].target.worker._streams = None
            res = await router.push(sid, ticks(panel, t))
            got.append(res)
        for res, w in zip(got, want):
            same(res.result.features, w)
        assert got[6].recovered and not got[7].recovered
        status = router.status(sid)
        if failure == "worker_dies":
            assert got[6].worker_id == "cpu-0" and status["tier"] == "cpu"
        else:
            assert got[6].worker_id == "simgpu-0" and status["tier"] == "primary"
        assert status["recoveries"] == 1 and router.stats()["recoveries"] == 1

    asyncio.run(go())


def test_client_errors_are_not_recoveries_and_leave_the_stream_usable():
    panel, history, router, workers, _ = setup()

    async def go():
        a = (await router.open("synthetic"))["stream_id"]
        b = (await router.open("synthetic", symbols=[panel.symbols[0]]))["stream_id"]
        await router.push(a, ticks(panel, SEED_BARS))
        with pytest.raises(StreamError, match="duplicate tick"):  # the same time again (issue 12: not out-of-order)
            await router.push(a, ticks(panel, SEED_BARS))
        with pytest.raises(StreamError, match="unknown symbol"):
            await router.push(b, ticks(panel, SEED_BARS))
        res = await router.push(a, ticks(panel, SEED_BARS + 1))
        same(res.result.features, reference(panel, history, [SEED_BARS, SEED_BARS + 1])[1])
        assert router.stats()["recoveries"] == 0 and router.stats()["rejected"] == 2
        with pytest.raises(StreamError, match="latest"):
            await router.open("synthetic", dataset_version="0123456789abcdef")
        with pytest.raises((KeyError, ValueError), match="unknown dataset"):
            await router.open("nope")

    asyncio.run(go())


def test_concurrent_streams_are_coalesced_per_worker():
    panel, history, router, workers, _ = setup(snapshot_every=100)
    want = reference(panel, history, range(SEED_BARS, SEED_BARS + 5))

    async def go():
        ids = [(await router.open("synthetic"))["stream_id"] for _ in range(20)]

        async def feed(sid):
            return [(await router.push(sid, ticks(panel, t))).result.features for t in range(SEED_BARS, SEED_BARS + 5)]

        results = await asyncio.gather(*(feed(s) for s in ids))
        for per_stream in results:
            for got, w in zip(per_stream, want):
                same(got, w)
        lane = router.stats()["lanes"]["simgpu-0"]
        assert lane["pushes"] == 100 and lane["calls"] < 100

    asyncio.run(go())


def test_idle_streams_are_evicted_by_the_router():
    panel, history, router, workers, _ = setup()
    now = [0.0]
    router.clock = lambda: now[0]
    router.config = StreamsConfig(idle_timeout_s=5, evict_interval_s=1, max_streams=1, seed_cache=0)

    async def go():
        sid = (await router.open("synthetic"))["stream_id"]
        with pytest.raises(Exception, match="streams are open"):
            await router.open("synthetic")
        now[0] = 10.0
        sid2 = (await router.open("synthetic"))["stream_id"]  # makes room
        await asyncio.sleep(0.01)  # the close on the worker runs in the background
        with pytest.raises(StreamNotFound):
            await router.push(sid, ticks(panel, SEED_BARS))
        assert sid not in workers["simgpu-0"].target.worker.streams
        assert (await router.push(sid2, ticks(panel, SEED_BARS))).result.rows == N

    asyncio.run(go())
