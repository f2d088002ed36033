"""README's first command: `./run demo` runs `rayquant demo`, which must finish (exit 0).

The demo starts its own local Ray, the coordinator and Serve, drives the HTTP API
(a backtest, a sweep, features), prints the results and the URLs, and shuts down.
Here it runs as a subprocess exactly as `./run demo` does, on a smaller universe
and a free port.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray")

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT_S = 420


def test_rayquant_demo_runs_to_completion(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAYQUANT_RAY__ADDRESS", "RAYQUANT_CONFIG")}
    env["PYTHONUNBUFFERED"] = "1"
    cmd = [sys.executable, "-m", "deployments.cli", "demo", "--assets", "12", "--bars", "400", "--port", "0",
           "--storage", str(tmp_path / "storage")]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=DEMO_TIMEOUT_S)
    out = proc.stdout
    assert proc.returncode == 0, f"rc={proc.returncode}\nstdout:\n{out[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
    for needle in ("API docs:", "/docs", "Ray dashboard:", "POST /v1/backtests?wait=true", "portfolio",
                   "POST /v1/sweeps?wait=true", "sharpe", "POST /v1/features", "rsi", "POST /v1/ticks", "roc", "demo finished", "done"):
        assert needle in out, f"{needle!r} missing from the demo output:\n{out[-4000:]}"
    assert "Traceback" not in out
    assert (tmp_path / "storage" / "jobs.sqlite3").exists()  # it really went through the coordinator's journal
