"""schemathesis against the live OpenAPI of a real service (issue 12): with API keys on
(a tenant's key) and off (an open API on the same Ray, coordinator and workers), a
bounded number of generated requests per operation, positive and negative, and every
response checked: no 5xx, the status code declared, the content type declared, the
body and headers matching their schemas. Zero failures; what the fuzzer found on the
way is in tests/deployments/http/validation/test_bad_inputs.py and the Hypothesis suites.
"""
from __future__ import annotations

import pytest

ray = pytest.importorskip("ray")
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation.modes import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from actors.settings import DataConfig, RayConfig, Settings  # noqa: E402
from deployments.service import deploy_app, free_port  # noqa: E402
from gpu_hal.config import GpuHalConfig, SimulationConfig  # noqa: E402
from tests.deployments.conftest import running_service  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]

KEY = "fuzz-key-00001"
EXAMPLES_PER_OPERATION = 12  # x ~33 operations x 2 modes (positive and negative cases mixed)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
OPEN_PREFIX = "/open"


def fuzz_settings(storage, port: int, keys: dict) -> Settings:
    return Settings(
        storage_dir=storage,
        data=DataConfig(synthetic_assets=4, synthetic_bars=200),
        ray=RayConfig(namespace="rayquant-fuzz"),
        gpu=GpuHalConfig(simulation=SimulationConfig(mode="always", num_devices=1)),
        coordinator={"cpu_workers": 0},
        serve={"port": port, "replica_num_cpus": 0, "api_keys": keys, "live_app": False, "wait_timeout_s": 2,
               "max_wait_timeout_s": 5, "max_sweep_combinations": 200, "body_timeout_s": 5},
    )


@pytest.fixture(scope="module")
def service(tmp_path_factory, serve_session):
    storage = tmp_path_factory.mktemp("storage")
    port = free_port()
    with running_service(fuzz_settings(storage, port, {KEY: "fuzzer"})) as svc:
        # The same coordinator and workers behind a second app with no keys: the open API.
        deploy_app(fuzz_settings(storage, port, {}), name="open", route_prefix=OPEN_PREFIX)
        yield svc


def mode(service, which: str) -> tuple[str, dict]:
    """(base URL, headers) of the API with keys (a tenant's key) or of the open one."""
    import time

    import httpx

    if which == "keys":
        return service.url, {"X-API-Key": KEY}
    base = service.url + OPEN_PREFIX
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the second app comes up after the first
        try:
            if httpx.get(base + "/healthz", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return base, {}


def fuzz(base: str, headers: dict) -> dict[str, str]:
    """Every operation of the live OpenAPI, positive and negative cases; {operation: failure}."""
    from collections import Counter

    api = schemathesis.openapi.from_url(base + "/openapi.json", timeout=60)
    failures: dict[str, str] = {}
    statuses: Counter = Counter()
    operations = 0
    for result in api.get_all_operations():
        op = result.ok()
        operations += 1
        cases = st.one_of(op.as_strategy(generation_mode=GenerationMode.POSITIVE),
                          op.as_strategy(generation_mode=GenerationMode.NEGATIVE))

        @given(case=cases)
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            statuses[case.call_and_validate(base_url=base, headers=headers, checks=CHECKS, timeout=60).status_code] += 1

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - collected: every operation runs, then the test fails
            failures[op.label] = str(exc)[:3000]
    print(f"{base}: {operations} operations, {sum(statuses.values())} requests, status codes {dict(statuses)}")
    assert operations >= 25 and sum(statuses.values()) >= 2 * operations, (operations, statuses)
    return failures


@pytest.mark.parametrize("which", ["keys", "open"])
def test_live_openapi_has_no_failures(service, which):
    base, headers = mode(service, which)
    failures = fuzz(base, headers)
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
