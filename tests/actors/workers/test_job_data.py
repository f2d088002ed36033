"""A worker keeps a job's data between its chunks (actors.workers.job_data): one upload per job
and worker, results identical with and without it, the bytes charged to the device budget and
given back at the job's end, a cancelled job's data dropped, LOW/IDLE data shed under memory
pressure, and the dataset put into the object store once per job (the coordinator's side)."""
from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from actors.config import JobDataConfig
from actors.datasets import DatasetStore
from actors.jobs.journal import InMemoryJobJournal
from actors.jobs.plans import execute_chunk, job_panel, merge_partials, plan_job
from actors.messages import WorkItem
from actors.scheduling.coordinator import Coordinator
from actors.settings import Settings
from actors.workers.executor import LocalExecutor
from actors.workers.job_data import resident_fields
from actors.workers.worker import Worker
from gpu_hal.config import GpuHalConfig, SimulationConfig
from gpu_hal.errors import DevicePressure
from gpu_hal.memory.pressure import PressureLevel
from gpu_hal.streams.priority import JobClass
from kernels.backtest import sweep
from kernels.data import synthetic_panel

PANEL = synthetic_panel(10, 300, seed=5)
SWEEP = {"dataset": "synthetic", "strategy": "trend_following", "grid": {"fast": [3, 5, 8], "slow": [20, 40]},
         "fees": 0.001, "top_k": 3, "symbols": [f"S{i:04d}" for i in (7, 1, 3, 4, 9, 0)],
         "dataset_version": "v1"}
BT = {"dataset": "synthetic", "strategy": "mean_reversion", "params": {"window": 20}, "fees": 0.001,
      "dataset_version": "v1"}
SIM = GpuHalConfig(simulation=SimulationConfig(mode="always", num_devices=2))


def items(kind: str, payload: dict, job_id: str, cells: int, job_class: JobClass = JobClass.LOW) -> list[WorkItem]:
    sub = job_panel(PANEL, payload)
    return [WorkItem(job_id=job_id, kind=kind, payload=payload, chunk=c, job_class=int(job_class), tenant="alice",
                     dataset="synthetic", dataset_version="v1")
            for c in plan_job(kind, payload, sub.n_bars, sub.n_assets, cells)]


def gpu_worker(enabled: bool = True, **config) -> Worker:
    w = Worker("gpu-0", "gpu", SIM, job_data=JobDataConfig(enabled=enabled, **config))
    w.init_device()
    return w


@pytest.mark.parametrize("kind,payload,cells", [("sweep", SWEEP, 300 * 6), ("backtest", BT, 300 * 3)])
def test_later_chunks_reuse_the_data_and_results_are_identical(kind, payload, cells):
    work = items(kind, payload, "job-1", cells)
    assert len(work) >= 4
    cached, plain = gpu_worker(), gpu_worker(enabled=False)
    before = cached.device.budget.charged
    out_cached = [cached.execute(i, PANEL).result for i in work]
    stats = cached.status()["job_data"]
    assert stats["uploads"] == 1 and stats["hits"] == len(work) - 1 and stats["entries"] == 1
    kept = stats["bytes"]
    fields = 1 if kind == "sweep" else 5  # a sweep keeps only the close
    panel_bytes = job_panel(PANEL, payload).close.nbytes * fields
    if kind == "sweep":  # and the plan of its asset range (expanded grid, prepared inputs), made once
        assert stats["derived_builds"] == 1 and stats["derived_hits"] == len(work) - 1
        assert kept > panel_bytes
    else:
        assert kept == panel_bytes
    assert cached.device.budget.charged == before + kept  # held in the tenant's context: one memory truth
    assert cached.device.budget.owner_figures("alice")["reserved"] == kept
    out_plain = [plain.execute(i, PANEL).result for i in work]
    assert plain.status()["job_data"]["uploads"] == 0
    merged, reference = merge_partials(kind, out_cached), merge_partials(kind, out_plain)
    if kind == "sweep":
        pd.testing.assert_frame_equal(merged.asset_metrics, reference.asset_metrics, check_exact=True)
        pd.testing.assert_frame_equal(merged.portfolio_metrics, reference.portfolio_metrics, check_exact=True)
        whole = sweep(job_panel(PANEL, payload), "trend_following", SWEEP["grid"], fees=0.001, top_k=3, backend="cpu")
        pd.testing.assert_frame_equal(merged.portfolio_metrics, whole.portfolio_metrics, rtol=1e-12, check_exact=False)
    else:
        pd.testing.assert_frame_equal(merged.metrics, reference.metrics, check_exact=True)
    assert cached.end_job("job-1") == kept
    assert cached.device.budget.charged == before  # the budget used is back where it was
    assert cached.status()["job_data"]["entries"] == 0
    assert cached.status()["job_data"]["evicted"] == {"job_end": 1}


GAPPY = synthetic_panel(8, 260, seed=11)
GAPPY.close[100:104, 2] = float("nan")  # an interior gap: that unit leaves the fused kernel (sweep_gaps)
GAPPY.close[:30, 5] = float("nan")  # an asset that starts late


@pytest.mark.parametrize("strategy,grid", [
    ("pairs", {"window": [10, 20, 30], "entry_z": [1.0, 2.0], "exit_z": [0.0, 0.5]}),
    ("mean_reversion", {"window": [10, 25], "entry_z": [1.0, 1.5, 2.0]}),
    ("momentum", {"lookback": [5, 10, 20, 40, 60]}),
])
def test_kept_sweep_plans_equal_sweep_exactly_on_every_chunk(strategy, grid):
    """Chunks over combinations and over asset blocks: each partial equals `sweep` on that chunk."""
    from kernels.backtest import Chunk

    payload = {"dataset": "synthetic", "strategy": strategy, "grid": grid, "fees": 0.0005, "slippage": 0.0002,
               "top_k": 2, "rank_by": "sortino"}
    w = gpu_worker()
    chunks = plan_job("sweep", payload, GAPPY.n_bars, GAPPY.n_assets, 260 * 8 * 2)
    assert len(chunks) >= 3
    for c in chunks:
        item = WorkItem(job_id="j", kind="sweep", payload=payload, chunk=c, job_class=int(JobClass.LOW),
                        tenant="alice", dataset="synthetic", dataset_version="v1")
        got = w.execute(item, GAPPY).result
        ref = sweep(GAPPY, strategy, grid, fees=0.0005, slippage=0.0002, top_k=2, rank_by="sortino",
                    chunk=Chunk(range(*c.combos), range(*c.assets)), backend="cpu")
        for name in ("params", "asset_metrics", "portfolio_metrics", "top"):
            pd.testing.assert_frame_equal(getattr(got, name), getattr(ref, name), check_exact=True)
        np.testing.assert_array_equal(got.state.portfolio_sums, ref.state.portfolio_sums)
        np.testing.assert_array_equal(got.state.trade_counts, ref.state.trade_counts)
        assert (got.state.combos, got.state.scale_exp, got.n_dropped) == (ref.state.combos, ref.state.scale_exp,
                                                                           ref.n_dropped)
    stats = w.status()["job_data"]
    assert stats["derived_builds"] == 1 and stats["derived_hits"] == len(chunks) - 1


def test_later_chunks_of_a_job_build_nothing_again_on_the_worker(monkeypatch):
    """The kept plan (kernels.backtest.sweep.prepare_sweep) prepares the inputs of its asset range
    once and builds the CPU kernel's time-major inputs once: the later chunks of the job on this
    worker build neither (an uncached worker builds both for every chunk)."""
    from kernels.backtest import sweep as S

    counts = {"prepare": 0, "inputs": 0}
    real_prepare, real_inputs = S._prepare, S.time_major_inputs

    def prepare(*a, **k):
        counts["prepare"] += 1
        return real_prepare(*a, **k)

    def inputs(*a, **k):
        counts["inputs"] += 1
        return real_inputs(*a, **k)

    monkeypatch.setattr(S, "_prepare", prepare)
    monkeypatch.setattr(S, "time_major_inputs", inputs)
    work = items("sweep", SWEEP, "job-n", 300 * 6)
    assert len(work) >= 3 and len({i.chunk.assets for i in work}) == 1
    cached, plain = gpu_worker(), gpu_worker(enabled=False)
    first = cached.execute(work[0], PANEL).result
    assert counts == {"prepare": 1, "inputs": 1}
    later = [cached.execute(i, PANEL).result for i in work[1:]]
    assert counts == {"prepare": 1, "inputs": 1}  # nothing built again for the later chunks
    stats = cached.status()["job_data"]
    plan = next(iter(cached.job_data._entries.values())).derived[("sweep_plan", work[0].chunk.assets)][0]
    assert plan.builds == {"inputs": 1, "tables": 0}
    assert stats["bytes"] == job_panel(PANEL, SWEEP).close.nbytes + plan.nbytes  # what the plan holds is charged
    assert cached.device.budget.owner_figures("alice")["reserved"] == stats["bytes"]
    reference = [plain.execute(i, PANEL).result for i in work]
    assert counts == {"prepare": 1 + len(work), "inputs": 1 + len(work)}
    for got, ref in zip([first, *later], reference):
        pd.testing.assert_frame_equal(got.asset_metrics, ref.asset_metrics, check_exact=True)
        np.testing.assert_array_equal(got.state.portfolio_sums, ref.state.portfolio_sums)


@pytest.mark.gpu
def test_later_chunks_of_a_job_build_no_window_tables_on_a_gpu_worker(monkeypatch):
    """On a real GPU with the window-table path on (small sweeps too): the first chunk of the job
    builds the window tables of the grid's windows, the later chunks reuse them; an uncached worker
    builds its chunk's tables for every chunk. Identical results; the tables' bytes are charged."""
    from kernels.backtest import gpu
    from kernels.backtest.grid import expand_grid

    config = GpuHalConfig(simulation=SimulationConfig(mode="never"))
    cached, plain = (Worker("gpu-0", "gpu", config, job_data=JobDataConfig(enabled=on)) for on in (True, False))
    for w in (cached, plain):
        w.init_device()  # its warm-up builds tables too: count from here
        assert not w.device.simulated
    monkeypatch.setattr(gpu, "TABLE_MIN_CELLS", 0)
    builds = []
    real = gpu.build_tables
    monkeypatch.setattr(gpu, "build_tables", lambda *a, **k: builds.append(a[2].n_slots) or real(*a, **k))
    work = items("sweep", SWEEP, "job-t", 300 * 6)
    g = expand_grid("trend_following", SWEEP["grid"], PANEL.n_bars)
    n_slots = len(gpu.table_slots(g.kind, g.ints)[0])
    kept = [cached.execute(i, PANEL).result for i in work]
    assert builds == [n_slots]  # once, for the grid's windows
    stats = cached.status()["job_data"]
    plan = next(iter(cached.job_data._entries.values())).derived[("sweep_plan", work[0].chunk.assets)][0]
    assert plan.builds["tables"] == 1 and plan.table_nbytes > 0
    assert cached.device.budget.owner_figures("alice")["reserved"] == stats["bytes"]
    builds.clear()
    uncached = [plain.execute(i, PANEL).result for i in work]
    assert len(builds) == len(work)
    for got, ref in zip(kept, uncached):
        pd.testing.assert_frame_equal(got.asset_metrics, ref.asset_metrics, check_exact=True)
        np.testing.assert_array_equal(got.state.portfolio_sums, ref.state.portfolio_sums)
    cached.end_job("job-t")
    assert cached.device.budget.owner_figures("alice")["reserved"] == 0


def test_a_late_chunk_of_an_ended_job_is_not_kept():
    work = items("sweep", SWEEP, "job-c", 300 * 6)
    w = gpu_worker()
    before = w.device.budget.charged
    first = w.execute(work[0], PANEL).result
    w.end_job("job-c")  # cancelled: the coordinator tells the worker
    late = w.execute(work[0], PANEL).result  # a copy still in flight when the job was cancelled
    stats = w.status()["job_data"]
    assert stats["entries"] == 0 and stats["uncached"] == 1 and stats["uploads"] == 1
    assert w.device.budget.charged == before
    pd.testing.assert_frame_equal(late.asset_metrics, first.asset_metrics, check_exact=True)


def test_lru_bound_and_live_or_orders_work_is_never_kept():
    w = gpu_worker(max_jobs=2)
    for j in ("a", "b", "c"):
        w.execute(items("sweep", SWEEP, j, 300 * 6)[0], PANEL)
    stats = w.status()["job_data"]
    assert stats["jobs"] == ["b", "c"] and stats["evicted"] == {"lru": 1}
    assert w.device.budget.owner_figures("alice")["reserved"] == stats["bytes"]
    live = replace(items("backtest", BT, "live", 300 * 10)[0])
    assert resident_fields(live) is None
    orders = replace(live, job_id="o", payload={**BT, "engine": "orders"})
    assert resident_fields(orders) is None


def test_cpu_worker_keeps_host_data_within_its_bound():
    work = items("backtest", BT, "job-h", 300 * 3)
    w = Worker("cpu-0", "cpu", SIM, job_data=JobDataConfig(max_host_bytes=PANEL.nbytes))
    for i in work:
        w.execute(i, PANEL)
    assert w.status()["job_data"]["uploads"] == 1 and w.status()["job_data"]["hits"] == len(work) - 1
    small = Worker("cpu-1", "cpu", SIM, job_data=JobDataConfig(max_host_bytes=PANEL.nbytes // 2))
    small.execute(work[0], PANEL)
    assert small.status()["job_data"]["uncached"] == 1 and small.status()["job_data"]["entries"] == 0


def test_low_job_data_is_shed_under_memory_pressure():
    w = gpu_worker()
    budget = w.device.budget
    before = budget.charged
    w.execute(items("sweep", SWEEP, "low", 300 * 6, JobClass.LOW)[0], PANEL)
    w.execute(items("sweep", SWEEP, "high", 300 * 6, JobClass.HIGH)[0], PANEL)
    high_bytes = w.status()["job_data"]["bytes"] // 2
    budget.register("ballast", None)
    ballast = budget.reserve("ballast", int(budget.budget * 0.9) - budget.charged)  # past SHED (85 %)
    w.job_data.flush(10)
    stats = w.status()["job_data"]
    assert stats["jobs"] == ["high"] and stats["evicted"] == {"pressure": 1}  # LOW leaves, HIGH stays
    with pytest.raises(DevicePressure):  # LOW work is not admitted under SHED; nor is its data kept
        w.execute(items("sweep", SWEEP, "low2", 300 * 6, JobClass.LOW)[0], PANEL)
    assert w.status()["job_data"]["jobs"] == ["high"] and w.status()["job_data"]["uncached"] == 1
    ballast.release()
    w.end_job("high")
    assert budget.charged == before and high_bytes > 0


def test_no_room_in_the_tenant_quota_runs_uncached():
    work = items("sweep", SWEEP, "q", 300 * 6)
    w = gpu_worker()
    # room for the chunk's own reservation, not for the job's data beside it
    limit = Worker._estimate_bytes(work[0], PANEL) + job_panel(PANEL, SWEEP).close.nbytes // 2
    item = replace(work[0], memory_bytes=limit)
    w.device.context("alice", JobClass.LOW, limit)
    out = w.execute(item, PANEL).result
    assert w.status()["job_data"]["uncached"] == 1 and w.status()["job_data"]["entries"] == 0
    ref = execute_chunk("sweep", SWEEP, job_panel(PANEL, SWEEP), work[0].chunk, "cpu")
    pd.testing.assert_frame_equal(out.asset_metrics, ref.asset_metrics, check_exact=True)


def test_high_work_that_does_not_fit_gets_the_low_jobs_kept_data_back():
    from actors.jobs.plans import ChunkSpec  # noqa: PLC0415
    from gpu_hal.config import DeviceConfig  # noqa: PLC0415

    small = GpuHalConfig(device=DeviceConfig(safety_margin=0.0, reserved_bytes=0, tenant_limit_fraction=1.0,
                                             prewarm_pool_bytes=0, host_warmups=False),
                         simulation=SimulationConfig(mode="always", num_devices=1, memory_bytes=1_000_000))
    w = Worker("gpu-0", "gpu", small, job_data=JobDataConfig())
    w.init_device()
    budget = w.device.budget
    budget.register("ballast", None)
    live = WorkItem(job_id="feat-1", kind="features", payload={"dataset": "synthetic", "window": 3, "indicators": [
        {"name": "sma", "params": {"timeperiod": 5}}]}, chunk=ChunkSpec(0, (0, PANEL.n_assets)),
        job_class=int(JobClass.HIGH), tenant="desk", dataset="synthetic", dataset_version="v1")
    need = Worker._estimate_bytes(live, PANEL)

    def low_data_then_full_device(index: int):
        w.execute(items("sweep", SWEEP, "low", 300 * 6, JobClass.LOW)[index], PANEL)
        kept = w.status()["job_data"]["bytes"]
        assert kept > 0
        ballast = budget.reserve("ballast", budget.available - need + kept // 2)  # fits only without the data
        assert w.device.pressure.level < PressureLevel.SHED  # not pressure: the reclaim path frees it
        return ballast

    ballast = low_data_then_full_device(0)
    with w.device.context("desk", JobClass.HIGH).reserve(need):  # gpu_hal's reclaim path asks the cache
        assert w.status()["job_data"]["entries"] == 0
    ballast.release()
    w.job_data.flush(10)  # (the RECLAIM level it reached also sheds, on a thread of its own)
    ballast = low_data_then_full_device(1)
    out = w.execute(live, PANEL).result  # and a HIGH chunk through the worker
    assert out["sma_5"].shape == (3, PANEL.n_assets)
    ballast.release()
    w.job_data.flush(10)
    stats = w.status()["job_data"]
    assert stats["entries"] == 0 and stats["evicted"]["reclaim"] >= 1 and sum(stats["evicted"].values()) == 2
    assert budget.owner_figures("alice")["reserved"] == 0


class CountingExecutor(LocalExecutor):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.shared = 0

    def share(self, panel):
        self.shared += 1
        return panel


def test_coordinator_shares_once_and_workers_drop_the_data_at_job_end(tmp_path):
    async def go():
        gpu = GpuHalConfig(simulation=SimulationConfig(mode="always", num_devices=2))
        settings = Settings(storage_dir=tmp_path, gpu=gpu)
        cfg = replace(settings.coordinator_config(), max_cells_per_chunk=300 * 6)
        executor = CountingExecutor(gpu, gpu_workers=2, cpu_workers=0)
        c = Coordinator(cfg, executor, DatasetStore(tmp_path, {"synthetic": lambda: PANEL}),
                        journal=InMemoryJobJournal())
        await c.start()
        baseline = [w.device.budget.charged for w in executor.workers]
        payload = {k: v for k, v in SWEEP.items() if k != "dataset_version"}
        job_id = await c.submit("sweep", payload, "LOW", "alice")
        status = await c.wait(job_id, 120)
        assert status["state"] == "succeeded" and status["progress"]["chunks_total"] == 6
        assert executor.shared == 1  # the dataset went to the object store once, not once per chunk
        for _ in range(200):  # end_job runs as a task after the job finished
            if all(w.status()["job_data"]["entries"] == 0 for w in executor.workers):
                break
            await asyncio.sleep(0.01)
        ran = [w for w in executor.workers if w.executed]
        assert ran and sum(w.executed for w in ran) >= 6  # (a stolen copy at the tail runs a chunk twice)
        for w in ran:  # one upload per worker; each later chunk of the job found its data there
            s = w.status()["job_data"]
            assert s["uploads"] == 1 and s["hits"] == w.executed - 1 and s["entries"] == 0, s
        assert [w.device.budget.charged for w in executor.workers] == baseline
        devices = await c.devices()  # the status API shows each worker's job data figures
        assert all("job_data" in d for d in devices)
        result = await c.result(job_id)
        whole = sweep(job_panel(PANEL, SWEEP), "trend_following", SWEEP["grid"], fees=0.001, top_k=3, backend="cpu")
        pd.testing.assert_frame_equal(result.portfolio_metrics, whole.portfolio_metrics, rtol=1e-12,
                                      check_exact=False)
        await c.shutdown()

    asyncio.run(go())
