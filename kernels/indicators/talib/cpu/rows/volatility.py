"""Row kernels of the volatility functions: ATR, NATR, TRANGE (see common.py for the contract).

TA-Lib's arithmetic of `cpu/volume.py` (atr_1d_nb, trange_1d_nb; the true range of
`cpu/common.true_range`), column by column, so the outputs are bit-identical to the column kernels.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from kernels.indicators.talib.cpu.rows.common import NAN, run_rows_nb

NAMES = ("ATR", "NATR", "TRANGE")


@njit(inline="always")
def tr_nb(h, lo, pc):
    """TA-Lib's TRUE_RANGE (common.true_range) as selects: the greatest of h - lo, |pc - h|, |pc - lo|
    (a NaN operand loses every comparison, exactly as the branches there)."""
    g = h - lo
    v2 = abs(pc - h)
    g = v2 if v2 > g else g
    v3 = abs(pc - lo)
    return v3 if v3 > g else g


@njit(cache=True, nogil=True, error_model="numpy")
def trange_rows_nb(h, lo, c, out, start, j0, j1):
    """TA_TRANGE per column: the true range from the column's second bar (also ATR(1) and NATR(1))."""
    n = h.shape[0]
    w = j1 - j0
    st = start.copy()
    for t in range(st.min(), n):
        ht = h[t, j0:j1]
        lt = lo[t, j0:j1]
        cp = c[max(t - 1, 0), j0:j1]  # the previous close (only used where k >= 1)
        ot = out[t, j0:j1]
        for j in range(w):
            k = t - st[j]
            tr = tr_nb(ht[j], lt[j], cp[j])
            ot[j] = tr if k >= 1 else NAN


@njit(cache=True, nogil=True, error_model="numpy")
def atr_rows_nb(h, lo, c, out, period, normalised, start, j0, j1):
    """TA_ATR / TA_NATR per column (period >= 2): the seed is the mean true range of bars 1..period,
    then prev = ((prev * (period - 1)) + tr) / period; NATR: (prev / close) * 100 (0 where close is 0)."""
    n = h.shape[0]
    w = j1 - j0
    st = start.copy()
    total = np.zeros(w)
    prev = np.zeros(w)
    pm1 = float(period - 1)
    for t in range(st.min(), n):
        ht = h[t, j0:j1]
        lt = lo[t, j0:j1]
        ct = c[t, j0:j1]
        cp = c[max(t - 1, 0), j0:j1]
        ot = out[t, j0:j1]
        for j in range(w):
            k = t - st[j]
            tr = tr_nb(ht[j], lt[j], cp[j])
            tot = (0.0 if k <= 1 else total[j]) + tr  # the seed's running sum (read at k == period)
            total[j] = tot
            num = tot if k == period else (prev[j] * pm1) + tr
            pv = num / period
            prev[j] = pv
            if normalised:
                cv = ct[j]
                v = (pv / cv) * 100.0 if cv != 0.0 else 0.0  # TA-Lib: an exact zero test
            else:
                v = pv
            ot[j] = v if k >= period else NAN


@njit(cache=True, nogil=True, error_model="numpy")
def _rows(code, a0, a1, a2, a3, a4, out, p, start, j0, j1):
    if code == 2:
        trange_rows_nb(a0, a1, a2, out[0], start, j0, j1)
        return
    period = int(p[0])
    if period == 1:
        trange_rows_nb(a0, a1, a2, out[0], start, j0, j1)  # TA-Lib: NATR(1) is TRANGE, not normalised
    else:
        atr_rows_nb(a0, a1, a2, out[0], period, code == 1, start, j0, j1)


@njit(cache=True, parallel=True)
def run_nb(code, a0, a1, a2, a3, a4, n_in, p, n_out, holes, w):
    """This group's cached driver: common.run_rows_nb with this module's _rows."""
    return run_rows_nb(_rows, code, a0, a1, a2, a3, a4, n_in, p, n_out, holes, w)
