"""The Ray Serve application: an undecorated FastAPI ingress and its builder.

    serve run deployments.app:app                       # defaults (env RAYQUANT_* / RAYQUANT_CONFIG)
    serve run deployments.app:build_app settings='{"serve": {"port": 8000}}'
    serve deploy deployments/manifests/serve_config.yaml  # the app and the live app

`live_app` (`build_app(role="live")`, deployed as `rayquant-live` under /live) serves only
the live routes from replicas of its own, so that research requests never share an
event loop with them.

`build_app(AppArgs) -> Application` applies `serve.deployment(cls, **options)` to
the plain `RayQuantIngress` class, as Ray's app builders do; the class builds its
FastAPI app after construction (`__serve_build_asgi_app__`), so routes reach the
coordinator through the replica's own handle. Health checks delegate to the
coordinator.
"""
from __future__ import annotations

import asyncio
import logging
import sys
import threading
from typing import Any, Literal, Optional

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import HTMLResponse
from ray import serve
from ray.serve import Application

from actors.settings import Settings, load_settings
from deployments.grpc_api.ingress import GrpcIngress

log = logging.getLogger("rayquant.serve")

INGRESS_NAME = "RayQuantIngress"
LIVE_INGRESS_NAME = "RayQuantLiveIngress"
Role = Literal["all", "live"]  # every route, or only the live ones (`routes.create_api(live_only=True)`)


class AppArgs(BaseModel):
    """Arguments of `build_app` (what `serve run ... key=value` or a Serve config's `args` give).

    `settings` are overrides on top of the environment and RAYQUANT_CONFIG, in the
    shape of `actors.settings.Settings` (e.g. {"serve": {"api_keys": {...}}}).
    """

    model_config = ConfigDict(extra="forbid")

    settings: dict[str, Any] = Field(default_factory=dict)
    role: Role = "all"


class RayQuantIngress(GrpcIngress):
    """One HTTP and gRPC replica: a coordinator handle and the FastAPI app of `deployments.http.routes`.

    The gRPC methods (`GrpcIngress`, one per RPC of deployments/protos) call the same FastAPI app in
    process, so both APIs share validation, coordinator calls and errors.

    `role` "live" serves only the live routes: health, features, streams, predict (the live
    application's replicas, `ServeConfig.live_app`).
    """

    def __init__(self, settings: Settings, role: Role = "all") -> None:
        from actors.scheduling.coordinator_actor import get_or_create_coordinator  # noqa: PLC0415

        # The event loop (HTTP and live requests) waits at most this long for the GIL held by a
        # thread that converts a research result (CPython's default is 5 ms).
        sys.setswitchinterval(settings.ray.gil_switch_interval_s)

        self.settings = settings
        self.role = role
        self.config = settings.serve
        self.coordinator = get_or_create_coordinator(settings)
        # Start (or join) the coordinator now: its workers prewarm while the replica comes up.
        self._starting = self.coordinator.start.remote()
        # Inline-bar features run here on the CPU: load their compiled kernels off the request path; then
        # keep the garbage collector's full passes off the start-up objects (actors.heap).
        threading.Thread(target=warm_up_replica, args=(settings.ray.gc_freeze,), name="rayquant-warmup",
                         daemon=True).start()
        # Models for /v1/models/{id}/predict: loaded (multiplexed) and batched in this replica.
        from deployments.model_serving import ModelServer  # noqa: PLC0415

        self.models = ModelServer(settings)

    def __serve_build_asgi_app__(self) -> Any:
        from actors.scheduling.placement.fallback import FallbackPolicy  # noqa: PLC0415
        from actors.live.router import LiveRouter  # noqa: PLC0415
        from deployments.control_loop import ControlLoop  # noqa: PLC0415
        from deployments.http.routes import Service, create_api  # noqa: PLC0415

        live = LiveRouter(self.coordinator, FallbackPolicy(self.settings.coordinator.fallback),
                          channel=self.settings.live_channel)
        from actors.scheduling.coordinator_actor import build_dataset_store  # noqa: PLC0415

        # Live requests resolve a tenant's dataset names here (a read-only view of the same storage).
        service = Service(self.coordinator, self.config, live, ControlLoop(), datasets=build_dataset_store(self.settings))
        api = create_api(service, live_only=self.role == "live")
        api.state.models = self.models
        mount_streams(api, live, self.settings)
        install_offline_docs(api)
        self.grpc_api = api
        return api

    async def check_health(self) -> None:
        """Serve's replica health check: the coordinator must answer."""
        await asyncio.wait_for(_await(self.coordinator.stats.remote()), self.config.coordinator_timeout_s)


DOCS_STATIC_URL = "/static-offline-docs"


def docs_static_dir() -> str:
    """Swagger UI and ReDoc (JS, CSS, favicon) as the installed `fastapi-offline` package ships them."""
    import fastapi_offline  # noqa: PLC0415

    from pathlib import Path  # noqa: PLC0415

    return str(Path(fastapi_offline.__file__).parent / "static")


def install_offline_docs(api: Any) -> None:
    """`/docs` and `/redoc` with their assets served by this app (no CDN: they work without internet).

    FastAPI's documented self-hosting hooks (`get_swagger_ui_html`, `get_redoc_html`) with the files of the
    installed `fastapi-offline` package, mounted at DOCS_STATIC_URL; URLs follow the app's root path (the
    live application under /live).
    """
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html  # noqa: PLC0415
    from fastapi.staticfiles import StaticFiles  # noqa: PLC0415

    try:
        static_dir = docs_static_dir()
    except ImportError:  # the package is a dependency; without it FastAPI's CDN pages stay
        log.warning("fastapi-offline is not installed: /docs and /redoc load their assets from a CDN")
        return
    docs_url, redoc_url = api.docs_url or "/docs", api.redoc_url or "/redoc"
    redirect_url = api.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"
    api.router.routes = [r for r in api.router.routes if getattr(r, "path", None) not in
                         (docs_url, redoc_url, redirect_url)]
    api.mount(DOCS_STATIC_URL, StaticFiles(directory=static_dir), name="static-offline-docs")

    @api.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(openapi_url=f"{root}{api.openapi_url}", title=f"{api.title} - Swagger UI",
                                   oauth2_redirect_url=f"{root}{redirect_url}",
                                   swagger_js_url=f"{root}{DOCS_STATIC_URL}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{root}{DOCS_STATIC_URL}/swagger-ui.css",
                                   swagger_favicon_url=f"{root}{DOCS_STATIC_URL}/favicon.png",
                                   swagger_ui_parameters=api.swagger_ui_parameters)

    @api.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @api.get(redoc_url, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(openapi_url=f"{root}{api.openapi_url}", title=f"{api.title} - ReDoc",
                              redoc_js_url=f"{root}{DOCS_STATIC_URL}/redoc.standalone.js",
                              redoc_favicon_url=f"{root}{DOCS_STATIC_URL}/favicon.png", with_google_fonts=False)


def mount_streams(api: Any, live: Any, settings: Settings) -> None:
    """`WS /v1/stream`, `/v1/streams`, `/v1/ticks`: streams sticky to workers through one router per replica."""
    from actors.streams.router import StreamRouter  # noqa: PLC0415
    from deployments.http.stream_routes import build_stream_router  # noqa: PLC0415

    api.state.streams = StreamRouter(live, settings.streams, tenant=settings.serve.live_tenant)
    api.include_router(build_stream_router(settings.streams))


async def _await(ref: Any) -> Any:
    return await ref


def warm_up_replica(gc_freeze: bool) -> None:
    """The replica's warm-up thread: inline-feature kernels, then (optionally) freeze the start-up heap."""
    warm_inline_features()
    if gc_freeze:
        from actors.heap import freeze_long_lived  # noqa: PLC0415

        freeze_long_lived("serve replica")


def warm_inline_features() -> None:
    """Run every indicator once on a tiny panel (Numba loads or compiles its kernels)."""
    try:
        from kernels.data import synthetic_panel  # noqa: PLC0415
        from kernels.indicators import INDICATORS, compute  # noqa: PLC0415

        compute(synthetic_panel(2, 64, seed=0), list(INDICATORS))
    except Exception:  # noqa: BLE001 - a warm-up never takes the replica down
        log.warning("inline features warm-up failed", exc_info=True)


def deployment_options(settings: Settings, role: Role = "all") -> dict[str, Any]:
    """Serve options of the ingress deployment (of the live application with `role` "live"), from the settings."""
    cfg = settings.serve
    live = role == "live"
    options: dict[str, Any] = {
        "name": LIVE_INGRESS_NAME if live else INGRESS_NAME,
        "max_ongoing_requests": cfg.max_ongoing_requests,
        "ray_actor_options": {"num_cpus": cfg.replica_num_cpus},
        "health_check_timeout_s": cfg.coordinator_timeout_s + 1,
    }
    if cfg.autoscaling:
        options["autoscaling_config"] = autoscaling_config(settings, role)
    else:
        options["num_replicas"] = cfg.live_num_replicas if live else cfg.num_replicas
    return options


def autoscaling_config(settings: Settings, role: Role = "all") -> dict[str, Any]:
    """Serve autoscaling of the ingress: between num_replicas (the live app: live_num_replicas, kept warm)
    and the maxima, aiming at `target_ongoing_requests` per replica."""
    cfg = settings.serve
    live = role == "live"
    return {
        "min_replicas": cfg.live_num_replicas if live else cfg.num_replicas,
        "initial_replicas": cfg.live_num_replicas if live else cfg.num_replicas,
        "max_replicas": cfg.live_max_replicas if live else cfg.max_replicas,
        "target_ongoing_requests": cfg.target_ongoing_requests,
        "upscale_delay_s": cfg.upscale_delay_s,
        "downscale_delay_s": cfg.downscale_delay_s,
    }


def build_app(args: AppArgs | dict | None = None, settings: Optional[Settings] = None,
              role: Optional[Role] = None) -> Application:
    """The Serve application: `serve.deployment(RayQuantIngress, **options).bind(settings, role)`."""
    parsed = args if isinstance(args, AppArgs) else AppArgs.model_validate(args or {})
    if settings is None:
        settings = load_settings(**parsed.settings)
    role = role or parsed.role
    ingress = serve.ingress()(RayQuantIngress)
    return serve.deployment(ingress, **deployment_options(settings, role)).bind(settings, role)


# `serve run deployments.app:app`: the application with the environment's settings; `live_app`: its live routes.
app = build_app(AppArgs())
live_app = build_app(AppArgs(role="live"))

__all__ = ["AppArgs", "RayQuantIngress", "app", "autoscaling_config", "install_offline_docs", "build_app", "deployment_options", "live_app"]
