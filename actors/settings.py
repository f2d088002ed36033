"""The service's one settings class: environment variables and a YAML file.

Every variable is declared here (prefix RAYQUANT_, nested with "__", e.g.
RAYQUANT_GPU__DEVICE__SAFETY_MARGIN=0.1 or RAYQUANT_COORDINATOR__CPU_WORKERS=2).
A YAML file named by RAYQUANT_CONFIG supplies the same keys; environment variables
win over the file. Settings build the frozen per-package config dataclasses
(`gpu_hal.config`, `actors.config`) that are passed down through constructors.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from actors.config import CoordinatorConfig, LiveChannelConfig
from actors.tenants.quotas import TenantsConfig
from gpu_hal.config import GpuHalConfig
from kernels.host_memory import HostMemoryConfig

ENV_PREFIX = "RAYQUANT_"
CONFIG_FILE_ENV = "RAYQUANT_CONFIG"

# The built-in synthetic dataset (the embedded default needs no download).
SYNTHETIC_DATASET = "synthetic"
SYNTHETIC_ASSETS = 100
SYNTHETIC_BARS = 2520
SYNTHETIC_SEED = 0
# Uploaded datasets: decoded size limits (larger -> 413 naming the limit) and the coordinator's panel cache.
DATA_MAX_UPLOAD_ROWS = 10_000_000  # long-form rows after decoding
DATA_MAX_UPLOAD_SYMBOLS = 20_000
DATA_MAX_UPLOAD_CELLS = 10_000_000  # bars x symbols of the panel an upload pivots to (x 5 fields x 8 bytes)
DATA_CACHE_MAX_BYTES = 2 << 30  # panels kept in memory (LRU by bytes)

KERNEL_CACHE_SUBDIR = "kernel-cache"

# Ray: where the service runs and the names of its long-lived actors.
RAY_NAMESPACE = "rayquant"
COORDINATOR_NAME = "rayquant-coordinator"
WORKER_MAX_CONCURRENCY = 8  # live requests run beside a research chunk
# How long a thread holding the GIL keeps it while another waits (CPython's default is 5 ms), in the
# worker and HTTP replica processes: a live request's thread waits at most about this long for a
# research chunk's (or a research request's) Python code. 0.1 ms: H100, 20 bursts of 20 backtests under a
# 50 Hz feature stream, feature p99 14.8 ms vs 25.2 ms at 0.5 ms (bench/results/service_h100_run6*.json).
GIL_SWITCH_INTERVAL_S = 0.0001

# The HTTP service (Ray Serve): where it listens, what it accepts, which classes it uses.
SERVE_HOST = "127.0.0.1"
SERVE_PORT = 8000
SERVE_APP_NAME = "rayquant"
SERVE_ROUTE_PREFIX = "/"
SERVE_NUM_REPLICAS = 1
# The live application: the live routes (features, streams, predict) again, in replicas of their own, so
# that research requests (a burst of backtests) never queue a live request on the same event loop.
SERVE_LIVE_APP = True
SERVE_LIVE_APP_NAME = "rayquant-live"
SERVE_LIVE_ROUTE_PREFIX = "/live"
SERVE_LIVE_NUM_REPLICAS = 1
SERVE_REPLICA_NUM_CPUS = 1.0
SERVE_MAX_ONGOING_REQUESTS = 256
SERVE_MAX_REQUEST_BYTES = 64 << 20  # bodies (uploads included); larger -> 413
SERVE_MAX_SWEEP_COMBINATIONS = 1_000_000  # never above actors.jobs.plans.SWEEP_GRID_LIMIT; larger -> 413
SERVE_MAX_SYMBOLS = 10_000  # symbols named in one request
SERVE_MAX_INDICATORS = 64  # indicator specs in one features request
SERVE_RESEARCH_PRIORITY = "LOW"
SERVE_RESEARCH_PRIORITIES: tuple[str, ...] = ("HIGH", "NORMAL", "LOW", "IDLE")
SERVE_LIVE_PRIORITY = "REALTIME"
SERVE_LIVE_PRIORITIES: tuple[str, ...] = ("REALTIME", "HIGH")
SERVE_LIVE_TENANT = "live"  # the tenant whose pool the workers prewarm
SERVE_DEFAULT_TENANT = "default"  # research tenant when no API keys are configured
SERVE_WAIT_TIMEOUT_S = 60.0  # ?wait=true default
SERVE_MAX_WAIT_TIMEOUT_S = 600.0
SERVE_COORDINATOR_TIMEOUT_S = 60.0  # one call from the HTTP replica to the coordinator
SERVE_BODY_TIMEOUT_S = 10.0  # longest wait for the next piece of a request body (then 408 and the connection closes)
SERVE_READY_TIMEOUT_S = 2.0  # /readyz and the replica health check
SERVE_RESULT_ROW_LIMIT = 1_000  # sweep combinations per result page (default)
SERVE_MAX_RESULT_ROWS = 100_000
SERVE_EQUITY_MAX_POINTS = 5_000  # equity-curve points per backtest result (strided beyond)
SERVE_STARTUP_TIMEOUT_S = 600.0  # Ray + coordinator + worker prewarm + Serve
SERVE_READY_POLL_S = 0.25  # start-up: interval between /readyz probes
SERVE_UNAVAILABLE_RETRY_AFTER_S = 5  # Retry-After of a 503 (no capacity, coordinator unavailable)
SERVE_PREDICT_MAX_BATCH_SIZE = 64  # predict requests gathered into one @serve.batch call
SERVE_PREDICT_BATCH_WAIT_S = 0.0  # no fill wait: the next batch forms while one runs
# gRPC through Serve's gRPC proxy (deployments/grpc_api/ingress.py, protos in deployments/protos/).
SERVE_GRPC = True
SERVE_GRPC_PORT = 9000
# Serve autoscaling of both applications: replicas between num_replicas (live_num_replicas: kept warm) and
# these maxima, aiming at this many ongoing requests per replica.
SERVE_AUTOSCALING = True
SERVE_MAX_REPLICAS = 4
SERVE_LIVE_MAX_REPLICAS = 4
SERVE_TARGET_ONGOING_REQUESTS = 32.0
SERVE_UPSCALE_DELAY_S = 10.0
SERVE_DOWNSCALE_DELAY_S = 300.0

# Streaming features (WS /v1/stream, POST /v1/ticks) and the workers' feature cache.
STREAM_IDLE_TIMEOUT_S = 600.0  # a stream with no tick for this long is evicted (worker and router)
STREAM_MAX_STREAMS = 1_000  # open streams per worker (and per router); more -> 429
STREAM_MAX_STREAMS_PER_TENANT = 250  # open streams of one tenant per router: one tenant cannot take every slot
STREAM_SNAPSHOT_EVERY = 32  # batches between the router's snapshots (ticks since are kept for replay)
STREAM_QUEUE_SIZE = 8  # messages read ahead per WebSocket connection; full -> the server stops reading
STREAM_MAX_TICKS = 200_000  # ticks in one batch
STREAM_MAX_SYMBOLS = 10_000  # symbols of one stream
STREAM_SEED_CACHE = 8  # seeded states (dataset version, symbols, config) a worker keeps to open streams fast
STREAM_EVICT_INTERVAL_S = 5.0  # how often idle streams are looked for
STREAM_MAX_COALESCE = 64  # pushes of several streams sent to a worker in one call
STREAM_MAX_INFLIGHT = 4  # calls in flight per worker from one router
STREAM_MAX_RECOVERIES = 4  # restores (down the fallback chain) of one batch before it fails
FEATURE_CACHE_MAX_BYTES = 256 << 20  # live feature results a worker keeps (LRU)
FEATURE_CACHE_MAX_ENTRIES = 4_096
# Worker prewarm of the TA-Lib function set: "full" (every CPU group module, and on a GPU worker every
# CUDA column module), "cpu" (the CPU modules only), "off".
TALIB_PREWARM_MODES = ("full", "cpu", "off")
# Off by default: from a cold Numba cache the TA-Lib set takes ~165 CPU-seconds to compile, which would
# hold every worker's readiness (the README demo on a fresh 2-core machine, a new Ray working dir). Set
# "full" on GPU nodes whose cache is warm, so the first TA-Lib request is not the one that compiles.
TALIB_PREWARM = "off"
# Streams: TA-Lib functions without an O(1) streaming form recompute over the last this many bars.
STREAM_TALIB_WINDOW = 512


@dataclass(frozen=True)
class ServeConfig:
    """The HTTP service: address, limits, API keys (key -> tenant) and default classes.

    With `api_keys` empty the API is open (tenant from the X-Tenant header or
    "default"); with keys configured every /v1 request needs a known X-API-Key and
    its tenant is the key's. Research jobs default to LOW, live endpoints to REALTIME.
    """

    host: str = SERVE_HOST
    port: int = SERVE_PORT
    app_name: str = SERVE_APP_NAME
    route_prefix: str = SERVE_ROUTE_PREFIX
    num_replicas: int = SERVE_NUM_REPLICAS
    replica_num_cpus: float = SERVE_REPLICA_NUM_CPUS
    live_app: bool = SERVE_LIVE_APP
    live_app_name: str = SERVE_LIVE_APP_NAME
    live_route_prefix: str = SERVE_LIVE_ROUTE_PREFIX
    live_num_replicas: int = SERVE_LIVE_NUM_REPLICAS
    max_ongoing_requests: int = SERVE_MAX_ONGOING_REQUESTS
    api_keys: Mapping[str, str] | str = field(default_factory=dict)  # str: JSON or "key=tenant,key2=tenant2"
    # Tenants whose keys may publish shared datasets and see every tenant in GET /v1/devices (str: comma-separated).
    admin_tenants: tuple[str, ...] | str = ()
    max_request_bytes: int = SERVE_MAX_REQUEST_BYTES
    max_upload_rows: int = DATA_MAX_UPLOAD_ROWS  # decoded long-form rows of an uploaded dataset; more -> 413
    max_upload_symbols: int = DATA_MAX_UPLOAD_SYMBOLS
    max_upload_cells: int = DATA_MAX_UPLOAD_CELLS  # bars x symbols of the panel an upload pivots to
    max_sweep_combinations: int = SERVE_MAX_SWEEP_COMBINATIONS
    max_symbols: int = SERVE_MAX_SYMBOLS
    max_indicators: int = SERVE_MAX_INDICATORS
    research_priority: str = SERVE_RESEARCH_PRIORITY
    research_priorities: tuple[str, ...] | str = SERVE_RESEARCH_PRIORITIES  # str: comma-separated
    live_priority: str = SERVE_LIVE_PRIORITY
    live_priorities: tuple[str, ...] | str = SERVE_LIVE_PRIORITIES
    live_tenant: str = SERVE_LIVE_TENANT
    default_tenant: str = SERVE_DEFAULT_TENANT
    wait_timeout_s: float = SERVE_WAIT_TIMEOUT_S
    max_wait_timeout_s: float = SERVE_MAX_WAIT_TIMEOUT_S
    coordinator_timeout_s: float = SERVE_COORDINATOR_TIMEOUT_S
    body_timeout_s: float = SERVE_BODY_TIMEOUT_S
    ready_timeout_s: float = SERVE_READY_TIMEOUT_S
    result_row_limit: int = SERVE_RESULT_ROW_LIMIT
    max_result_rows: int = SERVE_MAX_RESULT_ROWS
    equity_max_points: int = SERVE_EQUITY_MAX_POINTS
    startup_timeout_s: float = SERVE_STARTUP_TIMEOUT_S
    ready_poll_s: float = SERVE_READY_POLL_S
    unavailable_retry_after_s: int = SERVE_UNAVAILABLE_RETRY_AFTER_S
    predict_max_batch_size: int = SERVE_PREDICT_MAX_BATCH_SIZE
    predict_batch_wait_s: float = SERVE_PREDICT_BATCH_WAIT_S
    grpc: bool = SERVE_GRPC
    grpc_port: int = SERVE_GRPC_PORT
    autoscaling: bool = SERVE_AUTOSCALING
    max_replicas: int = SERVE_MAX_REPLICAS
    live_max_replicas: int = SERVE_LIVE_MAX_REPLICAS
    target_ongoing_requests: float = SERVE_TARGET_ONGOING_REQUESTS
    upscale_delay_s: float = SERVE_UPSCALE_DELAY_S
    downscale_delay_s: float = SERVE_DOWNSCALE_DELAY_S

    def __post_init__(self) -> None:
        from gpu_hal.streams.priority import JobClass  # noqa: PLC0415

        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in [0, 65535], got {self.port}")
        if not 0 <= self.grpc_port <= 65535:
            raise ValueError(f"grpc_port must be in [0, 65535], got {self.grpc_port}")
        if self.max_replicas < self.num_replicas or self.live_max_replicas < self.live_num_replicas:
            raise ValueError("need max_replicas >= num_replicas and live_max_replicas >= live_num_replicas")
        if self.target_ongoing_requests <= 0 or min(self.upscale_delay_s, self.downscale_delay_s) < 0:
            raise ValueError("need target_ongoing_requests > 0 and non-negative scaling delays")
        if not self.route_prefix.startswith("/"):
            raise ValueError(f"route_prefix must start with '/', got {self.route_prefix!r}")
        if self.num_replicas < 1 or self.replica_num_cpus < 0 or self.max_ongoing_requests < 1:
            raise ValueError("need num_replicas >= 1, replica_num_cpus >= 0 and max_ongoing_requests >= 1")
        if self.live_num_replicas < 1:
            raise ValueError(f"live_num_replicas must be >= 1, got {self.live_num_replicas}")
        if not self.live_route_prefix.startswith("/") or self.live_route_prefix.rstrip("/") in ("", "/v1"):
            raise ValueError(f"live_route_prefix must start with '/' and differ from the API's, "
                             f"got {self.live_route_prefix!r}")
        if self.live_app_name == self.app_name:
            raise ValueError("live_app_name must differ from app_name")
        keys = _parse_api_keys(self.api_keys)
        for key, tenant in keys.items():
            if not isinstance(key, str) or len(key) < 8:
                raise ValueError("API keys must be strings of at least 8 characters")
            if not isinstance(tenant, str) or not tenant:
                raise ValueError(f"API key ...{key[-4:]} maps to an empty tenant")
        object.__setattr__(self, "api_keys", keys)
        admins = self.admin_tenants
        if isinstance(admins, str):
            admins = tuple(a.strip() for a in admins.split(",") if a.strip())
        object.__setattr__(self, "admin_tenants", tuple(admins))
        if self.max_request_bytes < 1:
            raise ValueError(f"max_request_bytes must be >= 1, got {self.max_request_bytes}")
        if min(self.max_upload_rows, self.max_upload_symbols, self.max_upload_cells) < 1:
            raise ValueError("max_upload_rows, max_upload_symbols and max_upload_cells must be >= 1")
        if not 1 <= self.max_sweep_combinations <= SERVE_MAX_SWEEP_COMBINATIONS:
            raise ValueError(f"max_sweep_combinations must be in [1, {SERVE_MAX_SWEEP_COMBINATIONS}]")
        if self.max_symbols < 1 or self.max_indicators < 1:
            raise ValueError("max_symbols and max_indicators must be >= 1")
        if self.predict_max_batch_size < 1 or self.predict_batch_wait_s < 0:
            raise ValueError("need predict_max_batch_size >= 1 and predict_batch_wait_s >= 0")
        for name in ("research_priorities", "live_priorities"):
            given = getattr(self, name)
            if isinstance(given, str):
                given = tuple(p for p in given.split(",") if p.strip())
            object.__setattr__(self, name, tuple(JobClass.parse(p).name for p in given))
        object.__setattr__(self, "research_priority", JobClass.parse(self.research_priority).name)
        object.__setattr__(self, "live_priority", JobClass.parse(self.live_priority).name)
        if self.research_priority not in self.research_priorities:
            raise ValueError(f"research_priority {self.research_priority} is not in research_priorities")
        if self.live_priority not in self.live_priorities:
            raise ValueError(f"live_priority {self.live_priority} is not in live_priorities")
        if not 0 < self.wait_timeout_s <= self.max_wait_timeout_s:
            raise ValueError("need 0 < wait_timeout_s <= max_wait_timeout_s")
        if min(self.coordinator_timeout_s, self.ready_timeout_s, self.startup_timeout_s, self.ready_poll_s,
               self.body_timeout_s) <= 0:
            raise ValueError("timeouts must be > 0")
        if not 1 <= self.result_row_limit <= self.max_result_rows:
            raise ValueError("need 1 <= result_row_limit <= max_result_rows")
        if self.unavailable_retry_after_s < 1:
            raise ValueError(f"unavailable_retry_after_s must be >= 1, got {self.unavailable_retry_after_s}")
        if self.equity_max_points < 2:
            raise ValueError(f"equity_max_points must be >= 2, got {self.equity_max_points}")

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)


@dataclass(frozen=True)
class StreamsConfig:
    """Streaming features: stream limits, the router's snapshots, backpressure, the feature cache.

    `max_streams` and `idle_timeout_s` bound each worker's stream registry (and the
    replica's router); `snapshot_every` is how many tick batches the router keeps
    for replay between two snapshots; `queue_size` is how many WebSocket messages a
    connection reads ahead (then the server stops reading: TCP backpressure).
    """

    idle_timeout_s: float = STREAM_IDLE_TIMEOUT_S
    max_streams: int = STREAM_MAX_STREAMS
    max_streams_per_tenant: int = STREAM_MAX_STREAMS_PER_TENANT
    snapshot_every: int = STREAM_SNAPSHOT_EVERY
    queue_size: int = STREAM_QUEUE_SIZE
    max_ticks: int = STREAM_MAX_TICKS
    max_symbols: int = STREAM_MAX_SYMBOLS
    seed_cache: int = STREAM_SEED_CACHE
    evict_interval_s: float = STREAM_EVICT_INTERVAL_S
    max_coalesce: int = STREAM_MAX_COALESCE
    max_inflight: int = STREAM_MAX_INFLIGHT
    max_recoveries: int = STREAM_MAX_RECOVERIES
    feature_cache_max_bytes: int = FEATURE_CACHE_MAX_BYTES
    feature_cache_max_entries: int = FEATURE_CACHE_MAX_ENTRIES
    talib_prewarm: str = TALIB_PREWARM  # worker prewarm of kernels.indicators.talib: full | cpu | off
    talib_window: int = STREAM_TALIB_WINDOW  # bars a windowed (non-O(1)) TA-Lib stream function recomputes over

    def __post_init__(self) -> None:
        if self.talib_prewarm not in TALIB_PREWARM_MODES:
            raise ValueError(f"streams: talib_prewarm must be one of {list(TALIB_PREWARM_MODES)}, "
                             f"got {self.talib_prewarm!r}")
        if self.talib_window < 2:
            raise ValueError(f"streams: talib_window must be >= 2, got {self.talib_window}")
        if self.idle_timeout_s <= 0 or self.evict_interval_s <= 0:
            raise ValueError("streams: idle_timeout_s and evict_interval_s must be > 0")
        for name in ("max_streams", "max_streams_per_tenant", "snapshot_every", "queue_size", "max_ticks",
                     "max_symbols", "max_coalesce",
                     "max_inflight", "max_recoveries"):
            if getattr(self, name) < 1:
                raise ValueError(f"streams: {name} must be >= 1, got {getattr(self, name)}")
        for name in ("seed_cache", "feature_cache_max_bytes", "feature_cache_max_entries"):
            if getattr(self, name) < 0:
                raise ValueError(f"streams: {name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class DataConfig:
    """The built-in synthetic universe."""

    synthetic_name: str = SYNTHETIC_DATASET
    synthetic_assets: int = SYNTHETIC_ASSETS
    synthetic_bars: int = SYNTHETIC_BARS
    synthetic_seed: int = SYNTHETIC_SEED
    cache_max_bytes: int = DATA_CACHE_MAX_BYTES  # the coordinator's panels in memory (LRU by bytes)

    def __post_init__(self) -> None:
        if self.cache_max_bytes < 0:
            raise ValueError(f"data: cache_max_bytes must be >= 0, got {self.cache_max_bytes}")


@dataclass(frozen=True)
class RayConfig:
    """How the service finds or starts Ray, and its actors' names."""

    address: str | None = None  # None: local Ray started by the program (or the one it runs in)
    namespace: str = RAY_NAMESPACE
    coordinator_name: str = COORDINATOR_NAME
    detached: bool = False  # True when the service is deployed
    worker_max_concurrency: int = WORKER_MAX_CONCURRENCY
    gil_switch_interval_s: float = GIL_SWITCH_INTERVAL_S
    gc_freeze: bool = True  # worker, replica and coordinator processes: see actors.heap

    def __post_init__(self) -> None:
        if not 0 < self.gil_switch_interval_s <= 1:
            raise ValueError(f"ray: gil_switch_interval_s must be in (0, 1], got {self.gil_switch_interval_s}")


@dataclass(frozen=True)
class ClientConfig:
    """How a Ray client or Ray Jobs caller identifies itself (actors.tenants.identity)."""

    api_key: str | None = None  # RAYQUANT_CLIENT__API_KEY: one of serve.api_keys when keys are configured


class Settings(BaseSettings):
    """All configuration of a rayquant process."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True)

    storage_dir: Path = Path(".rayquant")
    data: DataConfig = Field(default_factory=DataConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    gpu: GpuHalConfig = Field(default_factory=GpuHalConfig)
    coordinator: CoordinatorConfig = Field(default_factory=CoordinatorConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    streams: StreamsConfig = Field(default_factory=StreamsConfig)
    live_channel: LiveChannelConfig = Field(default_factory=LiveChannelConfig)
    tenants: TenantsConfig = Field(default_factory=TenantsConfig)
    client: ClientConfig = Field(default_factory=ClientConfig)
    host_memory: HostMemoryConfig = Field(default_factory=HostMemoryConfig)  # malloc keeps freed output blocks

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)

    @property
    def kernel_cache_dir(self) -> Path:
        """CuPy's compiled-kernel cache, kept with the service's storage so restarts skip NVRTC."""
        return self.storage_dir / KERNEL_CACHE_SUBDIR

    def coordinator_config(self) -> CoordinatorConfig:
        """The coordinator's config with the storage directory of these settings."""
        return replace(self.coordinator, storage_dir=self.storage_dir)


def _parse_api_keys(value: Mapping[str, str] | str | None) -> dict[str, str]:
    """API keys from a mapping, a JSON object or "key=tenant,key2=tenant2" (environment form)."""
    if not value:
        return {}
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            import json  # noqa: PLC0415

            return {str(k): str(v) for k, v in json.loads(text).items()}
        pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
        if any(len(p) != 2 for p in pairs):
            raise ValueError("api_keys: expected a JSON object or key=tenant pairs separated by commas")
        return {k.strip(): v.strip() for k, v in pairs}
    return {str(k): str(v) for k, v in dict(value).items()}


def _config_file() -> Path | None:
    import os  # noqa: PLC0415 - the one place that reads the environment directly

    value = os.environ.get(CONFIG_FILE_ENV)
    if not value:
        return None
    path = Path(value)
    if not path.is_file():
        raise FileNotFoundError(f"{CONFIG_FILE_ENV}={value!r} is not a file")
    return path


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and RAYQUANT_CONFIG, with explicit overrides on top."""
    return Settings(**overrides)


__all__ = ["Settings", "load_settings", "DataConfig", "RayConfig", "ServeConfig", "StreamsConfig"]
