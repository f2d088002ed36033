"""Statistic functions and math operators (TA-Lib groups "Statistic Functions", "Math Operators"): CPU kernels."""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from kernels.indicators.talib.cpu.common import run_group_nb
from kernels.indicators.talib.cpu.common import (
    argmax_1d_nb, argmin_1d_nb, fma_nb, max_1d_nb,
    min_1d_nb,
    sum_1d_nb,
)

NAMES = (
    "SUM", "MAX", "MIN", "MAXINDEX", "MININDEX", "MINMAX", "MINMAXINDEX", "CUMSUM",
    "VAR", "STDDEV", "CORREL", "LINEARREG", "LINEARREG_SLOPE", "LINEARREG_INTERCEPT",
    "LINEARREG_ANGLE", "TSF", "AVGDEV", "PERCENTILE",
)
CODES = {n: i for i, n in enumerate(NAMES)}


@njit(cache=True, nogil=True, inline="always")
def var_sums_nb(x, j0, j1, shift, s1=0.0, s2=0.0):
    """VAR's sums (sum a, sum a^2) with bars j0..j1 of the deviations a = x - shift added, in TA-Lib
    0.8.1's order (the first window, every rebuild from zero, and each new bar)."""
    for j in range(j0, j1 + 1):
        a = x[j] - shift
        s1 += a
        s2 += a * a
    return s1, s2


@njit(cache=True, nogil=True, inline="always")
def var_talib_rebuild_nb(x, ws, t, inv):
    """TA-Lib 0.8.1's VAR rebuilt over the window x[ws..t] (1-D): the shift taken as the window mean, the sums
    of deviations from it with the window's oldest value already removed, and the variance (0 under 1e-12 of
    its sum of squares / period): (shift, sum, sum of squares, variance). Shared with the row kernels."""
    acc = 0.0
    for j in range(ws, t + 1):
        acc += x[j]
    shift = acc * inv
    t1, t2 = var_sums_nb(x, ws, t, shift)
    m = t1 * inv
    v = t2 * inv - m * m
    if v < 0.000000000001 * (t2 * inv):
        v = 0.0
    a = x[ws] - shift
    t1 -= a
    a *= a
    t2 -= a
    return shift, t1, t2, v


@njit(cache=True, nogil=True)
def var_talib_1d_nb(x, out, period):
    """TA_VAR as TA-Lib 0.8.1 computes it (its #118 and #243): sums of deviations from a shift (the first
    window value), the trailing value removed before the test; rebuilt by a two-pass on the window mean when
    the variance is under 1e-6 of the remaining sum of squares / period, when the departing squared
    deviation exceeds 1e6 x the remaining sum, or every 32 * period bars; a rebuilt variance under 1e-12 of
    its sum of squares / period is 0. (`indicators.cpu.var_1d_nb` tests against the peak sum of squares and
    misses the departing outlier: ~1e-8 relative off after a 50x spike.)"""
    n = x.shape[0]
    lb = period - 1
    if n <= lb:
        return
    inv = 1.0 / period
    shift = x[0]
    t1, t2 = var_sums_nb(x, 0, lb - 1, shift)
    bars = 32 * period
    tr = 0
    for i in range(lb, n):
        t1, t2 = var_sums_nb(x, i, i, shift, t1, t2)
        m = t1 * inv
        v = t2 * inv - m * m
        a = x[tr] - shift
        t1 -= a
        a *= a
        t2 -= a
        tr += 1
        bars -= 1
        if v < 0.000001 * (t2 * inv) or a > 1000000.0 * t2 or bars <= 0:
            bars = 32 * period
            shift, t1, t2, v = var_talib_rebuild_nb(x, i - lb, i, inv)
        out[i] = v


@njit(cache=True, nogil=True, inline="always")
def correl_sums_nb(x, y, t0, t1, shx, shy, sx=0.0, sy=0.0, sxy=0.0, sx2=0.0, sy2=0.0):
    """CORREL's sums (sum a, sum b, sum a b, sum a^2, sum b^2) with bars t0..t1 of the deviations
    a = x - shx, b = y - shy added, in TA-Lib 0.8.1's order (the first window, every rebuild from zero,
    and each new bar)."""
    for j in range(t0, t1 + 1):
        a = x[j] - shx
        sx += a
        sx2 += a * a
        b = y[j] - shy
        sxy += a * b
        sy += b
        sy2 += b * b
    return sx, sy, sxy, sx2, sy2


@njit(cache=True, nogil=True)
def correl_1d_nb(x, y, out, period):
    """TA_CORREL as TA-Lib 0.8.1 computes it (its fix #242): the sums are of deviations from a shift (the
    window's first value, later the window means), rebuilt with a two-pass over the window when either sum
    of squares falls below 1e-6 of its raw sum, when the bar that just left dwarfs the window (1e6 x), or
    every 32 * period bars; 0 where either sum of squares is not above 1e-14 of its raw sum; clamped to
    [-1, 1]. (The textbook sums of raw values lose every digit for small spreads or small prices.)"""
    n = x.shape[0]
    lb = period - 1
    if n <= lb:
        return
    inv = 1.0 / period
    tr = 0
    shx = x[0]
    shy = y[0]
    sx, sy, sxy, sx2, sy2 = correl_sums_nb(x, y, 0, lb - 1, shx, shy)
    since = 32 * period
    lvx = 0.0
    lvy = 0.0
    for t in range(lb, n):
        sx, sy, sxy, sx2, sy2 = correl_sums_nb(x, y, t, t, shx, shy, sx, sy, sxy, sx2, sy2)
        ssx = sx2 - ((sx * sx) * inv)
        ssy = sy2 - ((sy * sy) * inv)
        sp = sxy - ((sx * sy) * inv)
        since -= 1
        if ssx < 0.000001 * sx2 or ssy < 0.000001 * sy2 or lvx > 1000000.0 * sx2 or lvy > 1000000.0 * sy2 \
                or since <= 0:
            since = 32 * period
            ws = t - lb
            mx = 0.0
            my = 0.0
            for j in range(ws, t + 1):
                mx += x[j]
                my += y[j]
            shx = mx * inv
            shy = my * inv
            sx, sy, sxy, sx2, sy2 = correl_sums_nb(x, y, ws, t, shx, shy)
            ssx = sx2 - ((sx * sx) * inv)
            ssy = sy2 - ((sy * sy) * inv)
            sp = sxy - ((sx * sy) * inv)
            if ssx < 0.0:
                ssx = 0.0
            if ssy < 0.0:
                ssy = 0.0
        ta = x[tr] - shx
        tb = y[tr] - shy
        tr += 1
        if ssx > 0.00000000000001 * sx2 and ssy > 0.00000000000001 * sy2:
            r = sp / math.sqrt(ssx * ssy)
            if r > 1.0:
                r = 1.0
            elif r < -1.0:
                r = -1.0
            out[t] = r
        else:
            out[t] = 0.0
        lvx = ta * ta
        lvy = tb * tb
        sx -= ta
        sx2 -= lvx
        sxy -= ta * tb
        sy -= tb
        sy2 -= lvy


@njit(cache=True, nogil=True)
def linreg_scan_nb(x, t, period):
    """The window sums of bar t afresh, from the oldest bar (weight period - 1) to bar t (weight 0):
    (sum of i * x, sum of x, sum of |x|)."""
    sum_xy = 0.0
    sum_y = 0.0
    sum_abs = 0.0
    for i in range(period - 1, -1, -1):
        v = x[t - i]
        sum_y += v
        sum_xy += float(i) * v
        sum_abs += abs(v)
    return sum_xy, sum_y, sum_abs


@njit(cache=True, nogil=True)
def linreg_1d_nb(x, out, period, kind):
    """LINEARREG 0, _SLOPE 1, _INTERCEPT 2, _ANGLE 3, TSF 4: least squares over the last `period` bars, as
    TA-Lib 0.8.1 computes them: the window sums slid in O(1) (SumXY += SumY - period * trailing; SumY +=
    new - trailing, with a sum of |x| alongside), taken afresh every 32 * period bars or when the departing
    term dwarfs the window (|period * trailing| > 100 * sum |x|); the forecasts b + m * k rounded once (an
    FMA in TA-Lib's C build)."""
    n = x.shape[0]
    if n < period:
        return
    sum_x = float(period) * (period - 1) * 0.5
    sum_x_sqr = float(period) * (period - 1) * (2 * period - 1) / 6.0
    divisor = sum_x * sum_x - period * sum_x_sqr
    sum_xy, sum_y, sum_abs = linreg_scan_nb(x, period - 1, period)
    bars = 32 * period
    for t in range(period - 1, n):
        if t > period - 1:
            tv = x[t - period]
            wt = float(period) * tv
            sum_xy = sum_xy + sum_y - wt
            sum_y = sum_y - tv + x[t]
            sum_abs = sum_abs - abs(tv) + abs(x[t])
            bars -= 1
            if bars <= 0 or abs(wt) > 100.0 * sum_abs:
                bars = 32 * period
                sum_xy, sum_y, sum_abs = linreg_scan_nb(x, t, period)
        m = (period * sum_xy - sum_x * sum_y) / divisor
        b = (sum_y - m * sum_x) / period
        if kind == 0:
            out[t] = fma_nb(m, float(period - 1), b)
        elif kind == 1:
            out[t] = m
        elif kind == 2:
            out[t] = b
        elif kind == 3:
            out[t] = math.atan(m) * (180.0 / 3.14159265358979323846)
        else:
            out[t] = fma_nb(m, float(period), b)


@njit(cache=True, nogil=True)
def avgdev_1d_nb(x, out, period):
    n = x.shape[0]
    for t in range(period - 1, n):
        total = 0.0
        for i in range(t - period + 1, t + 1):
            total += x[i]
        mean = total / period
        dev = 0.0
        for i in range(t - period + 1, t + 1):
            dev += abs(x[i] - mean)
        out[t] = dev / period


@njit(cache=True, nogil=True)
def percentile_1d_nb(x, out, period, pct):
    """TA_PERCENTILE: the nearest-rank percentile, rank = ceil(pct * period / 100) in [1, period]."""
    n = x.shape[0]
    rank = int(math.ceil(pct * period / 100.0))
    if rank < 1:
        rank = 1
    if rank > period:
        rank = period
    for t in range(period - 1, n):
        w = np.sort(x[t - period + 1:t + 1])
        out[t] = w[rank - 1]


@njit(cache=True, nogil=True)
def _col(code, c0, c1, c2, c3, c4, o, p, s):
    if code == 0:
        sum_1d_nb(c0, o[0], int(p[0]))
    elif code == 1:
        max_1d_nb(c0, o[0], int(p[0]))
    elif code == 2:
        min_1d_nb(c0, o[0], int(p[0]))
    elif code == 3:
        argmax_1d_nb(c0, o[0], int(p[0]), s)
    elif code == 4:
        argmin_1d_nb(c0, o[0], int(p[0]), s)
    elif code == 5:
        min_1d_nb(c0, o[0], int(p[0]))
        max_1d_nb(c0, o[1], int(p[0]))
    elif code == 6:
        argmin_1d_nb(c0, o[0], int(p[0]), s)
        argmax_1d_nb(c0, o[1], int(p[0]), s)
    elif code == 7:
        total = 0.0
        for t in range(c0.shape[0]):
            total += c0[t]
            o[0, t] = total
    elif code == 8:
        if int(p[0]) == 1:
            o[0, :] = 0.0
        else:
            var_talib_1d_nb(c0, o[0], int(p[0]))
    elif code == 9:
        var_talib_1d_nb(c0, o[0], int(p[0]))
        for t in range(int(p[0]) - 1, c0.shape[0]):
            o[0, t] = math.sqrt(o[0, t]) * p[1]
    elif code == 10:
        correl_1d_nb(c0, c1, o[0], int(p[0]))
    elif code <= 15:
        linreg_1d_nb(c0, o[0], int(p[0]), code - 11)
    elif code == 16:
        avgdev_1d_nb(c0, o[0], int(p[0]))
    elif code == 17:
        percentile_1d_nb(c0, o[0], int(p[0]), p[1])


@njit(cache=True, parallel=True)
def run_nb(code, a0, a1, a2, a3, a4, n_in, p, out, holes):
    """This group's cached driver: common.run_group_nb with this module's _col (a cached function
    must not take a dispatcher argument: Numba cannot re-save such an index from another process)."""
    return run_group_nb(_col, code, a0, a1, a2, a3, a4, n_in, p, out, holes)
