"""`rayquant sweep` with the orders engine's options (issue 13): `--engine orders`, `--order
NAME=VALUE` (fixed stops and sizes become one-value grid keys), `--group-by`, `--cash-sharing`;
the top-k equals `kernels.backtest.sweep`, bad options exit 2 naming them. In-process (no Ray)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from deployments.cli import main
from kernels.backtest import sweep
from kernels.data import synthetic_panel

ARGS = ["sweep", "--assets", "4", "--bars", "250", "--seed", "3", "--backend", "cpu", "--fees", "0.001",
        "--slippage", "0", "--grid", "fast=5,10", "--grid", "slow=30", "--grid", "sl_stop=0.05,0.1", "--top-k", "3",
        "--rank-by", "total_return", "--order", "init_cash=1000", "--order", "tp_stop=0.2"]


def test_order_sweep_top_equals_the_library(capsys):
    assert main([*ARGS, "--group-by", "a,a,b,b", "--cash-sharing", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    want = sweep(synthetic_panel(4, 250, seed=3), "trend_following",
                 {"fast": [5, 10], "slow": [30], "sl_stop": [0.05, 0.1], "tp_stop": [0.2]}, fees=0.001, top_k=3,
                 rank_by="total_return", backend="cpu", engine="orders", init_cash=1000.0,
                 group_by=["a", "a", "b", "b"], cash_sharing=True)
    assert out["combinations"] == 4 and out["chunks"] == 1
    assert [r["combo_id"] for r in out["top"]] == list(want.top.index)
    for rec, (_, row) in zip(out["top"], want.top.iterrows()):
        for col, value in row.items():
            got = rec[col]
            if got is None:
                assert isinstance(value, float) and math.isnan(value), (col, value)
            elif isinstance(value, (str, bool, np.bool_)):
                assert got == value, (col, got, value)
            else:  # the CLI's JSON has 10 decimals (pandas to_json)
                assert got == pytest.approx(value, rel=1e-9, abs=1.5e-10), (col, got, value)


@pytest.mark.parametrize("extra,message", [
    (["--group-by", "a,b,a,b"], "group_by labels must keep each group's columns next to each other"),
    (["--cash-sharing"], "--cash-sharing needs --group-by"),
    (["--order", "direction=both"], "--order direction: not a sweep option"),
    (["--order", "init_cash=-5"], "init_cash"),
])
def test_bad_order_sweep_options_exit_2(capsys, extra, message):
    assert main([*ARGS, *extra]) == 2
    assert message in capsys.readouterr().err
