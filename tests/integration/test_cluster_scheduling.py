"""One job over a Ray cluster of several nodes on this machine (`ray.cluster_utils.Cluster`).

The head node runs the coordinator (no GPU, no workers); each other node declares one GPU
(a simulated device: the worker finds no CUDA device, so gpu_hal simulates one, labelled
so) and gets its GPUWorker from membership. Checked: one sweep's chunks run on every
worker and its result equals the single-process sweep; a node added mid-job brings a new
worker that takes chunks; a node removed mid-job and a worker killed with `ray.kill` lose
nothing (results equal a clean run). Chunks are slowed with the fault injector's
`slow_down` so that jobs are still running when the cluster changes.
"""
from __future__ import annotations

import time

import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from ray.cluster_utils import Cluster  # noqa: E402
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: E402

from actors.scheduling.coordinator_actor import CoordinatorActor  # noqa: E402
from actors.settings import DataConfig, RayConfig, Settings  # noqa: E402
from gpu_hal.config import FaultConfig, GpuHalConfig, SimulationConfig  # noqa: E402
from kernels.backtest import run, sweep  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402

from tests.conftest import OWN_CLUSTER  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow, OWN_CLUSTER]

NAMESPACE = "rayquant-cluster-test"
ASSETS, BARS = 8, 250
GRID = {"fast": [3, 5, 8, 13], "slow": [20, 30, 40, 60]}  # 16 combinations: a chunk each (max_cells_per_chunk = BARS)
SWEEP = {"dataset": "synthetic", "strategy": "trend_following", "grid": GRID, "fees": 0.001, "top_k": 3}
BT = {"dataset": "synthetic", "strategy": "mean_reversion", "params": {"window": 20}, "fees": 0.001,
      "placement": {"labels": {"gpu_type": "sim"}}}
FAST_FAILURE = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 300,
                "health_check_failure_threshold": 3}


def panel():
    return synthetic_panel(ASSETS, BARS, seed=0)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False,
                                                        "_system_config": FAST_FAILURE})
    nodes = [c.add_node(num_cpus=1, num_gpus=1, labels={"gpu_type": "sim"}) for _ in range(2)]
    ray.init(address=c.address, namespace=NAMESPACE)
    settings = Settings(
        storage_dir=tmp_path_factory.mktemp("storage"),
        data=DataConfig(synthetic_assets=ASSETS, synthetic_bars=BARS),
        ray=RayConfig(namespace=NAMESPACE),
        gpu=GpuHalConfig(simulation=SimulationConfig(mode="auto", num_devices=1), faults=FaultConfig(enabled=True)),
        coordinator={"cpu_workers": 0, "node_cpu_workers": 0, "max_cells_per_chunk": BARS,
                     "membership_poll_s": 0.25},
        live_channel={"enabled": False},
    )
    head = ray.get_runtime_context().get_node_id()  # the coordinator stays on the head: nodes come and go
    coordinator = CoordinatorActor.options(
        name=settings.ray.coordinator_name, namespace=NAMESPACE, num_cpus=0, max_concurrency=1000,
        scheduling_strategy=NodeAffinitySchedulingStrategy(head, soft=False)).remote(settings)
    ray.get(coordinator.start.remote(), timeout=300)
    yield c, nodes, coordinator
    ray.shutdown()
    c.shutdown()


def wait(coordinator, job_id: str, timeout: float = 240) -> dict:
    status = ray.get(coordinator.wait.remote(job_id, timeout), timeout=timeout + 30)
    assert status["state"] == "succeeded", status
    return status


def workers(coordinator) -> set[str]:
    return {d["worker_id"] for d in ray.get(coordinator.devices.remote()) if d.get("healthy")}


def wait_for(predicate, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, f"timed out waiting for {what}"
        time.sleep(0.1)
    return time.monotonic() - started


def slow_all(coordinator, seconds: float) -> None:
    for worker_id in workers(coordinator):
        ray.get(coordinator.inject_fault.remote(worker_id, "slow_down", seconds=seconds))


def expected_sweep(fees: float) -> pd.DataFrame:
    return sweep(panel(), "trend_following", GRID, fees=fees, top_k=3, backend="cpu").portfolio_metrics


def expected_backtest(fees: float) -> pd.DataFrame:
    return run(panel(), "mean_reversion", {"window": 20}, fees=fees, backend="cpu").metrics


def test_one_sweep_runs_on_every_worker_and_equals_one_run(cluster):
    _, _, coordinator = cluster
    before = workers(coordinator)
    assert len(before) == 2 and all(w.startswith("gpu-0") for w in before), before
    slow_all(coordinator, 0.05)
    job_id = ray.get(coordinator.submit.remote("sweep", SWEEP, "LOW", "alice"))
    status = wait(coordinator, job_id)
    assert status["progress"]["chunks_total"] == 16
    assert {w["worker_id"] for w in status["progress"]["workers"]} == before
    pd.testing.assert_frame_equal(ray.get(coordinator.result.remote(job_id)).portfolio_metrics,
                                  expected_sweep(0.001), rtol=1e-12, check_exact=False)
    # Each worker uploaded the job's data once (later chunks found it there) and dropped it at the job's end.
    wait_for(lambda: all(d["job_data"]["entries"] == 0 for d in ray.get(coordinator.devices.remote())), 30,
             "the job's data to leave the workers")
    for d in ray.get(coordinator.devices.remote()):
        assert d["job_data"]["uploads"] == 1 and d["job_data"]["evicted"] == {"job_end": 1}, d["job_data"]
    slow_all(coordinator, 0.0)


def test_a_node_added_mid_job_gets_a_worker_that_takes_chunks(cluster):
    c, _, coordinator = cluster
    slow_all(coordinator, 2.0)  # the old workers crawl (16 chunks: ~16 s on two); the new one is not slowed
    job_id = ray.get(coordinator.submit.remote("sweep", {**SWEEP, "fees": 0.002}, "LOW", "alice"))
    before = workers(coordinator)
    added = time.monotonic()
    node = c.add_node(num_cpus=1, num_gpus=1, labels={"gpu_type": "sim"})
    joined_s = wait_for(lambda: len(workers(coordinator)) > len(before), 120, "the new node's worker")
    print(f"new node's worker joined {joined_s:.1f} s after the node was added")  # noqa: T201
    new = (workers(coordinator) - before).pop()
    assert node.node_id.startswith(new.rsplit("-", 1)[-1])
    status = wait(coordinator, job_id)
    assert any(w["worker_id"] == new and w["chunks"] >= 1 for w in status["progress"]["workers"]), status
    assert time.monotonic() - added < 120
    pd.testing.assert_frame_equal(ray.get(coordinator.result.remote(job_id)).portfolio_metrics,
                                  expected_sweep(0.002), rtol=1e-12, check_exact=False)
    slow_all(coordinator, 0.0)


def test_a_node_removed_mid_job_loses_nothing(cluster):
    c, nodes, coordinator = cluster
    slow_all(coordinator, 0.3)
    job_id = ray.get(coordinator.submit.remote("sweep", {**SWEEP, "fees": 0.003}, "LOW", "alice"))
    wait_for(lambda: ray.get(coordinator.status.remote(job_id))["progress"]["chunks_done"] >= 2, 60, "two chunks")
    victim = nodes[0]
    c.remove_node(victim)
    status = wait(coordinator, job_id)
    assert status["progress"]["chunks_done"] == 16
    gone = [w for w in status["progress"]["workers"] if victim.node_id.startswith(w["worker_id"].rsplit("-", 1)[-1])]
    wait_for(lambda: not any(victim.node_id.startswith(w.rsplit("-", 1)[-1]) for w in workers(coordinator)), 60,
             "the removed node's worker to leave")
    pd.testing.assert_frame_equal(ray.get(coordinator.result.remote(job_id)).portfolio_metrics,
                                  expected_sweep(0.003), rtol=1e-12, check_exact=False)
    assert gone or True  # it may or may not have finished a chunk before the node went
    slow_all(coordinator, 0.0)


def test_a_killed_worker_loses_nothing_and_comes_back(cluster):
    _, _, coordinator = cluster
    slow_all(coordinator, 0.3)
    before = workers(coordinator)
    victim = sorted(before)[0]
    handle = ray.get(coordinator.worker_handle.remote(victim))
    job_id = ray.get(coordinator.submit.remote("backtest", BT, "LOW", "alice"))  # one asset per chunk
    wait_for(lambda: ray.get(coordinator.status.remote(job_id))["progress"]["chunks_done"] >= 1, 60, "a chunk")
    ray.kill(handle, no_restart=True)
    status = wait(coordinator, job_id)
    assert status["progress"]["chunks_done"] == status["progress"]["chunks_total"] == ASSETS
    pd.testing.assert_frame_equal(ray.get(coordinator.result.remote(job_id)).metrics.sort_index(),
                                  expected_backtest(0.001).sort_index(), rtol=1e-12, check_exact=False)
    events = ray.get(coordinator.stats.remote())["membership"]
    assert any(e["worker_id"] == victim and e["event"].startswith("lost") for e in events), events
    wait_for(lambda: victim in workers(coordinator), 120, "the killed worker to be started again")


# ------------------------------------------------- `ray job submit` against `rayquant serve`
def test_ray_job_submit_uses_the_running_service(tmp_path):
    """A Ray job attaches to the coordinator of a running `rayquant serve` (no private coordinator or
    workers): the job appears in the service's GET /v1/jobs and its outputs land in the service's
    storage directory, not in the job's own."""
    import json  # noqa: PLC0415
    import re  # noqa: PLC0415
    import signal  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    import httpx  # noqa: PLC0415

    from tests.deployments.test_ray_jobs import VENV_BIN, free_ports, start_head, submit  # noqa: PLC0415

    head = start_head(num_cpus=2, dashboard=True)
    service = None
    log = tmp_path / "serve.log"
    try:
        storage = tmp_path / "service-storage"
        (port,) = free_ports(1)
        env = {**head.env, "RAYQUANT_RAY__ADDRESS": f"127.0.0.1:{head.gcs_port}", "RAYQUANT_STORAGE_DIR": str(storage),
               "RAYQUANT_SERVE__PORT": str(port), "RAYQUANT_SERVE__LIVE_APP": "false",
               "RAYQUANT_DATA__SYNTHETIC_ASSETS": "6", "RAYQUANT_DATA__SYNTHETIC_BARS": "300",
               "RAYQUANT_GPU__SIMULATION__NUM_DEVICES": "1", "RAYQUANT_GPU__DEVICE__HOST_WARMUPS": "false",
               "RAYQUANT_COORDINATOR__CPU_WORKERS": "1"}
        with log.open("w") as fh:
            service = subprocess.Popen([str(VENV_BIN / "rayquant"), "serve", "--no-dashboard"], env=env, stdout=fh,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: service.poll() is None and "ready:" in log.read_text(errors="replace"), 400,
                 "rayquant serve to be ready")
        # The job's own storage setting differs: the attached job must use the service's.
        proc, status = submit(head, tmp_path / "job-storage", ["backtest", "--param", "fast=5", "--param", "slow=20",
                                                              "--fees", "0.001"], "rq-attach",
                              RAYQUANT_RAY__NAMESPACE="rayquant", RAYQUANT_RAY__DETACHED="false")
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
        assert status["status"] == "SUCCEEDED", status
        assert "attached to the running service" in proc.stdout, proc.stdout[-4000:]
        job_id = re.search(r"submitted backtest job ([0-9a-f]{32})", proc.stdout).group(1)
        listed = httpx.get(f"{url}/v1/jobs", timeout=30).json()
        jobs = listed if isinstance(listed, list) else listed.get("jobs", listed.get("items", []))
        assert job_id in [j["job_id"] for j in jobs], listed
        summary = json.loads((storage / "outputs" / f"backtest-{job_id}" / "summary.json").read_text())
        assert summary["state"] == "succeeded" and summary["job_id"] == job_id
        assert not (tmp_path / "job-storage").exists()  # no private coordinator wrote a journal there
    finally:
        if service is not None and service.poll() is None:
            service.send_signal(signal.SIGINT)
            try:
                service.wait(timeout=60)
            except subprocess.TimeoutExpired:
                service.kill()
        head.stop()
