"""Overlap studies (TA-Lib group "Overlap Studies"): CPU kernels and their driver."""
from __future__ import annotations

import numpy as np
from numba import njit

from kernels.indicators.talib.cpu.common import run_group_nb
from kernels.indicators.talib.cpu.common import (
    max_1d_nb,
    min_1d_nb,
)
from kernels.indicators.talib.cpu.ma import (
    dema_1d_nb, ema_1d_nb, hma_1d_nb, kama_1d_nb, ma_1d_nb, ma_lookback_nb, mama_1d_nb, rma_1d_nb, sma_1d_nb,
    t3_1d_nb, tema_1d_nb, trima_1d_nb, wma_1d_nb, zlema_1d_nb,
)
from kernels.indicators.talib.cpu.statistic import var_talib_1d_nb
from kernels.indicators.talib.table import ma_lookback

NAMES = (
    "SMA", "EMA", "WMA", "DEMA", "TEMA", "TRIMA", "KAMA", "T3", "HMA", "ZLEMA", "RMA", "MA",
    "BBANDS", "MIDPOINT", "MIDPRICE", "DONCHIAN", "MAVP", "_MAMA", "VWMA", "SAR", "SAREXT",
)
CODES = {n: i for i, n in enumerate(NAMES)}


@njit(cache=True, nogil=True)
def bbands_1d_nb(x, up, mid, lo, period, nbdevup, nbdevdn, matype):
    """TA_BBANDS: MA(matype) middle, +/- nbdev * population std over `period` (TA_STDDEV: TA-Lib 0.8.1's VAR,
    statistic.var_talib_1d_nb)."""
    ma_1d_nb(x, mid, period, matype)
    var = np.full(x.shape[0], np.nan)
    var_talib_1d_nb(x, var, period)
    for t in range(x.shape[0]):
        m = mid[t]
        if np.isnan(m) or np.isnan(var[t]):
            mid[t] = np.nan
            continue
        sd = np.sqrt(var[t])
        up[t] = m + sd * nbdevup
        lo[t] = m - sd * nbdevdn


@njit(cache=True, nogil=True)
def midpoint_1d_nb(x, out, period):
    n = x.shape[0]
    hi = np.full(n, np.nan)
    lo = np.full(n, np.nan)
    max_1d_nb(x, hi, period)
    min_1d_nb(x, lo, period)
    for t in range(period - 1, n):
        out[t] = (hi[t] + lo[t]) / 2.0


@njit(cache=True, nogil=True)
def midprice_1d_nb(h, low, out, period):
    n = h.shape[0]
    hi = np.full(n, np.nan)
    lo = np.full(n, np.nan)
    max_1d_nb(h, hi, period)
    min_1d_nb(low, lo, period)
    for t in range(period - 1, n):
        out[t] = (hi[t] + lo[t]) / 2.0


@njit(cache=True, nogil=True)
def donchian_1d_nb(h, low, up, mid, lo, period):
    n = h.shape[0]
    max_1d_nb(h, up, period)
    min_1d_nb(low, lo, period)
    for t in range(period - 1, n):
        mid[t] = (up[t] + lo[t]) / 2.0


@njit(cache=True, nogil=True)
def mavp_1d_nb(x, periods, out, minp, maxp, matype, lookback):
    """TA_MAVP: at each bar the MA(matype) with that bar's period, clipped to [minp, maxp]."""
    n = x.shape[0]
    if n <= lookback:
        return
    buf = np.full(n, np.nan)
    done = np.zeros(maxp + 1, dtype=np.bool_)
    for t in range(lookback, n):
        pt = periods[t]
        q = int(pt)
        if q < minp:
            q = minp
        elif q > maxp:
            q = maxp
        if done[q]:
            continue
        done[q] = True
        buf[:] = np.nan
        off = lookback - ma_lookback_nb(q, matype)
        ma_1d_nb(x[off:], buf[off:], q, matype)
        for u in range(t, n):
            pu = int(periods[u])
            if pu < minp:
                pu = minp
            elif pu > maxp:
                pu = maxp
            if pu == q:
                out[u] = buf[u]


@njit(cache=True, nogil=True, error_model="numpy")  # 0 / 0 is NaN, as TA-Lib's
def vwma_1d_nb(x, v, out, period):
    """TA_VWMA (TA-Lib 0.8.1): (sum(x * v) / period) / (sum(v) / period) over `period` bars, the sums kept by
    add-then-subtract (a window of zero volumes keeps their rounding residue, as TA-Lib's; 0 / 0: NaN);
    period 1 copies x."""
    n = x.shape[0]
    if period == 1:
        for t in range(n):
            out[t] = x[t]
        return
    s_pv = 0.0
    s_v = 0.0
    for t in range(min(period - 1, n)):
        pv = x[t] * v[t]
        s_pv += pv
        s_v += v[t]
    for t in range(period - 1, n):
        pv = x[t] * v[t]
        s_pv += pv
        s_v += v[t]
        out[t] = (s_pv / period) / (s_v / period)
        w = t - period + 1
        pv = x[w] * v[w]
        s_pv -= pv
        s_v -= v[w]


@njit(cache=True, nogil=True)
def sar_1d_nb(h, low, out, start, offset, ail, al, aml, ais, as_, ams, ext):
    """TA_SAR (ext False: acceleration ail = al, maximum aml = ams) and TA_SAREXT (short values negative)."""
    n = h.shape[0]
    if n < 2:
        return
    if ail > aml:
        ail = aml
    if al > aml:
        al = aml
    if ais > ams:
        ais = ams
    if as_ > ams:
        as_ = ams
    if start == 0.0:
        dp = h[1] - h[0]
        dm = low[0] - low[1]
        is_long = not (dm > 0.0 and dp < dm)
    else:
        is_long = start > 0.0
    af_l = ail
    af_s = ais
    new_high = h[0]
    new_low = low[0]
    if start == 0.0:
        if is_long:
            ep = h[1]
            sar = new_low
        else:
            ep = low[1]
            sar = new_high
    elif start > 0.0:
        ep = h[1]
        sar = start
    else:
        ep = low[1]
        sar = abs(start)
    new_low = low[1]
    new_high = h[1]
    for t in range(1, n):
        prev_low = new_low
        prev_high = new_high
        new_low = low[t]
        new_high = h[t]
        if is_long:
            if new_low <= sar:
                is_long = False
                sar = ep
                if sar < prev_high:
                    sar = prev_high
                if sar < new_high:
                    sar = new_high
                if offset != 0.0:
                    sar += sar * offset
                out[t] = -sar if ext else sar
                af_s = ais
                ep = new_low
                sar = sar + af_s * (ep - sar)
                if sar < prev_high:
                    sar = prev_high
                if sar < new_high:
                    sar = new_high
            else:
                out[t] = sar
                if new_high > ep:
                    ep = new_high
                    af_l += al
                    if af_l > aml:
                        af_l = aml
                sar = sar + af_l * (ep - sar)
                if sar > prev_low:
                    sar = prev_low
                if sar > new_low:
                    sar = new_low
        elif new_high >= sar:
            is_long = True
            sar = ep
            if sar > prev_low:
                sar = prev_low
            if sar > new_low:
                sar = new_low
            if offset != 0.0:
                sar -= sar * offset
            out[t] = sar
            af_l = ail
            ep = new_high
            sar = sar + af_l * (ep - sar)
            if sar > prev_low:
                sar = prev_low
            if sar > new_low:
                sar = new_low
        else:
            out[t] = -sar if ext else sar
            if new_low < ep:
                ep = new_low
                af_s += as_
                if af_s > ams:
                    af_s = ams
            sar = sar + af_s * (ep - sar)
            if sar < prev_high:
                sar = prev_high
            if sar < new_high:
                sar = new_high


@njit(cache=True, nogil=True)
def _col(code, c0, c1, c2, c3, c4, o, p, s):
    if code == 0:
        sma_1d_nb(c0, o[0], int(p[0]))
    elif code == 1:
        ema_1d_nb(c0, o[0], int(p[0]))
    elif code == 2:
        wma_1d_nb(c0, o[0], int(p[0]))
    elif code == 3:
        dema_1d_nb(c0, o[0], int(p[0]))
    elif code == 4:
        tema_1d_nb(c0, o[0], int(p[0]))
    elif code == 5:
        trima_1d_nb(c0, o[0], int(p[0]))
    elif code == 6:
        kama_1d_nb(c0, o[0], int(p[0]))
    elif code == 7:
        t3_1d_nb(c0, o[0], int(p[0]), p[1])
    elif code == 8:
        hma_1d_nb(c0, o[0], int(p[0]))
    elif code == 9:
        zlema_1d_nb(c0, o[0], int(p[0]))
    elif code == 10:
        rma_1d_nb(c0, o[0], int(p[0]))
    elif code == 11:
        ma_1d_nb(c0, o[0], int(p[0]), int(p[1]))
    elif code == 12:
        bbands_1d_nb(c0, o[0], o[1], o[2], int(p[0]), p[1], p[2], int(p[3]))
    elif code == 13:
        midpoint_1d_nb(c0, o[0], int(p[0]))
    elif code == 14:
        midprice_1d_nb(c0, c1, o[0], int(p[0]))
    elif code == 15:
        donchian_1d_nb(c0, c1, o[0], o[1], o[2], int(p[0]))
    elif code == 16:
        mavp_1d_nb(c0, c1, o[0], int(p[0]), int(p[1]), int(p[2]), int(p[3]))
    elif code == 17:
        mama_1d_nb(c0, o[0], o[1], p[0], p[1])
    elif code == 18:
        vwma_1d_nb(c0, c1, o[0], int(p[0]))
    elif code == 19:
        sar_1d_nb(c0, c1, o[0], 0.0, 0.0, p[0], p[0], p[1], p[0], p[0], p[1], False)
    elif code == 20:
        sar_1d_nb(c0, c1, o[0], p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], True)


@njit(cache=True, parallel=True)
def run_nb(code, a0, a1, a2, a3, a4, n_in, p, out, holes):
    """This group's cached driver: common.run_group_nb with this module's _col (a cached function
    must not take a dispatcher argument: Numba cannot re-save such an index from another process)."""
    return run_group_nb(_col, code, a0, a1, a2, a3, a4, n_in, p, out, holes)


def params(name, values):
    """The float64 parameter vector of `name` (extra derived values appended where a kernel needs them)."""
    if name == "MAVP":
        return [values["minperiod"], values["maxperiod"], values["matype"],
                ma_lookback(values["maxperiod"], values["matype"])]
    return list(values.values())
