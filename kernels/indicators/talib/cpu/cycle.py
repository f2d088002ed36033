"""Hilbert-transform cycle indicators (TA-Lib group "Cycle Indicators") and the MESA family
(HT_TRENDLINE, MAMA): CPU kernels and their driver.

One kernel, `ht_1d_nb`, steps Ehlers' transform as TA-Lib does: a 4-bar WMA price
smoother, the detrender / Q1 / jI / jQ Hilbert transforms with separate odd- and
even-bar buffers (parity counted from the column's first bar), the homodyne period
(clamped, smoothed) and, for the phase-based outputs, the dominant-cycle phase from
the last int(smoothPeriod + 0.5) smoothed prices.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from kernels.indicators.talib.cpu.common import run_group_nb


NAMES = ("HT_DCPERIOD", "HT_PHASOR", "HT_DCPHASE", "HT_SINE", "HT_TRENDLINE", "HT_TRENDMODE", "MAMA")
CODES = {n: i for i, n in enumerate(NAMES)}

A = 0.0962
B = 0.5769


@njit(cache=True, nogil=True, inline="always")
def _hilbert(st, k, parity, idx, value, adj):
    """One Hilbert transform step; st[k, parity] holds [buf0, buf1, buf2, prev, prev_input]."""
    s = st[k, parity]
    tmp = A * value
    r = 0.0 - s[idx]
    s[idx] = tmp
    r += tmp
    r -= s[3]
    s[3] = B * s[4]
    r += s[3]
    s[4] = value
    r *= adj
    return r


@njit(cache=True, nogil=True)
def ht_1d_nb(x, o0, o1, kind, lookback, fastlimit, slowlimit, warm):
    """kind: 0 DCPERIOD, 1 PHASOR, 2 DCPHASE, 3 SINE, 4 TRENDLINE, 5 TRENDMODE, 6 MAMA.

    The price smoother's warm-up runs `warm` bars (9; 34 for the 63-bar functions) before the transform."""
    n = x.shape[0]
    if n <= lookback:
        return
    rad2deg = 180.0 / (4.0 * math.atan(1.0))
    deg2rad = 1.0 / rad2deg
    const_deg2rad_by360 = 2.0 * (4.0 * math.atan(1.0))
    trailing = 0
    today = 0
    v = x[today]
    today += 1
    wsub = v
    wsum = v
    v = x[today]
    today += 1
    wsub += v
    wsum += v * 2.0
    v = x[today]
    today += 1
    wsub += v
    wsum += v * 3.0
    trailing_value = 0.0
    smoothed = 0.0
    for _ in range(warm):
        v = x[today]
        today += 1
        wsub += v
        wsub -= trailing_value
        wsum += v * 4.0
        trailing_value = x[trailing]
        trailing += 1
        smoothed = wsum * 0.1
        wsum -= wsub
    st = np.zeros((4, 2, 5))
    hidx = 0
    period = 0.0
    prev_q2 = 0.0
    prev_i2 = 0.0
    re = 0.0
    im = 0.0
    i1_odd3 = 0.0
    i1_even3 = 0.0
    i1_odd2 = 0.0
    i1_even2 = 0.0
    smooth_period = 0.0
    smooth_price = np.zeros(50)
    sp_idx = 0
    dc_phase = 0.0
    i_trend1 = 0.0
    i_trend2 = 0.0
    i_trend3 = 0.0
    days_in_trend = 0
    prev_dc_phase = 0.0
    sine = 0.0
    lead_sine = 0.0
    prev_phase = 0.0
    mama = 0.0
    fama = 0.0
    while today < n:
        adj = 0.075 * period + 0.54
        tv = x[today]
        wsub += tv
        wsub -= trailing_value
        wsum += tv * 4.0
        trailing_value = x[trailing]
        trailing += 1
        smoothed = wsum * 0.1
        wsum -= wsub
        smooth_price[sp_idx] = smoothed
        if today % 2 == 0:
            detrender = _hilbert(st, 0, 0, hidx, smoothed, adj)
            q1 = _hilbert(st, 1, 0, hidx, detrender, adj)
            if kind == 1 and today >= lookback:
                o0[today] = i1_even3
                o1[today] = q1
            if kind == 6:
                ph = math.atan(q1 / i1_even3) * rad2deg if i1_even3 != 0.0 else 0.0
            ji = _hilbert(st, 2, 0, hidx, i1_even3, adj)
            jq = _hilbert(st, 3, 0, hidx, q1, adj)
            hidx += 1
            if hidx == 3:
                hidx = 0
            q2 = 0.2 * (q1 + ji) + 0.8 * prev_q2
            i2 = 0.2 * (i1_even3 - jq) + 0.8 * prev_i2
            i1_odd3 = i1_odd2
            i1_odd2 = detrender
        else:
            detrender = _hilbert(st, 0, 1, hidx, smoothed, adj)
            q1 = _hilbert(st, 1, 1, hidx, detrender, adj)
            if kind == 1 and today >= lookback:
                o0[today] = i1_odd3
                o1[today] = q1
            if kind == 6:
                ph = math.atan(q1 / i1_odd3) * rad2deg if i1_odd3 != 0.0 else 0.0
            ji = _hilbert(st, 2, 1, hidx, i1_odd3, adj)
            jq = _hilbert(st, 3, 1, hidx, q1, adj)
            q2 = 0.2 * (q1 + ji) + 0.8 * prev_q2
            i2 = 0.2 * (i1_odd3 - jq) + 0.8 * prev_i2
            i1_even3 = i1_even2
            i1_even2 = detrender
        if kind == 6:
            d = prev_phase - ph
            prev_phase = ph
            if d < 1.0:
                d = 1.0
            if d > 1.0:
                d = fastlimit / d
                if d < slowlimit:
                    d = slowlimit
            else:
                d = fastlimit
            mama = d * tv + (1.0 - d) * mama
            d *= 0.5
            fama = d * mama + (1.0 - d) * fama
            if today >= lookback:
                o0[today] = mama
                o1[today] = fama
        re = 0.2 * (i2 * prev_i2 + q2 * prev_q2) + 0.8 * re
        im = 0.2 * (i2 * prev_q2 - q2 * prev_i2) + 0.8 * im
        prev_q2 = q2
        prev_i2 = i2
        t1 = period
        if im != 0.0 and re != 0.0:
            period = 360.0 / (math.atan(im / re) * rad2deg)
        t2 = 1.5 * t1
        if period > t2:
            period = t2
        t2 = 0.67 * t1
        if period < t2:
            period = t2
        if period < 6:
            period = 6.0
        elif period > 50:
            period = 50.0
        period = 0.2 * period + 0.8 * t1
        smooth_period = 0.33 * period + 0.67 * smooth_period
        if kind == 0 and today >= lookback:
            o0[today] = smooth_period
        if kind >= 2 and kind <= 5:
            dc_period_int = int(smooth_period + 0.5)
            if kind != 4:
                real_part = 0.0
                imag_part = 0.0
                idx = sp_idx
                for i in range(dc_period_int):
                    a = (i * const_deg2rad_by360) / dc_period_int
                    b = smooth_price[idx]
                    real_part += math.sin(a) * b
                    imag_part += math.cos(a) * b
                    if idx == 0:
                        idx = 49
                    else:
                        idx -= 1
                a = abs(imag_part)
                if a > 0.0:
                    dc_phase = math.atan(real_part / imag_part) * rad2deg
                elif a <= 0.01:
                    if real_part < 0.0:
                        dc_phase -= 90.0
                    elif real_part > 0.0:
                        dc_phase += 90.0
                dc_phase += 90.0
                dc_phase += 360.0 / smooth_period
                if imag_part < 0.0:
                    dc_phase += 180.0
                if dc_phase > 315.0:
                    dc_phase -= 360.0
            if kind == 4 or kind == 5:
                a = 0.0
                idx = today
                for i in range(dc_period_int):
                    a += x[idx]
                    idx -= 1
                if dc_period_int > 0:
                    a /= dc_period_int
                trendline = (4.0 * a + 3.0 * i_trend1 + 2.0 * i_trend2 + i_trend3) / 10.0
                i_trend3 = i_trend2
                i_trend2 = i_trend1
                i_trend1 = a
            if today >= lookback:
                if kind == 2:
                    o0[today] = dc_phase
                elif kind == 3:
                    o0[today] = math.sin(dc_phase * deg2rad)
                    o1[today] = math.sin((dc_phase + 45.0) * deg2rad)
                elif kind == 4:
                    o0[today] = trendline
            if kind == 5:
                prev_sine = sine
                prev_lead = lead_sine
                sine = math.sin(dc_phase * deg2rad)
                lead_sine = math.sin((dc_phase + 45.0) * deg2rad)
                trend = 1.0
                if (sine > lead_sine and prev_sine <= prev_lead) or (sine < lead_sine and prev_sine >= prev_lead):
                    days_in_trend = 0
                    trend = 0.0
                days_in_trend += 1
                if days_in_trend < 0.5 * smooth_period:
                    trend = 0.0
                a = dc_phase - prev_dc_phase
                if smooth_period != 0.0 and a > 0.67 * 360.0 / smooth_period and a < 1.5 * 360.0 / smooth_period:
                    trend = 0.0
                a = smooth_price[sp_idx]
                if trendline != 0.0 and abs((a - trendline) / trendline) >= 0.015:
                    trend = 1.0
                prev_dc_phase = dc_phase
                if today >= lookback:
                    o0[today] = trend
        sp_idx += 1
        if sp_idx == 50:
            sp_idx = 0
        today += 1


@njit(cache=True, nogil=True)
def _col(code, c0, c1, c2, c3, c4, o, p, s):
    lb = 32 if (code <= 1 or code == 6) else 63
    if code == 6:
        ht_1d_nb(c0, o[0], o[1], 6, lb, p[0], p[1], 9)
    else:
        ht_1d_nb(c0, o[0], o[1] if o.shape[0] > 1 else o[0], code, lb, 0.0, 0.0, 9 if lb == 32 else 34)


@njit(cache=True, parallel=True)
def run_nb(code, a0, a1, a2, a3, a4, n_in, p, out, holes):
    """This group's cached driver: common.run_group_nb with this module's _col (a cached function
    must not take a dispatcher argument: Numba cannot re-save such an index from another process)."""
    return run_group_nb(_col, code, a0, a1, a2, a3, a4, n_in, p, out, holes)
