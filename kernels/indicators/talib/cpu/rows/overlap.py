"""Row kernels of the overlap studies: SMA, EMA (TA-Lib's arithmetic of `cpu/ma.py`, column by column)."""
from __future__ import annotations

import numpy as np
from numba import njit

from kernels.indicators.talib.cpu.rows.common import NAN, run_rows_nb

NAMES = ("SMA", "EMA")


@njit(cache=True, nogil=True)
def sma_rows_nb(x, out, period, start, j0, j1):
    """TA_SMA per column: running total, add the new bar, emit, drop the trailing bar (period 1: a copy)."""
    n = x.shape[0]
    w = j1 - j0
    st = start.copy()
    total = np.zeros(w)
    for t in range(st.min(), n):
        xt = x[t, j0:j1]
        xo = x[max(t - period + 1, 0), j0:j1]  # the trailing bar (only read where k >= period - 1)
        ot = out[t, j0:j1]
        for j in range(w):
            k = t - st[j]
            ready = k >= period - 1
            tot = total[j] + (xt[j] if k >= 0 else 0.0)
            ot[j] = tot / period if ready else NAN
            total[j] = tot - (xo[j] if ready else 0.0)


@njit(cache=True, nogil=True)
def ema_rows_nb(x, out, period, kf, start, j0, j1):
    """TA_EMA per column: seeded with the SMA of the first `period` bars, then
    prev = ((x - prev) * kf) + prev (period 1: a copy)."""
    n = x.shape[0]
    w = j1 - j0
    st = start.copy()
    total = np.zeros(w)
    prev = np.zeros(w)
    for t in range(st.min(), n):
        xt = x[t, j0:j1]
        ot = out[t, j0:j1]
        for j in range(w):
            k = t - st[j]
            v = xt[j]
            tot = total[j] + (v if k >= 0 and k < period else 0.0)
            total[j] = tot
            e = tot / period if k == period - 1 else ((v - prev[j]) * kf) + prev[j]
            ready = k >= period - 1
            prev[j] = e if ready else prev[j]
            ot[j] = e if ready else NAN


@njit(cache=True, nogil=True)
def copy_rows_nb(x, out, start, j0, j1):
    """A copy from each column's start bar (TA-Lib's period-1 moving averages)."""
    n = x.shape[0]
    w = j1 - j0
    st = start.copy()
    for t in range(st.min(), n):
        xt = x[t, j0:j1]
        ot = out[t, j0:j1]
        for j in range(w):
            ot[j] = xt[j] if t >= st[j] else NAN


@njit(cache=True, nogil=True)
def _rows(code, a0, a1, a2, a3, a4, out, p, start, j0, j1):
    period = int(p[0])
    if period == 1:
        copy_rows_nb(a0, out[0], start, j0, j1)
    elif code == 0:
        sma_rows_nb(a0, out[0], period, start, j0, j1)
    elif code == 1:
        ema_rows_nb(a0, out[0], period, 2.0 / (period + 1.0), start, j0, j1)


@njit(cache=True, parallel=True)
def run_nb(code, a0, a1, a2, a3, a4, n_in, p, n_out, holes, w):
    """This group's cached driver: common.run_rows_nb with this module's _rows."""
    return run_rows_nb(_rows, code, a0, a1, a2, a3, a4, n_in, p, n_out, holes, w)
