"""Shared by the HTTP tests: the whole service on a local Ray as CI runs it (2 CPUs, no GPU).

Starting Ray and Serve costs 10-20 s on 2 cores, so the HTTP-level modules share one
local Ray with Serve's HTTP and gRPC proxies started once (`serve_session`, package
scope): a module's `running_service(settings)` then deploys only its own coordinator,
workers and apps (its own settings, namespace and storage directory) on it, and on
the way out deletes every Serve app and kills every named actor of its namespace, so
the next module starts from an empty Serve. Modules that need Ray to themselves (a
`ray start --head` of their own, a cluster they kill) do not use it; the modules that
do are run together at the end of this package (`pytest_collection_modifyitems`), so
the shared Ray is up only while they run. Without `serve_session` (a module run on
its own that does not request it) `running_service` starts and stops a local Ray of
its own, as before; so does every module with RAYQUANT_TESTS_SHARED_SERVE=0.

Likewise the modules that submit Ray jobs or connect a Ray client (test_notebook,
test_ray_jobs) share one `ray start --head` node (`ray_head`), stopped right after the
last test that uses it.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Optional

import pytest

from actors.settings import RayConfig, Settings
from deployments.service import (
    DIRECT_INGRESS_ENV,
    RunningService,
    free_port,
    grpc_options,
    init_ray,
    start_service,
)

SHARED_FIXTURE = "serve_session"
HEAD_FIXTURE = "ray_head"
SHARED_ENV = "RAYQUANT_TESTS_SHARED_SERVE"  # "0": no shared Ray (to compare, or to rule it out)
SHARED_NAMESPACE = "rayquant-tests-shared"  # the driver's; every module's actors live in the module's own
RAY_OPTIONS = dict(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)
CLEAR_TIMEOUT_S = 60.0


@dataclass
class ServeSession:
    """A local Ray with Serve's proxies on free ports, shared by the modules of this package."""

    port: int
    grpc_port: int
    host: str

    @property
    def grpc_target(self) -> str:
        return f"{self.host}:{self.grpc_port}"


_session: Optional[ServeSession] = None


def start_session(storage: Path) -> ServeSession:
    """Ray (as `start_service` starts it: direct ingress on) and Serve with HTTP and gRPC on free ports."""
    from ray import serve  # noqa: PLC0415

    base = Settings(storage_dir=storage, ray=RayConfig(namespace=SHARED_NAMESPACE))
    cfg = replace(base.serve, port=free_port(), grpc_port=free_port("0.0.0.0"))
    base = base.model_copy(update={"serve": cfg})
    if not init_ray(base, ray_env=DIRECT_INGRESS_ENV, **RAY_OPTIONS):
        raise RuntimeError("Ray was already initialised in this process: the shared test service needs its own")
    serve.start(http_options={"host": cfg.host, "port": cfg.port}, grpc_options=grpc_options(base))
    return ServeSession(port=cfg.port, grpc_port=cfg.grpc_port, host=cfg.host)


def clear_session(namespace: str, timeout_s: float = CLEAR_TIMEOUT_S) -> None:
    """Delete every Serve app and kill every named actor of `namespace` (the coordinators and their
    workers); wait until the names are free so that the next module never finds one of them."""
    import ray  # noqa: PLC0415
    from ray import serve  # noqa: PLC0415

    deadline = time.monotonic() + timeout_s
    for name in list(serve.status().applications):  # the replicas first: they would create the coordinator again
        serve.delete(name, _blocking=False)  # all at once: each drains for a while
    while apps := list(serve.status().applications):
        if time.monotonic() > deadline:
            raise TimeoutError(f"Serve apps still there after {timeout_s:.0f} s: {apps}")
        time.sleep(0.1)

    def named() -> list[str]:
        return [a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["namespace"] == namespace]

    for name in named():
        try:
            ray.kill(ray.get_actor(name, namespace=namespace), no_restart=True)
        except ValueError:  # gone meanwhile
            pass
    while left := named():
        if time.monotonic() > deadline:
            raise TimeoutError(f"actors of {namespace} still alive after {timeout_s:.0f} s: {left}")
        time.sleep(0.1)


@pytest.fixture(scope="package")
def serve_session(tmp_path_factory) -> Iterator[Optional[ServeSession]]:
    """One local Ray + Serve for the HTTP-level modules of this package, stopped after the last one."""
    import ray  # noqa: PLC0415

    global _session
    if os.environ.get(SHARED_ENV, "1") == "0":  # each module starts and stops a Ray of its own (the old way)
        yield None
        return
    _session = start_session(tmp_path_factory.mktemp("shared-serve"))
    try:
        yield _session
    finally:
        _session = None
        ray.shutdown()


@contextmanager
def running_service(settings: Settings) -> Iterator[RunningService]:
    """`start_service` on a 2-CPU local Ray without a GPU or dashboard, stopped on the way out.

    With `serve_session` active, the service (coordinator, workers, apps) is deployed on the
    shared Ray and Serve: `settings.serve.port` and the gRPC target become the shared proxies'.
    """
    session = _session
    if session is None:
        svc = start_service(settings, **RAY_OPTIONS)
        try:
            yield svc
        finally:
            svc.stop()
        return
    settings = settings.model_copy(update={"serve": replace(settings.serve, host=session.host, port=session.port)})
    try:
        svc = start_service(settings, **RAY_OPTIONS)
        if settings.serve.grpc:  # Serve's gRPC proxy is the session's (start_service picked a port of its own)
            svc.grpc_target = session.grpc_target
            svc.settings = svc.settings.model_copy(
                update={"serve": replace(svc.settings.serve, grpc_port=session.grpc_port)})
        yield svc
    finally:
        clear_session(settings.ray.namespace)


_head = None  # tests.deployments.test_ray_jobs.RayHead while one is shared


@pytest.fixture(scope="module")
def ray_head():
    """A `ray start --head` node (2 CPUs, dashboard, token auth) shared by the modules that submit Ray
    jobs or connect a Ray client to a head (started by the first, stopped after the last test that
    uses it: see `pytest_runtest_teardown`). A test that needs a head of its own (other settings,
    a head it stops) starts one with `start_head`."""
    global _head
    if _head is None or _head.proc.poll() is not None:
        from tests.deployments.test_ray_jobs import start_head  # noqa: PLC0415 - the head's helpers live there

        _head = start_head(num_cpus=2, dashboard=True)
    return _head


def stop_head() -> None:
    global _head
    head, _head = _head, None
    if head is not None:
        head.stop()


def uses(item: pytest.Item, fixture: str) -> bool:
    return fixture in getattr(item, "fixturenames", ())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: Optional[pytest.Item]):
    """Stop the shared head after the last test that uses it (not at the end of the package)."""
    result = yield
    if _head is not None:
        items = item.session.items
        rest = items[items.index(nextitem):] if nextitem is not None and nextitem in items else []
        if not any(uses(i, HEAD_FIXTURE) for i in rest):
            stop_head()
    return result


def pytest_sessionfinish(session: pytest.Session) -> None:
    stop_head()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """This package's modules in three runs (stable order within each): those with no Ray or a Ray of
    their own, those on the shared head, those on the shared service (last: it stays up to the end
    of the package), so that neither shared Ray is ever up beside a module's own Ray or the other."""
    here = Path(__file__).parent
    idx = [i for i, item in enumerate(items) if here in Path(str(item.path)).parents]
    if not idx or idx != list(range(idx[0], idx[-1] + 1)):
        return  # not one contiguous block (a custom order was asked for): leave it
    block = [items[i] for i in idx]
    shared = {str(item.path) for item in block if uses(item, SHARED_FIXTURE)}
    head = {str(item.path) for item in block if uses(item, HEAD_FIXTURE)}
    block.sort(key=lambda item: 2 if str(item.path) in shared else 1 if str(item.path) in head else 0)
    items[idx[0]:idx[-1] + 1] = block
