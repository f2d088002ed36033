"""CPU backend of the sweeps: the fused kernel in Numba, parallel over combinations.

Same shape and arithmetic as the CUDA kernel in `gpu.py`: for each (combination,
unit) the bars are streamed once with running state (TA-Lib's SMA running sums
reading the trailing value back from the input, the SMA-seeded EMA, TA-Lib 0.8's
shifted-sum variance, the band state machine) and the per-asset accumulators; the
net return of each active bar is added, as a 64-bit fixed-point integer, into the
combination's per-bar portfolio sum. Operations are the GPU's, one by one (no
fused multiply-add in the signals, float32 signals in float32, accumulators in
float64), so both backends take the same positions; the sums of squares may
differ in the last bits (the GPU fuses them).

`prange` runs over (combination, block of units) jobs; each job owns its row of
the partial sums `part[block, combination]`, so there are no write races, and the
integer partials add up exactly in any grouping.

Inputs are time-contiguous: sig_t (U, T), reta_t / retb_t (U, T). These only
accept NumPy arrays.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from kernels.backtest.grid import KIND

N_ACC = 11
K_TREND = KIND.TREND
K_MOMENTUM = KIND.MOMENTUM
K_MEANREV = KIND.MEAN_REVERSION
K_PAIRS = KIND.PAIRS


def consts_for(dtype: np.dtype) -> np.ndarray:
    """Typed constants of the signal code: [1e-6, 1e-12, pre-screen margin (8 ulp), 1]."""
    dtype = np.dtype(dtype)
    return np.array([1e-6, 1e-12, 8.0 * np.finfo(dtype).eps, 1.0], dtype=dtype)


@njit(cache=True)
def leg_step_nb(q, rt, fs, fs2, scale, pprev, E, peak, emin, be, bp, s1, s2, d2, pnl,  # noqa: N803
                n, expo, turn, ntr, ncl, nwin):  # pragma: no cover - compiled
    """One bar of one asset (see `leg_step` in gpu.py); returns the fixed-point net
    return and the updated state."""
    act = not np.isnan(rt)
    p = q if act else 0
    rr = rt if act else 0.0
    if pprev == 0:
        g = 0.0
    elif pprev > 0:
        g = rr
    else:
        g = -rr
    dp = abs(p - pprev)
    if dp == 0:
        k = 0.0
    elif dp == 1:
        k = fs
    else:
        k = fs2
    r = g - k
    E = E * (1.0 + r)
    if E > peak:
        if emin * bp < be * peak:
            be = emin
            bp = peak
        peak = E
        emin = E
    elif E < emin:
        emin = E
    fq = 0
    if act:
        n += 1
        s1 += r
        s2 += r * r
        dn = min(r, 0.0)
        d2 += dn * dn
        if p != 0:
            expo += 1
        fq = np.int64(np.rint(r * scale))
    turn += dp
    if pprev != 0:
        pnl += g
    if p != pprev:
        if pprev != 0:
            if p == 0:
                pnl -= k
            ncl += 1
            if pnl > 0.0:
                nwin += 1
        if p != 0:
            pnl = -k
            ntr += 1
    return fq, p, E, peak, emin, be, bp, s1, s2, d2, pnl, n, expo, turn, ntr, ncl, nwin


@njit(cache=True)
def write_leg_nb(acc, c, a, n, E, peak, emin, be, bp, s1, s2, d2, expo, turn, ntr, ncl, nwin):  # pragma: no cover
    if emin * bp < be * peak:
        be = emin
        bp = peak
    acc[0, c, a] = n
    acc[1, c, a] = E
    acc[2, c, a] = 1.0 - be / bp
    acc[3, c, a] = s1
    acc[4, c, a] = s2
    acc[5, c, a] = d2
    acc[6, c, a] = expo
    acc[7, c, a] = turn
    acc[8, c, a] = ntr
    acc[9, c, a] = ncl
    acc[10, c, a] = nwin


@njit(cache=True)
def var_rebuild_nb(col, t, w, inv, c6, c12, zero):  # pragma: no cover - compiled
    """TA-Lib 0.8 VAR's re-anchoring (kernels.indicators.cpu.var_rebuild_nb), in the dtype of col."""
    ws = t - w + 1
    acc = zero
    for j in range(ws, t + 1):
        acc = acc + col[j]
    shift = acc * inv
    tot1 = zero
    tot2 = zero
    for j in range(ws, t + 1):
        a = col[j] - shift
        tot1 = tot1 + a
        tot2 = tot2 + a * a
    mean1 = tot1 * inv
    var = tot2 * inv - mean1 * mean1
    if var < c6 * (tot2 * inv):
        shift = col[t]
        tot1 = zero
        tot2 = zero
        for j in range(ws, t + 1):
            a = col[j] - shift
            tot1 = tot1 + a
            tot2 = tot2 + a * a
        mean1 = tot1 * inv
        var = tot2 * inv - mean1 * mean1
    peak = tot2
    if var < c12 * (tot2 * inv):
        var = zero
    a = col[ws] - shift
    tot1 = tot1 - a
    tot2 = tot2 - a * a
    return var, shift, tot1, tot2, peak


@njit(cache=True)
def unit_nb(kind, col, ra, rb, first, ip, fp, cst, fs, fs2, scale, prow, acc, c, a):  # pragma: no cover
    """Stream one unit of one combination over the bars; write its accumulators at
    acc[:, c, a] (and a + 1 for the second leg of a pair) and add the fixed-point
    net returns into prow (T,)."""
    n_bars = col.shape[0]
    w1 = ip[0]
    w2 = ip[1]
    flag1 = ip[2] != 0
    flag2 = ip[3] != 0
    f0, f1, f2, f3, f4, f5 = fp[0], fp[1], fp[2], fp[3], fp[4], fp[5]
    c6, c12, tol, one = cst[0], cst[1], cst[2], cst[3]
    zero = one - one
    sa = zero
    sb = zero
    ea = zero
    eb = zero
    shift = zero
    tot1 = zero
    tot2 = zero
    peak_v = zero
    bars = 0
    state = 0
    # leg a / leg b accumulators
    pa_ = 0
    Ea, pka, emna, bea, bpa, s1a, s2a, d2a, pnla = 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0
    na, expa, tura, ntra, ncla, nwa = 0, 0, 0, 0, 0, 0
    pb_ = 0
    Eb, pkb, emnb, beb, bpb, s1b, s2b, d2b, pnlb = 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0
    nb, expb, turb, ntrb, nclb, nwb = 0, 0, 0, 0, 0, 0
    for t in range(n_bars):
        k = t - first
        q = 0
        if k >= 0:
            x = col[t]
            if kind == K_TREND:
                sa = sa + x
                sb = sb + x
                if flag1:
                    if k == w1 - 1:
                        ea = sa / f4
                    elif k >= w1:
                        ea = (x - ea) * f0 + ea
                    if k == w2 - 1:
                        eb = sb / f5
                    elif k >= w2:
                        eb = (x - eb) * f1 + eb
                    if k >= w2 - 1:
                        q = (1 if ea > eb else 0) - (1 if ea < eb else 0)
                else:
                    if k >= w2 - 1:
                        af = sa * f2
                        as_ = sb * f3
                        d = af - as_
                        tl = (abs(af) + abs(as_)) * tol
                        if d > tl:
                            q = 1
                        elif d < -tl:
                            q = -1
                        else:
                            ma = sa / f4
                            mb = sb / f5
                            q = (1 if ma > mb else 0) - (1 if ma < mb else 0)
                    if k >= w1 - 1:
                        sa = sa - col[t - w1 + 1]
                    if k >= w2 - 1:
                        sb = sb - col[t - w2 + 1]
                if flag2 and q < 0:
                    q = 0
            elif kind == K_MOMENTUM:
                if k >= w1:
                    m = x / col[t - w1] - one
                    if m > f0:
                        q = 1
                    elif w2 == 0 and m < -f0:
                        q = -1
            else:
                sa = sa + x
                if k == 0:
                    shift = x
                if k == w1 - 1:
                    bars = 32 * w1
                    peak_v = tot2
                av = x - shift
                tot1 = tot1 + av
                tot2 = tot2 + av * av
                ok = False
                z = zero
                if k >= w1 - 1:
                    if tot2 > peak_v:
                        peak_v = tot2
                    mean1 = tot1 * f3
                    var = tot2 * f3 - mean1 * mean1
                    xt = col[t - w1 + 1]
                    at = xt - shift
                    tot1 = tot1 - at
                    tot2 = tot2 - at * at
                    bars -= 1
                    if var < c6 * (peak_v * f3) or bars <= 0:
                        bars = 32 * w1
                        var, shift, tot1, tot2, peak_v = var_rebuild_nb(col, t, w1, f3, c6, c12, zero)
                    sma = sa / f2
                    sa = sa - xt
                    sd = np.sqrt(var)
                    if sd > zero:
                        z = (x - sma) / sd
                        ok = np.isfinite(z)
                if not ok:
                    state = 0
                else:
                    if state == 1 and z >= -f1:
                        state = 0
                    elif state == -1 and z <= f1:
                        state = 0
                    if state == 0:
                        if z < -f0:
                            state = 1
                        elif z > f0 and not (kind == K_MEANREV and w2 != 0):
                            state = -1
                q = state
        else:
            state = 0
        (fq, pa_, Ea, pka, emna, bea, bpa, s1a, s2a, d2a, pnla, na, expa, tura, ntra, ncla, nwa) = leg_step_nb(
            q, np.float64(ra[t]), fs, fs2, scale, pa_, Ea, pka, emna, bea, bpa, s1a, s2a, d2a, pnla,
            na, expa, tura, ntra, ncla, nwa)
        if kind == K_PAIRS:
            (fqb, pb_, Eb, pkb, emnb, beb, bpb, s1b, s2b, d2b, pnlb, nb, expb, turb, ntrb, nclb, nwb) = leg_step_nb(
                -q, np.float64(rb[t]), fs, fs2, scale, pb_, Eb, pkb, emnb, beb, bpb, s1b, s2b, d2b, pnlb,
                nb, expb, turb, ntrb, nclb, nwb)
            fq += fqb
        prow[t] += fq
    write_leg_nb(acc, c, a, na, Ea, pka, emna, bea, bpa, s1a, s2a, d2a, expa, tura, ntra, ncla, nwa)
    if kind == K_PAIRS:
        write_leg_nb(acc, c, a + 1, nb, Eb, pkb, emnb, beb, bpb, s1b, s2b, d2b, expb, turb, ntrb, nclb, nwb)


@njit(cache=True, parallel=True)
def sweep_nb(kind, sig_t, reta_t, retb_t, first, ints, floats, cst, fs, fs2, scale, n_assets, n_blocks):  # pragma: no cover
    """All (combination, unit) cells of one chunk.

    Returns acc (N_ACC, P, n_assets) float64 and part (n_blocks, P, T) int64, the
    fixed-point portfolio sums of each block of units (sum them over axis 0).
    Columns of acc not covered by a unit (the odd last asset of pairs) are zero.
    """
    n_units, n_bars = sig_t.shape
    n_combos = ints.shape[0]
    acc = np.zeros((N_ACC, n_combos, n_assets))
    part = np.zeros((n_blocks, n_combos, n_bars), dtype=np.int64)
    legs = 2 if kind == K_PAIRS else 1
    for job in prange(n_combos * n_blocks):
        c = job // n_blocks
        b = job - c * n_blocks
        u0 = b * n_units // n_blocks
        u1 = (b + 1) * n_units // n_blocks
        prow = part[b, c]
        for u in range(u0, u1):
            unit_nb(kind, sig_t[u], reta_t[u], retb_t[u], first[u], ints[c], floats[c], cst, fs, fs2, scale,
                    prow, acc, c, u * legs)
    return acc, part
