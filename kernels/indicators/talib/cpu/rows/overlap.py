"""Row kernels of the overlap studies: SMA, EMA, WMA, DEMA, TEMA, KAMA, BBANDS (see common.py for the
contract). Each column gets the arithmetic of its column kernel (`cpu/ma.py`, `cpu/overlap.py`,
`kernels/indicators/cpu.py`) operation by operation, in the same order: the same bits."""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from kernels.indicators.talib.cpu.rows.common import (
    NAN, add_nan_checks_nb, mark_from_sums_nb, mask_warmup_nb, run_rows_marking_nb, talib_var_step_nb,
)

NAMES = ("SMA", "EMA", "WMA", "DEMA", "TEMA", "KAMA", "BBANDS")

BBANDS_MATYPES = (0, 1, 2, 3, 4, 6, 10, 11)  # the middle bands with a row kernel here (SMA, EMA, WMA, DEMA, TEMA, KAMA)


def supports(name, values):
    """BBANDS has row kernels for the moving averages of this module; other matypes run the column kernels."""
    if name == "BBANDS":
        return int(values["matype"]) in BBANDS_MATYPES
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def div(a, b):
    """a / b, IEEE (the same bits as `/`) without Numba's ZeroDivisionError test: that test is an exit
    from the loop and stops it vectorising. The divisors here are nonzero (periods, TA-Lib's constants)
    or, where a select throws the quotient away, may be anything."""
    return a / b


@njit(cache=True, nogil=True, error_model="numpy")
def sma_rows_nb(x, out, period, start, j0, j1, acc):
    """TA_SMA per column: running total, add the new bar, emit, drop the trailing bar (period 1: a copy)."""
    n = x.shape[0]
    w = j1 - j0
    st = start.copy()
    t_all = st.max()
    total = np.zeros(w)
    steady = t_all + period - 1  # from here every column adds, emits and drops: no per-column test
    for t in range(st.min(), n):
        xt = x[t, j0:j1]
        xo = x[max(t - period + 1, 0), j0:j1]  # the trailing bar (only read where k >= period - 1)
        ot = out[t, j0:j1]
        if t >= steady:
            for j in range(w):
                tot = total[j] + xt[j]
                ot[j] = tot / period
                total[j] = tot - xo[j]
        else:
            for j in range(w):
                k = t - st[j]
                ready = k >= period - 1
                tot = total[j] + (xt[j] if k >= 0 else 0.0)
                ot[j] = tot / period if ready else NAN
                total[j] = tot - (xo[j] if ready else 0.0)
        add_nan_checks_nb(acc, xt, t, st, t_all)


@njit(cache=True, nogil=True, error_model="numpy")
def ema_rows_nb(x, out, period, kf, start, j0, j1, acc):
    """TA_EMA per column: seeded with the SMA of the first `period` bars, then
    prev = ((x - prev) * kf) + prev (period 1: a copy)."""
    n = x.shape[0]
    w = j1 - j0
    st = start.copy()
    t_all = st.max()
    total = np.zeros(w)
    prev = np.zeros(w)
    steady = t_all + period  # from here every column is past its seed: the EMA step only
    for t in range(st.min(), n):
        xt = x[t, j0:j1]
        ot = out[t, j0:j1]
        if t >= steady:
            for j in range(w):
                e = ((xt[j] - prev[j]) * kf) + prev[j]
                prev[j] = e
                ot[j] = e
        else:
            for j in range(w):
                k = t - st[j]
                v = xt[j]
                tot = total[j] + (v if k >= 0 and k < period else 0.0)
                total[j] = tot
                e = tot / period if k == period - 1 else ((v - prev[j]) * kf) + prev[j]
                ready = k >= period - 1
                prev[j] = e if ready else prev[j]
                ot[j] = e if ready else NAN
        add_nan_checks_nb(acc, xt, t, st, t_all)


@njit(cache=True, nogil=True)
def wma_rows_nb(x, out, period, start, j0, j1, acc):
    """TA_WMA per column (`indicators.cpu.wma_1d_nb`, period >= 2): a running weighted sum and sub-sum,
    period_sub += x; period_sub -= trailing; period_sum += x * period, emit period_sum / divider,
    period_sum -= period_sub; during the warm-up period_sum += x * (k + 1). Both sums are rebuilt from
    the window every 8 * period bars counted from the column's first value (TA-Lib >= 0.8): those bars
    are known in advance (`nxt`), and the rebuild runs for every column at once, kept where due.
    k (bars since the column's start) is a float here (exact for these integers): the weight k + 1
    needs no int-to-float conversion in the vector loop."""
    n = x.shape[0]
    w = j1 - j0
    st = start.copy()
    t_all = st.max()
    lb = period - 1
    every = 8 * period
    divider = period * (period + 1.0) / 2.0
    fper = float(period)
    flb = float(lb)
    sub = np.zeros(w)
    psum = np.zeros(w)
    stf = np.empty(w)
    nxt = np.empty(w, dtype=np.int64)
    for j in range(w):
        stf[j] = float(st[j])
        nxt[j] = st[j] + lb + every - 1  # `bars` (8 * period at k = lb, minus one a bar) runs out here
    due = nxt.min()
    rs = np.zeros(w)
    rp = np.zeros(w)
    for t in range(st.min(), n):
        xt = x[t, j0:j1]
        add_nan_checks_nb(acc, xt, t, st, t_all)
        xq = x[max(t - period, 0), j0:j1]  # `trailing`: the bar that left the window at the previous bar
        ot = out[t, j0:j1]
        tf = float(t)
        for j in range(w):
            k = tf - stf[j]
            v = xt[j]
            live = k >= 0.0
            ready = k >= flb
            s = (sub[j] + v) - (xq[j] if k > flb else 0.0)  # trailing is 0.0 until k = lb: the same bits
            ps = psum[j] + v * (fper if ready else k + 1.0)
            q = div(ps, divider)
            ot[j] = q if ready else NAN
            sub[j] = s if live else sub[j]
            psum[j] = (ps - s if ready else ps) if live else psum[j]
        if t == due:  # TA-Lib's rebuild: both sums afresh from the window, weights 1..period
            for j in range(w):
                rs[j] = 0.0
                rp[j] = 0.0
            for i in range(period):
                xi = x[t - lb + i, j0:j1] if t - lb + i >= 0 else xt  # (rows before 0: columns not due)
                wi = i + 1
                for j in range(w):
                    v = xi[j]
                    rs[j] += v
                    rp[j] += v * wi
            for j in range(w):
                fl = nxt[j] == t
                nxt[j] = nxt[j] + every if fl else nxt[j]
                ot[j] = div(rp[j], divider) if fl else ot[j]
                sub[j] = rs[j] if fl else sub[j]
                psum[j] = rp[j] - rs[j] if fl else psum[j]
            due = nxt.min()


@njit(cache=True, nogil=True)
def seed_bars_nb(st, n, lb, stages):
    """(n,) uint8: 1 at the bars where some column seeds one of `stages` cascaded EMAs (bars st + lb,
    st + 2 * lb, ...): only those need the SMA seed's division."""
    seed = np.zeros(n, dtype=np.uint8)
    for j in range(st.shape[0]):
        for s in range(1, stages + 1):
            b = st[j] + s * lb
            if b < n:
                seed[b] = 1
    return seed


@njit(cache=True, nogil=True)
def dema_rows_nb(x, out, period, kf, start, j0, j1, acc):
    """TA_DEMA per column (`ma.dema_1d_nb`): EMA e1 of x, EMA e2 of e1 from e1's first value (bar
    lb = period - 1, seeded with the SMA of `period` values of e1), (2 * e1) - e2 from bar 2 * lb.
    Each EMA as `indicators.cpu.ema_1d_nb` (period >= 2). Bars where no column seeds an EMA run a
    loop without the seed's division."""
    n = x.shape[0]
    w = j1 - j0
    st = start.copy()
    t_all = st.max()
    lb = period - 1
    seed = seed_bars_nb(st, n, lb, 2)
    tot1 = np.zeros(w)
    prev1 = np.zeros(w)
    tot2 = np.zeros(w)
    prev2 = np.zeros(w)
    for t in range(st.min(), n):
        xt = x[t, j0:j1]
        add_nan_checks_nb(acc, xt, t, st, t_all)
        ot = out[t, j0:j1]
        if seed[t]:
            for j in range(w):
                k = t - st[j]
                v = xt[j]
                a = tot1[j] + (v if (k >= 0) & (k < period) else 0.0)
                tot1[j] = a
                e1 = div(a, period) if k == lb else ((v - prev1[j]) * kf) + prev1[j]
                prev1[j] = e1 if k >= lb else prev1[j]
                k2 = k - lb
                b = tot2[j] + (e1 if (k2 >= 0) & (k2 < period) else 0.0)
                tot2[j] = b
                e2 = div(b, period) if k2 == lb else ((e1 - prev2[j]) * kf) + prev2[j]
                ready = k2 >= lb
                prev2[j] = e2 if ready else prev2[j]
                ot[j] = (2.0 * e1) - e2 if ready else NAN
        else:  # the same with k != lb and k2 != lb for every column
            for j in range(w):
                k = t - st[j]
                v = xt[j]
                tot1[j] += v if (k >= 0) & (k < period) else 0.0
                p1 = prev1[j]
                e1 = ((v - p1) * kf) + p1
                prev1[j] = e1 if k >= lb else p1
                k2 = k - lb
                tot2[j] += e1 if (k2 >= 0) & (k2 < period) else 0.0
                p2 = prev2[j]
                e2 = ((e1 - p2) * kf) + p2
                ready = k2 >= lb
                prev2[j] = e2 if ready else p2
                ot[j] = (2.0 * e1) - e2 if ready else NAN


@njit(cache=True, nogil=True)
def tema_rows_nb(x, out, period, kf, start, j0, j1, acc):
    """TA_TEMA per column (`ma.tema_1d_nb`): three EMAs in cascade, each from the first value of the
    previous one (bars lb, 2 * lb), e3 + ((3 * e1) - (3 * e2)) from bar 3 * lb; as dema_rows_nb."""
    n = x.shape[0]
    w = j1 - j0
    st = start.copy()
    t_all = st.max()
    lb = period - 1
    seed = seed_bars_nb(st, n, lb, 3)
    tot1 = np.zeros(w)
    prev1 = np.zeros(w)
    tot2 = np.zeros(w)
    prev2 = np.zeros(w)
    tot3 = np.zeros(w)
    prev3 = np.zeros(w)
    for t in range(st.min(), n):
        xt = x[t, j0:j1]
        add_nan_checks_nb(acc, xt, t, st, t_all)
        ot = out[t, j0:j1]
        if seed[t]:
            for j in range(w):
                k = t - st[j]
                v = xt[j]
                a = tot1[j] + (v if (k >= 0) & (k < period) else 0.0)
                tot1[j] = a
                e1 = div(a, period) if k == lb else ((v - prev1[j]) * kf) + prev1[j]
                prev1[j] = e1 if k >= lb else prev1[j]
                k2 = k - lb
                b = tot2[j] + (e1 if (k2 >= 0) & (k2 < period) else 0.0)
                tot2[j] = b
                e2 = div(b, period) if k2 == lb else ((e1 - prev2[j]) * kf) + prev2[j]
                prev2[j] = e2 if k2 >= lb else prev2[j]
                k3 = k2 - lb
                c = tot3[j] + (e2 if (k3 >= 0) & (k3 < period) else 0.0)
                tot3[j] = c
                e3 = div(c, period) if k3 == lb else ((e2 - prev3[j]) * kf) + prev3[j]
                ready = k3 >= lb
                prev3[j] = e3 if ready else prev3[j]
                ot[j] = e3 + ((3.0 * e1) - (3.0 * e2)) if ready else NAN
        else:  # the same with k, k2, k3 != lb for every column
            for j in range(w):
                k = t - st[j]
                v = xt[j]
                tot1[j] += v if (k >= 0) & (k < period) else 0.0
                p1 = prev1[j]
                e1 = ((v - p1) * kf) + p1
                prev1[j] = e1 if k >= lb else p1
                k2 = k - lb
                tot2[j] += e1 if (k2 >= 0) & (k2 < period) else 0.0
                p2 = prev2[j]
                e2 = ((e1 - p2) * kf) + p2
                prev2[j] = e2 if k2 >= lb else p2
                k3 = k2 - lb
                tot3[j] += e2 if (k3 >= 0) & (k3 < period) else 0.0
                p3 = prev3[j]
                e3 = ((e2 - p3) * kf) + p3
                ready = k3 >= lb
                prev3[j] = e3 if ready else p3
                ot[j] = e3 + ((3.0 * e1) - (3.0 * e2)) if ready else NAN


@njit(cache=True, nogil=True)
def kama_rows_nb(x, out, period, start, j0, j1, acc):
    """TA_KAMA per column (`ma.kama_1d_nb`, period >= 2): the sum of |bar-to-bar moves| over `period`
    moves (the first `period` added one by one, then the oldest move out and the newest in), efficiency
    ratio |x - x[-period]| / sum (1 where sum <= move or ~0), smoothing constant
    ((er * (2/3 - 2/31)) + 2/31) ** 2, seeded with the value at bar period - 1, values from bar period."""
    n = x.shape[0]
    w = j1 - j0
    st = start.copy()
    t_all = st.max()
    const_max = 2.0 / (30.0 + 1.0)
    const_diff = 2.0 / (2.0 + 1.0) - const_max
    roc1 = np.zeros(w)
    prev = np.zeros(w)
    for t in range(st.min(), n):
        xt = x[t, j0:j1]
        add_nan_checks_nb(acc, xt, t, st, t_all)
        xp = x[max(t - 1, 0), j0:j1]
        xa = x[max(t - period, 0), j0:j1]  # the trailing value
        xb = x[max(t - period - 1, 0), j0:j1]  # the one before it (their move leaves the sum)
        ot = out[t, j0:j1]
        for j in range(w):
            k = t - st[j]
            v = xt[j]
            d_old = abs(xb[j] - xa[j]) if k > period else 0.0  # (s - 0.0 is s: the same bits)
            s = (roc1[j] - d_old) + abs(v - xp[j])  # |a - b| == |b - a| exactly
            roc1[j] = s if k >= 1 else roc1[j]
            period_roc = v - xa[j]
            one = (s <= period_roc) | ((-1e-8 < s) & (s < 1e-8))
            er = 1.0 if one else abs(div(period_roc, s))
            sc = (er * const_diff) + const_max
            sc = sc * sc
            e = ((v - prev[j]) * sc) + prev[j]
            ready = k >= period
            prev[j] = e if ready else (v if k == period - 1 else prev[j])
            ot[j] = e if ready else NAN


@njit(cache=True, nogil=True)
def copy_rows_nb(x, out, start, j0, j1, acc):
    """A copy from each column's start bar (TA-Lib's period-1 moving averages)."""
    n = x.shape[0]
    w = j1 - j0
    st = start.copy()
    t_all = st.max()
    for t in range(st.min(), n):
        xt = x[t, j0:j1]
        ot = out[t, j0:j1]
        for j in range(w):
            ot[j] = xt[j]
        if t < t_all:
            mask_warmup_nb(ot, t, st, 0)
        add_nan_checks_nb(acc, xt, t, st, t_all)


@njit(cache=True, nogil=True)
def ma_rows_nb(x, out, period, matype, start, j0, j1, acc):
    """TA_MA (`ma.ma_1d_nb`) for the matypes of BBANDS_MATYPES."""
    if matype == 10 or period == 1:
        copy_rows_nb(x, out, start, j0, j1, acc)
    elif matype == 0 or matype == 11:
        sma_rows_nb(x, out, period, start, j0, j1, acc)
    elif matype == 1:
        ema_rows_nb(x, out, period, 2.0 / (period + 1.0), start, j0, j1, acc)
    elif matype == 2:
        wma_rows_nb(x, out, period, start, j0, j1, acc)
    elif matype == 3:
        dema_rows_nb(x, out, period, 2.0 / (period + 1.0), start, j0, j1, acc)
    elif matype == 4:
        tema_rows_nb(x, out, period, 2.0 / (period + 1.0), start, j0, j1, acc)
    else:
        kama_rows_nb(x, out, period, start, j0, j1, acc)


@njit(cache=True, nogil=True)
def bbands_rows_nb(x, out, period, nbdevup, nbdevdn, matype, start, j0, j1, acc):
    """TA_BBANDS per column (`overlap.bbands_1d_nb`): the MA(matype) middle band, TA_VAR as TA-Lib 0.8.1
    computes it (`statistic.var_talib_1d_nb`: sums of deviations from a shift, rebuilt on the window mean
    when the variance is under 1e-6 of the remaining sum of squares / period, when the departing squared
    deviation exceeds 1e6 x the remaining sum, or every 32 * period bars), bands mid +/- sqrt(var) * nbdev,
    and no bands and no middle where either is NaN.

    At each bar the middle band goes to the row `mid` (SMA and EMA computed here, other MAs first
    written to out[1] by their row kernel), then one loop over the columns updates the variance (and
    rebuilds it where due) and writes the bands."""
    n = x.shape[0]
    w = j1 - j0
    st = start.copy()
    t_all = st.max()
    lb = period - 1
    inv = 1.0 / period
    mode = 2  # middle band already in out[1]
    if period > 1 and (matype == 0 or matype == 11):
        mode = 0
    elif period > 1 and matype == 1:
        mode = 1
    else:
        ma_rows_nb(x, out[1], period, matype, start, j0, j1, acc)
    kf = 2.0 / (period + 1.0)
    total = np.zeros(w)
    prev = np.zeros(w)
    mid = np.zeros(w)
    shift = np.zeros(w)
    tot1 = np.zeros(w)
    tot2 = np.zeros(w)
    bars = np.zeros(w, dtype=np.int64)
    for t in range(st.min(), n):
        xt = x[t, j0:j1]
        add_nan_checks_nb(acc, xt, t, st, t_all)
        xo = x[max(t - lb, 0), j0:j1]  # the window's first bar (only used where k >= period - 1)
        ut = out[0, t, j0:j1]
        mt = out[1, t, j0:j1]
        dt = out[2, t, j0:j1]
        if mode == 0:
            for j in range(w):
                k = t - st[j]
                ready = k >= lb
                tot = total[j] + (xt[j] if k >= 0 else 0.0)
                mid[j] = div(tot, period)
                total[j] = tot - (xo[j] if ready else 0.0)
        elif mode == 1:
            for j in range(w):
                k = t - st[j]
                v = xt[j]
                tot = total[j] + (v if (k >= 0) & (k < period) else 0.0)
                total[j] = tot
                e = div(tot, period) if k == lb else ((v - prev[j]) * kf) + prev[j]
                prev[j] = e if k >= lb else prev[j]
                mid[j] = e
        else:
            for j in range(w):
                mid[j] = mt[j]
        for j in range(w):  # TA-Lib 0.8.1's VAR (statistic.var_talib_1d_nb), column by column
            k = t - st[j]
            if k < 0:
                ut[j] = NAN
                mt[j] = NAN
                dt[j] = NAN
                continue
            vr = talib_var_step_nb(x, t, j0 + j, k, lb, inv, xt[j], xo[j], shift, tot1, tot2, bars, j)
            if k < lb:
                ut[j] = NAN
                mt[j] = NAN
                dt[j] = NAN
                continue
            m = mid[j]
            ok = not ((m != m) | (vr != vr))
            sd = math.sqrt(vr)
            ut[j] = m + sd * nbdevup if ok else NAN
            mt[j] = m if ok else NAN
            dt[j] = m - sd * nbdevdn if ok else NAN


@njit(cache=True, nogil=True)
def _rows(code, a0, a1, a2, a3, a4, out, p, start, j0, j1, holes):
    period = int(p[0])
    acc = np.zeros(j1 - j0)
    if code == 6:
        bbands_rows_nb(a0, out, period, p[1], p[2], int(p[3]), start, j0, j1, acc)
    elif period == 1:
        copy_rows_nb(a0, out[0], start, j0, j1, acc)
    elif code == 0:
        sma_rows_nb(a0, out[0], period, start, j0, j1, acc)
    elif code == 1:
        ema_rows_nb(a0, out[0], period, 2.0 / (period + 1.0), start, j0, j1, acc)
    elif code == 2:
        wma_rows_nb(a0, out[0], period, start, j0, j1, acc)
    elif code == 3:
        dema_rows_nb(a0, out[0], period, 2.0 / (period + 1.0), start, j0, j1, acc)
    elif code == 4:
        tema_rows_nb(a0, out[0], period, 2.0 / (period + 1.0), start, j0, j1, acc)
    elif code == 5:
        kama_rows_nb(a0, out[0], period, start, j0, j1, acc)
    mark_from_sums_nb(acc, holes, j0)


@njit(cache=True, parallel=True)
def run_nb(code, a0, a1, a2, a3, a4, n_in, p, out, holes, w):
    """This group's cached driver: common.run_rows_marking_nb with this module's _rows (each kernel checks
    its input for gaps where it reads it: common.add_nan_checks_nb)."""
    return run_rows_marking_nb(_rows, code, a0, a1, a2, a3, a4, n_in, p, out, holes, w)
