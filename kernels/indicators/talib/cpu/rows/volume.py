"""Row kernels of the volume functions: OBV, AD, ADOSC (see common.py for the contract).

TA-Lib's arithmetic of `cpu/volume.py` (obv_1d_nb, ad_1d_nb, adosc_1d_nb), column by column, so
the outputs are bit-identical to the column kernels.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from kernels.indicators.talib.cpu.rows.common import NAN, run_rows_nb

NAMES = ("OBV", "AD", "ADOSC")


@njit(cache=True, nogil=True, error_model="numpy")
def obv_rows_nb(c, v, out, start, j0, j1):
    """TA_OBV per column: starts at the first volume, then + volume on an up close, - volume on a down one."""
    n = c.shape[0]
    w = j1 - j0
    st = start.copy()
    obv = np.zeros(w)
    prev = np.zeros(w)
    for t in range(st.min(), n):
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


@njit(cache=True, nogil=True, error_model="numpy")
def ad_rows_nb(h, lo, c, v, out, start, j0, j1):
    """TA_AD per column: ad += (((c - l) - (h - c)) / (h - l)) * v where h - l > 0."""
    n = c.shape[0]
    w = j1 - j0
    st = start.copy()
    ad = np.zeros(w)
    for t in range(st.min(), n):
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
            rng = hv - lv
            a = 0.0 if k <= 0 else ad[j]
            na = a + (((cv - lv) - (hv - cv)) / rng) * vt[j] if rng > 0.0 else a
            ad[j] = na
            ot[j] = na if k >= 0 else NAN


@njit(cache=True, nogil=True, error_model="numpy")
def adosc_rows_nb(h, lo, c, v, out, fast, slow, start, j0, j1):
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
    ad = np.zeros(w)
    ef = np.zeros(w)
    es = np.zeros(w)
    for t in range(st.min(), n):
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
            rng = hv - lv
            a = 0.0 if k <= 0 else ad[j]
            na = a + (((cv - lv) - (hv - cv)) / rng) * vt[j] if rng > 0.0 else a
            ad[j] = na
            f = na if k == 0 else (kf * na) + (kf1 * ef[j])
            s = na if k == 0 else (ks * na) + (ks1 * es[j])
            ef[j] = f
            es[j] = s
            ot[j] = f - s if k >= lb else NAN


@njit(cache=True, nogil=True, error_model="numpy")
def _rows(code, a0, a1, a2, a3, a4, out, p, start, j0, j1):
    if code == 0:
        obv_rows_nb(a0, a1, out[0], start, j0, j1)
    elif code == 1:
        ad_rows_nb(a0, a1, a2, a3, out[0], start, j0, j1)
    elif code == 2:
        adosc_rows_nb(a0, a1, a2, a3, out[0], int(p[0]), int(p[1]), start, j0, j1)


@njit(cache=True, parallel=True)
def run_nb(code, a0, a1, a2, a3, a4, n_in, p, n_out, holes, w):
    """This group's cached driver: common.run_rows_nb with this module's _rows."""
    return run_rows_nb(_rows, code, a0, a1, a2, a3, a4, n_in, p, n_out, holes, w)
