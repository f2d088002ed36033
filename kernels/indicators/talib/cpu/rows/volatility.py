"""Row kernels of the volatility functions: ATR, NATR, TRANGE (see common.py for the contract).

TA-Lib's arithmetic of `cpu/volume.py` (atr_1d_nb, trange_1d_nb; the true range of
`cpu/common.true_range`), column by column, so the outputs are bit-identical to the column kernels.

These kernels are memory-bound (a few operations per input read), so they mark their own gappy
columns (`run_rows_marking_nb`: `nan_sum_nb` of every input from the column's start bar, summed where
the kernel reads it anyway) and split the bars: up to `ready` (every started column past its warm-up)
a loop with the per-column bar count k = t - st[j]; from there on a loop without it (no integer select
per cell) that takes four bars a pass (each column's state and NaN sum loaded and stored once per four
bars: ~10-15% of these kernels), the columns that never start (st[j] == T) set back to NaN after it.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from kernels.indicators.talib.cpu.rows.common import NAN, mark_from_sums_nb, nan_sum_nb, run_rows_marking_nb

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


@njit(cache=True, nogil=True)
def late_nb(st, n):
    """(the last start bar of the columns that start, the columns that never start (st[j] == n))."""
    smax = -1
    cnt = 0
    for j in range(st.shape[0]):
        if st[j] < n:
            smax = max(smax, st[j])
        else:
            cnt += 1
    never = np.empty(cnt, dtype=np.int64)
    i = 0
    for j in range(st.shape[0]):
        if st[j] >= n:
            never[i] = j
            i += 1
    return smax, never


@njit(inline="always")
def nan3_nb(hv, lv, cv):
    """The NaN sum of one bar's high, low and (previous) close."""
    return (nan_sum_nb(hv) + nan_sum_nb(lv)) + nan_sum_nb(cv)


@njit(inline="always")
def natr_value_nb(pv, cv, normalised):
    """ATR's output, or NATR's (pv / close) * 100 (0 where the close is 0: TA-Lib's exact zero test)."""
    if normalised:
        return (pv / cv) * 100.0 if cv != 0.0 else 0.0
    return pv


@njit(inline="always")
def nan_rows4_nb(o1, o2, o3, o4, never):
    """NaN in the columns that never start, on the four output rows of a pass."""
    for j in never:
        o1[j] = NAN
        o2[j] = NAN
        o3[j] = NAN
        o4[j] = NAN


@njit(cache=True, nogil=True)
def mark_last_close_nb(c, acc, st, holes, j0, j1):
    """The kernels read the close one bar late (the previous close): add the last bar's close of every
    column that starts, clear the sums of the columns that never start (the loop past `ready` sums
    them too), then write the holes."""
    n = c.shape[0]
    cl = c[n - 1, j0:j1]
    for j in range(j1 - j0):
        acc[j] = acc[j] + nan_sum_nb(cl[j]) if st[j] < n else 0.0
    mark_from_sums_nb(acc, holes, j0)


@njit(cache=True, nogil=True, error_model="numpy")
def trange_rows_nb(h, lo, c, out, start, j0, j1, holes):
    """TA_TRANGE per column: the true range from the column's second bar (also ATR(1) and NATR(1))."""
    n = h.shape[0]
    w = j1 - j0
    st = start.copy()
    acc = np.zeros(w)
    smax, never = late_nb(st, n)
    ready = smax + 1  # from here every column that starts has k >= 1
    for t in range(st.min(), min(ready, n)):
        ht = h[t, j0:j1]
        lt = lo[t, j0:j1]
        cp = c[max(t - 1, 0), j0:j1]  # the previous close (only used where k >= 1)
        ot = out[t, j0:j1]
        for j in range(w):
            k = t - st[j]
            hv = ht[j]
            lv = lt[j]
            pc = cp[j]
            tr = tr_nb(hv, lv, pc)
            ot[j] = tr if k >= 1 else NAN
            acc[j] += ((nan_sum_nb(hv) + nan_sum_nb(lv)) if k >= 0 else 0.0) + (nan_sum_nb(pc) if k >= 1 else 0.0)
    t = max(ready, st.min())
    while t + 4 <= n:  # four bars a pass
        h1 = h[t, j0:j1]
        h2 = h[t + 1, j0:j1]
        h3 = h[t + 2, j0:j1]
        h4 = h[t + 3, j0:j1]
        l1 = lo[t, j0:j1]
        l2 = lo[t + 1, j0:j1]
        l3 = lo[t + 2, j0:j1]
        l4 = lo[t + 3, j0:j1]
        c0 = c[t - 1, j0:j1]
        c1 = c[t, j0:j1]
        c2 = c[t + 1, j0:j1]
        c3 = c[t + 2, j0:j1]
        o1 = out[t, j0:j1]
        o2 = out[t + 1, j0:j1]
        o3 = out[t + 2, j0:j1]
        o4 = out[t + 3, j0:j1]
        for j in range(w):
            o1[j] = tr_nb(h1[j], l1[j], c0[j])
            o2[j] = tr_nb(h2[j], l2[j], c1[j])
            o3[j] = tr_nb(h3[j], l3[j], c2[j])
            o4[j] = tr_nb(h4[j], l4[j], c3[j])
            acc[j] += ((nan3_nb(h1[j], l1[j], c0[j]) + nan3_nb(h2[j], l2[j], c1[j]))
                       + (nan3_nb(h3[j], l3[j], c2[j]) + nan3_nb(h4[j], l4[j], c3[j])))
        nan_rows4_nb(o1, o2, o3, o4, never)
        t += 4
    for t in range(t, n):  # the last bars, one at a time
        ht = h[t, j0:j1]
        lt = lo[t, j0:j1]
        cp = c[t - 1, j0:j1]
        ot = out[t, j0:j1]
        for j in range(w):
            ot[j] = tr_nb(ht[j], lt[j], cp[j])
            acc[j] += nan3_nb(ht[j], lt[j], cp[j])
        for j in never:
            ot[j] = NAN
    mark_last_close_nb(c, acc, st, holes, j0, j1)


@njit(cache=True, nogil=True, error_model="numpy")
def atr_rows_nb(h, lo, c, out, period, normalised, start, j0, j1, holes):
    """TA_ATR / TA_NATR per column (period >= 2): the seed is the mean true range of bars 1..period,
    then prev = ((prev * (period - 1)) + tr) / period; NATR: (prev / close) * 100 (0 where close is 0)."""
    n = h.shape[0]
    w = j1 - j0
    st = start.copy()
    acc = np.zeros(w)
    total = np.zeros(w)
    prev = np.zeros(w)
    pm1 = float(period - 1)
    smax, never = late_nb(st, n)
    ready = smax + period + 1  # from here every column that starts has k > period (the recursion only)
    for t in range(st.min(), min(ready, n)):
        ht = h[t, j0:j1]
        lt = lo[t, j0:j1]
        ct = c[t, j0:j1]
        cp = c[max(t - 1, 0), j0:j1]
        ot = out[t, j0:j1]
        for j in range(w):
            k = t - st[j]
            hv = ht[j]
            lv = lt[j]
            pc = cp[j]
            tr = tr_nb(hv, lv, pc)
            tot = (0.0 if k <= 1 else total[j]) + tr  # the seed's running sum (read at k == period)
            total[j] = tot
            num = tot if k == period else (prev[j] * pm1) + tr
            pv = num / period
            prev[j] = pv
            v = natr_value_nb(pv, ct[j], normalised)
            ot[j] = v if k >= period else NAN
            acc[j] += ((nan_sum_nb(hv) + nan_sum_nb(lv)) if k >= 0 else 0.0) + (nan_sum_nb(pc) if k >= 1 else 0.0)
    t = max(ready, st.min())
    while t + 4 <= n:  # four bars a pass: prev[j] in a register across them
        h1 = h[t, j0:j1]
        h2 = h[t + 1, j0:j1]
        h3 = h[t + 2, j0:j1]
        h4 = h[t + 3, j0:j1]
        l1 = lo[t, j0:j1]
        l2 = lo[t + 1, j0:j1]
        l3 = lo[t + 2, j0:j1]
        l4 = lo[t + 3, j0:j1]
        c0 = c[t - 1, j0:j1]
        c1 = c[t, j0:j1]
        c2 = c[t + 1, j0:j1]
        c3 = c[t + 2, j0:j1]
        c4 = c[t + 3, j0:j1]
        o1 = out[t, j0:j1]
        o2 = out[t + 1, j0:j1]
        o3 = out[t + 2, j0:j1]
        o4 = out[t + 3, j0:j1]
        for j in range(w):
            pv = ((prev[j] * pm1) + tr_nb(h1[j], l1[j], c0[j])) / period
            o1[j] = natr_value_nb(pv, c1[j], normalised)
            pv = ((pv * pm1) + tr_nb(h2[j], l2[j], c1[j])) / period
            o2[j] = natr_value_nb(pv, c2[j], normalised)
            pv = ((pv * pm1) + tr_nb(h3[j], l3[j], c2[j])) / period
            o3[j] = natr_value_nb(pv, c3[j], normalised)
            pv = ((pv * pm1) + tr_nb(h4[j], l4[j], c3[j])) / period
            o4[j] = natr_value_nb(pv, c4[j], normalised)
            prev[j] = pv
            acc[j] += ((nan3_nb(h1[j], l1[j], c0[j]) + nan3_nb(h2[j], l2[j], c1[j]))
                       + (nan3_nb(h3[j], l3[j], c2[j]) + nan3_nb(h4[j], l4[j], c3[j])))
        nan_rows4_nb(o1, o2, o3, o4, never)
        t += 4
    for t in range(t, n):  # the last bars, one at a time
        ht = h[t, j0:j1]
        lt = lo[t, j0:j1]
        ct = c[t, j0:j1]
        cp = c[t - 1, j0:j1]
        ot = out[t, j0:j1]
        for j in range(w):
            pv = ((prev[j] * pm1) + tr_nb(ht[j], lt[j], cp[j])) / period
            prev[j] = pv
            ot[j] = natr_value_nb(pv, ct[j], normalised)
            acc[j] += nan3_nb(ht[j], lt[j], cp[j])
        for j in never:
            ot[j] = NAN
    mark_last_close_nb(c, acc, st, holes, j0, j1)


@njit(cache=True, nogil=True, error_model="numpy")
def _rows(code, a0, a1, a2, a3, a4, out, p, start, j0, j1, holes):
    if code == 2:
        trange_rows_nb(a0, a1, a2, out[0], start, j0, j1, holes)
        return
    period = int(p[0])
    if period == 1:
        trange_rows_nb(a0, a1, a2, out[0], start, j0, j1, holes)  # TA-Lib: NATR(1) is TRANGE, not normalised
    else:
        atr_rows_nb(a0, a1, a2, out[0], period, code == 1, start, j0, j1, holes)


@njit(cache=True, parallel=True)
def run_nb(code, a0, a1, a2, a3, a4, n_in, p, out, holes, w):
    """This group's cached driver: common.run_rows_marking_nb with this module's _rows."""
    return run_rows_marking_nb(_rows, code, a0, a1, a2, a3, a4, n_in, p, out, holes, w)
