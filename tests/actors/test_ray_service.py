"""The coordinator and workers as real Ray actors on a local cluster (simulated GPUs)."""
from __future__ import annotations

import time

import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from actors.scheduling.coordinator_actor import get_or_create_coordinator  # noqa: E402
from actors.settings import DataConfig, RayConfig, Settings  # noqa: E402
from gpu_hal.config import FaultConfig, GpuHalConfig, SimulationConfig  # noqa: E402
from kernels.backtest import run  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402

from tests.conftest import OWN_CLUSTER  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow, OWN_CLUSTER]

BT = {"dataset": "synthetic", "strategy": "trend_following", "params": {"fast": 5, "slow": 20}, "fees": 0.001}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    storage = tmp_path_factory.mktemp("storage")
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        metrics_port = sock.getsockname()[1]
    ray.init(num_cpus=2, include_dashboard=False, namespace="rayquant-test", ignore_reinit_error=True,
             _metrics_export_port=metrics_port)
    settings = Settings(
        storage_dir=storage,
        data=DataConfig(synthetic_assets=12, synthetic_bars=400),
        ray=RayConfig(namespace="rayquant-test"),
        gpu=GpuHalConfig(simulation=SimulationConfig(mode="always", num_devices=1), faults=FaultConfig(enabled=True)),
        coordinator={"max_cells_per_chunk": 400, "cpu_workers": 1},
    )
    coordinator = get_or_create_coordinator(settings)
    ray.get(coordinator.start.remote(), timeout=300)
    yield settings, coordinator, metrics_port
    ray.shutdown()


def expected() -> pd.DataFrame:
    return run(synthetic_panel(12, 400, seed=0), "trend_following", {"fast": 5, "slow": 20}, fees=0.001,
               backend="cpu").metrics


def wait(coordinator, job_id: str, timeout: float = 240) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            status = ray.get(coordinator.wait.remote(job_id, 5.0), timeout=60)
        except ray.exceptions.RayActorError:  # the coordinator is restarting
            time.sleep(0.5)
            continue
        if status["state"] in ("succeeded", "failed", "cancelled"):
            return status
    raise AssertionError(f"job {job_id} did not finish")


def test_backtest_job_through_ray_actors(service):
    _, coordinator, _ = service
    job_id = ray.get(coordinator.submit.remote("backtest", BT, "LOW", "alice"))
    status = wait(coordinator, job_id)
    assert status["state"] == "succeeded", status
    assert status["device"] in ("simgpu:0", "cpu")
    result = ray.get(coordinator.result.remote(job_id))
    pd.testing.assert_frame_equal(result.metrics, expected(), rtol=1e-9)
    devices = ray.get(coordinator.devices.remote())
    sim = [d for d in devices if d["kind"] == "gpu"]
    assert sim and all(d["device"]["simulated"] for d in sim)
    # The CPU worker's share of the node's 2 CPUs: 2 - 2 (the simulated GPU's host side) - 2 (the
    # coordinator's node), at least 1 -- not Numba's default (the test process's NUMBA_NUM_THREADS).
    assert [d["threads"] for d in devices if d["kind"] == "cpu"] == [1]


def test_results_converted_in_the_coordinators_process(service):
    """wait_result / result_as: the coordinator converts a stored result (the HTTP replica gets JSON bytes)."""
    import functools  # noqa: PLC0415
    import json  # noqa: PLC0415

    from deployments.http.routes import encode_job, encode_result  # noqa: PLC0415

    _, coordinator, _ = service
    job_id = ray.get(coordinator.submit.remote("backtest", {**BT, "fees": 0.003}, "LOW", "carol"))
    status, body = ray.get(coordinator.wait_result.remote(job_id, 240.0,
                                                          functools.partial(encode_job, "backtest", 50, 100)))
    assert status["state"] == "succeeded", status
    out = json.loads(body)
    assert out["job_id"] == job_id and out["state"] == "succeeded" and out["links"]["result"].endswith("/result")
    exp = run(synthetic_panel(12, 400, seed=0), "trend_following", {"fast": 5, "slow": 20}, fees=0.003,
              backend="cpu").metrics
    got = pd.DataFrame(out["result"]["metrics"]).set_index("symbol")[list(exp.columns)].astype(float)
    pd.testing.assert_frame_equal(got, exp.astype(float), rtol=1e-9, check_names=False)
    alone = ray.get(coordinator.result_as.remote(job_id, functools.partial(encode_result, "backtest", 50, 0, 0)))
    assert json.loads(alone) == out["result"]
    one_call = ray.get(coordinator.submit_wait_result.remote("backtest", {**BT, "fees": 0.003}, "LOW", "carol", 240.0,
                                                             functools.partial(encode_job, "backtest", 50, 100)))
    assert one_call[1]["state"] == "succeeded" and json.loads(one_call[2])["job_id"] == one_call[0] != job_id
    assert json.loads(one_call[2])["result"]["metrics"] == out["result"]["metrics"]
    # Not finished within the wait: the status only, nothing converted.
    slow = ray.get(coordinator.submit.remote("backtest", {**BT, "fees": 0.004}, "LOW", "carol"))
    status, body = ray.get(coordinator.wait_result.remote(slow, 0.0, functools.partial(encode_job, "backtest", 50, 100)))
    assert body is None and status["state"] in ("queued", "running"), status
    assert wait(coordinator, slow)["state"] == "succeeded"


def test_worker_killed_mid_job_loses_nothing(service):
    _, coordinator, _ = service
    handle = ray.get(coordinator.worker_handle.remote("simgpu-0"))
    ray.get(coordinator.inject_fault.remote("simgpu-0", "slow_down", seconds=0.3))
    job_id = ray.get(coordinator.submit.remote("backtest", {**BT, "fees": 0.002}, "LOW", "alice"))
    time.sleep(1.0)
    ray.kill(handle, no_restart=False)
    status = wait(coordinator, job_id)
    assert status["state"] == "succeeded", status
    # It really moved: the dead worker left the pool (lost, not a device fault: no fallback tier) and its
    # chunk ran again on the CPU worker, the only eligible worker while no GPU worker was in the pool.
    ran_on = {w["worker_id"] for w in status["progress"]["workers"]}
    lost = [e for e in ray.get(coordinator.stats.remote())["membership"]
            if e["worker_id"] == "simgpu-0" and e["event"].startswith("lost")]
    assert lost and "cpu-0" in ran_on, (status, lost)
    result = ray.get(coordinator.result.remote(job_id))
    exp = run(synthetic_panel(12, 400, seed=0), "trend_following", {"fast": 5, "slow": 20}, fees=0.002,
              backend="cpu").metrics
    pd.testing.assert_frame_equal(result.metrics, exp, rtol=1e-9)


def test_coordinator_restart_keeps_accepted_jobs(service):
    _, coordinator, _ = service
    ids = [ray.get(coordinator.submit.remote("backtest", {**BT, "params": {"fast": f, "slow": 25}}, "LOW", "bob"))
           for f in (3, 4, 6)]
    ray.kill(coordinator, no_restart=False)
    for job_id in ids:
        assert wait(coordinator, job_id)["state"] == "succeeded"


def test_live_router_goes_straight_to_workers_and_falls_back(service):
    import asyncio  # noqa: PLC0415

    import numpy as np  # noqa: PLC0415

    from actors.live.router import LiveRouter, run_sync  # noqa: PLC0415
    from kernels.indicators import rsi  # noqa: PLC0415

    _, coordinator, _ = service
    router = LiveRouter(coordinator)
    loop = asyncio.new_event_loop()
    payload = {"dataset": "synthetic", "window": 5, "indicators": [{"name": "rsi", "params": {"timeperiod": 14}}]}
    want = rsi(synthetic_panel(12, 400, seed=0).close, 14)[-5:]
    res = run_sync(router, loop, "features", payload)
    np.testing.assert_allclose(res.result["rsi_14"].to_numpy(), want, rtol=1e-12)
    assert res.timings["tier"] == "primary" and router.channel_calls == 0  # first call: an actor call with the ref
    for window in (3, 2):  # the worker holds the dataset now: its live channel, no actor call
        res = run_sync(router, loop, "features", {**payload, "window": window})
        np.testing.assert_allclose(res.result["rsi_14"].to_numpy(), want[-window:], rtol=1e-12)
    assert router.channel_calls == 2 and set(router._table.channels) == {"simgpu-0", "cpu-0"}
    ray.get(coordinator.inject_fault.remote("simgpu-0", "fail_next_kernel", tenant="live", count=1))
    res = run_sync(router, loop, "features", {**payload, "window": 4})  # not in the worker's feature cache
    np.testing.assert_allclose(res.result["rsi_14"].to_numpy(), want[-4:], rtol=1e-12)
    assert router.fallbacks == 1 and res.timings["tier"] in ("same_device", "cpu")
    res = run_sync(router, loop, "features", payload)  # the coordinator path: the same answer
    np.testing.assert_allclose(ray.get(coordinator.run_live.remote("features", payload)).result["rsi_14"].to_numpy(),
                               res.result["rsi_14"].to_numpy(), rtol=0)
    # a channel that refuses (here: a wrong token) -> the same answer by actor call, the channel set aside
    from dataclasses import replace  # noqa: PLC0415

    table = router._table
    bad = {w: replace(a, token=b"0" * len(a.token)) for w, a in table.channels.items()}
    router._table = replace(table, channels=bad, fetched_at=time.monotonic())
    calls = router.channel_calls
    res = run_sync(router, loop, "features", {**payload, "window": 6})
    np.testing.assert_allclose(res.result["rsi_14"].to_numpy(), rsi(synthetic_panel(12, 400, seed=0).close, 14)[-6:],
                               rtol=1e-12)
    assert router.channel_calls == calls and len(router._broken) == 1 and res.timings["tier"] == "primary"
    with pytest.raises(KeyError):
        run_sync(router, loop, "features", {**payload, "dataset": "nope"})
    with pytest.raises(ValueError):
        run_sync(router, loop, "features", {**payload, "indicators": [{"name": "bogus"}]})
    loop.close()


def test_prometheus_metrics_are_exported(service):
    import httpx  # noqa: PLC0415

    _, coordinator, port = service
    # one device fault, so that the job walks the fallback chain (a killed worker is not a fault: its
    # chunks are put back, no fallback is counted)
    ray.get(coordinator.inject_fault.remote("simgpu-0", "fail_next_kernel", tenant="metrics", count=1))
    job_id = ray.get(coordinator.submit.remote("backtest", {**BT, "fees": 0.003}, "LOW", "metrics"))
    assert wait(coordinator, job_id)["state"] == "succeeded"
    wanted = ("ray_rayquant_job_latency_seconds_count", "ray_rayquant_result_cache_total",
              "ray_rayquant_queue_depth", "ray_rayquant_fallbacks_total", "ray_rayquant_device_memory_free_bytes")
    deadline, text = time.time() + 60, ""
    while time.time() < deadline:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        if all(name in text for name in wanted):
            break
        time.sleep(2)
    missing = [name for name in wanted if name not in text]
    assert not missing, f"not exported: {missing}"
    assert 'kind="backtest"' in text and 'outcome="miss"' in text


def test_client_trains_and_predicts_through_ray(service):
    import numpy as np  # noqa: PLC0415

    from actors.client import Client  # noqa: PLC0415

    settings, coordinator, _ = service
    client = Client(coordinator, settings)
    features = [{"name": "rsi", "params": {"timeperiod": 14}}, {"name": "roc", "params": {"timeperiod": 5}}]
    record = client.train("ridge-ray", "Ridge", features, horizon=3, params={"alpha": 0.5})
    assert record["version"] == 1 and np.isfinite(record["metrics"]["mse"])
    out = client.predict("ridge-ray")
    assert len(out["predictions"]) == len(out["symbols"]) > 0 and np.isfinite(out["predictions"]).all()
    assert [m["name"] for m in client.models()] == ["ridge-ray"]
