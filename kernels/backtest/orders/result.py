"""`OrdersResult`: what `from_signals` returns, with pandas outputs indexed like the input.

The kernels only write order records; every per-bar series here (positions, cash,
value, returns) is derived from them when first asked for, and cached:

- `positions` (T, N): asset amount held after each bar's orders.
- `cash`, `value`, `returns`: per column, or per group when `group_by` is given
  (with `cash_sharing` the group's one cash balance). value = cash + positions x
  close, close forward-filled (and back-filled before its first value), as vectorbt.
  returns[t] = value[t] / value[t-1] - 1 with value[-1] = the initial cash (vectorbt's
  rule: sign flipped after a negative value, 0 from 0 to 0).
- These four are Series (named like the input) for a Series input, and `cash`, `value`,
  `returns` are Series (named by the group) for one group, as vectorbt's.
- `orders`, `trades`: DataFrames of the records (`order_records`, `trade_records`
  hold the raw `order_dt` / `trade_dt` arrays). Trades are vectorbt's exit trades.
- `stats(bars_per_year=252)`: per column/group metrics (ORDER_METRICS).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kernels.backend import get_array_module, to_numpy
from kernels.backtest.orders import enums
from kernels.wrapping import ArrayWrapper

ORDER_METRICS: tuple[str, ...] = (
    "total_return", "cagr", "ann_vol", "sharpe", "sortino", "max_drawdown", "calmar",
    "n_trades", "win_rate", "exposure", "turnover",
    "profit_factor", "expectancy", "avg_win", "avg_loss", "avg_trade_duration",
)


@dataclass(frozen=True, eq=False)
class OrdersResult:
    """The outcome of one orders-engine simulation (see the module docstring)."""

    close: np.ndarray  # (T, N) host, as given (NaN = no data)
    order_records: np.ndarray  # order_dt
    init_cash: np.ndarray  # per output unit (column, or group)
    out_group_of_col: np.ndarray  # (N,)
    group_labels: pd.Index | None
    cash_sharing: bool
    wrapper: ArrayWrapper
    columns: pd.Index
    backend: str
    freq: pd.Timedelta | None = None

    @classmethod
    def build(cls, p: Any, records: np.ndarray, freq: Any = None) -> "OrdersResult":
        close = to_numpy(p.close)
        n_units = int(p.out_group_of_col.max()) + 1
        if p.cash_sharing:
            init = p.init_cash.copy()
        else:
            init = np.zeros(n_units)
            np.add.at(init, p.out_group_of_col, p.init_cash)
        return cls(close, records, init, p.out_group_of_col, p.group_labels, p.cash_sharing, p.wrapper, p.columns,
                   p.backend, freq)

    # ------------------------------------------------------------ shapes and labels
    @property
    def n_bars(self) -> int:
        return self.close.shape[0]

    @property
    def grouped(self) -> bool:
        return self.group_labels is not None

    @property
    def unit_labels(self) -> pd.Index:
        """Labels of the value/cash/returns columns: groups when grouped, else columns."""
        return self.group_labels if self.grouped else self.columns

    @property
    def index(self) -> pd.Index | None:
        return self.wrapper.index

    def _frame(self, a: np.ndarray, columns: pd.Index) -> pd.DataFrame | pd.Series:
        """(T, K) as a DataFrame; a Series named by its one label for a Series input, and for the
        per-group outputs of a single group (as vectorbt's wrapper gives them)."""
        index = self.index if self.index is not None else pd.RangeIndex(a.shape[0])
        one_group = self.grouped and columns is self.group_labels and len(columns) == 1
        if a.shape[1] == 1 and (self.wrapper.kind == "series" or one_group):
            return pd.Series(a[:, 0], index=index, name=columns[0])
        return pd.DataFrame(a, index=index, columns=columns)

    # ------------------------------------------------------------ raw series (cached)
    @functools.cached_property
    def close_filled(self) -> np.ndarray:
        from kernels.backtest.orders.cpu import ffill_close_nb  # noqa: PLC0415

        return ffill_close_nb(np.ascontiguousarray(self.close))

    @functools.cached_property
    def _flows(self) -> tuple[np.ndarray, np.ndarray]:
        from kernels.backtest.orders.cpu import flows_nb  # noqa: PLC0415

        r = self.order_records
        return flows_nb(self.n_bars, self.close.shape[1], r["idx"], r["col"], r["size"], r["price"], r["fees"],
                        r["side"])

    @functools.cached_property
    def positions_array(self) -> np.ndarray:
        from kernels.backtest.orders.cpu import cumulate_nb  # noqa: PLC0415

        return cumulate_nb(self._flows[0], np.zeros(self.close.shape[1]))

    def _group_sum(self, a: np.ndarray) -> np.ndarray:
        if not self.grouped:
            return a
        out = np.zeros((a.shape[0], len(self.group_labels)))
        for col, g in enumerate(self.out_group_of_col):
            out[:, g] += a[:, col]
        return out

    @functools.cached_property
    def cash_array(self) -> np.ndarray:
        from kernels.backtest.orders.cpu import cumulate_nb  # noqa: PLC0415

        return cumulate_nb(np.ascontiguousarray(self._group_sum(self._flows[1])), self.init_cash)

    @functools.cached_property
    def asset_value_array(self) -> np.ndarray:
        pos = self.positions_array
        with np.errstate(invalid="ignore"):
            av = np.where(pos == 0, 0.0, pos * self.close_filled)
        return self._group_sum(av)

    @functools.cached_property
    def value_array(self) -> np.ndarray:
        return self.cash_array + self.asset_value_array

    @functools.cached_property
    def returns_array(self) -> np.ndarray:
        v = self.value_array
        return value_returns(np, np.vstack([self.init_cash[None, :], v[:-1]]), v)

    @functools.cached_property
    def active_array(self) -> np.ndarray:
        """(T, units): a bar with data for any column of the unit."""
        return self._group_any(np.isfinite(self.close))

    def _group_any(self, m: np.ndarray) -> np.ndarray:
        if not self.grouped:
            return m
        out = np.zeros((m.shape[0], len(self.group_labels)), dtype=bool)
        for col, g in enumerate(self.out_group_of_col):
            out[:, g] |= m[:, col]
        return out

    # ------------------------------------------------------------ pandas outputs
    @property
    def positions(self) -> pd.DataFrame | pd.Series:
        return self._frame(self.positions_array, self.columns)

    @property
    def cash(self) -> pd.DataFrame | pd.Series:
        return self._frame(self.cash_array, self.unit_labels)

    @property
    def value(self) -> pd.DataFrame | pd.Series:
        return self._frame(self.value_array, self.unit_labels)

    @property
    def returns(self) -> pd.DataFrame | pd.Series:
        return self._frame(self.returns_array, self.unit_labels)

    def _time(self, idx: np.ndarray) -> Any:
        if self.index is None:
            return idx
        safe = np.clip(idx, 0, len(self.index) - 1)
        return np.asarray(self.index)[safe]

    @property
    def orders(self) -> pd.DataFrame:
        r = self.order_records
        return pd.DataFrame({
            "id": r["id"],
            "column": np.asarray(self.columns)[r["col"]] if len(r) else np.array([], dtype=object),
            "col": r["col"],
            "idx": r["idx"],
            "time": self._time(r["idx"]),
            "size": r["size"],
            "price": r["price"],
            "fees": r["fees"],
            "side": np.where(r["side"] == enums.OrderSide.Buy, "buy", "sell"),
            "reason": np.asarray(enums.REASON_NAMES, dtype=object)[r["reason"]] if len(r) else np.array([], object),
        })

    @functools.cached_property
    def trade_records(self) -> np.ndarray:
        from kernels.backtest.orders.cpu import exit_trades_nb  # noqa: PLC0415

        r = self.order_records
        n_cols = self.close.shape[1]
        order = np.argsort(r["col"], kind="stable")
        s = r[order]
        col_len = np.bincount(s["col"], minlength=n_cols).astype(np.int64)
        col_start = (np.cumsum(col_len) - col_len).astype(np.int64)
        out = np.empty(len(r) + n_cols, dtype=enums.trade_dt)
        # an open trade is valued at the last bar's close as given (NaN when that bar has no close), as
        # vectorbt's exit trades (Orders.close is the raw close)
        last = np.ascontiguousarray(self.close[-1], dtype=np.float64)
        n = exit_trades_nb(s["idx"].copy(), s["col"].copy(), s["size"].copy(), s["price"].copy(), s["fees"].copy(),
                           s["side"].copy(), s["reason"].copy(), col_start, col_len, last, self.n_bars, out)
        return out[:n]

    @property
    def trades(self) -> pd.DataFrame:
        t = self.trade_records
        reasons = np.asarray(enums.REASON_NAMES + ("open",), dtype=object)
        return pd.DataFrame({
            "id": t["id"],
            "column": np.asarray(self.columns)[t["col"]] if len(t) else np.array([], dtype=object),
            "col": t["col"],
            "size": t["size"],
            "entry_idx": t["entry_idx"],
            "entry_time": self._time(t["entry_idx"]),
            "entry_price": t["entry_price"],
            "entry_fees": t["entry_fees"],
            "exit_idx": t["exit_idx"],
            "exit_time": self._time(t["exit_idx"]),
            "exit_price": t["exit_price"],
            "exit_fees": t["exit_fees"],
            "pnl": t["pnl"],
            "return": t["return"],
            "direction": np.where(t["direction"] == enums.TradeDirection.Long, "long", "short"),
            "status": np.where(t["status"] == enums.TradeStatus.Closed, "closed", "open"),
            "exit_reason": reasons[t["exit_reason"]] if len(t) else np.array([], dtype=object),
            "parent_id": t["parent_id"],
        })

    # ------------------------------------------------------------ metrics
    def stats_array(self, bars_per_year: float = 252) -> np.ndarray:
        """(units, len(ORDER_METRICS)) float64 metrics (see docs/backtest-semantics.md)."""
        from kernels.backtest import metrics as M  # noqa: PLC0415

        v = self.value_array
        e = v / self.init_cash[None, :]
        ret = M.return_metrics(np, self.returns_array, self.active_array, float(bars_per_year), equity=e)
        n_units = v.shape[1]
        unit_of_col = self.out_group_of_col if self.grouped else np.arange(self.close.shape[1])
        t = self.trade_records
        tu = unit_of_col[t["col"]] if len(t) else np.zeros(0, dtype=np.int64)
        closed = t["status"] == enums.TradeStatus.Closed
        pnl = t["pnl"]
        dur = (t["exit_idx"] - t["entry_idx"]).astype(np.float64)
        n_trades = np.bincount(tu, minlength=n_units).astype(np.float64)
        n_closed = np.bincount(tu[closed], minlength=n_units).astype(np.float64)
        wins = closed & (pnl > 0)
        losses = closed & (pnl < 0)
        n_wins = np.bincount(tu[wins], minlength=n_units).astype(np.float64)
        n_losses = np.bincount(tu[losses], minlength=n_units).astype(np.float64)
        gross_win = np.bincount(tu[wins], weights=pnl[wins], minlength=n_units)
        gross_loss = np.bincount(tu[losses], weights=pnl[losses], minlength=n_units)
        sum_closed = np.bincount(tu[closed], weights=pnl[closed], minlength=n_units)
        sum_dur = np.bincount(tu[closed], weights=dur[closed], minlength=n_units)
        r = self.order_records
        ru = unit_of_col[r["col"]] if len(r) else np.zeros(0, dtype=np.int64)
        traded = np.bincount(ru, weights=r["size"] * r["price"], minlength=n_units)
        pos_any = self._group_any(self.positions_array != 0)
        act = self.active_array
        n_act = act.sum(axis=0).astype(np.float64)
        with np.errstate(all="ignore"):
            out = {
                **ret,
                "n_trades": n_trades,
                "win_rate": np.where(n_closed == 0, np.nan, n_wins / n_closed),
                "exposure": np.where(n_act == 0, np.nan, (pos_any & act).sum(axis=0) / n_act),
                "turnover": traded / self.init_cash,
                "profit_factor": profit_factor(gross_win, gross_loss, n_closed),
                "expectancy": np.where(n_closed == 0, np.nan, sum_closed / n_closed),
                "avg_win": np.where(n_wins == 0, np.nan, gross_win / n_wins),
                "avg_loss": np.where(n_losses == 0, np.nan, gross_loss / n_losses),
                "avg_trade_duration": np.where(n_closed == 0, np.nan, sum_dur / n_closed),
            }
        return np.stack([np.asarray(out[m], dtype=np.float64) for m in ORDER_METRICS], axis=-1)

    def stats(self, bars_per_year: float = 252) -> pd.DataFrame:
        """Metrics per column (or group): docs/backtest-semantics.md, "Orders engine".
        `avg_trade_duration` is in bars, or a Timedelta when `freq` was given."""
        df = pd.DataFrame(self.stats_array(bars_per_year), index=self.unit_labels, columns=list(ORDER_METRICS))
        if self.freq is not None:
            df["avg_trade_duration"] = df["avg_trade_duration"] * self.freq
        return df

    def __repr__(self) -> str:
        units = "groups" if self.grouped else "columns"
        final = self.value_array[-1] if self.n_bars else np.array([])
        head = ", ".join(f"{lab}={val:.6g}" for lab, val in list(zip(self.unit_labels, final))[:4])
        more = ", ..." if len(final) > 4 else ""
        return (f"OrdersResult({self.n_bars} bars x {self.close.shape[1]} columns, {len(self.unit_labels)} {units}"
                f"{', cash sharing' if self.cash_sharing else ''}, {len(self.order_records)} orders, "
                f"backend={self.backend}, final value: {head}{more})")


def value_returns(xp: Any, prev: Any, v: Any) -> Any:
    """Bar returns from the previous value to the value, as vectorbt's get_return_nb:
    (v - prev) / prev, with the sign flipped when prev < 0 (an account a short took
    below zero), 0 from 0 to 0 and sign(v) x inf from 0 to v != 0."""
    with np.errstate(all="ignore"):
        r = (v - prev) / prev
        r = xp.where(prev < 0, -r, r)
        return xp.where(prev == 0, xp.where(v == 0, 0.0, xp.sign(v) * np.inf), r)


def profit_factor(gross_win: Any, gross_loss: Any, n_closed: Any) -> Any:
    """Gross profit / gross loss of closed trades; inf with profits and no loss,
    NaN with no closed trade or neither profit nor loss."""
    xp = get_array_module(gross_win)  # the sweep's metrics may run on the device
    with np.errstate(all="ignore"):
        pf = xp.where(gross_loss < 0, gross_win / -gross_loss, xp.where(gross_win > 0, np.inf, np.nan))
    return xp.where(n_closed == 0, np.nan, pf)
