"""Ray client and Ray Jobs callers carry a tenant identity (their API key) and get the
same class authorisation as HTTP callers: ClassNotAllowed from Python, exit code 2
with one line from the job entry point."""
from __future__ import annotations

import pytest

from actors.tenants.identity import Unauthenticated, resolve_tenant
from tests.conftest import OWN_CLUSTER


def test_the_key_names_the_tenant_when_keys_are_configured() -> None:
    keys = {"k-alice-0001": "alice", "k-bob-00002": "bob"}
    assert resolve_tenant(keys, "default", "k-bob-00002", "alice") == "bob"  # a claimed tenant is ignored
    for key in (None, "", "k-nobody-000"):
        with pytest.raises(Unauthenticated, match="API key"):
            resolve_tenant(keys, "default", key, "alice")
    assert resolve_tenant({}, "default", None, "carol") == "carol"  # an open service takes the claim
    assert resolve_tenant({}, "default", None, None) == "default"


@pytest.mark.ray
@pytest.mark.slow
@OWN_CLUSTER
def test_client_and_job_entry_point_are_authorised(tmp_path, capsys, monkeypatch) -> None:
    ray = pytest.importorskip("ray")
    from actors.client import connect  # noqa: PLC0415
    from actors.settings import DataConfig, RayConfig, Settings  # noqa: PLC0415
    from actors.tenants.quotas import ClassNotAllowed  # noqa: PLC0415
    from deployments import jobs  # noqa: PLC0415
    from gpu_hal.config import GpuHalConfig, SimulationConfig  # noqa: PLC0415

    namespace = "rayquant-identity-test"
    settings = Settings(storage_dir=tmp_path, data=DataConfig(synthetic_assets=4, synthetic_bars=200),
                        ray=RayConfig(namespace=namespace),
                        gpu=GpuHalConfig(simulation=SimulationConfig(mode="always", num_devices=1)),
                        coordinator={"cpu_workers": 0},
                        serve={"api_keys": {"k-alice-0001": "alice", "k-desk-00001": "desk"}},
                        tenants={"tenants": {"desk": {"allowed_classes": ["HIGH", "LOW"]}}})
    ray.init(num_cpus=2, include_dashboard=False, namespace=namespace, ignore_reinit_error=True)
    try:
        payload = {"dataset": "synthetic", "strategy": "trend_following", "params": {"fast": 5, "slow": 20}}
        alice = connect(settings=settings, api_key="k-alice-0001")
        with pytest.raises(ClassNotAllowed, match="HIGH"):
            alice.submit("backtest", payload, "HIGH", tenant="desk")  # claiming desk does not make alice desk
        desk = connect(settings=settings, api_key="k-desk-00001")
        job = desk.submit("backtest", payload, "HIGH")
        assert desk.status(job)["tenant"] == "desk"
        with pytest.raises(PermissionError, match="API key"):
            connect(settings=settings, api_key="wrong-key-000").submit("backtest", payload, "LOW")
        # The Ray Jobs entry point, in process: the key comes from the settings (RAYQUANT_CLIENT__API_KEY).
        import actors.client  # noqa: PLC0415

        real = actors.client.connect
        monkeypatch.setattr(actors.client, "connect",
                            lambda address=None: real(settings=settings, api_key="k-alice-0001"))
        capsys.readouterr()
        code = jobs.main(["backtest", "--strategy", "trend_following", "--param", "fast=5", "--param", "slow=20",
                          "--priority", "high"])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and "may not use priority class HIGH" in err, err
    finally:
        ray.shutdown()
