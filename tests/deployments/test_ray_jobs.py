"""Batch jobs: `deployments.jobs` in-process (argument checks, outputs, exit codes with a
fake client) and through a real `ray job submit` to a real `ray start --head` node.

The head node is started here with `ray start --head --block` in its own session,
with its own short temp dir (so `ray.init()` elsewhere on this machine never finds
it), pinned free ports and its own auth token. It is stopped by signalling that one
process (Ray's graceful shutdown), then anything left in its session is killed by
pid. `ray stop` is not used: it stops every Ray process of the machine, including
clusters that other tests (or people) run at the same time.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deployments import jobs
from kernels.backtest import run, sweep
from kernels.data import synthetic_panel

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
RAY_CLI = shutil.which("ray", path=str(VENV_BIN)) or shutil.which("ray")
NO_RAY_CLI = "the `ray` command line is not installed next to this interpreter or on PATH"
# Never uploaded with --working-dir (Ray also honours .gitignore).
WORKING_DIR_EXCLUDES = [".venv", ".git", "__pycache__", ".rayquant", "bench/results", ".whl", ".whl-*",
                        "*.egg-info", ".pytest_cache", "storage"]
ASSETS, BARS = 6, 300


# ------------------------------------------------------------------ a real head node
def free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on 127.0.0.1 (held together while choosing)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class RayHead:
    """One `ray start --head --block` process and what clients need to reach it."""

    proc: subprocess.Popen
    temp_dir: Path
    log_path: Path
    gcs_port: int
    dashboard_port: int | None
    client_port: int
    env: dict[str, str] = field(default_factory=dict)

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def client_address(self) -> str:
        return f"ray://127.0.0.1:{self.client_port}"

    @property
    def token(self) -> str:
        """The cluster's token: RAY_AUTH_TOKEN, or the default file of the head's HOME."""
        if self.env.get("RAY_AUTH_TOKEN"):
            return self.env["RAY_AUTH_TOKEN"]
        return (Path(self.env["HOME"]) / ".ray" / "auth_token").read_text().strip()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def diagnostics(self, patterns: tuple[str, ...] = ("ray_client_server*.err", "raylet.err", "gcs_server.err")) -> str:
        """Tails of the head's log and of its session's logs (for failure messages)."""
        parts = [f"--- ray start log ---\n{self.log()}"]
        logs = self.temp_dir / "session_latest" / "logs"
        for pattern in patterns:
            for path in sorted(logs.glob(pattern)) if logs.is_dir() else []:
                parts.append(f"--- {path.name} ---\n{path.read_text(errors='replace')[-2000:]}")
        return "\n".join(parts)

    def session_pids(self) -> list[int]:
        """Processes of the head's session (it was started with start_new_session)."""
        out = subprocess.run(["ps", "-eo", "pid=,sid="], capture_output=True, text=True, check=True).stdout
        pids = []
        for line in out.splitlines():
            pid, sid = (int(x) for x in line.split())
            if sid == self.proc.pid and pid != os.getpid():
                pids.append(pid)
        return pids

    def stop(self, grace_s: float = 45.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # `ray start --block` drains and stops its processes
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + 10
        while (left := self.session_pids()) and time.monotonic() < deadline:
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)


def _client_env(token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "RAYQUANT_"))}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",  # `python` in job entrypoints is this venv's
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN=token,
        RAY_USAGE_STATS_ENABLED="0",
        # Ray Client's proxier forks specific servers while gRPC is busy (ray-project/ray#63202).
        GRPC_ENABLE_FORK_SUPPORT="false",
        # Stop at once on SIGTERM (no node drain: nothing here needs a graceful handover).
        RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",
        PYTHONUNBUFFERED="1",
    )
    return env


def _wait_ready(head: RayHead, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    token = head.token
    while time.monotonic() < deadline:
        if head.proc.poll() is not None:
            raise RuntimeError(f"ray start exited with {head.proc.returncode}:\n{head.log()}")
        if "block forever" in head.log():
            ready = True
            if head.dashboard_port:
                req = urllib.request.Request(f"{head.dashboard_url}/api/version",
                                             headers={"Authorization": f"Bearer {token}"})
                try:
                    with urllib.request.urlopen(req, timeout=2) as resp:
                        ready = resp.status == 200
                except (urllib.error.URLError, OSError):
                    ready = False
            if ready:
                return
        time.sleep(0.5)
    raise RuntimeError(f"head node not ready after {timeout_s} s:\n{head.log()}")


HEAD_START_ATTEMPTS = 2
SLOW_START = "timed out during startup"  # `ray start` gives its raylet 30 s (fixed); a busy 2-core box can miss it


def start_head(num_cpus: int = 2, dashboard: bool = False, timeout_s: float = 90.0,
               home: Path | None = None, token: str | None = None) -> RayHead:
    """`_start_head`, once more (fresh ports and temp dir) when Ray's fixed 30 s raylet start wait ran out."""
    for attempt in range(1, HEAD_START_ATTEMPTS + 1):
        try:
            return _start_head(num_cpus, dashboard, timeout_s, home, token)
        except RuntimeError as exc:
            if SLOW_START not in str(exc) or attempt == HEAD_START_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _start_head(num_cpus: int, dashboard: bool, timeout_s: float, home: Path | None, token: str | None) -> RayHead:
    """Start a private head node (short temp dir, pinned free ports, its own token).

    With `home`, the token is not in the environment: as on a user's machine, it is the
    default file `<home>/.ray/auth_token` (which must exist), and only RAY_AUTH_MODE is set.
    `token`: this token instead of a fresh one (a driver process keeps the token it first
    used, so a driver that reconnects to a restarted cluster needs the same token).
    """
    if RAY_CLI is None:
        pytest.skip(NO_RAY_CLI)
    temp_dir = Path(tempfile.mkdtemp(prefix="rq", dir="/tmp"))  # short: Unix socket paths are bounded
    log_path = temp_dir.with_suffix(".log")
    ports = free_ports(10)
    gcs, dash, client, agent_http, agent_grpc, metrics, rte, nm, om, _ = ports
    cmd = [
        RAY_CLI, "start", "--head", "--block", "--disable-usage-stats",
        "--node-ip-address=127.0.0.1", f"--temp-dir={temp_dir}", f"--num-cpus={num_cpus}", "--num-gpus=0",
        f"--port={gcs}", f"--ray-client-server-port={client}",
        f"--dashboard-agent-listen-port={agent_http}", f"--dashboard-agent-grpc-port={agent_grpc}",
        f"--metrics-export-port={metrics}", f"--runtime-env-agent-port={rte}",
        f"--node-manager-port={nm}", f"--object-manager-port={om}",
        f"--include-dashboard={'true' if dashboard else 'false'}",
    ]
    if dashboard:
        cmd += ["--dashboard-host=127.0.0.1", f"--dashboard-port={dash}"]
    env = _client_env(token or secrets.token_hex(32))
    if home is not None:
        del env["RAY_AUTH_TOKEN"]
        env["HOME"] = str(home)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                cwd=temp_dir, start_new_session=True)
    head = RayHead(proc, temp_dir, log_path, gcs, dash if dashboard else None, client, env)
    try:
        _wait_ready(head, timeout_s)
    except BaseException:
        head.stop()
        raise
    return head


# ------------------------------------------------------------ in-process: arguments
def parse(*argv: str):
    return jobs.build_parser().parse_args(list(argv))


def test_backtest_request_parses_params_and_symbols():
    kind, payload = jobs.build_request(parse("backtest", "--param", "fast=5", "--param", "slow=20", "--param",
                                             "ma=ema", "--symbols", "S0001,S0003", "--symbols", "S0000"))
    assert kind == "backtest"
    assert payload["params"] == {"fast": 5, "slow": 20, "ma": "ema"}
    assert payload["symbols"] == ["S0001", "S0003", "S0000"]
    assert payload["strategy"] == "trend_following" and payload["dataset"] == "synthetic"


def test_sweep_request_expands_ranges():
    kind, payload = jobs.build_request(parse("sweep", "--grid", "fast=5:15:5", "--grid", "slow=30,60", "--top-k", "3"))
    assert kind == "sweep"
    assert payload["grid"] == {"fast": [5, 10, 15], "slow": [30, 60]}
    assert payload["top_k"] == 3 and payload["rank_by"] == "sharpe"


@pytest.mark.parametrize("argv, message", [
    (("sweep",), "at least one --grid"),
    (("sweep", "--grid", "fast=5,6", "--grid", "fast=7"), "given twice"),
    (("sweep", "--grid", "fast=5", "--top-k", "0"), "--top-k"),
    (("backtest", "--symbols", "A,A"), "twice"),
    (("backtest", "--symbols", ","), "no symbol"),
])
def test_bad_requests_are_refused(argv, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        jobs.build_request(parse(*argv))


def test_priority_is_checked_by_the_parser():
    assert parse("backtest", "--priority", "high").priority == "HIGH"
    with pytest.raises(SystemExit):
        parse("backtest", "--priority", "URGENT")


def test_default_output_dir_stays_under_storage(tmp_path):
    job_id = "0123456789abcdef0123456789abcdef"
    path = jobs.output_dir(None, tmp_path, "sweep", job_id)
    assert path == (tmp_path / "outputs" / f"sweep-{job_id}").resolve()
    for bad in ("../../etc", "0123456789abcdef0123456789abcdeF", "a/b"):
        with pytest.raises(ValueError):
            jobs.output_dir(None, tmp_path, "sweep", bad)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        jobs.output_dir(str(tmp_path / "file"), tmp_path, "sweep", job_id)


def test_outputs_of_a_backtest_and_a_sweep(tmp_path):
    panel = synthetic_panel(4, 200, seed=1)
    res = run(panel, "trend_following", {"fast": 3, "slow": 12}, fees=0.001, backend="cpu")
    status = {"job_id": "ab" * 16, "state": "succeeded", "device": "cpu", "tier": "primary"}
    summary = json.loads(jobs.write_outputs("backtest", res, tmp_path / "bt", status, {"x": 1}, 0.5).read_text())
    assert summary["portfolio"]["sharpe"] == pytest.approx(res.portfolio["sharpe"], rel=1e-12)
    assert set(summary["files"]) == {"metrics.parquet", "metrics.csv", "equity.parquet", "equity.csv"}
    metrics = pd.read_parquet(tmp_path / "bt" / "metrics.parquet").set_index("symbol")
    pd.testing.assert_frame_equal(metrics, res.metrics, check_names=False, rtol=1e-12)
    csv = pd.read_csv(tmp_path / "bt" / "metrics.csv").set_index("symbol")
    pd.testing.assert_frame_equal(csv, res.metrics, check_names=False, check_dtype=False, rtol=1e-12)
    equity = pd.read_parquet(tmp_path / "bt" / "equity.parquet")
    np.testing.assert_allclose(equity["portfolio"], res.portfolio_equity, rtol=1e-12)

    sw = sweep(panel, "trend_following", {"fast": [3, 5], "slow": [12, 20, 30]}, top_k=2, backend="cpu")
    summary = json.loads(jobs.write_outputs("sweep", sw, tmp_path / "sw", status, {}, 0.5).read_text())
    assert summary["combinations"] == 6 and len(summary["top"]) == 2
    table = pd.read_parquet(tmp_path / "sw" / "sweep.parquet").set_index("combo_id")
    assert len(table) == 6 and {"fast", "slow", "sharpe"} <= set(table.columns)
    top = pd.read_csv(tmp_path / "sw" / "top.csv")
    assert list(top["combo_id"]) == [int(c) for c in sw.top.index]
    assert (tmp_path / "sw" / "asset_metrics.parquet").exists()


class FakeClient:
    """Replays statuses; records cancels."""

    def __init__(self, tmp_path, states, submit_error=None):
        from actors.settings import Settings  # noqa: PLC0415

        self.settings = Settings(storage_dir=tmp_path)
        self.states = list(states)
        self.submit_error = submit_error
        self.cancelled = []
        self.error = "boom"
        self.panel = synthetic_panel(3, 120, seed=0)

    def submit(self, kind, payload, priority, tenant):
        if self.submit_error:
            raise self.submit_error
        return "cd" * 16

    def status(self, job_id):
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"job_id": job_id, "state": state, "progress": {"chunks_done": 1, "chunks_total": 2, "fraction": 0.5},
                "device": "simgpu:0", "tier": "primary", "error": self.error if state == "failed" else None}

    def result(self, job_id):
        return run(self.panel, "trend_following", {"fast": 3, "slow": 10}, backend="cpu")

    def cancel(self, job_id):
        self.cancelled.append(job_id)
        return {}


@pytest.fixture
def fake(monkeypatch, tmp_path):
    import actors.client  # noqa: PLC0415

    holder = {}
    monkeypatch.setattr(actors.client, "connect", lambda address=None, settings=None: holder["client"])
    return holder


def test_run_job_success_writes_under_storage(fake, tmp_path, capsys):
    fake["client"] = FakeClient(tmp_path, ["queued", "running", "succeeded"])
    assert jobs.main(["backtest", "--param", "fast=3", "--param", "slow=10", "--poll", "0"]) == jobs.EXIT_OK
    out = capsys.readouterr().out
    assert "queued" in out and "1/2 chunks" in out and "succeeded" in out
    assert (tmp_path / "outputs" / f"backtest-{'cd' * 16}" / "summary.json").exists()


def test_run_job_failure_and_bad_request_exit_codes(fake, tmp_path, capsys):
    fake["client"] = FakeClient(tmp_path, ["running", "failed"])
    assert jobs.main(["backtest", "--poll", "0", "--out", str(tmp_path / "o")]) == jobs.EXIT_JOB_FAILED
    assert "boom" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    fake["client"] = FakeClient(tmp_path, ["running"], submit_error=ValueError("unknown strategy 'nope'"))
    assert jobs.main(["backtest", "--strategy", "nope"]) == jobs.EXIT_USAGE
    assert "unknown strategy 'nope'" in capsys.readouterr().err
    client = fake["client"] = FakeClient(tmp_path, ["running"])
    assert jobs.main(["backtest", "--poll", "0", "--timeout", "0"]) == jobs.EXIT_JOB_FAILED
    assert client.cancelled == ["cd" * 16]
    from actors.scheduling.queues.job_queue import AdmissionRefused  # noqa: PLC0415

    fake["client"] = FakeClient(tmp_path, ["running"], submit_error=AdmissionRefused("tenant queue full", 5.0, "tenant"))
    assert jobs.main(["backtest"]) == jobs.EXIT_JOB_FAILED
    assert "not accepted: tenant queue full (retry after 5 s)" in capsys.readouterr().err


RAY_TASK_TRACEBACK = ("\x1b[36mray::Coordinator.submit()\x1b[39m (pid=123, ip=10.0.0.1, actor_id=abc)\n"
                      "Traceback (most recent call last):\n  File \"/abs/path/actors/jobs/plans.py\", line 9, in check\n"
                      "    raise JobSpecError(msg)\nactors.jobs.plans.JobSpecError: parameter 'slow' = 5000 is longer "
                      "than the data (300 bars)")


def test_errors_are_one_line_without_ansi_or_traceback():
    assert jobs.one_line(RAY_TASK_TRACEBACK) == ("actors.jobs.plans.JobSpecError: parameter 'slow' = 5000 is longer "
                                                 "than the data (300 bars)")
    assert jobs.one_line(KeyError("unknown symbols: ['TSLA']")) == "unknown symbols: ['TSLA']"
    assert jobs.one_line("a\n  b") == "a b" and jobs.one_line(None) == "(no message)"
    assert len(jobs.one_line("x" * 5000)) == jobs.MAX_ERROR_CHARS


def test_bad_requests_exit_2_with_one_line(fake, tmp_path, capsys):
    """Issue 12: a bad request exited 1 with a traceback; docs/cluster.md says exit 2 with a message."""
    from gpu_hal.errors import QuotaExceeded  # noqa: PLC0415

    for error, needle in [(ValueError("bad\nmessage \x1b[31mred\x1b[0m"), "bad message red"),
                          (KeyError("unknown symbols: ['TSLA']"), "unknown symbols: ['TSLA']"),
                          (QuotaExceeded("bob", 10**12, 10**9), "quota")]:
        fake["client"] = FakeClient(tmp_path, ["running"], submit_error=error)
        assert jobs.main(["backtest"]) == jobs.EXIT_USAGE
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err
        assert "\x1b" not in err[0] and '"' not in err[0]
    fake["client"] = FakeClient(tmp_path, ["running"], submit_error=RuntimeError("actor died"))
    assert jobs.main(["backtest"]) == jobs.EXIT_JOB_FAILED
    assert capsys.readouterr().err.strip() == "error: not submitted: RuntimeError: actor died"
    with pytest.raises(SystemExit) as exit_info:
        jobs.main(["sweep", "--priority", "FOO"])
    assert exit_info.value.code == jobs.EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "invalid choice: 'FOO'" in err[0]


def test_failed_job_error_is_one_line(fake, tmp_path, capsys):
    client = fake["client"] = FakeClient(tmp_path, ["running", "failed"])
    client.error = RAY_TASK_TRACEBACK
    assert jobs.main(["backtest", "--poll", "0"]) == jobs.EXIT_JOB_FAILED
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: job {'cd' * 16} failed: actors.jobs.plans.JobSpecError: parameter 'slow' = 5000 is "
                   "longer than the data (300 bars)"]


def test_unreachable_cluster_says_what_to_do(monkeypatch, capsys):
    """Token auth on, RAY_AUTH_MODE not exported: one line naming RAY_AUTH_MODE=token, exit 1."""
    import actors.client  # noqa: PLC0415
    from ray.exceptions import AuthenticationError  # noqa: PLC0415

    def refuse(address=None, settings=None):
        try:
            raise AuthenticationError("RPC error: InvalidAuthToken: Authentication token is missing or incorrect.")
        except AuthenticationError as exc:
            raise ConnectionError("Failed to connect to Ray cluster at 127.0.0.1:6379") from exc

    monkeypatch.setattr(actors.client, "connect", refuse)
    assert jobs.main(["backtest", "--address", "127.0.0.1:6379"]) == jobs.EXIT_JOB_FAILED
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "requires token authentication" in err[0] and "export RAY_AUTH_MODE=token" in err[0]

    def timeout(address=None, settings=None):
        raise ConnectionError("ray client connection timeout")

    monkeypatch.setattr(actors.client, "connect", timeout)
    assert jobs.main(["backtest", "--address", "ray://127.0.0.1:10001"]) == jobs.EXIT_JOB_FAILED
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Is the cluster up" in err[0] and "RAY_AUTH_MODE=token" in err[0]


# --------------------------------------------------------- a real `ray job submit`
@pytest.fixture(scope="module")
def head(ray_head):
    """The head shared with test_notebook (tests/deployments/conftest.py: 2 CPUs, dashboard, token auth)."""
    return ray_head


def submit(head: RayHead, storage: Path, argv: list[str], submission_id: str, timeout_s: float = 240,
           wait: bool = True, **env_vars: str):
    runtime_env = {
        "excludes": WORKING_DIR_EXCLUDES,
        "env_vars": {
            "RAYQUANT_STORAGE_DIR": str(storage),
            "RAYQUANT_DATA__SYNTHETIC_ASSETS": str(ASSETS),
            "RAYQUANT_DATA__SYNTHETIC_BARS": str(BARS),
            "RAYQUANT_RAY__NAMESPACE": "rayquant-jobs-test",
            # As deployed: the first job creates the coordinator, later jobs join it.
            "RAYQUANT_RAY__DETACHED": "true",
            "RAYQUANT_GPU__SIMULATION__NUM_DEVICES": "1",
            "RAYQUANT_GPU__DEVICE__HOST_WARMUPS": "false",
            # Nor the TA-Lib set: the uploaded working dir has no Numba cache (__pycache__ is excluded), so its
            # prewarm compiles 201 functions cold in each worker (CPU-minutes on 2 cores); the jobs use none.
            "RAYQUANT_STREAMS__TALIB_PREWARM": "off",
            "RAYQUANT_COORDINATOR__CPU_WORKERS": "1",
            # Small chunks: the stop test's sweep is still running when it is stopped.
            "RAYQUANT_COORDINATOR__MAX_CELLS_PER_CHUNK": "2000",
            **env_vars,
        },
    }
    cmd = [RAY_CLI, "job", "submit", "--address", head.dashboard_url, "--submission-id", submission_id,
           "--working-dir", str(REPO), "--runtime-env-json", json.dumps(runtime_env),
           *([] if wait else ["--no-wait"]), "--", "python", "-m", "deployments.jobs", *argv]
    proc = subprocess.run(cmd, env=head.env, cwd=REPO, capture_output=True, text=True, timeout=timeout_s)
    return proc, job_info(head, submission_id)


def jobs_api(head: RayHead, path: str) -> dict:
    """GET from the Jobs REST API of the head's dashboard."""
    req = urllib.request.Request(f"{head.dashboard_url}/api/jobs/{path}",
                                 headers={"Authorization": f"Bearer {head.token}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def job_info(head: RayHead, submission_id: str) -> dict:
    """A submission's record (status, message, entrypoint...)."""
    return jobs_api(head, submission_id)


def job_logs(head: RayHead, submission_id: str) -> str:
    return jobs_api(head, f"{submission_id}/logs")["logs"]


@pytest.mark.ray
@pytest.mark.slow
def test_ray_job_submit_backtest_and_sweep(head, tmp_path):
    storage = tmp_path / "storage"
    out = tmp_path / "bt"
    proc, status = submit(head, storage, ["backtest", "--param", "fast=5", "--param", "slow=20", "--fees", "0.001",
                                          "--slippage", "0.0005", "--out", str(out)], "rq-backtest")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert status["status"] == "SUCCEEDED", status
    assert "succeeded" in proc.stdout and "wrote" in proc.stdout  # the driver's progress lines, tailed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["state"] == "succeeded" and summary["kind"] == "backtest"
    assert summary["device"] in ("simgpu:0", "cpu") and summary["assets"] == ASSETS and summary["bars"] == BARS
    expected = run(synthetic_panel(ASSETS, BARS, seed=0), "trend_following", {"fast": 5, "slow": 20},
                   fees=0.001, slippage=0.0005, backend="cpu")
    metrics = pd.read_parquet(out / "metrics.parquet").set_index("symbol")
    pd.testing.assert_frame_equal(metrics, expected.metrics, check_names=False, rtol=1e-9)
    for name, value in expected.portfolio.items():
        got = summary["portfolio"][name]
        assert (got is None and not np.isfinite(value)) or got == pytest.approx(float(value), rel=1e-9), name
    csv = pd.read_csv(out / "metrics.csv").set_index("symbol")
    pd.testing.assert_frame_equal(csv, expected.metrics, check_names=False, check_dtype=False, rtol=1e-9)
    equity = pd.read_parquet(out / "equity.parquet")
    np.testing.assert_allclose(equity["portfolio"], expected.portfolio_equity, rtol=1e-9)

    # A sweep, its outputs in the default place (<storage>/outputs/sweep-<job_id>/).
    proc, status = submit(head, storage, ["sweep", "--grid", "fast=3:9:3", "--grid", "slow=20,40", "--top-k", "3",
                                          "--fees", "0.001"], "rq-sweep")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert status["status"] == "SUCCEEDED", status
    (sweep_out,) = (storage / "outputs").glob("sweep-*")
    summary = json.loads((sweep_out / "summary.json").read_text())
    local = sweep(synthetic_panel(ASSETS, BARS, seed=0), "trend_following", {"fast": [3, 6, 9], "slow": [20, 40]},
                  fees=0.001, slippage=0.0005, top_k=3, backend="cpu")
    assert summary["combinations"] == 6
    assert [row["combo_id"] for row in summary["top"]] == [int(c) for c in local.top.index]
    table = pd.read_parquet(sweep_out / "sweep.parquet").set_index("combo_id")
    np.testing.assert_allclose(table.loc[local.portfolio_metrics.index, "sharpe"],
                               local.portfolio_metrics["sharpe"], rtol=1e-9)


@pytest.mark.ray
@pytest.mark.slow
def test_ray_job_submit_refuses_unknown_strategy(head, tmp_path):
    proc, status = submit(head, tmp_path / "storage", ["backtest", "--strategy", "no_such_strategy"], "rq-bad",
                          timeout_s=180)
    assert proc.returncode != 0
    assert status["status"] == "FAILED", status
    assert "exit code 2" in status["message"], status
    assert "no_such_strategy" in proc.stdout + proc.stderr


@pytest.mark.ray
@pytest.mark.slow
def test_ray_job_stop_cancels_the_coordinator_job(head, tmp_path):
    """`ray job stop` (SIGTERM to the driver): the driver cancels its coordinator job first."""
    sid = "rq-stop"
    # 3939 combinations in chunks of 2000 cells: thousands of chunks.
    proc, _ = submit(head, tmp_path / "storage", ["sweep", "--grid", "fast=2:40:1", "--grid", "slow=50:150:1"],
                     sid, wait=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    deadline = time.monotonic() + 120
    while "chunks" not in job_logs(head, sid):
        assert job_info(head, sid)["status"] in ("PENDING", "RUNNING"), job_logs(head, sid)
        assert time.monotonic() < deadline, job_logs(head, sid)
        time.sleep(0.5)
    stop = subprocess.run([RAY_CLI, "job", "stop", "--address", head.dashboard_url, sid], env=head.env,
                          capture_output=True, text=True, timeout=120)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    deadline = time.monotonic() + 60
    while job_info(head, sid)["status"] not in ("STOPPED", "FAILED", "SUCCEEDED"):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert job_info(head, sid)["status"] == "STOPPED"
    assert re.search(r"interrupted: cancelling job [0-9a-f]{32}", job_logs(head, sid)), job_logs(head, sid)


@pytest.mark.ray
@pytest.mark.slow
def test_example_sweep_job_script(head, tmp_path):
    """examples/sweep_job.py (coarse sweep, fine sweep, final backtest) as a Ray job."""
    out = tmp_path / "refine"
    runtime_env = {"excludes": WORKING_DIR_EXCLUDES, "env_vars": {
        "RAYQUANT_STORAGE_DIR": str(tmp_path / "storage"), "RAYQUANT_DATA__SYNTHETIC_ASSETS": str(ASSETS),
        "RAYQUANT_DATA__SYNTHETIC_BARS": str(BARS), "RAYQUANT_RAY__NAMESPACE": "rayquant-jobs-test",
        "RAYQUANT_RAY__DETACHED": "true"}}
    cmd = [RAY_CLI, "job", "submit", "--address", head.dashboard_url, "--submission-id", "rq-example",
           "--working-dir", str(REPO), "--runtime-env-json", json.dumps(runtime_env), "--",
           "python", "examples/sweep_job.py", "--fast", "3:9:3", "--slow", "20:40:10", "--out", str(out)]
    proc = subprocess.run(cmd, env=head.env, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert job_info(head, "rq-example")["status"] == "SUCCEEDED"
    summary = json.loads((out / "summary.json").read_text())
    panel = synthetic_panel(ASSETS, BARS, seed=0)
    costs = {"fees": 0.0005, "slippage": 0.0005}
    coarse = sweep(panel, "trend_following", {"fast": [3, 6, 9], "slow": [20, 30, 40]}, top_k=5, backend="cpu", **costs)
    assert summary["coarse_best"] == coarse.combo(int(coarse.top.index[0]))
    fine = sweep(panel, "trend_following", summary["fine_grid"], top_k=5, backend="cpu", **costs)
    assert summary["winner"] == fine.combo(int(fine.top.index[0]))
    expected = run(panel, "trend_following", summary["winner"], backend="cpu", **costs).portfolio
    assert summary["portfolio"]["sharpe"] == pytest.approx(float(expected["sharpe"]), rel=1e-9)
    assert (out / "coarse_top.csv").exists() and (out / "fine_top.csv").exists()


@pytest.mark.ray
@pytest.mark.slow
def test_one_machine_recipe_with_token_auth(tmp_path):
    """docs/cluster.md's one-machine recipe on a machine where Ray has run before (a token in
    ~/.ray/auth_token), on free ports: with RAY_AUTH_MODE=token exported (the recipe) a job is
    submitted; without it, `deployments.jobs` exits 1 with one line that names the fix."""
    if RAY_CLI is None:
        pytest.skip(NO_RAY_CLI)
    home = tmp_path / "home"
    home.mkdir()
    env = {**_client_env("unused"), "HOME": str(home)}
    del env["RAY_AUTH_TOKEN"]
    gen = subprocess.run([RAY_CLI, "get-auth-token", "--generate"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert gen.returncode == 0 and (home / ".ray" / "auth_token").exists(), gen.stderr
    head = start_head(num_cpus=1, dashboard=True, home=home)
    try:
        proc = subprocess.run([RAY_CLI, "job", "submit", "--address", head.dashboard_url, "--",
                               "python", "-c", "print('recipe-ok')"], env=head.env, capture_output=True, text=True,
                              timeout=180)
        assert proc.returncode == 0 and "recipe-ok" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
        no_mode = {k: v for k, v in head.env.items() if k != "RAY_AUTH_MODE"}
        no_mode["RAY_py_gcs_connect_timeout_s"] = "5"  # the refusal is certain: do not retry for 60 s
        proc = subprocess.run([sys.executable, "-m", "deployments.jobs", "backtest", "--address",
                               f"127.0.0.1:{head.gcs_port}"], env=no_mode, cwd=REPO, capture_output=True, text=True,
                              timeout=180)
        assert proc.returncode == jobs.EXIT_JOB_FAILED, proc.stdout[-2000:] + proc.stderr[-3000:]
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and "export RAY_AUTH_MODE=token" in errors[0], proc.stderr[-3000:]
        assert "Traceback" not in proc.stderr
    finally:
        head.stop()
