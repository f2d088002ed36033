"""`POST /v1/sweeps` with the orders engine's options (issue 13) on the real service: a sweep
over stops with group_by and cash sharing equals `kernels.backtest.sweep` exactly (the
combinations table, the top-k and the group rows, `wait=true` and `GET .../result`); bad
options, bad grid values and group labels that do not fit the dataset's symbols are 422s
naming the field before any job exists."""
from __future__ import annotations

import math

import pytest

ray = pytest.importorskip("ray")
httpx = pytest.importorskip("httpx")

from actors.settings import DataConfig, RayConfig, Settings  # noqa: E402
from deployments.service import free_port  # noqa: E402
from kernels.backtest import sweep  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402
from tests.deployments.conftest import running_service  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ASSETS, BARS = 4, 250
GRID = {"fast": [5, 10], "slow": [30, 60], "sl_stop": [0.03, 0.08], "tp_stop": [0.1, 0.3]}
BODY = {"strategy": "trend_following", "grid": GRID, "engine": "orders", "init_cash": 1000.0, "fixed_fees": 0.5,
        "fees": 0.001, "size": 0.5, "size_type": "percent", "group_by": ["g1", "g1", "g2", "g2"],
        "cash_sharing": True, "top_k": 5, "rank_by": "profit_factor"}


@pytest.fixture(scope="module")
def service(tmp_path_factory, serve_session):
    settings = Settings(
        storage_dir=tmp_path_factory.mktemp("storage"),
        data=DataConfig(synthetic_assets=ASSETS, synthetic_bars=BARS),
        ray=RayConfig(namespace="rayquant-sweep-orders-test"),
        coordinator={"cpu_workers": 1},
        serve={"port": free_port(), "grpc_port": 0, "replica_num_cpus": 0, "wait_timeout_s": 120},
    )
    with running_service(settings) as svc:
        yield svc


@pytest.fixture(scope="module")
def client(service):
    with httpx.Client(base_url=service.url, timeout=180) as http:
        yield http


def _kernel_result():
    return sweep(synthetic_panel(ASSETS, BARS, seed=0), "trend_following",
                 {**GRID, "size": [0.5], "size_type": ["percent"]}, fees=0.001, top_k=5, rank_by="profit_factor",
                 backend="cpu", engine="orders", init_cash=1000.0, fixed_fees=0.5,
                 group_by=["g1", "g1", "g2", "g2"], cash_sharing=True)


def _same(got, want) -> bool:
    """JSON value vs the kernel's value: equal, both NaN (null), or both the same infinity (null)."""
    if got is None:
        return want is None or (isinstance(want, float) and not math.isfinite(want))
    return got == want


def _assert_records(records: list[dict], frame, keys: list[str]) -> None:
    flat = frame.reset_index()
    assert len(records) == len(flat)
    for rec, (_, row) in zip(records, flat.iterrows()):
        for col in flat.columns:
            assert _same(rec[str(col)], row[col].item() if hasattr(row[col], "item") else row[col]), (col, rec, row)
        assert [rec[k] for k in keys] == [row[k] for k in keys]


def test_order_sweep_over_http_equals_kernels_sweep(client):
    resp = client.post("/v1/sweeps", params={"wait": "true"}, json=BODY)
    assert resp.status_code == 200, resp.text
    job = resp.json()
    assert job["state"] == "succeeded", job
    res = job["result"]
    want = _kernel_result()
    assert res["n_combinations"] == len(want.params) == 16 and not res["truncated"]
    _assert_records(res["combinations"], want.params.join(want.portfolio_metrics), ["combo_id"])
    _assert_records(res["top"], want.top, ["combo_id"])
    _assert_records(res["groups"], want.asset_metrics, ["combo_id", "group"])
    assert {r["group"] for r in res["groups"]} == {"g1", "g2"}
    page = client.get(f"/v1/sweeps/{job['job_id']}/result", params={"offset": 3, "limit": 2})
    assert page.status_code == 200, page.text
    part = page.json()
    assert [r["combo_id"] for r in part["combinations"]] == [3, 4]
    assert [(r["combo_id"], r["group"]) for r in part["groups"]] == [(3, "g1"), (3, "g2"), (4, "g1"), (4, "g2")]
    assert part["groups"] == [r for r in res["groups"] if r["combo_id"] in (3, 4)]


@pytest.mark.parametrize("change,field", [
    ({"grid": {**GRID, "sl_stop": [0.03, 0.08, 1.5]}}, "grid.sl_stop.2"),
    ({"grid": {**GRID, "size_type": ["value", "lots"]}, "size_type": None}, "grid.size_type.1"),
    ({"tp_stop": 0.2}, "grid.tp_stop"),
    ({"direction": "both"}, "direction"),
    ({"init_cash": 0.0}, "init_cash"),
    ({"group_by": None}, "cash_sharing"),
    ({"group_by": ["g1", "g1", "g2"]}, "group_by"),  # 3 labels for the dataset's 4 symbols
    ({"group_by": ["g1", "g2", "g1", "g2"]}, "group_by"),  # a group's symbols must be next to each other
    ({"rank_by": "nope"}, "rank_by"),
])
def test_bad_order_sweeps_are_422_naming_the_field(client, change, field):
    before = client.get("/v1/jobs", params={"limit": 1000}).json()
    body = {k: v for k, v in {**BODY, **change}.items() if v is not None}
    resp = client.post("/v1/sweeps", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["field"] == field, resp.json()
    assert client.get("/v1/jobs", params={"limit": 1000}).json() == before  # refused before a job existed


def test_order_sweep_over_grpc(service):
    """SubmitSweep with the typed order options: the same rows (group rows included) as the kernel;
    a bad grid value is INVALID_ARGUMENT naming the field."""
    grpc = pytest.importorskip("grpc")
    from deployments.grpc_api.client import GrpcClient, error_info  # noqa: PLC0415
    from deployments.protos import backtest_pb2 as bt  # noqa: PLC0415
    from deployments.protos import common_pb2 as cm  # noqa: PLC0415

    def scalars(values):
        return cm.ScalarList(values=[cm.Scalar(integer=v) if isinstance(v, int) else cm.Scalar(number=v)
                                     for v in values])

    request = bt.SweepRequest(strategy="trend_following", grid={k: scalars(v) for k, v in GRID.items()},
                              engine="orders", init_cash=1000.0, fixed_fees=0.5, fees=0.001, size=0.5,
                              size_type="percent", group_labels=["g1", "g1", "g2", "g2"], cash_sharing=True, top_k=5,
                              rank_by="profit_factor", wait=True)
    want = _kernel_result()
    with GrpcClient(service.grpc_target) as rq:
        rq.health(timeout=120)
        reply = rq.call(rq.backtests.SubmitSweep, request, timeout=180)
        assert reply.job.state == "succeeded", reply.job
        res = reply.result
        assert [r.combo_id for r in res.top] == list(want.top.index)
        groups = want.asset_metrics.reset_index()
        assert [(r.combo_id, r.group) for r in res.groups] == list(zip(groups["combo_id"], groups["group"]))
        for row, (_, ref) in zip(res.groups, groups.iterrows()):
            assert _same(row.metrics.sharpe, ref["sharpe"]) or (math.isnan(row.metrics.sharpe)
                                                                and math.isnan(ref["sharpe"]))
            got_pf, ref_pf = row.metrics.extra["profit_factor"], ref["profit_factor"]
            assert got_pf == ref_pf or (math.isnan(got_pf) and not math.isfinite(ref_pf)), (got_pf, ref_pf)
        assert set(res.top[0].params) == {"fast", "slow", "ma", "long_only", "sl_stop", "tp_stop", "size",
                                          "size_type"}  # the metrics (profit_factor...) are in metrics.extra
        bad = bt.SweepRequest(strategy="trend_following", grid={"fast": scalars([5]), "sl_stop": scalars([0.1, 2.0])},
                              engine="orders")
        with pytest.raises(grpc.RpcError) as info:
            rq.call(rq.backtests.SubmitSweep, bad, timeout=60)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_info(info.value).field == "grid.sl_stop.1"
