"""Start the whole service in this process's Ray: Ray itself, the coordinator, Serve.

`start_service(settings)` starts a local Ray (or connects to
`settings.ray.address`, i.e. RAYQUANT_RAY__ADDRESS), creates the named coordinator
and waits for its workers' prewarm, starts Serve's HTTP proxy on
`settings.serve.host:port` and deploys the app, then waits for `/readyz`. It
returns a `RunningService` whose `stop()` undoes what this call started.

A local Ray started here runs Serve with direct ingress (`DIRECT_INGRESS_ENV`): the
ingress replica also answers HTTP itself on a port of its own
(`RunningService.direct_url`), which skips the proxy actor and its hop back for the
request body (about 3-7 ms per request); the proxy keeps answering on the configured
port. On a cluster the operator sets the same variables on every node.
`rayquant serve`, `rayquant demo`, the HTTP tests and bench/service/bench_service.py all
start the service this way.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Optional

from actors.settings import Settings

log = logging.getLogger("rayquant.service")

# Ray Serve's direct ingress for the local Ray started here (read by the Serve controller,
# proxy and replicas at import): replicas of an ingress deployment serve HTTP on their own
# port (from RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT, 30000) beside the proxy; a replica
# being replaced drains for 2 s instead of 30 s (one node, no external load balancer); the
# routes run on the replica's main event loop, where its HTTP server runs (no thread hop
# per ASGI message; the routes never block: heavy work goes to threads or actors).
DIRECT_INGRESS_ENV: dict[str, str] = {
    "RAY_SERVE_ENABLE_DIRECT_INGRESS": "1",
    "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "2",
    "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0",
}


@dataclass
class RunningService:
    """A started service: its URLs, the coordinator handle, and how to stop it."""

    settings: Settings
    url: str
    dashboard_url: Optional[str]
    coordinator: Any
    started_ray: bool
    app_names: list[str] = field(default_factory=list)
    stopped: bool = False
    direct_url: Optional[str] = None  # the ingress replica's own HTTP server (direct ingress), if any
    live_url: Optional[str] = None  # the live application through the proxy (ServeConfig.live_app), if any
    live_direct_url: Optional[str] = None  # the live application's replica's own HTTP server, if any
    grpc_target: Optional[str] = None  # Serve's gRPC proxy, host:port (ServeConfig.grpc), if any
    log_dir: Optional[str] = None  # the local Ray session's log folder (Serve's logs are under serve/)

    @property
    def live_entry(self) -> str:
        """Where live clients go: the live application's replica, else its proxy route, else the main app."""
        return self.live_direct_url or self.live_url or self.direct_url or self.url

    @property
    def docs_url(self) -> str:
        return f"{self.url}/docs"

    def stop(self) -> None:
        """Delete the apps deployed here; shut Serve and Ray down if this process started Ray."""
        if self.stopped:
            return
        self.stopped = True
        import ray  # noqa: PLC0415
        from ray import serve  # noqa: PLC0415

        if not ray.is_initialized():
            return
        if self.started_ray:  # our local Ray: stopping it stops Serve, the coordinator and the workers
            ray.shutdown()
            return
        try:
            for name in self.app_names:
                serve.delete(name)
        except Exception as exc:  # noqa: BLE001 - best effort on the way out
            log.warning("serve delete: %s", exc)

    def __enter__(self) -> "RunningService":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (for tests and a busy default port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def absolute_settings(settings: Settings) -> Settings:
    """The settings with an absolute storage directory (every Ray process sees the same one)."""
    return settings.model_copy(update={"storage_dir": settings.storage_dir.expanduser().resolve()})


@contextmanager
def environ(extra: Mapping[str, str]) -> Iterator[None]:
    """`os.environ` with `extra` set inside the block (the processes started there inherit it)."""
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def init_ray(settings: Settings, *, num_cpus: Optional[int] = None, num_gpus: Optional[int] = None,
             include_dashboard: bool = True, log_to_driver: bool = True,
             ray_env: Optional[Mapping[str, str]] = None) -> bool:
    """Start a local Ray, or connect to `settings.ray.address`; True when this call started Ray.

    `ray_env`: environment variables of the local Ray's processes (its raylet and every
    worker it starts inherit them); ignored when connecting to a running cluster.
    """
    import ray  # noqa: PLC0415

    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = dict(namespace=settings.ray.namespace, log_to_driver=log_to_driver,
                                  logging_level=logging.WARNING)
    if settings.ray.address:
        ray.init(address=settings.ray.address, **kwargs)
        return True  # our driver connection; the cluster itself stays up
    with environ(ray_env or {}):
        # address="local": always a new local Ray, never one that another program started on this machine
        # (ray.init() alone would join it: /tmp/ray/ray_current_cluster); joining is RAYQUANT_RAY__ADDRESS's job.
        ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=include_dashboard, **kwargs)
    return True


def ray_log_dir() -> Optional[str]:
    """The log folder of this driver's Ray session (None when Ray does not say)."""
    try:
        from ray._private.worker import _global_node  # noqa: PLC0415 - no public accessor in Ray 2.60

        return str(_global_node.get_logs_dir_path()) if _global_node is not None else None
    except Exception:  # noqa: BLE001 - a missing path only drops a hint
        return None


def dashboard_url() -> Optional[str]:
    import ray  # noqa: PLC0415

    try:
        url = ray.get_dashboard_url() if hasattr(ray, "get_dashboard_url") else None
        if not url:
            from ray._private.worker import get_dashboard_url  # noqa: PLC0415

            url = get_dashboard_url()
    except Exception:  # noqa: BLE001 - no dashboard is not an error
        return None
    if not url:
        return None
    return url if url.startswith("http") else f"http://{url}"


def start_coordinator(settings: Settings) -> Any:
    """The named coordinator, started, with its workers prewarmed."""
    import ray  # noqa: PLC0415

    from actors.scheduling.coordinator_actor import get_or_create_coordinator  # noqa: PLC0415

    coordinator = get_or_create_coordinator(settings)
    ray.get(coordinator.start.remote(), timeout=settings.serve.startup_timeout_s)
    return coordinator


def deploy_app(settings: Settings, *, name: Optional[str] = None, route_prefix: Optional[str] = None,
               role: str = "all") -> str:
    """Deploy the HTTP app, or with `role` "live" the live application (Serve must be started); its name."""
    from ray import serve  # noqa: PLC0415

    from deployments.app import build_app  # noqa: PLC0415

    cfg = settings.serve
    live = role == "live"
    app_name = name or (cfg.live_app_name if live else cfg.app_name)
    prefix = route_prefix or (cfg.live_route_prefix if live else cfg.route_prefix)
    serve.run(build_app(settings=settings, role=role), name=app_name, route_prefix=prefix, blocking=False)
    return app_name


def app_url(host: str, port: int, route_prefix: str) -> str:
    """The base URL of a Serve application (its route prefix without the trailing slash)."""
    return f"http://{host}:{port}{route_prefix.rstrip('/')}"


def direct_ingress_url(app_name: str, host: str, proxy_port: int, route_prefix: str = "/") -> Optional[str]:
    """The URL of the app's ingress replica's own HTTP server (Serve direct ingress), else None.

    Asks the Serve controller for the app's HTTP target groups (`get_target_groups`,
    an alpha API of Ray 2.60); without direct ingress they name only the proxy.
    """
    import ray  # noqa: PLC0415

    try:
        from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE  # noqa: PLC0415

        controller = ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
        groups = ray.get(controller.get_target_groups.remote(app_name), timeout=10)
    except Exception as exc:  # noqa: BLE001 - the proxy URL still works
        log.info("no direct ingress URL: %s: %s", type(exc).__name__, exc)
        return None
    for group in groups:
        if str(getattr(group.protocol, "value", group.protocol)).upper() != "HTTP" or group.app_name != app_name:
            continue
        for target in group.targets:
            if target.port != proxy_port:
                return app_url(host, target.port, route_prefix)
    return None


def with_grpc_port(settings: Settings) -> Settings:
    """The settings with a usable gRPC port: a free one for 0, or when the configured one is taken (logged)."""
    from dataclasses import replace  # noqa: PLC0415

    cfg = settings.serve
    if not cfg.grpc or (cfg.grpc_port and port_is_free("0.0.0.0", cfg.grpc_port)):
        return settings
    port = free_port("0.0.0.0")
    if cfg.grpc_port:
        log.warning("gRPC port %d is taken; using %d", cfg.grpc_port, port)
    return settings.model_copy(update={"serve": replace(cfg, grpc_port=port)})


def grpc_options(settings: Settings) -> Optional[dict[str, Any]]:
    """Serve's gRPC proxy options (`gRPCOptions` as a dict) when gRPC is on: the port and the rayquant.v1 and
    grpc.health.v1 servicers; server reflection is on (Serve's default)."""
    from deployments.grpc_api.ingress import servicer_functions  # noqa: PLC0415

    cfg = settings.serve
    if not cfg.grpc:
        return None
    return {"port": cfg.grpc_port, "grpc_servicer_functions": servicer_functions(), "enable_reflection": True}


def wait_ready(url: str, timeout_s: float, poll_s: float = 0.25) -> dict[str, Any]:
    """Poll GET /readyz until it answers 200; returns its body (TimeoutError otherwise)."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=max(poll_s, 1.0)) as resp:  # noqa: S310 - our URL
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            last = exc.read().decode(errors="replace")
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(poll_s)
    raise TimeoutError(f"{url}/readyz not ready after {timeout_s:.0f} s: {last}")


def start_service(settings: Settings, *, num_cpus: Optional[int] = None, num_gpus: Optional[int] = None,
                  include_dashboard: bool = True, log_to_driver: bool = True,
                  direct_ingress: bool = True) -> RunningService:
    """Ray (local or RAYQUANT_RAY__ADDRESS) + coordinator + Serve app, ready to answer.

    `direct_ingress`: a local Ray started here runs Serve with `DIRECT_INGRESS_ENV`
    (the returned service's `direct_url` is then set once the replica answers there).
    """
    import ray  # noqa: PLC0415
    from ray import serve  # noqa: PLC0415

    settings = with_grpc_port(absolute_settings(settings))
    settings.storage_dir.mkdir(parents=True, exist_ok=True)
    cfg = settings.serve
    started = init_ray(settings, num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=include_dashboard,
                       log_to_driver=log_to_driver, ray_env=DIRECT_INGRESS_ENV if direct_ingress else None)
    service: Optional[RunningService] = None
    try:
        t0 = time.perf_counter()
        coordinator = start_coordinator(settings)
        log.info("coordinator ready in %.1f s", time.perf_counter() - t0)
        serve.start(http_options={"host": cfg.host, "port": cfg.port}, grpc_options=grpc_options(settings))
        app_name = deploy_app(settings)
        host = "127.0.0.1" if cfg.host in ("0.0.0.0", "::") else cfg.host
        url = app_url(host, cfg.port, cfg.route_prefix)
        service = RunningService(settings=settings, url=url, dashboard_url=dashboard_url(), coordinator=coordinator,
                                 started_ray=started and not settings.ray.address, app_names=[app_name])
        if cfg.grpc:
            service.grpc_target = f"{host}:{cfg.grpc_port}"
        service.log_dir = ray_log_dir()
        if cfg.live_app:
            service.app_names.append(deploy_app(settings, role="live"))
        wait_ready(url, cfg.startup_timeout_s, cfg.ready_poll_s)
        service.direct_url = direct_ingress_url(app_name, host, cfg.port, cfg.route_prefix)
        if service.direct_url is not None:
            wait_ready(service.direct_url, cfg.startup_timeout_s, cfg.ready_poll_s)
        if cfg.live_app:
            service.live_url = app_url(host, cfg.port, cfg.live_route_prefix)
            wait_ready(service.live_url, cfg.startup_timeout_s, cfg.ready_poll_s)
            service.live_direct_url = direct_ingress_url(cfg.live_app_name, host, cfg.port, cfg.live_route_prefix)
            if service.live_direct_url is not None:
                wait_ready(service.live_direct_url, cfg.startup_timeout_s, cfg.ready_poll_s)
        log.info("service ready at %s (direct: %s; live: %s) in %.1f s", url, service.direct_url, service.live_entry,
                 time.perf_counter() - t0)
        return service
    except BaseException:
        if service is not None:
            service.stop()
        elif started and not settings.ray.address and ray.is_initialized():
            ray.shutdown()
        raise


__all__ = ["DIRECT_INGRESS_ENV", "RunningService", "deploy_app", "direct_ingress_url", "free_port", "grpc_options",
           "port_is_free",
           "start_coordinator", "start_service", "wait_ready"]
