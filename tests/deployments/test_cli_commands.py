"""The `rayquant` backtest and sweep commands as a user types them (subprocesses, no Ray).

Regression tests of issue 12: the README's sweep failed on every input (`--chunk-cells`
parsed as a float), a grid with invalid combinations failed (chunks planned on the raw
product), `--json | head` ended in a BrokenPipeError traceback, and bad requests must
exit 2 with one line.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deployments import cli
from kernels.backtest import sweep
from kernels.data import synthetic_panel

ROOT = Path(__file__).resolve().parents[2]


def rayquant(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "deployments.cli", *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_chunk_cells_is_an_int():
    parser = cli.build_parser()
    args = parser.parse_args(["sweep", "--grid", "window=10"])
    assert args.chunk_cells == 200_000_000 and isinstance(args.chunk_cells, int)
    assert parser.parse_args(["sweep", "--chunk-cells", "2e8"]).chunk_cells == 200_000_000
    for bad in ("0", "-5", "1.5", "abc", "inf"):
        with pytest.raises(SystemExit):
            parser.parse_args(["sweep", "--chunk-cells", bad])


@pytest.mark.slow
def test_readme_sweep_command_matches_the_library():
    """README: ./run sweep --strategy mean_reversion --grid window=10:60:10 --grid entry_z=1.5,2,2.5 --top-k 5"""
    proc = rayquant("sweep", "--strategy", "mean_reversion", "--grid", "window=10:60:10",
                    "--grid", "entry_z=1.5,2,2.5", "--top-k", "5", "--assets", "6", "--bars", "400", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    local = sweep(synthetic_panel(6, 400, seed=0), "mean_reversion",
                  {"window": [10, 20, 30, 40, 50, 60], "entry_z": [1.5, 2.0, 2.5]}, fees=0.0005, slippage=0.0005,
                  top_k=5, backend="cpu")
    assert out["combinations"] == 18
    assert [row["combo_id"] for row in out["top"]] == [int(c) for c in local.top.index]
    assert [row["sharpe"] for row in out["top"]] == pytest.approx(list(local.top["sharpe"]), rel=1e-9)  # to_json keeps 10 digits


@pytest.mark.slow
def test_grid_with_invalid_combinations_is_chunked_over_the_valid_ones():
    """fast=5:50:5 x slow=40,60: fast >= slow is dropped (20 raw, 17 valid); many small chunks."""
    proc = rayquant("sweep", "--grid", "fast=5:50:5", "--grid", "slow=40,60", "--assets", "3", "--bars", "300",
                    "--chunk-cells", "3000", "--top-k", "3", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    local = sweep(synthetic_panel(3, 300, seed=0), "trend_following",
                  {"fast": list(range(5, 51, 5)), "slow": [40, 60]}, fees=0.0005, slippage=0.0005, top_k=3,
                  backend="cpu")
    assert out["combinations"] == len(local.params) == 17 and out["chunks"] > 1
    assert [row["combo_id"] for row in out["top"]] == [int(c) for c in local.top.index]


def test_json_into_head_has_no_traceback():
    proc = subprocess.run(f"{sys.executable} -m deployments.cli backtest --assets 600 --bars 120 "
                          "--param fast=3 --param slow=10 --json | head -2; echo \"rc=${PIPESTATUS[0]}\"", shell=True, cwd=ROOT, capture_output=True,
                          text=True, timeout=120, executable="/bin/bash")
    lines = proc.stdout.splitlines()
    assert lines[0] == "{" and lines[-1] == f"rc={cli.EXIT_BROKEN_PIPE}", proc.stdout
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("argv, message", [
    (["backtest", "--strategy", "nope"], "unknown strategy 'nope'"),
    (["backtest", "--param", "fast=10", "--param", "slow=5000", "--bars", "300", "--assets", "3"],
     "'slow' = 5000 is longer than the data (300 bars)"),
    (["sweep", "--grid", "fast=abc", "--assets", "3", "--bars", "300"], "'fast' must be an int"),
    (["backtest", "--data", "/nonexistent/bars.csv"], "no such file"),
    (["sweep", "--assets", "3"], "give at least one --grid"),
])
def test_bad_requests_exit_2_with_one_line(argv, message):
    proc = rayquant(*argv)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_ray_connection_errors_say_what_to_do():
    from ray.exceptions import AuthenticationError  # noqa: PLC0415

    try:
        try:
            raise AuthenticationError("RPC error: InvalidAuthToken: Authentication token is missing or incorrect.")
        except AuthenticationError as inner:
            raise ConnectionError("Failed to connect to Ray cluster at 10.0.0.1:6379") from inner
    except ConnectionError as exc:
        line = cli.explain_ray_error(exc, "10.0.0.1:6379")
    assert line.startswith("cannot connect to Ray at 10.0.0.1:6379: the cluster requires token authentication")
    assert "export RAY_AUTH_MODE=token" in line and "\n" not in line
    line = cli.explain_ray_error(ConnectionError("ray client connection timeout"), "ray://h:10001")
    assert "Is the cluster up" in line and "RAY_AUTH_MODE=token" in line
    assert cli.explain_ray_error(RuntimeError("boom"), None) == "cannot connect to Ray: RuntimeError: boom"
