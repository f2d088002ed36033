"""`rayquant walkforward` and `rayquant backtest --engine orders --order NAME=VALUE` (in-process, no Ray)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from deployments import cli
from kernels.backtest import run, walk_forward
from kernels.data import synthetic_panel

DATA = ["--assets", "4", "--bars", "300", "--backend", "cpu", "--fees", "0.001", "--slippage", "0"]


def test_walkforward_json_matches_the_library(capsys):
    code = cli.main(["walkforward", *DATA, "--grid", "fast=3,5", "--grid", "slow=20,40", "--train", "120",
                     "--test", "60", "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    body = json.loads(out)
    exp = walk_forward(synthetic_panel(4, 300, seed=0), "trend_following", {"fast": [3, 5], "slow": [20, 40]},
                       train=120, test=60, fees=0.001, slippage=0.0, backend="cpu")
    assert len(body["folds"]) == exp.n_folds == 3 and body["step"] == 60 and body["anchored"] is False
    assert [(f["fast"], f["slow"]) for f in body["folds"]] == [tuple(r) for r in exp.params[["fast", "slow"]].to_numpy()]
    assert body["oos_metrics"]["total_return"] == pytest.approx(float(exp.oos_metrics.loc["oos", "total_return"]))


def test_walkforward_table_and_anchored(capsys):
    code = cli.main(["walkforward", *DATA, "--grid", "fast=3,5", "--grid", "slow=20", "--train", "120",
                     "--test", "90", "--anchored"])
    out = capsys.readouterr().out
    assert code == 0 and "2 folds anchored" in out and "oos_sharpe" in out


@pytest.mark.parametrize("argv, message", [
    (["walkforward", *DATA, "--grid", "fast=3", "--grid", "slow=20", "--train", "250", "--test", "100"],
     "train + test = 250 + 100 = 350 bars exceed the data (300 bars)"),
    (["walkforward", *DATA, "--grid", "fast=3", "--train", "100", "--test", "50", "--step", "20"], "step (20)"),
    (["walkforward", *DATA, "--train", "100", "--test", "50"], "give at least one --grid"),
    (["backtest", *DATA, "--order", "sl_stop=0.05"], "--order sl_stop: order options need --engine orders"),
    (["backtest", *DATA, "--engine", "orders", "--order", "sl_stop=-1"], "sl_stop is a fraction"),
])
def test_bad_requests_exit_2_with_one_line(capsys, argv, message):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_backtest_on_the_orders_engine(capsys):
    code = cli.main(["backtest", *DATA, "--param", "fast=5", "--param", "slow=20", "--engine", "orders",
                     "--order", "sl_stop=0.05", "--order", "init_cash=1000", "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    rows = {r["symbol"]: r for r in json.loads(out)["metrics"]}
    exp = run(synthetic_panel(4, 300, seed=0), "trend_following", {"fast": 5, "slow": 20}, engine="orders",
              sl_stop=0.05, init_cash=1000, fees=0.001, backend="cpu")
    np.testing.assert_allclose(rows["portfolio"]["total_return"], exp.portfolio["total_return"], rtol=1e-8)  # JSON keeps 10 digits
