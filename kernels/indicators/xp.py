"""Array-expression versions of the indicators: the test oracle of the kernels.

Written once with the array module `xp` as a parameter (NumPy or CuPy), from the
textbook definitions rather than TA-Lib's running sums: windows are summed afresh
from shifted slices, recursions step over rows with whole-row operations. They are
slow (O(T * period) passes) and assume columns with data from the first bar (no
late starts, no NaN); tests compare the hand-written kernels with them.
All inputs are 2-D (T, N) float64 arrays; outputs have NaN in the warm-up.
"""
from __future__ import annotations

from types import ModuleType
from typing import Any

Array = Any


def _nan(xp: ModuleType, like: Array) -> Array:
    return xp.full(like.shape, xp.nan, dtype=xp.float64)


def _window_sum(xp: ModuleType, x: Array, p: int) -> Array:
    """sum(x[t-p+1 .. t]) at t >= p-1, NaN before."""
    out = _nan(xp, x)
    acc = x[p - 1 :].copy()
    for i in range(1, p):
        acc += x[p - 1 - i : x.shape[0] - i]
    out[p - 1 :] = acc
    return out


def sma(xp: ModuleType, x: Array, p: int) -> Array:
    return _window_sum(xp, x, p) / p


def wma(xp: ModuleType, x: Array, p: int) -> Array:
    out = _nan(xp, x)
    acc = xp.zeros_like(x[p - 1 :])
    for i in range(p):  # weight p - i on x[t - i]
        acc += (p - i) * x[p - 1 - i : x.shape[0] - i]
    out[p - 1 :] = acc / (p * (p + 1) / 2.0)
    return out


def _ema_from(xp: ModuleType, x: Array, p: int, start: int) -> Array:
    """EMA of rows start.. seeded with the SMA of rows start..start+p-1."""
    out = _nan(xp, x)
    k = 2.0 / (p + 1.0)
    prev = x[start : start + p].mean(axis=0)
    out[start + p - 1] = prev
    for t in range(start + p, x.shape[0]):
        prev = prev + k * (x[t] - prev)
        out[t] = prev
    return out


def ema(xp: ModuleType, x: Array, p: int) -> Array:
    return _ema_from(xp, x, p, 0)


def rolling_var(xp: ModuleType, x: Array, p: int) -> Array:
    """Population variance over the window, two-pass (mean first)."""
    mean = sma(xp, x, p)
    out = _nan(xp, x)
    acc = xp.zeros_like(x[p - 1 :])
    m = mean[p - 1 :]
    for i in range(p):
        d = x[p - 1 - i : x.shape[0] - i] - m
        acc += d * d
    out[p - 1 :] = acc / p
    return out


def rolling_std(xp: ModuleType, x: Array, p: int, nbdev: float = 1.0) -> Array:
    return xp.sqrt(rolling_var(xp, x, p)) * nbdev


def zscore(xp: ModuleType, x: Array, p: int) -> Array:
    sd = rolling_std(xp, x, p)
    z = (x - sma(xp, x, p)) / xp.where(sd > 0, sd, xp.nan)
    return z


def bbands(xp: ModuleType, x: Array, p: int, up: float = 2.0, dn: float = 2.0) -> tuple:
    mid = sma(xp, x, p)
    sd = rolling_std(xp, x, p)
    return mid + up * sd, mid, mid - dn * sd


def _wilder(xp: ModuleType, v: Array, p: int, first: int) -> Array:
    """Wilder's average of rows first.. (seed: mean of rows first..first+p-1)."""
    out = _nan(xp, v)
    prev = v[first : first + p].mean(axis=0)
    out[first + p - 1] = prev
    for t in range(first + p, v.shape[0]):
        prev = (prev * (p - 1) + v[t]) / p
        out[t] = prev
    return out


def rsi(xp: ModuleType, x: Array, p: int) -> Array:
    d = xp.zeros_like(x)
    d[1:] = x[1:] - x[:-1]
    gain = _wilder(xp, xp.maximum(d, 0.0), p, 1)
    loss = _wilder(xp, xp.maximum(-d, 0.0), p, 1)
    total = gain + loss
    out = xp.where(total > 0, 100.0 * gain / xp.where(total > 0, total, 1.0), 0.0)
    return xp.where(xp.isnan(total), xp.nan, out)


def atr(xp: ModuleType, high: Array, low: Array, close: Array, p: int) -> Array:
    tr = xp.zeros_like(close)
    prev = close[:-1]
    tr[1:] = xp.maximum(high[1:] - low[1:], xp.maximum(xp.abs(prev - high[1:]), xp.abs(prev - low[1:])))
    return _wilder(xp, tr, p, 1)


def macd(xp: ModuleType, x: Array, fast: int = 12, slow: int = 26, signal: int = 9) -> tuple:
    if slow < fast:
        fast, slow = slow, fast
    line = _ema_from(xp, x, fast, slow - fast) - _ema_from(xp, x, slow, 0)
    sig = _ema_from(xp, xp.nan_to_num(line), signal, slow - 1)
    start = slow - 1 + signal - 1
    line = line.copy()
    line[:start] = xp.nan
    return line, sig, line - sig


def _rolling_extreme(xp: ModuleType, x: Array, p: int, fn: Any) -> Array:
    out = _nan(xp, x)
    acc = x[p - 1 :].copy()
    for i in range(1, p):
        acc = fn(acc, x[p - 1 - i : x.shape[0] - i])
    out[p - 1 :] = acc
    return out


def stoch(xp: ModuleType, high: Array, low: Array, close: Array, fk: int = 5, sk: int = 3, sd: int = 3) -> tuple:
    hh = _rolling_extreme(xp, high, fk, xp.maximum)
    ll = _rolling_extreme(xp, low, fk, xp.minimum)
    rng = hh - ll
    fast = xp.where(rng != 0, (close - ll) / xp.where(rng != 0, rng, 1.0) * 100.0, 0.0)
    fast[: fk - 1] = xp.nan
    slowk = _shifted_sma(xp, fast, sk, fk - 1)
    slowd = _shifted_sma(xp, slowk, sd, fk - 1 + sk - 1)
    slowk[: fk - 1 + sk - 1 + sd - 1] = xp.nan
    return slowk, slowd


def _shifted_sma(xp: ModuleType, x: Array, p: int, first: int) -> Array:
    out = _nan(xp, x)
    out[first:] = sma(xp, x[first:], p)
    return out


def roc(xp: ModuleType, x: Array, p: int) -> Array:
    out = _nan(xp, x)
    old = x[:-p] if p else x
    out[p:] = xp.where(old != 0, (x[p:] / xp.where(old != 0, old, 1.0) - 1.0) * 100.0, 0.0)
    return out


def obv(xp: ModuleType, close: Array, volume: Array) -> Array:
    sign = xp.zeros_like(close)
    sign[1:] = xp.sign(close[1:] - close[:-1])
    signed = sign * volume
    signed[0] = volume[0]
    return xp.cumsum(signed, axis=0)


def vwap(xp: ModuleType, high: Array, low: Array, close: Array, volume: Array, p: int) -> Array:
    pv = _window_sum(xp, (high + low + close) / 3.0 * volume, p)
    v = _window_sum(xp, volume, p)
    return xp.where(v > 0, pv / xp.where(v > 0, v, 1.0), xp.nan)
