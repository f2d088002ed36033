"""CPU backend of the indicators: Numba kernels over (time, column) arrays.

Each indicator is a 1-D kernel `*_1d_nb` that streams over one column with
running state, ported from TA-Lib's C code (TA-Lib 0.8: the same sums in the same
order, the same re-anchoring of running sums; Wilder's smoothing in RSI/ATR is
written branch-free with precomputed factors, ~1e-16 relative from TA-Lib). The 2-D
driver `compute_nb` runs any list of them over the columns in parallel (`prange`
over contiguous column ranges). SMA, EMA, RSI, MACD, BBANDS, ATR and OBV also have
a row form `*_row_nb` that advances many adjacent columns by one bar (time loop
outside, SIMD over the columns of a C-ordered (T, N) row, per-column state in small
arrays) with the 1-D kernel's operations in the same order: bit-identical results,
several times faster on the panel layout. The other kernels, and columns whose
start bars are staggered, run the 1-D kernels on gathered columns.

Conventions shared with the GPU kernels (`gpu.py`):
- A column's warm-up starts at its first bar where every input is non-NaN (as the
  TA-Lib Python wrapper does), so a late-starting asset gets TA-Lib's result on
  its tail, padded with NaN.
- Interior NaN follow TA-Lib's arithmetic (a NaN poisons running sums until a
  re-anchoring drops it, is ignored by comparisons), because the code is the same.
- Arrays are float64 (the API converts float32 in and out); outputs are written
  into preallocated arrays, NaN outside the valid range.

These only accept NumPy arrays, already validated by `api.py`.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import numba
from numba import njit, prange

NAN = np.nan


# --------------------------------------------------------------------------- helpers
@njit(cache=True, nogil=True)
def first_valid_1d_nb(x: np.ndarray) -> int:
    """Index of the first non-NaN value (len(x) when there is none)."""
    n = x.shape[0]
    for t in range(n):
        if not np.isnan(x[t]):
            return t
    return n


@njit(cache=True, nogil=True)
def first_valid2_1d_nb(a: np.ndarray, b: np.ndarray) -> int:
    n = a.shape[0]
    for t in range(n):
        if not (np.isnan(a[t]) or np.isnan(b[t])):
            return t
    return n


@njit(cache=True, nogil=True)
def first_valid3_1d_nb(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> int:
    n = a.shape[0]
    for t in range(n):
        if not (np.isnan(a[t]) or np.isnan(b[t]) or np.isnan(c[t])):
            return t
    return n


@njit(cache=True, nogil=True)
def first_valid4_1d_nb(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> int:
    n = a.shape[0]
    for t in range(n):
        if not (np.isnan(a[t]) or np.isnan(b[t]) or np.isnan(c[t]) or np.isnan(d[t])):
            return t
    return n


# ----------------------------------------------------------------- moving averages
@njit(cache=True, nogil=True)
def sma_1d_nb(x: np.ndarray, period: int, out: np.ndarray) -> None:
    """TA_SMA: running total, add the new bar, emit, drop the trailing bar."""
    n = x.shape[0]
    s = first_valid_1d_nb(x)
    total = 0.0
    for t in range(n):
        k = t - s
        if k < 0:
            out[t] = NAN
            continue
        total += x[t]
        if k >= period - 1:
            out[t] = total / period
            total -= x[t - period + 1]
        else:
            out[t] = NAN


@njit(cache=True, nogil=True)
def ema_1d_nb(x: np.ndarray, period: int, out: np.ndarray) -> None:
    """TA_EMA: seeded with the SMA of the first `period` bars, k = 2 / (period + 1)."""
    n = x.shape[0]
    s = first_valid_1d_nb(x)
    k_ = 2.0 / (period + 1.0)
    total = 0.0
    prev = 0.0
    for t in range(n):
        k = t - s
        if k < 0:
            out[t] = NAN
        elif k < period - 1:
            total += x[t]
            out[t] = NAN
        elif k == period - 1:
            total += x[t]
            prev = total / period
            out[t] = prev
        else:
            prev = ((x[t] - prev) * k_) + prev
            out[t] = prev


@njit(cache=True, nogil=True)
def wma_1d_nb(x: np.ndarray, period: int, out: np.ndarray) -> None:
    """TA_WMA: weights 1..period, updated in O(1) with a running sum and sub-sum.

    As TA-Lib >= 0.8, both sums are rebuilt from the window every 8 * period bars
    (bounded rounding drift); period 1 is a copy.
    """
    n = x.shape[0]
    s = first_valid_1d_nb(x)
    divider = period * (period + 1.0) / 2.0
    period_sub = 0.0
    period_sum = 0.0
    trailing = 0.0
    bars = 0
    for t in range(n):
        k = t - s
        if k < 0:
            out[t] = NAN
        elif period == 1:
            out[t] = x[t]
        elif k < period - 1:
            v = x[t]
            period_sub += v
            period_sum += v * (k + 1)
            out[t] = NAN
        else:
            if k == period - 1:
                bars = 8 * period
            v = x[t]
            period_sub += v
            period_sub -= trailing
            period_sum += v * period
            bars -= 1
            if bars <= 0:
                bars = 8 * period
                period_sub = 0.0
                period_sum = 0.0
                w = 1
                for j in range(t - period + 1, t + 1):
                    v = x[j]
                    period_sub += v
                    period_sum += v * w
                    w += 1
            trailing = x[t - period + 1]
            out[t] = period_sum / divider
            period_sum -= period_sub


# ------------------------------------------------------------------- oscillators
@njit(cache=True, nogil=True)
def rsi_1d_nb(x: np.ndarray, period: int, out: np.ndarray) -> None:
    """TA_RSI (Wilder's smoothing): 100 * avg_gain / (avg_gain + avg_loss).

    The smoothing avg = avg * (period-1)/period + new / period is written with the two
    factors precomputed (a multiply-add chain instead of a division per bar); it
    differs from TA-Lib's rounding by ~1e-16 relative, and the error does not grow.
    """
    n = x.shape[0]
    s = first_valid_1d_nb(x)
    prev_value = 0.0
    gain = 0.0
    loss = 0.0
    keep = (period - 1.0) / period
    new = 1.0 / period
    for t in range(n):
        k = t - s
        if k < 0:
            out[t] = NAN
            continue
        v = x[t]
        if k == 0:
            prev_value = v
            out[t] = NAN
            continue
        d = v - prev_value
        prev_value = v
        if k <= period:
            if d < 0.0:
                loss -= d
            else:
                gain += d
            if k < period:
                out[t] = NAN
                continue
            loss /= period
            gain /= period
        else:
            # branch-free form of TA-Lib's `if d < 0: loss -= d else: gain += d`
            # (a NaN d goes to the gain, as there)
            up = d if not (d < 0.0) else 0.0
            down = -d if d < 0.0 else 0.0
            gain = gain * keep + up * new
            loss = loss * keep + down * new
        tv = gain + loss
        if tv > 0.0 or tv < 0.0:
            out[t] = 100.0 * (gain / tv)
        else:
            out[t] = 0.0


@njit(cache=True, nogil=True)
def roc_1d_nb(x: np.ndarray, period: int, out: np.ndarray) -> None:
    """TA_ROC: ((x / x[t - period]) - 1) * 100, 0 where the old price is 0."""
    n = x.shape[0]
    s = first_valid_1d_nb(x)
    for t in range(n):
        if t - s < period:
            out[t] = NAN
        else:
            old = x[t - period]
            if old != 0.0:
                out[t] = ((x[t] / old) - 1.0) * 100.0
            else:
                out[t] = 0.0


@njit(cache=True, nogil=True)
def stoch_1d_nb(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    fastk_period: int,
    slowk_period: int,
    slowd_period: int,
    fastk_buf: np.ndarray,
    slowk_buf: np.ndarray,
    slowk: np.ndarray,
    slowd: np.ndarray,
) -> None:
    """TA_STOCH with SMA smoothing; `fastk_buf`, `slowk_buf` are scratch of the column's length.

    Fast %K = 100 * (close - lowest low) / (highest high - lowest low) over
    `fastk_period` bars (0 when the range is 0), slow %K = SMA of fast %K, slow %D
    = SMA of slow %K (TA_MA: period 1 is a copy). The extremes are rescanned only
    when they leave the window. Both outputs start after the full lookback.
    """
    n = high.shape[0]
    s = first_valid3_1d_nb(high, low, close)
    lb_k = fastk_period - 1
    lb = lb_k + slowk_period - 1 + slowd_period - 1
    lowest_idx = -1
    highest_idx = -1
    lowest = 0.0
    highest = 0.0
    total_k = 0.0
    total_d = 0.0
    for t in range(n):
        k = t - s
        slowk[t] = NAN
        slowd[t] = NAN
        if k < lb_k:
            continue
        trailing = t - lb_k
        tmp = low[t]
        if lowest_idx < trailing:
            lowest_idx = trailing
            lowest = low[lowest_idx]
            for i in range(lowest_idx + 1, t + 1):
                tmp = low[i]
                if tmp < lowest:
                    lowest_idx = i
                    lowest = tmp
        elif tmp <= lowest:
            lowest_idx = t
            lowest = tmp
        tmp = high[t]
        if highest_idx < trailing:
            highest_idx = trailing
            highest = high[highest_idx]
            for i in range(highest_idx + 1, t + 1):
                tmp = high[i]
                if tmp > highest:
                    highest_idx = i
                    highest = tmp
        elif tmp >= highest:
            highest_idx = t
            highest = tmp
        diff = highest - lowest
        if diff != 0.0:
            fk = ((close[t] - lowest) / diff) * 100.0
        else:
            fk = 0.0
        fastk_buf[t] = fk
        # slow %K: SMA of fast %K, age counted from the first fast %K
        ka = k - lb_k
        if slowk_period == 1:
            sk = fk
        else:
            total_k += fk
            if ka < slowk_period - 1:
                continue
            sk = total_k / slowk_period
            total_k -= fastk_buf[t - slowk_period + 1]
        slowk_buf[t] = sk
        # slow %D: SMA of slow %K
        if slowd_period == 1:
            sd = sk
        else:
            total_d += sk
            if k < lb:
                continue
            sd = total_d / slowd_period
            total_d -= slowk_buf[t - slowd_period + 1]
        slowk[t] = sk
        slowd[t] = sd


# ------------------------------------------------------------------- volatility
# TA-Lib 0.8 VAR: reseed when the variance is this small relative to the second moment,
# and call it zero below the second threshold.
VAR_FLAT = 0.000001
VAR_ZERO = 0.000000000001


@njit(cache=True, nogil=True)
def var_rebuild_nb(x: np.ndarray, t: int, period: int, inv: float, c6: float = VAR_FLAT, c12: float = VAR_ZERO,
                   zero: float = 0.0) -> tuple:
    """Fresh two-pass sums of the window ending at t (TA-Lib VAR's reseed).

    Returns (variance, shift, total1, total2, peak2) with the trailing value already
    removed from the totals, as the streaming update leaves them. The constants and
    `zero` carry the arithmetic's dtype (the float32 sweeps pass float32 ones).
    """
    ws = t - period + 1
    acc = zero
    for j in range(ws, t + 1):
        acc = acc + x[j]
    shift = acc * inv
    total1 = zero
    total2 = zero
    for j in range(ws, t + 1):
        a = x[j] - shift
        total1 = total1 + a
        total2 = total2 + a * a
    mean1 = total1 * inv
    var = total2 * inv - mean1 * mean1
    if var < c6 * (total2 * inv):
        # flat to within the rounding of its mean: anchor on one of its own values
        shift = x[t]
        total1 = zero
        total2 = zero
        for j in range(ws, t + 1):
            a = x[j] - shift
            total1 = total1 + a
            total2 = total2 + a * a
        mean1 = total1 * inv
        var = total2 * inv - mean1 * mean1
    peak = total2
    if var < c12 * (total2 * inv):
        var = zero
    a = x[ws] - shift
    total1 = total1 - a
    total2 = total2 - a * a
    return var, shift, total1, total2, peak


@njit(cache=True, nogil=True)
def var_1d_nb(x: np.ndarray, period: int, out: np.ndarray) -> None:
    """TA_VAR (population variance) as TA-Lib >= 0.8 computes it.

    Running sums of deviations from a shift (the window's first value), so that
    E[d^2] - E[d]^2 does not cancel; the shift is re-anchored on the window mean with
    a fresh two-pass when the variance falls below 1e-6 of the largest mean squared
    deviation since the last rebuild, and at least every 32 * period bars. The
    output is never negative.
    """
    n = x.shape[0]
    s = first_valid_1d_nb(x)
    inv = 1.0 / period
    shift = 0.0
    total1 = 0.0
    total2 = 0.0
    peak = 0.0
    bars = 0
    for t in range(n):
        k = t - s
        if k < 0:
            out[t] = NAN
            continue
        if k == 0:
            shift = x[t]
        if k < period - 1:
            a = x[t] - shift
            total1 += a
            total2 += a * a
            out[t] = NAN
            continue
        if k == period - 1:
            bars = 32 * period
            peak = total2
        a = x[t] - shift
        total1 += a
        total2 += a * a
        if total2 > peak:
            peak = total2
        mean1 = total1 * inv
        var = total2 * inv - mean1 * mean1
        a = x[t - period + 1] - shift
        total1 -= a
        total2 -= a * a
        bars -= 1
        if var < VAR_FLAT * (peak * inv) or bars <= 0:
            bars = 32 * period
            var, shift, total1, total2, peak = var_rebuild_nb(x, t, period, inv)
        out[t] = var


@njit(cache=True, nogil=True)
def stddev_1d_nb(x: np.ndarray, period: int, nbdev: float, out: np.ndarray) -> None:
    """TA_STDDEV: sqrt(VAR) * nbdev."""
    var_1d_nb(x, period, out)
    for t in range(x.shape[0]):
        out[t] = np.sqrt(out[t]) * nbdev


@njit(cache=True, nogil=True)
def zscore_1d_nb(x: np.ndarray, period: int, out: np.ndarray) -> None:
    """(x - SMA) / STDDEV with TA-Lib's SMA and STDDEV; NaN where the std is 0."""
    sma_1d_nb(x, period, out)
    std = np.empty(x.shape[0])
    stddev_1d_nb(x, period, 1.0, std)
    for t in range(x.shape[0]):
        sd = std[t]
        if sd > 0.0:
            out[t] = (x[t] - out[t]) / sd
        else:
            out[t] = NAN


@njit(cache=True, nogil=True)
def bbands_1d_nb(
    x: np.ndarray,
    period: int,
    nbdevup: float,
    nbdevdn: float,
    upper: np.ndarray,
    middle: np.ndarray,
    lower: np.ndarray,
) -> None:
    """TA_BBANDS (matype SMA): middle = SMA, bands = middle +/- nbdev * sqrt(VAR)."""
    sma_1d_nb(x, period, middle)
    var_1d_nb(x, period, upper)
    for t in range(x.shape[0]):
        sd = np.sqrt(upper[t])
        mid = middle[t]
        upper[t] = mid + sd * nbdevup
        lower[t] = mid - sd * nbdevdn


@njit(cache=True, inline="always")
def true_range_nb(h: float, lo: float, prev_close: float) -> float:
    """TA-Lib's true range: the greatest of h - lo, |prev_close - h| and |prev_close - lo| (NaN-propagating as it)."""
    greatest = h - lo
    v2 = abs(prev_close - h)
    if v2 > greatest:
        greatest = v2
    v3 = abs(prev_close - lo)
    if v3 > greatest:
        greatest = v3
    return greatest


@njit(cache=True, nogil=True)
def atr_1d_nb(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int, out: np.ndarray) -> None:
    """TA_ATR: Wilder's smoothing of the true range, seeded with its SMA (factors precomputed, as RSI)."""
    n = high.shape[0]
    s = first_valid3_1d_nb(high, low, close)
    prev_close = 0.0
    total = 0.0
    prev = 0.0
    keep = (period - 1.0) / period
    new = 1.0 / period
    for t in range(n):
        k = t - s
        if k < 0:
            out[t] = NAN
            continue
        if k == 0:
            prev_close = close[t]
            out[t] = NAN
            continue
        greatest = true_range_nb(high[t], low[t], prev_close)
        prev_close = close[t]
        if k < period:
            total += greatest
            out[t] = NAN
        elif k == period:
            total += greatest
            prev = total / period
            out[t] = prev
        else:
            prev = prev * keep + greatest * new
            out[t] = prev


# ------------------------------------------------------------------------ volume
@njit(cache=True, nogil=True)
def obv_1d_nb(close: np.ndarray, volume: np.ndarray, out: np.ndarray) -> None:
    """TA_OBV: add the volume on up bars, subtract it on down bars."""
    n = close.shape[0]
    s = first_valid2_1d_nb(close, volume)
    prev_obv = 0.0
    prev_real = 0.0
    for t in range(n):
        if t < s:
            out[t] = NAN
            continue
        c = close[t]
        if t == s:
            prev_obv = volume[t]
            prev_real = c
        elif c > prev_real:
            prev_obv += volume[t]
        elif c < prev_real:
            prev_obv -= volume[t]
        out[t] = prev_obv
        prev_real = c


@njit(cache=True, nogil=True)
def vwap_1d_nb(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray, period: int, out: np.ndarray
) -> None:
    """Rolling VWAP: sum(typical * volume) / sum(volume) over `period` bars.

    NaN in the warm-up, while a bar with a NaN input is inside the window, and where
    every volume of the window is 0 (bars counted exactly, so rounding in the running
    sums cannot fake a non-zero denominator). The sums are rebuilt from the window
    every 8 * period bars so that rounding drift stays bounded.
    """
    n = high.shape[0]
    s = first_valid4_1d_nb(high, low, close, volume)
    total_pv = 0.0
    total_v = 0.0
    nonzero = 0
    nans = 0
    bars = 8 * period
    for t in range(n):
        k = t - s
        if k < 0:
            out[t] = NAN
            continue
        v = volume[t]
        pv = ((high[t] + low[t] + close[t]) / 3.0) * v
        if np.isnan(pv) or np.isnan(v):
            nans += 1
        else:
            total_pv += pv
            total_v += v
            if v != 0.0:
                nonzero += 1
        if k < period - 1:
            out[t] = NAN
            continue
        bars -= 1
        if bars <= 0:
            bars = 8 * period
            total_pv = 0.0
            total_v = 0.0
            for j in range(t - period + 1, t + 1):
                vj = volume[j]
                pvj = ((high[j] + low[j] + close[j]) / 3.0) * vj
                if not (np.isnan(pvj) or np.isnan(vj)):
                    total_pv += pvj
                    total_v += vj
        if nans > 0 or nonzero == 0:
            out[t] = NAN
        else:
            out[t] = total_pv / total_v
        j = t - period + 1
        vo = volume[j]
        pvo = ((high[j] + low[j] + close[j]) / 3.0) * vo
        if np.isnan(pvo) or np.isnan(vo):
            nans -= 1
        else:
            total_pv -= pvo
            total_v -= vo
            if vo != 0.0:
                nonzero -= 1


# ------------------------------------------------------------------------- MACD
@njit(cache=True, nogil=True)
def macd_1d_nb(
    x: np.ndarray,
    fastperiod: int,
    slowperiod: int,
    signalperiod: int,
    macd: np.ndarray,
    signal: np.ndarray,
    hist: np.ndarray,
) -> None:
    """TA_MACD: EMA(fast) - EMA(slow), signal = EMA(signal) of that line.

    As in TA-Lib, both EMAs produce their first value at bar slow-1: the fast EMA
    is seeded with the SMA of the `fast` bars ending there (not of the first `fast`
    bars). All three outputs start at slow-1 + signal-1.
    """
    if slowperiod < fastperiod:
        fastperiod, slowperiod = slowperiod, fastperiod
    n = x.shape[0]
    s = first_valid_1d_nb(x)
    k_slow = 2.0 / (slowperiod + 1.0)
    k_fast = 2.0 / (fastperiod + 1.0)
    k_sig = 2.0 / (signalperiod + 1.0)
    seed = slowperiod - 1
    lookback = seed + signalperiod - 1
    sum_slow = 0.0
    sum_fast = 0.0
    sum_sig = 0.0
    slow = 0.0
    fast = 0.0
    sig = 0.0
    for t in range(n):
        k = t - s
        macd[t] = NAN
        signal[t] = NAN
        hist[t] = NAN
        if k < 0:
            continue
        v = x[t]
        if k < seed:
            sum_slow += v
            if k >= slowperiod - fastperiod:
                sum_fast += v
            continue
        if k == seed:
            sum_slow += v
            sum_fast += v
            slow = sum_slow / slowperiod
            fast = sum_fast / fastperiod
        else:
            slow = ((v - slow) * k_slow) + slow
            fast = ((v - fast) * k_fast) + fast
        m = fast - slow
        if k < lookback:
            sum_sig += m
            continue
        if k == lookback:
            sum_sig += m
            sig = sum_sig / signalperiod
        else:
            sig = ((m - sig) * k_sig) + sig
        macd[t] = m
        signal[t] = sig
        hist[t] = m - sig


# --------------------------------------------------------- row kernels (time outer)
# The (T, N) panel is C-ordered: a row of adjacent columns is contiguous. A row
# kernel advances a run of columns [u0, u0 + uw) by one bar t: the time loop is the
# caller's, the inner loop runs over the run's columns (SIMD, every cache line
# used) and each column's running state lives in rows of the per-worker array
# `fst` (float) / `ist` (int) at [spec, row, column - u0]. All columns of a run start
# at the same bar, so the warm-up phase k = t - start is the same for all of them
# and the branches on it sit outside the column loop.
# Every value is computed with the operations of the 1-D kernel above, in the same
# order (selects replace the data-dependent branches, with the same results for
# NaN), so the row path and the 1-D path give bit-identical outputs.
# The kernels index the full arrays with unsigned column indices (no negative-index
# wraparound, no array views per bar: both would cost more than a row of work).


@njit(cache=True, inline="always")
def _nan_row_nb(out: np.ndarray, o: int, t: int, u0: Any, uw: Any) -> None:
    for jj in range(uw):
        out[o, t, u0 + jj] = NAN


@njit(cache=True, inline="always")
def sma_row_nb(x: np.ndarray, t: int, k: int, u0: Any, uw: Any, period: int, fst: np.ndarray, i: int,
               out: np.ndarray, o: int) -> None:
    """One bar of `sma_1d_nb` (state row 0: running total)."""
    if k < 0:
        _nan_row_nb(out, o, t, u0, uw)
    elif k >= period - 1:
        tl = t - period + 1
        for jj in range(uw):
            j = u0 + jj
            tot = fst[i, 0, jj] + x[t, j]
            out[o, t, j] = tot / period
            fst[i, 0, jj] = tot - x[tl, j]
    else:
        for jj in range(uw):
            j = u0 + jj
            fst[i, 0, jj] += x[t, j]
            out[o, t, j] = NAN


@njit(cache=True, inline="always")
def ema_row_nb(x: np.ndarray, t: int, k: int, u0: Any, uw: Any, period: int, kf: float, fst: np.ndarray, i: int,
               out: np.ndarray, o: int) -> None:
    """One bar of `ema_1d_nb` (state rows: seed total, last EMA)."""
    if k < 0:
        _nan_row_nb(out, o, t, u0, uw)
    elif k > period - 1:
        for jj in range(uw):
            j = u0 + jj
            prev = fst[i, 1, jj]
            pv = ((x[t, j] - prev) * kf) + prev
            fst[i, 1, jj] = pv
            out[o, t, j] = pv
    elif k < period - 1:
        for jj in range(uw):
            j = u0 + jj
            fst[i, 0, jj] += x[t, j]
            out[o, t, j] = NAN
    else:
        for jj in range(uw):
            j = u0 + jj
            tot = fst[i, 0, jj] + x[t, j]
            fst[i, 0, jj] = tot
            pv = tot / period
            fst[i, 1, jj] = pv
            out[o, t, j] = pv


@njit(cache=True, inline="always")
def rsi_row_nb(x: np.ndarray, t: int, k: int, u0: Any, uw: Any, period: int, keep: float, new: float,
               fst: np.ndarray, i: int, out: np.ndarray, o: int) -> None:
    """One bar of `rsi_1d_nb` (state rows: previous value, average gain, average loss)."""
    if k < 0:
        _nan_row_nb(out, o, t, u0, uw)
    elif k > period:
        for jj in range(uw):
            j = u0 + jj
            v = x[t, j]
            d = v - fst[i, 0, jj]
            fst[i, 0, jj] = v
            up = d if not (d < 0.0) else 0.0
            down = -d if d < 0.0 else 0.0
            g = fst[i, 1, jj] * keep + up * new
            lo = fst[i, 2, jj] * keep + down * new
            fst[i, 1, jj] = g
            fst[i, 2, jj] = lo
            tv = g + lo
            out[o, t, j] = 100.0 * (g / tv) if (tv > 0.0 or tv < 0.0) else 0.0
    elif k == 0:
        for jj in range(uw):
            j = u0 + jj
            fst[i, 0, jj] = x[t, j]
            out[o, t, j] = NAN
    else:
        for jj in range(uw):
            j = u0 + jj
            v = x[t, j]
            d = v - fst[i, 0, jj]
            fst[i, 0, jj] = v
            if d < 0.0:
                fst[i, 2, jj] -= d
            else:
                fst[i, 1, jj] += d
            if k < period:
                out[o, t, j] = NAN
            else:
                lo = fst[i, 2, jj] / period
                g = fst[i, 1, jj] / period
                fst[i, 2, jj] = lo
                fst[i, 1, jj] = g
                tv = g + lo
                out[o, t, j] = 100.0 * (g / tv) if (tv > 0.0 or tv < 0.0) else 0.0


@njit(cache=True, inline="always")
def macd_row_nb(x: np.ndarray, t: int, k: int, u0: Any, uw: Any, fastperiod: int, slowperiod: int,
                signalperiod: int, k_fast: float, k_slow: float, k_sig: float, fst: np.ndarray, i: int,
                out: np.ndarray, o: int) -> None:
    """One bar of `macd_1d_nb`, fast <= slow already (state rows: seed sums of the slow,
    fast and signal EMAs, then the slow, fast and signal EMAs)."""
    seed = slowperiod - 1
    lookback = seed + signalperiod - 1
    if k < 0:
        _nan_row_nb(out, o, t, u0, uw)
        _nan_row_nb(out, o + 1, t, u0, uw)
        _nan_row_nb(out, o + 2, t, u0, uw)
    elif k > lookback:
        for jj in range(uw):
            j = u0 + jj
            v = x[t, j]
            slow = fst[i, 3, jj]
            fast = fst[i, 4, jj]
            sig = fst[i, 5, jj]
            s_ = ((v - slow) * k_slow) + slow
            f_ = ((v - fast) * k_fast) + fast
            fst[i, 3, jj] = s_
            fst[i, 4, jj] = f_
            m = f_ - s_
            g = ((m - sig) * k_sig) + sig
            fst[i, 5, jj] = g
            out[o, t, j] = m
            out[o + 1, t, j] = g
            out[o + 2, t, j] = m - g
    else:
        for jj in range(uw):
            j = u0 + jj
            v = x[t, j]
            out[o, t, j] = NAN
            out[o + 1, t, j] = NAN
            out[o + 2, t, j] = NAN
            if k < seed:
                fst[i, 0, jj] += v
                if k >= slowperiod - fastperiod:
                    fst[i, 1, jj] += v
                continue
            if k == seed:
                fst[i, 0, jj] += v
                fst[i, 1, jj] += v
                s_ = fst[i, 0, jj] / slowperiod
                f_ = fst[i, 1, jj] / fastperiod
            else:
                slow = fst[i, 3, jj]
                fast = fst[i, 4, jj]
                s_ = ((v - slow) * k_slow) + slow
                f_ = ((v - fast) * k_fast) + fast
            fst[i, 3, jj] = s_
            fst[i, 4, jj] = f_
            m = f_ - s_
            fst[i, 2, jj] += m
            if k < lookback:
                continue
            g = fst[i, 2, jj] / signalperiod
            fst[i, 5, jj] = g
            out[o, t, j] = m
            out[o + 1, t, j] = g
            out[o + 2, t, j] = m - g


@njit(cache=True, inline="always")
def bbands_row_nb(x: np.ndarray, t: int, k: int, u0: Any, uw: Any, period: int, nbdevup: float, nbdevdn: float,
                  fst: np.ndarray, ist: np.ndarray, i: int, out: np.ndarray, o: int) -> None:
    """One bar of `bbands_1d_nb`: `sma_1d_nb` and `var_1d_nb` side by side.

    State rows: SMA total, VAR shift, total1, total2, peak; int rows: bars to the
    next rebuild, rebuild flag. Columns whose variance needs TA-Lib's reseed are
    flagged in the vector loop and rebuilt one by one after it.
    """
    if k < 0:
        _nan_row_nb(out, o, t, u0, uw)
        _nan_row_nb(out, o + 1, t, u0, uw)
        _nan_row_nb(out, o + 2, t, u0, uw)
        return
    if k < period - 1:
        for jj in range(uw):
            j = u0 + jj
            v = x[t, j]
            fst[i, 0, jj] += v
            if k == 0:
                fst[i, 1, jj] = v
            a = v - fst[i, 1, jj]
            fst[i, 2, jj] += a
            fst[i, 3, jj] += a * a
            out[o, t, j] = NAN
            out[o + 1, t, j] = NAN
            out[o + 2, t, j] = NAN
        return
    inv = 1.0 / period
    if k == period - 1:
        for jj in range(uw):
            if k == 0:  # period 1 (not reachable through the API: BBANDS needs >= 2)
                fst[i, 1, jj] = x[t, u0 + jj]
            ist[i, 0, jj] = 32 * period
            fst[i, 4, jj] = fst[i, 3, jj]
    tl = t - period + 1
    nflag = 0
    for jj in range(uw):
        j = u0 + jj
        v = x[t, j]
        vl = x[tl, j]
        tot = fst[i, 0, jj] + v
        mid = tot / period
        fst[i, 0, jj] = tot - vl
        sh = fst[i, 1, jj]
        a = v - sh
        s1 = fst[i, 2, jj] + a
        s2 = fst[i, 3, jj] + a * a
        pk = fst[i, 4, jj]
        pk = s2 if s2 > pk else pk
        mean1 = s1 * inv
        var = s2 * inv - mean1 * mean1
        a = vl - sh
        fst[i, 2, jj] = s1 - a
        fst[i, 3, jj] = s2 - a * a
        fst[i, 4, jj] = pk
        b = ist[i, 0, jj] - 1
        ist[i, 0, jj] = b
        fl = 1 if (var < VAR_FLAT * (pk * inv) or b <= 0) else 0
        ist[i, 1, jj] = fl
        nflag += fl
        sd = np.sqrt(var)
        out[o, t, j] = mid + sd * nbdevup
        out[o + 1, t, j] = mid
        out[o + 2, t, j] = mid - sd * nbdevdn
    if nflag == 0:
        return
    for jj in range(uw):
        if ist[i, 1, jj] == 0:
            continue
        j = u0 + jj
        ist[i, 0, jj] = 32 * period
        var, sh, s1, s2, pk = var_rebuild_nb(x[:, j], t, period, inv)
        fst[i, 1, jj] = sh
        fst[i, 2, jj] = s1
        fst[i, 3, jj] = s2
        fst[i, 4, jj] = pk
        sd = np.sqrt(var)
        mid = out[o + 1, t, j]
        out[o, t, j] = mid + sd * nbdevup
        out[o + 2, t, j] = mid - sd * nbdevdn


@njit(cache=True, inline="always")
def atr_row_nb(high: np.ndarray, low: np.ndarray, close: np.ndarray, t: int, k: int, u0: Any, uw: Any,
               period: int, keep: float, new: float, fst: np.ndarray, i: int, out: np.ndarray, o: int) -> None:
    """One bar of `atr_1d_nb` (state rows: previous close, seed total, last ATR)."""
    if k < 0:
        _nan_row_nb(out, o, t, u0, uw)
    elif k == 0:
        for jj in range(uw):
            j = u0 + jj
            fst[i, 0, jj] = close[t, j]
            out[o, t, j] = NAN
    elif k > period:
        for jj in range(uw):
            j = u0 + jj
            greatest = true_range_nb(high[t, j], low[t, j], fst[i, 0, jj])
            fst[i, 0, jj] = close[t, j]
            pv = fst[i, 2, jj] * keep + greatest * new
            fst[i, 2, jj] = pv
            out[o, t, j] = pv
    else:
        for jj in range(uw):
            j = u0 + jj
            greatest = true_range_nb(high[t, j], low[t, j], fst[i, 0, jj])
            fst[i, 0, jj] = close[t, j]
            tot = fst[i, 1, jj] + greatest
            fst[i, 1, jj] = tot
            if k < period:
                out[o, t, j] = NAN
            else:
                pv = tot / period
                fst[i, 2, jj] = pv
                out[o, t, j] = pv


@njit(cache=True, inline="always")
def obv_row_nb(close: np.ndarray, volume: np.ndarray, t: int, k: int, u0: Any, uw: Any, fst: np.ndarray, i: int,
               out: np.ndarray, o: int) -> None:
    """One bar of `obv_1d_nb` (state rows: last OBV, last close)."""
    if k < 0:
        _nan_row_nb(out, o, t, u0, uw)
    elif k == 0:
        for jj in range(uw):
            j = u0 + jj
            v = volume[t, j]
            fst[i, 0, jj] = v
            fst[i, 1, jj] = close[t, j]
            out[o, t, j] = v
    else:
        for jj in range(uw):
            j = u0 + jj
            c = close[t, j]
            v = volume[t, j]
            pr = fst[i, 1, jj]
            po = fst[i, 0, jj]
            po = po + v if c > pr else (po - v if c < pr else po)
            fst[i, 0, jj] = po
            out[o, t, j] = po
            fst[i, 1, jj] = c


# ------------------------------------------------------------------ fused driver
# Kernel ids of `compute_nb` (a spec row: id, input slots, int params, real params).
KERNEL_IDS = {
    "sma": 0, "ema": 1, "wma": 2, "rsi": 3, "roc": 4, "stddev": 5, "zscore": 6,
    "bbands": 7, "macd": 8, "atr": 9, "stoch": 10, "obv": 11, "vwap": 12,
}
N_OUTPUTS = (1, 1, 1, 1, 1, 1, 1, 3, 3, 1, 2, 1, 1)
N_INPUTS = (1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 2, 1 + 3)
# kernels with a row form (the others run through the 1-D kernels on gathered columns)
HAS_ROW = (True, True, False, True, False, False, False, True, True, True, False, True, False)
FIELD_TUPLE = 5  # open, high, low, close, volume
N_STATE = 6  # per-column float state rows of a row kernel
ROW_BLOCK = 8192  # columns advanced together by the row kernels (wide rows: the prefetchers follow them)
TILE = 16  # bars each row kernel advances before the next spec takes its turn
WIDE_COLUMNS = 1024  # with many workers, split the specs rather than cut ranges narrower than this
# relative cost of a kernel per cell (the row kernels measured on one core; the others, gathered, more)
COST = (3.0, 2.0, 6.0, 3.0, 6.0, 6.0, 6.0, 7.0, 5.0, 4.0, 6.0, 4.0, 6.0)
MIN_RUN = 8  # narrower runs of equal start bars go through the gather path
BLOCK = 64  # columns gathered at a time for the 1-D kernels


def n_workers() -> int:
    """Numba's thread count: the driver splits the work over this many workers."""
    return int(numba.get_num_threads())


@njit(cache=True, nogil=True)
def gather_nb(x: np.ndarray, j0: int, buf: np.ndarray) -> None:
    """buf[jj, t] = x[t, j0 + jj] for the buf.shape[0] columns from j0."""
    bw = buf.shape[0]
    for t in range(x.shape[0]):
        for jj in range(bw):
            buf[jj, t] = x[t, j0 + jj]


@njit(cache=True, nogil=True)
def scatter_nb(buf: np.ndarray, out: np.ndarray, j0: int) -> None:
    """out[t, j0 + jj] = buf[jj, t]."""
    bw = buf.shape[0]
    for t in range(out.shape[0]):
        for jj in range(bw):
            out[t, j0 + jj] = buf[jj, t]


@njit(cache=True, nogil=True)
def _dispatch_1d_nb(
    kid: int, ins: np.ndarray, slots: np.ndarray, ip: np.ndarray, dp: np.ndarray,
    outs: np.ndarray, o: int, scratch: np.ndarray,
) -> None:
    """Run kernel `kid` on rows of `ins` (slots) writing rows o.. of `outs`."""
    a = ins[slots[0]]
    if kid == 0:
        sma_1d_nb(a, ip[0], outs[o])
    elif kid == 1:
        ema_1d_nb(a, ip[0], outs[o])
    elif kid == 2:
        wma_1d_nb(a, ip[0], outs[o])
    elif kid == 3:
        rsi_1d_nb(a, ip[0], outs[o])
    elif kid == 4:
        roc_1d_nb(a, ip[0], outs[o])
    elif kid == 5:
        stddev_1d_nb(a, ip[0], dp[0], outs[o])
    elif kid == 6:
        zscore_1d_nb(a, ip[0], outs[o])
    elif kid == 7:
        bbands_1d_nb(a, ip[0], dp[0], dp[1], outs[o], outs[o + 1], outs[o + 2])
    elif kid == 8:
        macd_1d_nb(a, ip[0], ip[1], ip[2], outs[o], outs[o + 1], outs[o + 2])
    elif kid == 9:
        atr_1d_nb(a, ins[slots[1]], ins[slots[2]], ip[0], outs[o])
    elif kid == 10:
        stoch_1d_nb(a, ins[slots[1]], ins[slots[2]], ip[0], ip[1], ip[2], scratch[0], scratch[1], outs[o], outs[o + 1])
    elif kid == 11:
        obv_1d_nb(a, ins[slots[1]], outs[o])
    else:
        vwap_1d_nb(a, ins[slots[1]], ins[slots[2]], ins[slots[3]], ip[0], outs[o])


@njit(cache=True, nogil=True)
def _gathered_nb(
    fields: tuple, nf: int, kinds: np.ndarray, slots: np.ndarray, iparams: np.ndarray, dparams: np.ndarray,
    offsets: np.ndarray, use: np.ndarray, g0: int, g1: int, out: np.ndarray, inb: np.ndarray, outb: np.ndarray,
    scratch: np.ndarray,
) -> None:
    """The specs with use[i] over columns g0:g1 by the 1-D kernels, BLOCK gathered columns at a time."""
    for j0 in range(g0, g1, BLOCK):
        bw = min(BLOCK, g1 - j0)
        for f in range(nf):
            gather_nb(fields[f], j0, inb[:bw, f])
        for jj in range(bw):
            for i in range(kinds.shape[0]):
                if use[i]:
                    _dispatch_1d_nb(kinds[i], inb[jj], slots[i], iparams[i], dparams[i], outb[jj], offsets[i], scratch)
        for i in range(kinds.shape[0]):
            if use[i]:
                for q in range(offsets[i], offsets[i] + N_OUTPUTS[kinds[i]]):
                    scatter_nb(outb[:bw, q], out[q], j0)


@njit(cache=True, nogil=True)
def _start_nb(fields: tuple, slots: np.ndarray, nin: int, j: int) -> int:
    """First bar of column j where every input of a spec (slots[:nin]) is non-NaN."""
    n = fields[0].shape[0]
    for t in range(n):
        ok = True
        for q in range(nin):
            if np.isnan(fields[slots[q]][t, j]):
                ok = False
                break
        if ok:
            return t
    return n


@njit(cache=True, nogil=True)
def _rows_nb(
    fields: tuple, kinds: np.ndarray, slots: np.ndarray, iparams: np.ndarray, dparams: np.ndarray,
    offsets: np.ndarray, use: np.ndarray, starts: np.ndarray, c0: int, c1: int, out: np.ndarray,
    fst: np.ndarray, ist: np.ndarray, tile: int,
) -> None:
    """The specs with use[i] over columns c0:c1, all starting at bar starts[i]: row kernels, time outer.

    Time runs in tiles of `tile` bars, each spec over the whole tile in turn.
    """
    n = out.shape[1]
    nk = kinds.shape[0]
    w = c1 - c0
    u0 = np.uint64(c0)
    uw = np.uint64(w)
    # per-spec constants, as the 1-D kernels compute them
    ip = iparams.copy()
    rp = np.zeros((nk, 3))
    for i in range(nk):
        if not use[i]:
            continue
        fst[i, :, :w] = 0.0
        ist[i, :, :w] = 0
        kid = kinds[i]
        p = ip[i, 0]
        if kid == 1:
            rp[i, 0] = 2.0 / (p + 1.0)
        elif kid == 3 or kid == 9:
            rp[i, 0] = (p - 1.0) / p
            rp[i, 1] = 1.0 / p
        elif kid == 8:
            if ip[i, 1] < ip[i, 0]:
                ip[i, 0], ip[i, 1] = ip[i, 1], ip[i, 0]
            rp[i, 0] = 2.0 / (ip[i, 0] + 1.0)
            rp[i, 1] = 2.0 / (ip[i, 1] + 1.0)
            rp[i, 2] = 2.0 / (ip[i, 2] + 1.0)
    for t0 in range(0, n, tile):
        for i in range(nk):
            if not use[i]:
                continue
            kid = kinds[i]
            o = offsets[i]
            x = fields[slots[i, 0]]
            x1 = fields[slots[i, 1]]
            x2 = fields[slots[i, 2]]
            for t in range(t0, min(n, t0 + tile)):
                k = t - starts[i]
                if kid == 0:
                    sma_row_nb(x, t, k, u0, uw, ip[i, 0], fst, i, out, o)
                elif kid == 1:
                    ema_row_nb(x, t, k, u0, uw, ip[i, 0], rp[i, 0], fst, i, out, o)
                elif kid == 3:
                    rsi_row_nb(x, t, k, u0, uw, ip[i, 0], rp[i, 0], rp[i, 1], fst, i, out, o)
                elif kid == 7:
                    bbands_row_nb(x, t, k, u0, uw, ip[i, 0], dparams[i, 0], dparams[i, 1], fst, ist, i, out, o)
                elif kid == 8:
                    macd_row_nb(x, t, k, u0, uw, ip[i, 0], ip[i, 1], ip[i, 2], rp[i, 0], rp[i, 1], rp[i, 2],
                                fst, i, out, o)
                elif kid == 9:
                    atr_row_nb(x, x1, x2, t, k, u0, uw, ip[i, 0], rp[i, 0],
                               rp[i, 1], fst, i, out, o)
                elif kid == 11:
                    obv_row_nb(x, x1, t, k, u0, uw, fst, i, out, o)


@njit(cache=True, nogil=True)
def _same_starts_nb(starts: np.ndarray, use: np.ndarray, a: int, b: int) -> bool:
    for i in range(starts.shape[0]):
        if use[i] and starts[i, a] != starts[i, b]:
            return False
    return True


@njit(cache=True, nogil=True, parallel=True)
def compute_nb(
    fields: tuple, nf: int, kinds: np.ndarray, slots: np.ndarray, iparams: np.ndarray, dparams: np.ndarray,
    out: np.ndarray, n_chunks: int, groups: np.ndarray, n_groups: int, row_block: int = ROW_BLOCK,
    tile: int = TILE,
) -> None:
    """Several indicators in one pass over the panel, in n_chunks x n_groups parallel tasks.

    `fields` is a tuple of (T, N) arrays of which the first `nf` are used; spec row
    i runs kernel kinds[i] on fields slots[i] with iparams[i] / dparams[i]; outputs
    are written in spec order into `out` (n_out, T, N), allocated by the caller
    (its pages are first touched here, by the tasks that write them).
    A task owns a contiguous range of columns (one of n_chunks) and the specs i
    with groups[i] == its group (the kernels without a row form run in group 0):
    splitting the specs keeps the ranges wide when there are many workers. A range
    is cut into sub-blocks of up to `row_block` columns; in a sub-block, the row
    kernels advance runs of columns that start on the same bar (usually the whole
    sub-block) `tile` bars at a time; narrow runs (staggered late starts) and the
    kernels without a row form go through the 1-D kernels on gathered columns.
    Every path gives the same values.
    """
    n, m = fields[0].shape
    nk = kinds.shape[0]
    n_out = out.shape[0]
    offsets = np.zeros(nk, dtype=np.int64)
    acc = 0
    for i in range(nk):
        offsets[i] = acc
        acc += N_OUTPUTS[kinds[i]]
    # contiguous column ranges, cut at multiples of 8 columns (64-byte lines)
    nc = max(1, min(n_chunks, m // MIN_RUN))
    chunk = ((m + nc - 1) // nc + 7) // 8 * 8
    nc = (m + chunk - 1) // chunk
    for task in prange(nc * n_groups):
        g = task % n_groups
        a = (task // n_groups) * chunk
        b = min(m, a + chunk)
        row_use = np.zeros(nk, dtype=np.bool_)
        col_use = np.zeros(nk, dtype=np.bool_)
        for i in range(nk):
            if HAS_ROW[kinds[i]]:
                row_use[i] = groups[i] == g
            else:
                col_use[i] = g == 0
        any_row = row_use.any()
        any_col = col_use.any()
        fst = np.empty((nk, N_STATE, row_block))
        ist = np.empty((nk, 2, row_block), dtype=np.int64)
        starts = np.empty((nk, row_block), dtype=np.int64)
        inb = np.empty((BLOCK, nf, n))
        outb = np.empty((BLOCK, n_out, n))
        scratch = np.empty((2, n))
        nsub = (b - a + row_block - 1) // row_block
        width = (b - a + nsub - 1) // nsub
        for sb in range(nsub):
            s0 = a + sb * width
            s1 = min(b, s0 + width)
            if any_row:
                for jj in range(s1 - s0):
                    for i in range(nk):
                        if row_use[i]:
                            starts[i, jj] = _start_nb(fields, slots[i], N_INPUTS[kinds[i]], s0 + jj)
                j = s0
                while j < s1:
                    r = j + 1
                    while r < s1 and _same_starts_nb(starts, row_use, j - s0, r - s0):
                        r += 1
                    if r - j >= MIN_RUN or r - j == s1 - s0:
                        _rows_nb(fields, kinds, slots, iparams, dparams, offsets, row_use, starts[:, j - s0],
                                 j, r, out, fst, ist, tile)
                        j = r
                        continue
                    # narrow runs up to the next wide one: the 1-D kernels on gathered columns
                    g0 = j
                    j = r
                    while j < s1:
                        r = j + 1
                        while r < s1 and _same_starts_nb(starts, row_use, j - s0, r - s0):
                            r += 1
                        if r - j >= MIN_RUN:
                            break
                        j = r
                    _gathered_nb(fields, nf, kinds, slots, iparams, dparams, offsets, row_use, g0, j, out,
                                 inb, outb, scratch)
            if any_col:
                _gathered_nb(fields, nf, kinds, slots, iparams, dparams, offsets, col_use, s0, s1, out,
                             inb, outb, scratch)


def plan(n_columns: int, kinds: Sequence[int], n_workers: int) -> tuple[int, np.ndarray, int]:
    """(n_chunks, groups, n_groups) for `compute_nb` on n_workers threads.

    The row kernels run best on wide rows (the hardware prefetchers follow them):
    when there are more workers than column ranges of WIDE_COLUMNS, the specs are
    split into groups of about equal cost (largest first), one task per (range,
    group). One worker: one range, one group.
    """
    kinds = [int(k) for k in kinds]
    row = [i for i, k in enumerate(kinds) if HAS_ROW[k]]
    n_groups = 1
    if n_workers > 1 and len(row) > 1:
        wide = max(1, n_columns // WIDE_COLUMNS)
        if wide < n_workers:
            n_groups = max(1, min(len(row), n_workers // wide))
    n_chunks = max(1, n_workers // n_groups)
    groups = np.zeros(len(kinds), dtype=np.int64)
    load = [0.0] * n_groups
    load[0] = float(sum(COST[k] for k in kinds if not HAS_ROW[k]))
    for i in sorted(row, key=lambda i: -COST[kinds[i]]):
        g = min(range(n_groups), key=lambda q: load[q])
        groups[i] = g
        load[g] += COST[kinds[i]]
    return n_chunks, groups, n_groups


def run_many(fields: Sequence[np.ndarray], items: Sequence[tuple[str, Sequence[int], Sequence[Any]]]) -> list:
    """Several indicators over C-contiguous float64 (T, N) `fields` in one pass.

    Each item is (kernel, input slots into `fields`, params as ints then reals), as
    for `gpu.run_fused`; returns every output, in order, as a (T, N) array.
    """
    k = len(items)
    kinds = np.empty(k, dtype=np.int64)
    slots = np.zeros((k, 4), dtype=np.int64)
    iparams = np.zeros((k, 3), dtype=np.int64)
    dparams = np.zeros((k, 2), dtype=np.float64)
    for i, (kernel, sl, params) in enumerate(items):
        kinds[i] = KERNEL_IDS[kernel]
        slots[i, : len(sl)] = sl
        ints = [int(v) for v in params if isinstance(v, (int, np.integer))]
        reals = [float(v) for v in params if not isinstance(v, (int, np.integer))]
        iparams[i, : len(ints)] = ints
        dparams[i, : len(reals)] = reals
    n_out = sum(N_OUTPUTS[kd] for kd in kinds)
    # np.empty only reserves the pages: the tasks touch them first, in parallel
    out = np.empty((n_out,) + tuple(fields[0].shape))
    # Numba specialises on the tuple's length: pad it to a multiple of FIELD_TUPLE so
    # that one compiled driver serves every indicator (unused slots are never read).
    padded = tuple(fields) + (fields[0],) * (-len(fields) % FIELD_TUPLE)
    n_chunks, groups, n_groups = plan(fields[0].shape[1], kinds, n_workers())
    compute_nb(padded, len(fields), kinds, slots, iparams, dparams, out, n_chunks, groups, n_groups)
    return list(out)


def run(kernel: str, arrays: Sequence[np.ndarray], params: Sequence[Any]) -> list:
    """One indicator on prepared (T, N) inputs; a list of (T, N) outputs."""
    return run_many(arrays, [(kernel, tuple(range(len(arrays))), tuple(params))])
