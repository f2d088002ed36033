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
from kernels.indicators.cpu import var_rebuild_nb
from kernels.strategies.builtin import band_step_nb

N_ACC = 11
MAGIC = 6755399441055744.0  # 1.5 * 2^52: x + MAGIC - MAGIC rounds |x| < 2^51 to an integer
K_TREND = KIND.TREND
K_MOMENTUM = KIND.MOMENTUM
K_MEANREV = KIND.MEAN_REVERSION
K_PAIRS = KIND.PAIRS


def consts_for(dtype: np.dtype) -> np.ndarray:
    """Typed constants of the signal code: [1e-6, 1e-12, pre-screen margin (8 ulp), 1]."""
    dtype = np.dtype(dtype)
    return np.array([1e-6, 1e-12, 8.0 * np.finfo(dtype).eps, 1.0], dtype=dtype)


# Leg state: (pprev, E, peak, emin, be, bp, s1, s2, d2, pnl, n, expo, turn, ntr, ncl, nwin)
LEG0 = (0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0, 0, 0, 0)


@njit(cache=True, nogil=True)
def leg_step_nb(leg, q, rt, fs, fs2, scale):  # pragma: no cover - compiled
    """One bar of one asset (see `leg_step` in gpu.py): the fixed-point net return
    for the portfolio sum and the updated leg state."""
    pprev, E, peak, emin, be, bp, s1, s2, d2, pnl, n, expo, turn, ntr, ncl, nwin = leg
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
        fq = np.int64((r * scale + MAGIC) - MAGIC)  # round half even, as the GPU's fixed_point
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
    return fq, (p, E, peak, emin, be, bp, s1, s2, d2, pnl, n, expo, turn, ntr, ncl, nwin)


@njit(cache=True, nogil=True)
def write_leg_nb(acc, c, a, leg):  # pragma: no cover - compiled
    pprev, E, peak, emin, be, bp, s1, s2, d2, pnl, n, expo, turn, ntr, ncl, nwin = leg
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


@njit(cache=True, nogil=True)
def unit_trend_nb(col, ra, first, ip, fp, cst, fs, fs2, scale, prow, acc, c, a):  # pragma: no cover
    """Stream one asset of one trend_following combination over the bars: write its
    accumulators at acc[:, c, a] and add its fixed-point net returns into prow (T,).

    ints [fast, slow, is_ema, long_only]; floats [k_fast, k_slow, 1/fast, 1/slow, fast, slow].
    """
    w1, w2, is_ema, long_only = ip[0], ip[1], ip[2] != 0, ip[3] != 0
    kf, ks, invf, invs, wf, ws = fp[0], fp[1], fp[2], fp[3], fp[4], fp[5]
    tol = cst[2]
    zero = cst[3] - cst[3]
    sa = zero
    sb = zero
    ea = zero
    eb = zero
    leg = LEG0
    for t in range(col.shape[0]):
        k = t - first
        q = 0
        if k >= 0:
            x = col[t]
            sa = sa + x
            sb = sb + x
            if is_ema:
                if k == w1 - 1:
                    ea = sa / wf
                elif k >= w1:
                    ea = (x - ea) * kf + ea
                if k == w2 - 1:
                    eb = sb / ws
                elif k >= w2:
                    eb = (x - eb) * ks + eb
                if k >= w2 - 1:
                    q = (1 if ea > eb else 0) - (1 if ea < eb else 0)
            else:
                if k >= w2 - 1:
                    # pre-screen with reciprocals; decide on TA-Lib's quotients when close
                    af = sa * invf
                    as_ = sb * invs
                    d = af - as_
                    tl = (abs(af) + abs(as_)) * tol
                    if d > tl:
                        q = 1
                    elif d < -tl:
                        q = -1
                    else:
                        ma = sa / wf
                        mb = sb / ws
                        q = (1 if ma > mb else 0) - (1 if ma < mb else 0)
                if k >= w1 - 1:
                    sa = sa - col[t - w1 + 1]
                if k >= w2 - 1:
                    sb = sb - col[t - w2 + 1]
            if long_only and q < 0:
                q = 0
        fq, leg = leg_step_nb(leg, q, np.float64(ra[t]), fs, fs2, scale)
        prow[t] += fq
    write_leg_nb(acc, c, a, leg)


@njit(cache=True, nogil=True)
def unit_momentum_nb(col, ra, first, ip, fp, cst, fs, fs2, scale, prow, acc, c, a):  # pragma: no cover
    """As unit_trend_nb for momentum (top_k = 0). ints [lookback, long_only]; floats [threshold]."""
    lookback, long_only = ip[0], ip[1] != 0
    thr = fp[0]
    one = cst[3]
    leg = LEG0
    for t in range(col.shape[0]):
        q = 0
        if t - first >= lookback:
            m = col[t] / col[t - lookback] - one
            if m > thr:
                q = 1
            elif not long_only and m < -thr:
                q = -1
        fq, leg = leg_step_nb(leg, q, np.float64(ra[t]), fs, fs2, scale)
        prow[t] += fq
    write_leg_nb(acc, c, a, leg)


@njit(cache=True, nogil=True)
def unit_band_nb(pairs, col, ra, rb, first, ip, fp, cst, fs, fs2, scale, prow, acc, c, a):  # pragma: no cover
    """As unit_trend_nb for mean_reversion (one asset) and pairs (two legs, q and -q,
    written at a and a + 1): z = (x - SMA) / STDDEV with TA-Lib's SMA and TA-Lib 0.8's
    VAR, and the band state machine. ints [window, long_only]; floats [entry_z,
    exit_z, window, 1/window]."""
    w, long_only = ip[0], ip[1] != 0 and not pairs
    entry, exit_, wf, inv = fp[0], fp[1], fp[2], fp[3]
    c6, c12 = cst[0], cst[1]
    zero = cst[3] - cst[3]
    sa = zero
    shift = zero
    tot1 = zero
    tot2 = zero
    peak = zero
    bars = 0
    state = 0
    leg_a = LEG0
    leg_b = LEG0
    for t in range(col.shape[0]):
        k = t - first
        if k >= 0:
            x = col[t]
            sa = sa + x
            if k == 0:
                shift = x
            if k == w - 1:
                bars = 32 * w
                peak = tot2
            av = x - shift
            tot1 = tot1 + av
            tot2 = tot2 + av * av
            ok = False
            z = zero
            if k >= w - 1:
                if tot2 > peak:
                    peak = tot2
                mean1 = tot1 * inv
                var = tot2 * inv - mean1 * mean1
                xt = col[t - w + 1]
                at = xt - shift
                tot1 = tot1 - at
                tot2 = tot2 - at * at
                bars -= 1
                if var < c6 * (peak * inv) or bars <= 0:
                    bars = 32 * w
                    var, shift, tot1, tot2, peak = var_rebuild_nb(col, t, w, inv, c6, c12, zero)
                sma = sa / wf
                sa = sa - xt
                sd = np.sqrt(var)
                if sd > zero:
                    z = (x - sma) / sd
                    ok = np.isfinite(z)
            state = band_step_nb(state, z, ok, entry, exit_, long_only)
        else:
            state = 0
        fq, leg_a = leg_step_nb(leg_a, state, np.float64(ra[t]), fs, fs2, scale)
        if pairs:
            fqb, leg_b = leg_step_nb(leg_b, -state, np.float64(rb[t]), fs, fs2, scale)
            fq += fqb
        prow[t] += fq
    write_leg_nb(acc, c, a, leg_a)
    if pairs:
        write_leg_nb(acc, c, a + 1, leg_b)


@njit(cache=True, nogil=True, parallel=True)
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
            if kind == K_TREND:
                unit_trend_nb(sig_t[u], reta_t[u], first[u], ints[c], floats[c], cst, fs, fs2, scale, prow, acc, c, u)
            elif kind == K_MOMENTUM:
                unit_momentum_nb(sig_t[u], reta_t[u], first[u], ints[c], floats[c], cst, fs, fs2, scale, prow,
                                 acc, c, u)
            else:
                unit_band_nb(kind == K_PAIRS, sig_t[u], reta_t[u], retb_t[u], first[u], ints[c], floats[c], cst,
                             fs, fs2, scale, prow, acc, c, u * legs)
    return acc, part
