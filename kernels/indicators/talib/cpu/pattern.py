"""Candlestick patterns (TA-Lib group "Pattern Recognition"): CPU kernels and their driver.

TA-Lib's candle settings (`TA_CandleSetting` defaults): which range a setting
averages (real body, high-low, shadows), over how many previous bars, and the
factor. A threshold for the candle at i - k is TA_CANDLEAVERAGE: factor * (running
sum / period) / (2 for shadows), where the running sum covers the `period` bars
before that candle and is updated bar by bar as TA-Lib does (add the new range
minus the trailing one, starting from the pattern's first output bar), so the
comparisons see the same numbers. Outputs are +/-100 (+/-80, +/-200 where TA-Lib
grades them); the API turns them into int32 with 0 where there is no pattern.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from kernels.indicators.talib.cpu.common import run_group_nb


# range kinds
RB, HL, SH = 0, 1, 2
# settings: (range kind, period, factor)
BODY_LONG = (RB, 10, 1.0)
BODY_VERY_LONG = (RB, 10, 3.0)
BODY_SHORT = (RB, 10, 1.0)
BODY_DOJI = (HL, 10, 0.1)
SHADOW_LONG = (RB, 0, 1.0)
SHADOW_VERY_LONG = (RB, 0, 2.0)
SHADOW_SHORT = (SH, 10, 1.0)
SHADOW_VERY_SHORT = (HL, 10, 0.1)
NEAR = (HL, 5, 0.2)
FAR = (HL, 5, 0.6)
EQUAL = (HL, 5, 0.05)

NAMES = (
    "CDL2CROWS", "CDL3BLACKCROWS", "CDL3INSIDE", "CDL3LINESTRIKE", "CDL3OUTSIDE", "CDL3STARSINSOUTH",
    "CDL3WHITESOLDIERS", "CDLABANDONEDBABY", "CDLADVANCEBLOCK", "CDLBELTHOLD", "CDLBREAKAWAY",
    "CDLCLOSINGMARUBOZU", "CDLCONCEALBABYSWALL", "CDLCOUNTERATTACK", "CDLDARKCLOUDCOVER", "CDLDOJI",
    "CDLDOJISTAR", "CDLDRAGONFLYDOJI", "CDLENGULFING", "CDLEVENINGDOJISTAR", "CDLEVENINGSTAR",
    "CDLGAPSIDESIDEWHITE", "CDLGRAVESTONEDOJI", "CDLHAMMER", "CDLHANGINGMAN", "CDLHARAMI",
    "CDLHARAMICROSS", "CDLHIGHWAVE", "CDLHIKKAKE", "CDLHIKKAKEMOD", "CDLHOMINGPIGEON",
    "CDLIDENTICAL3CROWS", "CDLINNECK", "CDLINVERTEDHAMMER", "CDLKICKING", "CDLKICKINGBYLENGTH",
    "CDLLADDERBOTTOM", "CDLLONGLEGGEDDOJI", "CDLLONGLINE", "CDLMARUBOZU", "CDLMATCHINGLOW",
    "CDLMATHOLD", "CDLMORNINGDOJISTAR", "CDLMORNINGSTAR", "CDLONNECK", "CDLPIERCING",
    "CDLRICKSHAWMAN", "CDLRISEFALL3METHODS", "CDLSEPARATINGLINES", "CDLSHOOTINGSTAR",
    "CDLSHORTLINE", "CDLSPINNINGTOP", "CDLSTALLEDPATTERN", "CDLSTICKSANDWICH", "CDLTAKURI",
    "CDLTASUKIGAP", "CDLTHRUSTING", "CDLTRISTAR", "CDLUNIQUE3RIVER", "CDLUPSIDEGAP2CROWS",
    "CDLXSIDEGAP3METHODS",
)
CODES = {n: i for i, n in enumerate(NAMES)}


@njit(cache=True, nogil=True)
def avg_nb(rng, setting, lb, k, n):
    """TA_CANDLEAVERAGE of `setting` for the candle at i - k, for every output bar i >= lb."""
    kind, period, factor = setting
    out = np.zeros(n)
    r = rng[kind]
    div = 2.0 if kind == SH else 1.0
    if period == 0:
        for i in range(lb, n):
            out[i] = factor * r[i - k] / div
        return out
    total = 0.0
    trailing = lb - k - period
    for j in range(trailing, lb - k):
        total += r[j]
    for i in range(lb, n):
        out[i] = factor * (total / period) / div
        total += r[i - k] - r[trailing]
        trailing += 1
    return out


@njit(cache=True, nogil=True)
def _gap_up(o, c, a, b):
    """TA_REALBODYGAPUP(a, b): candle a's body entirely above candle b's."""
    return min(o[a], c[a]) > max(o[b], c[b])


@njit(cache=True, nogil=True)
def _gap_down(o, c, a, b):
    return max(o[a], c[a]) < min(o[b], c[b])


@njit(cache=True, nogil=True)
def patterns_1d_nb(code, o, h, lo, c, out, pen, lb):
    n = c.shape[0]
    if n <= lb:
        return
    rb = np.abs(c - o)
    hl = h - lo
    col = np.where(c >= o, 1.0, -1.0)
    us = h - np.maximum(c, o)
    ls = np.minimum(c, o) - lo
    rng = np.empty((3, n))
    rng[0] = rb
    rng[1] = hl
    rng[2] = us + ls
    for i in range(lb, n):
        out[i] = 0.0
    if code == 0:  # CDL2CROWS
        bl = avg_nb(rng, BODY_LONG, lb, 2, n)
        for i in range(lb, n):
            if (col[i - 2] == 1 and rb[i - 2] > bl[i] and col[i - 1] == -1 and _gap_up(o, c, i - 1, i - 2)
                    and col[i] == -1 and o[i] < o[i - 1] and o[i] > c[i - 1] and c[i] > o[i - 2] and c[i] < c[i - 2]):
                out[i] = -100.0
    elif code == 1:  # CDL3BLACKCROWS
        s2 = avg_nb(rng, SHADOW_VERY_SHORT, lb, 2, n)
        s1 = avg_nb(rng, SHADOW_VERY_SHORT, lb, 1, n)
        s0 = avg_nb(rng, SHADOW_VERY_SHORT, lb, 0, n)
        for i in range(lb, n):
            if (col[i - 3] == 1 and col[i - 2] == -1 and ls[i - 2] < s2[i] and col[i - 1] == -1 and ls[i - 1] < s1[i]
                    and col[i] == -1 and ls[i] < s0[i] and o[i - 1] < o[i - 2] and o[i - 1] > c[i - 2]
                    and o[i] < o[i - 1] and o[i] > c[i - 1] and h[i - 3] > c[i - 2]
                    and c[i - 2] > c[i - 1] and c[i - 1] > c[i]):
                out[i] = -100.0
    elif code == 2:  # CDL3INSIDE
        bl = avg_nb(rng, BODY_LONG, lb, 2, n)
        bs = avg_nb(rng, BODY_SHORT, lb, 1, n)
        for i in range(lb, n):
            if (rb[i - 2] > bl[i] and rb[i - 1] <= bs[i]
                    and max(c[i - 1], o[i - 1]) < max(c[i - 2], o[i - 2]) and min(c[i - 1], o[i - 1]) > min(c[i - 2], o[i - 2])
                    and ((col[i - 2] == 1 and col[i] == -1 and c[i] < o[i - 2])
                         or (col[i - 2] == -1 and col[i] == 1 and c[i] > o[i - 2]))):
                out[i] = -col[i - 2] * 100.0
    elif code == 3:  # CDL3LINESTRIKE
        n3 = avg_nb(rng, NEAR, lb, 3, n)
        n2 = avg_nb(rng, NEAR, lb, 2, n)
        for i in range(lb, n):
            if (col[i - 3] == col[i - 2] and col[i - 2] == col[i - 1] and col[i] == -col[i - 1]
                    and o[i - 2] >= min(o[i - 3], c[i - 3]) - n3[i] and o[i - 2] <= max(o[i - 3], c[i - 3]) + n3[i]
                    and o[i - 1] >= min(o[i - 2], c[i - 2]) - n2[i] and o[i - 1] <= max(o[i - 2], c[i - 2]) + n2[i]
                    and ((col[i - 1] == 1 and c[i - 1] > c[i - 2] and c[i - 2] > c[i - 3] and o[i] > c[i - 1] and c[i] < o[i - 3])
                         or (col[i - 1] == -1 and c[i - 1] < c[i - 2] and c[i - 2] < c[i - 3] and o[i] < c[i - 1] and c[i] > o[i - 3]))):
                out[i] = col[i - 1] * 100.0
    elif code == 4:  # CDL3OUTSIDE
        for i in range(lb, n):
            if ((col[i - 1] == 1 and col[i - 2] == -1 and c[i - 1] > o[i - 2] and o[i - 1] < c[i - 2] and c[i] > c[i - 1])
                    or (col[i - 1] == -1 and col[i - 2] == 1 and o[i - 1] > c[i - 2] and c[i - 1] < o[i - 2] and c[i] < c[i - 1])):
                out[i] = col[i - 1] * 100.0
    elif code == 5:  # CDL3STARSINSOUTH
        bl = avg_nb(rng, BODY_LONG, lb, 2, n)
        sl = avg_nb(rng, SHADOW_LONG, lb, 2, n)
        v1 = avg_nb(rng, SHADOW_VERY_SHORT, lb, 1, n)
        v0 = avg_nb(rng, SHADOW_VERY_SHORT, lb, 0, n)
        bs = avg_nb(rng, BODY_SHORT, lb, 0, n)
        for i in range(lb, n):
            if (col[i - 2] == -1 and col[i - 1] == -1 and col[i] == -1
                    and rb[i - 2] > bl[i] and ls[i - 2] > sl[i]
                    and rb[i - 1] < rb[i - 2] and o[i - 1] > c[i - 2] and o[i - 1] <= h[i - 2]
                    and lo[i - 1] < c[i - 2] and lo[i - 1] >= lo[i - 2] and ls[i - 1] > v1[i]
                    and rb[i] < bs[i] and ls[i] < v0[i] and us[i] < v0[i]
                    and lo[i] > lo[i - 1] and h[i] < h[i - 1]):
                out[i] = 100.0
    elif code == 6:  # CDL3WHITESOLDIERS
        v2 = avg_nb(rng, SHADOW_VERY_SHORT, lb, 2, n)
        v1 = avg_nb(rng, SHADOW_VERY_SHORT, lb, 1, n)
        v0 = avg_nb(rng, SHADOW_VERY_SHORT, lb, 0, n)
        n2 = avg_nb(rng, NEAR, lb, 2, n)
        n1 = avg_nb(rng, NEAR, lb, 1, n)
        f2 = avg_nb(rng, FAR, lb, 2, n)
        f1 = avg_nb(rng, FAR, lb, 1, n)
        bs = avg_nb(rng, BODY_SHORT, lb, 0, n)
        for i in range(lb, n):
            if (col[i - 2] == 1 and us[i - 2] < v2[i] and col[i - 1] == 1 and us[i - 1] < v1[i]
                    and col[i] == 1 and us[i] < v0[i] and c[i] > c[i - 1] and c[i - 1] > c[i - 2]
                    and o[i - 1] > o[i - 2] and o[i - 1] <= c[i - 2] + n2[i]
                    and o[i] > o[i - 1] and o[i] <= c[i - 1] + n1[i]
                    and rb[i - 1] > rb[i - 2] - f2[i] and rb[i] > rb[i - 1] - f1[i] and rb[i] > bs[i]):
                out[i] = 100.0
    elif code == 7:  # CDLABANDONEDBABY
        bl = avg_nb(rng, BODY_LONG, lb, 2, n)
        bd = avg_nb(rng, BODY_DOJI, lb, 1, n)
        bs = avg_nb(rng, BODY_SHORT, lb, 0, n)
        for i in range(lb, n):
            if (rb[i - 2] > bl[i] and rb[i - 1] <= bd[i] and rb[i] > bs[i]
                    and ((col[i - 2] == 1 and col[i] == -1 and c[i] < c[i - 2] - rb[i - 2] * pen
                          and lo[i - 1] > h[i - 2] and h[i] < lo[i - 1])
                         or (col[i - 2] == -1 and col[i] == 1 and c[i] > c[i - 2] + rb[i - 2] * pen
                             and h[i - 1] < lo[i - 2] and lo[i] > h[i - 1]))):
                out[i] = col[i] * 100.0
    elif code == 8:  # CDLADVANCEBLOCK
        n2 = avg_nb(rng, NEAR, lb, 2, n)
        n1 = avg_nb(rng, NEAR, lb, 1, n)
        f2 = avg_nb(rng, FAR, lb, 2, n)
        f1 = avg_nb(rng, FAR, lb, 1, n)
        bl = avg_nb(rng, BODY_LONG, lb, 2, n)
        s2 = avg_nb(rng, SHADOW_SHORT, lb, 2, n)
        s1 = avg_nb(rng, SHADOW_SHORT, lb, 1, n)
        s0 = avg_nb(rng, SHADOW_SHORT, lb, 0, n)
        sl = avg_nb(rng, SHADOW_LONG, lb, 0, n)
        for i in range(lb, n):
            if (col[i - 2] == 1 and col[i - 1] == 1 and col[i] == 1
                    and c[i] > c[i - 1] and c[i - 1] > c[i - 2]
                    and o[i - 1] > o[i - 2] and o[i - 1] <= c[i - 2] + n2[i]
                    and o[i] > o[i - 1] and o[i] <= c[i - 1] + n1[i]
                    and rb[i - 2] > bl[i] and us[i - 2] < s2[i]
                    and ((rb[i - 1] < rb[i - 2] - f2[i] and rb[i] < rb[i - 1] + n1[i])
                         or (rb[i] < rb[i - 1] - f1[i])
                         or (rb[i] < rb[i - 1] and rb[i - 1] < rb[i - 2] and (us[i] > s0[i] or us[i - 1] > s1[i]))
                         or (rb[i] < rb[i - 1] and us[i] > sl[i]))):
                out[i] = -100.0
    elif code == 9 or code == 11:  # CDLBELTHOLD, CDLCLOSINGMARUBOZU
        bl = avg_nb(rng, BODY_LONG, lb, 0, n)
        vs = avg_nb(rng, SHADOW_VERY_SHORT, lb, 0, n)
        for i in range(lb, n):
            if code == 9:
                ok = (col[i] == 1 and ls[i] < vs[i]) or (col[i] == -1 and us[i] < vs[i])
            else:
                ok = (col[i] == 1 and us[i] < vs[i]) or (col[i] == -1 and ls[i] < vs[i])
            if rb[i] > bl[i] and ok:
                out[i] = col[i] * 100.0
    elif code == 10:  # CDLBREAKAWAY
        bl = avg_nb(rng, BODY_LONG, lb, 4, n)
        for i in range(lb, n):
            if (rb[i - 4] > bl[i] and col[i - 4] == col[i - 3] and col[i - 3] == col[i - 1] and col[i - 1] == -col[i]
                    and ((col[i - 4] == -1 and _gap_down(o, c, i - 3, i - 4) and h[i - 2] < h[i - 3] and lo[i - 2] < lo[i - 3]
                          and h[i - 1] < h[i - 2] and lo[i - 1] < lo[i - 2] and c[i] > o[i - 3] and c[i] < c[i - 4])
                         or (col[i - 4] == 1 and _gap_up(o, c, i - 3, i - 4) and h[i - 2] > h[i - 3] and lo[i - 2] > lo[i - 3]
                             and h[i - 1] > h[i - 2] and lo[i - 1] > lo[i - 2] and c[i] < o[i - 3] and c[i] > c[i - 4]))):
                out[i] = col[i] * 100.0
    elif code == 12:  # CDLCONCEALBABYSWALL
        v3 = avg_nb(rng, SHADOW_VERY_SHORT, lb, 3, n)
        v2 = avg_nb(rng, SHADOW_VERY_SHORT, lb, 2, n)
        v1 = avg_nb(rng, SHADOW_VERY_SHORT, lb, 1, n)
        for i in range(lb, n):
            if (col[i - 3] == -1 and col[i - 2] == -1 and col[i - 1] == -1 and col[i] == -1
                    and ls[i - 3] < v3[i] and us[i - 3] < v3[i] and ls[i - 2] < v2[i] and us[i - 2] < v2[i]
                    and _gap_down(o, c, i - 1, i - 2) and us[i - 1] > v1[i] and h[i - 1] > c[i - 2]
                    and h[i] > h[i - 1] and lo[i] < lo[i - 1]):
                out[i] = 100.0
    elif code == 13:  # CDLCOUNTERATTACK
        eq = avg_nb(rng, EQUAL, lb, 1, n)
        b1 = avg_nb(rng, BODY_LONG, lb, 1, n)
        b0 = avg_nb(rng, BODY_LONG, lb, 0, n)
        for i in range(lb, n):
            if (col[i - 1] == -col[i] and rb[i - 1] > b1[i] and rb[i] > b0[i]
                    and c[i] <= c[i - 1] + eq[i] and c[i] >= c[i - 1] - eq[i]):
                out[i] = col[i] * 100.0
    elif code == 14:  # CDLDARKCLOUDCOVER
        bl = avg_nb(rng, BODY_LONG, lb, 1, n)
        for i in range(lb, n):
            if (col[i - 1] == 1 and rb[i - 1] > bl[i] and col[i] == -1 and o[i] > h[i - 1]
                    and c[i] > o[i - 1] and c[i] < c[i - 1] - rb[i - 1] * pen):
                out[i] = -100.0
    elif code == 15:  # CDLDOJI
        bd = avg_nb(rng, BODY_DOJI, lb, 0, n)
        for i in range(lb, n):
            if rb[i] <= bd[i]:
                out[i] = 100.0
    elif code == 16:  # CDLDOJISTAR
        bl = avg_nb(rng, BODY_LONG, lb, 1, n)
        bd = avg_nb(rng, BODY_DOJI, lb, 0, n)
        for i in range(lb, n):
            if (rb[i - 1] > bl[i] and rb[i] <= bd[i]
                    and ((col[i - 1] == 1 and _gap_up(o, c, i, i - 1)) or (col[i - 1] == -1 and _gap_down(o, c, i, i - 1)))):
                out[i] = -col[i - 1] * 100.0
    elif code == 17 or code == 22:  # CDLDRAGONFLYDOJI, CDLGRAVESTONEDOJI
        bd = avg_nb(rng, BODY_DOJI, lb, 0, n)
        vs = avg_nb(rng, SHADOW_VERY_SHORT, lb, 0, n)
        for i in range(lb, n):
            if code == 17:
                ok = us[i] < vs[i] and ls[i] > vs[i]
            else:
                ok = ls[i] < vs[i] and us[i] > vs[i]
            if rb[i] <= bd[i] and ok:
                out[i] = 100.0
    elif code == 18:  # CDLENGULFING
        for i in range(lb, n):
            if ((col[i] == 1 and col[i - 1] == -1
                 and ((c[i] >= o[i - 1] and o[i] < c[i - 1]) or (c[i] > o[i - 1] and o[i] <= c[i - 1])))
                    or (col[i] == -1 and col[i - 1] == 1
                        and ((o[i] >= c[i - 1] and c[i] < o[i - 1]) or (o[i] > c[i - 1] and c[i] <= o[i - 1])))):
                if o[i] != c[i - 1] and c[i] != o[i - 1]:
                    out[i] = col[i] * 100.0
                else:
                    out[i] = col[i] * 80.0
    elif code == 19 or code == 20 or code == 42 or code == 43:  # EVENING/MORNING (DOJI) STAR
        bl = avg_nb(rng, BODY_LONG, lb, 2, n)
        mid = avg_nb(rng, BODY_DOJI if (code == 19 or code == 42) else BODY_SHORT, lb, 1, n)
        bs = avg_nb(rng, BODY_SHORT, lb, 0, n)
        for i in range(lb, n):
            if not (rb[i - 2] > bl[i] and rb[i - 1] <= mid[i] and rb[i] > bs[i]):
                continue
            if code <= 20:
                if (col[i - 2] == 1 and _gap_up(o, c, i - 1, i - 2) and col[i] == -1
                        and c[i] < c[i - 2] - rb[i - 2] * pen):
                    out[i] = -100.0
            elif (col[i - 2] == -1 and _gap_down(o, c, i - 1, i - 2) and col[i] == 1
                  and c[i] > c[i - 2] + rb[i - 2] * pen):
                out[i] = 100.0
    elif code == 21:  # CDLGAPSIDESIDEWHITE
        nr = avg_nb(rng, NEAR, lb, 1, n)
        eq = avg_nb(rng, EQUAL, lb, 1, n)
        for i in range(lb, n):
            up = _gap_up(o, c, i - 1, i - 2) and _gap_up(o, c, i, i - 2)
            dn = _gap_down(o, c, i - 1, i - 2) and _gap_down(o, c, i, i - 2)
            if ((up or dn) and col[i - 1] == 1 and col[i] == 1
                    and rb[i] >= rb[i - 1] - nr[i] and rb[i] <= rb[i - 1] + nr[i]
                    and o[i] >= o[i - 1] - eq[i] and o[i] <= o[i - 1] + eq[i]):
                out[i] = 100.0 if _gap_up(o, c, i - 1, i - 2) else -100.0
    elif code == 23 or code == 24:  # CDLHAMMER, CDLHANGINGMAN
        bs = avg_nb(rng, BODY_SHORT, lb, 0, n)
        sl = avg_nb(rng, SHADOW_LONG, lb, 0, n)
        vs = avg_nb(rng, SHADOW_VERY_SHORT, lb, 0, n)
        nr = avg_nb(rng, NEAR, lb, 1, n)
        for i in range(lb, n):
            if rb[i] < bs[i] and ls[i] > sl[i] and us[i] < vs[i]:
                if code == 23 and min(c[i], o[i]) <= lo[i - 1] + nr[i]:
                    out[i] = 100.0
                elif code == 24 and min(c[i], o[i]) >= h[i - 1] - nr[i]:
                    out[i] = -100.0
    elif code == 25 or code == 26:  # CDLHARAMI, CDLHARAMICROSS
        bl = avg_nb(rng, BODY_LONG, lb, 1, n)
        sm = avg_nb(rng, BODY_SHORT if code == 25 else BODY_DOJI, lb, 0, n)
        for i in range(lb, n):
            if rb[i - 1] > bl[i] and rb[i] <= sm[i]:
                if max(c[i], o[i]) < max(c[i - 1], o[i - 1]) and min(c[i], o[i]) > min(c[i - 1], o[i - 1]):
                    out[i] = -col[i - 1] * 100.0
                elif max(c[i], o[i]) <= max(c[i - 1], o[i - 1]) and min(c[i], o[i]) >= min(c[i - 1], o[i - 1]):
                    out[i] = -col[i - 1] * 80.0
    elif code == 27:  # CDLHIGHWAVE
        bs = avg_nb(rng, BODY_SHORT, lb, 0, n)
        vl = avg_nb(rng, SHADOW_VERY_LONG, lb, 0, n)
        for i in range(lb, n):
            if rb[i] < bs[i] and us[i] > vl[i] and ls[i] > vl[i]:
                out[i] = col[i] * 100.0
    elif code == 28 or code == 29:  # CDLHIKKAKE, CDLHIKKAKEMOD
        _hikkake(o, h, lo, c, out, lb, code == 29, rng)
    elif code == 30:  # CDLHOMINGPIGEON
        bl = avg_nb(rng, BODY_LONG, lb, 1, n)
        bs = avg_nb(rng, BODY_SHORT, lb, 0, n)
        for i in range(lb, n):
            if (col[i - 1] == -1 and col[i] == -1 and rb[i - 1] > bl[i] and rb[i] <= bs[i]
                    and o[i] < o[i - 1] and c[i] > c[i - 1]):
                out[i] = 100.0
    elif code == 31:  # CDLIDENTICAL3CROWS
        v2 = avg_nb(rng, SHADOW_VERY_SHORT, lb, 2, n)
        v1 = avg_nb(rng, SHADOW_VERY_SHORT, lb, 1, n)
        v0 = avg_nb(rng, SHADOW_VERY_SHORT, lb, 0, n)
        e2 = avg_nb(rng, EQUAL, lb, 2, n)
        e1 = avg_nb(rng, EQUAL, lb, 1, n)
        for i in range(lb, n):
            if (col[i - 2] == -1 and ls[i - 2] < v2[i] and col[i - 1] == -1 and ls[i - 1] < v1[i]
                    and col[i] == -1 and ls[i] < v0[i] and c[i - 2] > c[i - 1] and c[i - 1] > c[i]
                    and o[i - 1] <= c[i - 2] + e2[i] and o[i - 1] >= c[i - 2] - e2[i]
                    and o[i] <= c[i - 1] + e1[i] and o[i] >= c[i - 1] - e1[i]):
                out[i] = -100.0
    elif code == 32 or code == 44 or code == 56:  # CDLINNECK, CDLONNECK, CDLTHRUSTING
        eq = avg_nb(rng, EQUAL, lb, 1, n)
        bl = avg_nb(rng, BODY_LONG, lb, 1, n)
        for i in range(lb, n):
            if not (col[i - 1] == -1 and rb[i - 1] > bl[i] and col[i] == 1 and o[i] < lo[i - 1]):
                continue
            if code == 32:
                ok = c[i] <= c[i - 1] + eq[i] and c[i] >= c[i - 1]
            elif code == 44:
                ok = c[i] <= lo[i - 1] + eq[i] and c[i] >= lo[i - 1] - eq[i]
            else:
                ok = c[i] > c[i - 1] + eq[i] and c[i] <= c[i - 1] + rb[i - 1] * 0.5
            if ok:
                out[i] = -100.0
    elif code == 33 or code == 49:  # CDLINVERTEDHAMMER, CDLSHOOTINGSTAR
        bs = avg_nb(rng, BODY_SHORT, lb, 0, n)
        sl = avg_nb(rng, SHADOW_LONG, lb, 0, n)
        vs = avg_nb(rng, SHADOW_VERY_SHORT, lb, 0, n)
        for i in range(lb, n):
            if rb[i] < bs[i] and us[i] > sl[i] and ls[i] < vs[i]:
                if code == 33 and _gap_down(o, c, i, i - 1):
                    out[i] = 100.0
                elif code == 49 and _gap_up(o, c, i, i - 1):
                    out[i] = -100.0
    elif code == 34 or code == 35:  # CDLKICKING, CDLKICKINGBYLENGTH
        v1 = avg_nb(rng, SHADOW_VERY_SHORT, lb, 1, n)
        v0 = avg_nb(rng, SHADOW_VERY_SHORT, lb, 0, n)
        b1 = avg_nb(rng, BODY_LONG, lb, 1, n)
        b0 = avg_nb(rng, BODY_LONG, lb, 0, n)
        for i in range(lb, n):
            if (col[i - 1] == -col[i]
                    and rb[i - 1] > b1[i] and us[i - 1] < v1[i] and ls[i - 1] < v1[i]
                    and rb[i] > b0[i] and us[i] < v0[i] and ls[i] < v0[i]
                    and ((col[i - 1] == -1 and lo[i] > h[i - 1]) or (col[i - 1] == 1 and h[i] < lo[i - 1]))):
                if code == 34:
                    out[i] = col[i] * 100.0
                else:
                    out[i] = (col[i] if rb[i] > rb[i - 1] else col[i - 1]) * 100.0
    elif code == 36:  # CDLLADDERBOTTOM
        vs = avg_nb(rng, SHADOW_VERY_SHORT, lb, 1, n)
        for i in range(lb, n):
            if (col[i - 4] == -1 and col[i - 3] == -1 and col[i - 2] == -1
                    and o[i - 4] > o[i - 3] and o[i - 3] > o[i - 2] and c[i - 4] > c[i - 3] and c[i - 3] > c[i - 2]
                    and col[i - 1] == -1 and us[i - 1] > vs[i]
                    and col[i] == 1 and o[i] > o[i - 1] and c[i] > h[i - 1]):
                out[i] = 100.0
    elif code == 37:  # CDLLONGLEGGEDDOJI
        bd = avg_nb(rng, BODY_DOJI, lb, 0, n)
        sl = avg_nb(rng, SHADOW_LONG, lb, 0, n)
        for i in range(lb, n):
            if rb[i] <= bd[i] and (ls[i] > sl[i] or us[i] > sl[i]):
                out[i] = 100.0
    elif code == 38 or code == 39 or code == 50:  # CDLLONGLINE, CDLMARUBOZU, CDLSHORTLINE
        body = avg_nb(rng, BODY_SHORT if code == 50 else BODY_LONG, lb, 0, n)
        sh = avg_nb(rng, SHADOW_VERY_SHORT if code == 39 else SHADOW_SHORT, lb, 0, n)
        for i in range(lb, n):
            big = rb[i] < body[i] if code == 50 else rb[i] > body[i]
            if big and us[i] < sh[i] and ls[i] < sh[i]:
                out[i] = col[i] * 100.0
    elif code == 40:  # CDLMATCHINGLOW
        eq = avg_nb(rng, EQUAL, lb, 1, n)
        for i in range(lb, n):
            if col[i - 1] == -1 and col[i] == -1 and c[i] <= c[i - 1] + eq[i] and c[i] >= c[i - 1] - eq[i]:
                out[i] = 100.0
    elif code == 41:  # CDLMATHOLD
        bl = avg_nb(rng, BODY_LONG, lb, 4, n)
        s3 = avg_nb(rng, BODY_SHORT, lb, 3, n)
        s2 = avg_nb(rng, BODY_SHORT, lb, 2, n)
        s1 = avg_nb(rng, BODY_SHORT, lb, 1, n)
        for i in range(lb, n):
            if (rb[i - 4] > bl[i] and rb[i - 3] < s3[i] and rb[i - 2] < s2[i] and rb[i - 1] < s1[i]
                    and col[i - 4] == 1 and col[i - 3] == -1 and col[i] == 1
                    and _gap_up(o, c, i - 3, i - 4)
                    and min(o[i - 2], c[i - 2]) < c[i - 4] and min(o[i - 1], c[i - 1]) < c[i - 4]
                    and min(o[i - 2], c[i - 2]) > c[i - 4] - rb[i - 4] * pen
                    and min(o[i - 1], c[i - 1]) > c[i - 4] - rb[i - 4] * pen
                    and max(c[i - 2], o[i - 2]) < o[i - 3] and max(c[i - 1], o[i - 1]) < max(c[i - 2], o[i - 2])
                    and o[i] > c[i - 1] and c[i] > max(max(h[i - 3], h[i - 2]), h[i - 1])):
                out[i] = 100.0
    elif code == 45:  # CDLPIERCING
        b1 = avg_nb(rng, BODY_LONG, lb, 1, n)
        b0 = avg_nb(rng, BODY_LONG, lb, 0, n)
        for i in range(lb, n):
            if (col[i - 1] == -1 and rb[i - 1] > b1[i] and col[i] == 1 and rb[i] > b0[i]
                    and o[i] < lo[i - 1] and c[i] < o[i - 1] and c[i] > c[i - 1] + rb[i - 1] * 0.5):
                out[i] = 100.0
    elif code == 46:  # CDLRICKSHAWMAN
        bd = avg_nb(rng, BODY_DOJI, lb, 0, n)
        sl = avg_nb(rng, SHADOW_LONG, lb, 0, n)
        nr = avg_nb(rng, NEAR, lb, 0, n)
        for i in range(lb, n):
            if (rb[i] <= bd[i] and ls[i] > sl[i] and us[i] > sl[i]
                    and min(o[i], c[i]) <= lo[i] + hl[i] / 2.0 + nr[i]
                    and max(o[i], c[i]) >= lo[i] + hl[i] / 2.0 - nr[i]):
                out[i] = 100.0
    elif code == 47:  # CDLRISEFALL3METHODS
        b4 = avg_nb(rng, BODY_LONG, lb, 4, n)
        s3 = avg_nb(rng, BODY_SHORT, lb, 3, n)
        s2 = avg_nb(rng, BODY_SHORT, lb, 2, n)
        s1 = avg_nb(rng, BODY_SHORT, lb, 1, n)
        b0 = avg_nb(rng, BODY_LONG, lb, 0, n)
        for i in range(lb, n):
            k = col[i - 4]
            if (rb[i - 4] > b4[i] and rb[i - 3] < s3[i] and rb[i - 2] < s2[i] and rb[i - 1] < s1[i] and rb[i] > b0[i]
                    and k == -col[i - 3] and col[i - 3] == col[i - 2] and col[i - 2] == col[i - 1] and col[i - 1] == -col[i]
                    and min(o[i - 3], c[i - 3]) < h[i - 4] and max(o[i - 3], c[i - 3]) > lo[i - 4]
                    and min(o[i - 2], c[i - 2]) < h[i - 4] and max(o[i - 2], c[i - 2]) > lo[i - 4]
                    and min(o[i - 1], c[i - 1]) < h[i - 4] and max(o[i - 1], c[i - 1]) > lo[i - 4]
                    and c[i - 2] * k < c[i - 3] * k and c[i - 1] * k < c[i - 2] * k
                    and o[i] * k > c[i - 1] * k and c[i] * k > c[i - 4] * k):
                out[i] = 100.0 * k
    elif code == 48:  # CDLSEPARATINGLINES
        vs = avg_nb(rng, SHADOW_VERY_SHORT, lb, 0, n)
        bl = avg_nb(rng, BODY_LONG, lb, 0, n)
        eq = avg_nb(rng, EQUAL, lb, 1, n)
        for i in range(lb, n):
            if (col[i - 1] == -col[i] and o[i] <= o[i - 1] + eq[i] and o[i] >= o[i - 1] - eq[i]
                    and rb[i] > bl[i]
                    and ((col[i] == 1 and ls[i] < vs[i]) or (col[i] == -1 and us[i] < vs[i]))):
                out[i] = col[i] * 100.0
    elif code == 51:  # CDLSPINNINGTOP
        bs = avg_nb(rng, BODY_SHORT, lb, 0, n)
        for i in range(lb, n):
            if rb[i] < bs[i] and us[i] > rb[i] and ls[i] > rb[i]:
                out[i] = col[i] * 100.0
    elif code == 52:  # CDLSTALLEDPATTERN
        b2 = avg_nb(rng, BODY_LONG, lb, 2, n)
        b1 = avg_nb(rng, BODY_LONG, lb, 1, n)
        bs = avg_nb(rng, BODY_SHORT, lb, 0, n)
        vs = avg_nb(rng, SHADOW_VERY_SHORT, lb, 1, n)
        n2 = avg_nb(rng, NEAR, lb, 2, n)
        n1 = avg_nb(rng, NEAR, lb, 1, n)
        for i in range(lb, n):
            if (col[i - 2] == 1 and col[i - 1] == 1 and col[i] == 1
                    and c[i] > c[i - 1] and c[i - 1] > c[i - 2]
                    and rb[i - 2] > b2[i] and rb[i - 1] > b1[i] and us[i - 1] < vs[i]
                    and o[i - 1] > o[i - 2] and o[i - 1] <= c[i - 2] + n2[i]
                    and rb[i] < bs[i] and o[i] >= c[i - 1] - rb[i] - n1[i]):
                out[i] = -100.0
    elif code == 53:  # CDLSTICKSANDWICH
        eq = avg_nb(rng, EQUAL, lb, 2, n)
        for i in range(lb, n):
            if (col[i - 2] == -1 and col[i - 1] == 1 and col[i] == -1 and lo[i - 1] > c[i - 2]
                    and c[i] <= c[i - 2] + eq[i] and c[i] >= c[i - 2] - eq[i]):
                out[i] = 100.0
    elif code == 54:  # CDLTAKURI
        bd = avg_nb(rng, BODY_DOJI, lb, 0, n)
        vs = avg_nb(rng, SHADOW_VERY_SHORT, lb, 0, n)
        vl = avg_nb(rng, SHADOW_VERY_LONG, lb, 0, n)
        for i in range(lb, n):
            if rb[i] <= bd[i] and us[i] < vs[i] and ls[i] > vl[i]:
                out[i] = 100.0
    elif code == 55:  # CDLTASUKIGAP
        nr = avg_nb(rng, NEAR, lb, 1, n)
        for i in range(lb, n):
            if ((_gap_up(o, c, i - 1, i - 2) and col[i - 1] == 1 and col[i] == -1 and o[i] < c[i - 1] and o[i] > o[i - 1]
                 and c[i] < o[i - 1] and c[i] > max(c[i - 2], o[i - 2]) and abs(rb[i - 1] - rb[i]) < nr[i])
                    or (_gap_down(o, c, i - 1, i - 2) and col[i - 1] == -1 and col[i] == 1 and o[i] < o[i - 1]
                        and o[i] > c[i - 1] and c[i] > o[i - 1] and c[i] < min(c[i - 2], o[i - 2])
                        and abs(rb[i - 1] - rb[i]) < nr[i])):
                out[i] = col[i - 1] * 100.0
    elif code == 57:  # CDLTRISTAR
        bd = avg_nb(rng, BODY_DOJI, lb, 2, n)
        for i in range(lb, n):
            if rb[i - 2] <= bd[i] and rb[i - 1] <= bd[i] and rb[i] <= bd[i]:
                if _gap_up(o, c, i - 1, i - 2) and max(o[i], c[i]) < max(o[i - 1], c[i - 1]):
                    out[i] = -100.0
                if _gap_down(o, c, i - 1, i - 2) and min(o[i], c[i]) > min(o[i - 1], c[i - 1]):
                    out[i] = 100.0
    elif code == 58:  # CDLUNIQUE3RIVER
        bl = avg_nb(rng, BODY_LONG, lb, 2, n)
        bs = avg_nb(rng, BODY_SHORT, lb, 0, n)
        for i in range(lb, n):
            if (rb[i - 2] > bl[i] and col[i - 2] == -1
                    and col[i - 1] == -1 and c[i - 1] > c[i - 2] and o[i - 1] <= o[i - 2] and lo[i - 1] < lo[i - 2]
                    and rb[i] < bs[i] and col[i] == 1 and o[i] > lo[i - 1]):
                out[i] = 100.0
    elif code == 59:  # CDLUPSIDEGAP2CROWS
        bl = avg_nb(rng, BODY_LONG, lb, 2, n)
        bs = avg_nb(rng, BODY_SHORT, lb, 1, n)
        for i in range(lb, n):
            if (col[i - 2] == 1 and rb[i - 2] > bl[i] and col[i - 1] == -1 and rb[i - 1] <= bs[i]
                    and _gap_up(o, c, i - 1, i - 2) and col[i] == -1 and o[i] > o[i - 1] and c[i] < c[i - 1]
                    and c[i] > c[i - 2]):
                out[i] = -100.0
    elif code == 60:  # CDLXSIDEGAP3METHODS
        for i in range(lb, n):
            if (col[i - 2] == col[i - 1] and col[i - 1] == -col[i]
                    and o[i] < max(c[i - 1], o[i - 1]) and o[i] > min(c[i - 1], o[i - 1])
                    and c[i] < max(c[i - 2], o[i - 2]) and c[i] > min(c[i - 2], o[i - 2])
                    and ((col[i - 2] == 1 and _gap_up(o, c, i - 1, i - 2)) or (col[i - 2] == -1 and _gap_down(o, c, i - 1, i - 2)))):
                out[i] = col[i - 2] * 100.0


@njit(cache=True, nogil=True)
def _hikkake(o, h, lo, c, out, lb, mod, rng):
    """CDLHIKKAKE / CDLHIKKAKEMOD: an inside bar then a breakout (+/-100), confirmed within 3 bars (+/-200)."""
    n = c.shape[0]
    nr = avg_nb(rng, NEAR, lb, 2, n) if mod else np.zeros(n)
    pattern_idx = 0
    pattern_result = 0.0
    first = lb - 3
    for i in range(first, n):
        if mod:
            setup = (h[i - 2] < h[i - 3] and lo[i - 2] > lo[i - 3] and h[i - 1] < h[i - 2] and lo[i - 1] > lo[i - 2]
                     and ((h[i] < h[i - 1] and lo[i] < lo[i - 1] and (i < lb or c[i - 2] <= lo[i - 2] + nr[i]))
                          or (h[i] > h[i - 1] and lo[i] > lo[i - 1] and (i < lb or c[i - 2] >= h[i - 2] - nr[i]))))
        else:
            setup = (h[i - 1] < h[i - 2] and lo[i - 1] > lo[i - 2]
                     and ((h[i] < h[i - 1] and lo[i] < lo[i - 1]) or (h[i] > h[i - 1] and lo[i] > lo[i - 1])))
        if setup:
            pattern_result = 100.0 if h[i] < h[i - 1] else -100.0
            pattern_idx = i
            if i >= lb:
                out[i] = pattern_result
        elif (i <= pattern_idx + 3
              and ((pattern_result > 0 and c[i] > h[pattern_idx - 1])
                   or (pattern_result < 0 and c[i] < lo[pattern_idx - 1]))):
            if i >= lb:
                out[i] = pattern_result + (100.0 if pattern_result > 0 else -100.0)
            pattern_idx = 0


@njit(cache=True, nogil=True)
def _col(code, c0, c1, c2, c3, c4, o, p, s):
    patterns_1d_nb(code, c0, c1, c2, c3, o[0], p[0], int(p[1]))


@njit(cache=True, parallel=True)
def run_nb(code, a0, a1, a2, a3, a4, n_in, p, out, holes):
    """This group's cached driver: common.run_group_nb with this module's _col (a cached function
    must not take a dispatcher argument: Numba cannot re-save such an index from another process)."""
    return run_group_nb(_col, code, a0, a1, a2, a3, a4, n_in, p, out, holes)


def params(name, values):
    """[penetration (0 if none), lookback] for the kernel."""
    from kernels.indicators.talib.table import FUNCTIONS  # noqa: PLC0415

    return [values.get("penetration", 0.0), FUNCTIONS[name].lookback(**values)]
