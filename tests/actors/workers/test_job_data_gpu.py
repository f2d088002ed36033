"""The job data cache on a real GPU (skipped without CuPy and a device; bench/device/service/gpu_job_data.sh runs it):
the job's panel is kept as CuPy arrays allocated from the tenant's pool, later chunks find it there,
kept sweep plans (streaming and window-table paths) and kept backtest panels give exactly the
numbers of the uncached GPU path, and the bytes go back at the job's end."""
from __future__ import annotations

import gc

import numpy as np
import pandas as pd
import pytest

from actors.config import JobDataConfig
from actors.jobs.plans import job_panel, plan_job
from actors.messages import WorkItem
from actors.workers.worker import Worker
from gpu_hal.config import GpuHalConfig, SimulationConfig
from gpu_hal.streams.priority import JobClass
from kernels.data import synthetic_panel

pytestmark = pytest.mark.gpu

REAL = GpuHalConfig(simulation=SimulationConfig(mode="never"))


def worker(enabled: bool) -> Worker:
    w = Worker("gpu-0", "gpu", REAL, job_data=JobDataConfig(enabled=enabled))
    w.init_device()
    assert not w.device.simulated
    return w


def work(kind: str, payload: dict, panel, cells: int, job_id: str = "job-g") -> list[WorkItem]:
    sub = job_panel(panel, payload)
    return [WorkItem(job_id=job_id, kind=kind, payload=payload, chunk=c, job_class=int(JobClass.LOW), tenant="alice",
                     dataset="d", dataset_version="v1")
            for c in plan_job(kind, payload, sub.n_bars, sub.n_assets, cells)]


@pytest.mark.parametrize("case", ["stream", "table"])
def test_kept_sweep_on_the_device_equals_the_uncached_gpu_path(case):
    import cupy  # noqa: PLC0415

    from kernels.backtest.gpu import TABLE_MIN_CELLS  # noqa: PLC0415

    if case == "stream":
        panel = synthetic_panel(64, 600, seed=1)
        grid = {"fast": [3, 5, 8, 13], "slow": [21, 34, 55]}
        cells = 600 * 64 * 3
    else:  # chunks big enough for the window-table path (a new table plan per combination range)
        panel = synthetic_panel(512, 2520, seed=2)
        grid = {"fast": list(range(2, 62, 2)), "slow": list(range(70, 370, 10))}  # 900: 5 chunks, 4 with tables
        cells = TABLE_MIN_CELLS + 2520 * 512 * 8
    payload = {"dataset": "d", "strategy": "trend_following", "grid": grid, "fees": 0.0005, "top_k": 5}
    items = work("sweep", payload, panel, cells)
    assert len(items) >= 2
    kept, plain = worker(True), worker(False)
    for item in items:
        a, b = kept.execute(item, panel).result, plain.execute(item, panel).result
        assert a.backend == b.backend == "gpu"
        for name in ("asset_metrics", "portfolio_metrics", "top"):
            pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
        np.testing.assert_array_equal(a.state.portfolio_sums, b.state.portfolio_sums)
    stats = kept.status()["job_data"]
    assert stats["uploads"] == 1 and stats["hits"] == len(items) - 1
    assert stats["derived_builds"] == 1 and stats["derived_hits"] == len(items) - 1
    entry = next(iter(kept.job_data._entries.values()))
    assert isinstance(entry.panel.close, cupy.ndarray)  # on the device, not the host
    budget = kept.device.budget
    assert budget.owner_figures("alice")["reserved"] == stats["bytes"]
    assert kept.end_job("job-g") == stats["bytes"]
    del entry
    gc.collect()
    assert budget.owner_figures("alice")["reserved"] == 0
    assert kept.device.get_context("alice").pool.used_bytes() == 0  # every kept array went back to the pool
    budget.check_invariants()


def test_kept_backtest_panel_on_the_device_equals_the_uncached_gpu_path():
    panel = synthetic_panel(96, 800, seed=3)
    payload = {"dataset": "d", "strategy": "mean_reversion", "params": {"window": 20}, "fees": 0.001}
    items = work("backtest", payload, panel, 800 * 16, job_id="job-b")
    assert len(items) >= 4
    kept, plain = worker(True), worker(False)
    for item in items:
        a, b = kept.execute(item, panel).result, plain.execute(item, panel).result
        pd.testing.assert_frame_equal(a.metrics, b.metrics, check_exact=True)
        np.testing.assert_array_equal(np.asarray(a.positions), np.asarray(b.positions))
    stats = kept.status()["job_data"]
    assert stats["uploads"] == 1 and stats["hits"] == len(items) - 1
    assert stats["bytes"] == panel.close.nbytes * 5
    kept.end_job("job-b")
    assert kept.device.budget.owner_figures("alice")["reserved"] == 0
