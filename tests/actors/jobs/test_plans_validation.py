"""Submit-time checks that need the dataset (`validate_against_panel`) and sweep planning
on the valid combinations (issue 12): each case here was an accepted job that failed."""
from __future__ import annotations

import pytest

from actors.jobs.plans import JobSpecError, plan_job, sweep_combinations, validate_against_panel
from kernels.backtest import sweep
from kernels.data import synthetic_panel

PANEL = synthetic_panel(6, 300, seed=3)
MA_GRID = {"fast": list(range(5, 51, 5)), "slow": [40, 60]}  # fast=5:50:5, slow=40,60: some fast >= slow


def test_sweep_is_planned_on_valid_combinations():
    payload = {"strategy": "trend_following", "grid": MA_GRID}
    n_valid, n_dropped = sweep_combinations(payload, PANEL.n_bars)
    direct = sweep(PANEL, "trend_following", MA_GRID, backend="cpu")
    assert (n_valid, n_dropped) == (len(direct.params), direct.n_dropped) == (17, 3)
    chunks = plan_job("sweep", payload, PANEL.n_bars, PANEL.n_assets, PANEL.n_bars * PANEL.n_assets * 4)
    covered = [i for c in chunks for i in range(*c.combos)]
    assert covered == list(range(n_valid))  # never past the survivors (was: range(0, 20) outside 0..17)
    facts = validate_against_panel("sweep", payload, PANEL)
    assert facts["n_combinations"] == 17 and facts["n_dropped"] == 3


@pytest.mark.parametrize("value", [-3, "abc", 10**12, True, 2.5])
def test_every_grid_value_is_validated(value):
    with pytest.raises(ValueError, match="parameter 'fast'"):
        validate_against_panel("sweep", {"strategy": "trend_following", "grid": {"fast": [5, value, 10],
                                                                                  "slow": [40]}}, PANEL)


@pytest.mark.parametrize("params,match", [
    ({"fast": 10, "slow": 5000}, r"'slow' = 5000 is longer than the data \(300 bars\)"),
    ({"fast": 2**63, "slow": 50}, "'fast'"),
    ({"fast": True, "slow": 50}, "'fast' must be an int"),
])
def test_backtest_windows_against_the_bars(params, match):
    with pytest.raises(ValueError, match=match):
        validate_against_panel("backtest", {"strategy": "trend_following", "params": params}, PANEL)


def test_unknown_symbols_message_is_not_quoted_twice():
    with pytest.raises(JobSpecError) as err:
        validate_against_panel("backtest", {"strategy": "trend_following", "symbols": ["TSLA"]}, PANEL)
    assert str(err.value) == "unknown symbols: ['TSLA']"


@pytest.mark.parametrize("change,match", [
    ({"horizon": 10_000}, "horizon 10000 is not shorter than the data"),
    ({"test_fraction": 0.999999}, "test_fraction"),
    ({"test_fraction": 1.5}, "test_fraction must lie in"),
    ({"features": [{"name": "rsi", "params": {"timeperiod": 5000}}]}, r"features\[0\].params.timeperiod"),
])
def test_training_checks(change, match):
    payload = {"model": "Ridge", "features": [{"name": "rsi", "params": {"timeperiod": 14}}], "horizon": 5,
               **change}
    with pytest.raises(ValueError, match=match):
        validate_against_panel("train", payload, PANEL)


def test_valid_jobs_pass_and_report_their_size():
    assert validate_against_panel("backtest", {"strategy": "trend_following", "params": {"fast": 5, "slow": 20}},
                                  PANEL) == {"n_bars": 300, "n_assets": 6}
    validate_against_panel("train", {"model": "Ridge", "features": [{"name": "rsi"}], "horizon": 5,
                                     "test_fraction": 0.2}, PANEL)
    validate_against_panel("features", {"indicators": [{"name": "rsi"}], "window": 300}, PANEL)
    with pytest.raises(ValueError, match="window 301 is longer"):
        validate_against_panel("features", {"indicators": [{"name": "rsi"}], "window": 301}, PANEL)


def test_memory_quota():
    with pytest.raises(ValueError, match="memory quota"):
        validate_against_panel("backtest", {"strategy": "trend_following"}, PANEL, max_panel_bytes=1000)
