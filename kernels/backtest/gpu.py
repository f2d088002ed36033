"""GPU backend of the sweeps: one fused CUDA kernel per chunk (CuPy RawModule).

Two paths give the same numbers (`launch(path=...)`):

- Table path (trend_following, mean_reversion, pairs; the default for sweeps of at
  least TABLE_MIN_CELLS cells whose tables fit TABLE_MAX_BYTES). The indicator a combination reads depends on its window
  only (the fast / slow SMA or EMA; the band z-score), and a grid has far fewer
  windows than combinations (the 10,000-combination benchmark grids have 200 and
  25). `table_kernel` first streams each (window, unit) once, with exactly the
  running arithmetic below, into a (windows, T, U) table (1.6 ms for 2 GB); then
  `sweep_tab_kernel` runs a thread per (combination, unit) that per bar only
  loads its table value(s) and the return, applies the position rule and does
  the accounting, with no division. Combinations are launched sorted by window
  so that the 8 warps of a block read the same table rows (L1 hits). On an H100,
  2520 x 500 x 10,000 float64: 1.75e11 -> 2.5e11 cells/s (trend sma),
  0.93e11 -> 2.4e11 (mean_reversion), 1.6e11 -> 2.5e11 (pairs), kernel alone
  (bench/results/sweep_profile_h100.json).
- Streaming path (momentum, and tables that would not fit), described below.

The metrics epilogue (`asset_metrics`, `portfolio_aggregates`) is one elementwise
kernel over (P, N) and one thread per combination over the (T, P) sums.

A thread owns one (combination, unit) pair, where a unit is an asset (or, for
`pairs`, a pair of assets), and streams over the bars keeping running state only:
TA-Lib's running sums for SMA (reading the trailing value c[t - w + 1] back from
the (T, N) input instead of keeping a ring buffer), the EMA seeded with the SMA
of its first period, TA-Lib 0.8's shifted-sum variance with its re-anchoring,
the band state machine, and the per-asset accumulators of
docs/backtest-semantics.md (equity, drawdown, sums of r, r^2 and min(r, 0)^2,
trade PnL and counts, exposure and turnover). Nothing of size T x N x P exists.

Layout: the threads of a warp are 32 consecutive units of one combination, so a
bar's loads are coalesced; a block holds 8 consecutive combinations of the same 32
units, which share the bar rows (and, on a Cartesian grid, most trailing rows) in
L1. Register use is capped for 3 blocks per SM (2 for pairs, which carries two
legs of state). Each warp first runs a warm-up loop, then, from the bar where all
its threads are past their warm-up, a steady loop without the warm-up tests that
issues the next bar's loads before computing the current one (measured on an H100:
1.5x on trend_following / pairs, 1.15x on mean_reversion; bench/results/sweep_h100.json).

Portfolio sums: per (combination, bar) the sum of the net returns over the assets.
Each thread turns its net return into a 64-bit fixed-point integer (scale 2^e,
chosen by the caller from a bound on |r| over the whole panel: |q| < 2^50); the
warp stages 16 bars of these in shared memory, sums each bar's 32 values (two
lanes per bar) and adds 16 consecutive bars of psum[combination, :] with one
coalesced 64-bit atomic add per lane. Integer sums are associative: the result does
not depend on the order of the atomics, and chunk sums over disjoint asset ranges
add up exactly (what `merge_sweeps` relies on).

Arithmetic: the price-derived state (MAs, variance, z-scores) is in the sweep's
dtype T (float or double) with explicitly rounded operations (`__dmul_rn`, ...)
wherever TA-Lib's C code has a separate multiply and add, so that no fused
multiply-add moves a position; the per-asset accumulators are always double
(float32 changes the signals only). Two comparisons are pre-screened without
division, with rigorous error bounds, and fall back to the exact quotients when
close: SMA(fast) vs SMA(slow) by reciprocals, and the band tests of z against the
entry/exit thresholds by squares. The Numba kernels (`sweep_cpu.py`) compute the
exact quotients in the same order, so both backends take the same positions.

Compile-time variants (`module(defines=...)`, for bench/kernels/backtest/bench_sweep.py): SWEEP_REDUCE
(3 shared-memory tiles, 2 register tiles with __reduce_add_sync, 1 one atomic per
warp and bar), SWEEP_PREFETCH (1: load the next bar ahead), SWEEP_MINB (blocks per SM),
SWEEP_FILTER / SWEEP_ZFILTER (the pre-screens), SWEEP_STEADY, SWEEP_DIAG (timing
diagnostics with wrong results); table path: SWEEP_TMINB (blocks per SM; default 4,
pairs 3), SWEEP_TPREF (bars loaded ahead, 1 or 2; default 2, pairs 1).

Lazy: CuPy is imported inside functions; the module compiles on first use (the
worker calls `warmups()` at start).
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from kernels.backtest.grid import KIND, N_FLOAT_SLOTS, N_INT_SLOTS

N_ACC = 11  # accumulators per asset, see ACC_FIELDS in sweep.py
WARPS_PER_BLOCK = 8
KIND_NAMES = {KIND.TREND: "K_TREND", KIND.MOMENTUM: "K_MOMENTUM", KIND.MEAN_REVERSION: "K_MEANREV",
              KIND.PAIRS: "K_PAIRS"}
_CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}

# The per-unit streaming code is plain C++ apart from the `SWEEP_DEV` qualifier and
# the rounding intrinsics, so that tests can compile it on the host (SWEEP_EMULATE)
# and compare it with the Numba kernels on machines without a GPU.
SWEEP_SOURCE = r"""
#ifndef SWEEP_EMULATE
#define SWEEP_DEV __device__ __forceinline__
#endif
#ifndef SWEEP_REDUCE
#define SWEEP_REDUCE 3
#endif
#ifndef SWEEP_SHUFFLE
#define SWEEP_SHUFFLE 0
#endif
#ifndef SWEEP_PREFETCH
#define SWEEP_PREFETCH 1
#endif
#ifndef SWEEP_ZFILTER
#define SWEEP_ZFILTER 1
#endif
#ifndef SWEEP_FILTER
#define SWEEP_FILTER 1
#endif
#ifndef SWEEP_WARPS
#define SWEEP_WARPS 8
#endif
#ifndef SWEEP_STEADY
#define SWEEP_STEADY 1
#endif
#ifndef SWEEP_DIAG
#define SWEEP_DIAG 0
#endif
#ifdef SWEEP_TPREF
#define SWEEP_TPREF_OF(KIND) (SWEEP_TPREF)
#else
#define SWEEP_TPREF_OF(KIND) ((KIND) == K_PAIRS ? 1 : 2)
#endif

#define K_TREND 0
#define K_MOMENTUM 1
#define K_MEANREV 2
#define K_PAIRS 3
#define K_TREND_EMA 4  // internal: trend_following with EMAs (K_TREND streams SMAs)
#define N_INT 4
#define N_FLT 8
#define N_ACC 11

SWEEP_DEV double mul_rn(double a, double b) { return __dmul_rn(a, b); }
SWEEP_DEV float mul_rn(float a, float b) { return __fmul_rn(a, b); }
SWEEP_DEV double add_rn(double a, double b) { return __dadd_rn(a, b); }
SWEEP_DEV float add_rn(float a, float b) { return __fadd_rn(a, b); }
SWEEP_DEV double sub_rn(double a, double b) { return __dsub_rn(a, b); }
SWEEP_DEV float sub_rn(float a, float b) { return __fsub_rn(a, b); }
SWEEP_DEV double div_rn(double a, double b) { return __ddiv_rn(a, b); }
SWEEP_DEV float div_rn(float a, float b) { return __fdiv_rn(a, b); }
SWEEP_DEV double sqrt_rn(double a) { return __dsqrt_rn(a); }
SWEEP_DEV float sqrt_rn(float a) { return __fsqrt_rn(a); }

template <typename T> struct Consts;
template <> struct Consts<double> {
    // 8 u (u = 2^-53): the pre-screen margin of the SMA comparison
    static SWEEP_DEV double tol() { return 1.7763568394002505e-15; }
    // 6 u: the bound on |x - SMA - (x - sa / w by the reciprocal)| of the z pre-screen
    static SWEEP_DEV double zmargin() { return 6.661338147750939e-16; }
    static SWEEP_DEV double var_min() { return 1e-200; }
    static SWEEP_DEV double var_max() { return 1e200; }
    static SWEEP_DEV double num_max() { return 1e100; }
};
template <> struct Consts<float> {
    static SWEEP_DEV float tol() { return 4.76837158203125e-07f; }
    static SWEEP_DEV float zmargin() { return 3.5762786865234375e-07f; }
    static SWEEP_DEV float var_min() { return 1e-30f; }
    static SWEEP_DEV float var_max() { return 1e30f; }
    static SWEEP_DEV float num_max() { return 1e15f; }
};

// Per-asset accumulators (docs/backtest-semantics.md, "Metrics").
struct Leg {
    double E, peak, emin, be, bp, s1, s2, d2, pnl;
    int n, expo, turn, ntr, ncl, nwin, pprev;
};

SWEEP_DEV void leg_init(Leg& L) {
    L.E = 1.0; L.peak = 1.0; L.emin = 1.0; L.be = 1.0; L.bp = 1.0;
    L.s1 = 0.0; L.s2 = 0.0; L.d2 = 0.0; L.pnl = 0.0;
    L.n = 0; L.expo = 0; L.turn = 0; L.ntr = 0; L.ncl = 0; L.nwin = 0; L.pprev = 0;
}

// round(r * scale) as an integer, ties to even, for |r * scale| < 2^51: adding
// 1.5 * 2^52 leaves the rounded integer in the low mantissa bits.
#define SWEEP_MAGIC 6755399441055744.0
SWEEP_DEV long long fixed_point(double r, double scale) {
    return double_bits(fma(r, scale, SWEEP_MAGIC)) - double_bits(SWEEP_MAGIC);
}

// One bar of one asset: position q (before the no-data rule), the bar's simple
// return rt (NaN: no data at this bar; 0: data but none at the previous bar).
// Returns the net return in fixed point for the portfolio sum (0 when inactive).
SWEEP_DEV long long leg_step(Leg& L, const int q, const double rt, const double fs, const double fs2,
                             const double scale) {
    const bool act = !isnan(rt);
    const int p = act ? q : 0;
    const double rr = act ? rt : 0.0;
    const int pp = L.pprev;
    // g = sign(pp) * rr and k = |p - pp| * fs are exact products (fs2 = 2 fs); when
    // pp == 0, g may be -0.0, which changes no sum, product or comparison below.
    const double g = (double)pp * rr;
    const int dp = abs(p - pp);
    const double k = (double)dp * fs;
    const double r = g - k;
    L.E = L.E * (1.0 + r);
    if (L.E > L.peak) {
        // close the drawdown segment of the old peak: keep the deepest (min E / peak)
        if (L.emin * L.bp < L.be * L.peak) { L.be = L.emin; L.bp = L.peak; }
        L.peak = L.E;
        L.emin = L.E;
    } else if (L.E < L.emin) {
        L.emin = L.E;
    }
    if (act) {
        L.n += 1;
        L.s1 += r;
        L.s2 = fma(r, r, L.s2);
        if (r < 0.0) L.d2 = fma(r, r, L.d2);  // + min(r, 0)^2 (fmin costs a NaN-aware sequence)
    }
    L.expo += (p != 0);  // p != 0 implies act
    L.turn += dp;
    L.pnl += g;  // g == 0 when flat; a flat leg's pnl is reset before it is read again
    if (p != pp) {
        if (pp != 0) {
            if (p == 0) L.pnl -= k;
            L.ncl += 1;
            L.nwin += (L.pnl > 0.0);
        }
        if (p != 0) { L.pnl = -k; L.ntr += 1; }
    }
    L.pprev = p;
    return act ? fixed_point(r, scale) : 0LL;
}

SWEEP_DEV double leg_drawdown(const Leg& L) {
    double be = L.be, bp = L.bp;
    if (L.emin * bp < be * L.peak) { be = L.emin; bp = L.peak; }
    return 1.0 - be / bp;
}

SWEEP_DEV void leg_write(double* out, const long long plane, const Leg& L) {
    out[0 * plane] = (double)L.n;
    out[1 * plane] = L.E;
    out[2 * plane] = leg_drawdown(L);
    out[3 * plane] = L.s1;
    out[4 * plane] = L.s2;
    out[5 * plane] = L.d2;
    out[6 * plane] = (double)L.expo;
    out[7 * plane] = (double)L.turn;
    out[8 * plane] = (double)L.ntr;
    out[9 * plane] = (double)L.ncl;
    out[10 * plane] = (double)L.nwin;
}

// A unit's legs into acc (N_ACC, P, n_assets): a pairs unit writes its two assets' legs.
template <int KIND>
SWEEP_DEV void unit_write(double* acc, const int combo, const int P, const int n_assets, const int u,
                          const Leg& La, const Leg& Lb) {
    const long long plane = (long long)P * n_assets;
    double* out = acc + (long long)combo * n_assets;
    if (KIND == K_PAIRS) {
        leg_write(out + 2 * u, plane, La);
        leg_write(out + 2 * u + 1, plane, Lb);
    } else {
        leg_write(out + u, plane, La);
    }
}

// TA-Lib 0.8 VAR's re-anchoring (kernels/indicators/cpu.py: var_rebuild_nb): fresh
// two-pass sums of the window ending at t, trailing value already removed. Rare (every
// 32 windows, or when the variance collapses): kept out of line, returned by value so
// that the caller's running state stays in registers.
#ifndef SWEEP_EMULATE
#define SWEEP_COLD __device__ __noinline__
#else
#define SWEEP_COLD inline
#endif
template <typename T>
struct VarState { T var, shift, tot1, tot2, peak; };

template <typename T>
SWEEP_COLD VarState<T> var_rebuild(const T* col, const long long U, const int t, const int w, const T inv) {
    VarState<T> o;
    const int ws = t - w + 1;
    T acc = (T)0;
    for (int j = ws; j <= t; ++j) acc = add_rn(acc, col[(long long)j * U]);
    o.shift = mul_rn(acc, inv);
    o.tot1 = (T)0;
    o.tot2 = (T)0;
    for (int j = ws; j <= t; ++j) {
        const T a = sub_rn(col[(long long)j * U], o.shift);
        o.tot1 = add_rn(o.tot1, a);
        o.tot2 = add_rn(o.tot2, mul_rn(a, a));
    }
    T mean1 = mul_rn(o.tot1, inv);
    o.var = sub_rn(mul_rn(o.tot2, inv), mul_rn(mean1, mean1));
    if (o.var < mul_rn((T)0.000001, mul_rn(o.tot2, inv))) {
        o.shift = col[(long long)t * U];
        o.tot1 = (T)0;
        o.tot2 = (T)0;
        for (int j = ws; j <= t; ++j) {
            const T a = sub_rn(col[(long long)j * U], o.shift);
            o.tot1 = add_rn(o.tot1, a);
            o.tot2 = add_rn(o.tot2, mul_rn(a, a));
        }
        mean1 = mul_rn(o.tot1, inv);
        o.var = sub_rn(mul_rn(o.tot2, inv), mul_rn(mean1, mean1));
    }
    o.peak = o.tot2;
    if (o.var < mul_rn((T)0.000000000001, mul_rn(o.tot2, inv))) o.var = (T)0;
    const T a = sub_rn(col[(long long)ws * U], o.shift);
    o.tot1 = sub_rn(o.tot1, a);
    o.tot2 = sub_rn(o.tot2, mul_rn(a, a));
    return o;
}

// ---- The window-table path (trend_following, mean_reversion, pairs).
// Every combination with the same window reads the same indicator: the SMA or EMA
// of trend_following, the z-score of the band kinds. table_column streams one
// (window, unit) column over the bars with exactly the running arithmetic of Unit
// (so the same values), writing out[t * U] (the column u of a (Tn, U) plane):
// TAB_SMA / TAB_EMA: the MA, NaN in its warm-up (q = 0 where either MA is NaN);
// TAB_Z: z where the band code has a finite z, else 0, which takes every state to
// flat exactly as "no z" does (0 <= exit_z < entry_z). fw = (T)w, kf = (T)(2 / (w + 1)),
// inv = (T)(1 / w), each rounded from double as kernel_floats does.
#define TAB_SMA 0
#define TAB_EMA 1
#define TAB_Z 2
template <typename T, int TK>
SWEEP_DEV void table_column(const T* __restrict__ sig, const int Tn, const int U, const int u, const int first,
                            const int w, const T fw, const T kf, const T inv, T* __restrict__ out) {
    const T* col = sig + u;
    T* o = out + u;
    const long long UL = U;
    const long long off = (long long)(w - 1) * UL;
    const T nan_t = (T)bits_double(0x7ff8000000000000LL);
    T sa = (T)0, e = (T)0, shift = (T)0, tot1 = (T)0, tot2 = (T)0, peak = (T)0;
    int bars = 0;
    for (int t = 0; t < Tn; ++t) {
        const long long row = (long long)t * UL;
        const int k = t - first;
        T v = TK == TAB_Z ? (T)0 : nan_t;
        if (k >= 0) {
            const T x = col[row];
            if constexpr (TK == TAB_SMA) {
                sa = add_rn(sa, x);
                if (k >= w - 1) { v = div_rn(sa, fw); sa = sub_rn(sa, col[row - off]); }
            } else if constexpr (TK == TAB_EMA) {
                if (k < w) sa = add_rn(sa, x);
                if (k == w - 1) e = div_rn(sa, fw);
                else if (k >= w) e = add_rn(mul_rn(sub_rn(x, e), kf), e);
                if (k >= w - 1) v = e;
            } else {
                sa = add_rn(sa, x);
                if (k == 0) shift = x;
                if (k == w - 1) { bars = 32 * w; peak = tot2; }
                const T a = sub_rn(x, shift);
                tot1 = add_rn(tot1, a);
                tot2 = add_rn(tot2, mul_rn(a, a));
                if (k >= w - 1) {
                    if (tot2 > peak) peak = tot2;
                    const T mean1 = mul_rn(tot1, inv);
                    T var = sub_rn(mul_rn(tot2, inv), mul_rn(mean1, mean1));
                    const T xt = col[row - off];
                    const T at = sub_rn(xt, shift);
                    tot1 = sub_rn(tot1, at);
                    tot2 = sub_rn(tot2, mul_rn(at, at));
                    bars -= 1;
                    if (var < mul_rn((T)0.000001, mul_rn(peak, inv)) || bars <= 0) {
                        bars = 32 * w;
                        const VarState<T> vs = var_rebuild<T>(col, UL, t, w, inv);
                        var = vs.var; shift = vs.shift; tot1 = vs.tot1; tot2 = vs.tot2; peak = vs.peak;
                    }
                    const T sma = div_rn(sa, fw);
                    const T sd = sqrt_rn(var);
                    if (sd > (T)0) {
                        const T z = div_rn(sub_rn(x, sma), sd);
                        if (isfinite(z)) v = z;
                    }
                    sa = sub_rn(sa, xt);
                }
            }
        }
        o[row] = v;
    }
}

// One unit of one combination on the table path: per bar it reads its window's
// table value(s) and the returns, and runs the same position rule and leg_step as
// Unit. ta / tb: this unit's column of its table plane(s) (fast / slow MA, or z).
template <typename T, int KIND>
struct TabUnit {
    const T* ta;
    const T* tb;
    const T* pa;
    const T* pb;
    int U, lo, state;
    T f0, f1;
    double fs, fs2, scale;
    Leg La, Lb;

    struct Vals { T a, b, ra, rb; };
    SWEEP_DEV void load(const int t, Vals& v) const {
        const int row = t * U;  // the caller guarantees Tn * U < 2^31
        v.a = ta[row];
        if constexpr (KIND == K_TREND) v.b = tb[row];
        v.ra = pa[row];
        if constexpr (KIND == K_PAIRS) v.rb = pb[row];
    }
    SWEEP_DEV long long bar(const Vals& v) {
        int q;
        if constexpr (KIND == K_TREND) {
            q = (v.a > v.b) - (v.a < v.b);
            if (lo && q < 0) q = 0;
        } else {
            const T z = v.a;
            if (state == 1 && z >= -f1) state = 0;
            else if (state == -1 && z <= f1) state = 0;
            if (state == 0) {
                if (z < -f0) state = 1;
                else if (z > f0 && !(KIND == K_MEANREV && lo)) state = -1;
            }
            q = state;
        }
        long long fq = leg_step(La, q, (double)v.ra, fs, fs2, scale);
        if constexpr (KIND == K_PAIRS) fq += leg_step(Lb, -q, (double)v.rb, fs, fs2, scale);
        return fq;
    }
};

// Stream one (combination, unit) of the table path over all bars: two bars per
// iteration, each bar's loads issued one bar ahead, into alternating registers.
// tab: (n_slots, Tn, U); sa / sb: the combination's table slots; ip, fp: its
// kernel rows (long_only at ints[3] for trend, ints[1] for mean_reversion;
// floats [entry_z, exit_z] for the band kinds).
template <typename T, int KIND, class Sink>
SWEEP_DEV void stream_tab(const T* __restrict__ tab, const T* __restrict__ ra, const T* __restrict__ rb,
                          const int Tn, const int U, const int u, const int sa, const int sb,
                          const int* __restrict__ ip, const T* __restrict__ fp,
                          const double fs, const double fs2, const double scale,
                          Sink& sink, Leg& La, Leg& Lb) {
    TabUnit<T, KIND> s;
    const long long plane = (long long)Tn * U;
    s.ta = tab + (long long)sa * plane + u;
    s.tb = tab + (long long)sb * plane + u;
    s.pa = ra + u;
    s.pb = rb + u;
    s.U = U;
    s.lo = KIND == K_TREND ? ip[3] : (KIND == K_MEANREV ? ip[1] : 0);
    s.state = 0;
    s.f0 = fp[0];
    s.f1 = fp[1];
    s.fs = fs; s.fs2 = fs2; s.scale = scale;
    leg_init(s.La);
    leg_init(s.Lb);
    typename TabUnit<T, KIND>::Vals a, b;
    int t = 0;
    const int last = Tn - 1;  // loads past the end re-read the last bar (harmless)
    if constexpr (SWEEP_TPREF_OF(KIND) == 2) {
        // two bars ahead: three register sets in rotation (H100: 4% faster for the
        // one-leg kinds; pairs, short of registers, keeps one bar ahead)
        typename TabUnit<T, KIND>::Vals c;
        if (Tn > 0) { s.load(0, a); s.load(1 < Tn ? 1 : last, b); }
        for (; t + 2 < Tn; t += 3) {
            s.load(t + 2, c);
            sink.add(t, s.bar(a));
            s.load(t + 3 < Tn ? t + 3 : last, a);
            sink.add(t + 1, s.bar(b));
            s.load(t + 4 < Tn ? t + 4 : last, b);
            sink.add(t + 2, s.bar(c));
        }
        if (t < Tn) sink.add(t, s.bar(a));
        if (t + 1 < Tn) sink.add(t + 1, s.bar(b));
    } else {
        if (Tn > 0) s.load(0, a);
        for (; t + 1 < Tn; t += 2) {
            s.load(t + 1, b);
            sink.add(t, s.bar(a));
            s.load(t + 2 < Tn ? t + 2 : last, a);
            sink.add(t + 1, s.bar(b));
        }
        if (t < Tn) sink.add(t, s.bar(a));
    }
    La = s.La;
    Lb = s.Lb;
}

// One unit (column u of sig, (T, U) row-major) of one combination, streamed over
// the bars. sig: close (or, for pairs, the log spread), NaN where missing; first:
// its first finite bar. ra (and rb for pairs): per-asset simple returns with the
// activity encoded (see leg_step). bar<STEADY>(t) advances one bar; STEADY = true
// may be used once t >= steady_from() (every warm-up is over), and skips the
// warm-up tests, which is the same arithmetic.
template <typename T, int KIND>
struct Unit {
    const T* col;
    const T* pa;
    const T* pb;
    long long UL, off1, off2;
    int first, w1, w2, flag1, flag2;
    T f0, f1, f2, f3, f4, f5, f6, f7;
    double fs, fs2, scale;
    T sa, sb, ea, eb, shift, tot1, tot2, peak;
    int bars, state;
    Leg La, Lb;

    SWEEP_DEV void init(const T* __restrict__ sig, const T* __restrict__ ra, const T* __restrict__ rb,
                        const int U, const int u, const int first_, const int* __restrict__ ip,
                        const T* __restrict__ fp, const double fs_, const double fs2_, const double scale_) {
        UL = U;
        col = sig + u;
        pa = ra + u;
        pb = rb + u;
        first = first_;
        w1 = ip[0]; w2 = ip[1]; flag1 = ip[2]; flag2 = ip[3];
        f0 = fp[0]; f1 = fp[1]; f2 = fp[2]; f3 = fp[3]; f4 = fp[4]; f5 = fp[5]; f6 = fp[6]; f7 = fp[7];
        off1 = (KIND == K_MOMENTUM ? (long long)w1 : (long long)(w1 - 1)) * UL;
        off2 = (long long)(w2 - 1) * UL;
        fs = fs_; fs2 = fs2_; scale = scale_;
        sa = (T)0; sb = (T)0; ea = (T)0; eb = (T)0;
        shift = (T)0; tot1 = (T)0; tot2 = (T)0; peak = (T)0;
        bars = 0; state = 0;
        leg_init(La);
        leg_init(Lb);
    }

    // First bar from which every warm-up test of bar<false> is decided (k large).
    SWEEP_DEV int steady_from() const {
        if (KIND == K_TREND || KIND == K_TREND_EMA) return first + w2;
        return first + w1;
    }

    // The loads of one bar (the steady loop issues them a bar ahead).
    struct Vals { T x, t1, t2, ra, rb; };
    SWEEP_DEV void load(const int t, Vals& v) const {
        const long long row = (long long)t * UL;
        v.x = col[row];
        if constexpr (KIND == K_TREND) {
            v.t1 = col[row - off1];
            v.t2 = col[row - off2];
        } else if constexpr (KIND == K_TREND_EMA) {
        } else {
            v.t1 = col[row - off1];
        }
        v.ra = pa[row];
        if constexpr (KIND == K_PAIRS) v.rb = pb[row];
    }

    // PRE: the bar's inputs come from v (loaded ahead; only with STEADY).
    template <bool STEADY, bool PRE>
    SWEEP_DEV long long bar(const int t, const Vals& v) {
        const long long row = (long long)t * UL;
        const int k = t - first;
        int q = 0;
        if (STEADY || k >= 0) {
            const T x = PRE ? v.x : col[row];
            if constexpr (KIND == K_TREND || KIND == K_TREND_EMA) {
                // ints [fast, slow, is_ema, long_only]; floats [k_fast, k_slow, 1/fast, 1/slow, fast, slow]
                if constexpr (KIND == K_TREND_EMA) {
                    if (!STEADY) { sa = add_rn(sa, x); sb = add_rn(sb, x); }
                    if (!STEADY && k == w1 - 1) ea = div_rn(sa, f4);
                    else if (STEADY || k >= w1) ea = add_rn(mul_rn(sub_rn(x, ea), f0), ea);
                    if (!STEADY && k == w2 - 1) eb = div_rn(sb, f5);
                    else if (STEADY || k >= w2) eb = add_rn(mul_rn(sub_rn(x, eb), f1), eb);
                    if (STEADY || k >= w2 - 1) q = (ea > eb) - (ea < eb);
                } else {
                    sa = add_rn(sa, x);
                    sb = add_rn(sb, x);
                    if (STEADY || k >= w2 - 1) {
#if SWEEP_FILTER
                        // Pre-screen with reciprocals (within 3 ulp of the quotients);
                        // decide on TA-Lib's quotients only when they are that close.
                        const T af = sa * f2;
                        const T as = sb * f3;
                        const T d = af - as;
                        const T tl = (fabs(af) + fabs(as)) * Consts<T>::tol();
                        if (d > tl) q = 1;
                        else if (d < -tl) q = -1;
                        else
#endif
                        {
                            const T ma = div_rn(sa, f4);
                            const T mb = div_rn(sb, f5);
                            q = (ma > mb) - (ma < mb);
                        }
                    }
                    if (STEADY || k >= w1 - 1) sa = sub_rn(sa, PRE ? v.t1 : col[row - off1]);
                    if (STEADY || k >= w2 - 1) sb = sub_rn(sb, PRE ? v.t2 : col[row - off2]);
                }
                if (flag2 && q < 0) q = 0;
            } else if constexpr (KIND == K_MOMENTUM) {
                // ints [lookback, long_only]; floats [threshold]
                if (STEADY || k >= w1) {
                    const T m = sub_rn(div_rn(x, PRE ? v.t1 : col[row - off1]), (T)1);
                    if (m > f0) q = 1;
                    else if (!w2 && m < -f0) q = -1;
                }
            } else {
                // mean_reversion / pairs: ints [window, long_only]; floats [entry_z, exit_z, window, 1/window]
                sa = add_rn(sa, x);  // SMA running total
                if (!STEADY && k == 0) shift = x;
                if (!STEADY && k == w1 - 1) { bars = 32 * w1; peak = tot2; }
                const T a = sub_rn(x, shift);
                tot1 = add_rn(tot1, a);
                tot2 = add_rn(tot2, mul_rn(a, a));
                bool ok = false, decided = false;
                T z = (T)0;
                if (STEADY || k >= w1 - 1) {
                    if (tot2 > peak) peak = tot2;
                    const T mean1 = mul_rn(tot1, f3);
                    T var = sub_rn(mul_rn(tot2, f3), mul_rn(mean1, mean1));
                    const T xt = PRE ? v.t1 : col[row - off1];
                    const T at = sub_rn(xt, shift);
                    tot1 = sub_rn(tot1, at);
                    tot2 = sub_rn(tot2, mul_rn(at, at));
                    bars -= 1;
                    if (var < mul_rn((T)0.000001, mul_rn(peak, f3)) || bars <= 0) {
                        bars = 32 * w1;
                        const VarState<T> vs = var_rebuild<T>(col, UL, t, w1, f3);
                        var = vs.var; shift = vs.shift; tot1 = vs.tot1; tot2 = vs.tot2; peak = vs.peak;
                    }
#if SWEEP_ZFILTER
                    // Decide the band comparisons without dividing when z is clearly away
                    // from every threshold: with num' = x - sa / w (by the reciprocal), the
                    // exact num = x - SMA lies in [L, H] = num' -+ 6u (|sa / w| + |num'|),
                    // and z = num / sqrt(var) (1 +- 2u), so "z > a" (a >= 0) is certain when
                    // L > 0 and L^2 > a^2 (1 + 16u) var, and certainly false when H <= 0 or
                    // H^2 < a^2 (1 - 16u) var (f4..f7 hold a^2 (1 +- 20u) for entry, exit);
                    // the same on -z with [-H, -L]. Any undecided comparison, or var / num'
                    // outside the ranges where these bounds hold, takes the exact path.
                    {
                        const T smp = mul_rn(sa, f3);
                        const T nump = sub_rn(x, smp);
                        if (var > Consts<T>::var_min() && var < Consts<T>::var_max() &&
                            fabs(nump) < Consts<T>::num_max()) {
                            const T B = (fabs(smp) + fabs(nump)) * Consts<T>::zmargin();
                            const T L = nump - B;
                            const T H = nump + B;
                            const T LL = L * L;
                            const T HH = H * H;
                            const T ehi = f4 * var, elo = f5 * var, xhi = f6 * var, xlo = f7 * var;
                            const int gz_e = (L > (T)0 && LL > ehi) ? 1 : ((H <= (T)0 || HH < elo) ? -1 : 0);
                            const int gnz_e = (H < (T)0 && HH > ehi) ? 1 : ((L >= (T)0 || LL < elo) ? -1 : 0);
                            const int gz_x = (L > (T)0 && LL > xhi) ? 1 : ((H <= (T)0 || HH < xlo) ? -1 : 0);
                            const int gnz_x = (H < (T)0 && HH > xhi) ? 1 : ((L >= (T)0 || LL < xlo) ? -1 : 0);
                            if (gz_e != 0 && gnz_e != 0 && gz_x != 0 && gnz_x != 0) {
                                decided = true;
                                if (state == 1 && gnz_x < 0) state = 0;        // z >= -exit_z
                                else if (state == -1 && gz_x < 0) state = 0;   // z <= exit_z
                                if (state == 0) {
                                    if (gnz_e > 0) state = 1;                  // z < -entry_z
                                    else if (gz_e > 0 && !(KIND == K_MEANREV && w2)) state = -1;  // z > entry_z
                                }
                            }
                        }
                    }
                    if (!decided)
#endif
                    {
                        const T sma = div_rn(sa, f2);
                        const T sd = sqrt_rn(var);
                        if (sd > (T)0) {
                            z = div_rn(sub_rn(x, sma), sd);
                            ok = isfinite(z);
                        }
                    }
                    sa = sub_rn(sa, xt);
                }
                if (decided) {
                    // state already advanced
                } else if (!ok) {
                    state = 0;
                } else {
                    if (state == 1 && z >= -f1) state = 0;
                    else if (state == -1 && z <= f1) state = 0;
                    if (state == 0) {
                        if (z < -f0) state = 1;
                        else if (z > f0 && !(KIND == K_MEANREV && w2)) state = -1;
                    }
                }
                q = state;
            }
        }
        const T ret_a = PRE ? v.ra : pa[row];
#if SWEEP_DIAG == 2
        // diagnostic build (benchmarks only, wrong results): no per-asset accounting
        return (long long)q + (long long)(ret_a > (T)0);
#endif
        long long fq = leg_step(La, q, (double)ret_a, fs, fs2, scale);
        if constexpr (KIND == K_PAIRS) fq += leg_step(Lb, -q, (double)(PRE ? v.rb : pb[row]), fs, fs2, scale);
        return fq;
    }
};

// Stream one unit of one combination over all bars, adding each bar's fixed-point
// net return into the sink. The steady phase starts where every thread of the
// sink's group (the warp) is past its warm-up, so the group stays in step.
template <typename T, int KIND, class Sink>
SWEEP_DEV void stream_unit(const T* __restrict__ sig, const T* __restrict__ ra, const T* __restrict__ rb,
                           const int Tn, const int U, const int u, const int first,
                           const int* __restrict__ ip, const T* __restrict__ fp,
                           const double fs, const double fs2, const double scale,
                           Sink& sink, Leg& La, Leg& Lb) {
    using U_ = Unit<T, KIND>;
    U_ s;
    s.init(sig, ra, rb, U, u, first, ip, fp, fs, fs2, scale);
    typename U_::Vals cur;
    int t = 0;
#if SWEEP_STEADY
    const int steady = sink.uniform_max(s.steady_from() < Tn ? s.steady_from() : Tn);
    for (; t < steady; ++t) sink.add(t, s.template bar<false, false>(t, cur));
#if SWEEP_PREFETCH
    if (t < Tn) {
        s.load(t, cur);
        for (; t < Tn; ++t) {
            typename U_::Vals nxt;
            s.load(t + 1 < Tn ? t + 1 : t, nxt);
            sink.add(t, s.template bar<true, true>(t, cur));
            cur = nxt;
        }
    }
#else
    for (; t < Tn; ++t) sink.add(t, s.template bar<true, false>(t, cur));
#endif
#else
    for (; t < Tn; ++t) sink.add(t, s.template bar<false, false>(t, cur));
#endif
    La = s.La;
    Lb = s.Lb;
}

// The MA kind of trend_following is a per-combination value, so uniform over a warp:
// branching once, outside the bar loop, gives each kind its own registers.
template <typename T, int KIND, class Sink>
SWEEP_DEV void sweep_unit(const T* __restrict__ sig, const T* __restrict__ ra, const T* __restrict__ rb,
                          const int Tn, const int U, const int u, const int first,
                          const int* __restrict__ ip, const T* __restrict__ fp,
                          const double fs, const double fs2, const double scale,
                          Sink& sink, Leg& La, Leg& Lb) {
    if (KIND == K_TREND && ip[2]) {
        stream_unit<T, (KIND == K_TREND ? K_TREND_EMA : KIND), Sink>(sig, ra, rb, Tn, U, u, first, ip, fp, fs, fs2,
                                                                     scale, sink, La, Lb);
    } else {
        stream_unit<T, KIND, Sink>(sig, ra, rb, Tn, U, u, first, ip, fp, fs, fs2, scale, sink, La, Lb);
    }
}

#ifndef SWEEP_EMULATE
// Adds the warp's 32 fixed-point values of each bar t into psum[combo, t] ((P, Tn)
// row-major, so that a run of bars of one combination is contiguous).
// SWEEP_REDUCE 3: stage the values of 16 bars in shared memory, then each lane sums
//   half a bar's row and 16 lanes add 16 consecutive bars with one coalesced RED;
// 2: sum each bar with __reduce_add_sync, keep bar t's sum in lane t % 32 and add
//   32 bars at a time; 1: sum each bar with __reduce_add_sync, lane 0 adds it.
struct WarpSink {
    unsigned long long* out;  // &psum[combo, 0]
    long long* tile;          // mode 3: this warp's 16 x 33 tile in shared memory
    int Tn;
    bool live;
    int lane;
    long long mine;           // mode 2: sum of bar (t & ~31) + lane

    __device__ __forceinline__ int uniform_max(const int v) const {
        return __reduce_max_sync(0xffffffffu, live ? v : 0);
    }
    // |q| < 2^50: the low 26 bits (unsigned) and the high part (signed, |.| < 2^24)
    // each sum over 32 lanes without overflowing 32 bits.
    __device__ __forceinline__ static long long warp_sum(const long long q) {
#if SWEEP_SHUFFLE
        long long tot = q;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) tot += __shfl_xor_sync(0xffffffffu, tot, o);
        return tot;
#else
        const unsigned lo = (unsigned)(q & 0x3FFFFFFLL);
        const int hi = (int)(q >> 26);
        const unsigned slo = __reduce_add_sync(0xffffffffu, lo);
        const int shi = __reduce_add_sync(0xffffffffu, hi);
        return (long long)shi * 67108864LL + (long long)slo;
#endif
    }
    __device__ __forceinline__ void add(const int t, long long q) {
        q = live ? q : 0LL;
#if SWEEP_DIAG == 1
        // diagnostic build (benchmarks only, wrong results): no warp sum, no atomics
        if (q == 0x7fffffffffffffffLL) out[t] = 1;
        return;
#endif
#if SWEEP_REDUCE == 3
        const int r = t & 15;
        tile[r * 33 + lane] = q;
        if (r == 15 || t == Tn - 1) {  // warp-uniform
            __syncwarp();
            const long long* src = tile + (lane & 15) * 33 + (lane >> 4) * 16;
            long long sum = 0;
#pragma unroll
            for (int i = 0; i < 16; ++i) sum += src[i];
            sum += __shfl_down_sync(0xffffffffu, sum, 16);
            if (lane <= r && sum != 0) atomicAdd(out + (t - r) + lane, (unsigned long long)sum);
            __syncwarp();
        }
#elif SWEEP_REDUCE == 2
        const long long tot = warp_sum(q);
        const int r = t & 31;
        if (lane == r) mine = tot;
        if (r == 31 || t == Tn - 1) {  // warp-uniform
            if (lane <= r && mine != 0) atomicAdd(out + (t - r) + lane, (unsigned long long)mine);
            mine = 0;
        }
#else
        const long long tot = warp_sum(q);
        if (lane == 0 && tot != 0) atomicAdd(out + t, (unsigned long long)tot);
#endif
    }
};

// Blocks per SM the kernel is built for (register cap 65536 / (blocks * threads)):
// 3 for the one-leg kinds (24 warps/SM), 2 for pairs (two legs of state).
#ifdef SWEEP_MINB
#define SWEEP_MINB_OF(KIND) (SWEEP_MINB)
#else
#define SWEEP_MINB_OF(KIND) ((KIND) == K_PAIRS ? 2 : 3)
#endif

// grid (ceil(P / SWEEP_WARPS), ceil(U / 32)), block 32 * SWEEP_WARPS.
// acc: (N_ACC, P, n_assets) doubles; psum: (P * G, Tn) int64 (two's complement in uint64).
template <typename T, int KIND>
__global__ void __launch_bounds__(32 * SWEEP_WARPS, SWEEP_MINB_OF(KIND))
sweep_kernel(const T* __restrict__ sig, const T* __restrict__ ra, const T* __restrict__ rb,
             const int* __restrict__ first, const int* __restrict__ ip, const T* __restrict__ fp,
             const int Tn, const int U, const int P, const int n_assets,
             const double fs, const double fs2, const double scale, const int G, const int GU,
             unsigned long long* __restrict__ psum, double* __restrict__ acc) {
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int combo = blockIdx.x * SWEEP_WARPS + warp;
    if (combo >= P) return;  // whole warp
    const int u0 = blockIdx.y * 32 + lane;
    const bool live = u0 < U;
    const int u = live ? u0 : U - 1;
#if SWEEP_REDUCE == 3
    __shared__ long long tiles[SWEEP_WARPS * 16 * 33];
    long long* tile = tiles + warp * 16 * 33;
#else
    long long* tile = nullptr;
#endif
    // G groups of GU units (GU a multiple of 32: a warp's units are in one group): row combo * G + group
    WarpSink sink{psum + ((long long)combo * G + (blockIdx.y * 32) / GU) * Tn, tile, Tn, live, lane, 0LL};
    Leg La, Lb;
    sweep_unit<T, KIND, WarpSink>(sig, ra, rb, Tn, U, u, first[u], ip + (long long)combo * N_INT,
                                  fp + (long long)combo * N_FLT, fs, fs2, scale, sink, La, Lb);
    if (!live) return;
    unit_write<KIND>(acc, combo, P, n_assets, u, La, Lb);
}

// Window tables: grid (ceil(n_slots * U / 128)), block 128; thread = (slot, unit).
// wins / kinds: per slot its window and TAB_* kind; fws / kfs / invs: (T)w, (T)(2 / (w + 1)),
// (T)(1 / w). out: (n_slots, Tn, U).
template <typename T>
__global__ void table_kernel(const T* __restrict__ sig, const int* __restrict__ first,
                             const int* __restrict__ wins, const int* __restrict__ kinds,
                             const T* __restrict__ fws, const T* __restrict__ kfs, const T* __restrict__ invs,
                             const int Tn, const int U, const int n_slots, T* __restrict__ out) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)n_slots * U) return;
    const int slot = (int)(i / U);
    const int u = (int)(i - (long long)slot * U);
    T* o = out + (long long)slot * Tn * U;
    const int kd = kinds[slot], w = wins[slot], f = first[u];
    const T fw = fws[slot], kf = kfs[slot], inv = invs[slot];
    if (kd == TAB_SMA) table_column<T, TAB_SMA>(sig, Tn, U, u, f, w, fw, kf, inv, o);
    else if (kd == TAB_EMA) table_column<T, TAB_EMA>(sig, Tn, U, u, f, w, fw, kf, inv, o);
    else table_column<T, TAB_Z>(sig, Tn, U, u, f, w, fw, kf, inv, o);
}

#ifndef SWEEP_TMINB
#define SWEEP_TMINB_OF(KIND) ((KIND) == K_PAIRS ? 3 : 4)
#else
#define SWEEP_TMINB_OF(KIND) (SWEEP_TMINB)
#endif

// The table path's sweep: as sweep_kernel, but warp w of block b runs combination
// order[b * SWEEP_WARPS + w] (combinations sorted by table slot, so that the warps
// of a block read the same table rows), slots (P, 2) int32 its table slots.
template <typename T, int KIND>
__global__ void __launch_bounds__(32 * SWEEP_WARPS, SWEEP_TMINB_OF(KIND))
sweep_tab_kernel(const T* __restrict__ tab, const T* __restrict__ ra, const T* __restrict__ rb,
                 const int* __restrict__ order, const int* __restrict__ slots, const int* __restrict__ ip,
                 const T* __restrict__ fp, const int Tn, const int U, const int P, const int n_assets,
                 const double fs, const double fs2, const double scale, const int G, const int GU,
                 unsigned long long* __restrict__ psum, double* __restrict__ acc) {
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int idx = blockIdx.x * SWEEP_WARPS + warp;
    if (idx >= P) return;  // whole warp
    const int combo = order[idx];
    const int u0 = blockIdx.y * 32 + lane;
    const bool live = u0 < U;
    const int u = live ? u0 : U - 1;
#if SWEEP_REDUCE == 3
    __shared__ long long tiles[SWEEP_WARPS * 16 * 33];
    long long* tile = tiles + warp * 16 * 33;
#else
    long long* tile = nullptr;
#endif
    // G groups of GU units (GU a multiple of 32: a warp's units are in one group): row combo * G + group
    WarpSink sink{psum + ((long long)combo * G + (blockIdx.y * 32) / GU) * Tn, tile, Tn, live, lane, 0LL};
    Leg La, Lb;
    stream_tab<T, KIND, WarpSink>(tab, ra, rb, Tn, U, u, slots[2 * combo], slots[2 * combo + 1],
                                  ip + (long long)combo * N_INT, fp + (long long)combo * N_FLT, fs, fs2, scale,
                                  sink, La, Lb);
    if (!live) return;
    unit_write<KIND>(acc, combo, P, n_assets, u, La, Lb);
}
#endif
"""

# double_bits differs between the device and the host emulation.
_DEVICE_PRELUDE = r"""
#define double_bits(x) __double_as_longlong(x)
#define bits_double(x) __longlong_as_double(x)
"""


# Fused epilogue (asset and portfolio metrics, see sweep.asset_metric_arrays and
# sweep.portfolio_metric_arrays for the formulas): one elementwise kernel over
# (P, N) and one thread per combination streaming the (T, P) fixed-point sums,
# instead of dozens of CuPy passes over (T, P) arrays.
METRICS_SOURCE = r"""
extern "C" __global__ void asset_metrics(const double* __restrict__ acc, const long long plane,
                                         const double bars_per_year, const double sqrt_b,
                                         double* __restrict__ out) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= plane) return;
    const double nan = __longlong_as_double(0x7ff8000000000000LL);
    const double n = acc[i], E = acc[plane + i], mdd = acc[2 * plane + i];
    const double s1 = acc[3 * plane + i], s2 = acc[4 * plane + i], d2 = acc[5 * plane + i];
    const double expo = acc[6 * plane + i], ncl = acc[9 * plane + i], nwin = acc[10 * plane + i];
    // the NumPy formulas, one rounded operation at a time (no contraction)
    const double mean = __ddiv_rn(s1, n);
    const double var = __ddiv_rn(__dsub_rn(s2, __dmul_rn(s1, mean)), __dsub_rn(n, 1.0));
    const double sd = sqrt(var < 0.0 ? 0.0 : var);  // np.maximum(var, 0): NaN stays NaN
    const double down = sqrt(__ddiv_rn(d2, n));
    double cagr = E <= 0.0 ? -1.0 : __dsub_rn(pow(fabs(E), __ddiv_rn(bars_per_year, n)), 1.0);
    if (n == 0.0) cagr = nan;
    out[i] = __dsub_rn(E, 1.0);                                                   // total_return
    out[plane + i] = cagr;                                                        // cagr
    out[2 * plane + i] = n < 2.0 ? nan : __dmul_rn(sd, sqrt_b);                   // ann_vol
    out[3 * plane + i] = (n < 2.0 || !(sd > 0.0)) ? nan : __dmul_rn(__ddiv_rn(mean, sd), sqrt_b);
    out[4 * plane + i] = (n < 1.0 || !(down > 0.0)) ? nan : __dmul_rn(__ddiv_rn(mean, down), sqrt_b);
    out[5 * plane + i] = !(mdd > 0.0) ? nan : __ddiv_rn(cagr, mdd);               // calmar
    out[6 * plane + i] = ncl == 0.0 ? nan : __ddiv_rn(nwin, ncl);                 // win_rate
    out[7 * plane + i] = n == 0.0 ? nan : __ddiv_rn(expo, n);                     // exposure
}

// agg (6, P): n, mean, ssd, down2, final equity, max drawdown of the equal-weight
// portfolio of each combination (metrics.return_aggregates on the net returns).
extern "C" __global__ void portfolio_aggregates(const long long* __restrict__ sums, const long long* __restrict__ count,
                                                const int Tn, const int P, const double inv_scale,
                                                double* __restrict__ agg) {
    const int p = blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= P) return;
    // Loads are unconditional, so that the unrolled loop issues several before it
    // waits (one load in flight per thread made this latency-bound).
    double n = 0.0, s = 0.0, d2 = 0.0, E = 1.0, peak = 1.0, mdd = 0.0;
#pragma unroll 8
    for (int t = 0; t < Tn; ++t) {
        const long long c = count[t];
        const long long v = sums[(long long)t * P + p];
        const bool has = c > 0;
        const double q = __ddiv_rn(__dmul_rn((double)v, inv_scale), (double)(has ? c : 1LL));
        const double net = has ? q : 0.0;
        if (has) {
            n += 1.0;
            s = __dadd_rn(s, net);
            if (net < 0.0) d2 = __dadd_rn(d2, __dmul_rn(net, net));
        }
        E = __dmul_rn(E, __dadd_rn(1.0, net));
        peak = E > peak ? E : peak;
        const double dd = __dsub_rn(1.0, __ddiv_rn(E, peak));
        mdd = dd > mdd ? dd : mdd;
    }
    const double mean = __ddiv_rn(s, n);
    double ssd = 0.0;
#pragma unroll 8
    for (int t = 0; t < Tn; ++t) {
        const long long c = count[t];
        const long long v = sums[(long long)t * P + p];
        const double dv = __dsub_rn(__ddiv_rn(__dmul_rn((double)v, inv_scale), (double)(c > 0 ? c : 1LL)), mean);
        if (c > 0) ssd = __dadd_rn(ssd, __dmul_rn(dv, dv));
    }
    agg[p] = n;
    agg[P + p] = mean;
    agg[2 * P + p] = ssd;
    agg[3 * P + p] = d2;
    agg[4 * P + p] = E;
    agg[5 * P + p] = mdd;
}
"""
ASSET_METRIC_NAMES = ("total_return", "cagr", "ann_vol", "sharpe", "sortino", "calmar", "win_rate", "exposure")

# Window tables of one launch at most this large (else the streaming kernel); the
# table path also needs Tn * U < 2^31 (32-bit row offsets).
TABLE_MAX_BYTES = 4 << 30
# Below this many cells (bars x units x combinations) "auto" streams: building the
# tables costs about 1 ms whatever their size (one thread per (window, unit) walks
# every bar), more than it saves on small sweeps (H100, 2520 x 100 x 100 trend:
# kernel 1.2 ms streaming, 2.1 ms with tables; bench/results/sweep_h100_run2.json).
TABLE_MIN_CELLS = 1 << 28
TAB_SMA, TAB_EMA, TAB_Z = 0, 1, 2
TABLE_KINDS = (KIND.TREND, KIND.MEAN_REVERSION, KIND.PAIRS)


def kernel_names() -> list[str]:
    """Every instantiation: sweep_kernel<T, KIND> for T in float/double and the four
    kinds, sweep_tab_kernel<T, KIND> for the table kinds, table_kernel<T>."""
    names = [f"sweep_kernel<{ct},{k}>" for ct in ("float", "double") for k in range(4)]
    names += [f"sweep_tab_kernel<{ct},{int(k)}>" for ct in ("float", "double") for k in TABLE_KINDS]
    names += [f"table_kernel<{ct}>" for ct in ("float", "double")]
    return names


def kernel_name(kind: int, dtype: Any, table: bool = False) -> str:
    return f"{'sweep_tab_kernel' if table else 'sweep_kernel'}<{_CTYPES[np.dtype(dtype)]},{int(kind)}>"


@functools.lru_cache(maxsize=16)
def module(defines: tuple[str, ...] = (), names: tuple[str, ...] | None = None) -> Any:
    """The compiled RawModule of every kernel (cached). `defines` such as
    ("SWEEP_REDUCE=1",) build variants for benchmarks, `names` a subset of kernels."""
    import cupy as cp  # noqa: PLC0415 - GPU backend only

    options = ("-std=c++17", *(f"-D{d}" for d in defines))
    return cp.RawModule(code=_DEVICE_PRELUDE + SWEEP_SOURCE, options=options,
                        name_expressions=list(names) if names else kernel_names())


@functools.lru_cache(maxsize=1)
def metrics_module() -> Any:
    import cupy as cp  # noqa: PLC0415

    return cp.RawModule(code=METRICS_SOURCE)


def table_slots(kind: int, ints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The window tables a launch needs: (windows (S,), table kinds (S,), slots (P, 2)
    int32: each combination's two slots (fast, slow; the band kinds repeat theirs)),
    or None for a kind without tables (momentum)."""
    ints = np.asarray(ints)
    if kind == KIND.TREND:
        tk = np.where(ints[:, 2] != 0, TAB_EMA, TAB_SMA).astype(np.int64)
        keys = np.concatenate([tk * (1 << 32) + ints[:, 0], tk * (1 << 32) + ints[:, 1]])
    elif kind in (KIND.MEAN_REVERSION, KIND.PAIRS):
        keys = np.concatenate([TAB_Z * (1 << 32) + ints[:, 0].astype(np.int64)] * 2)
    else:
        return None
    uniq, inverse = np.unique(keys, return_inverse=True)
    n = ints.shape[0]
    slots = np.ascontiguousarray(np.stack([inverse[:n], inverse[n:]], axis=1).astype(np.int32))
    return (uniq & 0xFFFFFFFF).astype(np.int32), (uniq >> 32).astype(np.int32), slots


@dataclass(frozen=True, eq=False)
class TablePlan:
    """The table path's per-launch inputs, on the device: per slot its window, table
    kind and (T)w, (T)(2 / (w + 1)), (T)(1 / w); per combination its slots (P, 2) and
    the launch order (combinations sorted by slot, so that the warps of a block read
    the same table rows)."""

    windows: Any
    kinds: Any
    fws: Any
    kfs: Any
    invs: Any
    slots: Any
    order: Any

    @property
    def n_slots(self) -> int:
        return int(self.windows.shape[0])


def table_bytes(n_slots: int, n_bars: int, n_units: int, dtype: Any) -> int:
    return n_slots * n_bars * n_units * np.dtype(dtype).itemsize


def tables_pay(kind: int, n_slots: int, n_combos: int, n_bars: int, n_units: int, dtype: Any,
               free_bytes: int | None = None) -> bool:
    """Whether "auto" takes the table path: a table kind, Tn * U < 2^31, at least
    TABLE_MIN_CELLS cells, and tables within TABLE_MAX_BYTES and half of `free_bytes`."""
    if kind not in TABLE_KINDS or n_bars * n_units >= 2**31 or n_bars * n_units * n_combos < TABLE_MIN_CELLS:
        return False
    limit = TABLE_MAX_BYTES if free_bytes is None else min(TABLE_MAX_BYTES, free_bytes // 2)
    return table_bytes(n_slots, n_bars, n_units, dtype) <= limit


def plan_tables(kind: int, ints: Any, n_bars: int, n_units: int, dtype: Any, force: bool = False) -> TablePlan | None:
    """The TablePlan of a launch, or None where the streaming kernel runs instead
    (see `tables_pay`; `force`: any table kind with Tn * U < 2^31)."""
    wanted = tables_wanted(kind, ints, n_bars, n_units, dtype, force)
    return None if wanted is None else table_plan(*wanted, dtype)


def tables_wanted(kind: int, ints: Any, n_bars: int, n_units: int, dtype: Any,
                  force: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """`plan_tables`' decision without the device arrays: the launch's host `table_slots`, or
    None where the streaming kernel runs."""
    import cupy as cp  # noqa: PLC0415

    if kind not in TABLE_KINDS or n_bars * n_units >= 2**31:
        return None
    ints = ints.get() if hasattr(ints, "get") else np.asarray(ints)
    windows, kinds, slots = table_slots(kind, ints)
    if not force:
        free = cp.cuda.runtime.memGetInfo()[0] + cp.get_default_memory_pool().free_bytes()
        if not tables_pay(kind, len(windows), ints.shape[0], n_bars, n_units, dtype, free):
            return None
    return windows, kinds, slots


def table_plan(windows: np.ndarray, kinds: np.ndarray, slots: np.ndarray, dtype: Any) -> TablePlan:
    """The TablePlan of host `table_slots` output (slots may index a larger table set, e.g.
    the tables of a whole grid kept by `kernels.backtest.sweep.prepare_sweep`)."""
    import cupy as cp  # noqa: PLC0415

    dtype = np.dtype(dtype)
    w = np.asarray(windows).astype(np.float64)
    return TablePlan(*(cp.asarray(a) for a in (windows, kinds, w.astype(dtype), (2.0 / (w + 1.0)).astype(dtype),
                                               (1.0 / w).astype(dtype))), *_slots_and_order(slots))


def with_slots(plan: TablePlan, slots: np.ndarray) -> TablePlan:
    """`plan` (its windows on the device) for other combinations: their host slots (P, 2) into
    the same tables, and the launch order."""
    return dataclasses.replace(plan, **dict(zip(("slots", "order"), _slots_and_order(slots))))


def _slots_and_order(slots: np.ndarray) -> tuple[Any, Any]:
    import cupy as cp  # noqa: PLC0415

    slots = np.ascontiguousarray(slots, dtype=np.int32)
    order = np.lexsort((slots[:, 1], slots[:, 0])).astype(np.int32)
    return cp.asarray(slots), cp.asarray(order)


def use_tables(kind: int, ints: np.ndarray, n_bars: int, n_units: int, dtype: Any) -> bool:
    """Whether `launch(path="auto")` takes the table path (device memory aside)."""
    if kind not in TABLE_KINDS:
        return False
    windows, _, _ = table_slots(kind, ints)
    return tables_pay(kind, len(windows), np.asarray(ints).shape[0], n_bars, n_units, dtype)


def build_tables(sig: Any, first: Any, plan: TablePlan, defines: tuple[str, ...] = ()) -> Any:
    """(S, Tn, U) window tables of `sig` (see table_column in SWEEP_SOURCE)."""
    import cupy as cp  # noqa: PLC0415

    n_bars, n_units = sig.shape
    dtype = sig.dtype
    tab = cp.empty((plan.n_slots, n_bars, n_units), dtype=dtype)
    name = f"table_kernel<{_CTYPES[np.dtype(dtype)]}>"
    fn = (module(tuple(defines), (name,)) if defines else module()).get_function(name)
    threads = 64
    total = plan.n_slots * n_units
    fn(((total + threads - 1) // threads,), (threads,),
       (cp.ascontiguousarray(sig), cp.ascontiguousarray(first, dtype=cp.int32), plan.windows, plan.kinds,
        plan.fws, plan.kfs, plan.invs, np.int32(n_bars), np.int32(n_units), np.int32(plan.n_slots), tab))
    return tab


def launch(
    kind: int,
    sig: Any,
    ra: Any,
    rb: Any,
    first: Any,
    ints: Any,
    floats: Any,
    n_assets: int,
    fees_plus_slippage: float,
    scale: float,
    defines: tuple[str, ...] = (),
    warps_per_block: int = WARPS_PER_BLOCK,
    path: str = "auto",
    tables: TablePlan | None = None,
    groups: int = 1,
    tab: Any = None,
) -> tuple[Any, Any]:
    """Run the fused kernel on CuPy arrays; returns (acc (N_ACC, P, n_assets) float64,
    psum (T, P * groups) int64).

    `groups` > 1 (walk-forward folds side by side): the units are `groups` equal blocks
    of a multiple of 32 units each, and column p * groups + g of psum sums block g only.

    `sig` (T, U), `ra`/`rb` (T, U) (rb = ra unless pairs) in the sweep dtype,
    `first` (U,) int32, `ints` (P, 4) int32 (NumPy or CuPy), `floats` (P, 8) in the
    sweep dtype. Columns of `acc` not covered by a unit (the odd last asset of pairs)
    are left for the caller to fill. `path`: "table" (window tables shared by the
    combinations, trend / band kinds), "stream" (every thread streams its own
    indicators) or "auto" (tables where `plan_tables` gives a plan; `tables` may
    bring that plan, made ahead); both paths give the same numbers. `tab`: the (S, Tn, U)
    tables of `tables`' slots built ahead (`build_tables`, kept between launches over the
    same units); None: built here for this launch.
    """
    import cupy as cp  # noqa: PLC0415

    n_bars, n_units = sig.shape
    n_combos = ints.shape[0]
    dtype = sig.dtype
    if path not in ("auto", "table", "stream"):
        raise ValueError(f"path must be 'auto', 'table' or 'stream', got {path!r}")
    empty = n_units == 0 or n_combos == 0 or n_bars == 0
    if path == "stream" or empty:
        tables = tab = None
    elif tables is None:  # host work first, so that the device does not wait between launches
        tables = plan_tables(kind, ints, n_bars, n_units, dtype, force=path == "table")
        if tables is None and path == "table":
            raise ValueError(f"no table path for kind {kind} with {n_bars} x {n_units} units")
    table = tables is not None
    if tab is not None and (not table or tab.shape[1:] != (n_bars, n_units) or tab.dtype != dtype):
        raise ValueError("tab must be the (S, T, U) tables of `tables` for this sig")
    if groups < 1 or n_units % groups or (groups > 1 and (n_units // groups) % 32):
        raise ValueError(f"groups must split the {n_units} units into blocks of a multiple of 32, got {groups}")
    group_units = n_units // groups if groups > 1 else 0x7FFFFFFF
    acc = cp.empty((N_ACC, n_combos, n_assets), dtype=cp.float64)
    psum = cp.zeros((n_combos * groups, n_bars), dtype=cp.uint64)  # combination-major in the kernel
    if empty:
        return acc, cp.ascontiguousarray(psum.view(cp.int64).T)
    if warps_per_block != WARPS_PER_BLOCK and not any(d.startswith("SWEEP_WARPS=") for d in defines):
        defines = (*defines, f"SWEEP_WARPS={warps_per_block}")
    name = kernel_name(kind, dtype, table)
    fn = (module(tuple(defines), (name,)) if defines else module()).get_function(name)
    grid = ((n_combos + warps_per_block - 1) // warps_per_block, (n_units + 31) // 32)
    fs = float(fees_plus_slippage)
    tail = (
        cp.ascontiguousarray(cp.asarray(ints, dtype=cp.int32)),
        cp.ascontiguousarray(cp.asarray(floats, dtype=dtype)),
        np.int32(n_bars),
        np.int32(n_units),
        np.int32(n_combos),
        np.int32(n_assets),
        np.float64(fs),
        np.float64(fs * 2.0),
        np.float64(scale),
        np.int32(groups),
        np.int32(group_units),
        psum,
        acc,
    )
    if table:
        if tab is None:
            tab = build_tables(sig, first, tables, defines)
        fn(grid, (32 * warps_per_block,),
           (tab, cp.ascontiguousarray(ra), cp.ascontiguousarray(rb), tables.order, tables.slots, *tail))
    else:
        fn(grid, (32 * warps_per_block,),
           (cp.ascontiguousarray(sig), cp.ascontiguousarray(ra), cp.ascontiguousarray(rb),
            cp.ascontiguousarray(first, dtype=cp.int32), *tail))
    return acc, cp.ascontiguousarray(psum.view(cp.int64).T)


def asset_metrics(acc: Any, bars_per_year: float) -> dict[str, Any]:
    """ASSET_METRIC_NAMES as (P, N) CuPy arrays from the accumulators (N_ACC, P, N),
    in one kernel (the formulas of sweep.asset_metric_arrays)."""
    import cupy as cp  # noqa: PLC0415

    acc = cp.ascontiguousarray(acc, dtype=cp.float64)
    _, n_combos, n_assets = acc.shape
    plane = n_combos * n_assets
    out = cp.empty((len(ASSET_METRIC_NAMES), n_combos, n_assets), dtype=cp.float64)
    if plane:
        threads = 256
        metrics_module().get_function("asset_metrics")(
            ((plane + threads - 1) // threads,), (threads,),
            (acc, np.int64(plane), np.float64(bars_per_year), np.float64(np.sqrt(bars_per_year)), out))
    return {m: out[j] for j, m in enumerate(ASSET_METRIC_NAMES)}


def portfolio_aggregates(sums: Any, active_count: Any, scale_exp: int) -> dict[str, Any]:
    """metrics.return_aggregates of the equal-weight portfolios from the fixed-point
    sums (T, P) and the active counts (T,): (P,) CuPy arrays, one thread per combination."""
    import cupy as cp  # noqa: PLC0415

    sums = cp.ascontiguousarray(sums, dtype=cp.int64)
    n_bars, n_combos = sums.shape
    agg = cp.empty((6, n_combos), dtype=cp.float64)
    if n_combos:
        threads = 64
        metrics_module().get_function("portfolio_aggregates")(
            ((n_combos + threads - 1) // threads,), (threads,),
            (sums, cp.ascontiguousarray(active_count, dtype=cp.int64), np.int32(n_bars), np.int32(n_combos),
             np.float64(2.0 ** -scale_exp), agg))
    return {k: agg[j] for j, k in enumerate(("n", "mean", "ssd", "down2", "final", "mdd"))}


def warmups() -> dict[str, Callable[[], None]]:
    """Compile and run every sweep kernel once on tiny inputs (one entry per kernel)."""
    import cupy as cp  # noqa: PLC0415

    def make(kind: int, dtype: Any) -> Callable[[], None]:
        def run() -> None:
            n_bars, n_units = 8, 2
            rng = np.random.default_rng(0)
            close = cp.asarray(100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, (n_bars, n_units)), axis=0)), dtype=dtype)
            ret = cp.zeros_like(close)
            first = cp.zeros(n_units, dtype=cp.int32)
            ints = cp.asarray([[2, 3, 0, 0]], dtype=cp.int32)
            floats = cp.asarray([[2 / 3, 0.5, 0.5, 1 / 3, 2.0, 3.0, 0.0, 0.0]], dtype=dtype)
            n_assets = 2 * n_units if kind == KIND.PAIRS else n_units
            for path in ("stream", "table") if kind in TABLE_KINDS else ("stream",):
                acc, sums = launch(kind, close, ret, ret, first, ints, floats, n_assets, 0.0, 2.0**40, path=path)
            asset_metrics(acc, 252.0)
            portfolio_aggregates(sums, cp.full(n_bars, n_units, dtype=cp.int64), 40)
            cp.cuda.get_current_stream().synchronize()

        return run

    return {
        f"sweep_{KIND_NAMES[k].lower()[2:]}_{_CTYPES[np.dtype(dt)]}": make(k, dt)
        for dt in (np.float32, np.float64)
        for k in (KIND.TREND, KIND.MOMENTUM, KIND.MEAN_REVERSION, KIND.PAIRS)
    }


__all__ = ["N_ACC", "SWEEP_SOURCE", "METRICS_SOURCE", "TABLE_MAX_BYTES", "TABLE_MIN_CELLS", "TablePlan",
           "asset_metrics", "build_tables", "kernel_names", "launch", "module", "plan_tables", "portfolio_aggregates",
           "table_bytes", "table_plan", "table_slots", "tables_pay", "tables_wanted", "use_tables", "warmups",
           "with_slots", "N_FLOAT_SLOTS", "N_INT_SLOTS"]
