"""Row kernels of the statistic functions: STDDEV, LINEARREG (see common.py for the contract). Each column
gets the arithmetic of its column kernel (`cpu/statistic.py`, `kernels/indicators/cpu.py`) operation by
operation, in the same order: the same bits."""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from kernels.indicators.talib.cpu.rows.common import NAN, div, run_rows_nb
from kernels.indicators.talib.cpu.rows.variance import new_state_nb, reseed_nb, steady_step_nb, warm_step_nb

NAMES = ("STDDEV", "LINEARREG")


@njit(cache=True, nogil=True)
def stddev_rows_nb(x, out, period, nbdev, start, j0, j1):
    """TA_STDDEV per column: sqrt(TA_VAR) * nbdev, TA_VAR as `indicators.cpu.var_1d_nb` computes it
    (`variance`: the running sums, reseeded when flat and every 32 * period bars). Once every started
    column is past its warm-up, the step without the warm-up selects."""
    n = x.shape[0]
    w = j1 - j0
    st = start.copy()
    lb = period - 1
    inv = 1.0 / period
    shift, tot1, tot2, peak, var, nxt, steady, due = new_state_nb(st, n, period)
    ready = np.zeros(w, dtype=np.bool_)
    for t in range(st.min(), n):
        xt = x[t, j0:j1]
        xo = x[max(t - lb, 0), j0:j1]  # the window's first bar (only used where k >= period - 1)
        ot = out[t, j0:j1]
        warm = t < steady
        if warm:
            nflat = warm_step_nb(xt, xo, t, st, lb, inv, shift, tot1, tot2, peak, var, ready)
        else:
            nflat = steady_step_nb(xt, xo, inv, shift, tot1, tot2, peak, var)
        if nflat > 0 or t == due:
            due = reseed_nb(x, j0, t, st, lb, period, inv, shift, tot1, tot2, peak, var, nxt)
        if warm:
            for j in range(w):
                ot[j] = math.sqrt(var[j]) * nbdev if ready[j] else NAN
        else:
            for j in range(w):
                ot[j] = math.sqrt(var[j]) * nbdev


@njit(cache=True, nogil=True)
def linreg_rows_nb(x, out, period, start, j0, j1):
    """TA_LINEARREG per column (`statistic.linreg_1d_nb`, kind 0): the least-squares line over the last
    `period` bars, b + m * (period - 1), its sums taken afresh at every bar from the oldest bar to the
    newest (sum_y += v; sum_xy += i * v, i = period - 1 .. 0, from 0.0). The same additions in the same
    order, several window rows per pass over the sums: a head of period % 4 rows (4 if none) starts
    them from 0.0, blocks of 4 rows follow, and the last block (weights 3, 2, 1, 0) goes straight on
    to the line."""
    n = x.shape[0]
    w = j1 - j0
    st = start.copy()
    t0 = st.min()
    sum_x = period * (period - 1) * 0.5
    sum_x_sqr = period * (period - 1) * (2 * period - 1) / 6.0
    divisor = sum_x * sum_x - period * sum_x_sqr
    sy = np.zeros(w)
    sxy = np.zeros(w)
    head = period % 4
    if head == 0:
        head = 4
    for t in range(t0, n):
        ot = out[t, j0:j1]
        if t < t0 + period - 1:  # no column has a full window yet
            for j in range(w):
                ot[j] = NAN
            continue
        i = period - 1  # the weight of the oldest row of the window, bar t - i
        xa = x[t - i, j0:j1]
        fa = float(i)
        if head == 1:
            for j in range(w):
                a = xa[j]
                sy[j] = 0.0 + a
                sxy[j] = 0.0 + fa * a
        elif head == 2:
            xb = x[t - i + 1, j0:j1]
            fb = float(i - 1)
            for j in range(w):
                a = xa[j]
                b = xb[j]
                sy[j] = (0.0 + a) + b
                sxy[j] = (0.0 + fa * a) + fb * b
        elif head == 3:
            xb = x[t - i + 1, j0:j1]
            xc = x[t - i + 2, j0:j1]
            fb = float(i - 1)
            fc = float(i - 2)
            for j in range(w):
                a = xa[j]
                b = xb[j]
                c = xc[j]
                sy[j] = ((0.0 + a) + b) + c
                sxy[j] = ((0.0 + fa * a) + fb * b) + fc * c
        else:
            xb = x[t - i + 1, j0:j1]
            xc = x[t - i + 2, j0:j1]
            xd = x[t - i + 3, j0:j1]
            fb = float(i - 1)
            fc = float(i - 2)
            fd = float(i - 3)
            for j in range(w):
                a = xa[j]
                b = xb[j]
                c = xc[j]
                d = xd[j]
                sy[j] = (((0.0 + a) + b) + c) + d
                sxy[j] = (((0.0 + fa * a) + fb * b) + fc * c) + fd * d
        i -= head  # now 3 mod 4 (or -1: the head was the whole window)
        while i >= 7:
            xa = x[t - i, j0:j1]
            xb = x[t - i + 1, j0:j1]
            xc = x[t - i + 2, j0:j1]
            xd = x[t - i + 3, j0:j1]
            fa = float(i)
            fb = float(i - 1)
            fc = float(i - 2)
            fd = float(i - 3)
            for j in range(w):
                a = xa[j]
                b = xb[j]
                c = xc[j]
                d = xd[j]
                sy[j] = (((sy[j] + a) + b) + c) + d
                sxy[j] = (((sxy[j] + fa * a) + fb * b) + fc * c) + fd * d
            i -= 4
        if i == 3:
            xa = x[t - 3, j0:j1]
            xb = x[t - 2, j0:j1]
            xc = x[t - 1, j0:j1]
            xd = x[t, j0:j1]
            for j in range(w):
                a = xa[j]
                b = xb[j]
                c = xc[j]
                d = xd[j]
                y = (((sy[j] + a) + b) + c) + d
                z = (((sxy[j] + 3.0 * a) + 2.0 * b) + 1.0 * c) + 0.0 * d  # (0 * d: NaN for inf, as i * v)
                m = div(period * z - sum_x * y, divisor)
                bb = div(y - m * sum_x, period)
                ot[j] = bb + m * (period - 1) if t - st[j] >= period - 1 else NAN
        else:
            for j in range(w):
                m = div(period * sxy[j] - sum_x * sy[j], divisor)
                bb = div(sy[j] - m * sum_x, period)
                ot[j] = bb + m * (period - 1) if t - st[j] >= period - 1 else NAN


@njit(cache=True, nogil=True)
def _rows(code, a0, a1, a2, a3, a4, out, p, start, j0, j1):
    period = int(p[0])
    if code == 0:
        stddev_rows_nb(a0, out[0], period, p[1], start, j0, j1)
    elif code == 1:
        linreg_rows_nb(a0, out[0], period, start, j0, j1)


@njit(cache=True, parallel=True)
def run_nb(code, a0, a1, a2, a3, a4, n_in, p, n_out, holes, w):
    """This group's cached driver: common.run_rows_nb with this module's _rows."""
    return run_rows_nb(_rows, code, a0, a1, a2, a3, a4, n_in, p, n_out, holes, w)
