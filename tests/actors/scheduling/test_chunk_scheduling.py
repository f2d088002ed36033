"""Chunk-level scheduling in the coordinator, with in-process workers (no Ray): fan-out over
every worker, elastic membership, lost workers, tail work stealing, preemption within one
chunk (on recorded chunk boundaries), the aged-class preemption rule, fan-out status and
throughput-sized chunks."""
from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from actors.config import PreemptionConfig, QueueConfig
from actors.datasets import DatasetStore
from actors.jobs.journal import InMemoryJobJournal
from actors.messages import WorkItem, WorkResult
from actors.scheduling.coordinator import Coordinator
from actors.scheduling.placement.membership import MemberChanges, WorkerLost
from actors.settings import Settings
from actors.workers.worker import Worker
from gpu_hal.config import GpuHalConfig, SimulationConfig
from kernels.backtest import run, sweep
from kernels.data import synthetic_panel

PANEL = synthetic_panel(12, 300, seed=3)
SWEEP = {"dataset": "synthetic", "strategy": "trend_following", "grid": {"fast": [3, 5, 8], "slow": [20, 30, 40]},
         "fees": 0.001, "top_k": 4}
BT = {"dataset": "synthetic", "strategy": "mean_reversion", "params": {"window": 20}, "fees": 0.001}
GPU_CFG = GpuHalConfig(simulation=SimulationConfig(mode="always", num_devices=8))


class FakeClient:
    """An in-process worker (the real `Worker` on a simulated device) with knobs: a delay per chunk,
    a chunk after which it is lost (its process died), a gate that holds its chunks."""

    def __init__(self, worker_id: str, slot: int, delay_s: float = 0.0, lose_on_call: int | None = None,
                 gate: asyncio.Event | None = None, kind: str = "gpu", gate_kind: str | None = None) -> None:
        self.worker = Worker(worker_id, kind, GPU_CFG, device_slot=slot)
        if kind == "gpu":
            self.worker.init_device()
        self.worker_id = worker_id
        self.delay_s = delay_s
        self.lose_on_call = lose_on_call
        self.calls = 0
        self.dead = False
        self.gate = gate
        self.gate_kind = gate_kind  # the gate holds only chunks of this job kind (None: all)

    async def execute(self, item: WorkItem, panel) -> WorkResult:
        self.calls += 1
        if self.dead or (self.lose_on_call is not None and self.calls >= self.lose_on_call):
            self.dead = True
            raise WorkerLost(self.worker_id, "ActorDiedError")
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.gate is not None and self.gate_kind in (None, item.kind):
            await self.gate.wait()
        return await asyncio.to_thread(self.worker.execute, item, panel)

    async def describe(self) -> dict:
        if self.dead:
            raise WorkerLost(self.worker_id, "ActorDiedError")
        return self.worker.describe()

    async def status(self) -> dict:
        return self.worker.status()


class FakeExecutor:
    """Starts `clients`; `join(client)` makes one appear at the next membership poll."""

    def __init__(self, clients: list[FakeClient]) -> None:
        self.clients = clients
        self.pending: list[FakeClient] = []
        self.forgotten: list[str] = []

    async def start_workers(self) -> list[FakeClient]:
        return list(self.clients)

    def share(self, panel):
        return panel

    def join(self, client: FakeClient) -> None:
        self.pending.append(client)

    async def poll_members(self) -> MemberChanges:
        joined, self.pending = self.pending, []
        return MemberChanges(joined=joined)

    def forget(self, worker_id: str) -> None:
        self.forgotten.append(worker_id)


def make(tmp_path: Path, clients: list[FakeClient], max_cells: int, **config) -> Coordinator:
    settings = Settings(storage_dir=tmp_path, gpu=GPU_CFG)
    cfg = replace(settings.coordinator_config(), max_cells_per_chunk=max_cells, membership_poll_s=0.05, **config)
    datasets = DatasetStore(tmp_path, {"synthetic": lambda: PANEL})
    return Coordinator(cfg, FakeExecutor(clients), datasets, journal=InMemoryJobJournal())


def expected_sweep() -> pd.DataFrame:
    return sweep(PANEL, SWEEP["strategy"], SWEEP["grid"], fees=0.001, top_k=4, backend="cpu").portfolio_metrics


async def finish(c: Coordinator, job_id: str, timeout: float = 120) -> dict:
    status = await c.wait(job_id, timeout)
    assert status["state"] == "succeeded", status
    return status


def test_one_sweep_fans_out_over_every_worker_and_equals_one_run(tmp_path):
    async def go():
        clients = [FakeClient(f"gpu-{i}", i) for i in range(4)]
        c = make(tmp_path, clients, max_cells=300 * 12)  # one combination per chunk: 9 chunks
        await c.start()
        job_id = await c.submit("sweep", SWEEP, "LOW", "alice")
        await finish(c, job_id)
        status = await c.status(job_id)
        progress = status["progress"]
        assert progress["chunks_total"] == 9 and progress["chunks_done"] == 9
        assert {w["worker_id"] for w in progress["workers"]} == {f"gpu-{i}" for i in range(4)}
        assert sum(w["chunks"] for w in progress["workers"]) >= 9
        assert all(w["cells_per_s"] > 0 for w in progress["workers"]) and progress["eta_s"] == 0.0
        assert progress["cells_done"] == progress["cells_total"] == 300 * 12 * 9
        result = await c.result(job_id)
        pd.testing.assert_frame_equal(result.portfolio_metrics, expected_sweep(), rtol=1e-12, check_exact=False)
        assert (await c.stats())["usage"]["alice"]["chunks"] >= 9  # device seconds charged per tenant
        await c.shutdown()

    asyncio.run(go())


def test_a_worker_that_joins_mid_job_takes_chunks(tmp_path):
    async def go():
        first = FakeClient("gpu-0", 0, delay_s=0.02)
        c = make(tmp_path, [first], max_cells=300)  # one asset per chunk: 12 chunks
        await c.start()
        job_id = await c.submit("backtest", BT, "LOW", "alice")
        while (await c.status(job_id))["progress"]["chunks_done"] < 2:
            await asyncio.sleep(0.01)
        c.executor.join(FakeClient("gpu-1-node2", 1, delay_s=0.02))
        await finish(c, job_id)
        runs = await c.chunk_runs(job_id)
        assert any(r["worker_id"] == "gpu-1-node2" for r in runs), runs
        assert any(e["event"] == "joined" and e["worker_id"] == "gpu-1-node2"
                   for e in (await c.stats())["membership"])
        expected = run(PANEL, "mean_reversion", {"window": 20}, fees=0.001, backend="cpu").metrics
        pd.testing.assert_frame_equal((await c.result(job_id)).metrics.sort_index(), expected.sort_index(),
                                      rtol=1e-12, check_exact=False)
        await c.shutdown()

    asyncio.run(go())


def test_a_lost_worker_loses_nothing(tmp_path):
    async def go():
        dying = FakeClient("gpu-0", 0, delay_s=0.01, lose_on_call=3)
        c = make(tmp_path, [dying, FakeClient("gpu-1", 1, delay_s=0.01)], max_cells=300 * 12)
        await c.start()
        job_id = await c.submit("sweep", SWEEP, "LOW", "alice")
        status = await finish(c, job_id)
        assert status["tier"] == "primary"  # a lost worker is not a device fault: no fallback tier
        assert "gpu-0" not in c._workers and c.executor.forgotten == ["gpu-0"]
        pd.testing.assert_frame_equal((await c.result(job_id)).portfolio_metrics, expected_sweep(),
                                      rtol=1e-12, check_exact=False)
        await c.shutdown()

    asyncio.run(go())


def test_tail_work_stealing_first_result_wins(tmp_path):
    async def go():
        gate = asyncio.Event()
        stuck = FakeClient("gpu-0", 0, gate=gate)  # holds its chunk until the job is over
        c = make(tmp_path, [stuck, FakeClient("gpu-1", 1)], max_cells=300 * 12, steal_min_s=0.05)
        await c.start()
        job_id = await c.submit("sweep", SWEEP, "LOW", "alice")
        status = await finish(c, job_id, timeout=60)  # finished while gpu-0 still held a chunk: stolen
        assert status["progress"]["stolen"] >= 1 and stuck.calls >= 1
        runs = await c.chunk_runs(job_id)
        assert all(r["worker_id"] == "gpu-1" for r in runs if not r["duplicate"])
        pd.testing.assert_frame_equal((await c.result(job_id)).portfolio_metrics, expected_sweep(),
                                      rtol=1e-12, check_exact=False)
        gate.set()  # the stuck copy returns: dropped as a duplicate
        for _ in range(500):
            if (await c.status(job_id))["progress"]["duplicates"] == stuck.calls:
                break
            await asyncio.sleep(0.01)
        assert (await c.status(job_id))["progress"]["duplicates"] == stuck.calls
        await c.shutdown()

    asyncio.run(go())


def test_high_job_starts_within_one_chunk_of_low_sweeps(tmp_path):
    async def go():
        clients = [FakeClient(f"gpu-{i}", i, delay_s=0.03) for i in range(2)]
        # The chunk-boundary path: HIGH chunks do not start beside LOW ones here (that is the next test).
        c = make(tmp_path, clients, max_cells=300 * 12, preemption=PreemptionConfig(beside_classes=()))
        await c.start()
        grid = {"fast": [2, 3, 4, 5, 6, 7, 8, 9], "slow": [20, 30, 40, 50]}  # 32 chunks each
        lows = [await c.submit("sweep", {**SWEEP, "grid": grid, "fees": f}, "LOW", "research")
                for f in (0.001, 0.002)]
        async def done() -> int:
            return sum([(await c.status(j))["progress"]["chunks_done"] for j in lows])

        while await done() < 4:  # past the first chunks (kernel compilation)
            await asyncio.sleep(0.005)
        submitted = time.monotonic()
        high = await c.submit("backtest", BT, "HIGH", "desk")
        await finish(c, high)
        for j in lows:
            await finish(c, j)
        runs = await c.chunk_runs()
        high_runs = sorted((r for r in runs if r["job_id"] == high), key=lambda r: r["started"])
        low_runs = [r for r in runs if r["job_id"] in lows]
        # the LOW chunks on the devices when HIGH arrived: HIGH starts at the first of their ends
        # (none in flight: a worker was between two LOW chunks, and HIGH starts at once)
        boundary = min((r["finished"] for r in low_runs if r["started"] <= submitted < r["finished"]),
                       default=submitted)
        longest_low = max(r["finished"] - r["started"] for r in low_runs)
        assert high_runs[0]["started"] - submitted <= longest_low
        assert high_runs[0]["started"] <= boundary + 0.05
        # no LOW chunk starts while HIGH still has chunks to hand out
        assert not [r for r in low_runs if submitted < r["started"] < high_runs[-1]["started"]]
        assert (await c.stats())["preemptions"]["LOW"] >= 1, (runs, submitted, lows, high)
        await c.shutdown()

    asyncio.run(go())


@pytest.mark.parametrize("beside", [True, False])
def test_a_high_job_starts_beside_a_running_low_chunk(tmp_path, beside):
    """A HIGH job does not wait for the LOW chunk on the worker: its chunks run beside it (the device's
    higher-priority stream) and finish while the LOW chunk is still held; the LOW job still yields at its
    chunk boundary. With `beside_classes` empty the HIGH job waits for that boundary."""
    async def go():
        gate = asyncio.Event()
        c = make(tmp_path, [FakeClient("gpu-0", 0, gate=gate, gate_kind="sweep")], max_cells=300 * 12,
                 preemption=PreemptionConfig(beside_classes=("REALTIME", "HIGH") if beside else ()))
        await c.start()
        low = await c.submit("sweep", SWEEP, "LOW", "research")
        while not await c.chunk_runs(low) and (await c.stats())["running"].get("gpu-0") != low:
            await asyncio.sleep(0.005)
        high = await c.submit("backtest", BT, "HIGH", "desk")
        if beside:
            await finish(c, high)  # while the LOW chunk is still held
            assert not await c.chunk_runs(low)
            assert (await c.stats())["running"] == {"gpu-0": low}
        else:
            await asyncio.sleep(0.3)
            assert (await c.status(high))["state"] == "queued"
        gate.set()
        await finish(c, high)
        await finish(c, low)
        high_runs = await c.chunk_runs(high)
        low_runs = sorted(await c.chunk_runs(low), key=lambda r: r["started"])
        # the LOW job yielded at its first chunk's boundary: no second LOW chunk before HIGH's last chunk
        assert low_runs[1]["started"] >= max(r["started"] for r in high_runs)
        assert (await c.stats())["preemptions"]["LOW"] == (0 if beside else 1)
        pd.testing.assert_frame_equal((await c.result(high)).metrics, run(PANEL, BT["strategy"], BT["params"],
                                      fees=0.001, backend="cpu").metrics, rtol=1e-12, check_exact=False)
        pd.testing.assert_frame_equal((await c.result(low)).portfolio_metrics, expected_sweep(),
                                      rtol=1e-12, check_exact=False)
        await c.shutdown()

    asyncio.run(go())


def test_an_aged_low_job_is_judged_by_its_effective_class(tmp_path):
    """The preemptor gets the effective class: LOW aged into HIGH keeps its worker when HIGH arrives."""
    async def go():
        c = make(tmp_path, [FakeClient("gpu-0", 0, delay_s=0.02)], max_cells=300,
                 queue=QueueConfig(aging_interval_s=0.05))
        await c.start()
        low = await c.submit("backtest", BT, "LOW", "research")
        await asyncio.sleep(0.15)  # 3 intervals: LOW -> NORMAL -> HIGH (the ceiling)
        high = await c.submit("backtest", {**BT, "params": {"window": 30}}, "HIGH", "desk")
        s_low, s_high = await finish(c, low), await finish(c, high)
        assert s_low["finished_at"] < s_high["finished_at"]
        assert (await c.stats())["preemptions"]["LOW"] == 0
        await c.shutdown()

    asyncio.run(go())


@pytest.mark.parametrize("cpu_rate, cpu_runs_chunks", [(1e3, False), (1e12, True)])
def test_a_cpu_worker_takes_research_chunks_only_when_it_ends_them_sooner(tmp_path, cpu_rate, cpu_runs_chunks):
    """research_on_cpu beside a GPU: a CPU worker known to be slower than the GPU would take to finish the
    job's other chunks leaves them to the GPU (the job is never slower than on the GPU alone); one known
    to be fast takes chunks, though never the job's last one while a GPU is free for it."""
    async def go():
        c = make(tmp_path, [FakeClient("simgpu-0", 0), FakeClient("cpu-0", 0, kind="cpu")], max_cells=300 * 12,
                 research_on_cpu=True)
        c.throughput.observe("sweep", "simgpu", 1e6, 1.0)
        c.throughput.observe("sweep", "cpu", cpu_rate, 1.0)
        await c.start()
        job_id = await c.submit("sweep", SWEEP, "LOW", "alice")
        await finish(c, job_id)
        runs = [r for r in await c.chunk_runs(job_id) if not r["duplicate"]]
        on_cpu = [r["index"] for r in runs if r["worker_id"] == "cpu-0"]
        assert len(runs) == 9 and bool(on_cpu) == cpu_runs_chunks, runs
        pd.testing.assert_frame_equal((await c.result(job_id)).portfolio_metrics, expected_sweep(),
                                      rtol=1e-12, check_exact=False)
        await c.shutdown()

    asyncio.run(go())


@pytest.mark.parametrize("after_s, delay_s, checkpointed", [(3600.0, 0.0, 0), (0.0, 0.0, 9), (0.2, 0.05, 9)])
def test_chunk_partials_are_checkpointed_once_a_job_has_run_checkpoint_after_s(tmp_path, after_s, delay_s,
                                                                               checkpointed):
    """A job shorter than checkpoint_after_s writes no chunk partials (a restart reruns it); once a job has
    run that long, the chunks finished so far are written, then each one as it finishes."""
    async def go():
        c = make(tmp_path, [FakeClient("gpu-0", 0, delay_s=delay_s)], max_cells=300 * 12,
                 checkpoint_after_s=after_s)
        await c.start()
        job_id = await c.submit("sweep", SWEEP, "LOW", "alice")
        status = await finish(c, job_id)
        assert status["progress"]["chunks_done"] == status["progress"]["chunks_total"] == 9
        assert len(c.journal.chunks(job_id)) == checkpointed
        pd.testing.assert_frame_equal((await c.result(job_id)).portfolio_metrics, expected_sweep(),
                                      rtol=1e-12, check_exact=False)
        await c.shutdown()

    asyncio.run(go())


def test_chunks_are_sized_from_measured_throughput(tmp_path):
    async def go():
        c = make(tmp_path, [FakeClient("gpu-0", 0)], max_cells=1 << 40, target_chunk_ms=50.0)
        c.throughput.observe("backtest", "simgpu", 300 * 2 / 0.05, 1.0)  # 2 assets of 300 bars per 50 ms
        await c.start()
        job_id = await c.submit("backtest", BT, "LOW", "alice")
        assert (await c.status(job_id))["progress"]["chunks_total"] == 6
        await finish(c, job_id)
        assert (tmp_path / "throughput.json").is_file()  # learned rates persist across restarts
        await c.shutdown()

    asyncio.run(go())
