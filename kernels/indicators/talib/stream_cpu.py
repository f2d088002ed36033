"""Streaming (O(1) per tick) forms of TA-Lib's recursive families: Numba step kernels.

`step_nb(code, state, ins, out, p)` advances every symbol by one tick: `state`
(S, K) float64 holds each symbol's running state, `ins` (n_in, S) the tick's
inputs, `out` (n_out, S) receives the values (NaN during the warm-up). Each step
performs the batch kernel's operations (`cpu/`) in the same order, so a stream fed
bar by bar gives the batch result bar for bar. A symbol's stream starts at its
first tick where every input is non-NaN (ticks before are ignored), as the batch
functions start late columns. The window-based parts (STOCH's highest high /
lowest low, MFI's and KAMA's trailing values) keep ring buffers of `period` slots
in the state (a scan of the ring, O(period), for the extrema).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from kernels.indicators.talib.cpu.common import is_zero, true_range

NAN = np.nan

# codes
EMA, DEMA, TEMA, T3, KAMA, RSI, ATR, NATR, OBV, AD, ADOSC, PLUS_DM, MINUS_DM, PLUS_DI, MINUS_DI, DX, ADX, \
    SAR, MFI, STOCH, STOCHF, STOCHRSI, ADXR = range(23)


@njit(cache=True, nogil=True, inline="always")
def _ema(st, b, x, period, k):
    """EMA sub-state at st[b:b+3] = (count, total, prev); returns the EMA or NaN in the warm-up."""
    st[b] += 1.0
    c = st[b]
    if c < period:
        st[b + 1] += x
        return NAN
    if c == period:
        st[b + 1] += x
        st[b + 2] = st[b + 1] / period
        return st[b + 2]
    st[b + 2] = ((x - st[b + 2]) * k) + st[b + 2]
    return st[b + 2]


@njit(cache=True, nogil=True, inline="always")
def _sma(st, b, ring, x, period):
    """SMA over a ring at st[ring:ring+period] with (count, total) at st[b:b+2]."""
    c = int(st[b])
    st[b] += 1.0
    st[b + 1] += x
    st[ring + c % period] = x
    if c < period - 1:
        return NAN
    v = st[b + 1] / period
    st[b + 1] -= st[ring + (c - period + 1) % period]
    return v


@njit(cache=True, nogil=True, inline="always")
def _extreme(st, ring, period, count, sign):
    """Max (sign 1) or min (sign -1) of the last min(count, period) values of a ring."""
    m = min(count, period)
    best = st[ring + (count - 1) % period]
    for j in range(1, m):
        v = st[ring + (count - 1 - j) % period]
        if (sign > 0 and v > best) or (sign < 0 and v < best):
            best = v
    return best


@njit(cache=True, nogil=True)
def step_one(code, st, ins, out, s, p):
    """One tick of symbol s."""
    x = ins[0, s]
    if code == EMA:
        period = int(p[0])
        out[0, s] = x if period == 1 else _ema(st[s], 0, x, period, 2.0 / (period + 1.0))
    elif code == DEMA or code == TEMA or code == T3:
        period = int(p[0])
        k = 2.0 / (period + 1.0)
        n_e = 2 if code == DEMA else (3 if code == TEMA else 6)
        e = np.empty(6)
        v = x
        for q in range(n_e):
            v = _ema(st[s], 3 * q, v, period, k) if period > 1 else v
            e[q] = v
            if np.isnan(v):
                break
        if np.isnan(v):
            out[0, s] = NAN
        elif code == DEMA:
            out[0, s] = (2.0 * e[0]) - e[1]
        elif code == TEMA:
            out[0, s] = e[2] + ((3.0 * e[0]) - (3.0 * e[1]))
        else:
            a = p[1]
            temp = a * a
            c1 = -temp * a
            c2 = 3.0 * (temp - c1)
            c3 = -6.0 * temp - 3.0 * (a - c1)
            c4 = 1.0 + 3.0 * a - c1 + 3.0 * temp
            out[0, s] = c1 * e[5] + c2 * e[4] + c3 * e[3] + c4 * e[2]
    elif code == KAMA:
        _kama(st[s], x, out, s, int(p[0]))
    elif code == RSI:
        out[0, s] = _rsi(st[s], x, int(p[0]))
    elif code == ATR or code == NATR:
        h = ins[0, s]
        lo = ins[1, s]
        c = ins[2, s]
        period = int(p[0])
        r = st[s]  # count, prev close, total/prev atr
        cnt = r[0]
        r[0] += 1.0
        out[0, s] = NAN
        if cnt == 0:
            r[1] = c
            return
        tr = true_range(h, lo, r[1])
        r[1] = c
        if period == 1:
            v = tr
        elif cnt < period:
            r[2] += tr
            return
        elif cnt == period:
            r[2] += tr
            r[2] = r[2] / period
            v = r[2]
        else:
            r[2] *= period - 1
            r[2] += tr
            r[2] /= period
            v = r[2]
        if code == NATR:
            out[0, s] = (v / c) * 100.0 if not is_zero(c) else 0.0
        else:
            out[0, s] = v
    elif code == OBV:
        c = ins[0, s]
        v = ins[1, s]
        r = st[s]  # count, obv, prev
        if r[0] == 0:
            r[1] = v
        elif c > r[2]:
            r[1] += v
        elif c < r[2]:
            r[1] -= v
        r[0] += 1.0
        r[2] = c
        out[0, s] = r[1]
    elif code == AD or code == ADOSC:
        h = ins[0, s]
        lo = ins[1, s]
        c = ins[2, s]
        v = ins[3, s]
        r = st[s]  # count, ad, fast, slow
        rng = h - lo
        if rng > 0.0:
            r[1] += (((c - lo) - (h - c)) / rng) * v
        if code == AD:
            out[0, s] = r[1]
            return
        fast = int(p[0])
        slow = int(p[1])
        kf = 2.0 / (fast + 1.0)
        ks = 2.0 / (slow + 1.0)
        if r[0] == 0:
            r[2] = r[1]
            r[3] = r[1]
        else:
            r[2] = (kf * r[1]) + ((1.0 - kf) * r[2])
            r[3] = (ks * r[1]) + ((1.0 - ks) * r[3])
        out[0, s] = r[2] - r[3] if r[0] >= max(fast, slow) - 1 else NAN
        r[0] += 1.0
    elif code >= PLUS_DM and code <= ADX:
        _dm(st[s], ins[0, s], ins[1, s], ins[2, s] if code >= PLUS_DI else 0.0, out, s, int(p[0]), code - PLUS_DM)
    elif code == ADXR:
        period = int(p[0])
        r = st[s]
        _dm(r[:9], ins[0, s], ins[1, s], ins[2, s], out, s, period, 5)
        adx = out[0, s]
        out[0, s] = NAN
        if np.isnan(adx):
            return
        k = int(r[9])  # ADX values so far; ring of the last `period` at r[10:]
        r[9] += 1.0
        r[10 + k % period] = adx
        if k >= period - 1:
            out[0, s] = (adx + r[10 + (k - (period - 1)) % period]) / 2.0
    elif code == SAR:
        _sar(st[s], ins[0, s], ins[1, s], out, s, p[0], p[1])
    elif code == MFI:
        _mfi(st[s], ins[0, s], ins[1, s], ins[2, s], ins[3, s], out, s, int(p[0]))
    elif code == STOCH or code == STOCHF:
        _stoch(st[s], 0, ins[0, s], ins[1, s], ins[2, s], out, s, int(p[0]), int(p[1]), int(p[2]) if code == STOCH else 0)
    elif code == STOCHRSI:
        r = st[s]
        rv = _rsi_talib(r, x, int(p[0]))
        if np.isnan(rv):
            out[0, s] = NAN
            out[1, s] = NAN
            return
        _stoch(r, 4, rv, rv, rv, out, s, int(p[1]), int(p[2]), 0)


@njit(cache=True, nogil=True)
def _count_move(r, x):
    """r[0] counts the values, r[1] keeps the last: (the count before this one, x minus the previous
    value, 0.0 for the first)."""
    c = r[0]
    r[0] += 1.0
    d = x - r[1] if c > 0 else 0.0
    r[1] = x
    return c, d


@njit(cache=True, nogil=True)
def _rsi_value(gain, loss):
    """100 * gain / (gain + loss); 0 where the sum is exactly 0 or NaN (TA-Lib's test)."""
    tv = gain + loss
    return 100.0 * (gain / tv) if (tv > 0.0 or tv < 0.0) else 0.0


@njit(cache=True, nogil=True)
def _rsi(r, x, period):
    """r[0:4] = (count, prev, gain, loss): kernels.indicators.cpu.rsi_1d_nb's operations."""
    c, d = _count_move(r, x)
    if c == 0:
        return NAN
    if c <= period:
        if d < 0.0:
            r[3] -= d
        else:
            r[2] += d
        if c < period:
            return NAN
        r[3] /= period
        r[2] /= period
    else:
        keep = (period - 1.0) / period
        new = 1.0 / period
        up = d if not (d < 0.0) else 0.0
        down = -d if d < 0.0 else 0.0
        r[2] = r[2] * keep + up * new
        r[3] = r[3] * keep + down * new
    return _rsi_value(r[2], r[3])


@njit(cache=True, nogil=True)
def _rsi_talib(r, x, period):
    """STOCHRSI's RSI, r[0:4] as _rsi: the batch rsi_talib_1d_nb's bits (TA-Lib 0.8.1's rounding: the first
    averages times 1 / period, then (avg * (period - 1) + move) * (1 / period)), which fast %K magnifies on
    a nearly flat window."""
    c, d = _count_move(r, x)
    if c == 0:
        return NAN
    inv = 1.0 / period
    if c > period:
        r[2] *= period - 1
        r[3] *= period - 1
    if d < 0.0:
        r[3] -= d
    else:
        r[2] += d
    if c < period:
        return NAN
    r[2] *= inv
    r[3] *= inv
    return _rsi_value(r[2], r[3])


@njit(cache=True, nogil=True)
def _kama(r, x, out, s, period):
    """r: count, sum_roc1, prev, trailing_value, ring[period + 1] of the last values."""
    ring = 4
    size = period + 1
    c = int(r[0])
    r[0] += 1.0
    r[ring + c % size] = x
    out[0, s] = NAN
    if c < period:
        return
    const_max = 2.0 / (30.0 + 1.0)
    const_diff = 2.0 / (2.0 + 1.0) - const_max
    if c == period:
        total = 0.0
        for t in range(period):
            total += abs(r[ring + t % size] - r[ring + (t + 1) % size])
        r[1] = total
        r[2] = r[ring + (period - 1) % size]
        r[3] = r[ring]
    else:
        old = r[3]
        r[3] = r[ring + (c - period) % size]
        r[1] -= abs(old - r[3])
        r[1] += abs(x - r[ring + (c - 1) % size])
    roc = x - r[3]
    sr = r[1]
    if sr <= roc or (-1e-8 < sr < 1e-8):
        er = 1.0
    else:
        er = abs(roc / sr)
    sc = (er * const_diff) + const_max
    sc *= sc
    r[2] = ((x - r[2]) * sc) + r[2]
    out[0, s] = r[2]


@njit(cache=True, nogil=True)
def _dm(r, h, lo, c, out, s, p, kind):
    """r: count, prev h, prev l, prev c, sp, sm, st, sum_dx, adx (as cpu.momentum.dm_1d_nb)."""
    t = int(r[0])
    r[0] += 1.0
    out[0, s] = NAN
    if t == 0:
        r[1] = h
        r[2] = lo
        r[3] = c
        return
    dp = h - r[1]
    dmn = r[2] - lo
    pc = r[3]
    r[1] = h
    r[2] = lo
    r[3] = c
    pdm = dp if (dp > 0.0 and dp > dmn) else 0.0
    mdm = dmn if (dmn > 0.0 and dp < dmn) else 0.0
    tr = true_range(h, lo, pc)
    if p == 1 and kind <= 3:
        if kind == 0:
            out[0, s] = pdm
        elif kind == 1:
            out[0, s] = mdm
        else:
            dm = pdm if kind == 2 else mdm
            out[0, s] = (dm / tr) * 100.0 if not is_zero(tr) else 0.0
        return
    if t < p:
        r[4] += pdm
        r[5] += mdm
        r[6] += tr
        if t == p - 1:
            if kind == 0:
                out[0, s] = r[4]
            elif kind == 1:
                out[0, s] = r[5]
        return
    r[4] = r[4] - (r[4] / p) + pdm
    r[5] = r[5] - (r[5] / p) + mdm
    r[6] = r[6] - (r[6] / p) + tr
    if kind == 0:
        out[0, s] = r[4]
        return
    if kind == 1:
        out[0, s] = r[5]
        return
    if kind == 2 or kind == 3:
        dm = r[4] if kind == 2 else r[5]
        out[0, s] = 100.0 * (dm / r[6]) if r[6] != 0.0 else 0.0  # TA-Lib 0.8.1: exact 0 test of the TR sum
        return
    dx = NAN
    if r[6] != 0.0:
        mdi = 100.0 * (r[5] / r[6])
        pdi = 100.0 * (r[4] / r[6])
        sm = mdi + pdi
        if not is_zero(sm):
            dx = 100.0 * (abs(mdi - pdi) / sm)
    if kind == 4:
        out[0, s] = dx if not np.isnan(dx) else 0.0
        return
    if t < 2 * p:
        if not np.isnan(dx):
            r[7] += dx
        if t == 2 * p - 1:
            r[8] = r[7] / p
            out[0, s] = r[8]
        return
    if not np.isnan(dx):
        r[8] = ((r[8] * (p - 1)) + dx) / p
    out[0, s] = r[8]


@njit(cache=True, nogil=True)
def _sar(r, h, lo, out, s, acc, mx):
    """r: count, is_long, af, ep, sar, new_high, new_low, first high, first low (cpu.overlap.sar_1d_nb)."""
    t = int(r[0])
    r[0] += 1.0
    out[0, s] = NAN
    if acc > mx:
        acc = mx
    if t == 0:
        r[7] = h
        r[8] = lo
        return
    if t == 1:
        dp = h - r[7]
        dm = r[8] - lo
        is_long = not (dm > 0.0 and dp < dm)
        r[1] = 1.0 if is_long else 0.0
        r[2] = acc
        if is_long:
            r[3] = h
            r[4] = r[8]
        else:
            r[3] = lo
            r[4] = r[7]
        r[5] = h
        r[6] = lo
    prev_high = r[5]
    prev_low = r[6]
    new_high = h
    new_low = lo
    r[5] = h
    r[6] = lo
    sar = r[4]
    ep = r[3]
    af = r[2]
    if r[1] == 1.0:
        if new_low <= sar:
            r[1] = 0.0
            sar = ep
            if sar < prev_high:
                sar = prev_high
            if sar < new_high:
                sar = new_high
            out[0, s] = sar
            af = acc
            ep = new_low
            sar = sar + af * (ep - sar)
            if sar < prev_high:
                sar = prev_high
            if sar < new_high:
                sar = new_high
        else:
            out[0, s] = sar
            if new_high > ep:
                ep = new_high
                af += acc
                if af > mx:
                    af = mx
            sar = sar + af * (ep - sar)
            if sar > prev_low:
                sar = prev_low
            if sar > new_low:
                sar = new_low
    elif new_high >= sar:
        r[1] = 1.0
        sar = ep
        if sar > prev_low:
            sar = prev_low
        if sar > new_low:
            sar = new_low
        out[0, s] = sar
        af = acc
        ep = new_high
        sar = sar + af * (ep - sar)
        if sar > prev_low:
            sar = prev_low
        if sar > new_low:
            sar = new_low
    else:
        out[0, s] = sar
        if new_low < ep:
            ep = new_low
            af += acc
            if af > mx:
                af = mx
        sar = sar + af * (ep - sar)
        if sar < prev_high:
            sar = prev_high
        if sar < new_high:
            sar = new_high
    r[2] = af
    r[3] = ep
    r[4] = sar


@njit(cache=True, nogil=True)
def _mfi(r, h, lo, c, v, out, s, period):
    """r: count, prev typical, pos_sum, neg_sum, idx, pos ring[period], neg ring[period], run of bars without
    money flow (mfi_1d_nb's rules, TA-Lib 0.8.1)."""
    t = int(r[0])
    r[0] += 1.0
    out[0, s] = NAN
    tp = (h + lo + c) / 3.0
    if t == 0:
        r[1] = tp
        return
    pos = 5
    neg = 5 + period
    idx = int(r[4])
    if t > period:
        r[2] -= r[pos + idx]
        r[3] -= r[neg + idx]
    d = tp - r[1]
    scale = abs(tp) + abs(r[1])
    r[1] = tp
    mf = tp * v
    mf = 0.0 if abs(d) <= 0.00000000000001 * scale else mf
    pf = 0.0 if d < 0.0 else mf
    nf = mf if d < 0.0 else 0.0
    r[pos + idx] = pf
    r[neg + idx] = nf
    r[2] += pf
    r[3] += nf
    ri = 5 + 2 * period
    r[ri] = r[ri] + 1.0 if mf == 0.0 else 0.0
    if r[ri] >= period:
        r[ri] = period
        r[2] = 0.0
        r[3] = 0.0
    idx += 1
    if idx == period:
        idx = 0
    r[4] = idx
    if t >= period:
        sm = r[2] + r[3]
        pc = 0.0 if r[2] < 0.0 else (sm if r[2] > sm else r[2])
        out[0, s] = 0.0 if sm <= 0.0 else 100.0 * (pc / sm)


@njit(cache=True, nogil=True)
def _stoch(r, b, h, lo, c, out, s, fk, k2, k3):
    """Fast %K over rings of highs / lows, then SMA(k2) [and SMA(k3) for the slow form, k3 > 0].

    r[b:]: count, k-sma (count, total), d-sma (count, total), high ring[fk], low ring[fk],
    k ring[k2], d ring[k3]."""
    t = int(r[b])
    r[b] += 1.0
    hr = b + 5
    lr = hr + fk
    kr = lr + fk
    dr = kr + k2
    r[hr + t % fk] = h
    r[lr + t % fk] = lo
    out[0, s] = NAN
    out[1, s] = NAN
    if t < fk - 1:
        return
    hh = _extreme(r, hr, fk, t + 1, 1)
    ll = _extreme(r, lr, fk, t + 1, -1)
    d = hh - ll  # fastk_1d_nb's rule: 0 on a window flat up to 1e-14 of |HH| + |LL| (TA-Lib 0.8); NaN: NaN
    k = 0.0 if abs(d) <= 1e-14 * (abs(hh) + abs(ll)) else (c - ll) / d * 100.0
    sk = k if k2 == 1 else _sma(r, b + 1, kr, k, k2)
    if k3 == 0:  # STOCHF: (fastk, fastd = SMA(k2) of fastk)
        if np.isnan(sk):
            return
        out[0, s] = k
        out[1, s] = sk
        return
    if np.isnan(sk):
        return
    sd = sk if k3 == 1 else _sma(r, b + 3, dr, sk, k3)
    if np.isnan(sd):
        return
    out[0, s] = sk
    out[1, s] = sd


@njit(cache=True, nogil=True)
def step_nb(code, state, ins, out, p, started):
    """Advance every symbol by one tick (symbols whose inputs are still NaN before their start are skipped)."""
    n_in = ins.shape[0]
    for s in range(state.shape[0]):
        if not started[s]:
            ok = True
            for i in range(n_in):
                if np.isnan(ins[i, s]):
                    ok = False
            if not ok:
                for k in range(out.shape[0]):
                    out[k, s] = NAN
                continue
            started[s] = True
        step_one(code, state, ins, out, s, p)
