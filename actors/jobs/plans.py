"""How a job becomes chunks, how a chunk runs, and how chunk results merge.

Ray-free: the workers call `execute_chunk`, the coordinator calls `plan_job` and
`merge_partials`. Chunks bound the GPU time of one call so that the coordinator can
preempt low-priority work between them; merged chunks equal an unchunked run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import pandas as pd

from kernels.data import Panel

SWEEP_GRID_LIMIT = 1_000_000  # combinations per sweep job (request sizes are bounded)
TRAIN_N_JOBS = -1  # CPU model fits use every core of the worker's node
TRAIN_PROBE_ASSETS = 8  # assets on which submit-time checks build a training set (bars matter, not assets)


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
    except KeyError as exc:  # str(KeyError) would quote the message again
        raise JobSpecError(exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)) from exc


def job_panel(panel: Panel, payload: Mapping[str, Any]) -> Panel:
    """The sub-panel a job works on (its symbols, in order)."""
    return _select(panel, payload.get("symbols"))


def _grid_size(grid: Mapping[str, Any]) -> int:
    sizes = [len(v) if isinstance(v, (list, tuple)) else 1 for v in grid.values()]
    return int(np.prod(sizes)) if sizes else 0


def plan_job(kind: str, payload: Mapping[str, Any], n_bars: int, n_assets: int, max_cells: float) -> list[ChunkSpec]:
    """Cut a job into chunks of at most ~max_cells (bars x assets x combinations).

    A sweep is planned on its *valid* combinations (those left after dropping the
    ones that break a constraint between parameters, e.g. fast >= slow): the
    chunks' combination ranges index the numbered survivors, as `sweep` does.
    """
    if kind == "sweep":
        from kernels.backtest import plan_chunks  # noqa: PLC0415

        n_combos = sweep_combinations(payload, n_bars)[0]
        if is_orders_sweep(payload):  # the orders sweep kernel runs whole: one chunk (groups never split)
            return [ChunkSpec(0, (0, n_assets), (0, n_combos))]
        chunks = plan_chunks(n_combos, n_assets, max(1, int(max_cells)), n_bars)
        return [
            ChunkSpec(i, _bounds(c.assets, n_assets), _bounds(c.combos, n_combos)) for i, c in enumerate(chunks)
        ]
    if kind == "walk_forward":  # one chunk per fold: the coordinator can preempt between folds
        folds = walk_forward_folds(payload, n_bars)
        n_combos = walk_forward_combinations(payload, folds[0].train_stop - folds[0].train_start)
        return [ChunkSpec(f.index, (0, n_assets), (0, n_combos)) for f in folds]
    if kind == "backtest":
        per_chunk = max(1, int(max_cells // max(n_bars, 1)))
        if payload.get("strategy") == "pairs":
            per_chunk += per_chunk % 2  # keep pairs together
        if _is_cross_sectional(payload) or payload.get("engine") == "orders":
            per_chunk = n_assets  # orders-engine runs are not merged over asset chunks: one chunk
        n_chunks = max(1, math.ceil(n_assets / per_chunk))
        return [ChunkSpec(i, (i * per_chunk, min(n_assets, (i + 1) * per_chunk))) for i in range(n_chunks)]
    return [ChunkSpec(0, (0, n_assets))]


def sweep_combinations(payload: Mapping[str, Any], n_bars: int) -> tuple[int, int]:
    """(valid combinations, dropped ones) of a sweep's grid over data of `n_bars` bars.

    Every value of the grid is checked (type, bounds, windows no longer than the
    data); JobSpecError names the parameter.
    """
    from kernels.backtest.grid import expand_grid  # noqa: PLC0415

    grid = payload.get("grid") or {}
    if not isinstance(grid, Mapping) or not grid:
        raise JobSpecError("grid: give at least one parameter with at least one value")
    n_raw = _grid_size(grid)
    if n_raw > SWEEP_GRID_LIMIT:
        raise JobSpecError(f"grid: {n_raw} combinations exceed the limit of {SWEEP_GRID_LIMIT}")
    if is_orders_sweep(payload):
        from kernels.backtest.orders.api import OrdersInputError  # noqa: PLC0415
        from kernels.backtest.orders.sweep import split_grid  # noqa: PLC0415

        try:
            strat_grid, _, order_combos = split_grid(sweep_grid(payload))
        except OrdersInputError as exc:
            raise JobSpecError(f"grid: {exc}") from exc
        expanded = expand_grid(str(payload.get("strategy", "")), strat_grid, n_bars)
        return expanded.n_combos * len(order_combos), expanded.n_dropped
    expanded = expand_grid(str(payload.get("strategy", "")), grid, n_bars)  # StrategyError names the parameter
    return expanded.n_combos, expanded.n_dropped


SWEEP_FIXED_OPTIONS: tuple[str, ...] = ("init_cash", "fixed_fees", "accumulate", "group_by", "cash_sharing")


def is_orders_sweep(payload: Mapping[str, Any]) -> bool:
    """A sweep on the orders engine: `engine` "orders", or a grid naming an order option."""
    from kernels.backtest.orders.sweep import is_orders_grid  # noqa: PLC0415

    grid = payload.get("grid")
    return payload.get("engine") == "orders" or (isinstance(grid, Mapping) and is_orders_grid(grid))


def sweep_grid(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The grid `kernels.backtest.sweep` runs: the request's grid, then each fixed order option that the
    sweep kernel takes per combination (size, size_type, sl_stop, sl_trail, tp_stop) as one value."""
    from kernels.backtest.orders.sweep import ORDER_GRID_KEYS  # noqa: PLC0415

    grid = dict(payload.get("grid") or {})
    if is_orders_sweep(payload):
        grid.update({k: [payload[k]] for k in ORDER_GRID_KEYS if payload.get(k) is not None and k not in grid})
    return grid


def sweep_order_kwargs(payload: Mapping[str, Any]) -> dict[str, Any]:
    """`kernels.backtest.sweep`'s keyword arguments of an orders sweep (`engine` and the options
    not in the grid), nothing for the returns engine."""
    if not is_orders_sweep(payload):
        return {}
    return {"engine": "orders", **{k: payload[k] for k in SWEEP_FIXED_OPTIONS if payload.get(k) is not None}}


def _check_sweep_orders(payload: Mapping[str, Any], sub: Panel) -> None:
    """An orders sweep's fixed options and its groups against the job's symbols (JobSpecError names the field)."""
    from kernels.backtest.orders.api import OrdersInputError  # noqa: PLC0415
    from kernels.backtest.orders.sweep import check_groups  # noqa: PLC0415
    from kernels.backtest.run_orders import ORDER_OPTIONS, check_order_options  # noqa: PLC0415

    if payload.get("engine", "orders") != "orders":
        raise JobSpecError(f"engine must be 'returns' or 'orders', got {payload['engine']!r}")
    if payload.get("direction") is not None:
        raise JobSpecError("direction is not a sweep option: the sweep kernel runs the strategy's long and short "
                           "signals as given")
    check_order_options({k: payload[k] for k in ORDER_OPTIONS if payload.get(k) is not None}, JobSpecError)
    group_by = payload.get("group_by")
    cash_sharing = payload.get("cash_sharing", False)
    if isinstance(group_by, list) and len(group_by) != sub.n_assets:
        raise JobSpecError(f"group_by: give one group label per symbol of the job ({sub.n_assets}), "
                           f"got {len(group_by)}")
    try:
        check_groups(group_by, cash_sharing, sub.symbols)
    except OrdersInputError as exc:
        field = "cash_sharing" if str(exc).startswith("cash_sharing") else "group_by"
        raise JobSpecError(f"{field}: {exc}" if not str(exc).startswith(field) else str(exc)) from exc


def walk_forward_folds(payload: Mapping[str, Any], n_bars: int) -> list:
    """The folds of a walk-forward job over data of `n_bars` bars; JobSpecError names the field
    (train + test longer than the data, step < test, ...)."""
    from kernels.backtest.walk_forward import WalkForwardInputError, plan_folds  # noqa: PLC0415

    try:
        return plan_folds(n_bars, payload.get("train"), payload.get("test"), payload.get("step"),
                          bool(payload.get("anchored", False)))
    except WalkForwardInputError as exc:
        raise JobSpecError(str(exc)) from exc


def walk_forward_combinations(payload: Mapping[str, Any], n_bars: int) -> int:
    """Combinations of a walk-forward's grid whose windows fit `n_bars` bars (the size limit of sweeps applies)."""
    from kernels.backtest.walk_forward import grid_combinations  # noqa: PLC0415

    grid = payload.get("grid") or {}
    if not isinstance(grid, Mapping) or not grid:
        raise JobSpecError("grid: give at least one parameter with at least one value")
    n_raw = _grid_size(grid)
    if n_raw > SWEEP_GRID_LIMIT:
        raise JobSpecError(f"grid: {n_raw} combinations exceed the limit of {SWEEP_GRID_LIMIT}")
    return len(grid_combinations(str(payload.get("strategy", "")), grid, n_bars, str(payload.get("engine", "returns"))))


def _order_kwargs(payload: Mapping[str, Any]) -> dict[str, Any]:
    """`engine` and the order options of a backtest payload (nothing for the returns engine)."""
    from kernels.backtest.run_orders import ORDER_OPTIONS  # noqa: PLC0415

    if payload.get("engine", "returns") == "returns":
        return {}
    return {"engine": payload["engine"], **{k: payload[k] for k in ORDER_OPTIONS if payload.get(k) is not None}}


def _walk_forward_kwargs(payload: Mapping[str, Any]) -> dict[str, Any]:
    """`run_fold`'s keyword arguments from a walk-forward payload (order options included)."""
    return {
        "rank_by": str(payload.get("rank_by", "sharpe")),
        "fees": float(payload.get("fees", 0.0)),
        "slippage": float(payload.get("slippage", 0.0)),
        "bars_per_year": int(payload.get("bars_per_year", 252)),
        "engine": str(payload.get("engine", "returns")),
        "train": payload.get("train"),
        "test": payload.get("test"),
        "step": payload.get("step") or payload.get("test"),
        "anchored": bool(payload.get("anchored", False)),
        "warmup": payload.get("warmup", 0),
        **{k: v for k, v in _order_kwargs(payload).items() if k != "engine"},
    }


def validate_against_panel(kind: str, payload: Mapping[str, Any], panel: Panel,
                           max_panel_bytes: int | None = None) -> dict[str, Any]:
    """Every check of a job that needs its dataset, run when the job is submitted.

    `panel` is the dataset's panel (the job's symbols are selected here). Raises
    JobSpecError (a ValueError) with a message that names the field: symbols not
    in the dataset, windows longer than the data, grid values and the combinations
    left after dropping invalid ones, feature history, training `horizon` and
    `test_fraction` against the bars, and the job's panel over `max_panel_bytes`
    (the memory it would need on a device). Returns what was learnt
    (`n_bars`, `n_assets`, and for sweeps `n_combinations` and `n_dropped`).
    """
    from kernels.strategies import get_strategy, validate_params  # noqa: PLC0415

    sub = job_panel(panel, payload)
    facts: dict[str, Any] = {"n_bars": sub.n_bars, "n_assets": sub.n_assets}
    if sub.n_bars < 1 or sub.n_assets < 1:
        raise JobSpecError(f"dataset {payload.get('dataset')!r} has no bars for the selected symbols")
    if max_panel_bytes is not None:
        need = sub.n_bars * sub.n_assets * 8 * 5
        if need > max_panel_bytes:
            raise JobSpecError(f"symbols: the job's data ({sub.n_bars} bars x {sub.n_assets} symbols, {need} bytes) "
                               f"is over the memory quota of {max_panel_bytes} bytes")
    if kind in ("backtest", "walk_forward"):
        from kernels.backtest.run_orders import check_order_options  # noqa: PLC0415

        kwargs = _order_kwargs(payload)
        if kwargs.get("engine", "orders") != "orders":
            raise JobSpecError(f"engine must be 'returns' or 'orders', got {kwargs['engine']!r}")
        check_order_options({k: v for k, v in kwargs.items() if k != "engine"}, JobSpecError)
    if kind == "backtest":
        # StrategyError (a ValueError; UnknownStrategy also a KeyError) names the parameter
        validate_params(get_strategy(str(payload.get("strategy", ""))), payload.get("params") or {},
                        n_bars=sub.n_bars)
    elif kind == "sweep":
        if is_orders_sweep(payload):
            _check_sweep_orders(payload, sub)
        facts["n_combinations"], facts["n_dropped"] = sweep_combinations(payload, sub.n_bars)
    elif kind == "walk_forward":
        from kernels.backtest.walk_forward import check_args, check_warmup  # noqa: PLC0415

        folds = walk_forward_folds(payload, sub.n_bars)
        kwargs = _walk_forward_kwargs(payload)
        try:
            check_args(kwargs["rank_by"], kwargs["engine"], kwargs["bars_per_year"])
            warmup = check_warmup(kwargs["warmup"], kwargs["engine"])
        except ValueError as exc:
            raise JobSpecError(str(exc)) from exc
        if warmup > folds[0].test_start:
            raise JobSpecError(f"warmup ({warmup}) is longer than the bars before the first test window "
                               f"({folds[0].test_start})")
        # every grid value against the shortest window the strategy runs on (a training or a test window)
        shortest = min(folds[0].train_stop - folds[0].train_start, folds[0].test_stop - folds[0].test_start + warmup)
        facts["n_combinations"] = walk_forward_combinations(payload, shortest)
        facts["n_folds"] = len(folds)
    elif kind == "features":
        window = payload.get("window")
        if window is not None and int(window) > sub.n_bars:
            raise JobSpecError(f"window {int(window)} is longer than the data ({sub.n_bars} bars)")
        _check_indicator_history(payload.get("indicators") or [], sub.n_bars, "indicators")
    elif kind == "train":
        _check_training(payload, sub)
    return facts


def _check_indicator_history(specs: list, n_bars: int, field: str) -> None:
    """Indicator periods no longer than the data (else every value would be NaN)."""
    for i, spec in enumerate(specs):
        params = (spec.get("params") or {}) if isinstance(spec, Mapping) else {}
        for key, value in params.items():
            if "period" in key and isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and value > n_bars:
                raise JobSpecError(f"{field}[{i}].params.{key} = {value:g} needs more history than the data "
                                   f"({n_bars} bars)")


def _check_training(payload: Mapping[str, Any], sub: Panel) -> None:
    """`horizon` and `test_fraction` leave rows to learn from and to score on (checked on a few assets)."""
    from kernels.ml import build_dataset, holdout  # noqa: PLC0415

    horizon = payload.get("horizon", 1)
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise JobSpecError(f"horizon must be a positive int, got {horizon!r}")
    if horizon >= sub.n_bars - 1:
        raise JobSpecError(f"horizon {horizon} is not shorter than the data ({sub.n_bars} bars)")
    fraction = payload.get("test_fraction", 0.2)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 < float(fraction) < 1.0:
        raise JobSpecError(f"test_fraction must lie in (0, 1), got {fraction!r}")
    specs = list(payload.get("features") or [])
    if not specs:
        raise JobSpecError("features: give at least one indicator spec")
    _check_indicator_history(specs, sub.n_bars, "features")
    probe = sub.select(list(sub.symbols[:TRAIN_PROBE_ASSETS]))
    try:
        dataset = build_dataset(probe, specs, horizon, str(payload.get("task", "regression")))
    except (ValueError, TypeError, KeyError) as exc:
        raise JobSpecError(f"features: {exc}") from exc
    if dataset.n_rows < 2:
        raise JobSpecError(f"horizon {horizon}: features and labels leave fewer than 2 rows to learn from "
                           f"({sub.n_bars} bars)")
    try:
        holdout(dataset.bar, horizon, float(fraction))
    except ValueError as exc:
        raise JobSpecError(f"test_fraction {float(fraction):g} with horizon {horizon} leaves no rows to train or "
                           f"test on ({sub.n_bars} bars): {exc}") from exc


def chunk_cells(chunk: ChunkSpec, n_bars: int) -> int:
    """The work of one chunk in cells (bars x assets x combinations): what throughput is measured in."""
    combos = (chunk.combos[1] - chunk.combos[0]) if chunk.combos else 1
    return max(1, n_bars * (chunk.assets[1] - chunk.assets[0]) * combos)


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


# `keep(key, build)`: a value derived from the job's data, built by `build(keeping) -> (value, bytes)` once per job
# and worker (actors.workers.job_data.JobDataCache.derived), or None: build it for this chunk only.
Keep = Callable[[tuple, Callable[[bool], tuple[Any, int]]], Any]


def execute_chunk(kind: str, payload: Mapping[str, Any], panel: Panel, chunk: ChunkSpec, backend: str,
                  keep: Keep | None = None) -> Any:
    """Run one chunk of a job on a backend; returns host-side (NumPy/pandas) results (CuPy arrays
    are left for `actors.messages.to_host` where the panel is on the device).

    With `keep`, a sweep's chunk reuses the plan of its asset range (the expanded grid and the
    inputs prepared on the device) made by an earlier chunk of the job on this worker."""
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
            **_order_kwargs(payload),
        )
        return result
    if kind == "sweep":
        from kernels.backtest import Chunk, sweep  # noqa: PLC0415

        if is_orders_sweep(payload):  # one chunk: the whole grid over the job's symbols
            return sweep(panel, payload["strategy"], sweep_grid(payload), fees=float(payload.get("fees", 0.0)),
                         slippage=float(payload.get("slippage", 0.0)), top_k=int(payload.get("top_k", 10)),
                         rank_by=str(payload.get("rank_by", "sharpe")), backend=backend,
                         bars_per_year=int(payload.get("bars_per_year", 252)), **sweep_order_kwargs(payload))
        if keep is not None and chunk.combos is not None:
            return _kept_sweep_chunk(payload, panel, chunk, backend, keep)
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
    if kind == "walk_forward":
        from kernels.backtest.walk_forward import run_fold  # noqa: PLC0415

        fold = walk_forward_folds(payload, panel.n_bars)[chunk.index]
        return run_fold(panel, payload["strategy"], payload["grid"], fold, backend=backend,
                        **_walk_forward_kwargs(payload))
    if kind == "features":
        return compute_features(panel, payload)
    if kind == "train":
        return train_model(panel, payload, backend)
    raise JobSpecError(f"unknown job kind {kind!r}")


def _kept_sweep_chunk(payload: Mapping[str, Any], panel: Panel, chunk: ChunkSpec, backend: str, keep: Keep) -> Any:
    """A sweep chunk on the prepared plan of its asset range, made once per job and worker.

    `kernels.backtest.sweep.prepare_sweep` expands the whole grid (host, seconds for 10^5
    combinations) and prepares the kernel inputs of the asset range on the device (returns,
    first bars, activity, the fixed-point scale); the plan also keeps what its runs build over
    those assets (the CPU kernel's time-major inputs, the GPU's window tables of the grid).
    None of it depends on the combinations, so every chunk of the same assets runs on it
    (`plan.run(combos)`, equal to `sweep` on that chunk), and `plan.nbytes` is charged.
    """
    from kernels.backtest.sweep import prepare_sweep  # noqa: PLC0415

    combos = range(*chunk.combos)

    def build(keeping: bool) -> tuple[Any, int]:  # not kept (no room, job ended): nothing built to keep
        plan = prepare_sweep(panel, payload["strategy"], payload["grid"], fees=float(payload.get("fees", 0.0)),
                             slippage=float(payload.get("slippage", 0.0)), assets=range(*chunk.assets),
                             backend=backend, bars_per_year=int(payload.get("bars_per_year", 252)), keep=keeping)
        return plan, plan.warm(combos).nbytes

    plan = keep(("sweep_plan", chunk.assets), build)
    return plan.run(combos, top_k=int(payload.get("top_k", 10)), rank_by=str(payload.get("rank_by", "sharpe")))


def merge_partials(kind: str, partials: list[Any]) -> Any:
    """Merge chunk results in chunk order into the job's result."""
    if kind == "walk_forward":  # even one fold becomes a WalkForwardResult
        from kernels.backtest.walk_forward import merge_folds  # noqa: PLC0415

        return merge_folds(partials)
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
