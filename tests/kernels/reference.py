"""A plain, obviously-correct reference of docs/backtest-semantics.md.

Python loops over bars and assets, TA-Lib for moving averages and standard
deviations (run on each column from its first finite value). Slow on purpose: it is
the oracle that `kernels.backtest.run` and the sweep kernels are checked against.
"""
from __future__ import annotations

import math

import numpy as np
import talib

METRICS = (
    "total_return",
    "cagr",
    "ann_vol",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "n_trades",
    "win_rate",
    "exposure",
    "turnover",
)


def _per_column(fn, x: np.ndarray, *args) -> np.ndarray:
    """Apply a TA-Lib function to each column's valid values (the indicators' default
    nan_policy "skip": windows over the last n valid values), NaN at the missing bars."""
    out = np.full(x.shape, np.nan)
    for i in range(x.shape[1]):
        finite = np.flatnonzero(np.isfinite(x[:, i]))
        values = np.ascontiguousarray(x[finite, i], dtype=np.float64)
        if values.size >= args[0]:
            out[finite, i] = fn(values, *args)
    return out


def ref_sma(x: np.ndarray, n: int) -> np.ndarray:
    return _per_column(talib.SMA, x, n)


def ref_ema(x: np.ndarray, n: int) -> np.ndarray:
    return _per_column(talib.EMA, x, n)


def ref_std(x: np.ndarray, n: int) -> np.ndarray:
    return _per_column(lambda a, w: talib.STDDEV(a, w, 1.0), x, n)


def _sign(v: float) -> int:
    return int(v > 0) - int(v < 0)


def _band_state_machine(z: np.ndarray, entry_z: float, exit_z: float, long_only: bool) -> np.ndarray:
    """The mean-reversion state machine over one column of z-scores."""
    out = np.zeros(len(z))
    state = 0
    for t, zt in enumerate(z):
        if not math.isfinite(zt):
            state = 0
        else:
            if state == 1 and zt >= -exit_z:
                state = 0
            elif state == -1 and zt <= exit_z:
                state = 0
            if state == 0:
                if zt < -entry_z:
                    state = 1
                elif zt > entry_z and not long_only:
                    state = -1
        out[t] = state
    return out


def _zscore(x: np.ndarray, window: int) -> np.ndarray:
    mean, std = ref_sma(x, window), ref_std(x, window)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (x - mean) / std
    z[~np.isfinite(z)] = np.nan
    return z


def reference_positions(strategy: str, close: np.ndarray, **params) -> np.ndarray:
    """Target positions (T, N) of a built-in strategy, bar by bar."""
    close = np.asarray(close, dtype=np.float64)
    t_bars, n = close.shape
    pos = np.zeros((t_bars, n))
    if strategy == "trend_following":
        fast, slow = params.get("fast", 10), params.get("slow", 50)
        ma = ref_ema if params.get("ma", "sma") == "ema" else ref_sma
        long_only = params.get("long_only", True)
        f, s = ma(close, fast), ma(close, slow)
        for t in range(t_bars):
            for i in range(n):
                if math.isnan(f[t, i]) or math.isnan(s[t, i]):
                    continue
                if f[t, i] > s[t, i]:
                    pos[t, i] = 1.0
                elif f[t, i] < s[t, i] and not long_only:
                    pos[t, i] = -1.0
    elif strategy == "momentum":
        lookback = params.get("lookback", 20)
        threshold = params.get("threshold", 0.0)
        long_only = params.get("long_only", False)
        top_k = params.get("top_k", 0)
        m = np.full((t_bars, n), np.nan)
        for t in range(lookback, t_bars):
            for i in range(n):
                a, b = close[t, i], close[t - lookback, i]
                if math.isfinite(a) and math.isfinite(b):
                    m[t, i] = a / b - 1.0
        for t in range(t_bars):
            if top_k == 0:
                for i in range(n):
                    if math.isnan(m[t, i]):
                        continue
                    if m[t, i] > threshold:
                        pos[t, i] = 1.0
                    elif m[t, i] < -threshold and not long_only:
                        pos[t, i] = -1.0
            else:
                valid = [i for i in range(n) if math.isfinite(m[t, i])]
                longs = sorted(valid, key=lambda i: (-m[t, i], i))[:top_k]
                shorts = [] if long_only else sorted(valid, key=lambda i: (m[t, i], i))[:top_k]
                for i in longs:
                    pos[t, i] += 1.0
                for i in shorts:
                    pos[t, i] -= 1.0
    elif strategy == "mean_reversion":
        window = params.get("window", 20)
        z = _zscore(close, window)
        for i in range(n):
            pos[:, i] = _band_state_machine(
                z[:, i], params.get("entry_z", 2.0), params.get("exit_z", 0.5), params.get("long_only", False)
            )
    elif strategy == "pairs":
        window = params.get("window", 60)
        for a in range(0, n - 1, 2):
            b = a + 1
            spread = (np.log(close[:, a]) - np.log(close[:, b]))[:, None]
            z = _zscore(spread, window)[:, 0]
            q = _band_state_machine(z, params.get("entry_z", 2.0), params.get("exit_z", 0.5), False)
            pos[:, a], pos[:, b] = q, -q
    else:
        raise KeyError(strategy)
    pos[~np.isfinite(close)] = 0.0
    return pos


def _series_metrics(r: list[float], equity_path: list[float], bars_per_year: int) -> dict[str, float]:
    """Return-based metrics: `r` holds the active bars' returns, `equity_path` every bar's equity."""
    n = len(r)
    nan = float("nan")
    final = equity_path[-1] if equity_path else 1.0
    out = {"total_return": final - 1.0}
    if n == 0:
        out["cagr"] = nan
    elif final <= 0:
        out["cagr"] = -1.0
    else:
        out["cagr"] = final ** (bars_per_year / n) - 1.0
    mean = sum(r) / n if n else nan
    std = math.sqrt(sum((x - mean) ** 2 for x in r) / (n - 1)) if n >= 2 else nan
    out["ann_vol"] = std * math.sqrt(bars_per_year) if n >= 2 else nan
    out["sharpe"] = mean / std * math.sqrt(bars_per_year) if n >= 2 and std > 0 else nan
    down = math.sqrt(sum(min(x, 0.0) ** 2 for x in r) / n) if n else 0.0
    out["sortino"] = mean / down * math.sqrt(bars_per_year) if n >= 1 and down > 0 else nan
    peak, mdd = 1.0, 0.0
    for e in equity_path:
        peak = max(peak, e)
        mdd = max(mdd, 1.0 - e / peak)
    out["max_drawdown"] = mdd
    out["calmar"] = out["cagr"] / mdd if mdd > 0 else nan
    return out


def reference_backtest(
    close: np.ndarray,
    positions: np.ndarray,
    fees: float = 0.0,
    slippage: float = 0.0,
    bars_per_year: int = 252,
) -> dict:
    """Net returns, equity and metrics per asset and for the portfolio, bar by bar."""
    close = np.asarray(close, dtype=np.float64)
    pos = np.array(positions, dtype=np.float64)
    t_bars, n = close.shape
    pos[~np.isfinite(close)] = 0.0
    rate = fees + slippage
    net = np.zeros((t_bars, n))
    gross = np.zeros((t_bars, n))
    cost = np.zeros((t_bars, n))
    asset_metrics = {m: np.full(n, np.nan) for m in METRICS}
    total_trades = total_closed = total_wins = 0
    for i in range(n):
        prev_pos = 0.0
        trade_open, trade_pnl = False, 0.0
        n_trades = closed = wins = 0
        turnover = 0.0
        exposed = active = 0
        equity, r_active, eq_path = 1.0, [], []
        for t in range(t_bars):
            c = close[t, i]
            g = 0.0
            if t > 0 and math.isfinite(c) and math.isfinite(close[t - 1, i]):
                g = prev_pos * (c / close[t - 1, i] - 1.0)
            k = rate * abs(pos[t, i] - prev_pos)
            gross[t, i], cost[t, i] = g, k
            net[t, i] = g - k
            turnover += abs(pos[t, i] - prev_pos)
            equity *= 1.0 + net[t, i]
            eq_path.append(equity)
            if math.isfinite(c):
                active += 1
                exposed += pos[t, i] != 0
                r_active.append(net[t, i])
            # trades
            old_s, new_s = _sign(prev_pos), _sign(pos[t, i])
            if trade_open:
                trade_pnl += g
            if new_s != old_s:
                if old_s != 0:
                    if new_s == 0:
                        trade_pnl -= k
                    closed += 1
                    wins += trade_pnl > 0
                    trade_open = False
                if new_s != 0:
                    trade_open, trade_pnl = True, -k
                    n_trades += 1
            elif new_s != 0:
                trade_pnl -= k
            prev_pos = pos[t, i]
        m = _series_metrics(r_active, eq_path, bars_per_year)
        m["n_trades"] = float(n_trades)
        m["win_rate"] = wins / closed if closed else float("nan")
        m["exposure"] = exposed / active if active else float("nan")
        m["turnover"] = turnover
        for key, value in m.items():
            asset_metrics[key][i] = value
        total_trades += n_trades
        total_closed += closed
        total_wins += wins
    # portfolio: equal weight over active assets each bar
    port = np.zeros(t_bars)
    port_active = []
    port_eq_path = []
    equity = 1.0
    for t in range(t_bars):
        members = [i for i in range(n) if math.isfinite(close[t, i])]
        port[t] = sum(net[t, i] for i in members) / len(members) if members else 0.0
        equity *= 1.0 + port[t]
        port_eq_path.append(equity)
        if members:
            port_active.append(port[t])
    port_equity = np.cumprod(1.0 + port)
    pm = _series_metrics(port_active, port_eq_path, bars_per_year)
    pm["n_trades"] = float(total_trades)
    pm["win_rate"] = total_wins / total_closed if total_closed else float("nan")
    pm["exposure"] = float(np.nanmean(asset_metrics["exposure"]))
    pm["turnover"] = float(np.mean(asset_metrics["turnover"]))
    return {
        "positions": pos,
        "gross": gross,
        "cost": cost,
        "net": net,
        "equity": np.cumprod(1.0 + net, axis=0),
        "portfolio_net": port,
        "portfolio_equity": port_equity,
        "asset_metrics": asset_metrics,
        "portfolio_metrics": pm,
    }
