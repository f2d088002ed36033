"""Recovery edge cases found by the kill/restart suite, reproduced in-process (no Ray, fast).

A coordinator killed after the last chunk of a job was saved and journaled but before the
merge (the window between `_save_chunk` and `_complete`) left a job that the next coordinator
recovered with every chunk done and nothing left to schedule: it stayed `queued` forever.
Chunk partials are written without fsync: a crash may leave a journaled chunk whose files are
empty, and the next coordinator reruns that chunk.
"""
from __future__ import annotations

import asyncio
from dataclasses import replace

import pandas as pd
import pytest

from actors.datasets import DatasetStore
from actors.scheduling.coordinator import Coordinator
from actors.settings import Settings
from actors.workers.executor import LocalExecutor
from gpu_hal.config import GpuHalConfig, SimulationConfig
from kernels.backtest import run
from kernels.data import synthetic_panel

PANEL = synthetic_panel(12, 300, seed=4)
BT = {"dataset": "synthetic", "strategy": "trend_following", "params": {"fast": 4, "slow": 18}, "fees": 0.001}


def make(tmp_path) -> Coordinator:
    gpu = GpuHalConfig(simulation=SimulationConfig(mode="always", num_devices=1))
    settings = Settings(storage_dir=tmp_path, gpu=gpu)
    # every chunk checkpointed as it finishes (by default only jobs running 10 s or more write them)
    cfg = replace(settings.coordinator_config(), max_cells_per_chunk=300 * 3, checkpoint_after_s=0.0)
    return Coordinator(cfg, LocalExecutor(gpu, 1, 1, model_root=tmp_path),
                       DatasetStore(tmp_path, {"synthetic": lambda: PANEL}))


@pytest.mark.slow
@pytest.mark.parametrize("lost_chunk_files", [False, True])
def test_job_with_every_chunk_saved_but_not_merged_completes_after_a_restart(tmp_path, lost_chunk_files):
    async def first_life() -> str:
        c = make(tmp_path)

        async def killed_before_the_merge(job) -> None:  # the process dies here
            await asyncio.sleep(3600)

        c._complete = killed_before_the_merge
        await c.start()
        job_id = await c.submit("backtest", BT, "LOW", "alice")
        for _ in range(600):
            record = c.journal.get(job_id)
            if (record.chunks_total and record.chunks_done == record.chunks_total
                    and len(c.journal.chunks(job_id)) == record.chunks_total):  # every chunk file written
                break
            await asyncio.sleep(0.05)
        assert record.chunks_done == record.chunks_total > 1 and not record.state.terminal, record
        c.journal.close()
        if lost_chunk_files:  # what a power loss may leave of files never flushed: empty ones
            version_dir = next(p for p in (c.store.job_dir(job_id) / "chunks").iterdir() if p.is_dir())
            for f in version_dir.iterdir():
                f.write_bytes(b"")
        return job_id

    async def second_life(job_id: str) -> None:
        c = make(tmp_path)
        await c.start()
        status = await c.wait(job_id, 60)
        assert status["state"] == "succeeded", status
        reran = [r for r in await c.chunk_runs(job_id)]
        assert len(reran) == (1 if lost_chunk_files else 0), reran
        want = run(PANEL, "trend_following", {"fast": 4, "slow": 18}, fees=0.001, backend="cpu").metrics
        pd.testing.assert_frame_equal((await c.result(job_id)).metrics.sort_index(), want.sort_index(), rtol=1e-9)
        await c.shutdown()

    job_id = asyncio.run(first_life())
    asyncio.run(second_life(job_id))
