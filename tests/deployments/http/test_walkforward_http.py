"""`POST /v1/walkforwards` (the sweep lifecycle: 202 + poll, wait=true, result, cancel) and the
orders engine through `POST /v1/backtests`, on the real service (local Ray, a simulated GPU
worker and a CPU worker); bad order options and walk-forwards longer than the data are 422s
naming the field before any job exists."""
from __future__ import annotations

import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")
httpx = pytest.importorskip("httpx")

from actors.settings import DataConfig, RayConfig, Settings  # noqa: E402
from deployments.service import free_port  # noqa: E402
from gpu_hal.config import GpuHalConfig, SimulationConfig  # noqa: E402
from kernels.backtest import METRICS, run, walk_forward  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402
from tests.deployments.conftest import running_service  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ASSETS, BARS = 6, 300
WF = {"strategy": "trend_following", "grid": {"fast": [3, 5, 8], "slow": [20, 40]}, "train": 120, "test": 60,
      "fees": 0.001}
ORDERS = {"strategy": "trend_following", "params": {"fast": 5, "slow": 20}, "engine": "orders", "sl_stop": 0.05,
          "tp_stop": 0.1, "init_cash": 1000.0, "fees": 0.001}


@pytest.fixture(scope="module")
def client(tmp_path_factory, serve_session):
    settings = Settings(
        storage_dir=tmp_path_factory.mktemp("storage"),
        data=DataConfig(synthetic_assets=ASSETS, synthetic_bars=BARS),
        ray=RayConfig(namespace="rayquant-walkforward-test"),
        gpu=GpuHalConfig(simulation=SimulationConfig(mode="always", num_devices=1)),
        coordinator={"cpu_workers": 1},
        serve={"port": free_port(), "replica_num_cpus": 0, "wait_timeout_s": 120},
    )
    with running_service(settings) as svc, httpx.Client(base_url=svc.url, timeout=180) as http:
        yield http


def panel():
    return synthetic_panel(ASSETS, BARS, seed=0)


def error_of(resp, status: int, field: str) -> dict:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["field"] == field, err
    return err


def n_jobs(client) -> int:
    resp = client.get("/v1/jobs", params={"limit": 1000})
    assert resp.status_code == 200, resp.text
    return len(resp.json())


def test_walk_forward_202_poll_result_and_cancel_conflict(client):
    resp = client.post("/v1/walkforwards", json=WF)
    assert resp.status_code == 202, resp.text
    job = resp.json()
    assert job["kind"] == "walk_forward" and resp.headers["Location"] == f"/v1/walkforwards/{job['job_id']}"
    assert job["links"]["result"] == f"/v1/walkforwards/{job['job_id']}/result"
    deadline = time.monotonic() + 180
    while True:
        status = client.get(f"/v1/walkforwards/{job['job_id']}").json()
        if status["state"] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status["state"] == "succeeded", status
    assert status["progress"]["chunks_total"] == 3 == status["progress"]["chunks_done"]  # a chunk per fold
    res = client.get(f"/v1/walkforwards/{job['job_id']}/result")
    assert res.status_code == 200, res.text
    body = res.json()
    exp = walk_forward(panel(), "trend_following", WF["grid"], train=120, test=60, fees=0.001, backend="cpu")
    assert body["n_folds"] == exp.n_folds == 3 and body["rank_by"] == "sharpe" and body["engine"] == "returns"
    for row, (k, params) in zip(body["folds"], exp.params.iterrows()):
        assert row["fold"] == k and (row["fast"], row["slow"]) == (params["fast"], params["slow"])
        np.testing.assert_allclose([row[f"oos_{m}"] for m in ("total_return", "sharpe")],
                                   exp.out_of_sample.loc[k, ["total_return", "sharpe"]].to_numpy(dtype=float),
                                   rtol=1e-9)
        assert row["test_start"].startswith(str(exp.folds.loc[k, "test_start"].date()))
    assert body["equity_curve"]["equity"][-1] == pytest.approx(float(exp.oos_equity.iloc[-1]), rel=1e-9)
    assert body["oos_metrics"]["total_return"] == pytest.approx(float(exp.oos_metrics.loc["oos", "total_return"]),
                                                                rel=1e-9)
    cancel = client.delete(f"/v1/walkforwards/{job['job_id']}")
    assert cancel.status_code == 409, cancel.text
    # a walk-forward id is neither a sweep's nor a backtest's
    assert client.get(f"/v1/sweeps/{job['job_id']}").status_code == 404


def test_walk_forward_wait_true_anchored(client):
    resp = client.post("/v1/walkforwards", params={"wait": "true"},
                       json={**WF, "anchored": True, "rank_by": "total_return", "warmup": 30})
    assert resp.status_code == 200, resp.text
    result = resp.json()["result"]
    assert result["anchored"] is True and [r["first_train_bar"] for r in result["folds"]] == [0, 0, 0]
    assert result["warmup"] == 30
    exp = walk_forward(panel(), "trend_following", WF["grid"], train=120, test=60, fees=0.001, anchored=True,
                       rank_by="total_return", warmup=30, backend="cpu")
    assert [r["oos_sharpe"] for r in result["folds"]] == pytest.approx(exp.out_of_sample["sharpe"].tolist(), rel=1e-9)
    assert [r["train_bars"] for r in result["folds"]] == [120, 180, 240]


@pytest.mark.parametrize("change, field", [
    ({"train": 250, "test": 100}, "train"),  # 350 bars > 300: refused at submit, no job
    ({"step": 10}, "step"),
    ({"test": 0}, "test"),
    ({"rank_by": "luck"}, "rank_by"),
    ({"sl_stop": 0.05}, "sl_stop"),  # an order option without engine "orders"
    ({"engine": "orders", "tp_stop": -1.0}, "tp_stop"),
    ({"engine": "orders", "warmup": 10}, "warmup"),  # the orders engine starts each test window flat
])
def test_bad_walk_forwards_are_422_before_a_job_exists(client, change, field):
    before = n_jobs(client)
    err = error_of(client.post("/v1/walkforwards", json={**WF, **change}), 422, field)
    if field == "train":
        assert "exceed the data (300 bars)" in err["message"]
    assert n_jobs(client) == before


def test_orders_backtest_equals_run(client):
    resp = client.post("/v1/backtests", params={"wait": "true"}, json=ORDERS)
    assert resp.status_code == 200, resp.text
    result = resp.json()["result"]
    assert result["engine"] == "orders"
    assert result["order_options"] == {"sl_stop": 0.05, "tp_stop": 0.1, "init_cash": 1000.0}
    exp = run(panel(), "trend_following", {"fast": 5, "slow": 20}, engine="orders", sl_stop=0.05, tp_stop=0.1,
              init_cash=1000.0, fees=0.001, backend="cpu")
    for m in ("total_return", "sharpe", "max_drawdown", "n_trades", "win_rate"):
        assert result["portfolio"][m] == pytest.approx(float(exp.portfolio[m]), rel=1e-9, nan_ok=True), m
    assert [r["symbol"] for r in result["metrics"]] == [*exp.symbols, "portfolio"]
    assert set(METRICS) <= set(result["metrics"][0])


@pytest.mark.parametrize("change, field", [
    ({"sl_stop": -0.1}, "sl_stop"),
    ({"sl_stop": 1.5}, "sl_stop"),  # cannot trigger for longs
    ({"size_type": "lots"}, "size_type"),
    ({"size": 2.0, "size_type": "percent"}, "size_type"),
    ({"init_cash": 0}, "init_cash"),
    ({"engine": "ticks"}, "engine"),
    ({"engine": "returns", "tp_stop": None, "init_cash": None}, "sl_stop"),  # order options need engine "orders"
    ({"leverage": 2}, "leverage"),
])
def test_bad_order_options_are_422_naming_the_field(client, change, field):
    before = n_jobs(client)
    error_of(client.post("/v1/backtests", json={**ORDERS, **change}), 422, field)
    assert n_jobs(client) == before
