"""Row kernels of the statistic functions: STDDEV, LINEARREG (see common.py for the contract). Each column
gets the arithmetic of its column kernel (`cpu/statistic.py`) operation by
operation, in the same order: the same bits."""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from kernels.indicators.talib.cpu.common import fma_nb
from kernels.indicators.talib.cpu.rows.common import NAN, run_rows_nb, talib_var_step_nb
from kernels.indicators.talib.cpu.statistic import linreg_scan_nb

NAMES = ("STDDEV", "LINEARREG")


@njit(cache=True, nogil=True)
def stddev_rows_nb(x, out, period, nbdev, start, j0, j1):
    """TA_STDDEV per column: sqrt(TA_VAR) * nbdev, TA_VAR as `statistic.var_talib_1d_nb` computes it (TA-Lib
    0.8.1: sums of deviations from a shift, the column's first value; the trailing value removed before the
    test; rebuilt on the window mean when the variance is under 1e-6 of the remaining sum of squares /
    period, when the departing squared deviation exceeds 1e6 x the remaining sum, or every 32 * period bars;
    a rebuilt variance under 1e-12 of its sum of squares / period is 0), the same operations per column."""
    n = x.shape[0]
    w = j1 - j0
    st = start.copy()
    t0 = st.min()
    lb = period - 1
    inv = 1.0 / period
    shift = np.zeros(w)
    t1 = np.zeros(w)
    t2 = np.zeros(w)
    bars = np.zeros(w, dtype=np.int64)
    for t in range(t0, n):
        ot = out[t, j0:j1]
        xt = x[t, j0:j1]
        xo = x[t - lb, j0:j1] if t >= lb else xt  # the window's oldest bar (k >= lb)
        for j in range(w):
            k = t - st[j]
            if k < 0:
                ot[j] = NAN
                continue
            v = talib_var_step_nb(x, t, j0 + j, k, lb, inv, xt[j], xo[j], shift, t1, t2, bars, j)
            ot[j] = math.sqrt(v) * nbdev


@njit(cache=True, nogil=True)
def linreg_rows_nb(x, out, period, start, j0, j1):
    """TA_LINEARREG per column (`statistic.linreg_1d_nb`, kind 0, TA-Lib 0.8.1's arithmetic): the window
    sums taken afresh (`linreg_scan_nb`, from the oldest bar) at a column's first full window, then slid in
    O(1) (SumXY += SumY - period * trailing; SumY += new - trailing; sum |x| alongside) and taken afresh
    again every 32 * period bars or when |period * trailing| > 100 * sum |x|; b + m * (period - 1) as one
    FMA."""
    n = x.shape[0]
    w = j1 - j0
    st = start.copy()
    t0 = st.min()
    sum_x = float(period) * (period - 1) * 0.5
    sum_x_sqr = float(period) * (period - 1) * (2 * period - 1) / 6.0
    divisor = sum_x * sum_x - period * sum_x_sqr
    fwd = float(period - 1)
    sy = np.zeros(w)
    sxy = np.zeros(w)
    sa = np.zeros(w)
    bars = np.zeros(w, dtype=np.int64)
    for t in range(t0, n):
        ot = out[t, j0:j1]
        xt = x[t, j0:j1]
        if t < t0 + period - 1:  # no column has a full window yet
            for j in range(w):
                ot[j] = NAN
            continue
        xo = x[t - period, j0:j1] if t >= period else xt  # the bar that leaves the window (k > period - 1)
        for j in range(w):
            k = t - st[j]
            if k < period - 1:
                ot[j] = NAN
                continue
            if k == period - 1:
                a, b, c = linreg_scan_nb(x[:, j0 + j], t, period)
                sxy[j] = a
                sy[j] = b
                sa[j] = c
                bars[j] = 32 * period
            else:
                tv = xo[j]
                wt = float(period) * tv
                sxy[j] = sxy[j] + sy[j] - wt
                sy[j] = sy[j] - tv + xt[j]
                sa[j] = sa[j] - abs(tv) + abs(xt[j])
                bars[j] -= 1
                if bars[j] <= 0 or abs(wt) > 100.0 * sa[j]:
                    bars[j] = 32 * period
                    a, b, c = linreg_scan_nb(x[:, j0 + j], t, period)
                    sxy[j] = a
                    sy[j] = b
                    sa[j] = c
            m = (period * sxy[j] - sum_x * sy[j]) / divisor
            bb = (sy[j] - m * sum_x) / period
            ot[j] = fma_nb(m, fwd, bb)


@njit(cache=True, nogil=True)
def _rows(code, a0, a1, a2, a3, a4, out, p, start, j0, j1):
    period = int(p[0])
    if code == 0:
        stddev_rows_nb(a0, out[0], period, p[1], start, j0, j1)
    elif code == 1:
        linreg_rows_nb(a0, out[0], period, start, j0, j1)


@njit(cache=True, parallel=True)
def run_nb(code, a0, a1, a2, a3, a4, n_in, p, out, holes, w):
    """This group's cached driver: common.run_rows_nb with this module's _rows."""
    return run_rows_nb(_rows, code, a0, a1, a2, a3, a4, n_in, p, out, holes, w)
