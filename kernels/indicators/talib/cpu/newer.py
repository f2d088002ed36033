"""Functions TA-Lib added in 0.7/0.8 (AO, AC, QSTICK, DPO, ER, IMI, VHF, VORTEX, WAD, COPPOCK, TSI,
ERI, FOSC, HA, ACCBANDS, KC, PERCENTRANK, KDJ, CMOU, FRACTAL, SUPERTREND, SMI, RVI) and BETA: CPU kernels."""
from __future__ import annotations

import numpy as np
from numba import njit

from kernels.indicators.talib.cpu.common import run_group_nb
from kernels.indicators.talib.cpu.common import (
    max_1d_nb,
    min_1d_nb,
    true_range,
)
from kernels.indicators.cpu import var_1d_nb
from kernels.indicators.talib.cpu.ma import ema_k_1d_nb, ma_1d_nb, ma_lookback_nb, rma_1d_nb, sma_1d_nb, wma_1d_nb
from kernels.indicators.talib.cpu.statistic import linreg_1d_nb
from kernels.indicators.talib.cpu.volume import atr_1d_nb

NAMES = (
    "AO", "AC", "QSTICK", "DPO", "ER", "IMI", "VHF", "VORTEX", "WAD", "COPPOCK", "TSI", "ERI",
    "FOSC", "HA", "ACCBANDS", "KC", "PERCENTRANK", "KDJ", "CMOU", "FRACTAL", "SUPERTREND", "SMI",
    "RVI", "BETA",
)
CODES = {n: i for i, n in enumerate(NAMES)}


@njit(cache=True, nogil=True)
def ao_1d_nb(h, low, out, fast, slow, signal, with_signal):
    n = h.shape[0]
    m = np.empty(n)
    for t in range(n):
        m[t] = (h[t] + low[t]) / 2.0
    a = np.full(n, np.nan)
    b = np.full(n, np.nan)
    sma_1d_nb(m, a, fast)
    sma_1d_nb(m, b, slow)
    lb = max(fast, slow) - 1
    ao = np.full(n, np.nan)
    for t in range(lb, n):
        ao[t] = a[t] - b[t]
    if not with_signal:
        out[lb:] = ao[lb:]
        return
    if n <= lb:
        return
    sg = np.full(n, np.nan)
    sma_1d_nb(ao[lb:], sg[lb:], signal)
    for t in range(lb + signal - 1, n):
        out[t] = ao[t] - sg[t]


@njit(cache=True, nogil=True)
def qstick_1d_nb(o, c, out, period):
    d = np.empty(c.shape[0])
    for t in range(c.shape[0]):
        d[t] = c[t] - o[t]
    sma_1d_nb(d, out, period)


@njit(cache=True, nogil=True)
def dpo_1d_nb(x, out, period):
    n = x.shape[0]
    s = np.full(n, np.nan)
    sma_1d_nb(x, s, period)
    shift = period // 2 + 1
    for t in range(max(period - 1, shift), n):  # period 2: the shifted bar comes after the first SMA
        out[t] = x[t - shift] - s[t]


@njit(cache=True, nogil=True)
def er_1d_nb(x, out, period):
    """TA_ER (TA-Lib 0.8, as cuda/newer.cu's er_1d): the path length a running sum, reset to 0 once
    `period` exactly-zero changes have gone by; 1 where the path is not positive or not above the
    signed net move."""
    n = x.shape[0]
    if n <= period:
        return
    total = 0.0
    null_run = 0
    for t in range(period):
        d = x[t] - x[t + 1]
        total += abs(d)
        null_run = null_run + 1 if d == 0.0 else 0
    trailing_value = x[0]
    for t in range(period, n):
        v2 = x[t - period]
        roc = x[t] - v2
        if t > period:
            total -= abs(trailing_value - v2)
            d = x[t] - x[t - 1]
            total += abs(d)
            null_run = null_run + 1 if d == 0.0 else 0
            if null_run >= period:
                null_run = period
                total = 0.0
        trailing_value = v2
        out[t] = 1.0 if (total <= 0.0 or total <= roc) else abs(roc / total)


@njit(cache=True, nogil=True)
def imi_1d_nb(o, c, out, period):
    n = c.shape[0]
    for t in range(period - 1, n):
        up = 0.0
        dn = 0.0
        for i in range(t - period + 1, t + 1):
            d = c[i] - o[i]
            if d > 0.0:
                up += d
            else:
                dn -= d
        s = up + dn
        out[t] = 100.0 * (up / s) if s != 0.0 else 50.0  # TA-Lib 0.8: a window of dojis is 50


@njit(cache=True, nogil=True)
def vhf_1d_nb(x, out, period):
    n = x.shape[0]
    for t in range(period, n):
        hi = x[t]
        lo = x[t]
        vol = 0.0
        for i in range(t - period + 1, t + 1):
            if x[i] > hi:
                hi = x[i]
            if x[i] < lo:
                lo = x[i]
            vol += abs(x[i] - x[i - 1])
        out[t] = (hi - lo) / vol if vol != 0.0 else 0.0


@njit(cache=True, nogil=True)
def vortex_1d_nb(h, low, c, plus, minus, period):
    n = c.shape[0]
    for t in range(period, n):
        vp = 0.0
        vm = 0.0
        tr = 0.0
        for i in range(t - period + 1, t + 1):
            vp += abs(h[i] - low[i - 1])
            vm += abs(low[i] - h[i - 1])
            tr += true_range(h[i], low[i], c[i - 1])
        plus[t] = vp / tr if tr != 0.0 else 0.0
        minus[t] = vm / tr if tr != 0.0 else 0.0


@njit(cache=True, nogil=True)
def wad_1d_nb(h, low, c, out):
    wad = 0.0
    out[0] = 0.0
    for t in range(1, c.shape[0]):
        pc = c[t - 1]
        if c[t] > pc:
            wad += c[t] - min(low[t], pc)
        elif c[t] < pc:
            wad += c[t] - max(h[t], pc)
        out[t] = wad


@njit(cache=True, nogil=True)
def coppock_1d_nb(x, out, wp, r1, r2):
    n = x.shape[0]
    lb = max(r1, r2)
    if n <= lb + wp - 1:
        return
    s = np.empty(n - lb)
    for t in range(lb, n):
        a = x[t - r1]
        b = x[t - r2]
        ra = ((x[t] / a) - 1.0) * 100.0 if a != 0.0 else 0.0
        rb = ((x[t] / b) - 1.0) * 100.0 if b != 0.0 else 0.0
        s[t - lb] = ra + rb
    wma_1d_nb(s, out[lb:], wp)


@njit(cache=True, nogil=True)
def tsi_1d_nb(x, out, r, s):
    n = x.shape[0]
    if n <= r + s - 1:
        return
    m = np.empty(n - 1)
    a = np.empty(n - 1)
    for t in range(1, n):
        m[t - 1] = x[t] - x[t - 1]
        a[t - 1] = abs(m[t - 1])
    e1 = np.full(n - 1, np.nan)
    e2 = np.full(n - 1, np.nan)
    ema_k_1d_nb(m, e1, r, 2.0 / (r + 1.0))
    ema_k_1d_nb(a, e2, r, 2.0 / (r + 1.0))
    f1 = np.full(n - 1, np.nan)
    f2 = np.full(n - 1, np.nan)
    ema_k_1d_nb(e1[r - 1:], f1[r - 1:], s, 2.0 / (s + 1.0))
    ema_k_1d_nb(e2[r - 1:], f2[r - 1:], s, 2.0 / (s + 1.0))
    for t in range(r + s - 2, n - 1):
        out[t + 1] = 100.0 * (f1[t] / f2[t]) if f2[t] != 0.0 else 0.0


@njit(cache=True, nogil=True)
def eri_1d_nb(h, low, c, bull, bear, period):
    n = c.shape[0]
    e = np.full(n, np.nan)
    ema_k_1d_nb(c, e, period, 2.0 / (period + 1.0))
    for t in range(period - 1, n):
        bull[t] = h[t] - e[t]
        bear[t] = low[t] - e[t]


@njit(cache=True, nogil=True)
def fosc_1d_nb(x, out, period):
    n = x.shape[0]
    tsf = np.full(n, np.nan)
    linreg_1d_nb(x, tsf, period, 4)
    for t in range(period, n):
        out[t] = 100.0 * (x[t] - tsf[t - 1]) / x[t] if x[t] != 0.0 else 0.0  # TA-Lib 0.8.1's order (cuda/newer.cu)


@njit(cache=True, nogil=True)
def ha_1d_nb(o, h, low, c, ho, hh, hl, hc):
    n = c.shape[0]
    po = 0.0
    pc = 0.0
    for t in range(n):
        cl = (o[t] + h[t] + low[t] + c[t]) / 4.0
        op = (o[t] + c[t]) / 2.0 if t == 0 else (po + pc) / 2.0
        ho[t] = op
        hc[t] = cl
        hh[t] = max(h[t], max(op, cl))
        hl[t] = min(low[t], min(op, cl))
        po = op
        pc = cl


@njit(cache=True, nogil=True)
def accbands_1d_nb(h, low, c, up, mid, lo, period):
    n = c.shape[0]
    u = np.empty(n)
    d = np.empty(n)
    for t in range(n):
        s = h[t] + low[t]  # TA-Lib: the bar's own high / low where h + low is exactly 0
        u[t] = h[t] if s == 0.0 else h[t] * (1.0 + 4.0 * (h[t] - low[t]) / s)
        d[t] = low[t] if s == 0.0 else low[t] * (1.0 - 4.0 * (h[t] - low[t]) / s)
    sma_1d_nb(u, up, period)
    sma_1d_nb(c, mid, period)
    sma_1d_nb(d, lo, period)


@njit(cache=True, nogil=True)
def kc_1d_nb(h, low, c, up, mid, lo, period, atrp, nbdev):
    n = c.shape[0]
    tp = np.empty(n)
    for t in range(n):
        tp[t] = (h[t] + low[t] + c[t]) / 3.0
    lb = max(period - 1, atrp)
    if n <= lb:
        return
    e = np.full(n, np.nan)
    ema_k_1d_nb(tp[lb - (period - 1):], e[lb - (period - 1):], period, 2.0 / (period + 1.0))
    a = np.full(n, np.nan)
    atr_1d_nb(h[lb - atrp:], low[lb - atrp:], c[lb - atrp:], a[lb - atrp:], atrp, False)
    for t in range(lb, n):
        mid[t] = e[t]
        up[t] = e[t] + nbdev * a[t]
        lo[t] = e[t] - nbdev * a[t]


@njit(cache=True, nogil=True)
def percentrank_1d_nb(x, out, period):
    n = x.shape[0]
    for t in range(period, n):
        cnt = 0
        for i in range(t - period, t):
            if x[i] < x[t]:
                cnt += 1
        out[t] = 100.0 * cnt / period


@njit(cache=True, nogil=True)
def kdj_1d_nb(h, low, c, ko, do, jo, fk, sk, skmt, sd, sdmt):
    n = c.shape[0]
    skmt = 13 if skmt == 11 else skmt  # TA-Lib 0.8: matype 11 (DEFAULT) is KDJ's own default, RMA
    sdmt = 13 if sdmt == 11 else sdmt
    lbk = ma_lookback_nb(sk, skmt)
    lbd = ma_lookback_nb(sd, sdmt)
    lb = fk - 1 + lbk + lbd
    if n <= lb:
        return
    k = np.full(n, np.nan)
    hh = np.full(n, np.nan)
    ll = np.full(n, np.nan)
    max_1d_nb(h, hh, fk)
    min_1d_nb(low, ll, fk)
    for t in range(fk - 1, n):  # TA-Lib 0.8's KDJ fast %K: 100 * ((c - LL) / (HH - LL)), 0 where HH == LL
        diff = hh[t] - ll[t]
        k[t] = 100.0 * ((c[t] - ll[t]) / diff) if diff != 0.0 else 0.0
    s1 = np.full(n, np.nan)
    ma_1d_nb(k[fk - 1:], s1[fk - 1:], sk, skmt)
    s2 = np.full(n, np.nan)
    ma_1d_nb(s1[fk - 1 + lbk:], s2[fk - 1 + lbk:], sd, sdmt)
    for t in range(lb, n):
        ko[t] = s1[t]
        do[t] = s2[t]
        jo[t] = 3.0 * s1[t] - 2.0 * s2[t]


@njit(cache=True, nogil=True)
def cmou_1d_nb(x, out, period):
    """Chande's momentum oscillator without smoothing: 100 * (up - down) / (up + down) over `period` changes."""
    n = x.shape[0]
    for t in range(period, n):
        up = 0.0
        dn = 0.0
        for i in range(t - period + 1, t + 1):
            d = x[i] - x[i - 1]
            if d > 0.0:
                up += d
            elif d < 0.0:
                dn -= d
        s = up + dn
        out[t] = 100.0 * ((up - dn) / s) if s != 0.0 else 0.0


@njit(cache=True, nogil=True)
def fractal_1d_nb(h, low, sh, sl, left, right):
    """Williams fractals, reported `right` bars after the fractal bar: 100 where it is one."""
    n = h.shape[0]
    for t in range(left + right, n):
        m = t - right
        hi = True
        lo = True
        for j in range(m - left, t + 1):
            if j == m:
                continue
            if not h[m] > h[j]:
                hi = False
            if not low[m] < low[j]:
                lo = False
        sh[t] = 100.0 if hi else 0.0
        sl[t] = 100.0 if lo else 0.0


@njit(cache=True, nogil=True)
def supertrend_1d_nb(h, low, c, st, trend, period, mult):
    n = c.shape[0]
    if n <= period:
        return
    a = np.full(n, np.nan)
    atr_1d_nb(h, low, c, a, period, False)
    fu = 0.0
    fl = 0.0
    tr = 1.0
    for t in range(period, n):
        mid = (h[t] + low[t]) / 2.0
        bu = mid + mult * a[t]
        bl = mid - mult * a[t]
        if t == period:
            fu = bu
            fl = bl
        else:
            fu = bu if (bu < fu or c[t - 1] > fu) else fu
            fl = bl if (bl > fl or c[t - 1] < fl) else fl
            if tr == 1.0 and c[t] < fl:
                tr = -1.0
            elif tr == -1.0 and c[t] > fu:
                tr = 1.0
        st[t] = fl if tr == 1.0 else fu
        trend[t] = tr


@njit(cache=True, nogil=True)
def smi_1d_nb(h, low, c, smi, sig, period, fast, slow, signal):
    """Stochastic momentum index: 100 * EMA_fast(EMA_slow(c - mid)) / (0.5 * EMA_fast(EMA_slow(HH - LL)))."""
    n = c.shape[0]
    lb0 = period - 1
    lb = lb0 + slow - 1 + fast - 1 + signal - 1
    if n <= lb:
        return
    hh = np.full(n, np.nan)
    ll = np.full(n, np.nan)
    max_1d_nb(h, hh, period)
    min_1d_nb(low, ll, period)
    d = np.empty(n - lb0)
    r = np.empty(n - lb0)
    for t in range(lb0, n):
        d[t - lb0] = c[t] - (hh[t] + ll[t]) / 2.0
        r[t - lb0] = hh[t] - ll[t]
    m = n - lb0
    d1 = np.full(m, np.nan)
    r1 = np.full(m, np.nan)
    ema_k_1d_nb(d, d1, slow, 2.0 / (slow + 1.0))
    ema_k_1d_nb(r, r1, slow, 2.0 / (slow + 1.0))
    d2 = np.full(m, np.nan)
    r2 = np.full(m, np.nan)
    ema_k_1d_nb(d1[slow - 1:], d2[slow - 1:], fast, 2.0 / (fast + 1.0))
    ema_k_1d_nb(r1[slow - 1:], r2[slow - 1:], fast, 2.0 / (fast + 1.0))
    k0 = slow - 1 + fast - 1
    v = np.full(m, np.nan)
    for t in range(k0, m):
        half = 0.5 * r2[t]  # TA-Lib 0.8.1 (its #253): 0 unless the smoothed range is positive (HH < LL: 0)
        v[t] = 100.0 * d2[t] / half if half > 0.0 else 0.0
    sg = np.full(m, np.nan)
    ema_k_1d_nb(v[k0:], sg[k0:], signal, 2.0 / (signal + 1.0))
    for t in range(lb, n):
        smi[t] = v[t - lb0]
        sig[t] = sg[t - lb0]


@njit(cache=True, nogil=True)
def rvi_1d_nb(x, out, period, sdp):
    """Relative volatility index: Wilder-smoothed (RMA) stddev on up / down bars, 100 * up / (up + down)."""
    n = x.shape[0]
    lb0 = sdp - 1
    if n <= lb0 + period - 1:
        return
    var = np.full(n, np.nan)
    var_1d_nb(x, sdp, var)
    m = n - lb0
    up = np.empty(m)
    dn = np.empty(m)
    for t in range(lb0, n):
        sd = np.sqrt(var[t])
        d = x[t] - x[t - 1]
        up[t - lb0] = sd if d > 0.0 else 0.0
        dn[t - lb0] = sd if d < 0.0 else 0.0
    u = np.full(m, np.nan)
    w = np.full(m, np.nan)
    rma_1d_nb(up, u, period)
    rma_1d_nb(dn, w, period)
    for t in range(period - 1, m):
        s = u[t] + w[t]
        out[t + lb0] = 100.0 * u[t] / s if s != 0.0 else 50.0  # TA-Lib 0.8: no up or down volatility is 50


@njit(cache=True, nogil=True, inline="always")
def _bret(v, prev, shift):
    return (v - prev) / prev - shift if prev != 0.0 else -shift


@njit(cache=True, nogil=True)
def _beta_rebuild_nb(x, y, ws, last, prev_x, prev_y, nn):
    """The shifts (window means of the returns) and the sums over the returns of bars ws .. last."""
    px = prev_x
    py = prev_y
    ax = 0.0
    ay = 0.0
    for j in range(ws, last + 1):
        if px != 0.0:
            ax += (x[j] - px) / px
        px = x[j]
        if py != 0.0:
            ay += (y[j] - py) / py
        py = y[j]
    shift_x = ax / nn
    shift_y = ay / nn
    sxx = 0.0
    sxy = 0.0
    sx = 0.0
    sy = 0.0
    px = prev_x
    py = prev_y
    for j in range(ws, last + 1):
        a = _bret(x[j], px, shift_x)
        px = x[j]
        b = _bret(y[j], py, shift_y)
        py = y[j]
        sxx += a * a
        sxy += a * b
        sx += a
        sy += b
    return sxx, sxy, sx, sy, shift_x, shift_y


@njit(cache=True, nogil=True)
def beta_1d_nb(x, y, out, period):
    """TA_BETA (TA-Lib 0.8, as cuda/newer.cu's beta_1d): regression slope of y's bar returns on x's
    over `period` returns, the returns measured from shifts (the first return, then the window means
    at each re-anchor) so that n Sxx - Sx^2 does not cancel; re-anchored when that falls under 1e-6 of
    n Sxx, when the squared return that left dwarfs Sxx (1e3) and every 32 * period bars; 0 where it
    is not above 1e-14 of n Sxx. A return is 0 where the previous price is exactly 0."""
    n = x.shape[0]
    if n <= period:
        return
    last_x = x[0]
    last_y = y[0]
    tlx = x[0]
    tly = y[0]
    shift_x = (x[1] - last_x) / last_x if last_x != 0.0 else 0.0
    shift_y = (y[1] - last_y) / last_y if last_y != 0.0 else 0.0
    sxx = 0.0
    sxy = 0.0
    sx = 0.0
    sy = 0.0
    for i in range(1, period):
        a = _bret(x[i], last_x, shift_x)
        last_x = x[i]
        b = _bret(y[i], last_y, shift_y)
        last_y = y[i]
        sxx += a * a
        sxy += a * b
        sx += a
        sy += b
    nn = float(period)
    bars = 32 * period
    leaving_xx = 0.0
    for t in range(period, n):
        a = _bret(x[t], last_x, shift_x)
        last_x = x[t]
        b = _bret(y[t], last_y, shift_y)
        last_y = y[t]
        sxx += a * a
        sxy += a * b
        sx += a
        sy += b
        scale = nn * sxx
        denom = scale - (sx * sx)
        bars -= 1
        if denom < 0.000001 * scale or leaving_xx > 1000.0 * sxx or bars <= 0:
            bars = 32 * period
            sxx, sxy, sx, sy, shift_x, shift_y = _beta_rebuild_nb(x, y, t - period + 1, t, tlx, tly, nn)
            scale = nn * sxx
            denom = scale - (sx * sx)
            if denom < 0.0:
                denom = 0.0
        # the return leaving the window: bar t - period + 1 against its predecessor
        q = t - period + 1
        ta = _bret(x[q], tlx, shift_x)
        tlx = x[q]
        tb = _bret(y[q], tly, shift_y)
        tly = y[q]
        out[t] = ((nn * sxy) - (sx * sy)) / denom if denom > 0.00000000000001 * scale else 0.0
        leaving_xx = ta * ta
        sxx -= ta * ta
        sxy -= ta * tb
        sx -= ta
        sy -= tb


@njit(cache=True, nogil=True)
def _col(code, c0, c1, c2, c3, c4, o, p, s):
    if code == 0 or code == 1:
        ao_1d_nb(c0, c1, o[0], int(p[0]), int(p[1]), int(p[2]) if code == 1 else 1, code == 1)
    elif code == 2:
        qstick_1d_nb(c0, c1, o[0], int(p[0]))
    elif code == 3:
        dpo_1d_nb(c0, o[0], int(p[0]))
    elif code == 4:
        er_1d_nb(c0, o[0], int(p[0]))
    elif code == 5:
        imi_1d_nb(c0, c1, o[0], int(p[0]))
    elif code == 6:
        vhf_1d_nb(c0, o[0], int(p[0]))
    elif code == 7:
        vortex_1d_nb(c0, c1, c2, o[0], o[1], int(p[0]))
    elif code == 8:
        wad_1d_nb(c0, c1, c2, o[0])
    elif code == 9:
        coppock_1d_nb(c0, o[0], int(p[0]), int(p[1]), int(p[2]))
    elif code == 10:
        tsi_1d_nb(c0, o[0], int(p[0]), int(p[1]))
    elif code == 11:
        eri_1d_nb(c0, c1, c2, o[0], o[1], int(p[0]))
    elif code == 12:
        fosc_1d_nb(c0, o[0], int(p[0]))
    elif code == 13:
        ha_1d_nb(c0, c1, c2, c3, o[0], o[1], o[2], o[3])
    elif code == 14:
        accbands_1d_nb(c0, c1, c2, o[0], o[1], o[2], int(p[0]))
    elif code == 15:
        kc_1d_nb(c0, c1, c2, o[0], o[1], o[2], int(p[0]), int(p[1]), p[2])
    elif code == 16:
        percentrank_1d_nb(c0, o[0], int(p[0]))
    elif code == 18:
        cmou_1d_nb(c0, o[0], int(p[0]))
    elif code == 19:
        fractal_1d_nb(c0, c1, o[0], o[1], int(p[0]), int(p[1]))
    elif code == 20:
        supertrend_1d_nb(c0, c1, c2, o[0], o[1], int(p[0]), p[1])
    elif code == 21:
        smi_1d_nb(c0, c1, c2, o[0], o[1], int(p[0]), int(p[1]), int(p[2]), int(p[3]))
    elif code == 22:
        rvi_1d_nb(c0, o[0], int(p[0]), int(p[1]))
    elif code == 23:
        beta_1d_nb(c0, c1, o[0], int(p[0]))
    elif code == 17:
        kdj_1d_nb(c0, c1, c2, o[0], o[1], o[2], int(p[0]), int(p[1]), int(p[2]), int(p[3]), int(p[4]))


@njit(cache=True, parallel=True)
def run_nb(code, a0, a1, a2, a3, a4, n_in, p, out, holes):
    """This group's cached driver: common.run_group_nb with this module's _col (a cached function
    must not take a dispatcher argument: Numba cannot re-save such an index from another process)."""
    return run_group_nb(_col, code, a0, a1, a2, a3, a4, n_in, p, out, holes)
