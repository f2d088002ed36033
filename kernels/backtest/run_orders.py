"""`run(..., engine="orders")`: a strategy backtested on the orders engine (`from_signals`).

The strategy's signals (its `Signals`, or its target positions turned into entries and
exits by `kernels.strategies.positions_to_signals`) go to
`kernels.backtest.from_signals` with the panel's open/high/low (stops are checked
intrabar), `fees`, `slippage` and the order options (`ORDER_OPTIONS`, vectorbt's
argument names). The result is a `RunResult` like the returns engine's:

- `metrics`: one row per symbol (its own `init_cash`) and "portfolio": the assets'
  summed value as one group without cash sharing (vectorbt's `group_by=True`), with
  METRICS (the first columns of `ORDER_METRICS`, same definitions).
- `positions`: asset amounts; `returns`, `equity`: per asset, value / value of the
  bar before (the initial cash before bar 0), and value / init_cash;
  `portfolio_returns`, `portfolio_equity`: the same for the summed value.
- `orders`, `trades`: the order and trade records as DataFrames; `order_options`:
  the options as run. `gross` and `costs` are None (the returns engine's split).

Semantics: docs/backtest-semantics.md ("Strategies on the orders engine").
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Mapping

import numpy as np
import pandas as pd

ORDER_OPTIONS: tuple[str, ...] = (
    "size", "size_type", "direction", "init_cash", "fixed_fees", "sl_stop", "sl_trail", "tp_stop", "accumulate",
)
SIZE_TYPES = ("amount", "value", "percent", "targetpercent")
DIRECTIONS = ("longonly", "shortonly", "both")


def _number(name: str, value: Any, error: type[Exception]) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(float(value)):
        raise error(f"{name} must be a number, got {value!r}")
    return float(value)


def check_order_options(options: Mapping[str, Any], error: type[Exception] = ValueError) -> dict[str, Any]:
    """Validated scalar order options; `error(message)` names the option.

    size > 0 (inf: as much as the cash allows; <= 1 for percent sizes), size_type one
    of SIZE_TYPES, direction one of DIRECTIONS, init_cash finite > 0, fixed_fees
    finite >= 0, sl_stop finite > 0 and < 1 with direction "longonly" (a long's
    stop at or below zero could never trigger), tp_stop finite > 0, sl_trail and accumulate bools.
    """
    unknown = sorted(set(options) - set(ORDER_OPTIONS))
    if unknown:
        raise error(f"unknown order option(s) {unknown}; options: {list(ORDER_OPTIONS)}")
    out: dict[str, Any] = {}
    for name, value in options.items():
        if value is None:
            continue
        if name in ("sl_trail", "accumulate"):
            if not isinstance(value, (bool, np.bool_)):
                raise error(f"{name} must be a bool, got {value!r}")
            out[name] = bool(value)
        elif name in ("size_type", "direction"):
            choices = SIZE_TYPES if name == "size_type" else DIRECTIONS
            if not isinstance(value, str) or value.lower() not in choices:
                raise error(f"{name} must be one of {list(choices)}, got {value!r}")
            out[name] = value.lower()
        else:
            v = _number(name, value, error)
            if name == "size" and not v > 0:
                raise error(f"size must be > 0 (inf: all the cash allows), got {value!r}")
            if name == "init_cash" and not (math.isfinite(v) and v > 0):
                raise error(f"init_cash must be a finite number > 0, got {value!r}")
            if name == "fixed_fees" and not (math.isfinite(v) and v >= 0):
                raise error(f"fixed_fees must be a finite number >= 0, got {value!r}")
            if name == "sl_stop" and not (math.isfinite(v) and v > 0):
                raise error(f"sl_stop is a fraction of the entry price and must be a finite number > 0, got {value!r}")
            if name == "tp_stop" and not (math.isfinite(v) and v > 0):
                raise error(f"tp_stop is a fraction of the entry price and must be a finite number > 0, got {value!r}")
            out[name] = v
    if out.get("sl_stop", 0.0) >= 1 and out.get("direction", "longonly") == "longonly":
        raise error(f"sl_stop {out['sl_stop']!r} >= 1 can never trigger for long positions (direction 'longonly'); "
                    "give a fraction in (0, 1)")
    if out.get("size_type") in ("percent", "targetpercent") and out.get("size", math.inf) > 1:
        raise error(f"size must be in (0, 1] with size_type {out['size_type']!r}, got {out.get('size', math.inf)!r}")
    return out


def strategy_signals(spec: Any, data: Any, params: Mapping[str, Any], builtin: bool) -> Any:
    """The strategy's `Signals` on `data` (positions are converted)."""
    from kernels.strategies import Signals, positions_to_signals, validate_positions, validate_signals  # noqa: PLC0415

    out = spec.fn(data, **params)
    shape = tuple(data.close.shape)
    if isinstance(out, Signals):
        validate_signals(out, shape, spec.name)
        return out
    if not builtin:
        validate_positions(out, shape, spec.name)
    return positions_to_signals(out)


def _trade_counts(trades: np.ndarray, n_cols: int) -> np.ndarray:
    """(n_cols + 1, 3) n_trades, n_closed, n_wins per column and for all columns."""
    from kernels.backtest.orders import enums  # noqa: PLC0415

    col = trades["col"].astype(np.int64) if len(trades) else np.zeros(0, np.int64)
    closed = trades["status"] == enums.TradeStatus.Closed if len(trades) else np.zeros(0, bool)
    wins = closed & (trades["pnl"] > 0) if len(trades) else np.zeros(0, bool)
    per = np.stack([np.bincount(col, minlength=n_cols), np.bincount(col[closed], minlength=n_cols),
                    np.bincount(col[wins], minlength=n_cols)], axis=1)
    return np.vstack([per, per.sum(axis=0, keepdims=True)]).astype(np.int64)


def run_orders(data: Any, spec: Any, params: dict[str, Any], *, fees: float, slippage: float, backend: str,
               bars_per_year: float, builtin: bool, host_out: bool, options: Mapping[str, Any]) -> Any:
    """The orders-engine `run` (arguments validated by `run`); returns a RunResult."""
    from kernels.backend import to_numpy  # noqa: PLC0415
    from kernels.backtest import metrics as M  # noqa: PLC0415
    from kernels.backtest.orders import from_signals  # noqa: PLC0415
    from kernels.backtest.runner import PORTFOLIO, RunResult  # noqa: PLC0415

    signals = strategy_signals(spec, data, params, builtin)
    prices = [data.close, data.open, data.high, data.low]
    if host_out and backend == "cpu":  # labelled: orders and trades name the symbol and the time
        index, columns = pd.DatetimeIndex(data.index), pd.Index(data.symbols)
        prices = [pd.DataFrame(np.asarray(a), index=index, columns=columns) for a in prices]
    close, open_, high, low = prices
    kwargs = dict(open=open_, high=high, low=low, fees=fees, slippage=slippage, backend=backend,
                  **signals.as_kwargs(), **options)
    res = from_signals(close, **kwargs)
    group = from_signals(close, group_by=True, **kwargs)
    names = list(M.METRICS)
    per = res.stats(bars_per_year)[names].to_numpy(dtype=np.float64)
    port = group.stats(bars_per_year)[names].to_numpy(dtype=np.float64)
    index = pd.Index([*data.symbols, PORTFOLIO], name="symbol")
    metrics = pd.DataFrame(np.vstack([per, port]), index=index, columns=names)
    counts = pd.DataFrame(_trade_counts(res.trade_records, len(data.symbols)), index=index,
                          columns=list(M.TRADE_COUNTS))
    init = np.asarray(res.init_cash, dtype=np.float64)
    out = (lambda a: a) if host_out else _to_device
    return RunResult(
        positions=out(res.positions_array),
        returns=out(res.returns_array),
        equity=out(res.value_array / init[None, :]),
        portfolio_returns=out(group.returns_array[:, 0]),
        portfolio_equity=out(group.value_array[:, 0] / float(group.init_cash[0])),
        metrics=metrics,
        backend=res.backend,
        params=params,
        strategy=spec.name,
        symbols=tuple(data.symbols),
        active=out(np.isfinite(to_numpy(data.close))),
        gross=None,
        costs=None,
        trade_counts=counts,
        fees=fees,
        slippage=slippage,
        bars_per_year=bars_per_year,
        index=np.asarray(data.index),
        engine="orders",
        order_options=dict(options),
        orders=res.orders,
        trades=res.trades,
    )


def _to_device(a: np.ndarray) -> Any:
    import cupy as cp  # noqa: PLC0415

    return cp.asarray(a)


__all__ = ["DIRECTIONS", "ORDER_OPTIONS", "SIZE_TYPES", "check_order_options", "run_orders", "strategy_signals"]
