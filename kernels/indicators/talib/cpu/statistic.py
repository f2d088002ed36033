"""Statistic functions and math operators (TA-Lib groups "Statistic Functions", "Math Operators"): CPU kernels."""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from kernels.indicators.cpu import var_1d_nb
from kernels.indicators.talib.cpu.common import run_group_nb
from kernels.indicators.talib.cpu.common import (
    argmax_1d_nb, argmin_1d_nb, is_zero_or_neg, max_1d_nb,
    min_1d_nb,
    sum_1d_nb,
)

NAMES = (
    "SUM", "MAX", "MIN", "MAXINDEX", "MININDEX", "MINMAX", "MINMAXINDEX", "CUMSUM",
    "VAR", "STDDEV", "CORREL", "LINEARREG", "LINEARREG_SLOPE", "LINEARREG_INTERCEPT",
    "LINEARREG_ANGLE", "TSF", "AVGDEV", "PERCENTILE",
)
CODES = {n: i for i, n in enumerate(NAMES)}


@njit(cache=True, nogil=True)
def correl_1d_nb(x, y, out, period):
    n = x.shape[0]
    sx = 0.0
    sy = 0.0
    sxy = 0.0
    sx2 = 0.0
    sy2 = 0.0
    for t in range(min(period - 1, n)):
        a = x[t]
        b = y[t]
        sx += a
        sx2 += a * a
        sxy += a * b
        sy += b
        sy2 += b * b
    for t in range(period - 1, n):
        a = x[t]
        b = y[t]
        sx += a
        sx2 += a * a
        sxy += a * b
        sy += b
        sy2 += b * b
        tmp = (sx2 - ((sx * sx) / period)) * (sy2 - ((sy * sy) / period))
        if not is_zero_or_neg(tmp):
            out[t] = (sxy - ((sx * sy) / period)) / math.sqrt(tmp)
        else:
            out[t] = 0.0
        a = x[t - period + 1]
        b = y[t - period + 1]
        sx -= a
        sx2 -= a * a
        sxy -= a * b
        sy -= b
        sy2 -= b * b


@njit(cache=True, nogil=True)
def linreg_1d_nb(x, out, period, kind):
    """LINEARREG 0, _SLOPE 1, _INTERCEPT 2, _ANGLE 3, TSF 4: least squares over the last `period` bars."""
    n = x.shape[0]
    sum_x = period * (period - 1) * 0.5
    sum_x_sqr = period * (period - 1) * (2 * period - 1) / 6.0
    divisor = sum_x * sum_x - period * sum_x_sqr
    for t in range(period - 1, n):
        sum_xy = 0.0
        sum_y = 0.0
        for i in range(period - 1, -1, -1):
            v = x[t - i]
            sum_y += v
            sum_xy += i * v
        m = (period * sum_xy - sum_x * sum_y) / divisor
        b = (sum_y - m * sum_x) / period
        if kind == 0:
            out[t] = b + m * (period - 1)
        elif kind == 1:
            out[t] = m
        elif kind == 2:
            out[t] = b
        elif kind == 3:
            out[t] = math.atan(m) * (180.0 / math.pi)
        else:
            out[t] = b + m * period


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
            var_1d_nb(c0, int(p[0]), o[0])
    elif code == 9:
        var_1d_nb(c0, int(p[0]), o[0])
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
