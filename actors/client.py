"""The Python client for notebooks and job scripts.

    from actors.client import connect
    rq = connect()                      # local Ray started here, or RAYQUANT_RAY__ADDRESS / RAY_ADDRESS
    rq = connect("ray://head:10001")    # Ray Client from a notebook
    res = rq.backtest("trend_following", {"fast": 10, "slow": 50})
    res.metrics.loc["portfolio"]

`connect()` attaches to the named coordinator of a running service (`rayquant serve`, a
deployed RayService) when there is one -- `rq.attached` is True and `rq.settings` are the
service's, so outputs default to the service's storage directory -- and starts an
embedded coordinator (with its own workers) only when none runs.
"""
from __future__ import annotations

import time
from typing import Any, TextIO

import ray

from actors.scheduling.coordinator_actor import get_or_create_coordinator
from actors.settings import Settings, load_settings

POLL_S = 0.25


class Client:
    """Submits jobs to the coordinator and returns pandas-backed results."""

    def __init__(self, coordinator: Any, settings: Settings, api_key: str | None = None,
                 attached: bool = False) -> None:
        self.coordinator = coordinator
        self.settings = settings
        self.attached = attached  # True: the coordinator of a service that was already running
        self.api_key = api_key if api_key is not None else settings.client.api_key  # the tenant's identity

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return ray.get(getattr(self.coordinator, method).remote(*args, **kwargs))
        except ray.exceptions.RayTaskError as exc:
            # The service's own error (ClassNotAllowed, a bad request, ...) as itself: its message, not
            # the actor's traceback with the worker's pid, address and paths.
            cause = getattr(exc, "cause", None)
            if isinstance(cause, Exception) and not isinstance(cause, ray.exceptions.RayError):
                raise cause from None
            raise

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


def running_coordinator(settings: Settings) -> Any | None:
    """The named coordinator of a running service in this Ray cluster, or None."""
    try:
        return ray.get_actor(settings.ray.coordinator_name, namespace=settings.ray.namespace)
    except ValueError:  # no actor of that name
        return None


def connect(address: str | None = None, settings: Settings | None = None, api_key: str | None = None) -> Client:
    """Connect to Ray and attach to the running service's coordinator, or start an embedded one.

    Attached, the client takes the service's settings (its storage directory, limits) from the
    coordinator; embedded, it uses `settings` (the environment's by default) with the storage
    directory made absolute. The API key (identity) is always this caller's.
    """
    settings = settings or load_settings()
    target = address or settings.ray.address
    if not ray.is_initialized():
        ray.init(address=target, namespace=settings.ray.namespace, ignore_reinit_error=True)
    key = api_key if api_key is not None else settings.client.api_key
    coordinator = running_coordinator(settings)
    attached = coordinator is not None
    if coordinator is None:
        settings = settings.model_copy(update={"storage_dir": settings.storage_dir.expanduser().resolve()})
        coordinator = get_or_create_coordinator(settings)  # get_if_exists: a racing starter's wins
    ray.get(coordinator.start.remote())
    return Client(coordinator, ray.get(coordinator.service_settings.remote()), key, attached=attached)


class JobProgress:
    """One progress bar (tqdm) for a whole job: chunks done of total, state, workers, cells/s, ETA."""

    def __init__(self, job_id: str, stream: TextIO | None = None) -> None:
        from tqdm import tqdm  # noqa: PLC0415

        self.bar = tqdm(total=0, desc=f"job {job_id[:8]} queued", unit="chunk", file=stream, dynamic_ncols=True,
                        mininterval=0.0, bar_format="{desc}: {n_fmt}/{total_fmt} chunks |{bar}| {elapsed}{postfix}")

    def update(self, status: dict[str, Any]) -> None:
        progress = status.get("progress") or {}
        total = progress.get("chunks_total") or 0
        if total and self.bar.total != total:
            self.bar.total = total
        self.bar.n = progress.get("chunks_done") or 0
        self.bar.set_description(f"job {status['job_id'][:8]} {status['state']}", refresh=False)
        post: dict[str, Any] = {}
        if progress.get("workers"):
            post["workers"] = len(progress["workers"])
        if progress.get("cells_per_s"):
            post["cells/s"] = f"{progress['cells_per_s']:.3g}"
        if progress.get("eta_s") is not None:
            post["eta"] = f"{progress['eta_s']:.1f}s"
        if status.get("device"):
            post["on"] = status["device"]
        if status.get("tier") and status["tier"] != "primary":
            post["tier"] = status["tier"]
        if status.get("cache_hit"):
            post["cached"] = True
        self.bar.set_postfix(post, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()
