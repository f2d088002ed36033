"""Row kernels of the momentum functions: MACD, RSI, ROC, MOM, CCI, MFI (see common.py for the contract).

Each mirrors its column kernel of `cpu/momentum.py` operation by operation (RSI: kernels.indicators.cpu's
`rsi_1d_nb`, the one `_col` runs), so the outputs are the same bits. The kernels that divide by data
(ROC, RSI, CCI, MFI) compute both sides of TA-Lib's zero checks and select, so they use NumPy's error
model: a division by zero gives inf / NaN that the select drops, instead of raising.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from kernels.indicators.talib.cpu.rows.common import (
    NAN, add_nan_checks_nb, mark_from_sums_nb, mark_holes_nb, mask_warmup_nb, run_rows_marking_nb,
)

NAMES = ("MACD", "RSI", "ROC", "MOM", "CCI", "MFI")
CB = 256  # CCI: columns a block of its window sums


@njit(cache=True, nogil=True)
def nan_rows_nb(out, t0, j0, j1):
    """NaN in every row from t0 on (no column has a value)."""
    for t in range(t0, out.shape[0]):
        out[t, j0:j1] = NAN


@njit(cache=True, nogil=True)
def steady_from_nb(st, n, lb):
    """The first bar (from st.min() on) from which every column that starts (st < n) is past bar lb of
    its own (k > lb): from there a kernel runs its steady step only (n if no such bar)."""
    t1 = st.min()
    for j in range(st.shape[0]):
        if st[j] < n:
            t1 = max(t1, st[j] + lb + 1)
    return min(t1, n)


@njit(cache=True, nogil=True, error_model="numpy")
def macd_rows_nb(x, om, osg, oh, fast, slow, signal, kf, ks, start, j0, j1, acc):
    """TA_INT_MACD (macd_k_1d_nb, fast <= slow): the slow EMA seeded with the SMA of bars 0..slow-1, the
    fast one with the SMA of bars slow-fast..slow-1 (both valid from bar slow-1), MACD = fast - slow,
    the signal EMA (factor 2 / (signal + 1)) seeded with the SMA of MACD's first `signal` values (signal 1:
    MACD itself); all three from bar slow + signal - 2."""
    n = x.shape[0]
    w = j1 - j0
    st = start.copy()
    lb_slow = slow - 1
    lb = lb_slow + signal - 1
    a = slow - fast  # the fast EMA's seed window starts here
    kg = 2.0 / (signal + 1.0)
    one = signal == 1
    tf = np.zeros(w)
    ts = np.zeros(w)
    ef = np.zeros(w)
    es = np.zeros(w)
    tg = np.zeros(w)
    eg = np.zeros(w)
    t1 = steady_from_nb(st, n, lb)
    t_all = st.max()
    ready_all = t_all + lb
    for t in range(st.min(), t1):  # some column still sums a seed window
        xt = x[t, j0:j1]
        add_nan_checks_nb(acc, xt, t, st, t_all)
        omt = om[t, j0:j1]
        ost = osg[t, j0:j1]
        oht = oh[t, j0:j1]
        for j in range(w):
            k = t - st[j]
            v = xt[j]
            s_tot = ts[j] + v if k >= 0 and k < slow else ts[j]
            ts[j] = s_tot
            s_e = s_tot / slow if k == lb_slow else ((v - es[j]) * ks) + es[j]
            s_e = s_e if k >= lb_slow else es[j]
            es[j] = s_e
            f_tot = tf[j] + v if k >= a and k < slow else tf[j]
            tf[j] = f_tot
            f_e = f_tot / fast if k == lb_slow else ((v - ef[j]) * kf) + ef[j]
            f_e = f_e if k >= lb_slow else ef[j]
            ef[j] = f_e
            m = f_e - s_e
            g_tot = tg[j] + m if k >= lb_slow and k <= lb else tg[j]
            tg[j] = g_tot
            g_e = g_tot / signal if k == lb else ((m - eg[j]) * kg) + eg[j]
            g_e = g_e if k >= lb else eg[j]
            eg[j] = g_e
            sg = m if one else g_e
            ready = k >= lb
            omt[j] = m if ready else NAN
            ost[j] = sg if ready else NAN
            oht[j] = (m - sg) if ready else NAN
    for t in range(t1, n):  # every column that starts is past its seeds: the three EMA steps only
        xt = x[t, j0:j1]
        omt = om[t, j0:j1]
        ost = osg[t, j0:j1]
        oht = oh[t, j0:j1]
        for j in range(w):
            v = xt[j]
            s_e = ((v - es[j]) * ks) + es[j]
            es[j] = s_e
            f_e = ((v - ef[j]) * kf) + ef[j]
            ef[j] = f_e
            m = f_e - s_e
            g_e = ((m - eg[j]) * kg) + eg[j]
            eg[j] = g_e
            sg = m if one else g_e
            omt[j] = m
            ost[j] = sg
            oht[j] = m - sg
        add_nan_checks_nb(acc, xt, t, st, t_all)
        if t < ready_all:  # a column that never starts
            mask_warmup_nb(omt, t, st, lb)
            mask_warmup_nb(ost, t, st, lb)
            mask_warmup_nb(oht, t, st, lb)


@njit(cache=True, nogil=True, error_model="numpy")
def rsi_rows_nb(x, out, period, start, j0, j1):
    """kernels.indicators.cpu.rsi_1d_nb: gains and losses summed over bars 1..period and divided by period,
    then avg = avg * keep + move * new (keep = (period - 1) / period, new = 1 / period);
    100 * gain / (gain + loss), 0 where the sum is 0."""
    n = x.shape[0]
    w = j1 - j0
    st = start.copy()
    keep = (period - 1.0) / period
    new = 1.0 / period
    pv = np.zeros(w)
    gain = np.zeros(w)
    loss = np.zeros(w)
    t1 = steady_from_nb(st, n, period)
    for t in range(st.min(), t1):  # some column is at bar `period` or before
        xt = x[t, j0:j1]
        ot = out[t, j0:j1]
        for j in range(w):
            k = t - st[j]
            v = xt[j]
            d = v - pv[j]
            pv[j] = v
            g = gain[j]
            lo = loss[j]
            neg = d < 0.0
            # bars 1..period: TA-Lib's `if d < 0: loss -= d else: gain += d` (a NaN d to the gain)
            gw = g if neg else g + d
            lw = lo - d if neg else lo
            last = k == period
            gw = gw / period if last else gw
            lw = lw / period if last else lw
            # later bars: Wilder's step
            up = 0.0 if neg else d
            down = -d if neg else 0.0
            gs = g * keep + up * new
            ls = lo * keep + down * new
            steady = k > period
            warm = k >= 1
            gn = gs if steady else (gw if warm else g)
            ln = ls if steady else (lw if warm else lo)
            gain[j] = gn
            loss[j] = ln
            tv = gn + ln
            r = 100.0 * (gn / tv) if (tv > 0.0 or tv < 0.0) else 0.0
            ot[j] = r if k >= period else NAN
    for t in range(t1, n):  # every column that starts is past bar `period`: Wilder's step only
        xt = x[t, j0:j1]
        ot = out[t, j0:j1]
        for j in range(w):
            v = xt[j]
            d = v - pv[j]
            pv[j] = v
            neg = d < 0.0
            up = 0.0 if neg else d
            down = -d if neg else 0.0
            gn = gain[j] * keep + up * new
            ln = loss[j] * keep + down * new
            gain[j] = gn
            loss[j] = ln
            tv = gn + ln
            r = 100.0 * (gn / tv) if (tv > 0.0 or tv < 0.0) else 0.0
            ot[j] = r if t - st[j] >= period else NAN


@njit(cache=True, nogil=True, error_model="numpy")
def mom_rows_nb(x, out, period, start, j0, j1, acc):
    """TA_MOM: x[t] - x[t - period]."""
    n = x.shape[0]
    w = j1 - j0
    st = start.copy()
    t_all = st.max()
    for t in range(st.min(), n):
        xt = x[t, j0:j1]
        xo = x[max(t - period, 0), j0:j1]  # only kept where k >= period
        ot = out[t, j0:j1]
        for j in range(w):
            ot[j] = xt[j] - xo[j]
        add_nan_checks_nb(acc, xt, t, st, t_all)
        if t < t_all + period:
            mask_warmup_nb(ot, t, st, period)


@njit(cache=True, nogil=True, error_model="numpy")
def roc_rows_nb(x, out, period, start, j0, j1, acc):
    """TA_ROC: ((x[t] / x[t - period]) - 1) * 100, 0 where x[t - period] is 0."""
    n = x.shape[0]
    w = j1 - j0
    st = start.copy()
    t_all = st.max()
    for t in range(st.min(), n):
        xt = x[t, j0:j1]
        xo = x[max(t - period, 0), j0:j1]  # only kept where k >= period
        ot = out[t, j0:j1]
        for j in range(w):
            prev = xo[j]
            ot[j] = ((xt[j] / prev) - 1.0) * 100.0 if prev != 0.0 else 0.0
        add_nan_checks_nb(acc, xt, t, st, t_all)
        if t < t_all + period:
            mask_warmup_nb(ot, t, st, period)


@njit(cache=True, nogil=True, error_model="numpy")
def cci_rows_nb(h, lo, c, out, period, start, j0, j1):
    """TA_CCI (cci_1d_nb): typical price (h + l + c) / 3 kept in a ring of `period` rows (slot t % period),
    the window mean and mean deviation summed oldest bar first from 0.0, (tp - avg) / (0.015 * (dev / period)),
    0 where tp - avg or dev is 0. The sums go over blocks of CB columns (the block's ring in L1), four
    window rows a pass ((((s + r0) + r1) + r2) + r3: the column kernel's order, fewer loads and stores)."""
    n = h.shape[0]
    w = j1 - j0
    st = start.copy()
    t0 = st.min()
    if n - t0 < period:  # no column has period bars
        nan_rows_nb(out, t0, j0, j1)
        return
    ring = np.empty((period, w))
    avg = np.empty(w)
    dev = np.empty(w)
    for t in range(t0, n):
        ht = h[t, j0:j1]
        lt = lo[t, j0:j1]
        ct = c[t, j0:j1]
        ot = out[t, j0:j1]
        tp = ring[t % period]
        for j in range(w):
            tp[j] = (ht[j] + lt[j] + ct[j]) / 3.0
        if t - t0 < period - 1:  # no column has a full window yet
            for j in range(w):
                ot[j] = NAN
            continue
        for b0 in range(0, w, CB):
            b1 = min(w, b0 + CB)
            av = avg[b0:b1]
            dv = dev[b0:b1]
            bw = b1 - b0
            r0 = ring[(t + 1) % period, b0:b1]
            for j in range(bw):
                av[j] = 0.0 + r0[j]
            i = 1
            while i + 3 < period:
                ra = ring[(t + 1 + i) % period, b0:b1]
                rb = ring[(t + 2 + i) % period, b0:b1]
                rc = ring[(t + 3 + i) % period, b0:b1]
                rd = ring[(t + 4 + i) % period, b0:b1]
                for j in range(bw):
                    av[j] = (((av[j] + ra[j]) + rb[j]) + rc[j]) + rd[j]
                i += 4
            while i < period:
                ra = ring[(t + 1 + i) % period, b0:b1]
                for j in range(bw):
                    av[j] = av[j] + ra[j]
                i += 1
            for j in range(bw):
                av[j] = av[j] / period
            for j in range(bw):
                dv[j] = 0.0 + abs(r0[j] - av[j])
            i = 1
            while i + 3 < period:
                ra = ring[(t + 1 + i) % period, b0:b1]
                rb = ring[(t + 2 + i) % period, b0:b1]
                rc = ring[(t + 3 + i) % period, b0:b1]
                rd = ring[(t + 4 + i) % period, b0:b1]
                for j in range(bw):
                    a = av[j]
                    dv[j] = (((dv[j] + abs(ra[j] - a)) + abs(rb[j] - a)) + abs(rc[j] - a)) + abs(rd[j] - a)
                i += 4
            while i < period:
                ra = ring[(t + 1 + i) % period, b0:b1]
                for j in range(bw):
                    dv[j] = dv[j] + abs(ra[j] - av[j])
                i += 1
        for j in range(w):
            num = tp[j] - avg[j]
            dv = dev[j]
            r = num / (0.015 * (dv / period)) if num != 0.0 and dv != 0.0 else 0.0
            ot[j] = r if t - st[j] >= period - 1 else NAN


@njit(cache=True, nogil=True, error_model="numpy")
def mfi_rows_nb(h, lo, c, v, out, period, start, j0, j1):
    """TA_MFI (mfi_1d_nb): the money flow tp * volume of each bar after the first goes to the positive
    (tp rose) or negative (tp fell) sum, kept in rings of `period` rows (slot t % period: the bar that
    leaves the window wrote the slot the new bar writes); a move within 1e-14 of |tp| + |previous tp| is none,
    the sums reset to 0 after `period` bars without money flow; 100 * clamp(pos) / (pos + neg), 0 where the
    sum is not positive (TA-Lib 0.8.1)."""
    n = h.shape[0]
    w = j1 - j0
    st = start.copy()
    t0 = st.min()
    if n - t0 <= period:  # no column has period + 1 bars
        nan_rows_nb(out, t0, j0, j1)
        return
    ring_p = np.zeros((period, w))
    ring_n = np.zeros((period, w))
    prev = np.zeros(w)
    ps = np.zeros(w)
    ns = np.zeros(w)
    run = np.zeros(w, dtype=np.int64)
    for t in range(t0, n):
        ht = h[t, j0:j1]
        lt = lo[t, j0:j1]
        ct = c[t, j0:j1]
        vt = v[t, j0:j1]
        ot = out[t, j0:j1]
        rp = ring_p[t % period]
        rn = ring_n[t % period]
        for j in range(w):
            k = t - st[j]
            tp = (ht[j] + lt[j] + ct[j]) / 3.0
            d = tp - prev[j]
            sc = abs(tp) + abs(prev[j])
            prev[j] = tp
            mf = tp * vt[j]
            mf = 0.0 if abs(d) <= 0.00000000000001 * sc else mf
            drop = k > period
            p = ps[j] - rp[j] if drop else ps[j]
            q = ns[j] - rn[j] if drop else ns[j]
            live = k >= 1
            pf = (0.0 if d < 0.0 else mf) if live else 0.0
            nf = (mf if d < 0.0 else 0.0) if live else 0.0
            p = p + pf
            q = q + nf
            rp[j] = pf
            rn[j] = nf
            rr = (run[j] + 1 if mf == 0.0 else 0) if live else run[j]
            if rr >= period:
                rr = period
                p = 0.0
                q = 0.0
            run[j] = rr
            ps[j] = p
            ns[j] = q
            s = p + q
            pc = 0.0 if p < 0.0 else (s if p > s else p)
            r = 0.0 if s <= 0.0 else 100.0 * (pc / s)
            ot[j] = r if k >= period else NAN


@njit(cache=True, nogil=True)
def _rows(code, a0, a1, a2, a3, a4, out, p, start, j0, j1, holes):
    acc = np.zeros(j1 - j0)
    if code == 0:
        fast = int(p[0])
        slow = int(p[1])
        if slow < fast:
            fast, slow = slow, fast
        macd_rows_nb(a0, out[0], out[1], out[2], fast, slow, int(p[2]), 2.0 / (fast + 1.0), 2.0 / (slow + 1.0),
                     start, j0, j1, acc)
    elif code == 2:
        roc_rows_nb(a0, out[0], int(p[0]), start, j0, j1, acc)
    elif code == 3:
        mom_rows_nb(a0, out[0], int(p[0]), start, j0, j1, acc)
    else:  # these find their gappy columns with the driver's pass
        n_in = 4 if code == 5 else (3 if code == 4 else 1)
        mark_holes_nb(a0, a1, a2, a3, a4, n_in, start, holes, j0, j1)
        if code == 1:
            rsi_rows_nb(a0, out[0], int(p[0]), start, j0, j1)
        elif code == 4:
            cci_rows_nb(a0, a1, a2, out[0], int(p[0]), start, j0, j1)
        elif code == 5:
            mfi_rows_nb(a0, a1, a2, a3, out[0], int(p[0]), start, j0, j1)
    mark_from_sums_nb(acc, holes, j0)


@njit(cache=True, parallel=True)
def run_nb(code, a0, a1, a2, a3, a4, n_in, p, out, holes, w):
    """This group's cached driver: common.run_rows_marking_nb with this module's _rows (MACD, ROC and MOM mark
    their gappy columns on their way; the others take the driver's pass)."""
    return run_rows_marking_nb(_rows, code, a0, a1, a2, a3, a4, n_in, p, out, holes, w)
