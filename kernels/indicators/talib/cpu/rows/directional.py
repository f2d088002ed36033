"""Row kernels of the directional-movement functions: ADX, ADXR, PLUS_DI, MINUS_DI (see common.py
for the contract).

TA-Lib's arithmetic of `cpu/momentum.py` (dm_1d_nb, adxr_1d_nb), column by column: the +DM / -DM /
true-range sums of bars 1..period-1, then Wilder's s = (s - (s / period)) + x from bar `period` on;
DI = 100 * (dm / tr) (0 where the TR sum is TA_IS_ZERO); DX skipped where it is undefined (NaN);
ADX seeded with the mean DX of bars period..2*period-1; ADXR = (ADX + ADX period-1 bars ago) / 2.
Bit-identical to the column kernels. The kernels mark their own gappy columns (`run_rows_marking_nb`:
`nan_sum_nb` of high and low from the column's start bar and of the previous close from the bar after,
the last close added at the end, as in volatility.py).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from kernels.indicators.talib.cpu.rows.common import NAN, mark_holes_nb, nan_sum_nb, run_rows_marking_nb
from kernels.indicators.talib.cpu.rows.volatility import mark_last_close_nb, tr_nb

NAMES = ("ADX", "ADXR", "PLUS_DI", "MINUS_DI")


@njit(inline="always")
def not_zero_nb(v):
    """not TA_IS_ZERO(v) (True for NaN, as in the column kernels)."""
    return not (-0.00000001 < v < 0.00000001)


@njit(cache=True, nogil=True, error_model="numpy")
def di1_rows_nb(h, lo, c, out, plus, start, j0, j1, holes):
    """PLUS_DI / MINUS_DI with period 1: dm / tr (0 where tr is TA_IS_ZERO), TA-Lib's: no x100."""
    n = h.shape[0]
    w = j1 - j0
    st = start.copy()
    gap = np.zeros(w)
    for t in range(st.min(), n):
        tp = max(t - 1, 0)
        ht = h[t, j0:j1]
        lt = lo[t, j0:j1]
        hp = h[tp, j0:j1]
        lp = lo[tp, j0:j1]
        cp = c[tp, j0:j1]
        ot = out[t, j0:j1]
        for j in range(w):
            k = t - st[j]
            hv = ht[j]
            lv = lt[j]
            dp = hv - hp[j]
            dmn = lp[j] - lv
            pdm = dp if (dp > 0.0 and dp > dmn) else 0.0
            mdm = dmn if (dmn > 0.0 and dp < dmn) else 0.0
            dm = pdm if plus else mdm
            tr = tr_nb(hv, lv, cp[j])
            v = dm / tr if not_zero_nb(tr) else 0.0
            ot[j] = v if k >= 1 else NAN
            gap[j] += ((nan_sum_nb(hv) + nan_sum_nb(lv)) if k >= 0 else 0.0) + (nan_sum_nb(cp[j]) if k >= 1 else 0.0)
    mark_last_close_nb(c, gap, st, holes, j0, j1)


@njit(cache=True, nogil=True, error_model="numpy")
def di_rows_nb(h, lo, c, out, period, plus, start, j0, j1, holes):
    """PLUS_DI / MINUS_DI (period >= 2): 100 * (dm / tr) of the Wilder sums, from bar `period`.
    Only the one DM sum the output needs is kept (each sum is independent of the others)."""
    n = h.shape[0]
    w = j1 - j0
    st = start.copy()
    gap = np.zeros(w)
    sd = np.zeros(w)
    s_tr = np.zeros(w)
    for t in range(st.min(), n):
        tp = max(t - 1, 0)
        ht = h[t, j0:j1]
        lt = lo[t, j0:j1]
        hp = h[tp, j0:j1]
        lp = lo[tp, j0:j1]
        cp = c[tp, j0:j1]
        ot = out[t, j0:j1]
        for j in range(w):
            k = t - st[j]
            hv = ht[j]
            lv = lt[j]
            dp = hv - hp[j]
            dmn = lp[j] - lv
            pdm = dp if (dp > 0.0 and dp > dmn) else 0.0
            mdm = dmn if (dmn > 0.0 and dp < dmn) else 0.0
            dm = pdm if plus else mdm
            tr = tr_nb(hv, lv, cp[j])
            first = k <= 1
            d0 = 0.0 if first else sd[j]
            r0 = 0.0 if first else s_tr[j]
            acc = k < period
            nd = (d0 + dm) if acc else ((d0 - (d0 / period)) + dm)
            nr = (r0 + tr) if acc else ((r0 - (r0 / period)) + tr)
            sd[j] = nd
            s_tr[j] = nr
            v = 100.0 * (nd / nr) if nr != 0.0 else 0.0  # TA-Lib 0.8.1: exact 0 test of the TR sum
            ot[j] = v if k >= period else NAN
            gap[j] += ((nan_sum_nb(hv) + nan_sum_nb(lv)) if k >= 0 else 0.0) + (nan_sum_nb(cp[j]) if k >= 1 else 0.0)
    mark_last_close_nb(c, gap, st, holes, j0, j1)


@njit(cache=True, nogil=True, error_model="numpy")
def adx_rows_nb(h, lo, c, out, period, adxr, start, j0, j1, holes):
    """TA_ADX per column (any period >= 1), or with `adxr` TA_ADXR: (ADX + ADX period-1 bars ago) / 2
    from bar 3 * period - 2, the earlier ADX values kept in a ring of period-1 rows (by absolute bar)."""
    n = h.shape[0]
    w = j1 - j0
    st = start.copy()
    gap = np.zeros(w)
    t0 = st.min()
    lag = period - 1
    if adxr and t0 + 3 * period - 2 >= n:  # no ADXR value in this chunk
        for t in range(t0, n):
            out[t, j0:j1] = NAN
        mark_holes_nb(h, lo, c, h, h, 3, st, holes, j0, j1)
        return
    sp = np.zeros(w)
    sm = np.zeros(w)
    s_tr = np.zeros(w)
    sdx = np.zeros(w)
    adx = np.zeros(w)
    ring = np.zeros((max(lag, 1) if adxr else 1, w))
    nring = ring.shape[0]
    seed_k = 2 * period - 1
    first_out = 3 * period - 2 if adxr else seed_k
    pm1 = float(period - 1)
    for t in range(t0, n):
        tp = max(t - 1, 0)
        ht = h[t, j0:j1]
        lt = lo[t, j0:j1]
        hp = h[tp, j0:j1]
        lp = lo[tp, j0:j1]
        cp = c[tp, j0:j1]
        ot = out[t, j0:j1]
        rt = ring[t % nring]
        for j in range(w):
            k = t - st[j]
            hv = ht[j]
            lv = lt[j]
            dp = hv - hp[j]
            dmn = lp[j] - lv
            pdm = dp if (dp > 0.0 and dp > dmn) else 0.0
            mdm = dmn if (dmn > 0.0 and dp < dmn) else 0.0
            tr = tr_nb(hv, lv, cp[j])
            first = k <= 1
            p0 = 0.0 if first else sp[j]
            m0 = 0.0 if first else sm[j]
            r0 = 0.0 if first else s_tr[j]
            acc = k < period
            np_ = (p0 + pdm) if acc else ((p0 - (p0 / period)) + pdm)
            nm = (m0 + mdm) if acc else ((m0 - (m0 / period)) + mdm)
            nr = (r0 + tr) if acc else ((r0 - (r0 / period)) + tr)
            sp[j] = np_
            sm[j] = nm
            s_tr[j] = nr
            mdi = 100.0 * (nm / nr)
            pdi = 100.0 * (np_ / nr)
            s = mdi + pdi
            dx = 100.0 * (abs(mdi - pdi) / s)
            good = nr != 0.0 and not_zero_nb(s) and dx == dx  # the column kernel's "not isnan(dx)"
            x0 = 0.0 if k <= period else sdx[j]
            nx = x0 + dx if good else x0  # the DX sum of bars period..2*period-1 (read at seed_k)
            sdx[j] = nx
            seed = k == seed_k
            a = adx[j]
            num = nx if seed else (a * pm1) + dx
            na = num / period if (seed or good) else a
            adx[j] = na
            if adxr:
                old = rt[j]  # ADX at bar t - lag (valid where k >= 3 * period - 2)
                rt[j] = na
                v = (na + (na if lag == 0 else old)) / 2.0
            else:
                v = na
            ot[j] = v if k >= first_out else NAN
            gap[j] += ((nan_sum_nb(hv) + nan_sum_nb(lv)) if k >= 0 else 0.0) + (nan_sum_nb(cp[j]) if k >= 1 else 0.0)
    mark_last_close_nb(c, gap, st, holes, j0, j1)


@njit(cache=True, nogil=True, error_model="numpy")
def _rows(code, a0, a1, a2, a3, a4, out, p, start, j0, j1, holes):
    period = int(p[0])
    if code <= 1:
        adx_rows_nb(a0, a1, a2, out[0], period, code == 1, start, j0, j1, holes)
    elif period == 1:
        di1_rows_nb(a0, a1, a2, out[0], code == 2, start, j0, j1, holes)
    else:
        di_rows_nb(a0, a1, a2, out[0], period, code == 2, start, j0, j1, holes)


@njit(cache=True, parallel=True)
def run_nb(code, a0, a1, a2, a3, a4, n_in, p, out, holes, w):
    """This group's cached driver: common.run_rows_marking_nb with this module's _rows."""
    return run_rows_marking_nb(_rows, code, a0, a1, a2, a3, a4, n_in, p, out, holes, w)
