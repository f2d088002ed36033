"""Orders-engine sweeps as jobs (issue 13): the request model (`SweepCreate` with the order
options of backtests, group_by, cash_sharing, order-option grid values), the submit-time
checks against the dataset (`validate_against_panel`: group labels vs the job's symbols),
the plan (one chunk, groups never split) and the chunk run, equal to `kernels.backtest.sweep`."""
from __future__ import annotations

import pandas.testing as pdt
import pytest
from pydantic import ValidationError

from actors.jobs.plans import (
    JobSpecError,
    execute_chunk,
    job_panel,
    merge_partials,
    plan_job,
    sweep_grid,
    validate_against_panel,
)
from deployments.http.schemas import SweepCreate
from kernels.backtest import sweep
from kernels.data import synthetic_panel

PANEL = synthetic_panel(4, 200, seed=5)
BASE = {"strategy": "trend_following", "grid": {"fast": [5, 10], "slow": [30], "sl_stop": [0.05, 0.1]},
        "engine": "orders"}


def _payload(**change):
    return SweepCreate(**{**BASE, **change}).payload()


def _loc(**change) -> tuple:
    with pytest.raises(ValidationError) as info:
        SweepCreate(**{**BASE, **change})
    return info.value.errors()[0]["loc"]


@pytest.mark.parametrize("change,loc", [
    ({"grid": {"fast": [5], "sl_stop": [0.05, 0.1, -1.0]}}, ("grid", "sl_stop", 2)),
    ({"grid": {"fast": [5], "tp_stop": [0.1, "x"]}}, ("grid", "tp_stop", 1)),
    ({"grid": {"fast": [5], "size": [1.0, 0.0]}}, ("grid", "size", 1)),
    ({"grid": {"fast": [5], "size_type": ["value", "shares"]}}, ("grid", "size_type", 1)),
    ({"grid": {"fast": [5], "sl_trail": [True, 1]}}, ("grid", "sl_trail", 1)),
    ({"sl_stop": 0.2}, ("grid", "sl_stop")),  # both swept and fixed
    ({"grid": {"fast": [5], "size": [2.0]}, "size_type": "percent"}, ("grid",)),
    ({"direction": "both"}, ("direction",)),
    ({"init_cash": -1.0}, ("init_cash",)),
    ({"cash_sharing": True}, ("cash_sharing",)),
    ({"engine": "returns", "grid": {"fast": [5]}, "group_by": True}, ("group_by",)),
    ({"group_by": ["a", ""]}, ("group_by",)),
    ({"rank_by": "no_such_metric"}, ("rank_by",)),
])
def test_bad_sweep_requests_name_the_field(change, loc):
    assert _loc(**change) == loc


def test_order_grid_payload_runs_on_the_orders_engine():
    body = SweepCreate(strategy="trend_following", grid={"fast": [5], "tp_stop": [0.1, 0.2]}, rank_by="profit_factor")
    assert body.payload()["engine"] == "orders" and body.n_combinations == 2
    returns = SweepCreate(strategy="trend_following", grid={"fast": [5], "slow": [30]}).payload()
    assert "engine" not in returns and "group_by" not in returns  # returns-engine payloads as before
    fixed = _payload(tp_stop=0.2, size=0.5, size_type="percent", init_cash=1000.0)
    assert sweep_grid(fixed) == {**BASE["grid"], "size": [0.5], "size_type": ["percent"], "tp_stop": [0.2]}


@pytest.mark.parametrize("change,match", [
    ({"group_by": ["a", "a", "b"]}, r"group_by: give one group label per symbol of the job \(4\), got 3"),
    ({"group_by": ["a", "b", "a", "b"]}, "group_by labels must keep each group's columns next to each other"),
    ({"symbols": ["S0000", "S0001"], "group_by": ["a", "a", "b", "b"]}, r"per symbol of the job \(2\), got 4"),
    ({"grid": {"fast": [5], "slow": [500], "sl_stop": [0.1]}}, "'slow' = 500 is longer than the data"),
])
def test_checks_against_the_dataset(change, match):
    payload = _payload(**change)
    with pytest.raises(ValueError, match=match):
        validate_against_panel("sweep", payload, PANEL)


def test_direction_and_unknown_engine_in_a_payload_are_refused():
    with pytest.raises(JobSpecError, match="^direction"):
        validate_against_panel("sweep", {**_payload(), "direction": "both"}, PANEL)
    with pytest.raises(JobSpecError, match="^engine"):
        validate_against_panel("sweep", {**_payload(), "engine": "vector"}, PANEL)


@pytest.mark.parametrize("groups", [None, True, ["x", "x", "y", "y"]])
def test_chunk_run_equals_kernels_sweep(groups):
    cash_sharing = groups is not None and groups is not True
    payload = _payload(tp_stop=0.2, init_cash=1000.0, fixed_fees=0.5, fees=0.001, top_k=3,
                       rank_by="total_return", **({"group_by": groups, "cash_sharing": cash_sharing}
                                                  if groups is not None else {}))
    facts = validate_against_panel("sweep", payload, PANEL)
    assert facts["n_combinations"] == 4
    chunks = plan_job("sweep", payload, PANEL.n_bars, PANEL.n_assets, max_cells=10)  # tiny: still one chunk
    assert [(c.assets, c.combos) for c in chunks] == [((0, 4), (0, 4))]
    sub = job_panel(PANEL, payload)
    got = merge_partials("sweep", [execute_chunk("sweep", payload, sub, c, "cpu") for c in chunks])
    want = sweep(PANEL, "trend_following", {**BASE["grid"], "tp_stop": [0.2]}, fees=0.001, top_k=3,
                 rank_by="total_return", backend="cpu", engine="orders", init_cash=1000.0, fixed_fees=0.5,
                 **({"group_by": groups, "cash_sharing": cash_sharing} if groups is not None else {}))
    pdt.assert_frame_equal(got.asset_metrics, want.asset_metrics)
    pdt.assert_frame_equal(got.portfolio_metrics, want.portfolio_metrics)
    pdt.assert_frame_equal(got.top, want.top)
    assert got.asset_metrics.index.names[-1] == ("symbol" if groups is None else "group")


@pytest.mark.gpu
@pytest.mark.parametrize("groups", [None, ["x", "x", "y", "y"]])
def test_gpu_chunk_equals_cpu(groups):
    """A GPU worker's chunk of an orders sweep (backend "gpu") equals the CPU one (float64; the kernel
    tests' tolerance). Skipped without CuPy and a device: bench/device/backtest/gpu_sweep_order_options.sh runs it."""
    extra = {"group_by": groups, "cash_sharing": True} if groups else {}
    payload = _payload(tp_stop=0.2, init_cash=1000.0, fees=0.001, **extra)
    chunk = plan_job("sweep", payload, PANEL.n_bars, PANEL.n_assets, max_cells=1e9)[0]
    cpu = execute_chunk("sweep", payload, PANEL, chunk, "cpu")
    gpu = execute_chunk("sweep", payload, PANEL, chunk, "gpu")
    assert gpu.backend == "gpu"
    pdt.assert_frame_equal(gpu.asset_metrics, cpu.asset_metrics, check_exact=False, rtol=1e-10, atol=0)
    pdt.assert_frame_equal(gpu.portfolio_metrics, cpu.portfolio_metrics, check_exact=False, rtol=1e-10, atol=0)
