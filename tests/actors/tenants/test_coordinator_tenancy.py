"""Tenants through the coordinator (in-process workers, no Ray): granted classes,
queued-jobs and sweep-size quotas, run-time changes that survive a restart, usage,
and weighted fair share between two tenants' sweeps on one simulated device."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from actors.datasets import DatasetStore
from actors.scheduling.coordinator import Coordinator
from actors.scheduling.coordinator_actor import build_tenancy
from actors.settings import Settings
from actors.tenants.quotas import ClassNotAllowed, TenantLimitExceeded, TenantsConfig
from actors.workers.executor import LocalExecutor
from gpu_hal.config import GpuHalConfig, SimulationConfig
from kernels.data import synthetic_panel

PANEL = synthetic_panel(8, 300, seed=3)
BT = {"dataset": "synthetic", "strategy": "trend_following", "params": {"fast": 5, "slow": 20}}
SWEEP = {"dataset": "synthetic", "strategy": "trend_following", "grid": {"fast": [3, 5, 8], "slow": [20, 30]}}


def make(tmp_path: Path, tenants: TenantsConfig, max_cells: int = 300 * 2 * 2) -> Coordinator:
    gpu = GpuHalConfig(simulation=SimulationConfig(mode="always", num_devices=1))
    settings = Settings(storage_dir=tmp_path, gpu=gpu, tenants=tenants)
    cfg = replace(settings.coordinator_config(), max_cells_per_chunk=max_cells)
    policy, admission = build_tenancy(settings)
    return Coordinator(cfg, LocalExecutor(gpu, 1, 0, model_root=tmp_path),
                       DatasetStore(tmp_path, {"synthetic": lambda: PANEL}), policy=policy, admission=admission)


def test_classes_are_granted_quotas_apply_and_changes_survive_a_restart(tmp_path: Path) -> None:
    cfg = TenantsConfig(tenants={"desk": {"allowed_classes": ["HIGH", "LOW"]}, "small": {"max_queued_jobs": 1,
                                                                                         "max_sweep_combinations": 4}})

    async def go() -> None:
        c = make(tmp_path, cfg)
        await c.start()
        with pytest.raises(ClassNotAllowed, match="HIGH.*allowed: NORMAL, LOW, IDLE"):
            await c.submit("backtest", BT, "HIGH", "bob")
        with pytest.raises(ClassNotAllowed, match="REALTIME"):
            await c.submit("backtest", BT, "REALTIME", "desk")
        high = await c.submit("backtest", BT, "HIGH", "desk")  # granted
        with pytest.raises(TenantLimitExceeded, match="max_sweep_combinations"):
            await c.submit("sweep", SWEEP, "LOW", "small")  # 6 combinations > 4
        first = await c.submit("backtest", BT, "LOW", "small")
        with pytest.raises(TenantLimitExceeded, match="max_queued_jobs"):
            await c.submit("backtest", {**BT, "params": {"fast": 6, "slow": 20}}, "LOW", "small")
        assert (await c.wait(high, 60))["state"] == "succeeded"
        assert (await c.wait(first, 60))["state"] == "succeeded"
        await c.submit("backtest", {**BT, "params": {"fast": 7, "slow": 20}}, "LOW", "small")  # room again
        # An admin grants bob HIGH at run time: the next request sees it.
        assert (await c.set_quota("bob", {"allowed_classes": ["HIGH", "LOW"], "weight": 2}))["weight"] == 2
        bob = await c.submit("backtest", BT, "HIGH", "bob")
        assert (await c.wait(bob, 60))["state"] == "succeeded"
        usage = await c.tenant_usage("bob")
        assert usage["jobs"] == {"succeeded": 1} and usage["refusals"] == {"class_not_allowed": 1}
        assert sum(usage["device_seconds"].values()) > 0 and usage["chunks"]
        assert (await c.tenant_usage("small"))["refusals"] == {"max_queued_jobs": 1, "max_sweep_combinations": 1}
        assert c.metrics.counts["refused_class_not_allowed"] == 2
        await c.shutdown()

        again = make(tmp_path, cfg)  # restart with the same storage directory
        assert (await again.get_quota("bob"))["allowed_classes"] == ["HIGH", "LOW"]
        assert (await again.list_quotas())["bob"]["weight"] == 2

    asyncio.run(go())


def test_weighted_fair_share_between_two_tenants_sweeps(tmp_path: Path) -> None:
    """Weights 1:3, both tenants keep one device busy with sweeps: device seconds split ~25/75.

    Chunks are small and equal, so the split is decided by the policy alone; the
    measured shares are compared while both tenants still had work waiting."""
    cfg = TenantsConfig(tenants={"a": {"weight": 1}, "b": {"weight": 3}})

    async def go() -> None:
        c = make(tmp_path, cfg, max_cells=300 * 8)  # one combination (all 8 assets) per chunk
        await c.start()
        # A third tenant's small sweep first, so that no measured chunk carries the sweep kernels' compile
        # time (from a cold Numba cache, or beside another test process compiling, it is seconds).
        warm = await c.submit("sweep", {**SWEEP, "grid": {"fast": [2], "slow": [20]}}, "LOW", "warm-up")
        assert (await c.wait(warm, 300))["state"] == "succeeded"
        grid = {"fast": [2, 3, 4, 5, 6, 7, 8, 9], "slow": [20, 25, 30, 35, 40, 45, 50, 55]}
        jobs = [await c.submit("sweep", {**SWEEP, "grid": grid}, "LOW", t) for t in ("a", "b")]
        done = await asyncio.wait_for(asyncio.gather(*(c.wait(j, 300) for j in jobs)), 600)
        assert all(d["state"] == "succeeded" for d in done), done
        runs = sorted(c.chunk_log.runs(), key=lambda r: r.finished)
        first_done = min(max(r.finished for r in runs if r.job_id == j) for j in jobs)
        both_busy = [r for r in runs if r.finished <= first_done]
        secs = {t: sum(r.device_s for r in both_busy if r.job_id == j) for t, j in zip("ab", jobs)}
        share_a = secs["a"] / (secs["a"] + secs["b"])
        assert 0.15 <= share_a <= 0.35, (secs, len(both_busy))
        await c.shutdown()

    asyncio.run(go())


def test_memory_quota_becomes_the_tenant_pool_limit_on_each_device(tmp_path: Path) -> None:
    async def go() -> None:
        c = make(tmp_path, TenantsConfig())
        await c.start()
        await c.set_quota("alice", {"memory_bytes": 96 << 20})
        job = await c.submit("backtest", BT, "LOW", "alice")
        assert (await c.wait(job, 60))["state"] == "succeeded"
        [dev] = [d for d in await c.devices() if "device" in d]
        assert dev["device"]["tenants"]["alice"]["limit_bytes"] == 96 << 20
        usage = await c.tenant_usage("alice")
        assert list(usage["memory"].values())[0]["limit_bytes"] == 96 << 20
        await c.set_quota("alice", {"memory_bytes": None, "memory_fraction": 0.25})
        job = await c.submit("backtest", {**BT, "params": {"fast": 6, "slow": 20}}, "LOW", "alice")
        assert (await c.wait(job, 60))["state"] == "succeeded"
        [dev] = [d for d in await c.devices() if "device" in d]
        assert dev["device"]["tenants"]["alice"]["limit_bytes"] == dev["device"]["budget"]["budget_bytes"] // 4
        await c.shutdown()

    asyncio.run(go())


def test_a_device_under_memory_pressure_gets_no_low_chunks(tmp_path: Path) -> None:
    """SHED on the only simulated GPU: LOW work waits (placement skips the device) while
    HIGH work of a granted tenant runs; once the pressure is gone the LOW job runs too."""
    cfg = TenantsConfig(tenants={"desk": {"allowed_classes": ["HIGH", "LOW"]}})

    async def go() -> None:
        c = make(tmp_path, cfg)
        await c.start()
        [worker] = c.executor.workers  # the in-process GPU worker (a simulated device)
        device = worker.device
        hog = device.create_context("hog", "HIGH", limit_bytes=device.budget.budget)
        held = hog.empty((int(device.budget.budget * 0.9),), "u1")  # 90 %: SHED
        await c._refresh_views()
        low = await c.submit("backtest", BT, "LOW", "alice")
        high = await c.submit("backtest", BT | {"params": {"fast": 4, "slow": 20}}, "HIGH", "desk")
        assert (await c.wait(high, 60))["state"] == "succeeded"
        assert (await c.status(low))["state"] == "queued"
        del held
        hog.trim_if_idle()
        await c._refresh_views()
        c._kick()
        assert (await c.wait(low, 60))["state"] == "succeeded"
        await c.shutdown()

    asyncio.run(go())


def test_a_job_over_the_tenant_memory_quota_is_refused_at_submit(tmp_path: Path) -> None:
    from actors.jobs.plans import JobSpecError  # noqa: PLC0415

    async def go() -> None:
        c = make(tmp_path, TenantsConfig(tenants={"tiny": {"memory_bytes": 4096}}))
        await c.start()
        with pytest.raises(JobSpecError, match="memory quota of 4096 bytes"):
            await c.submit("backtest", BT, "LOW", "tiny")
        assert (await c.list(tenant="tiny")) == []  # nothing was accepted
        await c.shutdown()

    asyncio.run(go())


def test_high_request_takes_the_memory_a_running_low_sweep_holds_and_the_sweep_is_unchanged(tmp_path: Path) -> None:
    """A HIGH request on the device needs memory that a LOW sweep's running chunk holds: the reclaim
    path preempts the chunk and the request gets its memory; the sweep resumes (the preempted chunk
    runs again) and its result equals an uninterrupted run of the same sweep."""
    import threading  # noqa: PLC0415

    import numpy as np  # noqa: PLC0415

    from gpu_hal.config import DeviceConfig  # noqa: PLC0415
    from gpu_hal.streams.priority import JobClass  # noqa: PLC0415

    mib = 1 << 20
    big = synthetic_panel(100, 4000, seed=5)  # a chunk reserves ~25.6 MiB (inputs + outputs estimate)
    sweep = {"dataset": "big", "strategy": "trend_following", "grid": {"fast": [3, 4, 5, 6, 7, 8], "slow": [20, 30, 40]}}

    def coordinator(root: Path) -> Coordinator:
        gpu = GpuHalConfig(device=DeviceConfig(safety_margin=0.1, reserved_bytes=0, tenant_limit_fraction=1.0,
                                               prewarm_pool_bytes=0, host_warmups=False),
                           simulation=SimulationConfig(mode="always", num_devices=1, memory_bytes=40 * mib))
        settings = Settings(storage_dir=root, gpu=gpu, tenants=TenantsConfig())
        cfg = replace(settings.coordinator_config(), max_cells_per_chunk=4000 * 100)  # one combination a chunk
        policy, admission = build_tenancy(settings)
        return Coordinator(cfg, LocalExecutor(gpu, 1, 1, model_root=root), DatasetStore(root, {"big": lambda: big}),
                           policy=policy, admission=admission)

    async def run(root: Path, interfere: bool) -> tuple[Any, dict]:
        c = coordinator(root)
        await c.start()
        device = next(w.device for w in c.executor.workers if w.device is not None)
        seen: dict[str, Any] = {"high": 0, "preempted_before": 0}
        stop = threading.Event()

        def high_requests() -> None:  # HIGH work arriving while LOW chunks hold most of the device
            desk = device.create_context("desk", JobClass.HIGH, limit_bytes=device.budget.budget)
            while not stop.is_set():
                try:
                    low_charged = device.budget.owner_figures("alice")["charged"]
                except KeyError:  # the sweep's first chunk has not reached the device yet
                    low_charged = 0
                if low_charged < 20 * mib:
                    stop.wait(0.0005)
                    continue
                with desk.reserve(20 * mib) as req:  # does not fit beside the LOW chunk's reservation
                    out = req.run(lambda: desk.empty((20 * mib,), np.uint8))
                    assert out.nbytes == 20 * mib
                del out
                desk.trim_if_idle()
                seen["high"] += 1
                if seen["high"] >= 3:
                    return

        th = threading.Thread(target=high_requests, daemon=True)
        if interfere:
            th.start()
        job = await c.submit("sweep", sweep, "LOW", "alice")
        status = await c.wait(job, 120)
        stop.set()
        th.join(10) if interfere else None
        result = await c.result(job)
        seen["status"] = status
        seen["pressure"] = device.status()["pressure"]
        seen["alice"] = device.context("alice", JobClass.LOW).counters()
        seen["job_data"] = next(w for w in c.executor.workers if w.device is not None).job_data.stats()
        await c.shutdown()
        return result, seen

    quiet, _ = asyncio.run(run(tmp_path / "quiet", interfere=False))
    busy, seen = asyncio.run(run(tmp_path / "busy", interfere=True))
    assert seen["status"]["state"] == "succeeded", seen["status"]
    assert seen["high"] >= 1, seen
    # the HIGH requests got memory the LOW sweep held: its cached job data, or a running chunk's reservation
    assert seen["job_data"]["evicted"].get("reclaim", 0) + seen["alice"]["preempted"] >= 1, seen
    assert quiet.complete and busy.complete
    for name in ("params", "asset_metrics", "portfolio_metrics", "top"):
        pd.testing.assert_frame_equal(getattr(quiet, name), getattr(busy, name), check_exact=True, obj=name)
