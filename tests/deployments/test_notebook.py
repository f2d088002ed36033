"""examples/quickstart.ipynb runs top to bottom (nbclient) against a real head node
through the Ray Client, and its numbers match a local sweep and backtest."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kernels.backtest import run, sweep
from kernels.data import synthetic_panel

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "quickstart.ipynb"
ASSETS, BARS = 6, 300
GRID = {"fast": [5, 10, 15, 20], "slow": [30, 50, 80, 120]}  # the notebook's
COSTS = {"fees": 0.0005, "slippage": 0.0005}
# Ray Client's proxier can lose a freshly forked specific server (ray-project/ray#63202).
KNOWN_CLIENT_FLAKE = "Starting Ray client server failed"
ATTEMPTS = 3


def test_notebook_is_clean_and_valid():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "commit the notebook without outputs"
    source = "\n".join(c.source for c in code)
    assert "from actors.client import connect" in source and "ray://127.0.0.1:10001" in source


def execute(env: dict[str, str], cwd: Path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=240, startup_timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(cwd)}})
    client.execute(env=env)
    return nb


@pytest.mark.ray
@pytest.mark.slow
def test_quickstart_runs_against_a_head_node(tmp_path, ray_head):
    head = ray_head  # shared with test_ray_jobs (tests/deployments/conftest.py)
    env = {
        **head.env,
        "RAYQUANT_RAY__ADDRESS": head.client_address,
        "RAYQUANT_RAY__NAMESPACE": "rayquant-notebook-test",
        "RAYQUANT_STORAGE_DIR": str(tmp_path / "storage"),
        "RAYQUANT_DATA__SYNTHETIC_ASSETS": str(ASSETS),
        "RAYQUANT_DATA__SYNTHETIC_BARS": str(BARS),
        "RAYQUANT_GPU__SIMULATION__NUM_DEVICES": "1",
        "RAYQUANT_COORDINATOR__CPU_WORKERS": "1",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    for attempt in range(1, ATTEMPTS + 1):
        try:
            nb = execute(env, tmp_path)
            break
        except Exception as exc:  # noqa: BLE001 - re-raised with the head's logs
            if attempt < ATTEMPTS and KNOWN_CLIENT_FLAKE in str(exc):
                continue  # the upstream flake only
            raise AssertionError(f"notebook failed (attempt {attempt}): {exc}\n{head.diagnostics()}") from exc

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert len(images) == 4, "expected the heat map, the equity curves and the best run's two plots"
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "bars 2010-01-04" in text  # results over HTTP/Ray keep their timestamps (RunResult's repr)
    assert f"{len(GRID['fast']) * len(GRID['slow'])} combinations" in text
    summary = json.loads([line for line in text.splitlines() if line.startswith('{"best_combo"')][-1])

    panel = synthetic_panel(ASSETS, BARS, seed=0)
    local = sweep(panel, "trend_following", GRID, top_k=3, rank_by="sharpe", backend="cpu", **COSTS)
    best = int(local.top.index[0])
    assert summary["best_combo"] == best
    assert summary["sweep_sharpe"] == pytest.approx(float(local.top.loc[best, "sharpe"]), rel=1e-9)
    expected = run(panel, "trend_following", local.combo(best), backend="cpu", **COSTS).portfolio
    assert summary["backtest_sharpe"] == pytest.approx(float(expected["sharpe"]), rel=1e-9)
    assert summary["backtest_total_return"] == pytest.approx(float(expected["total_return"]), rel=1e-9)
    assert np.isfinite(summary["backtest_sharpe"])
