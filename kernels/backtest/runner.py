"""`run`: backtest one strategy with one parameter set over a panel.

The strategy gives target positions; the engine (`engine.py`) turns them into
returns and equity; `metrics.py` summarises each asset and the equal-weight
portfolio. Everything runs with one array module (NumPy on "cpu", CuPy on "gpu").
Semantics: docs/backtest-semantics.md.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from kernels.backend import array_module, is_gpu_array, resolve_backend, to_backend, to_numpy
from kernels.backtest import metrics as M
from kernels.backtest.engine import portfolio_returns, simulate
from kernels.wrapping import ArrayWrapper
from kernels.data import DataValidationError, Panel, as_panel, time_index
from kernels.strategies import Signals, as_spec, signals_to_positions, validate_params, validate_positions, validate_signals
from kernels.strategies.registry import StrategySpec

PORTFOLIO = "portfolio"


class BacktestInputError(ValueError):
    """A `run` argument is invalid; the message names it."""


@dataclass(frozen=True, eq=False)
class RunResult:
    """The outcome of `run`.

    pandas, time- and symbol-indexed (host copies, made on access): `positions`,
    `returns`, `equity`, `drawdown` (DataFrames: time x symbols, drawdown with a
    "portfolio" column), `portfolio_returns`, `portfolio_equity` (Series), `metrics`
    (one row per symbol plus "portfolio", columns `METRICS`). `plot()` draws them.

    The raw arrays (for the service's code): `positions_array`, `returns_array`,
    `equity_array` (T, N), `portfolio_returns_array`, `portfolio_equity_array` (T,),
    `active`, `gross`, `costs`, of the same kind as the input panel's (NumPy in,
    NumPy out; CuPy in, CuPy out); `index` the panel's time index (host). The
    constructor also takes the raw arrays by the pandas names (`positions=...`).
    `trade_counts` holds the counts behind n_trades and win_rate (n_trades,
    n_closed, n_wins) with the same rows, so that runs can be merged exactly.
    """

    positions_array: Any
    returns_array: Any
    equity_array: Any
    portfolio_returns_array: Any
    portfolio_equity_array: Any
    metrics: pd.DataFrame
    backend: str
    params: dict[str, Any]
    strategy: str
    symbols: tuple[str, ...]
    active: Any
    gross: Any
    costs: Any
    trade_counts: pd.DataFrame
    fees: float
    slippage: float
    bars_per_year: float
    index: Any = None  # the panel's time index (host), None: bar numbers
    # engine="orders" (kernels/backtest/run_orders.py): the order options, order and trade records
    engine: str = "returns"
    order_options: dict[str, Any] = field(default_factory=dict)
    orders: pd.DataFrame | None = None
    trades: pd.DataFrame | None = None

    @property
    def portfolio(self) -> pd.Series:
        """The portfolio's metrics row."""
        return self.metrics.loc[PORTFOLIO]

    # ---------------------------------------------------------------- pandas views
    @property
    def wrapper(self) -> ArrayWrapper:
        """Time index x symbols: how the arrays become pandas."""
        n_bars = int(self.positions_array.shape[0])
        index = time_index(self.index) if self.index is not None and len(self.index) == n_bars else None
        return ArrayWrapper.from_labels(index if index is not None else pd.RangeIndex(n_bars, name="bar"),
                                        pd.Index(self.symbols, name="symbol"))

    @property
    def positions(self) -> pd.DataFrame:
        """Target positions (time x symbols)."""
        return self.wrapper.always_frame(self.positions_array)

    @property
    def returns(self) -> pd.DataFrame:
        """Net bar returns (time x symbols)."""
        return self.wrapper.always_frame(self.returns_array)

    @property
    def equity(self) -> pd.DataFrame:
        """Equity curves from 1 (time x symbols)."""
        return self.wrapper.always_frame(self.equity_array)

    @property
    def portfolio_returns(self) -> pd.Series:
        """The equal-weight portfolio's net bar returns."""
        return self.wrapper.always_frame(self.portfolio_returns_array, columns=[PORTFOLIO])[PORTFOLIO]

    @property
    def portfolio_equity(self) -> pd.Series:
        """The equal-weight portfolio's equity from 1."""
        return self.wrapper.always_frame(self.portfolio_equity_array, columns=[PORTFOLIO])[PORTFOLIO]

    @property
    def drawdown(self) -> pd.DataFrame:
        """1 - equity / running peak (the peak starts at 1), per symbol and "portfolio" (positive fractions)."""
        eq = self.equity.assign(**{PORTFOLIO: self.portfolio_equity})
        return 1.0 - eq / eq.cummax().clip(lower=1.0)

    def plot(self, symbol: str | None = None, backend: str = "matplotlib", ax: Any = None) -> Any:
        """Equity and drawdown over time, entries and exits marked: the portfolio, or one `symbol`
        (see `kernels.plotting.plot_run`)."""
        from kernels.plotting import plot_run  # noqa: PLC0415 - matplotlib / plotly on use

        return plot_run(self, symbol=symbol, backend=backend, ax=ax)

    def __repr__(self) -> str:
        p = self.portfolio
        idx = self.wrapper.index
        span = f"{idx[0]} .. {idx[-1]}" if len(idx) else "no bars"
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return (f"RunResult({self.strategy!r}, {params}; {len(idx)} bars {span}, {len(self.symbols)} assets, "
                f"backend={self.backend!r}, engine={getattr(self, 'engine', 'returns')!r})\n"
                f"  portfolio: total_return={p['total_return']:.4g}, sharpe={p['sharpe']:.4g}, "
                f"max_drawdown={p['max_drawdown']:.4g}, n_trades={p['n_trades']:.0f}\n"
                f"  .metrics (per symbol + portfolio), .equity, .returns, .positions, .drawdown, .plot()")


_RAW_NAMES = {name: f"{name}_array" for name in ("positions", "returns", "equity", "portfolio_returns",
                                                  "portfolio_equity")}
_dataclass_init = RunResult.__init__


def _run_result_init(self: RunResult, *args: Any, **kwargs: Any) -> None:
    """The dataclass constructor, also taking the raw arrays by their pandas names."""
    for name, raw in _RAW_NAMES.items():
        if name in kwargs:
            kwargs[raw] = kwargs.pop(name)
    _dataclass_init(self, *args, **kwargs)


RunResult.__init__ = _run_result_init  # type: ignore[method-assign]


# ------------------------------------------------------------------ validation
def _check_rate(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise BacktestInputError(f"{name} must be a finite number, got {value!r}")
    value = float(value)
    if value < 0:
        raise BacktestInputError(f"{name} must be >= 0, got {value!r}")
    if value >= 1:
        raise BacktestInputError(f"{name} is a fraction of traded value and must be < 1, got {value!r}")
    return value


def _check_bars_per_year(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise BacktestInputError(f"bars_per_year must be a finite number, got {value!r}")
    if value <= 0:
        raise BacktestInputError(f"bars_per_year must be > 0, got {value!r}")
    return float(value) if not isinstance(value, numbers.Integral) else int(value)


def check_close(xp: ModuleType, close: Any) -> None:
    """Raise DataValidationError for a close that is not (T >= 1, N >= 1) floats,
    or has non-positive or infinite prices (NaN, missing, is allowed)."""
    if getattr(close, "ndim", None) != 2:
        raise DataValidationError(f"close must be a 2-D (T, N) array, got shape {getattr(close, 'shape', None)}")
    if close.shape[0] < 1 or close.shape[1] < 1:
        raise DataValidationError(f"close must have at least one bar and one asset, got shape {tuple(close.shape)}")
    if close.dtype.kind != "f":
        raise DataValidationError(f"close must be a float array, got dtype {close.dtype}")
    with np.errstate(invalid="ignore"):
        if not bool((xp.isinf(close) | (close <= 0)).any()):  # the common case: one reduction, one sync
            return
        bad_inf = xp.isinf(close)
        bad_pos = close <= 0
    n_inf, n_pos = int(bad_inf.sum()), int(bad_pos.sum())
    if n_inf:
        t, i = (int(v) for v in to_numpy(xp.argwhere(bad_inf)[0]))
        raise DataValidationError(f"close has {n_inf} infinite price(s); first at bar {t}, asset {i}")
    if n_pos:
        t, i = (int(v) for v in to_numpy(xp.argwhere(bad_pos)[0]))
        raise DataValidationError(
            f"close has {n_pos} non-positive price(s); first at bar {t}, asset {i}: {float(close[t, i])!r}"
        )


def _is_builtin(spec: StrategySpec) -> bool:
    return getattr(spec.fn, "__module__", "") == "kernels.strategies.builtin"


# ------------------------------------------------------------------ computation
def _asset_metrics(xp: ModuleType, sim_positions: Any, gross: Any, cost: Any, net: Any, equity: Any, active: Any,
                   bars_per_year: float) -> tuple[np.ndarray, np.ndarray]:
    """Host (N, len(METRICS)) metrics and (N, 3) trade counts per asset."""
    values = {**M.return_metrics(xp, net, active, bars_per_year, equity=equity, host=True),
              **M.trade_metrics(xp, sim_positions, gross, cost, active, host=True)}
    host = M.metrics_table(np, values, (*M.METRICS, *M.TRADE_COUNTS))
    n_metrics = len(M.METRICS)
    return host[:, :n_metrics], host[:, n_metrics:]


def _portfolio_row(xp: ModuleType, port_net: Any, port_active: Any, port_equity: Any, asset_table: np.ndarray,
                   asset_counts: np.ndarray, bars_per_year: float) -> tuple[np.ndarray, np.ndarray]:
    """The portfolio's metrics row and trade counts, on the host: the (T,) series is
    small, and NumPy beats a few dozen tiny GPU launches. Trade metrics reduce the
    host per-asset values (so that merged chunks reduce exactly the same numbers)."""
    net_h, active_h, equity_h = (to_numpy(a)[:, None] for a in (port_net, port_active, port_equity))
    ret = M.return_metrics(np, net_h, active_h, bars_per_year, equity=equity_h)
    ret_row = M.metrics_table(np, ret, M.RETURN_METRICS)[0]
    col = {m: j for j, m in enumerate(M.METRICS)}
    trades = M.portfolio_trade_metrics(
        np,
        n_trades=asset_counts[:, 0],
        n_closed=asset_counts[:, 1],
        n_wins=asset_counts[:, 2],
        exposure=asset_table[:, col["exposure"]],
        turnover=asset_table[:, col["turnover"]],
    )
    values = {**dict(zip(M.RETURN_METRICS, ret_row)), **trades}
    row = np.array([float(values[m]) for m in M.METRICS])
    counts = np.array([float(trades[k]) for k in M.TRADE_COUNTS])
    return row, counts


def _frames(symbols: Sequence[str], table: np.ndarray, row: np.ndarray, counts: np.ndarray,
            port_counts: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    index = pd.Index([*symbols, PORTFOLIO], name="symbol")
    metrics = pd.DataFrame(np.vstack([table, row[None, :]]), index=index, columns=list(M.METRICS))
    trade_counts = pd.DataFrame(np.vstack([counts, port_counts[None, :]]).astype(np.int64), index=index,
                                columns=list(M.TRADE_COUNTS))
    return metrics, trade_counts


def run(
    data: Panel,
    strategy: str | StrategySpec | Any,
    params: Mapping[str, Any] | None = None,
    fees: float = 0.0,
    slippage: float = 0.0,
    backend: str = "auto",
    bars_per_year: float = 252,
    symbols: Sequence[str] | None = None,
    engine: str = "returns",
    **order_options: Any,
) -> RunResult:
    """Backtest `strategy` (a registered name, spec or plain callable) on `data`.

    `engine="returns"` (default) is the target-position returns model;
    `engine="orders"` runs the strategy's signals through `from_signals` with the
    order options (`size`, `size_type`, `direction`, `init_cash`, `fixed_fees`,
    `sl_stop`, `sl_trail`, `tp_stop`, `accumulate`; kernels/backtest/run_orders.py).

    `params` are validated against the strategy's spec and completed with its
    defaults; `symbols` selects (and orders) the assets. `backend` is "cpu",
    "gpu" or "auto" (GPU when available; a NumPy panel is copied to the device
    and the arrays come back as NumPy). Raises BacktestInputError,
    DataValidationError or StrategyError, each naming what is wrong.
    """
    if not (isinstance(data, (Panel, Mapping, pd.DataFrame, pd.Series)) or getattr(data, "ndim", None) in (1, 2)):
        raise BacktestInputError(f"data must be a kernels.data.Panel, a DataFrame of closes (time x symbols), a dict "
                                 f"of OHLCV DataFrames or a (T, N) close array, got {type(data).__name__}")
    data = as_panel(data, "run")
    fees = _check_rate("fees", fees)
    slippage = _check_rate("slippage", slippage)
    bars_per_year = _check_bars_per_year(bars_per_year)
    if engine not in ("returns", "orders"):
        raise BacktestInputError(f"engine must be 'returns' or 'orders', got {engine!r}")
    if order_options and engine != "orders":
        raise BacktestInputError(f"order options {sorted(order_options)} need engine='orders'")
    if engine == "orders":
        from kernels.backtest.run_orders import check_order_options  # noqa: PLC0415

        order_options = check_order_options(order_options, BacktestInputError)
    spec = as_spec(strategy)
    if symbols is not None:
        symbols = list(symbols)
        if not symbols:
            raise BacktestInputError("symbols must name at least one asset")
        if len(set(symbols)) != len(symbols):
            raise BacktestInputError("symbols must be unique")
        try:
            data = data.select(symbols)
        except KeyError as exc:
            raise BacktestInputError(str(exc.args[0])) from exc
    ran = resolve_backend(backend, data.close)
    host_out = not is_gpu_array(data.close)
    index = np.asarray(data.index)
    xp = array_module(ran)
    if ran == "gpu" and host_out:
        data = data.to("gpu")
    close = data.close
    check_close(xp, close)
    params = validate_params(spec, params, n_bars=close.shape[0])
    if engine == "orders":
        from kernels.backtest.run_orders import run_orders  # noqa: PLC0415

        return run_orders(data, spec, params, fees=fees, slippage=slippage, backend=ran, bars_per_year=bars_per_year,
                          builtin=_is_builtin(spec), host_out=host_out, options=order_options)

    positions = spec.fn(data, **params)
    if isinstance(positions, Signals):  # a strategy that emits entries/exits: its positions
        validate_signals(positions, tuple(close.shape), spec.name)
        positions = to_backend(signals_to_positions(positions), ran)
    if not _is_builtin(spec):
        validate_positions(positions, tuple(close.shape), spec.name)
        positions = to_backend(positions, ran)
    positions = positions.astype(close.dtype, copy=False)

    sim = simulate(xp, close, positions, fees, slippage)
    table, counts = _asset_metrics(xp, sim.positions, sim.gross, sim.cost, sim.net, sim.equity, sim.active,
                                   bars_per_year)
    row, port_counts = _portfolio_row(xp, sim.portfolio_net, sim.portfolio_active, sim.portfolio_equity, table,
                                      counts, bars_per_year)
    metrics, trade_counts = _frames(data.symbols, table, row, counts, port_counts)
    out = to_numpy if host_out else (lambda a: a)
    return RunResult(
        positions=out(sim.positions),
        returns=out(sim.net),
        equity=out(sim.equity),
        portfolio_returns=out(sim.portfolio_net),
        portfolio_equity=out(sim.portfolio_equity),
        metrics=metrics,
        backend=ran,
        params=params,
        strategy=spec.name,
        symbols=tuple(data.symbols),
        active=out(sim.active),
        gross=out(sim.gross),
        costs=out(sim.cost),
        trade_counts=trade_counts,
        fees=fees,
        slippage=slippage,
        bars_per_year=bars_per_year,
        index=index,
    )


def merge_runs(results: Sequence[RunResult]) -> RunResult:
    """Merge runs over disjoint asset subsets (same bars, strategy, parameters,
    costs) into the run over their union, in the given order.

    Every metric is recomputed from the concatenated per-asset series with the
    same functions `run` uses, so the result equals a single `run` over the union
    exactly, provided the strategy decides each asset on its own data (see
    `kernels.strategies.per_asset`): cross-sectional strategies (momentum with
    top_k > 0, pairs) give different positions on a subset.
    """
    results = list(results)
    if not results:
        raise ValueError("merge_runs needs at least one result")
    first = results[0]
    for r in results[1:]:
        for attr in ("strategy", "params", "fees", "slippage", "bars_per_year", "backend"):
            if getattr(r, attr) != getattr(first, attr):
                raise ValueError(f"cannot merge runs with different {attr}: {getattr(first, attr)!r} != {getattr(r, attr)!r}")
        if r.positions_array.shape[0] != first.positions_array.shape[0]:
            raise ValueError(f"cannot merge runs over different bars: {first.positions_array.shape[0]} != "
                             f"{r.positions_array.shape[0]}")
    symbols = [s for r in results for s in r.symbols]
    if len(set(symbols)) != len(symbols):
        raise ValueError("cannot merge runs over overlapping assets")
    on_device = is_gpu_array(first.positions_array)
    if on_device or first.backend == "cpu":
        ran = "gpu" if on_device else "cpu"
    else:  # host arrays computed on the GPU: recompute there when possible, for identical bits
        try:
            ran = resolve_backend("gpu")
        except Exception:
            ran = "cpu"
    xp = array_module(ran)

    def cat(name: str) -> Any:
        return xp.concatenate([to_backend(getattr(r, name), ran) for r in results], axis=1)

    positions, gross, costs, net, active = (cat(n) for n in ("positions_array", "gross", "costs", "returns_array",
                                                             "active"))
    equity = xp.cumprod(1.0 + net, axis=0)  # recomputed on the union: the same call as in `run`
    port, port_active = portfolio_returns(xp, net, active)
    port_equity = xp.cumprod(1.0 + port)
    bpy = first.bars_per_year
    table, counts = _asset_metrics(xp, positions, gross, costs, net, equity, active, bpy)
    row, port_counts = _portfolio_row(xp, port, port_active, port_equity, table, counts, bpy)
    metrics, trade_counts = _frames(symbols, table, row, counts, port_counts)
    out = (lambda a: a) if on_device else to_numpy
    return RunResult(
        positions=out(positions),
        returns=out(net),
        equity=out(equity),
        portfolio_returns=out(port),
        portfolio_equity=out(port_equity),
        metrics=metrics,
        backend=first.backend,
        params=dict(first.params),
        strategy=first.strategy,
        symbols=tuple(symbols),
        active=out(active),
        gross=out(gross),
        costs=out(costs),
        trade_counts=trade_counts,
        fees=first.fees,
        slippage=first.slippage,
        bars_per_year=bpy,
        index=first.index,
    )
