"""Volume and volatility indicators (TA-Lib groups "Volume Indicators", "Volatility Indicators"): CPU kernels."""
from __future__ import annotations

import numpy as np
from numba import njit

from kernels.indicators.talib.cpu.common import run_group_nb
from kernels.indicators.talib.cpu.common import (
    sum_1d_nb,
    true_range,
)
from kernels.indicators.talib.cpu.ma import ema_k_1d_nb, sma_1d_nb
from kernels.indicators.talib.cpu.momentum import po_1d_nb

NAMES = (
    "AD", "ADOSC", "OBV", "TRANGE", "ATR", "NATR", "ADR", "CVI", "MASSI", "PVO", "PVT", "CMF",
    "EFI", "RVOL", "VWAP", "NVI", "PVI",
)
CODES = {n: i for i, n in enumerate(NAMES)}


@njit(cache=True, nogil=True)
def ad_1d_nb(h, low, c, v, out):
    ad = 0.0
    for t in range(c.shape[0]):
        rng = h[t] - low[t]
        if rng > 0.0:
            ad += (((c[t] - low[t]) - (h[t] - c[t])) / rng) * v[t]
        out[t] = ad


@njit(cache=True, nogil=True)
def adosc_1d_nb(h, low, c, v, out, fast, slow):
    """TA_ADOSC: EMA(fast) - EMA(slow) of the A/D line, both seeded with its first value."""
    n = c.shape[0]
    lb = max(fast, slow) - 1
    kf = 2.0 / (fast + 1.0)
    ks = 2.0 / (slow + 1.0)
    ad = 0.0
    ef = 0.0
    es = 0.0
    for t in range(n):
        rng = h[t] - low[t]
        if rng > 0.0:
            ad += (((c[t] - low[t]) - (h[t] - c[t])) / rng) * v[t]
        if t == 0:
            ef = ad
            es = ad
        else:
            ef = (kf * ad) + ((1.0 - kf) * ef)
            es = (ks * ad) + ((1.0 - ks) * es)
        if t >= lb:
            out[t] = ef - es


@njit(cache=True, nogil=True)
def obv_1d_nb(c, v, out):
    n = c.shape[0]
    obv = v[0]
    prev = c[0]
    out[0] = obv
    for t in range(1, n):
        if c[t] > prev:
            obv += v[t]
        elif c[t] < prev:
            obv -= v[t]
        out[t] = obv
        prev = c[t]


@njit(cache=True, nogil=True)
def atr_1d_nb(h, low, c, out, period, normalised):
    n = c.shape[0]
    if n <= period:
        return
    if period == 1:
        for t in range(1, n):
            out[t] = true_range(h[t], low[t], c[t - 1])  # TA-Lib: NATR(1) is TRANGE, not normalised
        return
    total = 0.0
    for t in range(1, period + 1):
        total += true_range(h[t], low[t], c[t - 1])
    prev = total / period
    for t in range(period, n):
        if t > period:
            prev *= period - 1
            prev += true_range(h[t], low[t], c[t - 1])
            prev /= period
        if normalised:
            out[t] = (prev / c[t]) * 100.0 if c[t] != 0.0 else 0.0  # TA-Lib: an exact zero test
        else:
            out[t] = prev


@njit(cache=True, nogil=True)
def trange_1d_nb(h, low, c, out):
    for t in range(1, c.shape[0]):
        out[t] = true_range(h[t], low[t], c[t - 1])


@njit(cache=True, nogil=True)
def adr_1d_nb(h, low, out, period):
    d = np.empty(h.shape[0])
    for t in range(h.shape[0]):
        d[t] = h[t] - low[t]
    sma_1d_nb(d, out, period)


@njit(cache=True, nogil=True)
def cvi_1d_nb(h, low, out, period, rocp):
    n = h.shape[0]
    d = np.empty(n)
    for t in range(n):
        d[t] = h[t] - low[t]
    e = np.full(n, np.nan)
    ema_k_1d_nb(d, e, period, 2.0 / (period + 1.0))
    for t in range(period - 1 + rocp, n):
        prev = e[t - rocp]
        out[t] = ((e[t] - prev) / prev) * 100.0 if prev != 0.0 else 0.0


@njit(cache=True, nogil=True)
def massi_1d_nb(h, low, out, fast, slow):
    n = h.shape[0]
    lb1 = fast - 1
    if n <= 2 * lb1 + slow - 1:
        return
    d = np.empty(n)
    for t in range(n):
        d[t] = h[t] - low[t]
    k = 2.0 / (fast + 1.0)
    e1 = np.full(n, np.nan)
    e2 = np.full(n, np.nan)
    ema_k_1d_nb(d, e1, fast, k)
    ema_k_1d_nb(e1[lb1:], e2[lb1:], fast, k)
    r = np.empty(n - 2 * lb1)
    for t in range(2 * lb1, n):
        r[t - 2 * lb1] = e1[t] / e2[t] if e2[t] != 0.0 else 1.0  # TA-Lib: a ratio of 1 while every range is 0
    sum_1d_nb(r, out[2 * lb1:], slow)


@njit(cache=True, nogil=True)
def pvt_1d_nb(c, v, out):
    pvt = 0.0
    out[0] = 0.0
    for t in range(1, c.shape[0]):
        prev = c[t - 1]
        if prev != 0.0:
            pvt += ((c[t] - prev) / prev) * v[t]
        out[t] = pvt


@njit(cache=True, nogil=True)
def cmf_1d_nb(h, low, c, v, out, period):
    n = c.shape[0]
    mfv = np.empty(n)
    for t in range(n):
        rng = h[t] - low[t]
        mfv[t] = (((c[t] - low[t]) - (h[t] - c[t])) / rng) * v[t] if rng > 0.0 else 0.0
    s1 = np.full(n, np.nan)
    s2 = np.full(n, np.nan)
    sum_1d_nb(mfv, s1, period)
    sum_1d_nb(v, s2, period)
    for t in range(period - 1, n):
        out[t] = s1[t] / s2[t] if s2[t] > 0.0 else 0.0  # TA-Lib 0.8.1: 0 unless the window's volume is positive


@njit(cache=True, nogil=True)
def efi_1d_nb(c, v, out, period):
    n = c.shape[0]
    if n <= period:
        return
    f = np.empty(n - 1)
    for t in range(1, n):
        f[t - 1] = (c[t] - c[t - 1]) * v[t]
    ema_k_1d_nb(f, out[1:], period, 2.0 / (period + 1.0))


@njit(cache=True, nogil=True, error_model="numpy")  # 0 / 0 is NaN, as TA-Lib's
def rvol_1d_nb(v, out, period):
    """TA_RVOL (TA-Lib 0.8.1): volume / the mean volume of the `period` bars before it, the window's total kept
    by drop-then-add (a window of zero volumes keeps its rounding residue: x / residue, as TA-Lib's); 0 / 0 is
    NaN, as TA-Lib's."""
    n = v.shape[0]
    if n <= period:
        return
    total = 0.0
    for i in range(period):
        total += v[i]
    for t in range(period, n):
        base = total / period
        total -= v[t - period]
        today = v[t]
        total += today
        out[t] = today / base


@njit(cache=True, nogil=True)
def vwap_1d_nb(h, low, c, v, out):
    """TA_VWAP (TA-Lib 0.8.1): cumulative; while the volume sum is not positive the last value is carried (0.0
    before the first), as TA-Lib does; a bar with a non-finite typical price or volume is left out."""
    spv = 0.0
    sv = 0.0
    vw = 0.0
    for t in range(c.shape[0]):
        tp = (h[t] + low[t] + c[t]) / 3.0
        vol = v[t]
        if np.isfinite(tp) and np.isfinite(vol):
            pv = tp * vol
            spv += pv
            sv += vol
        if sv > 0.0:
            vw = spv / sv
        out[t] = vw


@njit(cache=True, nogil=True)
def nvi_1d_nb(c, v, out, positive):
    x = 1000.0
    out[0] = x
    for t in range(1, c.shape[0]):
        up = v[t] > v[t - 1]
        dn = v[t] < v[t - 1]
        if (positive and up) or ((not positive) and dn):
            prev = c[t - 1]
            if prev != 0.0:
                x += x * ((c[t] - prev) / prev)
        out[t] = x


@njit(cache=True, nogil=True)
def _col(code, c0, c1, c2, c3, c4, o, p, s):
    if code == 0:
        ad_1d_nb(c0, c1, c2, c3, o[0])
    elif code == 1:
        adosc_1d_nb(c0, c1, c2, c3, o[0], int(p[0]), int(p[1]))
    elif code == 2:
        obv_1d_nb(c0, c1, o[0])
    elif code == 3:
        trange_1d_nb(c0, c1, c2, o[0])
    elif code == 4 or code == 5:
        atr_1d_nb(c0, c1, c2, o[0], int(p[0]), code == 5)
    elif code == 6:
        adr_1d_nb(c0, c1, o[0], int(p[0]))
    elif code == 7:
        cvi_1d_nb(c0, c1, o[0], int(p[0]), int(p[1]))
    elif code == 8:
        massi_1d_nb(c0, c1, o[0], int(p[0]), int(p[1]))
    elif code == 9:
        po_1d_nb(c0, o[0], int(p[0]), int(p[1]), int(p[2]), True)
    elif code == 10:
        pvt_1d_nb(c0, c1, o[0])
    elif code == 11:
        cmf_1d_nb(c0, c1, c2, c3, o[0], int(p[0]))
    elif code == 12:
        efi_1d_nb(c0, c1, o[0], int(p[0]))
    elif code == 13:
        rvol_1d_nb(c0, o[0], int(p[0]))
    elif code == 14:
        vwap_1d_nb(c0, c1, c2, c3, o[0])
    elif code == 15 or code == 16:
        nvi_1d_nb(c0, c1, o[0], code == 16)


@njit(cache=True, parallel=True)
def run_nb(code, a0, a1, a2, a3, a4, n_in, p, out, holes):
    """This group's cached driver: common.run_group_nb with this module's _col (a cached function
    must not take a dispatcher argument: Numba cannot re-save such an index from another process)."""
    return run_group_nb(_col, code, a0, a1, a2, a3, a4, n_in, p, out, holes)
