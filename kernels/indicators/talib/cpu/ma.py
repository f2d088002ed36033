"""Moving averages (TA-Lib's MA types) as 1-D Numba kernels, and the MA-type dispatch.

Every kernel here takes a column that is valid from its first bar (the driver
slices off a late start), writes the bars from its lookback on and leaves the
lookback as the caller filled it (NaN). `ma_1d_nb(x, out, period, matype)` is
TA_MA: the composite functions (MACDEXT, STOCH, BBANDS, APO, ...) call it on the
slice where their input becomes valid, which is where TA-Lib seeds them too.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from kernels.indicators.cpu import ema_1d_nb as _ema_period_nb
from kernels.indicators.cpu import sma_1d_nb as _sma_nb
from kernels.indicators.cpu import wma_1d_nb as _wma_nb
from kernels.indicators.talib.cpu.cycle import ht_1d_nb


@njit(cache=True, nogil=True)
def sma_1d_nb(x, out, period):
    if period == 1:
        out[:] = x
        return
    _sma_nb(x, period, out)


@njit(cache=True, nogil=True)
def wma_1d_nb(x, out, period):
    _wma_nb(x, period, out)


@njit(cache=True, nogil=True)
def ema_1d_nb(x, out, period):
    if period == 1:
        out[:] = x
        return
    _ema_period_nb(x, period, out)


@njit(cache=True, nogil=True)
def ema_k_1d_nb(x, out, period, k):
    """EMA with an explicit smoothing factor k, seeded with the SMA of `period` bars."""
    n = x.shape[0]
    if n < period:
        return
    total = 0.0
    for t in range(period):
        total += x[t]
    prev = total / period
    out[period - 1] = prev
    for t in range(period, n):
        prev = ((x[t] - prev) * k) + prev
        out[t] = prev


@njit(cache=True, nogil=True)
def dema_1d_nb(x, out, period):
    if period == 1:
        out[:] = x
        return
    n = x.shape[0]
    lb = period - 1
    e1 = np.full(n, np.nan)
    ema_1d_nb(x, e1, period)
    if n <= lb:
        return
    e2 = np.full(n, np.nan)
    ema_1d_nb(e1[lb:], e2[lb:], period)
    for t in range(2 * lb, n):
        out[t] = (2.0 * e1[t]) - e2[t]


@njit(cache=True, nogil=True)
def tema_1d_nb(x, out, period):
    if period == 1:
        out[:] = x
        return
    n = x.shape[0]
    lb = period - 1
    if n <= 3 * lb:
        return
    e1 = np.full(n, np.nan)
    ema_1d_nb(x, e1, period)
    e2 = np.full(n, np.nan)
    ema_1d_nb(e1[lb:], e2[lb:], period)
    e3 = np.full(n, np.nan)
    ema_1d_nb(e2[2 * lb:], e3[2 * lb:], period)
    for t in range(3 * lb, n):
        out[t] = e3[t] + ((3.0 * e1[t]) - (3.0 * e2[t]))


@njit(cache=True, nogil=True)
def trima_1d_nb(x, out, period):
    """Triangular MA: weights 1..m..1, as the SMA of an SMA (TA_TRIMA's value)."""
    if period == 1:
        out[:] = x
        return
    n = x.shape[0]
    if n < period:
        return
    if period % 2 == 1:
        a = (period + 1) // 2
        b = a
    else:
        a = period // 2
        b = a + 1
    s1 = np.full(n, np.nan)
    sma_1d_nb(x, s1, a)
    sma_1d_nb(s1[a - 1:], out[a - 1:], b)


@njit(cache=True, nogil=True)
def kama_1d_nb(x, out, period):
    """TA_KAMA: efficiency ratio over `period` bars, fastest 2 / slowest 30 bars; period 1 copies."""
    n = x.shape[0]
    if period == 1:
        out[:] = x
        return
    if n <= period:
        return
    const_max = 2.0 / (30.0 + 1.0)
    const_diff = 2.0 / (2.0 + 1.0) - const_max
    sum_roc1 = 0.0
    for t in range(period):
        sum_roc1 += abs(x[t] - x[t + 1])
    prev = x[period - 1]
    today = period
    trailing = 0
    trailing_value = x[0]
    while today < n:
        v = x[today]
        if today > period:
            trailing_value_old = trailing_value
            trailing += 1
            trailing_value = x[trailing]
            sum_roc1 -= abs(trailing_value_old - trailing_value)
            sum_roc1 += abs(v - x[today - 1])
        period_roc = v - trailing_value
        if sum_roc1 <= period_roc or (-1e-8 < sum_roc1 < 1e-8):
            er = 1.0
        else:
            er = abs(period_roc / sum_roc1)
        sc = (er * const_diff) + const_max
        sc *= sc
        prev = ((v - prev) * sc) + prev
        out[today] = prev
        today += 1


@njit(cache=True, nogil=True)
def t3_1d_nb(x, out, period, vfactor):
    """TA_T3: six EMAs in cascade (each seeded with the SMA of its first `period` values)."""
    if period == 1:
        out[:] = x
        return
    n = x.shape[0]
    lb = period - 1
    if n <= 6 * lb:
        return
    k = 2.0 / (period + 1.0)
    bufs = np.full((6, n), np.nan)
    ema_k_1d_nb(x, bufs[0], period, k)
    for s in range(1, 6):
        ema_k_1d_nb(bufs[s - 1][s * lb:], bufs[s][s * lb:], period, k)
    a = vfactor
    temp = a * a
    c1 = -temp * a
    c2 = 3.0 * (temp - c1)
    c3 = -6.0 * temp - 3.0 * (a - c1)
    c4 = 1.0 + 3.0 * a - c1 + 3.0 * temp
    for t in range(6 * lb, n):
        out[t] = c1 * bufs[5][t] + c2 * bufs[4][t] + c3 * bufs[3][t] + c4 * bufs[2][t]


@njit(cache=True, nogil=True)
def hma_1d_nb(x, out, period):
    """Hull MA: WMA(2 * WMA(x, period // 2) - WMA(x, period), int(sqrt(period)))."""
    if period == 1:
        out[:] = x
        return
    n = x.shape[0]
    half = period // 2
    sq = int(math.sqrt(period))
    lb = period - 1
    if n <= lb + sq - 1:
        return
    full = np.full(n, np.nan)
    _wma_nb(x, period, full)
    hw = np.full(n, np.nan)
    if half == 1:
        hw[:] = x
    else:
        _wma_nb(x, half, hw)
    d = np.empty(n - lb)
    for t in range(lb, n):
        d[t - lb] = 2.0 * hw[t] - full[t]
    if sq == 1:
        out[lb:] = d
    else:
        _wma_nb(d, sq, out[lb:])


@njit(cache=True, nogil=True)
def zlema_1d_nb(x, out, period):
    """Zero-lag EMA: EMA (k = 2/(period+1), SMA seed) of 2 * x[t] - x[t - (period-1)//2]."""
    if period == 1:
        out[:] = x
        return
    n = x.shape[0]
    lag = (period - 1) // 2
    if n <= lag + period - 1:
        return
    d = np.empty(n - lag)
    for t in range(lag, n):
        d[t - lag] = 2.0 * x[t] - x[t - lag]
    ema_k_1d_nb(d, out[lag:], period, 2.0 / (period + 1.0))


@njit(cache=True, nogil=True)
def rma_1d_nb(x, out, period):
    """Wilder's MA: SMA seed, then prev * (p-1)/p + x * (1 - (p-1)/p)."""
    n = x.shape[0]
    if n < period:
        return
    beta = (period - 1.0) / period
    alpha = 1.0 - beta
    total = 0.0
    for t in range(period):
        total += x[t]
    prev = total / period
    out[period - 1] = prev
    for t in range(period, n):
        prev = beta * prev + alpha * x[t]
        out[t] = prev


@njit(cache=True, nogil=True)
def ma_1d_nb(x, out, period, matype):
    """TA_MA: the moving average of type `matype` (talib.MA_Type); period 1 copies the input (MAMA too)."""
    if matype == 10 or period == 1:
        out[:] = x
    elif matype == 0 or matype == 11:
        sma_1d_nb(x, out, period)
    elif matype == 1:
        ema_1d_nb(x, out, period)
    elif matype == 2:
        wma_1d_nb(x, out, period)
    elif matype == 3:
        dema_1d_nb(x, out, period)
    elif matype == 4:
        tema_1d_nb(x, out, period)
    elif matype == 5:
        trima_1d_nb(x, out, period)
    elif matype == 6:
        kama_1d_nb(x, out, period)
    elif matype == 7:
        fama = np.full(x.shape[0], np.nan)
        mama_1d_nb(x, out, fama, 0.5, 0.05)
    elif matype == 8:
        t3_1d_nb(x, out, period, 0.7)
    elif matype == 9:
        hma_1d_nb(x, out, period)
    elif matype == 12:
        zlema_1d_nb(x, out, period)
    else:
        rma_1d_nb(x, out, period)


@njit(cache=True, nogil=True)
def mama_1d_nb(x, mama, fama, fastlimit, slowlimit):
    """TA_MAMA (the MESA adaptive MA and its following average), lookback 32."""
    ht_1d_nb(x, mama, fama, 6, 32, fastlimit, slowlimit, 9)


@njit(cache=True, nogil=True)
def ma_lookback_nb(period, matype):
    """TA_MA_Lookback (table.ma_lookback, for kernels)."""
    if matype == 10 or period == 1:
        return 0
    if matype == 7:
        return 32
    if matype == 3:
        return 2 * (period - 1)
    if matype == 4:
        return 3 * (period - 1)
    if matype == 6:
        return period
    if matype == 8:
        return 6 * (period - 1)
    if matype == 9:
        return period - 1 + int(math.sqrt(period)) - 1
    if matype == 12:
        return period - 1 + (period - 1) // 2
    return period - 1
