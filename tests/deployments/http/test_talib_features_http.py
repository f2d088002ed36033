"""TA-Lib functions by name over the HTTP features route (issue 14, deliverable 5): a real
service (Ray Serve on a local Ray, one simulated GPU worker), values equal to
`kernels.indicators.talib` on the same panel, and a 422 naming the parameter for a bad one."""
from __future__ import annotations

import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")
httpx = pytest.importorskip("httpx")

from actors.settings import DataConfig, RayConfig, Settings  # noqa: E402
from deployments.service import free_port  # noqa: E402
from gpu_hal.config import GpuHalConfig, SimulationConfig  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402
from kernels.indicators import talib as ta  # noqa: E402
from tests.deployments.conftest import running_service  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ASSETS, BARS = 4, 300


@pytest.fixture(scope="module")
def client(tmp_path_factory, serve_session):
    settings = Settings(
        storage_dir=tmp_path_factory.mktemp("storage"),
        data=DataConfig(synthetic_assets=ASSETS, synthetic_bars=BARS),
        ray=RayConfig(namespace="rayquant-talib-http"),
        gpu=GpuHalConfig(simulation=SimulationConfig(mode="always", num_devices=1)),
        coordinator={"cpu_workers": 0},
        serve={"port": free_port(), "replica_num_cpus": 0, "wait_timeout_s": 120, "live_app": False},
    )
    with running_service(settings) as svc:
        with httpx.Client(base_url=svc.url, timeout=120) as c:
            yield c


def test_talib_functions_by_name(client) -> None:
    body = {"dataset": "synthetic", "symbols": ["S0001", "S0003"], "window": 5,
            "indicators": [{"name": "RSI", "params": {"timeperiod": 10}}, {"name": "BBANDS"},
                           {"name": "ADX"}, {"name": "CDLDOJI"}, {"name": "HT_DCPERIOD"}]}
    # The TA-Lib kernels are not in the workers' prewarm: the first request loads them from
    # Numba's cache (or compiles them) in the worker, which can outlast the live-call timeout.
    deadline = time.monotonic() + 240
    resp = client.post("/v1/features", json=body)
    while resp.status_code == 503 and time.monotonic() < deadline:
        time.sleep(5)
        resp = client.post("/v1/features", json=body)
    assert resp.status_code == 200, resp.text
    feats = resp.json()["features"]
    p = synthetic_panel(ASSETS, BARS, seed=0).select(["S0001", "S0003"])
    want = {"RSI_10": ta.RSI(p.close, timeperiod=10), "ADX": ta.ADX(p.high, p.low, p.close),
            "CDLDOJI": ta.CDLDOJI(p.open, p.high, p.low, p.close), "HT_DCPERIOD": ta.HT_DCPERIOD(p.close)}
    bb = ta.BBANDS(p.close)
    want.update({f"BBANDS.{k}": v for k, v in zip(bb._fields, bb)})
    assert set(feats) == set(want)
    for label, v in want.items():
        np.testing.assert_allclose(np.asarray(feats[label], dtype=float), v[-5:], rtol=1e-9, err_msg=label)


def test_bad_talib_parameter_is_a_422_naming_it(client) -> None:
    for indicators in ([{"name": "RSI", "params": {"timeperiod": 1}}],
                       [{"name": "BBANDS", "params": {"matype": 99}}],
                       [{"name": "ADX", "params": {"period": 5}}]):
        resp = client.post("/v1/features", json={"dataset": "synthetic", "indicators": indicators})
        assert resp.status_code == 422, resp.text
        msg = resp.json()["error"]["message"]
        name = next(iter(indicators[0]["params"]))
        assert name in msg, msg
    resp = client.get("/v1/features", params=[("dataset", "synthetic"), ("indicator", "STOCH:fastk_period=0")])
    assert resp.status_code == 422 and "fastk_period" in resp.json()["error"]["message"], resp.text
