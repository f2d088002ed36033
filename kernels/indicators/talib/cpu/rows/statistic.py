"""Row kernels of the statistic functions: STDDEV, LINEARREG (see common.py for the contract). Each column
gets the arithmetic of its column kernel (`cpu/statistic.py`, `kernels/indicators/cpu.py`) operation by
operation, in the same order: the same bits."""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from kernels.indicators.cpu import VAR_FLAT, var_rebuild_nb
from kernels.indicators.talib.cpu.common import fma_nb
from kernels.indicators.talib.cpu.rows.common import NAN, run_rows_nb
from kernels.indicators.talib.cpu.statistic import linreg_scan_nb

NAMES = ("STDDEV", "LINEARREG")


@njit(cache=True, nogil=True)
def stddev_rows_nb(x, out, period, nbdev, start, j0, j1):
    """TA_STDDEV per column: sqrt(TA_VAR) * nbdev, TA_VAR as `indicators.cpu.var_1d_nb` computes it (sums
    of deviations from a shift, the column's first value; reseeded by `var_rebuild_nb` when the window is
    flat and every 32 * period bars). Once every started column is past its warm-up, a loop without the
    warm-up selects; the reseeds (`nxt`: the bar the 32 * period countdown runs out; flat windows counted
    in the loop) are redone column by column after it."""
    n = x.shape[0]
    w = j1 - j0
    st = start.copy()
    lb = period - 1
    inv = 1.0 / period
    every = 32 * period
    shift = np.zeros(w)
    tot1 = np.zeros(w)
    tot2 = np.zeros(w)
    peak = np.zeros(w)
    var = np.zeros(w)
    nxt = np.empty(w, dtype=np.int64)
    last = 0
    for j in range(w):
        nxt[j] = st[j] + lb + every - 1  # `bars` (32 * period at k = lb, minus one a bar) runs out here
        if st[j] < n and st[j] > last:
            last = st[j]
    steady = last + period  # from here every column that starts at all has k > lb
    due = nxt.min()
    for t in range(st.min(), n):
        xt = x[t, j0:j1]
        xo = x[max(t - lb, 0), j0:j1]  # the window's first bar (only used where k >= period - 1)
        ot = out[t, j0:j1]
        nflat = 0
        if t >= steady:
            for j in range(w):
                v = xt[j]
                sh = shift[j]
                a = v - sh
                s1 = tot1[j] + a
                s2 = tot2[j] + a * a
                pk = peak[j]
                pk = s2 if s2 > pk else pk
                mean1 = s1 * inv
                vr = s2 * inv - mean1 * mean1
                a = xo[j] - sh
                nflat += 1 if vr < VAR_FLAT * (pk * inv) else 0
                tot1[j] = s1 - a
                tot2[j] = s2 - a * a
                peak[j] = pk
                var[j] = vr
                ot[j] = math.sqrt(vr) * nbdev
        else:
            for j in range(w):
                k = t - st[j]
                v = xt[j]
                live = k >= 0
                ready = k >= lb
                sh = v if k == 0 else shift[j]
                a = v - sh
                s1 = tot1[j] + a
                s2 = tot2[j] + a * a
                pk = tot2[j] if k == lb else peak[j]
                pk = s2 if s2 > pk else pk
                mean1 = s1 * inv
                vr = s2 * inv - mean1 * mean1
                a = xo[j] - sh
                r1 = s1 - a
                r2 = s2 - a * a
                nflat += 1 if ready & (vr < VAR_FLAT * (pk * inv)) else 0
                shift[j] = sh
                tot1[j] = (r1 if ready else s1) if live else tot1[j]
                tot2[j] = (r2 if ready else s2) if live else tot2[j]
                peak[j] = pk if ready else peak[j]
                var[j] = vr
                ot[j] = math.sqrt(vr) * nbdev if ready else NAN
        if nflat > 0 or t == due:  # TA-Lib's reseed, column by column
            for j in range(w):
                if (t - st[j] >= lb and var[j] < VAR_FLAT * (peak[j] * inv)) or nxt[j] == t:
                    nxt[j] = t + every
                    vr, sh, s1, s2, pk = var_rebuild_nb(x[:, j0 + j], t, period, inv)
                    shift[j] = sh
                    tot1[j] = s1
                    tot2[j] = s2
                    peak[j] = pk
                    ot[j] = math.sqrt(vr) * nbdev
            due = nxt.min()


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
