"""Row kernels of the volume functions: OBV, AD, ADOSC (see common.py for the contract).

TA-Lib's arithmetic of `cpu/volume.py` (obv_1d_nb, ad_1d_nb, adosc_1d_nb), column by column, so
the outputs are bit-identical to the column kernels.

Memory-bound kernels: like volatility.py they mark their own gappy columns (`run_rows_marking_nb`,
`nan_sum_nb` of every input from the column's start bar) and run the bars past `ready` (every started
column past its first value / warm-up) in a loop without the per-column bar count; AD takes four bars
a pass there and ADOSC two (the state and NaN sums loaded and stored once a pass).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from kernels.indicators.talib.cpu.rows.common import NAN, mark_from_sums_nb, nan_sum_nb, run_rows_marking_nb
from kernels.indicators.talib.cpu.rows.volatility import late_nb, nan_rows4_nb

NAMES = ("OBV", "AD", "ADOSC")


@njit(inline="always")
def ad_step_nb(a, hv, lv, cv, vv):
    """TA_AD's step: a + (((c - l) - (h - c)) / (h - l)) * v where h - l > 0, else a."""
    rng = hv - lv
    return a + (((cv - lv) - (hv - cv)) / rng) * vv if rng > 0.0 else a


@njit(inline="always")
def nan4_nb(hv, lv, cv, vv):
    """The NaN sum of one bar's four inputs."""
    return (nan_sum_nb(hv) + nan_sum_nb(lv)) + (nan_sum_nb(cv) + nan_sum_nb(vv))


@njit(cache=True, nogil=True)
def clear_never_nb(acc, never, holes, j0):
    """The loops past `ready` sum the columns that never start too: clear those, then write the holes."""
    for j in never:
        acc[j] = 0.0
    mark_from_sums_nb(acc, holes, j0)


@njit(cache=True, nogil=True, error_model="numpy")
def obv_rows_nb(c, v, out, start, j0, j1, holes):
    """TA_OBV per column: starts at the first volume, then + volume on an up close, - volume on a down one."""
    n = c.shape[0]
    w = j1 - j0
    st = start.copy()
    acc = np.zeros(w)
    obv = np.zeros(w)
    prev = np.zeros(w)
    smax, never = late_nb(st, n)
    ready = smax + 1  # from here every column that starts has k >= 1
    for t in range(st.min(), min(ready, n)):
        ct = c[t, j0:j1]
        vt = v[t, j0:j1]
        ot = out[t, j0:j1]
        for j in range(w):
            k = t - st[j]
            cv = ct[j]
            vv = vt[j]
            pc = prev[j]
            o = obv[j]
            nb = o + vv if cv > pc else (o - vv if cv < pc else o)
            nb = vv if k == 0 else nb
            obv[j] = nb
            prev[j] = cv
            ot[j] = nb if k >= 0 else NAN
            acc[j] += (nan_sum_nb(cv) + nan_sum_nb(vv)) if k >= 0 else 0.0
    for t in range(max(ready, st.min()), n):
        ct = c[t, j0:j1]
        vt = v[t, j0:j1]
        ot = out[t, j0:j1]
        for j in range(w):
            cv = ct[j]
            vv = vt[j]
            pc = prev[j]
            o = obv[j]
            nb = o + vv if cv > pc else (o - vv if cv < pc else o)
            obv[j] = nb
            prev[j] = cv
            ot[j] = nb
            acc[j] += nan_sum_nb(cv) + nan_sum_nb(vv)
        for j in never:
            ot[j] = NAN
    clear_never_nb(acc, never, holes, j0)


@njit(cache=True, nogil=True, error_model="numpy")
def ad_rows_nb(h, lo, c, v, out, start, j0, j1, holes):
    """TA_AD per column: ad += (((c - l) - (h - c)) / (h - l)) * v where h - l > 0."""
    n = c.shape[0]
    w = j1 - j0
    st = start.copy()
    acc = np.zeros(w)
    ad = np.zeros(w)
    smax, never = late_nb(st, n)
    ready = smax + 1  # from here every column that starts has k >= 1
    for t in range(st.min(), min(ready, n)):
        ht = h[t, j0:j1]
        lt = lo[t, j0:j1]
        ct = c[t, j0:j1]
        vt = v[t, j0:j1]
        ot = out[t, j0:j1]
        for j in range(w):
            k = t - st[j]
            hv = ht[j]
            lv = lt[j]
            cv = ct[j]
            vv = vt[j]
            na = ad_step_nb(0.0 if k <= 0 else ad[j], hv, lv, cv, vv)
            ad[j] = na
            ot[j] = na if k >= 0 else NAN
            acc[j] += nan4_nb(hv, lv, cv, vv) if k >= 0 else 0.0
    t = max(ready, st.min())
    while t + 4 <= n:  # four bars a pass: ad[j] in a register across them
        h1 = h[t, j0:j1]
        h2 = h[t + 1, j0:j1]
        h3 = h[t + 2, j0:j1]
        h4 = h[t + 3, j0:j1]
        l1 = lo[t, j0:j1]
        l2 = lo[t + 1, j0:j1]
        l3 = lo[t + 2, j0:j1]
        l4 = lo[t + 3, j0:j1]
        c1 = c[t, j0:j1]
        c2 = c[t + 1, j0:j1]
        c3 = c[t + 2, j0:j1]
        c4 = c[t + 3, j0:j1]
        v1 = v[t, j0:j1]
        v2 = v[t + 1, j0:j1]
        v3 = v[t + 2, j0:j1]
        v4 = v[t + 3, j0:j1]
        o1 = out[t, j0:j1]
        o2 = out[t + 1, j0:j1]
        o3 = out[t + 2, j0:j1]
        o4 = out[t + 3, j0:j1]
        for j in range(w):
            a = ad_step_nb(ad[j], h1[j], l1[j], c1[j], v1[j])
            o1[j] = a
            a = ad_step_nb(a, h2[j], l2[j], c2[j], v2[j])
            o2[j] = a
            a = ad_step_nb(a, h3[j], l3[j], c3[j], v3[j])
            o3[j] = a
            a = ad_step_nb(a, h4[j], l4[j], c4[j], v4[j])
            o4[j] = a
            ad[j] = a
            acc[j] += ((nan4_nb(h1[j], l1[j], c1[j], v1[j]) + nan4_nb(h2[j], l2[j], c2[j], v2[j]))
                       + (nan4_nb(h3[j], l3[j], c3[j], v3[j]) + nan4_nb(h4[j], l4[j], c4[j], v4[j])))
        nan_rows4_nb(o1, o2, o3, o4, never)
        t += 4
    for t in range(t, n):  # the last bars, one at a time
        ht = h[t, j0:j1]
        lt = lo[t, j0:j1]
        ct = c[t, j0:j1]
        vt = v[t, j0:j1]
        ot = out[t, j0:j1]
        for j in range(w):
            na = ad_step_nb(ad[j], ht[j], lt[j], ct[j], vt[j])
            ad[j] = na
            ot[j] = na
            acc[j] += nan4_nb(ht[j], lt[j], ct[j], vt[j])
        for j in never:
            ot[j] = NAN
    clear_never_nb(acc, never, holes, j0)


@njit(cache=True, nogil=True, error_model="numpy")
def adosc_rows_nb(h, lo, c, v, out, fast, slow, start, j0, j1, holes):
    """TA_ADOSC per column: EMA(fast) - EMA(slow) of the A/D line, both seeded with its first value,
    e = (k * ad) + ((1 - k) * e); values from bar max(fast, slow) - 1."""
    n = c.shape[0]
    w = j1 - j0
    st = start.copy()
    lb = max(fast, slow) - 1
    kf = 2.0 / (fast + 1.0)
    ks = 2.0 / (slow + 1.0)
    kf1 = 1.0 - kf
    ks1 = 1.0 - ks
    acc = np.zeros(w)
    ad = np.zeros(w)
    ef = np.zeros(w)
    es = np.zeros(w)
    smax, never = late_nb(st, n)
    ready = smax + max(lb, 1)  # from here every column that starts has k >= 1 and k >= lb
    for t in range(st.min(), min(ready, n)):
        ht = h[t, j0:j1]
        lt = lo[t, j0:j1]
        ct = c[t, j0:j1]
        vt = v[t, j0:j1]
        ot = out[t, j0:j1]
        for j in range(w):
            k = t - st[j]
            hv = ht[j]
            lv = lt[j]
            cv = ct[j]
            vv = vt[j]
            na = ad_step_nb(0.0 if k <= 0 else ad[j], hv, lv, cv, vv)
            ad[j] = na
            f = na if k == 0 else (kf * na) + (kf1 * ef[j])
            s = na if k == 0 else (ks * na) + (ks1 * es[j])
            ef[j] = f
            es[j] = s
            ot[j] = f - s if k >= lb else NAN
            acc[j] += nan4_nb(hv, lv, cv, vv) if k >= 0 else 0.0
    t = max(ready, st.min())
    while t + 2 <= n:  # two bars a pass: the A/D line and both EMAs in registers across them (a four-bar
        # pass of this loop did not vectorise: no vdivpd, 7.2 ms vs 4.8 ms for two bars)
        h1 = h[t, j0:j1]
        h2 = h[t + 1, j0:j1]
        l1 = lo[t, j0:j1]
        l2 = lo[t + 1, j0:j1]
        c1 = c[t, j0:j1]
        c2 = c[t + 1, j0:j1]
        v1 = v[t, j0:j1]
        v2 = v[t + 1, j0:j1]
        o1 = out[t, j0:j1]
        o2 = out[t + 1, j0:j1]
        for j in range(w):
            a = ad_step_nb(ad[j], h1[j], l1[j], c1[j], v1[j])
            f = (kf * a) + (kf1 * ef[j])
            s = (ks * a) + (ks1 * es[j])
            o1[j] = f - s
            a = ad_step_nb(a, h2[j], l2[j], c2[j], v2[j])
            f = (kf * a) + (kf1 * f)
            s = (ks * a) + (ks1 * s)
            o2[j] = f - s
            ad[j] = a
            ef[j] = f
            es[j] = s
            acc[j] += nan4_nb(h1[j], l1[j], c1[j], v1[j]) + nan4_nb(h2[j], l2[j], c2[j], v2[j])
        for j in never:
            o1[j] = NAN
            o2[j] = NAN
        t += 2
    for t in range(t, n):  # the last bars, one at a time
        ht = h[t, j0:j1]
        lt = lo[t, j0:j1]
        ct = c[t, j0:j1]
        vt = v[t, j0:j1]
        ot = out[t, j0:j1]
        for j in range(w):
            na = ad_step_nb(ad[j], ht[j], lt[j], ct[j], vt[j])
            ad[j] = na
            f = (kf * na) + (kf1 * ef[j])
            s = (ks * na) + (ks1 * es[j])
            ef[j] = f
            es[j] = s
            ot[j] = f - s
            acc[j] += nan4_nb(ht[j], lt[j], ct[j], vt[j])
        for j in never:
            ot[j] = NAN
    clear_never_nb(acc, never, holes, j0)


@njit(cache=True, nogil=True, error_model="numpy")
def _rows(code, a0, a1, a2, a3, a4, out, p, start, j0, j1, holes):
    if code == 0:
        obv_rows_nb(a0, a1, out[0], start, j0, j1, holes)
    elif code == 1:
        ad_rows_nb(a0, a1, a2, a3, out[0], start, j0, j1, holes)
    elif code == 2:
        adosc_rows_nb(a0, a1, a2, a3, out[0], int(p[0]), int(p[1]), start, j0, j1, holes)


@njit(cache=True, parallel=True)
def run_nb(code, a0, a1, a2, a3, a4, n_in, p, out, holes, w):
    """This group's cached driver: common.run_rows_marking_nb with this module's _rows."""
    return run_rows_marking_nb(_rows, code, a0, a1, a2, a3, a4, n_in, p, out, holes, w)
