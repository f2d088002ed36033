"""Kill and restart: nothing accepted is lost, nothing stored is corrupted, streams do not drift.

One private Ray head (`ray start --head` in its own session: free ports, its own temp dir
and token; see tests/deployments/test_ray_jobs.py), a detached coordinator with a storage
directory of its own, and a mixed workload: backtests and sweeps on the synthetic universe,
an uploaded dataset and a backtest on it, a training job, and a live stream fed from this
process through a `StreamRouter` (what a Serve replica runs). In the middle of it:

1. kill -9 of a worker process (the simulated GPU's, while it runs chunks);
2. kill -9 of the coordinator process (with jobs queued and running, and an upload in flight);
3. kill -9 of every process of the Ray cluster; a new head is started and the coordinator
   is created again on the same storage directory (it recovers its journal).

Then every accepted job must have succeeded with the result of a clean in-process run
(`kernels.backtest.run` / `sweep`, `actors.jobs.plans.train_model`), every acknowledged
upload and model must load and match its content hash (an upload the coordinator kill cuts
into, 200 x 2520 bars, is retried by Ray on the restarted coordinator: then it must be whole;
if it is lost instead, absent or whole), and the stream's features after each fault must equal an
uninterrupted stream's bar for bar. The counts are printed (`pytest -s` shows them).

The driver (the scenario below) runs in a process of its own: Ray keeps the auth token
a process first used, so the driver's environment carries one token that both heads use.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from actors.jobs.plans import train_model  # noqa: E402
from actors.settings import DataConfig, RayConfig, Settings, StreamsConfig  # noqa: E402
from gpu_hal.config import FaultConfig, GpuHalConfig, SimulationConfig  # noqa: E402
from kernels.backtest import run, sweep  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402
from tests.deployments.test_ray_jobs import start_head  # noqa: E402

from tests.conftest import OWN_CLUSTER  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow, OWN_CLUSTER]

ROOT = Path(__file__).resolve().parents[2]
SCENARIO_TIMEOUT_S = 600

ASSETS, BARS = 8, 300
NAMESPACE = "rayquant-killtest"
FEES = 0.0005
JOB_TIMEOUT_S = 240
STREAM_SNAPSHOT_EVERY = 3
CUT_ASSETS, CUT_BARS, CUT_AFTER_S = 200, 2520, 0.3
TRAIN = {"model": "Ridge", "params": {"alpha": 1.0}, "horizon": 3, "task": "regression", "test_fraction": 0.25,
         "features": [{"name": "rsi", "params": {"timeperiod": 14}}, {"name": "roc"}]}


def synthetic():
    return synthetic_panel(ASSETS, BARS, seed=0)


def uploaded(seed: int):
    if seed == -1:  # the upload the coordinator kill cuts into
        return synthetic_panel(CUT_ASSETS, CUT_BARS, seed=40)
    return synthetic_panel(5, 260, seed=seed)


@dataclass
class Accepted:
    kind: str
    payload: dict
    job_id: str
    phase: str


@dataclass
class Ledger:
    jobs: list[Accepted] = field(default_factory=list)
    uploads: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (acked version, seed)
    cut_uploads: dict[str, int] = field(default_factory=dict)  # name -> seed (ack lost to a kill)
    stream_batches: int = 0
    stream_recoveries: int = 0
    kills: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ cluster plumbing
class Cluster:
    """A private head, this process connected to it as a driver, the coordinator on `storage`."""

    def __init__(self, storage, token: str) -> None:
        self.storage = storage
        self.token = token
        self.head = None
        self.coordinator = None
        self.settings = Settings(
            storage_dir=storage,
            data=DataConfig(synthetic_assets=ASSETS, synthetic_bars=BARS),
            ray=RayConfig(namespace=NAMESPACE, detached=True),
            gpu=GpuHalConfig(simulation=SimulationConfig(mode="always", num_devices=1),
                             faults=FaultConfig(enabled=True)),
            streams=StreamsConfig(snapshot_every=STREAM_SNAPSHOT_EVERY, seed_cache=0),
            coordinator={"max_cells_per_chunk": 600, "cpu_workers": 1},
        )

    def start(self) -> None:
        from actors.scheduling.coordinator_actor import get_or_create_coordinator  # noqa: PLC0415

        self.head = start_head(num_cpus=2, dashboard=False, token=self.token)
        ray.init(address=f"127.0.0.1:{self.head.gcs_port}", namespace=NAMESPACE, log_to_driver=False)
        self.coordinator = get_or_create_coordinator(self.settings)
        ray.get(self.coordinator.start.remote(), timeout=300)

    def kill_all(self) -> int:
        """kill -9 of every process of the cluster (the head's session); returns how many."""
        pids = self.head.session_pids() + [self.head.proc.pid]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.head.proc.wait(timeout=30)
        ray.shutdown()
        self.head.stop()  # whatever is left in the session, the temp dir
        return len(pids)

    def stop(self) -> None:
        if ray.is_initialized():
            ray.shutdown()
        if self.head is not None:
            self.head.stop()


def actor_pid(handle) -> int:
    return ray.get(handle.__ray_call__.remote(lambda self: os.getpid()), timeout=60)


def kill9(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)  # a process of this test's own private cluster


def call(cluster: Cluster, method: str, *args, timeout: float = 120):
    """A coordinator call that waits out a restart (the actor comes back; the call is retried)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return ray.get(getattr(cluster.coordinator, method).remote(*args), timeout=60)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError,
                ray.exceptions.ActorUnavailableError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


# ------------------------------------------------------------------------ workload
def submit_mix(cluster: Cluster, ledger: Ledger, phase: str, k: int) -> None:
    """Backtests, a sweep, an upload and a backtest on it, a training job: all acknowledged."""
    name = f"upload_{phase}"
    meta = call(cluster, "register_dataset", name, uploaded(10 + k))
    ledger.uploads[name] = (meta["version"], 10 + k)
    specs = [
        ("backtest", {"dataset": "synthetic", "strategy": "trend_following", "params": {"fast": 3 + k, "slow": 20},
                      "fees": FEES, "slippage": FEES}),
        ("backtest", {"dataset": "synthetic", "strategy": "mean_reversion", "params": {"window": 10 + k},
                      "fees": FEES, "slippage": 0.0}),
        ("sweep", {"dataset": "synthetic", "strategy": "trend_following", "grid": {"fast": [3, 5, 8 + k],
                   "slow": [15, 30]}, "fees": FEES, "slippage": FEES, "top_k": 3, "rank_by": "sharpe"}),
        ("backtest", {"dataset": name, "strategy": "trend_following", "params": {"fast": 4, "slow": 16},
                      "fees": FEES, "slippage": FEES}),
        ("train", {"dataset": "synthetic", "symbols": None, "name": f"model_{phase}", **TRAIN}),
    ]
    for kind, payload in specs:
        job_id = call(cluster, "submit", kind, payload, "LOW", "default")  # shared names: plain
        ledger.jobs.append(Accepted(kind, payload, job_id, phase))


def expected_result(job: Accepted, ledger: Ledger):
    p = job.payload
    panel = synthetic() if p["dataset"] == "synthetic" else uploaded(ledger.uploads[p["dataset"]][1])
    if job.kind == "backtest":
        return run(panel, p["strategy"], p["params"], fees=p["fees"], slippage=p["slippage"], backend="cpu")
    if job.kind == "sweep":
        return sweep(panel, p["strategy"], p["grid"], fees=p["fees"], slippage=p["slippage"], top_k=p["top_k"],
                     rank_by=p["rank_by"], backend="cpu")
    return train_model(panel, p, "cpu")


def check_job(cluster: Cluster, job: Accepted, ledger: Ledger) -> None:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while True:
        status = call(cluster, "wait", job.job_id, 5.0)
        if status["state"] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            break
    assert status["state"] == "succeeded", (job, status)
    got = call(cluster, "result", job.job_id)
    want = expected_result(job, ledger)
    if job.kind == "backtest":
        pd.testing.assert_frame_equal(got.metrics, want.metrics, rtol=1e-9)
        np.testing.assert_allclose(got.portfolio_equity, want.portfolio_equity, rtol=1e-9)
    elif job.kind == "sweep":
        pd.testing.assert_frame_equal(got.portfolio_metrics, want.portfolio_metrics, rtol=1e-9)
        assert list(got.top.index) == list(want.top.index)
    else:
        record = got.record
        assert record["name"] == job.payload["name"], record
        for key, value in want.metrics.items():
            assert record["metrics"][key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def check_stored(cluster: Cluster, ledger: Ledger) -> tuple[int, int]:
    """Acknowledged uploads and models load and match their hashes; a cut-off upload is absent or whole."""
    from actors.datasets import DatasetStore, content_version  # noqa: PLC0415
    from actors.models.registry import ModelRegistry  # noqa: PLC0415

    store = DatasetStore(cluster.storage)
    listed = {d["name"]: d for d in call(cluster, "list_datasets")}
    for name, (version, seed) in ledger.uploads.items():
        assert listed[name]["version"] == version
        meta, panel = store.load(name)
        assert meta.version == version == content_version(panel)
        np.testing.assert_array_equal(panel.close, uploaded(seed).close)
    for name in ledger.cut_uploads:
        if name in listed:  # the write finished before the kill: then it is whole
            meta, panel = store.load(name)
            assert meta.version == content_version(panel)
    registry = ModelRegistry(cluster.storage)
    models = [j.payload["name"] for j in ledger.jobs if j.kind == "train"]
    for name in models:
        model, record = registry.load(name)  # verifies the sha256 of the stored model
        rows = np.zeros((2, record.n_features))
        assert np.isfinite(model.predict(rows)).all()
    return len(ledger.uploads), len(models)


class Stream:
    """A live stream fed from this process, checked against an uninterrupted reference."""

    def __init__(self, cluster: Cluster) -> None:
        from actors.live.router import LiveRouter  # noqa: PLC0415
        from actors.streams.registry import StreamRegistry, StreamSpec  # noqa: PLC0415
        from actors.streams.router import StreamRouter  # noqa: PLC0415

        self.loop = asyncio.new_event_loop()
        self.router = StreamRouter(LiveRouter(cluster.coordinator, ttl_s=0.0), cluster.settings.streams)
        self.reference = StreamRegistry(StreamsConfig(seed_cache=0))
        self.reference.open(StreamSpec.build("ref", "synthetic", "v"), synthetic())
        self.id = self.loop.run_until_complete(self.router.open("synthetic"))["stream_id"]
        self.rng = np.random.default_rng(11)
        self.close = synthetic().close[-1].copy()
        self.t = synthetic().index[-1]
        self.batches = 0

    def rebind(self, cluster: Cluster) -> None:
        """After the whole cluster restarted: the replica's router reaches the new coordinator."""
        from actors.live.router import LiveRouter  # noqa: PLC0415

        self.router.live = LiveRouter(cluster.coordinator, ttl_s=0.0)

    def push(self, n: int, ledger: Ledger) -> None:
        from actors.streams.registry import TickBatch  # noqa: PLC0415
        from kernels.indicators.stream import OUTPUTS  # noqa: PLC0415

        symbols = list(synthetic().symbols)
        for _ in range(n):
            self.close = self.close * np.exp(self.rng.normal(0.0, 0.01, self.close.size))
            self.t = self.t + np.timedelta64(1, "D")
            batch = TickBatch.from_columns({
                "symbol": symbols, "time": [int(np.datetime64(self.t, "ns").astype(np.int64))] * len(symbols),
                "open": self.close.tolist(), "high": (self.close * 1.01).tolist(), "low": (self.close * 0.99).tolist(),
                "close": self.close.tolist(), "volume": [1e6] * len(symbols)})
            got = self.loop.run_until_complete(self.router.push(self.id, batch))
            want = self.reference.push("ref", batch).features
            for name in OUTPUTS:
                np.testing.assert_array_equal(got.result.features[name], want[name], err_msg=name)
            ledger.stream_recoveries += int(got.recovered)
            self.batches += 1
            ledger.stream_batches += 1


# ---------------------------------------------------------------------------- test
def scenario(storage: str, token: str) -> str:
    """The three kills and the checks; returns the summary line (raises on any loss or drift)."""
    cluster = Cluster(Path(storage), token)
    try:
        cluster.start()
        return _scenario(cluster)
    finally:
        cluster.stop()


def _scenario(cluster: Cluster) -> str:
    ledger = Ledger()
    started = time.monotonic()
    stream = Stream(cluster)
    stream.push(4, ledger)

    # 1. kill -9 of the simulated GPU worker while it runs chunks (slowed down so that it is busy)
    worker = call(cluster, "worker_handle", "simgpu-0")
    ray.get(cluster.coordinator.inject_fault.remote("simgpu-0", "slow_down", seconds=0.2), timeout=60)
    submit_mix(cluster, ledger, "worker", 0)
    time.sleep(1.0)
    kill9(actor_pid(worker))
    ledger.kills.append("worker simgpu-0")
    stream.push(4, ledger)  # the stream's worker died: restored from its snapshot, replayed
    for job in [j for j in ledger.jobs if j.phase == "worker"]:
        check_job(cluster, job, ledger)

    # 2. kill -9 of the coordinator with jobs queued and running and an upload in flight
    submit_mix(cluster, ledger, "coordinator", 1)
    pid = actor_pid(cluster.coordinator)
    big = synthetic_panel(CUT_ASSETS, CUT_BARS, seed=40)  # its write takes a while: the kill lands in it
    cut = cluster.coordinator.register_dataset.remote("upload_cut", big)
    time.sleep(CUT_AFTER_S)
    kill9(pid)
    ledger.kills.append("coordinator")
    try:
        meta = ray.get(cut, timeout=120)  # retried by Ray on the restarted coordinator, or lost
        ledger.uploads["upload_cut"] = (meta["version"], -1)
    except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError, ray.exceptions.GetTimeoutError):
        ledger.cut_uploads["upload_cut"] = -1
    stream.push(3, ledger)  # live work does not go through the coordinator
    for job in [j for j in ledger.jobs if j.phase == "coordinator"]:
        check_job(cluster, job, ledger)

    # 3. kill -9 of the whole cluster mid-workload; a new cluster on the same storage directory
    submit_mix(cluster, ledger, "cluster", 2)
    time.sleep(0.5)
    n_killed = cluster.kill_all()
    ledger.kills.append(f"whole cluster ({n_killed} processes)")
    cluster.start()
    stream.rebind(cluster)
    stream.push(4, ledger)
    for job in ledger.jobs:  # every job of every phase, read back from the new cluster
        check_job(cluster, job, ledger)
    n_uploads, n_models = check_stored(cluster, ledger)
    assert ledger.stream_recoveries >= 2  # the worker kill and the cluster restart

    return (f"kill/restart: kills={ledger.kills}; accepted jobs={len(ledger.jobs)} "
          f"(by kind {pd.Series([j.kind for j in ledger.jobs]).value_counts().to_dict()}), all succeeded with the "
          f"clean-run result, lost=0; acknowledged uploads verified={n_uploads}, cut-off uploads "
          f"{len(ledger.cut_uploads)} (absent or whole); models hash-checked={n_models}; stream batches="
          f"{ledger.stream_batches}, recoveries={ledger.stream_recoveries}, drift=0; "
          f"{time.monotonic() - started:.0f} s")


def test_kill_and_restart_loses_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "RAYQUANT_"))}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32), RAY_USAGE_STATS_ENABLED="0",
               PYTHONUNBUFFERED="1", GRPC_ENABLE_FORK_SUPPORT="false", RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0")
    code = ("import sys; from tests.integration.test_kill_restart import scenario; "
            f"print(scenario({str(tmp_path / 'storage')!r}, sys.argv[1]))")
    proc = subprocess.run([sys.executable, "-c", code, env["RAY_AUTH_TOKEN"]], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=SCENARIO_TIMEOUT_S)
    summary = [ln for ln in proc.stdout.splitlines() if ln.startswith("kill/restart:")]
    assert proc.returncode == 0 and summary, f"rc={proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    print("\n" + summary[0])
