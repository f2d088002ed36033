"""Walk-forward optimisation: pick parameters in-sample, judge them out-of-sample.

`walk_forward(data, strategy, grid, train=, test=, step=, rank_by=, anchored=)` cuts
the bars into folds (`plan_folds`). For each fold it sweeps `grid` over the fold's
training bars, takes the best combination by `rank_by` (the sweep's ranking: high
first, low first for drawdown and volatility, NaN last, ties to the lower combo id),
then backtests that combination alone over the fold's test bars. By default the test
bars are a slice of their own: the out-of-sample backtest reads no bar outside its
window (indicators warm up inside it, positions start flat), so it equals
`run(data.select(start=test_start, stop=test_stop), strategy, best)`. With
`warmup=w` it runs over the w bars before the window too (past data only: warm
indicators, a position may be held into the window) and its returns and metrics are
those of the test bars. The folds' out-of-sample portfolio returns, laid end to end,
give the stitched out-of-sample equity. Semantics: docs/backtest-semantics.md
("Walk-forward").

Each fold is independent, so a fold is the unit of a walk-forward job's chunks
(`run_fold` on a worker, `merge_folds` on the coordinator). In one process,
`walk_forward` runs the in-sample sweeps of all folds as one launch of the fused
sweep kernel (`in_sample_tables`: fold k's training bars are columns of one panel,
each fold's portfolio sums kept apart; only the per-combination portfolio rows leave
the device), or of the orders sweep on the orders engine, in batches of folds when
they do not fit in memory; then each fold's best combination is backtested
out-of-sample. Pairs and data with interior gaps take one sweep per fold; user
strategies run each combination through `run`.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import numbers
import sys
import types
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from kernels.backend import to_numpy
from kernels.backtest import metrics as M
from kernels.backtest.run_orders import ORDER_OPTIONS
from kernels.data import Panel

ENGINES = ("returns", "orders")


class WalkForwardInputError(ValueError):
    """A `walk_forward` argument is invalid; the message names it."""


# ------------------------------------------------------------------------ folds
@dataclass(frozen=True)
class Fold:
    """One fold: bar positions [train_start, train_stop) in-sample, [test_start, test_stop) out-of-sample."""

    index: int
    train_start: int
    train_stop: int
    test_start: int
    test_stop: int


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise WalkForwardInputError(f"{name} must be a positive int (bars), got {value!r}")
    return int(value)


def plan_folds(n_bars: int, train: int, test: int, step: int | None = None, anchored: bool = False) -> list[Fold]:
    """The folds of a walk-forward over `n_bars` bars.

    Fold k tests bars [train + k*step, train + k*step + test); it trains on the
    `train` bars before them (rolling) or on every bar from 0 (anchored). `step`
    defaults to `test`; it may not be smaller than `test` (test windows would
    overlap and could not be stitched). As many folds as fit in the data.
    """
    n_bars = _positive_int("n_bars", n_bars)
    train = _positive_int("train", train)
    test = _positive_int("test", test)
    step = test if step is None else _positive_int("step", step)
    if not isinstance(anchored, (bool, np.bool_)):
        raise WalkForwardInputError(f"anchored must be a bool, got {anchored!r}")
    if step < test:
        raise WalkForwardInputError(f"step ({step}) must be >= test ({test}): out-of-sample windows may not overlap")
    if train + test > n_bars:
        raise WalkForwardInputError(
            f"train + test = {train} + {test} = {train + test} bars exceed the data ({n_bars} bars)")
    n_folds = (n_bars - train - test) // step + 1
    folds = []
    for k in range(n_folds):
        test_start = train + k * step
        folds.append(Fold(k, 0 if anchored else test_start - train, test_start, test_start, test_start + test))
    return folds


# ------------------------------------------------------------------------ results
@dataclass(frozen=True, eq=False)
class FoldResult:
    """One fold's outcome (host data; a walk-forward job's chunk result).

    `in_sample` and `out_of_sample` are one-row DataFrames of the portfolio metrics
    (METRICS); `oos_returns` the (test,) portfolio net returns of the out-of-sample
    backtest, `oos_active` whether any asset had data at each of its bars.
    """

    fold: int
    bounds: tuple[int, int, int, int]
    params: dict[str, Any]
    combo_id: int
    n_combos: int
    in_sample: pd.DataFrame
    out_of_sample: pd.DataFrame
    oos_returns: np.ndarray
    oos_active: np.ndarray
    oos_index: np.ndarray
    train_index: np.ndarray  # (2,) first and last in-sample timestamps
    strategy: str
    rank_by: str
    engine: str
    backend: str
    train: int
    test: int
    step: int
    anchored: bool
    bars_per_year: float
    warmup: int = 0


@dataclass(frozen=True, eq=False)
class WalkForwardResult:
    """The outcome of `walk_forward` (or of a walk-forward job).

    - `folds`: one row per fold: its bar positions and timestamps (train_start,
      train_end, test_start, test_end: first and last bar of each window), the
      chosen combo_id and the number of combinations tried.
    - `params`: the chosen parameters per fold.
    - `in_sample`, `out_of_sample`: portfolio metrics (METRICS) per fold.
    - `oos`: the stitched out-of-sample series indexed by time: `returns`,
      `equity` (cumulative product, continuous across folds) and `fold`.
    - `oos_metrics`: the return metrics (RETURN_METRICS) of the stitched series,
      one row "oos".
    """

    folds: pd.DataFrame
    params: pd.DataFrame
    in_sample: pd.DataFrame
    out_of_sample: pd.DataFrame
    oos: pd.DataFrame
    oos_metrics: pd.DataFrame
    strategy: str
    rank_by: str
    engine: str
    backend: str
    train: int
    test: int
    step: int
    anchored: bool
    bars_per_year: float
    warmup: int = 0

    @property
    def oos_returns(self) -> pd.Series:
        """The stitched out-of-sample portfolio returns."""
        return self.oos["returns"]

    @property
    def oos_equity(self) -> pd.Series:
        """The stitched out-of-sample equity (starts from 1)."""
        return self.oos["equity"]

    @property
    def n_folds(self) -> int:
        return len(self.folds)

    def summary(self) -> pd.DataFrame:
        """Per fold: the chosen parameters, the in-sample `rank_by` and the out-of-sample metrics."""
        ins = self.in_sample[[self.rank_by]].add_prefix("is_")
        return pd.concat([self.params, ins, self.out_of_sample.add_prefix("oos_")], axis=1)

    def __repr__(self) -> str:
        window = "anchored" if self.anchored else "rolling"
        m = self.oos_metrics.iloc[0] if len(self.oos_metrics) else None
        tail = ""
        if m is not None:
            tail = f", oos total_return={m['total_return']:.4g}, oos sharpe={m['sharpe']:.4g}"
        return (f"WalkForwardResult({self.strategy!r}, {self.n_folds} folds {window}, train={self.train}, "
                f"test={self.test}, step={self.step}{f', warmup={self.warmup}' if self.warmup else ''}, rank_by={self.rank_by!r}, engine={self.engine!r}, "
                f"backend={self.backend!r}{tail})")

    def plot(self, backend: str = "matplotlib", ax: Any = None) -> Any:
        """The stitched out-of-sample equity over time, each fold's test window shaded and
        labelled with its chosen parameters (`kernels.plotting.plot_walk_forward`)."""
        from kernels.plotting import plot_walk_forward  # noqa: PLC0415 - matplotlib / plotly on use

        return plot_walk_forward(self, backend=backend, ax=ax)


# ------------------------------------------------------------------------ validation
def check_args(rank_by: Any, engine: Any, bars_per_year: Any) -> tuple[str, str, float]:
    if rank_by not in M.METRICS:
        raise WalkForwardInputError(f"rank_by must be one of {list(M.METRICS)}, got {rank_by!r}")
    if engine not in ENGINES:
        raise WalkForwardInputError(f"engine must be one of {list(ENGINES)}, got {engine!r}")
    if isinstance(bars_per_year, bool) or not isinstance(bars_per_year, numbers.Real) \
            or not math.isfinite(float(bars_per_year)) or bars_per_year <= 0:
        raise WalkForwardInputError(f"bars_per_year must be a finite number > 0, got {bars_per_year!r}")
    return str(rank_by), str(engine), bars_per_year


def _panel(data: Any, symbols: Sequence[str] | None) -> Panel:
    """A Panel as is; a DataFrame of closes, a dict of OHLCV frames or a close array through
    `kernels.data.as_panel` (as `run` and `sweep` take them)."""
    from kernels.data import as_panel  # noqa: PLC0415

    data = as_panel(data)
    if symbols is None:
        return data
    symbols = list(symbols)
    if not symbols or len(set(symbols)) != len(symbols):
        raise WalkForwardInputError("symbols must name at least one asset, each once")
    try:
        return data.select(symbols)
    except KeyError as exc:
        raise WalkForwardInputError(str(exc.args[0])) from exc


def _grid_combos(strategy: Any, grid: Mapping[str, Any], n_bars: int) -> pd.DataFrame:
    """The grid's combinations for `run` (any strategy), validated and numbered like a
    sweep grid: Cartesian product, last name fastest, combinations breaking a
    constraint between parameters dropped."""
    from kernels.strategies import as_spec, validate_params  # noqa: PLC0415

    if not isinstance(grid, Mapping) or not grid:
        raise WalkForwardInputError("grid must be a non-empty mapping of parameter name to values")
    spec = as_spec(strategy)
    names = list(grid)
    values = [list(v) if isinstance(v, (list, tuple, np.ndarray, range)) else [v] for v in grid.values()]
    for name, vals in zip(names, values):
        if not vals:
            raise WalkForwardInputError(f"grid parameter {name!r} has no values")
    unchecked = dataclasses.replace(spec, check=None)
    rows, first_problem = [], None
    for combo in itertools.product(*values):
        row = validate_params(unchecked, dict(zip(names, combo)), n_bars=n_bars)
        problem = spec.check(row) if spec.check is not None and spec.params is not None else None
        if problem:  # a constraint between parameters (fast < slow): dropped, as in sweep grids
            first_problem = first_problem or problem
            continue
        rows.append(row)
    if not rows:
        raise WalkForwardInputError(f"no combination of the grid is valid: {first_problem}")
    params = pd.DataFrame(rows)
    params.index = pd.RangeIndex(len(params), name="combo_id")
    return params


def grid_combinations(strategy: Any, grid: Mapping[str, Any], n_bars: int, engine: str = "returns") -> pd.DataFrame:
    """The combinations a fold's in-sample search tries over `n_bars` training bars, numbered
    as its combo ids (GridError / StrategyError / WalkForwardInputError name the problem)."""
    from kernels.backtest.grid import KIND_OF, expand_grid  # noqa: PLC0415

    if engine == "returns" and isinstance(strategy, str) and strategy in KIND_OF:
        return expand_grid(strategy, grid, n_bars).params
    return _grid_combos(strategy, grid, n_bars)


# ------------------------------------------------------------------------ in-sample passes
FOLD_PASS_BYTES = 2 << 30  # host memory one CPU in-sample pass may take (more folds: batches of folds)
GPU_PASS_FRACTION = 0.5  # of the device's free memory, for one GPU pass
GPU_TABLE_RESERVE = 4 << 30  # left free for the sweep kernel's window tables (gpu.TABLE_MAX_BYTES)


def _in_sample(train_panel: Panel, strategy: Any, grid: Mapping[str, Any], rank_by: str, fees: float,
               slippage: float, backend: str, bars_per_year: float, engine: str,
               order_options: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(params, portfolio metrics) of every combination over the training bars, and the backend
    that ran: `run` per combination (user strategies, pairs, order options the orders sweep
    does not take, interior gaps)."""
    from kernels.backtest.runner import run  # noqa: PLC0415

    params = _grid_combos(strategy, grid, train_panel.n_bars)
    rows, ran = [], backend
    for combo_id in params.index:
        res = run(train_panel, strategy, _combo(params, combo_id), fees=fees, slippage=slippage, backend=backend,
                  bars_per_year=bars_per_year, **_engine_kwargs(engine, order_options))
        rows.append(res.metrics.loc["portfolio", list(M.METRICS)].to_numpy(dtype=np.float64))
        ran = res.backend
    return params, pd.DataFrame(np.vstack(rows), index=params.index, columns=list(M.METRICS)), ran


def _fused_kind(strategy: Any, engine: str, order_options: Mapping[str, Any]) -> int | None:
    """The sweep kind when the folds' in-sample search can run in the fused sweep kernels, else None."""
    from kernels.backtest.grid import KIND, KIND_OF  # noqa: PLC0415

    if not isinstance(strategy, str) or strategy not in KIND_OF:
        return None
    kind = KIND_OF[strategy]
    if engine == "returns":
        return None if kind == KIND.PAIRS else kind
    if order_options.get("direction", "longonly") != "longonly":
        return None  # the orders sweep takes the strategy's own long/short signals
    return kind


def _train_len(f: Fold) -> int:
    return f.train_stop - f.train_start


def _stack(xp: Any, a: Any, folds: Sequence[Fold], width: int) -> tuple[Any, np.ndarray]:
    """Fold k's training bars of `a` (T, N) as columns k * width .. k * width + N of one
    (longest training window, len(folds) * width) array, aligned on their last bar: a shorter
    window (anchored folds) starts pad[k] bars late. NaN elsewhere (no data: an asset that
    starts late). Returns (stacked, pad)."""
    n = a.shape[1]
    length = max(_train_len(f) for f in folds)
    out = xp.full((length, len(folds) * width), np.nan, dtype=np.float64)
    pad = np.array([length - _train_len(f) for f in folds], dtype=np.int64)
    for k, f in enumerate(folds):
        out[pad[k]:, k * width:k * width + n] = xp.asarray(a[f.train_start:f.train_stop], dtype=np.float64)
    return out, pad


def fold_scale_exp(close: Any, folds: Sequence[Fold], fees: float, slippage: float) -> int:
    """The fixed-point exponent of the returns sweep's portfolio sums, common to `folds`: from the
    largest |return| over their training span (bars min train_start .. max train_stop, read as one
    slice: no bar outside it) and room for every fold side by side in one pass."""
    from kernels.backend import get_array_module  # noqa: PLC0415
    from kernels.backtest.sweep import scale_exponent, simple_returns  # noqa: PLC0415

    xp = get_array_module(close)
    a = min(f.train_start for f in folds)
    b = max(f.train_stop for f in folds)
    r = simple_returns(xp, xp.asarray(close[a:b], dtype=np.float64))
    finite = xp.where(xp.isfinite(r), xp.abs(r), 0.0)
    max_r = float(finite.max()) if finite.size else 0.0
    width = -(-close.shape[1] // 32) * 32
    return scale_exponent(max_r + 2.0 * (fees + slippage), len(folds) * width)


def _returns_pass(close: Any, folds: Sequence[Fold], g: Any, fs: float, ran: str, bars_per_year: float,
                  scale_exp: int, align: int | None = None) -> list[np.ndarray] | None:
    """One launch of the returns sweep kernel over every fold's training bars side by side;
    per fold the (P, len(METRICS)) portfolio table, or None when a unit has an interior gap
    (those take the sweep's per-sweep fallback: run the folds one by one). Fold k's assets
    start at column k * width, width = N rounded up to `align` (default: 32 on the GPU, where
    a warp's assets must be in one fold, else 1); the columns between are empty."""
    from kernels.backend import array_module  # noqa: PLC0415
    from kernels.backtest import sweep as S  # noqa: PLC0415

    xp = array_module(ran)
    n = close.shape[1]
    n_folds = len(folds)
    align = align or (32 if ran == "gpu" else 1)
    width = -(-n // align) * align
    stacked, pad = _stack(xp, close, folds, width)
    dt = np.dtype(np.float64)
    prep = S._prepare(xp, stacked, range(n_folds * width), g.kind, dt, fs)
    if prep.gap_units is not None:
        return None
    combos = range(g.n_combos)
    floats = S.kernel_floats(g, combos, dt)
    if ran == "gpu":
        from kernels.backtest import gpu  # noqa: PLC0415

        acc, psum = gpu.launch(g.kind, prep.sig, prep.ra, prep.rb, prep.first, np.ascontiguousarray(g.ints), floats,
                               n_folds * width, fs, 2.0 ** scale_exp, groups=n_folds)
        sums = [xp.ascontiguousarray(psum[:, k::n_folds]) for k in range(n_folds)]
    else:
        import numba  # noqa: PLC0415

        from kernels.backtest import sweep_cpu  # noqa: PLC0415

        per = max(1, min(width, -(-4 * numba.get_num_threads() // (g.n_combos * n_folds))))  # blocks per fold
        acc, part = sweep_cpu.sweep_nb(
            g.kind, np.ascontiguousarray(prep.sig.T), np.ascontiguousarray(prep.ra.T),
            np.ascontiguousarray(prep.rb.T), prep.first.astype(np.int64), np.ascontiguousarray(g.ints), floats,
            sweep_cpu.consts_for(dt), fs, 2.0 * fs, 2.0 ** scale_exp, n_folds * width, n_folds * per)
        # block b covers units [b * U // B, (b + 1) * U // B): blocks k*per .. (k+1)*per - 1 are fold k's
        sums = [np.ascontiguousarray(part[k * per:(k + 1) * per].sum(axis=0).T) for k in range(n_folds)]
    arrays = S.asset_metric_arrays(xp, acc, bars_per_year)
    finite = xp.isfinite(stacked)
    out = []
    for k in range(n_folds):
        cols = slice(k * width, k * width + n)
        count = finite[:, cols].sum(axis=1).astype(np.int64)
        trade = [xp.ascontiguousarray(arrays[name][:, cols]) for name in
                 ("n_trades", "n_closed", "n_wins", "exposure", "turnover")]
        port = S.portfolio_metric_arrays(xp, xp.ascontiguousarray(sums[k][pad[k]:]),
                                         xp.ascontiguousarray(count[pad[k]:]), scale_exp, bars_per_year, *trade)
        out.append(np.asarray(to_numpy(port), dtype=np.float64))
    return out


def _orders_pass(panel: Panel, folds: Sequence[Fold], strategy: str, strat_params: pd.DataFrame, fees: float,
                 slippage: float, ran: str, bars_per_year: float, order_options: Mapping[str, Any]) -> list[np.ndarray]:
    """One orders-sweep launch over every fold's training bars side by side (each fold a group of
    columns whose summed value is its portfolio); per fold the (P, len(METRICS)) table."""
    from kernels.backtest.orders.result import ORDER_METRICS  # noqa: PLC0415
    from kernels.backtest.orders.sweep import _order_columns, group_rows, simulate_grid, split_grid  # noqa: PLC0415

    from kernels.backend import array_module  # noqa: PLC0415

    n = panel.n_assets
    n_folds = len(folds)
    xp = array_module(ran)
    src = panel.to(ran)
    fields = {}
    pad = None
    for name in ("open", "high", "low", "close", "volume"):
        fields[name], pad = _stack(xp, getattr(src, name), folds, n)
    longest = folds[int(np.argmax([_train_len(f) for f in folds]))]
    index = np.asarray(panel.index)[longest.train_start:longest.train_stop]
    symbols = tuple(f"{s}@{k}" for k in range(n_folds) for s in panel.symbols)
    stacked = Panel(index, symbols, fields["open"], fields["high"], fields["low"], fields["close"], fields["volume"])
    keys = [k for k in ("size", "size_type", "sl_stop", "sl_trail", "tp_stop") if order_options.get(k) is not None]
    _, keys, combos = split_grid({k: [order_options[k]] for k in keys})
    _, order_arrays = _order_columns(keys, combos)
    init_cash = float(order_options.get("init_cash", 100.0))
    col_group = np.repeat(np.arange(n_folds, dtype=np.int64), n)
    acc, pv, pe = simulate_grid(stacked, strategy, strat_params, order_arrays, fees,
                                float(order_options.get("fixed_fees", 0.0)), slippage, init_cash,
                                bool(order_options.get("accumulate", False)), ran, col_group=col_group,
                                n_groups=n_folds)
    rows = group_rows(acc, pv, pe, np.isfinite(to_numpy(stacked.close)), col_group, n_folds, init_cash,
                      bars_per_year, first_bar=pad)
    pick = [ORDER_METRICS.index(m) for m in M.METRICS]
    return [np.ascontiguousarray(rows[:, k][:, pick]) for k in range(n_folds)]


def _pass_bytes(ran: str, engine: str, n_combos: int, n_assets: int, n_bars: int) -> int:
    """About the memory one fold takes in an in-sample pass (kernel outputs and metric temporaries)."""
    width = -(-n_assets // 32) * 32
    if engine == "orders":
        return 8 * (2 * 17 * n_combos * n_assets + 3 * n_combos * n_bars + 8 * n_bars * n_assets)
    return 8 * (2 * 11 * n_combos * width + 3 * n_combos * n_bars + 8 * n_bars * width)


def _folds_per_pass(ran: str, engine: str, n_combos: int, n_assets: int, n_bars: int) -> int:
    per = max(1, _pass_bytes(ran, engine, n_combos, n_assets, n_bars))
    if ran == "gpu":
        import cupy as cp  # noqa: PLC0415

        free = cp.cuda.Device().mem_info[0]
        budget = int(free * GPU_PASS_FRACTION) - GPU_TABLE_RESERVE
        width = -(-n_assets // 32) * 32
        return max(1, min(budget // per, (2**31 - 1) // (width * n_bars)))  # the kernel's 32-bit bar x unit offsets
    return max(1, FOLD_PASS_BYTES // per)


def in_sample_tables(panel: Panel, folds: Sequence[Fold], strategy: Any, grid: Mapping[str, Any], *,
                     fees: float, slippage: float, backend: str, bars_per_year: float, engine: str,
                     order_options: Mapping[str, Any], fold_batch: int | None = None,
                     scale_folds: Sequence[Fold] | None = None) -> list[tuple[pd.DataFrame, pd.DataFrame, str]]:
    """Per fold (params, portfolio metrics of every combination over its training bars, backend).

    Built-in strategies run all folds' in-sample sweeps in one launch of the fused sweep kernel
    (returns engine) or of the orders sweep (orders engine): fold k's training bars are columns of
    one panel, and each fold's portfolio sums stay apart. Folds go in batches of `fold_batch`
    (default: as many as fit in memory, see FOLD_PASS_BYTES / GPU_PASS_FRACTION); a batch's result
    does not depend on the batching. The returns sweep's fixed-point scale is common to
    `scale_folds` (default `folds`). Pairs and data with interior gaps take one sweep per fold
    (`plan_sweep` + `execute`); user strategies and `direction` other than longonly run `run`
    per combination and fold.
    """
    from kernels.backend import resolve_backend  # noqa: PLC0415
    from kernels.backtest.grid import expand_grid  # noqa: PLC0415

    if fold_batch is not None and (isinstance(fold_batch, bool) or not isinstance(fold_batch, numbers.Integral)
                                   or fold_batch < 1):
        raise WalkForwardInputError(f"fold_batch must be a positive int (folds per pass) or None, got {fold_batch!r}")
    if engine == "orders":
        from kernels.backtest.run_orders import check_order_options  # noqa: PLC0415
        from kernels.backtest.runner import BacktestInputError  # noqa: PLC0415

        order_options = check_order_options(order_options, BacktestInputError)  # as `run` names them
    kind = _fused_kind(strategy, engine, order_options)
    shortest = min(_train_len(f) for f in folds)
    longest = max(_train_len(f) for f in folds)
    params = grid_combinations(strategy, grid, shortest, engine)  # errors as the shortest fold's search
    if kind is not None:
        g = expand_grid(strategy, grid, longest)
        if not g.params.reset_index(drop=True).equals(params.reset_index(drop=True)):
            kind = None
    if kind is None:
        from kernels.backtest.grid import KIND_OF  # noqa: PLC0415

        if engine == "returns" and isinstance(strategy, str) and strategy in KIND_OF:  # pairs: a sweep per fold
            return [_in_sample_sweep(panel, f, strategy, grid, fees, slippage, backend, bars_per_year)
                    for f in folds]
        return [_in_sample(panel.select(start=f.train_start, stop=f.train_stop), strategy, grid, "sharpe", fees,
                           slippage, backend, bars_per_year, engine, order_options) for f in folds]
    ran = resolve_backend(backend, panel.close)
    per_pass = fold_batch or _folds_per_pass(ran, engine, g.n_combos, panel.n_assets, longest)
    out: list[tuple[pd.DataFrame, pd.DataFrame, str]] = []
    if engine == "returns":
        from kernels.backend import array_module  # noqa: PLC0415
        from kernels.backtest.runner import check_close  # noqa: PLC0415

        close = panel.to(ran).close
        span = close[min(f.train_start for f in folds):max(f.train_stop for f in folds)]
        check_close(array_module(ran), span if span.dtype.kind == "f" else span.astype(np.float64))
        scale_exp = fold_scale_exp(close, scale_folds or folds, fees, slippage)
        for b0 in range(0, len(folds), per_pass):
            batch = folds[b0:b0 + per_pass]
            tables = _returns_pass(close, batch, g, fees + slippage, ran, bars_per_year, scale_exp)
            if tables is None:  # interior gaps: the per-sweep fallback of `execute`, fold by fold
                return [_in_sample_sweep(panel, f, strategy, grid, fees, slippage, backend, bars_per_year)
                        for f in folds]
            out += [(params, pd.DataFrame(t, index=params.index, columns=list(M.METRICS)), ran) for t in tables]
        return out
    for b0 in range(0, len(folds), per_pass):
        batch = folds[b0:b0 + per_pass]
        tables = _orders_pass(panel, batch, strategy, g.params, fees, slippage, ran, bars_per_year, order_options)
        out += [(params, pd.DataFrame(t, index=params.index, columns=list(M.METRICS)), ran) for t in tables]
    return out


def _in_sample_sweep(panel: Panel, fold: Fold, strategy: str, grid: Mapping[str, Any], fees: float,
                     slippage: float, backend: str, bars_per_year: float) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """One fold through `plan_sweep` + `execute` (its own scale; units with interior gaps included)."""
    from kernels.backtest.sweep import execute, plan_sweep  # noqa: PLC0415

    plan = plan_sweep(panel.select(start=fold.train_start, stop=fold.train_stop), strategy, grid, fees=fees,
                      slippage=slippage, backend=backend, bars_per_year=bars_per_year)
    _, port, _ = execute(plan)
    params = plan.grid.params
    return params, pd.DataFrame(to_numpy(port), index=params.index, columns=list(M.METRICS)), plan.backend


# ------------------------------------------------------------------------ one fold
def _engine_kwargs(engine: str, order_options: Mapping[str, Any]) -> dict[str, Any]:
    return {} if engine == "returns" else {"engine": "orders", **order_options}


def _combo(params: pd.DataFrame, combo_id: int) -> dict[str, Any]:
    """One combination's parameters as Python values, each in its column's type (a row of an
    all-numeric frame would turn ints into floats)."""
    values = ((c, params[c].loc[combo_id]) for c in params.columns)
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in values}


def best_combo(table: pd.DataFrame, params: pd.DataFrame, rank_by: str) -> int:
    """The combo id ranked first by `rank_by` (the sweep's `rank_top` order)."""
    from kernels.backtest.sweep import rank_top  # noqa: PLC0415

    return int(rank_top(table, params, rank_by, 1).index[0])


def run_fold(
    data: Panel,
    strategy: Any,
    grid: Mapping[str, Any],
    fold: Fold,
    *,
    rank_by: str = "sharpe",
    fees: float = 0.0,
    slippage: float = 0.0,
    backend: str = "auto",
    bars_per_year: float = 252,
    engine: str = "returns",
    train: int | None = None,
    test: int | None = None,
    step: int | None = None,
    anchored: bool = False,
    warmup: int = 0,
    **order_options: Any,
) -> FoldResult:
    """One fold: sweep the training bars, backtest the best combination on the test bars
    (reading `warmup` bars before them, see `walk_forward`). A walk-forward job runs its folds
    with this; given `train` and `test`, the in-sample sweep uses the fixed-point scale of the
    whole walk-forward, so that the job's folds equal `walk_forward`'s."""
    rank_by, engine, bars_per_year = check_args(rank_by, engine, bars_per_year)
    warmup = check_warmup(warmup, engine)
    if engine == "returns" and order_options:
        raise WalkForwardInputError(f"order options {sorted(order_options)} need engine='orders'")
    if warmup > fold.test_start:
        raise WalkForwardInputError(f"warmup ({warmup}) is longer than the bars before fold {fold.index}'s test "
                                    f"window ({fold.test_start})")
    if not 0 <= fold.train_start < fold.train_stop <= fold.test_start < fold.test_stop <= data.n_bars:
        raise WalkForwardInputError(f"fold {fold} does not fit the data ({data.n_bars} bars)")
    scale_folds = [fold]
    if train is not None and test is not None:  # a walk-forward job's fold: the scale of the whole walk-forward
        every = plan_folds(data.n_bars, train, test, step, anchored)
        if fold in every:
            scale_folds = every
    (params, table, ran), = in_sample_tables(data, [fold], strategy, grid, fees=fees, slippage=slippage,
                                             backend=backend, bars_per_year=bars_per_year, engine=engine,
                                             order_options=order_options, scale_folds=scale_folds)
    return _fold_result(data, strategy, fold, params, table, ran, rank_by=rank_by, fees=fees, slippage=slippage,
                        backend=backend, bars_per_year=bars_per_year, engine=engine, train=train, test=test,
                        step=step, anchored=anchored, warmup=warmup, order_options=order_options)


def _fold_result(data: Panel, strategy: Any, fold: Fold, params: pd.DataFrame, table: pd.DataFrame, ran: str, *,
                 rank_by: str, fees: float, slippage: float, backend: str, bars_per_year: float, engine: str,
                 train: int | None, test: int | None, step: int | None, anchored: bool, warmup: int,
                 order_options: Mapping[str, Any]) -> FoldResult:
    """A fold's result from its in-sample table: the best combination, backtested out-of-sample."""
    from kernels.backtest.runner import run  # noqa: PLC0415

    train_panel = data.select(start=fold.train_start, stop=fold.train_stop)
    combo_id = best_combo(table, params, rank_by)
    chosen = _combo(params, combo_id)
    test_panel = data.select(start=fold.test_start, stop=fold.test_stop)
    oos = run(data.select(start=fold.test_start - warmup, stop=fold.test_stop), strategy, chosen, fees=fees,
              slippage=slippage, backend=backend, bars_per_year=bars_per_year,
              **_engine_kwargs(engine, order_options))
    oos_metrics, oos_returns, active = _test_window(oos, warmup, bars_per_year)
    name = pd.Index([fold.index], name="fold")
    return FoldResult(
        fold=fold.index,
        bounds=(fold.train_start, fold.train_stop, fold.test_start, fold.test_stop),
        params=chosen,
        combo_id=combo_id,
        n_combos=len(params),
        in_sample=pd.DataFrame([table.loc[combo_id].to_numpy()], index=name, columns=list(M.METRICS)),
        out_of_sample=pd.DataFrame([oos_metrics], index=name, columns=list(M.METRICS)),
        oos_returns=oos_returns,
        oos_active=active,
        oos_index=np.asarray(test_panel.index),
        train_index=np.asarray(train_panel.index)[[0, -1]],
        strategy=getattr(strategy, "name", None) or getattr(strategy, "__name__", None) or str(strategy),
        rank_by=rank_by,
        engine=engine,
        backend=ran,
        train=int(train if train is not None else fold.train_stop - fold.train_start),
        test=int(test if test is not None else fold.test_stop - fold.test_start),
        step=int(step if step is not None else fold.test_stop - fold.test_start),
        anchored=bool(anchored),
        bars_per_year=bars_per_year,
        warmup=warmup,
    )


def check_warmup(warmup: Any, engine: str) -> int:
    if isinstance(warmup, bool) or not isinstance(warmup, numbers.Integral) or warmup < 0:
        raise WalkForwardInputError(f"warmup must be an int >= 0 (bars), got {warmup!r}")
    if warmup and engine != "returns":
        raise WalkForwardInputError("warmup needs engine='returns' (the orders engine starts each test window flat)")
    return int(warmup)


def _test_window(oos: Any, warmup: int, bars_per_year: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(portfolio METRICS row, portfolio returns, portfolio active) over the test bars of an
    out-of-sample run that starts `warmup` bars before them: the run's own metrics when
    warmup is 0, else the same functions over its last bars (equity from 1 at the window)."""
    from kernels.backtest.runner import _asset_metrics, _portfolio_row  # noqa: PLC0415

    active_all = np.asarray(to_numpy(oos.active))
    returns = np.asarray(to_numpy(oos.portfolio_returns_array), dtype=np.float64)[warmup:]
    if not warmup:
        return oos.metrics.loc["portfolio", list(M.METRICS)].to_numpy(dtype=np.float64), returns, \
            active_all.any(axis=1)
    w = slice(warmup, None)
    positions, gross, costs, net, active = (np.ascontiguousarray(np.asarray(to_numpy(a))[w]) for a in (
        oos.positions_array, oos.gross, oos.costs, oos.returns_array, oos.active))
    table, counts = _asset_metrics(np, positions, gross, costs, net, np.cumprod(1.0 + net, axis=0), active,
                                   bars_per_year)
    port_active = active.any(axis=1)
    row, _ = _portfolio_row(np, returns, port_active, np.cumprod(1.0 + returns), table, counts, bars_per_year)
    return row, returns, port_active


# ------------------------------------------------------------------------ merge
def merge_folds(parts: Sequence[FoldResult]) -> WalkForwardResult:
    """The walk-forward result from its folds' results (any order; sorted by fold)."""
    parts = sorted(parts, key=lambda p: p.fold)
    if not parts:
        raise WalkForwardInputError("merge_folds needs at least one fold result")
    head = parts[0]
    for p in parts[1:]:
        for attr in ("strategy", "rank_by", "engine", "train", "test", "step", "anchored", "bars_per_year", "warmup"):
            if getattr(p, attr) != getattr(head, attr):
                raise WalkForwardInputError(f"cannot merge folds with different {attr}")
    if [p.fold for p in parts] != list(range(len(parts))):
        raise WalkForwardInputError(f"folds must be 0..{len(parts) - 1} once each, got {[p.fold for p in parts]}")
    idx = pd.Index([p.fold for p in parts], name="fold")
    folds = pd.DataFrame({
        "train_start": pd.to_datetime([p.train_index[0] for p in parts]),
        "train_end": pd.to_datetime([p.train_index[-1] for p in parts]),
        "test_start": pd.to_datetime([p.oos_index[0] for p in parts]),
        "test_end": pd.to_datetime([p.oos_index[-1] for p in parts]),
        "train_bars": [p.bounds[1] - p.bounds[0] for p in parts],
        "test_bars": [p.bounds[3] - p.bounds[2] for p in parts],
        "first_train_bar": [p.bounds[0] for p in parts],
        "first_test_bar": [p.bounds[2] for p in parts],
        "combo_id": [p.combo_id for p in parts],
        "n_combos": [p.n_combos for p in parts],
    }, index=idx)
    params = pd.DataFrame([p.params for p in parts], index=idx)
    in_sample = pd.concat([p.in_sample for p in parts])
    out_of_sample = pd.concat([p.out_of_sample for p in parts])
    returns = np.concatenate([p.oos_returns for p in parts])
    active = np.concatenate([p.oos_active for p in parts])
    equity = np.cumprod(1.0 + returns)
    oos = pd.DataFrame({
        "returns": returns,
        "equity": equity,
        "fold": np.concatenate([np.full(len(p.oos_returns), p.fold, dtype=np.int64) for p in parts]),
    }, index=pd.DatetimeIndex(np.concatenate([p.oos_index for p in parts]), name="time"))
    values = M.return_metrics(np, returns[:, None], active[:, None], head.bars_per_year, equity=equity[:, None])
    oos_metrics = pd.DataFrame(M.metrics_table(np, values, M.RETURN_METRICS), index=pd.Index(["oos"]),
                               columns=list(M.RETURN_METRICS))
    backends = sorted({p.backend for p in parts})
    return WalkForwardResult(
        folds=folds, params=params, in_sample=in_sample, out_of_sample=out_of_sample, oos=oos,
        oos_metrics=oos_metrics, strategy=head.strategy, rank_by=head.rank_by, engine=head.engine,
        backend="+".join(backends), train=head.train, test=head.test, step=head.step, anchored=head.anchored,
        bars_per_year=head.bars_per_year, warmup=head.warmup,
    )


# ------------------------------------------------------------------------ public API
def walk_forward(
    data: Panel,
    strategy: Any,
    grid: Mapping[str, Any],
    train: int,
    test: int,
    step: int | None = None,
    rank_by: str = "sharpe",
    anchored: bool = False,
    fees: float = 0.0,
    slippage: float = 0.0,
    backend: str = "auto",
    bars_per_year: float = 252,
    symbols: Sequence[str] | None = None,
    engine: str = "returns",
    warmup: int = 0,
    fold_batch: int | None = None,
    **order_options: Any,
) -> WalkForwardResult:
    """Walk-forward optimisation of `strategy` over `grid` (see the module docstring).

    `train`, `test` and `step` (default `test`) are numbers of bars; `anchored`
    keeps every fold's training window starting at bar 0. `engine="orders"`
    (with order options such as `sl_stop`, `tp_stop`, `size`, `init_cash`)
    backtests on the orders engine. `warmup` (bars, returns engine only) lets
    each out-of-sample backtest read that many bars before its test window, so
    that indicators are warm and a position can be held into the window; its
    returns and metrics still cover the test bars only (no bar after the window is
    ever read). The in-sample sweeps of all folds run as one pass of the sweep kernel
    (`in_sample_tables`), in batches of `fold_batch` folds when given (default: as many
    as fit in memory). Raises WalkForwardInputError naming the
    argument (e.g. train + test longer than the data), GridError / StrategyError
    for bad grids and parameters.
    """
    rank_by, engine, bars_per_year = check_args(rank_by, engine, bars_per_year)
    panel = _panel(data, symbols)
    step = test if step is None else step
    folds = plan_folds(panel.n_bars, train, test, step, anchored)
    warmup = check_warmup(warmup, engine)
    if warmup > folds[0].test_start:
        raise WalkForwardInputError(f"warmup ({warmup}) is longer than the bars before the first test window "
                                    f"({folds[0].test_start})")
    if engine == "returns" and order_options:
        raise WalkForwardInputError(f"order options {sorted(order_options)} need engine='orders'")
    tables = in_sample_tables(panel, folds, strategy, grid, fees=fees, slippage=slippage, backend=backend,
                              bars_per_year=bars_per_year, engine=engine, order_options=order_options,
                              fold_batch=fold_batch)
    parts = [
        _fold_result(panel, strategy, f, params, table, ran, rank_by=rank_by, fees=fees, slippage=slippage,
                     backend=backend, bars_per_year=bars_per_year, engine=engine, train=train, test=test, step=step,
                     anchored=anchored, warmup=warmup, order_options=order_options)
        for f, (params, table, ran) in zip(folds, tables)
    ]
    return merge_folds(parts)


__all__ = [
    "ORDER_OPTIONS",
    "Fold",
    "grid_combinations",
    "FoldResult",
    "WalkForwardInputError",
    "WalkForwardResult",
    "fold_scale_exp",
    "in_sample_tables",
    "merge_folds",
    "plan_folds",
    "run_fold",
    "walk_forward",
]


class _CallableModule(types.ModuleType):
    """Importing this submodule binds `kernels.backtest.walk_forward` to the module, which
    shadows the package's lazy export of the function; a callable module keeps
    `from kernels.backtest import walk_forward; walk_forward(...)` working in any import order
    (as `kernels.backtest.sweep` does)."""

    def __call__(self, *args: Any, **kwargs: Any) -> WalkForwardResult:
        return walk_forward(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
