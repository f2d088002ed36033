"""The Python client for notebooks and job scripts.

    from actors.client import connect
    rq = connect()                      # local Ray started here, or RAYQUANT_RAY__ADDRESS
    rq = connect("ray://head:10001")    # Ray Client from a notebook
    res = rq.backtest("trend_following", {"fast": 10, "slow": 50})
    res.metrics.loc["portfolio"]
"""
from __future__ import annotations

import time
from typing import Any

import ray

from actors.scheduling.coordinator_actor import get_or_create_coordinator
from actors.settings import Settings, load_settings

POLL_S = 0.25


class Client:
    """Submits jobs to the coordinator and returns pandas-backed results."""

    def __init__(self, coordinator: Any, settings: Settings, api_key: str | None = None) -> None:
        self.coordinator = coordinator
        self.settings = settings
        self.api_key = api_key if api_key is not None else settings.client.api_key  # the tenant's identity

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return ray.get(getattr(self.coordinator, method).remote(*args, **kwargs))

    def submit(self, kind: str, payload: dict, priority: str = "LOW", tenant: str | None = None) -> str:
        """Submit a job as this client's tenant (its API key's, when keys are configured)."""
        return self._call("submit_as", kind, payload, priority, self.api_key, tenant)

    def status(self, job_id: str) -> dict:
        return self._call("status", job_id)

    def result(self, job_id: str, timeout_s: float | None = None) -> Any:
        """Wait for a job and return its result object (RunResult, SweepResult...)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            status = self._call("wait", job_id, POLL_S * 20)
            if status["state"] == "succeeded":
                return self._call("result", job_id)
            if status["state"] in ("failed", "cancelled"):
                raise RuntimeError(f"job {job_id} {status['state']}: {status.get('error')}")
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {status['state']} after {timeout_s} s")

    def cancel(self, job_id: str) -> dict:
        return self._call("cancel", job_id)

    def list(self, tenant: str | None = None, state: str | None = None, limit: int | None = None) -> list[dict]:
        return self._call("list", tenant, state, limit)

    def devices(self) -> list[dict]:
        return self._call("devices")

    def backtest(self, strategy: str, params: dict | None = None, dataset: str = "synthetic",
                 symbols: list[str] | None = None, fees: float = 0.0, slippage: float = 0.0,
                 priority: str = "LOW", tenant: str | None = None, wait: bool = True) -> Any:
        payload = {"dataset": dataset, "strategy": strategy, "params": params or {}, "fees": fees,
                   "slippage": slippage, "symbols": symbols}
        job_id = self.submit("backtest", payload, priority, tenant)
        return self.result(job_id) if wait else job_id

    def sweep(self, strategy: str, grid: dict, dataset: str = "synthetic", symbols: list[str] | None = None,
              fees: float = 0.0, slippage: float = 0.0, top_k: int = 10, rank_by: str = "sharpe",
              priority: str = "LOW", tenant: str | None = None, wait: bool = True) -> Any:
        payload = {"dataset": dataset, "strategy": strategy, "grid": grid, "fees": fees, "slippage": slippage,
                   "top_k": top_k, "rank_by": rank_by, "symbols": symbols}
        job_id = self.submit("sweep", payload, priority, tenant)
        return self.result(job_id) if wait else job_id

    def features(self, indicators: list[dict], dataset: str = "synthetic", symbols: list[str] | None = None,
                 window: int | None = None, priority: str = "REALTIME", tenant: str = "live") -> dict:
        """Indicators for the last `window` bars as {name: DataFrame (bars x symbols)} (live work)."""
        payload = {"dataset": dataset, "indicators": indicators, "symbols": symbols, "window": window}
        return self._call("run_live", "features", payload, priority, tenant).result

    def train(self, name: str, model: str, features: list, horizon: int = 1, task: str = "regression",
              params: dict | None = None, dataset: str = "synthetic", symbols: list[str] | None = None,
              test_fraction: float = 0.2, priority: str = "NORMAL", tenant: str | None = None,
              wait: bool = True) -> Any:
        """Train `model` on indicator features of a dataset; returns the stored record (or the job id)."""
        payload = {"dataset": dataset, "symbols": symbols, "name": name, "model": model, "params": params or {},
                   "features": features, "horizon": horizon, "task": task, "test_fraction": test_fraction}
        job_id = self.submit("train", payload, priority, tenant)
        return self.result(job_id).record if wait else job_id

    def predict(self, name: str, rows: list | None = None, dataset: str = "synthetic",
                symbols: list[str] | None = None, version: int | None = None,
                priority: str = "REALTIME", tenant: str = "live") -> dict:
        """Predictions of a stored model for `rows` (feature rows) or the dataset's latest bar (live work)."""
        payload = {"dataset": dataset, "symbols": symbols, "name": name, "version": version, "rows": rows}
        return self._call("run_live", "predict", payload, priority, tenant).result

    def models(self) -> list[dict]:
        return self._call("list_models")

    def register_dataset(self, name: str, panel: Any) -> dict:
        return self._call("register_dataset", name, panel)


def connect(address: str | None = None, settings: Settings | None = None, api_key: str | None = None) -> Client:
    """Connect to (or start) Ray and the coordinator; returns a Client."""
    settings = settings or load_settings()
    target = address or settings.ray.address
    if not ray.is_initialized():
        ray.init(address=target, namespace=settings.ray.namespace, ignore_reinit_error=True)
    coordinator = get_or_create_coordinator(settings)
    ray.get(coordinator.start.remote())
    return Client(coordinator, settings, api_key)
