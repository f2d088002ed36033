"""Tenant quotas over HTTP for real (Ray Serve on a local Ray): classes are granted, not
claimed (403 naming the class and the allowed ones), an admin changes a quota at run
time and the next request sees it, quotas refuse with the quota named, usage per tenant."""
from __future__ import annotations

import pytest

ray = pytest.importorskip("ray")
httpx = pytest.importorskip("httpx")

from actors.settings import DataConfig, RayConfig, Settings  # noqa: E402
from deployments.service import free_port  # noqa: E402
from gpu_hal.config import GpuHalConfig, SimulationConfig  # noqa: E402
from tests.deployments.conftest import running_service  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]

KEYS = {"admin-key-00001": "ops", "alice-key-0001": "alice", "bob-key-00002": "bob"}
BT = {"strategy": "trend_following", "params": {"fast": 5, "slow": 20}}


@pytest.fixture(scope="module")
def service(tmp_path_factory, serve_session):
    settings = Settings(
        storage_dir=tmp_path_factory.mktemp("storage"),
        data=DataConfig(synthetic_assets=6, synthetic_bars=300),
        ray=RayConfig(namespace="rayquant-tenants-test"),
        gpu=GpuHalConfig(simulation=SimulationConfig(mode="always", num_devices=1)),
        coordinator={"cpu_workers": 0},
        serve={"port": free_port(), "replica_num_cpus": 0, "api_keys": KEYS, "admin_tenants": "ops",
               "wait_timeout_s": 120},
        tenants={"tenants": {"bob": {"max_sweep_combinations": 4}}},
    )
    with running_service(settings) as svc:
        yield svc


def client(service, key: str) -> httpx.Client:
    return httpx.Client(base_url=service.url, headers={"X-API-Key": key}, timeout=120)


def test_classes_are_granted_by_an_admin_at_run_time(service) -> None:
    with client(service, "alice-key-0001") as alice, client(service, "admin-key-00001") as admin:
        resp = alice.post("/v1/backtests?wait=true", json={**BT, "priority": "high"})
        assert resp.status_code == 403, resp.text
        err = resp.json()["error"]
        assert err["code"] == "class_not_allowed" and err["field"] == "priority"
        assert "HIGH" in err["message"] and "NORMAL, LOW, IDLE" in err["message"]
        # Only admins read or change quotas.
        assert alice.put("/v1/admin/tenants/alice", json={"allowed_classes": ["HIGH"]}).status_code == 403
        assert alice.get("/v1/admin/tenants").status_code == 403
        bad = admin.put("/v1/admin/tenants/alice", json={"allowed_classes": ["SUPER"]})
        assert bad.status_code == 422 and "allowed_classes" in str(bad.json()["error"].get("field")), bad.text
        assert admin.put("/v1/admin/tenants/alice", json={"weight": -1}).status_code == 422
        granted = admin.put("/v1/admin/tenants/alice", json={"allowed_classes": ["high", "low"], "weight": 2})
        assert granted.status_code == 200, granted.text
        assert granted.json()["allowed_classes"] == ["HIGH", "LOW"] and granted.json()["weight"] == 2
        assert admin.get("/v1/admin/tenants/alice").json() == granted.json()
        assert "alice" in admin.get("/v1/admin/tenants").json()
        ok = alice.post("/v1/backtests?wait=true", json={**BT, "priority": "high"})  # the next request sees it
        assert ok.status_code == 200 and ok.json()["priority"] == "HIGH", ok.text
        refused = alice.post("/v1/backtests", json={**BT, "priority": "normal"})  # NORMAL is no longer granted
        assert refused.status_code == 403 and "allowed: HIGH, LOW" in refused.json()["error"]["message"]


def test_sweep_quota_and_usage(service) -> None:
    with client(service, "bob-key-00002") as bob, client(service, "alice-key-0001") as alice, \
            client(service, "admin-key-00001") as admin:
        grid = {"fast": [3, 5, 8], "slow": [20, 30]}
        resp = bob.post("/v1/sweeps", json={"strategy": "trend_following", "grid": grid})
        assert resp.status_code == 413, resp.text
        assert "max_sweep_combinations" in resp.json()["error"]["message"]
        done = bob.post("/v1/sweeps?wait=true", json={"strategy": "trend_following", "grid": {"fast": [3, 5], "slow": [20]}})
        assert done.status_code == 200, done.text
        usage = bob.get("/v1/tenants/bob/usage")
        assert usage.status_code == 200, usage.text
        u = usage.json()
        assert u["jobs"].get("succeeded") == 1 and u["refusals"] == {"max_sweep_combinations": 1}
        assert sum(u["device_seconds"].values()) > 0 and sum(u["chunks"].values()) >= 1
        assert alice.get("/v1/tenants/bob/usage").status_code == 403  # not yours
        assert admin.get("/v1/tenants/bob/usage").json()["tenant"] == "bob"  # an admin sees every tenant
        assert bob.get("/v1/tenants/bad name/usage").status_code == 422
