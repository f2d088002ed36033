"""The service's one settings class: environment variables and a YAML file.

Every variable is declared here (prefix RAYQUANT_, nested with "__", e.g.
RAYQUANT_GPU__DEVICE__SAFETY_MARGIN=0.1 or RAYQUANT_COORDINATOR__CPU_WORKERS=2).
A YAML file named by RAYQUANT_CONFIG supplies the same keys; environment variables
win over the file. Settings build the frozen per-package config dataclasses
(`gpu_hal.config`, `actors.config`) that are passed down through constructors.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from actors.config import CoordinatorConfig
from gpu_hal.config import GpuHalConfig

ENV_PREFIX = "RAYQUANT_"
CONFIG_FILE_ENV = "RAYQUANT_CONFIG"

# The built-in synthetic dataset (the embedded default needs no download).
SYNTHETIC_DATASET = "synthetic"
SYNTHETIC_ASSETS = 100
SYNTHETIC_BARS = 2520
SYNTHETIC_SEED = 0

# Ray: where the service runs and the names of its long-lived actors.
RAY_NAMESPACE = "rayquant"
COORDINATOR_NAME = "rayquant-coordinator"
WORKER_MAX_CONCURRENCY = 8  # live requests run beside a research chunk


@dataclass(frozen=True)
class DataConfig:
    """The built-in synthetic universe."""

    synthetic_name: str = SYNTHETIC_DATASET
    synthetic_assets: int = SYNTHETIC_ASSETS
    synthetic_bars: int = SYNTHETIC_BARS
    synthetic_seed: int = SYNTHETIC_SEED


@dataclass(frozen=True)
class RayConfig:
    """How the service finds or starts Ray, and its actors' names."""

    address: str | None = None  # None: local Ray started by the program (or the one it runs in)
    namespace: str = RAY_NAMESPACE
    coordinator_name: str = COORDINATOR_NAME
    detached: bool = False  # True when the service is deployed
    worker_max_concurrency: int = WORKER_MAX_CONCURRENCY


class Settings(BaseSettings):
    """All configuration of a rayquant process."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True)

    storage_dir: Path = Path(".rayquant")
    data: DataConfig = Field(default_factory=DataConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    gpu: GpuHalConfig = Field(default_factory=GpuHalConfig)
    coordinator: CoordinatorConfig = Field(default_factory=CoordinatorConfig)

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

    def coordinator_config(self) -> CoordinatorConfig:
        """The coordinator's config with the storage directory of these settings."""
        return replace(self.coordinator, storage_dir=self.storage_dir)


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


__all__ = ["Settings", "load_settings", "DataConfig", "RayConfig"]
