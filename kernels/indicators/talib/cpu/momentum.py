"""Momentum indicators (TA-Lib group "Momentum Indicators"): CPU kernels and their driver."""
from __future__ import annotations

import numpy as np
from numba import njit

from kernels.indicators.cpu import rsi_1d_nb as _rsi_nb
from kernels.indicators.talib.cpu.common import run_group_nb
from kernels.indicators.talib.cpu.common import (
    is_zero, max_1d_nb, min_1d_nb, true_range,
)
from kernels.indicators.talib.cpu.ma import ema_k_1d_nb, ma_1d_nb, ma_lookback_nb

NAMES = (
    "RSI", "MOM", "ROC", "ROCP", "ROCR", "ROCR100", "MACD", "MACDFIX", "MACDEXT", "APO", "PPO",
    "STOCH", "STOCHF", "STOCHRSI", "WILLR", "CCI", "CMO", "MFI", "AROON", "AROONOSC",
    "PLUS_DM", "MINUS_DM", "PLUS_DI", "MINUS_DI", "DX", "ADX", "ADXR", "TRIX", "ULTOSC",
)
CODES = {n: i for i, n in enumerate(NAMES)}


@njit(cache=True, nogil=True)
def rsi_1d_nb(x, out, period):
    _rsi_nb(x, period, out)


@njit(cache=True, nogil=True)
def roc_family_1d_nb(x, out, period, kind):
    """MOM (0), ROC (1), ROCP (2), ROCR (3), ROCR100 (4): TA-Lib's formulas and zero checks."""
    n = x.shape[0]
    for t in range(period, n):
        prev = x[t - period]
        v = x[t]
        if kind == 0:
            out[t] = v - prev
        elif prev != 0.0:
            if kind == 1:
                out[t] = ((v / prev) - 1.0) * 100.0
            elif kind == 2:
                out[t] = (v - prev) / prev
            elif kind == 3:
                out[t] = v / prev
            else:
                out[t] = (v / prev) * 100.0
        else:
            out[t] = 0.0


@njit(cache=True, nogil=True)
def macd_k_1d_nb(x, macd, sig, hist, fast, slow, signal, kf, ks):
    """TA_INT_MACD: EMAs with factors kf / ks, the fast one seeded on the slow one's window."""
    n = x.shape[0]
    if slow < fast:
        fast, slow = slow, fast
        kf, ks = ks, kf
    lb_slow = slow - 1
    lb = lb_slow + signal - 1
    if n <= lb:
        return
    ef = np.full(n, np.nan)
    es = np.full(n, np.nan)
    ema_k_1d_nb(x[lb_slow - (fast - 1):], ef[lb_slow - (fast - 1):], fast, kf)
    ema_k_1d_nb(x, es, slow, ks)
    m = np.full(n, np.nan)
    for t in range(lb_slow, n):
        m[t] = ef[t] - es[t]
    sg = np.full(n, np.nan)
    if signal == 1:
        sg[lb_slow:] = m[lb_slow:]
    else:
        ema_k_1d_nb(m[lb_slow:], sg[lb_slow:], signal, 2.0 / (signal + 1.0))
    for t in range(lb, n):
        macd[t] = m[t]
        sig[t] = sg[t]
        hist[t] = m[t] - sg[t]


@njit(cache=True, nogil=True)
def macdext_1d_nb(x, macd, sig, hist, fast, fmt, slow, smt, signal, sgmt):
    n = x.shape[0]
    if slow < fast:
        fast, slow = slow, fast
        fmt, smt = smt, fmt
    lbf = ma_lookback_nb(fast, fmt)
    lbs = ma_lookback_nb(slow, smt)
    m0 = max(lbf, lbs)
    lb = m0 + ma_lookback_nb(signal, sgmt)
    if n <= lb:
        return
    ef = np.full(n, np.nan)
    es = np.full(n, np.nan)
    ma_1d_nb(x[m0 - lbf:], ef[m0 - lbf:], fast, fmt)
    ma_1d_nb(x[m0 - lbs:], es[m0 - lbs:], slow, smt)
    m = np.full(n, np.nan)
    for t in range(m0, n):
        m[t] = ef[t] - es[t]
    sg = np.full(n, np.nan)
    ma_1d_nb(m[m0:], sg[m0:], signal, sgmt)
    for t in range(lb, n):
        macd[t] = m[t]
        sig[t] = sg[t]
        hist[t] = m[t] - sg[t]


@njit(cache=True, nogil=True)
def po_1d_nb(x, out, fast, slow, matype, percent):
    """TA_INT_PO: APO = fast MA - slow MA; PPO = (fast - slow) / slow * 100 (0 where slow is ~0)."""
    n = x.shape[0]
    if slow < fast:
        fast, slow = slow, fast
    if matype == 11:
        matype = 1
    lbs = ma_lookback_nb(slow, matype)
    if n <= lbs:
        return
    ef = np.full(n, np.nan)
    es = np.full(n, np.nan)
    ma_1d_nb(x, ef, fast, matype)
    ma_1d_nb(x, es, slow, matype)
    for t in range(lbs, n):
        if percent:
            s = es[t]
            out[t] = ((ef[t] - s) / s) * 100.0 if not is_zero(s) else 0.0
        else:
            out[t] = ef[t] - es[t]


@njit(cache=True, nogil=True)
def fastk_1d_nb(h, low, c, out, period):
    """Fast %K from bar period-1: (close - LL) / (HH - LL) * 100 (TA-Lib's rounding), 0 where |HH - LL| is not above
    1e-14 of |HH| + |LL| (TA-Lib 0.8: a window flat up to rounding, as RSI's in STOCHRSI). A window whose highs lie
    below its lows (HH < LL) takes the formula too, negative range and all, as TA-Lib does."""
    n = c.shape[0]
    hh = np.full(n, np.nan)
    ll = np.full(n, np.nan)
    max_1d_nb(h, hh, period)
    min_1d_nb(low, ll, period)
    for t in range(period - 1, n):
        d = hh[t] - ll[t]
        out[t] = 0.0 if abs(d) <= 1e-14 * (abs(hh[t]) + abs(ll[t])) else (c[t] - ll[t]) / d * 100.0  # NaN: NaN


@njit(cache=True, nogil=True)
def stoch_1d_nb(h, low, c, slowk, slowd, fk, sk, skmt, sd, sdmt):
    n = c.shape[0]
    lbk = ma_lookback_nb(sk, skmt)
    lbd = ma_lookback_nb(sd, sdmt)
    lb = fk - 1 + lbk + lbd
    if n <= lb:
        return
    k = np.full(n, np.nan)
    fastk_1d_nb(h, low, c, k, fk)
    s1 = np.full(n, np.nan)
    ma_1d_nb(k[fk - 1:], s1[fk - 1:], sk, skmt)
    s2 = np.full(n, np.nan)
    ma_1d_nb(s1[fk - 1 + lbk:], s2[fk - 1 + lbk:], sd, sdmt)
    for t in range(lb, n):
        slowk[t] = s1[t]
        slowd[t] = s2[t]


@njit(cache=True, nogil=True)
def stochf_1d_nb(h, low, c, fastk, fastd, fk, fd, fdmt):
    n = c.shape[0]
    lbd = ma_lookback_nb(fd, fdmt)
    lb = fk - 1 + lbd
    if n <= lb:
        return
    k = np.full(n, np.nan)
    fastk_1d_nb(h, low, c, k, fk)
    d = np.full(n, np.nan)
    ma_1d_nb(k[fk - 1:], d[fk - 1:], fd, fdmt)
    for t in range(lb, n):
        fastk[t] = k[t]
        fastd[t] = d[t]


@njit(cache=True, nogil=True)
def rsi_talib_1d_nb(x, out, period):
    """TA_RSI with the installed TA-Lib's (0.8.1) rounding, bit for bit: the first averages scaled by
    1 / period, then avg = (avg * (period - 1) + move) * (1 / period). STOCHRSI's fast %K magnifies the
    RSI's last bits on a nearly flat window (whether a bar is the window's low), so it needs these
    bits; RSI itself keeps kernels.indicators' faster step (within ~1e-16 relative)."""
    n = x.shape[0]
    if n <= period:
        return
    inv = 1.0 / period
    gain = 0.0
    loss = 0.0
    for t in range(1, period + 1):
        d = x[t] - x[t - 1]
        if d < 0.0:
            loss -= d
        else:
            gain += d
    gain *= inv
    loss *= inv
    tv = gain + loss
    out[period] = 100.0 * (gain / tv) if (tv > 0.0 or tv < 0.0) else 0.0  # exact 0 test; NaN: 0
    for t in range(period + 1, n):
        d = x[t] - x[t - 1]
        gain *= period - 1
        loss *= period - 1
        if d < 0.0:
            loss -= d
        else:
            gain += d
        gain *= inv
        loss *= inv
        tv = gain + loss
        out[t] = 100.0 * (gain / tv) if (tv > 0.0 or tv < 0.0) else 0.0


@njit(cache=True, nogil=True)
def stochrsi_1d_nb(x, fastk, fastd, period, fk, fd, fdmt):
    n = x.shape[0]
    if n <= period:
        return
    r = np.full(n, np.nan)
    rsi_talib_1d_nb(x, r, period)
    rr = r[period:]
    stochf_1d_nb(rr, rr, rr, fastk[period:], fastd[period:], fk, fd, fdmt)


@njit(cache=True, nogil=True)
def willr_1d_nb(h, low, c, out, period):
    n = c.shape[0]
    hh = np.full(n, np.nan)
    ll = np.full(n, np.nan)
    max_1d_nb(h, hh, period)
    min_1d_nb(low, ll, period)
    for t in range(period - 1, n):
        # TA-Lib 0.8: 0 on a window flat up to 1e-14 of |HH| + |LL|; the value clamped into [-100, 0] (a close
        # beyond HH / LL; a window whose highs lie below its lows, HH < LL, takes the formula and the clamp too)
        d = hh[t] - ll[t]
        if abs(d) <= 1e-14 * (abs(hh[t]) + abs(ll[t])):  # a NaN goes through
            out[t] = 0.0
        else:
            r = (hh[t] - c[t]) / d * (-100.0)
            out[t] = 0.0 if r > 0.0 else (-100.0 if r < -100.0 else r)


@njit(cache=True, nogil=True)
def cci_1d_nb(h, low, c, out, period):
    n = c.shape[0]
    tp = np.empty(n)
    for t in range(n):
        tp[t] = (h[t] + low[t] + c[t]) / 3.0
    for t in range(period - 1, n):
        avg = 0.0
        for i in range(t - period + 1, t + 1):
            avg += tp[i]
        avg /= period
        dev = 0.0
        for i in range(t - period + 1, t + 1):
            dev += abs(tp[i] - avg)
        num = tp[t] - avg
        if num != 0.0 and dev != 0.0:
            out[t] = num / (0.015 * (dev / period))
        else:
            out[t] = 0.0


@njit(cache=True, nogil=True)
def cmo_1d_nb(x, out, period):
    """TA_CMO: Wilder-smoothed gains and losses as RSI, 100 * (gain - loss) / (gain + loss); 0 only where the
    sum is exactly 0 (TA-Lib 0.8.1, as its RSI: no 1e-8 band, which zeroed a decaying sum after ~25 flat bars
    at period 2; a NaN sum gives 0)."""
    n = x.shape[0]
    if n <= period:
        return
    gain = 0.0
    loss = 0.0
    for t in range(1, period + 1):
        d = x[t] - x[t - 1]
        if d < 0.0:
            loss -= d
        else:
            gain += d
    loss /= period
    gain /= period
    s = gain + loss
    out[period] = 100.0 * ((gain - loss) / s) if (s > 0.0 or s < 0.0) else 0.0
    for t in range(period + 1, n):
        d = x[t] - x[t - 1]
        loss *= period - 1
        gain *= period - 1
        if d < 0.0:
            loss -= d
        else:
            gain += d
        loss /= period
        gain /= period
        s = gain + loss
        out[t] = 100.0 * ((gain - loss) / s) if (s > 0.0 or s < 0.0) else 0.0


@njit(cache=True, nogil=True)
def mfi_1d_nb(h, low, c, v, out, period):
    n = c.shape[0]
    if n <= period:
        return
    """TA_MFI as TA-Lib 0.8.1 computes it: a typical price within 1e-14 of |tp| + |previous tp| of the previous
    one is no move (its #107); the sums reset to exactly 0 after `period` bars without money flow (#244); 0
    where the window's total is not positive, else 100 * clamp(pos, 0, total) / total."""
    pos = np.zeros(period)
    neg = np.zeros(period)
    prev = (h[0] + low[0] + c[0]) / 3.0
    pos_sum = 0.0
    neg_sum = 0.0
    idx = 0
    run = 0
    for t in range(1, n):
        if t > period:
            pos_sum -= pos[idx]
            neg_sum -= neg[idx]
        tp = (h[t] + low[t] + c[t]) / 3.0
        d = tp - prev
        scale = abs(tp) + abs(prev)
        prev = tp
        mf = tp * v[t]
        mf = 0.0 if abs(d) <= 0.00000000000001 * scale else mf
        pf = 0.0 if d < 0.0 else mf
        nf = mf if d < 0.0 else 0.0
        pos[idx] = pf
        neg[idx] = nf
        pos_sum += pf
        neg_sum += nf
        run = run + 1 if mf == 0.0 else 0
        if run >= period:
            run = period
            pos_sum = 0.0
            neg_sum = 0.0
        idx += 1
        if idx == period:
            idx = 0
        if t >= period:
            s = pos_sum + neg_sum
            pc = 0.0 if pos_sum < 0.0 else (s if pos_sum > s else pos_sum)
            out[t] = 0.0 if s <= 0.0 else 100.0 * (pc / s)


@njit(cache=True, nogil=True)
def aroon_1d_nb(h, low, down, up, period, osc):
    n = h.shape[0]
    factor = 100.0 / period
    lo_idx = -1
    hi_idx = -1
    lo = 0.0
    hi = 0.0
    trailing = 0
    for today in range(period, n):
        v = low[today]
        if lo_idx < trailing:
            lo_idx = trailing
            lo = low[lo_idx]
            for i in range(lo_idx + 1, today + 1):
                w = low[i]
                if w <= lo:
                    lo_idx = i
                    lo = w
        elif v <= lo:
            lo_idx = today
            lo = v
        v = h[today]
        if hi_idx < trailing:
            hi_idx = trailing
            hi = h[hi_idx]
            for i in range(hi_idx + 1, today + 1):
                w = h[i]
                if w >= hi:
                    hi_idx = i
                    hi = w
        elif v >= hi:
            hi_idx = today
            hi = v
        if osc:
            down[today] = factor * (hi_idx - lo_idx)
        else:
            up[today] = factor * (period - (today - hi_idx))
            down[today] = factor * (period - (today - lo_idx))
        trailing += 1


@njit(cache=True, nogil=True)
def dm_1d_nb(h, low, c, out, period, kind):
    """The directional-movement family: PLUS_DM 0, MINUS_DM 1, PLUS_DI 2, MINUS_DI 3, DX 4, ADX 5."""
    n = h.shape[0]
    if n < 2:
        return
    p = period
    if p == 1 and kind <= 3:
        for t in range(1, n):
            dp = h[t] - h[t - 1]
            dmn = low[t - 1] - low[t]
            pdm = dp if (dp > 0.0 and dp > dmn) else 0.0
            mdm = dmn if (dmn > 0.0 and dp < dmn) else 0.0
            if kind == 0:
                out[t] = pdm
            elif kind == 1:
                out[t] = mdm
            else:
                tr = true_range(h[t], low[t], c[t - 1])
                dm = pdm if kind == 2 else mdm
                out[t] = dm / tr if not is_zero(tr) else 0.0  # TA-Lib: no x100 for period 1
        return
    sp = 0.0
    sm = 0.0
    st = 0.0
    sum_dx = 0.0
    adx = 0.0
    for t in range(1, n):
        dp = h[t] - h[t - 1]
        dmn = low[t - 1] - low[t]
        pdm = dp if (dp > 0.0 and dp > dmn) else 0.0
        mdm = dmn if (dmn > 0.0 and dp < dmn) else 0.0
        tr = true_range(h[t], low[t], c[t - 1])
        if t < p:
            sp += pdm
            sm += mdm
            st += tr
            if t == p - 1:
                if kind == 0:
                    out[t] = sp
                elif kind == 1:
                    out[t] = sm
            continue
        sp = sp - (sp / p) + pdm
        sm = sm - (sm / p) + mdm
        st = st - (st / p) + tr
        if kind == 0:
            out[t] = sp
            continue
        if kind == 1:
            out[t] = sm
            continue
        if kind == 2 or kind == 3:
            dm = sp if kind == 2 else sm
            out[t] = 100.0 * (dm / st) if st != 0.0 else 0.0  # TA-Lib 0.8.1: an exact 0 test of the TR sum
            continue
        dx = np.nan
        if st != 0.0:
            mdi = 100.0 * (sm / st)
            pdi = 100.0 * (sp / st)
            s = mdi + pdi
            if not is_zero(s):
                dx = 100.0 * (abs(mdi - pdi) / s)
        if kind == 4:
            out[t] = dx if not np.isnan(dx) else 0.0
            continue
        if t < 2 * p:
            if not np.isnan(dx):
                sum_dx += dx
            if t == 2 * p - 1:
                adx = sum_dx / p
                out[t] = adx
            continue
        if not np.isnan(dx):
            adx = ((adx * (p - 1)) + dx) / p
        out[t] = adx


@njit(cache=True, nogil=True)
def adxr_1d_nb(h, low, c, out, period):
    n = h.shape[0]
    adx = np.full(n, np.nan)
    dm_1d_nb(h, low, c, adx, period, 5)
    for t in range(3 * period - 2, n):
        out[t] = (adx[t] + adx[t - (period - 1)]) / 2.0


@njit(cache=True, nogil=True)
def trix_1d_nb(x, out, period):
    n = x.shape[0]
    lb = period - 1
    if n <= 3 * lb + 1:
        return
    k = 2.0 / (period + 1.0)
    e1 = np.full(n, np.nan)
    e2 = np.full(n, np.nan)
    e3 = np.full(n, np.nan)
    ema_k_1d_nb(x, e1, period, k)
    ema_k_1d_nb(e1[lb:], e2[lb:], period, k)
    ema_k_1d_nb(e2[2 * lb:], e3[2 * lb:], period, k)
    for t in range(3 * lb + 1, n):
        prev = e3[t - 1]
        out[t] = ((e3[t] / prev) - 1.0) * 100.0 if prev != 0.0 else 0.0


@njit(cache=True, nogil=True)
def ultosc_1d_nb(h, low, c, out, p1, p2, p3):
    n = c.shape[0]
    a = min(p1, min(p2, p3))
    cc = max(p1, max(p2, p3))
    b = p1 + p2 + p3 - a - cc
    if n <= cc:
        return
    bp = np.zeros(n)
    tr = np.zeros(n)
    for t in range(1, n):
        pc = c[t - 1]
        tl = low[t] if low[t] < pc else pc
        bp[t] = c[t] - tl
        tr[t] = true_range(h[t], low[t], pc)
    for t in range(cc, n):
        b1 = 0.0
        t1 = 0.0
        for i in range(t - a + 1, t + 1):
            b1 += bp[i]
            t1 += tr[i]
        b2 = 0.0
        t2 = 0.0
        for i in range(t - b + 1, t + 1):
            b2 += bp[i]
            t2 += tr[i]
        b3 = 0.0
        t3 = 0.0
        for i in range(t - cc + 1, t + 1):
            b3 += bp[i]
            t3 += tr[i]
        o = 0.0  # TA-Lib 0.8: a window's term counts unless its true-range sum is exactly 0
        if t1 != 0.0:
            o += 4.0 * (b1 / t1)
        if t2 != 0.0:
            o += 2.0 * (b2 / t2)
        if t3 != 0.0:
            o += b3 / t3
        out[t] = 100.0 * (o / 7.0)


@njit(cache=True, nogil=True)
def _col(code, c0, c1, c2, c3, c4, o, p, s):
    if code == 0:
        rsi_1d_nb(c0, o[0], int(p[0]))
    elif code <= 5:
        roc_family_1d_nb(c0, o[0], int(p[0]), code - 1)
    elif code == 6:
        f = int(p[0])
        sl = int(p[1])
        macd_k_1d_nb(c0, o[0], o[1], o[2], f, sl, int(p[2]), 2.0 / (f + 1.0), 2.0 / (sl + 1.0))
    elif code == 7:
        macd_k_1d_nb(c0, o[0], o[1], o[2], 12, 26, int(p[0]), 0.15, 0.075)
    elif code == 8:
        macdext_1d_nb(c0, o[0], o[1], o[2], int(p[0]), int(p[1]), int(p[2]), int(p[3]), int(p[4]), int(p[5]))
    elif code == 9 or code == 10:
        po_1d_nb(c0, o[0], int(p[0]), int(p[1]), int(p[2]), code == 10)
    elif code == 11:
        stoch_1d_nb(c0, c1, c2, o[0], o[1], int(p[0]), int(p[1]), int(p[2]), int(p[3]), int(p[4]))
    elif code == 12:
        stochf_1d_nb(c0, c1, c2, o[0], o[1], int(p[0]), int(p[1]), int(p[2]))
    elif code == 13:
        stochrsi_1d_nb(c0, o[0], o[1], int(p[0]), int(p[1]), int(p[2]), int(p[3]))
    elif code == 14:
        willr_1d_nb(c0, c1, c2, o[0], int(p[0]))
    elif code == 15:
        cci_1d_nb(c0, c1, c2, o[0], int(p[0]))
    elif code == 16:
        cmo_1d_nb(c0, o[0], int(p[0]))
    elif code == 17:
        mfi_1d_nb(c0, c1, c2, c3, o[0], int(p[0]))
    elif code == 18:
        aroon_1d_nb(c0, c1, o[0], o[1], int(p[0]), False)
    elif code == 19:
        aroon_1d_nb(c0, c1, o[0], o[0], int(p[0]), True)
    elif code <= 25:
        dm_1d_nb(c0, c1, c1 if code <= 21 else c2, o[0], int(p[0]), code - 20)
    elif code == 26:
        adxr_1d_nb(c0, c1, c2, o[0], int(p[0]))
    elif code == 27:
        trix_1d_nb(c0, o[0], int(p[0]))
    elif code == 28:
        ultosc_1d_nb(c0, c1, c2, o[0], int(p[0]), int(p[1]), int(p[2]))


@njit(cache=True, parallel=True)
def run_nb(code, a0, a1, a2, a3, a4, n_in, p, out, holes):
    """This group's cached driver: common.run_group_nb with this module's _col (a cached function
    must not take a dispatcher argument: Numba cannot re-save such an index from another process)."""
    return run_group_nb(_col, code, a0, a1, a2, a3, a4, n_in, p, out, holes)
