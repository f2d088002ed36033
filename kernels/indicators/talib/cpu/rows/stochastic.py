"""Row kernels of the window-extreme oscillators: STOCH, STOCHF, STOCHRSI, WILLR, AROON.

Each function runs as passes over the chunk's columns, written straight into the outputs (an
output holds an intermediate series until the next pass replaces it): the fast %K or WILLR over
the rolling highest high / lowest low (the values of TA-Lib's rescanning extreme,
`cpu/common.py::extreme_1d_nb`), then the moving-average stages of `cpu/ma.py::ma_1d_nb` (SMA,
EMA or a copy; each stage starts at the first non-NaN value of its input from the bar where the
column kernel slices it). The arithmetic per column is the column kernels' (`cpu/momentum.py`),
so the bits are theirs. The kernels mark the gappy columns themselves (`run_rows_marking_nb`).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from kernels.indicators.talib.cpu.common import extreme_1d_nb
from kernels.indicators.talib.cpu.ma import ma_lookback_nb
from kernels.indicators.talib.cpu.momentum import aroon_1d_nb
from kernels.indicators.talib.cpu.rows.common import NAN, mark_from_sums_nb, nan_sum_nb, run_rows_marking_nb

NAMES = ("STOCH", "STOCHF", "STOCHRSI", "WILLR", "AROON")
ROW_MATYPES = (0, 1, 10, 11)  # SMA, EMA, identity, default (SMA): the MA stages with a row kernel
MIN_COLUMNS = {"AROON": 24}  # its blocks carry four suffix rows a bar: the columns win below ~24 (measured)
_MATYPES = {"STOCH": ("slowk_matype", "slowd_matype"), "STOCHF": ("fastd_matype",), "STOCHRSI": ("fastd_matype",)}


def supports(name: str, values: dict) -> bool:
    """The moving-average stages have row kernels for SMA, EMA and identity; other types use the columns."""
    return all(int(values[k]) in ROW_MATYPES for k in _MATYPES.get(name, ()))


@njit(inline="always")
def fastk_value_nb(hh, ll, c):
    """Fast %K: (close - LL) / (HH - LL) * 100, 0 on a window flat up to 1e-14 of |HH| + |LL| (a NaN goes
    through; HH < LL takes the formula, as TA-Lib does)."""
    d = hh - ll
    return 0.0 if abs(d) <= 1e-14 * (abs(hh) + abs(ll)) else (c - ll) / d * 100.0


@njit(inline="always")
def willr_value_nb(hh, ll, c):
    """WILLR: (HH - close) / (HH - LL) * -100 clamped into [-100, 0] (a close beyond HH / LL, HH < LL); 0 on a
    flat window."""
    d = hh - ll
    v = (hh - c) / d * (-100.0)
    v = 0.0 if v > 0.0 else v
    v = -100.0 if v < -100.0 else v
    return 0.0 if abs(d) <= 1e-14 * (abs(hh) + abs(ll)) else v  # a NaN goes through


@njit(cache=True, nogil=True, error_model="numpy")
def oscillator_pass_nb(hs, ls, cs, c0, begin, period, willr, dst, d0, acc):
    """dst[t, d0 + j] = fast %K (or WILLR) of columns c0 + j of hs / ls / cs over the highest high and lowest
    low of bars t - period + 1..t, from bar begin[j] + period - 1 on (NaN before).

    The window extremes are branch-free (van Herk / Gil-Werman): with the bars cut into blocks of
    `period`, a window is a suffix of one block and a prefix of the next, so each bar costs a few
    max/min whatever the period, and only two blocks of suffixes are kept (in cache). The values are
    the ones TA-Lib's rescanning extreme finds; a column with a NaN high or low after its start takes
    that algorithm itself (`common.extreme_1d_nb`: how a NaN travels depends on its comparisons).
    acc[j] += the NaN check of every high, low and close from the column's start (common.nan_sum_nb)."""
    n = hs.shape[0]
    b = begin.shape[0]
    bg = begin.copy()
    b_max = bg.max()
    ready = b_max + period - 1
    smax = np.empty((2, period, b))
    smin = np.empty((2, period, b))
    pmax = np.empty(b)
    pmin = np.empty(b)
    hl = np.zeros(b)  # NaN for a column with a NaN high or low after its start
    for k0 in range(0, n, period):
        k1 = min(n, k0 + period)
        cur = (k0 // period) % 2
        for t in range(k1 - 1, k0 - 1, -1):  # the suffix extremes of this block
            i = t - k0
            hr = hs[t, c0:c0 + b]
            lr = ls[t, c0:c0 + b]
            sx = smax[cur, i]
            sn = smin[cur, i]
            if t == k1 - 1:
                for j in range(b):
                    sx[j] = hr[j]
                    sn[j] = lr[j]
            else:
                nx = smax[cur, i + 1]
                nn = smin[cur, i + 1]
                for j in range(b):
                    v = hr[j]
                    u = nx[j]
                    sx[j] = v if v > u else u
                    v = lr[j]
                    u = nn[j]
                    sn[j] = v if v < u else u
            ct = cs[t, c0:c0 + b]
            if t >= b_max:
                for j in range(b):
                    hl[j] += nan_sum_nb(hr[j]) + nan_sum_nb(lr[j])
                    acc[j] += nan_sum_nb(ct[j])
            else:
                for j in range(b):
                    hl[j] += nan_sum_nb(hr[j]) + nan_sum_nb(lr[j]) if t >= bg[j] else 0.0
                    acc[j] += nan_sum_nb(ct[j]) if t >= bg[j] else 0.0
        for t in range(k0, k1):  # the prefix extremes, each window, the oscillator
            i = t - k0
            hr = hs[t, c0:c0 + b]
            lr = ls[t, c0:c0 + b]
            ct = cs[t, c0:c0 + b]
            if i == 0:
                for j in range(b):
                    pmax[j] = hr[j]
                    pmin[j] = lr[j]
            else:
                for j in range(b):
                    v = hr[j]
                    pmax[j] = v if v > pmax[j] else pmax[j]
                    v = lr[j]
                    pmin[j] = v if v < pmin[j] else pmin[j]
            ot = dst[t, d0:d0 + b]
            if t < period - 1:
                for j in range(b):
                    ot[j] = NAN
                continue
            if i == period - 1:  # the window is this block
                px = pmax
                pn = pmin
            else:
                px = smax[1 - cur, i + 1]
                pn = smin[1 - cur, i + 1]
            for j in range(b):
                u = px[j]
                hv = u if u > pmax[j] else pmax[j]
                u = pn[j]
                lv = u if u < pmin[j] else pmin[j]
                ot[j] = willr_value_nb(hv, lv, ct[j]) if willr else fastk_value_nb(hv, lv, ct[j])
            if t < ready:
                for j in range(b):
                    ot[j] = ot[j] if t - bg[j] >= period - 1 else NAN
    for j in range(b):  # a NaN high or low after the start: TA-Lib's own extreme
        acc[j] += hl[j]
        if hl[j] != hl[j] and bg[j] < n:
            s = bg[j]
            hx = np.full(n - s, NAN)
            ln = np.full(n - s, NAN)
            extreme_1d_nb(hs[s:, c0 + j], hx, period, 1.0, False, 0)
            extreme_1d_nb(ls[s:, c0 + j], ln, period, -1.0, False, 0)
            for t in range(s + period - 1, n):
                hv = hx[t - s]
                lv = ln[t - s]
                c = cs[t, c0 + j]
                dst[t, d0 + j] = willr_value_nb(hv, lv, c) if willr else fastk_value_nb(hv, lv, c)


@njit(cache=True, nogil=True, error_model="numpy")
def ma_pass_nb(src, s0, begin, period, matype, dst, d0):
    """dst[:, d0 + j] = ma_1d_nb(src[begin[j]:, s0 + j], period, matype) (SMA, EMA or a copy), NaN before. SMA
    and EMA start at the first non-NaN value from begin[j] on, as kernels.indicators.cpu's kernels do; once
    every column is past its seed the bars take a branch-free loop."""
    n = src.shape[0]
    b = begin.shape[0]
    bg = begin.copy()
    copy = period == 1 or matype == 10
    ema = matype == 1
    kf = 2.0 / (period + 1.0)
    s = np.full(b, n, dtype=np.int64)
    left = b
    fast_from = bg.max() if copy else n
    total = np.zeros(b)
    prev = np.zeros(b)
    for t in range(n):
        xt = src[t, s0:s0 + b]
        ot = dst[t, d0:d0 + b]
        if t >= fast_from:
            if copy:
                for j in range(b):
                    ot[j] = xt[j]
            elif ema:
                for j in range(b):
                    e = ((xt[j] - prev[j]) * kf) + prev[j]
                    prev[j] = e
                    ot[j] = e
            else:
                xo = src[t - period + 1, s0:s0 + b]
                for j in range(b):
                    tot = total[j] + xt[j]
                    ot[j] = tot / period
                    total[j] = tot - xo[j]
            continue
        xo = src[max(t - period + 1, 0), s0:s0 + b]
        for j in range(b):
            v = xt[j]
            if copy:
                ot[j] = v if t >= bg[j] else NAN
                continue
            if s[j] == n and t >= bg[j] and v == v:
                s[j] = t
                left -= 1
            k = t - s[j]
            if k < 0:
                ot[j] = NAN
            elif ema:
                if k < period - 1:
                    total[j] += v
                    ot[j] = NAN
                elif k == period - 1:
                    total[j] += v
                    prev[j] = total[j] / period
                    ot[j] = prev[j]
                else:
                    prev[j] = ((v - prev[j]) * kf) + prev[j]
                    ot[j] = prev[j]
            else:
                total[j] += v
                if k >= period - 1:
                    ot[j] = total[j] / period
                    total[j] -= xo[j]
                else:
                    ot[j] = NAN
        if left == 0 and fast_from == n and not copy:
            fast_from = s.max() + period


@njit(cache=True, nogil=True, error_model="numpy")
def rsi_talib_pass_nb(x, c0, begin, period, dst, d0, acc):
    """cpu/momentum.py::rsi_talib_1d_nb per column from begin[j]: TA-Lib 0.8.1's RSI bits; acc[j] += the
    NaN check of every input bar from the start (see common.nan_sum_nb)."""
    n = x.shape[0]
    b = begin.shape[0]
    bg = begin.copy()
    inv = 1.0 / period
    gain = np.zeros(b)
    loss = np.zeros(b)
    for t in range(n):
        xt = x[t, c0:c0 + b]
        xp = x[max(t - 1, 0), c0:c0 + b]
        ot = dst[t, d0:d0 + b]
        for j in range(b):
            k = t - bg[j]
            acc[j] += nan_sum_nb(xt[j]) if k >= 0 else 0.0
            if k <= 0:
                ot[j] = NAN
                continue
            d = xt[j] - xp[j]
            if k > period:
                gain[j] *= period - 1
                loss[j] *= period - 1
            if d < 0.0:
                loss[j] -= d
            else:
                gain[j] += d
            if k < period:
                ot[j] = NAN
                continue
            gain[j] *= inv
            loss[j] *= inv
            tv = gain[j] + loss[j]
            ot[j] = 100.0 * (gain[j] / tv) if (tv > 0.0 or tv < 0.0) else 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def mask_nb(dst, d0, begin, lb):
    """dst[t, d0 + j] = NaN for the bars before begin[j] + lb (the function's lookback)."""
    n = dst.shape[0]
    b = begin.shape[0]
    for t in range(min(n, begin.max() + lb)):
        ot = dst[t, d0:d0 + b]
        for j in range(b):
            ot[j] = ot[j] if t - begin[j] >= lb else NAN


@njit(cache=True, nogil=True, error_model="numpy")
def stochf_nb(h, low, c, c0, begin, fk, fd, fdmt, fastk, fastd, j0, acc):
    """STOCHF of columns c0:c0+b (into columns j0:j0+b of the outputs): fast %K over fk bars, fast %D its MA."""
    oscillator_pass_nb(h, low, c, c0, begin, fk, False, fastk, j0, acc)
    ma_pass_nb(fastk, j0, begin + (fk - 1), fd, fdmt, fastd, j0)
    lb = fk - 1 + ma_lookback_nb(fd, fdmt)
    mask_nb(fastk, j0, begin, lb)
    mask_nb(fastd, j0, begin, lb)


@njit(cache=True, nogil=True, error_model="numpy")
def stoch_nb(h, low, c, begin, fk, sk, skmt, sd, sdmt, slowk, slowd, j0, acc):
    """STOCH: fast %K (held in slowd's place), slow %K = MA(sk) of it, slow %D = MA(sd) of slow %K."""
    oscillator_pass_nb(h, low, c, j0, begin, fk, False, slowd, j0, acc)
    lbk = ma_lookback_nb(sk, skmt)
    ma_pass_nb(slowd, j0, begin + (fk - 1), sk, skmt, slowk, j0)
    ma_pass_nb(slowk, j0, begin + (fk - 1 + lbk), sd, sdmt, slowd, j0)
    lb = fk - 1 + lbk + ma_lookback_nb(sd, sdmt)
    mask_nb(slowk, j0, begin, lb)
    mask_nb(slowd, j0, begin, lb)


@njit(cache=True, nogil=True, error_model="numpy")
def aroon_pass_nb(h, low, c0, begin, period, down, up, acc):
    """AROON of columns c0 + j: 100 / period * (period - bars since the highest high / lowest low of the
    last period + 1 bars), ties to the latest bar, from bar begin[j] + period on (NaN before).

    The window extremes and their bars as in `oscillator_pass_nb` (blocks of period + 1 bars, a
    window = a suffix of one block and a prefix of the next), ties going to the later bar in each
    comparison, which is the bar TA-Lib's scan keeps; a column with a NaN after its start takes the
    column kernel (`cpu/momentum.py::aroon_1d_nb`). acc[j] += the NaN check of its highs and lows."""
    n = h.shape[0]
    b = begin.shape[0]
    size = period + 1
    bg = begin.copy()
    b_max = bg.max()
    factor = 100.0 / period
    sx = np.empty((2, size, b))  # suffix highs and their bars
    sxi = np.empty((2, size, b))
    sn = np.empty((2, size, b))
    sni = np.empty((2, size, b))
    px = np.empty(b)
    pxi = np.empty(b)
    pn = np.empty(b)
    pni = np.empty(b)
    for k0 in range(0, n, size):
        k1 = min(n, k0 + size)
        cur = (k0 // size) % 2
        for t in range(k1 - 1, k0 - 1, -1):
            i = t - k0
            hr = h[t, c0:c0 + b]
            lr = low[t, c0:c0 + b]
            ox = sx[cur, i]
            oxi = sxi[cur, i]
            on = sn[cur, i]
            oni = sni[cur, i]
            if t == k1 - 1:
                for j in range(b):
                    ox[j] = hr[j]
                    oxi[j] = t
                    on[j] = lr[j]
                    oni[j] = t
            else:
                nx = sx[cur, i + 1]
                nxi = sxi[cur, i + 1]
                nn = sn[cur, i + 1]
                nni = sni[cur, i + 1]
                for j in range(b):
                    up_ = hr[j] > nx[j]  # a tie keeps the later bar
                    ox[j] = hr[j] if up_ else nx[j]
                    oxi[j] = t if up_ else nxi[j]
                    dn_ = lr[j] < nn[j]
                    on[j] = lr[j] if dn_ else nn[j]
                    oni[j] = t if dn_ else nni[j]
            if t >= b_max:
                for j in range(b):
                    acc[j] += nan_sum_nb(hr[j]) + nan_sum_nb(lr[j])
            else:
                for j in range(b):
                    acc[j] += nan_sum_nb(hr[j]) + nan_sum_nb(lr[j]) if t >= bg[j] else 0.0
        for t in range(k0, k1):
            i = t - k0
            hr = h[t, c0:c0 + b]
            lr = low[t, c0:c0 + b]
            if i == 0:
                for j in range(b):
                    px[j] = hr[j]
                    pxi[j] = t
                    pn[j] = lr[j]
                    pni[j] = t
            else:
                for j in range(b):
                    up_ = hr[j] >= px[j]
                    px[j] = hr[j] if up_ else px[j]
                    pxi[j] = t if up_ else pxi[j]
                    dn_ = lr[j] <= pn[j]
                    pn[j] = lr[j] if dn_ else pn[j]
                    pni[j] = t if dn_ else pni[j]
            dt = down[t, c0:c0 + b]
            ut = up[t, c0:c0 + b]
            if t < period:
                for j in range(b):
                    dt[j] = NAN
                    ut[j] = NAN
                continue
            if i == size - 1:  # the window is this block
                for j in range(b):
                    ut[j] = factor * (period - (t - pxi[j]))
                    dt[j] = factor * (period - (t - pni[j]))
            else:
                ox = sx[1 - cur, i + 1]
                oxi = sxi[1 - cur, i + 1]
                on = sn[1 - cur, i + 1]
                oni = sni[1 - cur, i + 1]
                for j in range(b):
                    hi_bar = pxi[j] if px[j] >= ox[j] else oxi[j]
                    lo_bar = pni[j] if pn[j] <= on[j] else oni[j]
                    ut[j] = factor * (period - (t - hi_bar))
                    dt[j] = factor * (period - (t - lo_bar))
            if t < b_max + period:
                for j in range(b):
                    ok = t - bg[j] >= period
                    ut[j] = ut[j] if ok else NAN
                    dt[j] = dt[j] if ok else NAN
    for j in range(b):  # a NaN after the start: TA-Lib's own scan
        if acc[j] != acc[j] and bg[j] < n:
            s = bg[j]
            dn = np.full(n - s, NAN)
            upc = np.full(n - s, NAN)
            aroon_1d_nb(h[s:, c0 + j], low[s:, c0 + j], dn, upc, period, False)
            for t in range(s, n):
                down[t, c0 + j] = dn[t - s]
                up[t, c0 + j] = upc[t - s]


@njit(cache=True, nogil=True, error_model="numpy")
def _rows(code, a0, a1, a2, a3, a4, out, p, start, j0, j1, holes):
    acc = np.zeros(j1 - j0)
    if code == 0:
        stoch_nb(a0, a1, a2, start, int(p[0]), int(p[1]), int(p[2]), int(p[3]), int(p[4]), out[0], out[1], j0, acc)
    elif code == 1:
        stochf_nb(a0, a1, a2, j0, start, int(p[0]), int(p[1]), int(p[2]), out[0], out[1], j0, acc)
    elif code == 2:  # the RSI in fast %D's place, then STOCHF over it
        period = int(p[0])
        rsi_talib_pass_nb(a0, j0, start, period, out[1], j0, acc)
        r = out[1]
        stochf_nb(r, r, r, j0, start + period, int(p[1]), int(p[2]), int(p[3]), out[0], out[1], j0,
                  np.zeros(j1 - j0))
    elif code == 3:
        oscillator_pass_nb(a0, a1, a2, j0, start, int(p[0]), True, out[0], j0, acc)
    else:
        aroon_pass_nb(a0, a1, j0, start, int(p[0]), out[0], out[1], acc)
    mark_from_sums_nb(acc, holes, j0)


@njit(cache=True, parallel=True)
def run_nb(code, a0, a1, a2, a3, a4, n_in, p, out, holes, w):
    """This group's cached driver: common.run_rows_marking_nb with this module's _rows (the kernels mark
    the gappy columns on their way)."""
    return run_rows_marking_nb(_rows, code, a0, a1, a2, a3, a4, n_in, p, out, holes, w)
