"""Sweeps on the orders engine: strategy parameters x stops, trailing and sizing.

`orders_sweep(data, strategy, grid, ...)` (reached through `kernels.backtest.sweep`
when the grid names an order option or `engine="orders"`) splits the grid into the
strategy's parameters and the order options ORDER_GRID_KEYS. Combinations are the
strategy's valid combinations (as `expand_grid` numbers them) x the Cartesian product
of the order options in the order given, order options varying fastest, numbered
from 0.

Per unique strategy combination (`*_cache`) the strategy's target positions become
signals (`kernels.strategies.positions_to_signals`, as `run(engine="orders")` does);
the fused kernel (`*_apply`: `sweep_cpu.sweep_apply_nb`, or `sweep_gpu`) streams every
(combination, asset) once through the from_signals step. Every asset row equals
`from_signals(...).stats()` of that asset with that combination's signals and
options; the portfolio row is the assets' summed value (vectorbt's `group_by=True`
without cash sharing, the "portfolio" row of `run(engine="orders")`).
"""
from __future__ import annotations

import itertools
import math
import numbers
from typing import Any, Mapping

import numpy as np
import pandas as pd

from kernels.backend import array_module, get_array_module, resolve_backend, to_numpy
from kernels.backtest.orders.api import OrdersInputError
from kernels.backtest.orders.enums import SIZE_TYPES
from kernels.backtest.orders.result import ORDER_METRICS, profit_factor
from kernels.data import Panel

ORDER_GRID_KEYS: tuple[str, ...] = ("sl_stop", "tp_stop", "sl_trail", "size", "size_type")
ORDER_DEFAULTS: dict[str, Any] = {"sl_stop": np.nan, "tp_stop": np.nan, "sl_trail": False, "size": np.inf,
                                  "size_type": "amount"}
ASCENDING = frozenset({"max_drawdown", "ann_vol", "avg_trade_duration"})
SIGNAL_BYTES_PER_BATCH = 1 << 28


def is_orders_grid(grid: Mapping[str, Any]) -> bool:
    """True when the grid names an order option (the orders engine runs it)."""
    return any(k in ORDER_GRID_KEYS for k in grid)


def _as_list(name: str, raw: Any) -> list[Any]:
    if isinstance(raw, (str, bytes)) or np.ndim(raw) == 0:
        return [raw.item() if isinstance(raw, np.generic) else raw]
    vals = [v.item() if isinstance(v, np.generic) else v for v in list(raw)]
    if not vals:
        raise OrdersInputError(f"grid parameter {name!r} has no values")
    return vals


def _check_order_value(name: str, v: Any) -> Any:
    if name == "sl_trail":
        if not isinstance(v, (bool, np.bool_)):
            raise OrdersInputError(f"sl_trail values must be bools, got {v!r}")
        return bool(v)
    if name == "size_type":
        if not isinstance(v, str) or v.lower() not in SIZE_TYPES:
            raise OrdersInputError(f"size_type must be one of {list(SIZE_TYPES)}, got {v!r}")
        return v.lower()
    if v is None and name in ("sl_stop", "tp_stop"):
        return np.nan
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise OrdersInputError(f"{name} values must be numbers, got {v!r}")
    v = float(v)
    if name in ("sl_stop", "tp_stop"):
        if math.isnan(v):
            return v
        if not (math.isfinite(v) and v >= 0):
            raise OrdersInputError(f"{name} must be a finite fraction >= 0 (or None: no stop), got {v!r}")
        if name == "sl_stop" and v >= 1:
            raise OrdersInputError(f"sl_stop must be < 1 (a long's stop at or below 0 never triggers), got {v!r}")
        return v
    if not v > 0 or math.isnan(v):
        raise OrdersInputError(f"size must be > 0 (inf: all the cash allows), got {v!r}")
    return v


def split_grid(grid: Mapping[str, Any]) -> tuple[dict[str, Any], list[str], list[tuple[Any, ...]]]:
    """(strategy grid, order keys, order-option combinations (Cartesian, last fastest))."""
    strat = {k: v for k, v in grid.items() if k not in ORDER_GRID_KEYS}
    keys = [k for k in grid if k in ORDER_GRID_KEYS]
    values = [[_check_order_value(k, v) for v in _as_list(k, grid[k])] for k in keys]
    combos = list(itertools.product(*values)) if keys else [()]
    for combo in combos:
        d = dict(zip(keys, combo))
        st_ = d.get("size_type", "amount")
        if st_ in ("percent", "targetpercent") and not d.get("size", np.inf) <= 1:
            raise OrdersInputError(f"size must be in (0, 1] with size_type {st_!r}, got {d.get('size', np.inf)!r}")
    return strat, keys, combos


def _panel(data: Any) -> Panel:
    if isinstance(data, Panel):
        return data
    if isinstance(data, pd.DataFrame):
        close = data.to_numpy(dtype=np.float64)
        idx = data.index.to_numpy()
        syms = tuple(str(c) for c in data.columns)
    elif getattr(data, "ndim", None) == 2:
        close = data
        idx = np.arange(data.shape[0])
        syms = tuple(str(i) for i in range(data.shape[1]))
    else:
        raise OrdersInputError(f"data must be a Panel, a (T, N) close array or a DataFrame, got {type(data).__name__}")
    nan = close * np.nan
    return Panel(index=idx, symbols=syms, open=nan, high=nan, low=nan, close=close, volume=nan)


def _metrics(acc: np.ndarray, init_cash: float, bars_per_year: float) -> dict[str, np.ndarray]:
    """ORDER_METRICS from accumulators (..., N_ACC) (sweep_cpu.ACC_FIELDS)."""
    from kernels.backtest import metrics as M  # noqa: PLC0415

    xp = get_array_module(acc)
    n = acc[..., 0]
    agg = {"n": n, "mean": xp.where(n > 0, acc[..., 1], np.nan), "ssd": acc[..., 2], "down2": acc[..., 3],
           "final": acc[..., 4] / (init_cash if np.isscalar(init_cash) else xp.asarray(init_cash)), "mdd": acc[..., 5]}
    out = M.finish_return_metrics(xp, agg, bars_per_year)
    return {**out, **_trade_metrics(acc, n, init_cash)}


def _table(metrics: Mapping[str, Any]) -> np.ndarray:
    """(len(ORDER_METRICS), ...) float64 on the host, metric-major (`metrics.metrics_by_name`)."""
    from kernels.backtest.metrics import metrics_by_name  # noqa: PLC0415

    return metrics_by_name(get_array_module(next(iter(metrics.values()))), dict(metrics), ORDER_METRICS)


def _trade_metrics(acc: np.ndarray, n_act: np.ndarray, init_cash: Any) -> dict[str, np.ndarray]:
    xp = get_array_module(acc)
    n_exp, traded, n_trades, n_closed, n_wins, n_losses, gwin, gloss, spnl, sdur = (acc[..., k] for k in range(6, 16))
    if not np.isscalar(init_cash):
        init_cash = xp.asarray(init_cash)
    with np.errstate(all="ignore"):
        return {
            "n_trades": n_trades,
            "win_rate": xp.where(n_closed == 0, np.nan, n_wins / n_closed),
            "exposure": xp.where(n_act == 0, np.nan, n_exp / n_act),
            "turnover": traded / init_cash,
            "profit_factor": profit_factor(gwin, gloss, n_closed),
            "expectancy": xp.where(n_closed == 0, np.nan, spnl / n_closed),
            "avg_win": xp.where(n_wins == 0, np.nan, gwin / n_wins),
            "avg_loss": xp.where(n_losses == 0, np.nan, gloss / n_losses),
            "avg_trade_duration": xp.where(n_closed == 0, np.nan, sdur / n_closed),
        }


def _portfolio(acc: np.ndarray, port_value: np.ndarray, port_expo: np.ndarray, active: np.ndarray,
               init_total: float, bars_per_year: float) -> np.ndarray:
    """(P, len(ORDER_METRICS)) portfolio rows: summed value (P, T) of the assets."""
    from kernels.backtest import metrics as M  # noqa: PLC0415

    xp = get_array_module(port_value)
    active = xp.asarray(active)
    v = xp.ascontiguousarray(port_value).T  # (T, P)
    acc = xp.ascontiguousarray(acc)
    from kernels.backtest.orders.result import value_returns  # noqa: PLC0415

    r = value_returns(xp, xp.vstack([xp.full((1, v.shape[1]), init_total), v[:-1]]), v)
    act = xp.broadcast_to(active[:, None], v.shape)
    ret = M.return_metrics(xp, r, act, bars_per_year, equity=v / init_total)
    summed = acc.sum(axis=1)  # (P, N_ACC) over assets
    n_act = float(active.sum())
    summed[:, 6] = (port_expo & active[None, :]).sum(axis=1)
    trades = _trade_metrics(summed, xp.full(summed.shape[0], n_act), init_total)
    return _table({**ret, **trades}).T


def check_groups(group_by: Any, cash_sharing: Any, symbols: Any) -> tuple[np.ndarray | None, pd.Index | None]:
    """(group of each asset, group labels), or (None, None) without group_by; OrdersInputError
    names the argument (cash_sharing without group_by, labels of the wrong length or not
    contiguous)."""
    from kernels.backtest.orders.api import _groups  # noqa: PLC0415

    if not isinstance(cash_sharing, (bool, np.bool_)):
        raise OrdersInputError(f"cash_sharing must be True or False, got {cash_sharing!r}")
    if group_by is None or group_by is False:
        if cash_sharing:
            raise OrdersInputError("cash_sharing needs group_by (True: one group of every asset, or one group "
                                   "label per asset)")
        return None, None
    if isinstance(group_by, (str, bytes, numbers.Number)) and group_by is not True:
        raise OrdersInputError(f"group_by must be None, True or one label per asset, got {group_by!r}")
    return _groups(group_by, bool(cash_sharing), pd.Index(list(symbols)))


def _order_columns(keys: list[str], order_combos: list[tuple[Any, ...]]) -> tuple[dict[str, np.ndarray], tuple]:
    """(the swept order options' value columns, the kernel's per-order-combination arrays)."""
    n_order = len(order_combos)
    cols = {k: np.array([c[j] for c in order_combos]) for j, k in enumerate(keys)}
    full = {k: (cols[k] if k in cols else np.full(n_order, ORDER_DEFAULTS[k])) for k in ORDER_GRID_KEYS}
    o_stype = np.array([SIZE_TYPES[s] if isinstance(s, str) else int(s) for s in full["size_type"]], dtype=np.int64)
    return cols, (full["size"].astype(np.float64), o_stype, full["sl_stop"].astype(np.float64),
                  full["sl_trail"].astype(np.bool_), full["tp_stop"].astype(np.float64))


def simulate_grid(panel: Panel, strategy: str, strat_params: pd.DataFrame, order_arrays: tuple, fees: float,
                  fixed_fees: float, slippage: float, init_cash: float, accumulate: bool, ran: str,
                  col_group: np.ndarray | None = None, n_groups: int = 1,
                  shared: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                  on_device: bool = False) -> tuple[Any, ...]:
    """Run the sweep kernel over (strategy combinations x order combinations) x assets.

    Without `shared`: acc (P, N, N_ACC) per asset and the portfolio arrays (P * n_groups, T)
    where asset a adds into row p * n_groups + col_group[a] (one row per combination by
    default). With `shared` = (group_start, group_end, init_cash per group): cash sharing,
    acc (P, G, N_ACC) per group and the portfolio arrays (P, T) summed over groups.
    Combinations are strategy-major, order options fastest. Returns host arrays
    (acc, port_value, port_expo), or with `on_device` on the GPU the device arrays (the metrics
    then run there and only their tables come back: copying and reducing the accumulators on
    the host cost more than the simulation).
    """
    from kernels.backtest.orders.sweep_cpu import N_ACC  # noqa: PLC0415
    from kernels.strategies import get_strategy, positions_to_signals  # noqa: PLC0415

    xp = array_module(ran)
    dev_panel = panel.to(ran) if ran == "gpu" else panel.to("cpu")
    close = xp.ascontiguousarray(xp.asarray(dev_panel.close, dtype=np.float64))
    t, n = close.shape
    has_ohlc = bool(xp.isfinite(xp.asarray(dev_panel.open)).any())
    if has_ohlc:
        ohlc = [xp.ascontiguousarray(xp.asarray(getattr(dev_panel, f), dtype=np.float64)) for f in ("open", "high",
                                                                                                     "low")]
    else:
        ohlc = [xp.full((1, 1), np.nan)] * 3
    o_size, o_stype, o_sl, o_trail, o_tp = order_arrays
    n_order = len(o_size)
    acc_mode = 1 if accumulate else 0
    if col_group is None:
        col_group = np.zeros(n, dtype=np.int64)
    col_group = np.ascontiguousarray(col_group, dtype=np.int64)
    n_strat = len(strat_params)
    per_strat = max(1, 4 * t * n)
    batch = max(1, min(n_strat, SIGNAL_BYTES_PER_BATCH // per_strat))
    units = len(shared[0]) if shared is not None else n
    prows = 1 if shared is not None else n_groups
    keep = on_device and ran == "gpu"
    hold = xp if keep else np  # where the accumulators are gathered
    acc_all = hold.empty((n_strat * n_order, units, N_ACC))
    port_value_all = hold.empty((n_strat * n_order * prows, t))
    port_expo_all = hold.empty((n_strat * n_order * prows, t), dtype=bool)
    spec = get_strategy(strategy)
    for s0 in range(0, n_strat, batch):
        s1 = min(n_strat, s0 + batch)
        sig = [xp.empty((s1 - s0, t, n), dtype=np.bool_) for _ in range(4)]
        for s in range(s0, s1):
            params = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in strat_params.iloc[s].items()}
            pos = spec(dev_panel, **params)
            sg = positions_to_signals(xp.asarray(pos))
            sig[0][s - s0] = sg.entries
            sig[1][s - s0] = sg.exits
            sig[2][s - s0] = sg.short_entries if sg.short_entries is not None else False
            sig[3][s - s0] = sg.short_exits if sg.short_exits is not None else False
        n_p = (s1 - s0) * n_order
        strat_of = np.repeat(np.arange(s1 - s0, dtype=np.int64), n_order)
        tile = lambda a: np.ascontiguousarray(np.tile(a, s1 - s0))  # noqa: E731
        args = (strat_of, tile(o_size), tile(o_stype), tile(o_sl), tile(o_trail), tile(o_tp), float(fees),
                float(fixed_fees), float(slippage))
        rows = slice(s0 * n_order, s1 * n_order)
        prow = slice(s0 * n_order * prows, s1 * n_order * prows)
        if ran == "gpu":
            from kernels.backtest.orders import sweep_gpu  # noqa: PLC0415

            if shared is not None:
                acc, pv, pe = sweep_gpu.apply_shared(close, *ohlc, *sig, *args, shared[2], acc_mode, shared[0],
                                                     shared[1])
            else:
                acc, pv, pe = sweep_gpu.apply(close, *ohlc, *sig, *args, float(init_cash), acc_mode, col_group,
                                              n_groups)
            if keep:
                acc_all[rows], port_value_all[prow], port_expo_all[prow] = acc, pv, pe
            else:
                acc_all[rows], port_value_all[prow], port_expo_all[prow] = to_numpy(acc), to_numpy(pv), to_numpy(pe)
        else:
            from kernels.backtest.orders import sweep_cpu  # noqa: PLC0415

            acc = np.zeros((n_p, units, N_ACC))
            pv = np.zeros((n_p * prows, t))
            pe = np.zeros((n_p * prows, t), dtype=np.bool_)
            none = np.zeros(0, dtype=np.int64)
            g_start, g_end, g_cash = (none, none, np.zeros(0)) if shared is None else shared
            sweep_cpu.sweep_apply_nb(close, ohlc[0], ohlc[1], ohlc[2], *sig, *args, float(init_cash), acc_mode,
                                     col_group, np.int64(n_groups), shared is not None,
                                     np.ascontiguousarray(g_start, dtype=np.int64),
                                     np.ascontiguousarray(g_end, dtype=np.int64),
                                     np.ascontiguousarray(g_cash, dtype=np.float64), acc, pv, pe)
            acc_all[rows], port_value_all[prow], port_expo_all[prow] = acc, pv, pe
    if bool((acc_all[..., 16] != 0).any()):
        raise OrdersInputError("size_type='percent' does not support position reversal using signals "
                               "(as in vectorbt); sweep it with a long-only strategy")
    return acc_all, port_value_all, port_expo_all


def group_rows(acc: np.ndarray, port_value: np.ndarray, port_expo: np.ndarray, active: np.ndarray,
               col_group: np.ndarray, n_groups: int, init_cash: float, bars_per_year: float,
               first_bar: np.ndarray | None = None) -> np.ndarray:
    """(P, G, len(ORDER_METRICS)) rows of groups without cash sharing: the summed value of
    each group's assets (`simulate_grid` with col_group). `active` (T, N): bars with data.
    `first_bar[g]`: the group's rows start there (earlier bars are left out)."""
    n_p = acc.shape[0]
    t = port_value.shape[1]
    pv = port_value.reshape(n_p, n_groups, t)
    pe = port_expo.reshape(n_p, n_groups, t)
    out = np.empty((n_p, n_groups, len(ORDER_METRICS)))
    for g in range(n_groups):
        cols = np.flatnonzero(col_group == g)
        b0 = 0 if first_bar is None else int(first_bar[g])
        out[:, g] = _portfolio(acc[:, cols], pv[:, g, b0:], pe[:, g, b0:], active[b0:, cols].any(axis=1),
                               float(init_cash) * len(cols), bars_per_year)
    return out


def orders_sweep(data: Any, strategy: str, grid: Mapping[str, Any], fees: float = 0.0, slippage: float = 0.0,
                 top_k: int = 10, rank_by: str = "sharpe", backend: str = "auto", bars_per_year: float = 252,
                 init_cash: float = 100.0, fixed_fees: float = 0.0, accumulate: bool = False, group_by: Any = None,
                 cash_sharing: bool = False) -> Any:
    """Sweep a built-in strategy's parameters and order options on the orders engine.

    Returns a `kernels.backtest.SweepResult` whose metric columns are ORDER_METRICS
    (its `state` is None: orders sweeps are not chunked or merged). With `group_by`
    (True, or one label per asset, each group's assets next to each other) the rows of
    `asset_metrics` are per (combo_id, group): the group's summed value, or with
    `cash_sharing=True` one cash balance of `init_cash` per group, as
    `from_signals(..., group_by=..., cash_sharing=...)` for that combination; the
    portfolio row is every group's value summed.
    """
    from kernels.backtest.grid import expand_grid  # noqa: PLC0415
    from kernels.backtest.metrics import metrics_frame  # noqa: PLC0415
    from kernels.backtest.sweep import SweepResult  # noqa: PLC0415

    panel = _panel(data)
    for name, v in (("fees", fees), ("slippage", slippage)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 <= float(v) < 1:
            raise OrdersInputError(f"{name} must be a fraction in [0, 1), got {v!r}")
    if isinstance(fixed_fees, bool) or not isinstance(fixed_fees, numbers.Real) or not (
            math.isfinite(fixed_fees) and fixed_fees >= 0):
        raise OrdersInputError(f"fixed_fees must be a finite number >= 0, got {fixed_fees!r}")
    if isinstance(init_cash, bool) or not isinstance(init_cash, numbers.Real) or not (
            math.isfinite(init_cash) and init_cash > 0):
        raise OrdersInputError(f"init_cash must be a finite number > 0, got {init_cash!r}")
    if rank_by not in ORDER_METRICS:
        raise OrdersInputError(f"rank_by must be one of {list(ORDER_METRICS)}, got {rank_by!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 0:
        raise OrdersInputError(f"top_k must be an int >= 0, got {top_k!r}")
    col_group, labels = check_groups(group_by, cash_sharing, panel.symbols)
    strat_grid, keys, order_combos = split_grid(grid)
    g = expand_grid(strategy, strat_grid, panel.n_bars)
    ran = resolve_backend(backend, panel.close)
    cols, order_arrays = _order_columns(keys, order_combos)
    n_order = len(order_combos)
    n_strat = g.n_combos
    n = panel.n_assets
    t = panel.n_bars
    active = np.isfinite(to_numpy(panel.close))
    bpy = float(bars_per_year)
    if col_group is None:
        acc_all, port_value_all, port_expo_all = simulate_grid(panel, strategy, g.params, order_arrays, fees,
                                                               fixed_fees, slippage, init_cash, accumulate, ran,
                                                               on_device=True)
        table = _table(_metrics(acc_all, float(init_cash), bpy))  # (M, P, N)
        port = _portfolio(acc_all, port_value_all, port_expo_all, active.any(axis=1), float(init_cash) * n, bpy)
        unit_labels, unit_name = list(panel.symbols), "symbol"
    else:
        n_groups = len(labels)
        starts = np.searchsorted(col_group, np.arange(n_groups), side="left").astype(np.int64)
        ends = np.searchsorted(col_group, np.arange(n_groups), side="right").astype(np.int64)
        if cash_sharing:
            inits = np.full(n_groups, float(init_cash))
            acc_all, port_value_all, port_expo_all = simulate_grid(
                panel, strategy, g.params, order_arrays, fees, fixed_fees, slippage, init_cash, accumulate, ran,
                shared=(starts, ends, inits))
            table = _table(_metrics(acc_all, inits, bpy))  # (M, P, G)
            port = _portfolio(acc_all, port_value_all, port_expo_all, active.any(axis=1), float(init_cash) * n_groups,
                              bpy)
        else:
            acc_all, pv, pe = simulate_grid(panel, strategy, g.params, order_arrays, fees, fixed_fees, slippage,
                                            init_cash, accumulate, ran, col_group=col_group, n_groups=n_groups)
            table = np.moveaxis(group_rows(acc_all, pv, pe, active, col_group, n_groups, float(init_cash), bpy),
                                -1, 0)
            n_p = acc_all.shape[0]
            port = _portfolio(acc_all, pv.reshape(n_p, n_groups, t).sum(axis=1),
                              pe.reshape(n_p, n_groups, t).any(axis=1), active.any(axis=1), float(init_cash) * n, bpy)
        unit_labels, unit_name = list(labels), "group"

    n_combos = n_strat * n_order
    n_units = len(unit_labels)
    ids = np.arange(n_combos)
    sp = g.params.loc[g.params.index.repeat(n_order)].reset_index(drop=True)
    for k in keys:
        sp[k] = np.tile(cols[k], n_strat)
    sp.index = pd.Index(ids, name="combo_id")
    index = pd.MultiIndex(levels=[pd.Index(ids), pd.Index(unit_labels)],
                          codes=[np.repeat(np.arange(n_combos), n_units), np.tile(np.arange(n_units), n_combos)],
                          names=["combo_id", unit_name], verify_integrity=False)
    asset_metrics = metrics_frame(table, index, ORDER_METRICS)
    portfolio = pd.DataFrame(port, index=pd.Index(ids, name="combo_id"), columns=list(ORDER_METRICS))
    values = portfolio[rank_by].to_numpy(dtype=np.float64)
    key = values if rank_by in ASCENDING else -values
    order = np.lexsort((ids, key, np.isnan(values)))[:top_k]
    top = pd.concat([sp.loc[ids[order]], portfolio.loc[ids[order]]], axis=1)
    return SweepResult(params=sp, asset_metrics=asset_metrics, portfolio_metrics=portfolio, top=top, backend=ran,
                       strategy=strategy, rank_by=rank_by, top_k=int(top_k), n_dropped=g.n_dropped, state=None)
