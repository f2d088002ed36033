"""Coordinator logic with in-process workers (no Ray): priorities, preemption,
fallback, journal recovery, cache and admission."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from actors.config import PreemptionConfig, QueueConfig
from actors.scheduling.coordinator import Coordinator, JobNotFound
from actors.datasets import DatasetStore
from actors.workers.executor import LocalExecutor
from actors.scheduling.queues.job_queue import AdmissionRefused
from actors.settings import Settings
from gpu_hal.config import FaultConfig, GpuHalConfig, SimulationConfig
from kernels.backtest import run
from kernels.data import synthetic_panel

PANEL = synthetic_panel(12, 400, seed=7)
BT = {"dataset": "synthetic", "strategy": "trend_following", "params": {"fast": 5, "slow": 20}, "fees": 0.001}


def make(tmp_path: Path, gpu_workers: int = 1, cpu_workers: int = 1, max_cells: int = 400 * 3,
         faults: bool = False, queue: QueueConfig | None = None,
         preemption: PreemptionConfig | None = None) -> Coordinator:
    gpu = GpuHalConfig(simulation=SimulationConfig(mode="always", num_devices=max(gpu_workers, 1)),
                       faults=FaultConfig(enabled=faults))
    settings = Settings(storage_dir=tmp_path, gpu=gpu)
    cfg = replace(settings.coordinator_config(), max_cells_per_chunk=max_cells)
    if queue is not None:
        cfg = replace(cfg, queue=queue)
    if preemption is not None:
        cfg = replace(cfg, preemption=preemption)
    datasets = DatasetStore(tmp_path, {"synthetic": lambda: PANEL})
    return Coordinator(cfg, LocalExecutor(gpu, gpu_workers, cpu_workers, model_root=tmp_path), datasets)


def expected_metrics(**overrides) -> pd.DataFrame:
    return run(PANEL, "trend_following", {"fast": 5, "slow": 20}, fees=0.001, backend="cpu", **overrides).metrics


def assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.sort_index(), b.sort_index(), rtol=1e-9, check_exact=False)


async def _run_to_end(c: Coordinator, job_id: str) -> dict:
    status = await c.wait(job_id, 120)
    assert status["state"] in ("succeeded", "failed", "cancelled"), status
    return status


def test_chunked_backtest_equals_direct_run(tmp_path):
    async def go():
        c = make(tmp_path)
        await c.start()
        job_id = await c.submit("backtest", BT, "LOW", "alice")
        status = await _run_to_end(c, job_id)
        assert status["state"] == "succeeded", status
        assert status["progress"]["chunks_total"] == 4  # 12 assets, 3 per chunk
        result = await c.result(job_id)
        assert_same(result.metrics, expected_metrics())
        await c.shutdown()

    asyncio.run(go())


def test_priority_order_and_preemption_keeps_results(tmp_path):
    async def go():
        c = make(tmp_path, gpu_workers=1, cpu_workers=0, max_cells=400)  # one asset per chunk
        await c.start()
        low = await c.submit("backtest", BT, "LOW", "research")
        while (await c.status(low))["progress"]["chunks_done"] < 1:
            await asyncio.sleep(0.01)
        high = await c.submit("backtest", {**BT, "params": {"fast": 3, "slow": 30}}, "HIGH", "desk")
        s_high = await _run_to_end(c, high)
        s_low = await _run_to_end(c, low)
        assert s_high["state"] == s_low["state"] == "succeeded"
        assert s_high["finished_at"] < s_low["finished_at"]
        assert (await c.stats())["preemptions"]["LOW"] >= 1
        assert_same((await c.result(low)).metrics, expected_metrics())
        await c.shutdown()

    asyncio.run(go())


def test_fallback_chain_results_equal_cpu(tmp_path):
    async def go():
        c = make(tmp_path, gpu_workers=2, cpu_workers=1, faults=True, max_cells=400 * 6)
        await c.start()
        gpu0, gpu1 = (w for w in c.executor.workers if w.kind == "gpu")
        # every kernel on both simulated GPUs fails: same device, other GPU, then CPU
        gpu0.inject_fault("fail_next_kernel", count=100)
        gpu1.inject_fault("fail_next_kernel", count=100)
        job_id = await c.submit("backtest", BT, "NORMAL", "alice")
        status = await _run_to_end(c, job_id)
        assert status["state"] == "succeeded", status
        assert status["tier"] == "cpu" and status["device"] == "cpu"
        stats = await c.stats()
        assert stats["fallbacks"]["same_device"] >= 1 and stats["fallbacks"]["cpu"] >= 1
        assert_same((await c.result(job_id)).metrics, expected_metrics())
        await c.shutdown()

    asyncio.run(go())


def test_restart_recovers_every_accepted_job(tmp_path):
    async def go():
        first = make(tmp_path)  # never started: jobs are journaled but not run
        ids = [await first.submit("backtest", {**BT, "params": {"fast": f, "slow": 20}}, "LOW", "alice")
               for f in (3, 5, 7)]
        first.journal.close()
        second = make(tmp_path)
        assert second._recovered == 3
        assert (await second.status(ids[0]))["progress"]["chunks_total"] == 4
        await second.start()
        for job_id in ids:
            assert (await _run_to_end(second, job_id))["state"] == "succeeded"
        assert_same((await second.result(ids[1])).metrics, expected_metrics())
        await second.shutdown()

    asyncio.run(go())


def test_cache_hit_returns_the_same_result(tmp_path):
    async def go():
        c = make(tmp_path)
        await c.start()
        a = await c.submit("backtest", BT, "LOW", "alice")
        await _run_to_end(c, a)
        b = await c.submit("backtest", BT, "LOW", "alice")
        status = await c.status(b)
        assert status["state"] == "succeeded" and status["cache_hit"]
        assert_same((await c.result(a)).metrics, (await c.result(b)).metrics)
        assert (await c.stats())["cache"]["hits"] == 1
        # Results are reused within a tenant only: a hit must not reveal another tenant's spec (issue 12).
        other = await c.submit("backtest", BT, "LOW", "bob")
        assert not (await c.status(other))["cache_hit"]
        await _run_to_end(c, other)
        await c.shutdown()

    asyncio.run(go())


def test_admission_limits_and_bad_input(tmp_path):
    async def go():
        c = make(tmp_path, queue=QueueConfig(max_queued_per_tenant=1))  # not started: jobs stay queued
        await c.submit("backtest", BT, "LOW", "alice")
        with pytest.raises(AdmissionRefused) as refused:
            await c.submit("backtest", {**BT, "params": {"fast": 4, "slow": 20}}, "LOW", "alice")
        assert refused.value.retry_after_s > 0
        await c.submit("backtest", BT, "LOW", "bob")  # another tenant is fine
        with pytest.raises(KeyError):
            await c.submit("backtest", {**BT, "strategy": "no_such"}, "LOW", "bob2")
        with pytest.raises(ValueError):
            await c.submit("backtest", {**BT, "params": {"fast": 5, "slow": 20, "bogus": 1}}, "LOW", "bob3")
        with pytest.raises(JobNotFound):
            await c.status("0" * 32)
        with pytest.raises(ValueError):
            await c.status("../etc/passwd")

    asyncio.run(go())


SWEEP = {"dataset": "synthetic", "strategy": "trend_following", "grid": {"fast": [3, 5, 8], "slow": [20, 30, 40]},
         "fees": 0.001, "top_k": 4}


def test_low_sweep_yields_to_high_and_equals_uninterrupted(tmp_path):
    async def go():
        from kernels.backtest import sweep  # noqa: PLC0415

        # one combination per chunk; HIGH waits for a chunk boundary (not beside the LOW chunk)
        c = make(tmp_path, gpu_workers=1, cpu_workers=0, max_cells=400 * 12,
                 preemption=PreemptionConfig(beside_classes=()))
        await c.start()
        low = await c.submit("sweep", SWEEP, "LOW", "research")
        while (await c.status(low))["progress"]["chunks_done"] < 1:
            await asyncio.sleep(0.01)
        high = await c.submit("backtest", BT, "HIGH", "desk")
        s_high, s_low = await _run_to_end(c, high), await _run_to_end(c, low)
        assert s_high["state"] == s_low["state"] == "succeeded"
        assert s_low["progress"]["chunks_total"] == 9
        assert s_high["finished_at"] < s_low["finished_at"]
        assert (await c.stats())["preemptions"]["LOW"] >= 1
        got = await c.result(low)
        want = sweep(PANEL, "trend_following", SWEEP["grid"], fees=0.001, top_k=4, backend="cpu")
        pd.testing.assert_frame_equal(got.asset_metrics, want.asset_metrics, rtol=1e-12)
        pd.testing.assert_frame_equal(got.portfolio_metrics, want.portfolio_metrics, rtol=1e-12)
        pd.testing.assert_frame_equal(got.top, want.top, rtol=1e-12)
        await c.shutdown()

    asyncio.run(go())


def test_live_features_run_beside_research(tmp_path):
    async def go():
        from kernels.indicators import rsi  # noqa: PLC0415

        c = make(tmp_path, gpu_workers=1, cpu_workers=0, max_cells=400)
        await c.start()
        low = await c.submit("sweep", SWEEP, "LOW", "research")
        out = await c.run_live("features", {"dataset": "synthetic", "window": 10,
                                            "indicators": [{"name": "rsi", "params": {"timeperiod": 14}}]})
        frame = out.result["rsi_14"]
        assert frame.shape == (10, PANEL.n_assets)
        np.testing.assert_allclose(frame.to_numpy(), rsi(PANEL.close, 14)[-10:], rtol=1e-12)
        assert (await c.status(low))["state"] in ("queued", "running")  # research still in flight
        with pytest.raises(ValueError):
            await c.run_live("features", {"dataset": "synthetic", "indicators": [{"name": "nope"}]})
        await c.cancel(low)
        await c.shutdown()

    asyncio.run(go())
