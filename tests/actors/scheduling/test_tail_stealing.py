"""Work stealing at a job's tail with a genuinely slow device (in-process, no Ray): one simulated
GPU sleeps before each kernel (gpu_hal fault injection); once the other worker is idle it runs a
second copy of the slow chunk, the job finishes without waiting for the slow copy, the result
equals a single-worker run of the same chunks exactly, and the slow copy's late result is
dropped and counted (job status, coordinator stats, metrics)."""
from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pandas as pd
import pytest

from actors.datasets import DatasetStore
from actors.jobs.journal import InMemoryJobJournal
from actors.jobs.plans import execute_chunk, job_panel, merge_partials
from actors.scheduling.coordinator import Coordinator
from actors.settings import Settings
from actors.workers.executor import LocalExecutor
from gpu_hal.config import FaultConfig, GpuHalConfig, SimulationConfig
from kernels.data import synthetic_panel

PANEL = synthetic_panel(8, 250, seed=21)
SWEEP = {"dataset": "synthetic", "strategy": "trend_following", "grid": {"fast": [3, 5, 8, 12], "slow": [20, 40]},
         "fees": 0.001, "top_k": 3}
SLOW_S = 2.5  # the slow device's delay before each kernel: far longer than the whole job on the other one


@pytest.mark.slow  # ~5 s: the slow device sleeps SLOW_S before the late copy is counted
def test_an_idle_worker_steals_the_slow_workers_chunk_and_the_late_copy_is_dropped(tmp_path):
    from kernels.backtest import sweep  # noqa: PLC0415

    sweep(PANEL, SWEEP["strategy"], SWEEP["grid"], backend="cpu")  # kernels compiled (or loaded) before timing

    async def go():
        gpu = GpuHalConfig(simulation=SimulationConfig(mode="always", num_devices=2),
                           faults=FaultConfig(enabled=True))
        settings = Settings(storage_dir=tmp_path, gpu=gpu)
        cfg = replace(settings.coordinator_config(), max_cells_per_chunk=250 * 8 * 2, steal_min_s=0.05)
        executor = LocalExecutor(gpu, gpu_workers=2, cpu_workers=0)
        c = Coordinator(cfg, executor, DatasetStore(tmp_path, {"synthetic": lambda: PANEL}),
                        journal=InMemoryJobJournal())
        await c.start()
        slow, fast = executor.workers  # gpu-0 is served first: it takes the first chunk
        slow.inject_fault("slow_down", seconds=SLOW_S)
        started = time.monotonic()
        job_id = await c.submit("sweep", SWEEP, "LOW", "alice")
        status = await c.wait(job_id, 60)
        done_s = time.monotonic() - started
        assert status["state"] == "succeeded", status
        runs = await c.chunk_runs(job_id)
        assert not any(r["worker_id"] == "gpu-0" for r in runs)  # finished before the slow copy came back
        assert done_s < SLOW_S
        assert status["progress"]["stolen"] == 1 and status["progress"]["chunks_total"] == 4

        # The single-worker run: the same chunks, one after another on one worker, merged.
        chunks = c.chunk_log.runs(job_id)
        assert sorted(r.index for r in chunks) == [0, 1, 2, 3]
        from actors.jobs.plans import plan_job  # noqa: PLC0415

        sub = job_panel(PANEL, SWEEP)
        alone = merge_partials("sweep", [execute_chunk("sweep", SWEEP, sub, ch, "cpu")
                                         for ch in plan_job("sweep", SWEEP, sub.n_bars, sub.n_assets, 250 * 8 * 2)])
        result = await c.result(job_id)
        for name in ("asset_metrics", "portfolio_metrics", "top"):
            pd.testing.assert_frame_equal(getattr(result, name), getattr(alone, name), check_exact=True)

        for _ in range(int(SLOW_S * 100) + 500):  # the slow copy returns: dropped, counted
            if (await c.status(job_id))["progress"]["duplicates"] == 1:
                break
            await asyncio.sleep(0.01)
        status = await c.status(job_id)
        assert status["progress"]["duplicates"] == 1 and status["progress"]["chunks_done"] == 4
        late = [r for r in await c.chunk_runs(job_id) if r["worker_id"] == "gpu-0"]
        assert len(late) == 1 and late[0]["duplicate"] and late[0]["finished"] - late[0]["started"] >= SLOW_S
        stats = await c.stats()
        assert stats["steals"] == 1 and stats["duplicates"] == 1
        assert c.metrics.counts["chunk_copies_stolen"] == 1 and c.metrics.counts["chunk_copies_duplicate"] == 1
        assert await c.result(job_id) is not None and (await c.status(job_id))["state"] == "succeeded"
        await c.shutdown()

    asyncio.run(go())
