"""How a job becomes chunks, how a chunk runs, and how chunk results merge.

Ray-free: the workers call `execute_chunk`, the coordinator calls `plan_job` and
`merge_partials`. Chunks bound the GPU time of one call so that the coordinator can
preempt low-priority work between them; merged chunks equal an unchunked run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd

from kernels.data import Panel

SWEEP_GRID_LIMIT = 1_000_000  # combinations per sweep job (request sizes are bounded)
TRAIN_N_JOBS = -1  # CPU model fits use every core of the worker's node


class JobSpecError(ValueError):
    """A job payload that cannot run (unknown strategy, bad parameters, bad symbols...)."""


@dataclass(frozen=True)
class ChunkSpec:
    """One bounded piece of a job: a range of assets and, for sweeps, of combinations."""

    index: int
    assets: tuple[int, int]
    combos: tuple[int, int] | None = None

    def to_json(self) -> dict:
        return {"index": self.index, "assets": list(self.assets), "combos": list(self.combos) if self.combos else None}


def _select(panel: Panel, symbols: list[str] | None) -> Panel:
    if not symbols:
        return panel
    try:
        return panel.select(symbols)
    except KeyError as exc:
        raise JobSpecError(str(exc)) from exc


def job_panel(panel: Panel, payload: Mapping[str, Any]) -> Panel:
    """The sub-panel a job works on (its symbols, in order)."""
    return _select(panel, payload.get("symbols"))


def _grid_size(grid: Mapping[str, Any]) -> int:
    sizes = [len(v) if isinstance(v, (list, tuple)) else 1 for v in grid.values()]
    return int(np.prod(sizes)) if sizes else 0


def plan_job(kind: str, payload: Mapping[str, Any], n_bars: int, n_assets: int, max_cells: float) -> list[ChunkSpec]:
    """Cut a job into chunks of at most ~max_cells (bars x assets x combinations)."""
    if kind == "sweep":
        from kernels.backtest import plan_chunks  # noqa: PLC0415

        n_combos = _grid_size(payload.get("grid") or {})
        if n_combos < 1:
            raise JobSpecError("grid: give at least one parameter with at least one value")
        if n_combos > SWEEP_GRID_LIMIT:
            raise JobSpecError(f"grid: {n_combos} combinations exceed the limit of {SWEEP_GRID_LIMIT}")
        chunks = plan_chunks(n_combos, n_assets, max_cells, n_bars)
        return [
            ChunkSpec(i, _bounds(c.assets, n_assets), _bounds(c.combos, n_combos)) for i, c in enumerate(chunks)
        ]
    if kind == "backtest":
        per_chunk = max(1, int(max_cells // max(n_bars, 1)))
        if payload.get("strategy") == "pairs":
            per_chunk += per_chunk % 2  # keep pairs together
        if _is_cross_sectional(payload):
            per_chunk = n_assets
        n_chunks = max(1, math.ceil(n_assets / per_chunk))
        return [ChunkSpec(i, (i * per_chunk, min(n_assets, (i + 1) * per_chunk))) for i in range(n_chunks)]
    return [ChunkSpec(0, (0, n_assets))]


def _is_cross_sectional(payload: Mapping[str, Any]) -> bool:
    params = payload.get("params") or {}
    return payload.get("strategy") == "momentum" and int(params.get("top_k", 0) or 0) > 0


def _bounds(r: Any, n: int) -> tuple[int, int]:
    if isinstance(r, range):
        return (r.start, r.stop)
    if isinstance(r, slice):
        start, stop, _ = r.indices(n)
        return (start, stop)
    start, stop = r
    return (int(start), int(stop))


def execute_chunk(kind: str, payload: Mapping[str, Any], panel: Panel, chunk: ChunkSpec, backend: str) -> Any:
    """Run one chunk of a job on a backend; returns host-side (NumPy/pandas) results."""
    if kind == "backtest":
        from kernels.backtest import run  # noqa: PLC0415

        lo, hi = chunk.assets
        sub = panel.select(panel.symbols[lo:hi])
        result = run(
            sub,
            payload["strategy"],
            payload.get("params") or {},
            fees=float(payload.get("fees", 0.0)),
            slippage=float(payload.get("slippage", 0.0)),
            backend=backend,
            bars_per_year=int(payload.get("bars_per_year", 252)),
        )
        return result
    if kind == "sweep":
        from kernels.backtest import Chunk, sweep  # noqa: PLC0415

        return sweep(
            panel,
            payload["strategy"],
            payload["grid"],
            fees=float(payload.get("fees", 0.0)),
            slippage=float(payload.get("slippage", 0.0)),
            top_k=int(payload.get("top_k", 10)),
            rank_by=str(payload.get("rank_by", "sharpe")),
            chunk=Chunk(combos=range(*chunk.combos), assets=range(*chunk.assets)),
            backend=backend,
            bars_per_year=int(payload.get("bars_per_year", 252)),
        )
    if kind == "features":
        return compute_features(panel, payload)
    if kind == "train":
        return train_model(panel, payload, backend)
    raise JobSpecError(f"unknown job kind {kind!r}")


def merge_partials(kind: str, partials: list[Any]) -> Any:
    """Merge chunk results in chunk order into the job's result."""
    if len(partials) == 1:
        return partials[0]
    if kind == "backtest":
        from kernels.backtest.runner import merge_runs  # noqa: PLC0415

        return merge_runs(partials)
    if kind == "sweep":
        from kernels.backtest import merge_sweeps  # noqa: PLC0415

        return merge_sweeps(partials)
    raise JobSpecError(f"{kind} jobs are not chunked")


@dataclass(frozen=True)
class FeatureBlock(Mapping):
    """Indicator values for a window of bars: host arrays, read as {label: DataFrame}.

    Kept as NumPy so that it crosses processes cheaply (a DataFrame per label costs
    milliseconds to serialise in a threaded actor); frames are built on access.
    """

    index: np.ndarray  # datetime64[ns], (window,)
    symbols: tuple[str, ...]
    values: dict[str, np.ndarray]  # label -> (window, n_symbols)

    def __getitem__(self, label: str) -> pd.DataFrame:
        return pd.DataFrame(self.values[label], index=pd.DatetimeIndex(self.index), columns=list(self.symbols))

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


def compute_features(panel: Panel, payload: Mapping[str, Any]) -> FeatureBlock:
    """Named indicators over the last `window` bars of a panel.

    Indicators see the whole history (their warm-up), only the window is returned.
    """
    from kernels.backend import to_numpy  # noqa: PLC0415
    from kernels.indicators import compute  # noqa: PLC0415

    specs = payload.get("indicators") or []
    if not specs:
        raise JobSpecError("indicators: give at least one indicator")
    window = int(payload.get("window") or panel.n_bars)
    if window < 1:
        raise JobSpecError(f"window must be >= 1, got {window}")
    values = {label: to_numpy(v[-window:]) for label, v in compute(panel, specs).items()}
    return FeatureBlock(index=np.asarray(panel.index[-window:]), symbols=tuple(panel.symbols), values=values)


@dataclass(frozen=True)
class TrainOutput:
    """A trained model and what its record needs; sent from a worker to the coordinator,
    which stores the model in the registry (workers never write the registry)."""

    model: Any  # kernels.ml.TrainedModel
    metrics: dict
    window: dict
    features: list
    horizon: int


@dataclass(frozen=True)
class TrainResult:
    """The result of a train job as stored: the registry record of the new version."""

    record: dict


def train_model(panel: Panel, payload: Mapping[str, Any], backend: str) -> TrainOutput:
    """Build the learning dataset, hold out the last window (purged), fit and score."""
    from kernels.ml import build_dataset, holdout, train  # noqa: PLC0415

    specs = list(payload.get("features") or [])
    if not specs:
        raise JobSpecError("features: give at least one indicator spec")
    horizon = int(payload.get("horizon", 1))
    dataset = build_dataset(panel, specs, horizon, str(payload.get("task", "regression")))
    if dataset.n_rows < 2:
        raise JobSpecError("features/horizon leave fewer than 2 rows to learn from")
    split = holdout(dataset.bar, horizon, float(payload.get("test_fraction", 0.2)))
    # A GPU worker trains with cuML where it is installed and falls back to scikit-learn
    # otherwise ("auto"; the record says which ran); a CPU fit uses every core.
    ml_backend = "cpu" if backend == "cpu" else "auto"
    model, metrics = train(dataset, str(payload.get("model", "")), split, payload.get("params") or {},
                           ml_backend, n_jobs=TRAIN_N_JOBS)
    return TrainOutput(model=model, metrics=metrics, window=dataset.window(split), features=specs, horizon=horizon)


def predict_rows(model: Any, panel: Panel | None, payload: Mapping[str, Any], features: list) -> dict[str, Any]:
    """Predictions for rows sent in the payload, or for the latest bar of the panel's assets."""
    from kernels.ml import prediction_rows  # noqa: PLC0415

    rows = payload.get("rows")
    if rows is not None:
        X = np.asarray(rows, dtype=np.float64)
        return {"predictions": model.predict(X), "symbols": None, "bar": None}
    if panel is None:
        raise JobSpecError("give rows or a dataset to predict on")
    data = prediction_rows(panel, features)
    return {"predictions": model.predict(data.X) if data.n_rows else np.empty(0),
            "symbols": [panel.symbols[i] for i in data.asset],
            "bar": str(panel.index[-1])}
