"""TA_VAR's running sums as row steps, shared by the BBANDS and STDDEV row kernels.

`indicators.cpu.var_1d_nb` per column: sums of deviations from a shift (the column's first
value), reseeded by `var_rebuild_nb` when the window is flat (below VAR_FLAT of the peak mean
square since the last reseed) and every 32 * period bars. Each step updates the per-column
state of one bar and leaves the bar's variance in `var`; the caller writes its outputs from it
after `reseed_nb`, so a reseeded column's outputs take the rebuilt variance, as the column kernel's.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from kernels.indicators.cpu import VAR_FLAT, var_rebuild_nb


@njit(inline="always")
def new_state_nb(st, n, period):
    """(shift, tot1, tot2, peak, var, nxt, steady, due): zeroed sums, each column's first countdown
    bar, the bar from which every column that starts is past its warm-up, the first reseed bar."""
    w = st.shape[0]
    lb = period - 1
    every = 32 * period
    nxt = np.empty(w, dtype=np.int64)
    last = 0
    for j in range(w):
        nxt[j] = st[j] + lb + every - 1  # `bars` (32 * period at k = lb, minus one a bar) runs out here
        if st[j] < n and st[j] > last:
            last = st[j]
    return (np.zeros(w), np.zeros(w), np.zeros(w), np.zeros(w), np.zeros(w), nxt, last + period, nxt.min())


@njit(inline="always")
def steady_step_nb(xt, xo, inv, shift, tot1, tot2, peak, var):
    """One bar for columns past their warm-up (no per-column test); returns how many windows are flat."""
    nflat = 0
    for j in range(var.shape[0]):
        v = xt[j]
        sh = shift[j]
        a = v - sh
        s1 = tot1[j] + a
        s2 = tot2[j] + a * a
        pk = peak[j]
        pk = s2 if s2 > pk else pk
        mean1 = s1 * inv
        vr = s2 * inv - mean1 * mean1
        a = xo[j] - sh
        nflat += 1 if vr < VAR_FLAT * (pk * inv) else 0
        tot1[j] = s1 - a
        tot2[j] = s2 - a * a
        peak[j] = pk
        var[j] = vr
    return nflat


@njit(inline="always")
def warm_step_nb(xt, xo, t, st, lb, inv, shift, tot1, tot2, peak, var, ready):
    """One bar while some column is in its warm-up: ready[j] = the column has a window (k >= lb);
    returns how many of the ready windows are flat."""
    nflat = 0
    for j in range(var.shape[0]):
        k = t - st[j]
        v = xt[j]
        live = k >= 0
        rd = k >= lb
        sh = v if k == 0 else shift[j]
        a = v - sh
        s1 = tot1[j] + a
        s2 = tot2[j] + a * a
        pk = tot2[j] if k == lb else peak[j]
        pk = s2 if s2 > pk else pk
        mean1 = s1 * inv
        vr = s2 * inv - mean1 * mean1
        a = xo[j] - sh
        r1 = s1 - a
        r2 = s2 - a * a
        nflat += 1 if rd & (vr < VAR_FLAT * (pk * inv)) else 0
        shift[j] = sh
        tot1[j] = (r1 if rd else s1) if live else tot1[j]
        tot2[j] = (r2 if rd else s2) if live else tot2[j]
        peak[j] = pk if rd else peak[j]
        var[j] = vr
        ready[j] = rd
    return nflat


@njit(inline="always")
def reseed_nb(x, j0, t, st, lb, period, inv, shift, tot1, tot2, peak, var, nxt):
    """TA-Lib's reseed, column by column: a flat window or a countdown run out rebuilds the column's sums
    from its window (var[j] = the rebuilt variance); returns the next bar a countdown runs out."""
    every = 32 * period
    for j in range(var.shape[0]):
        if (t - st[j] >= lb and var[j] < VAR_FLAT * (peak[j] * inv)) or nxt[j] == t:
            nxt[j] = t + every
            vr, sh, s1, s2, pk = var_rebuild_nb(x[:, j0 + j], t, period, inv)
            shift[j] = sh
            tot1[j] = s1
            tot2[j] = s2
            peak[j] = pk
            var[j] = vr
    return nxt.min()
