"""Coordinator.submit refuses what would fail later (issue 12), and a sweep grid with
invalid combinations runs chunked to the in-process result."""
from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np
import pytest

from actors.datasets import DatasetStore
from actors.scheduling.coordinator import Coordinator
from actors.settings import Settings
from actors.workers.executor import LocalExecutor
from gpu_hal.config import GpuHalConfig, SimulationConfig
from kernels.backtest import sweep
from kernels.data import synthetic_panel

PANEL = synthetic_panel(6, 300, seed=5)


def make(tmp_path, max_cells: int = 300 * 6 * 3) -> Coordinator:
    gpu = GpuHalConfig(simulation=SimulationConfig(mode="always", num_devices=1))
    cfg = replace(Settings(storage_dir=tmp_path, gpu=gpu).coordinator_config(), max_cells_per_chunk=max_cells)
    return Coordinator(cfg, LocalExecutor(gpu, 1, 0, model_root=tmp_path),
                       DatasetStore(tmp_path, {"synthetic": lambda: PANEL}))


def test_sweep_with_dropped_combinations_runs_chunked(tmp_path):
    grid = {"fast": list(range(5, 51, 5)), "slow": [40, 60]}

    async def go():
        c = make(tmp_path)
        await c.start()
        job_id = await c.submit("sweep", {"dataset": "synthetic", "strategy": "trend_following", "grid": grid,
                                          "top_k": 3}, "LOW", "alice")
        status = await c.wait(job_id, 120)
        assert status["state"] == "succeeded", status
        assert status["progress"]["chunks_total"] == 6  # 17 valid combinations, 3 per chunk
        result = await c.result(job_id)
        await c.shutdown()
        return result

    result = asyncio.run(go())
    direct = sweep(PANEL, "trend_following", grid, top_k=3, backend="cpu")
    assert result.n_dropped == direct.n_dropped == 3
    np.testing.assert_allclose(result.portfolio_metrics.to_numpy(dtype=float),
                               direct.portfolio_metrics.to_numpy(dtype=float), rtol=1e-9, equal_nan=True)


@pytest.mark.parametrize("kind,payload,match", [
    ("backtest", {"strategy": "trend_following", "params": {"fast": 10, "slow": 5000}}, "'slow' = 5000"),
    ("backtest", {"strategy": "trend_following", "params": {"fast": 2**63, "slow": 50}}, "'fast'"),
    ("backtest", {"strategy": "trend_following", "symbols": ["TSLA"]}, r"^unknown symbols: \['TSLA'\]$"),
    ("sweep", {"strategy": "trend_following", "grid": {"fast": [5, -3, "abc", 10**12], "slow": [40]}}, "'fast'"),
    ("train", {"name": "m1", "model": "Ridge", "features": [{"name": "rsi"}], "horizon": 10_000}, "horizon"),
    ("train", {"name": "m1", "model": "Ridge", "features": [{"name": "rsi"}], "test_fraction": 0.999999},
     "test_fraction"),
])
def test_submit_refuses_jobs_that_would_fail(tmp_path, kind, payload, match):
    async def go():
        c = make(tmp_path)  # not started: an accepted job would only be queued
        with pytest.raises(ValueError, match=match):
            await c.submit(kind, {"dataset": "synthetic", **payload}, "LOW", "alice")
        assert len(c.queue) == 0 and c.journal.list(limit=None) == []

    asyncio.run(go())
