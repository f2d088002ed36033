"""GPU backend of the indicators: CUDA kernels built with CuPy RawModule.

One thread per column (asset) streams over time with running state, mirroring the
CPU kernels (`cpu.py`) operation by operation; the source is compiled with
`--fmad=false` so that no multiply-add is contracted (the code is C++11) and both backends give the
same bits. Rows of a (T, N) array are contiguous, so consecutive threads read
consecutive addresses (coalesced).

Every indicator is a C++ struct (`setup`, `load`, `step`); a kernel is the template
`indicators<T, U, NF, Pack<...>>` over a pack of such structs, so the same code
serves one indicator and a fused pass that computes many from one read of the
inputs. Latency hiding: each thread loads U rows of every input (and the lagged
rows its rolling windows drop) into registers before it steps through them, so a
thread waits for memory once per U bars rather than once per bar. A panel of a few
thousand columns gives only a few thousand threads (about one warp per SM on an
H100), so a pack over few columns runs split (`indicators_split`): one thread per
(column, indicator), the indicators of a column running side by side.

Reads are float or double (T); state is always double; writes are T. Arguments
travel in one array of 64-bit words: input pointers, then per indicator its
output pointers, scratch pointers, int and double parameters.

CuPy is imported lazily: this module imports on machines without it.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

# Launch shapes, from bench/results/indicators_h100*.json (H100, 2520 x 5000, float64):
# U is the number of rows per register batch, BLOCK the threads per block.
SINGLE_UNROLL, SINGLE_BLOCK = 8, 32  # one indicator: 32-thread blocks give every SM work
PACK_UNROLL, PACK_BLOCK = 4, 32  # several indicators, one thread per column (U=8 spills)
SPLIT_UNROLL, SPLIT_BLOCK = 4, 128  # several indicators, one thread per (column, indicator)
SPLIT_BELOW_COLUMNS = 32768  # fewer columns than this: split
_OPTIONS = ("--fmad=false",)  # no contracted multiply-adds: same bits as the CPU backend


@dataclass(frozen=True)
class KernelDef:
    """One indicator's CUDA struct and argument layout."""

    struct: str
    n_inputs: int
    n_ints: int
    n_doubles: int
    n_outputs: int
    n_scratch: int
    defaults: tuple  # default (ints..., doubles...) for warm-ups


KERNELS: dict[str, KernelDef] = {
    "sma": KernelDef("Sma", 1, 1, 0, 1, 0, (30,)),
    "ema": KernelDef("Ema", 1, 1, 0, 1, 0, (30,)),
    "wma": KernelDef("Wma", 1, 1, 0, 1, 0, (30,)),
    "rsi": KernelDef("Rsi", 1, 1, 0, 1, 0, (14,)),
    "roc": KernelDef("Roc", 1, 1, 0, 1, 0, (10,)),
    "stddev": KernelDef("StdDev", 1, 1, 1, 1, 0, (5, 1.0)),
    "zscore": KernelDef("ZScore", 1, 1, 0, 1, 0, (20,)),
    "bbands": KernelDef("BBands", 1, 1, 2, 3, 0, (5, 2.0, 2.0)),
    "macd": KernelDef("Macd", 1, 3, 0, 3, 0, (12, 26, 9)),
    "atr": KernelDef("Atr", 3, 1, 0, 1, 0, (14,)),
    "stoch": KernelDef("Stoch", 3, 3, 0, 2, 2, (5, 3, 3)),
    "obv": KernelDef("Obv", 2, 0, 0, 1, 0, ()),
    "vwap": KernelDef("Vwap", 4, 1, 0, 1, 0, (14,)),
}

_SOURCE = r"""
typedef long long i64;
typedef unsigned long long u64;
#define QNAN __longlong_as_double(0x7ff8000000000000LL)

// One column of a C-contiguous (T, N) input: element t is at p[t * N].
template <typename T> struct In {
    const T* p; i64 n;
    __device__ __forceinline__ double operator()(int t) const { return (double)__ldg(p + (i64)t * n); }
};
template <typename T> struct Out {
    T* p; i64 n;
    __device__ __forceinline__ void operator()(int t, double v) const { p[(i64)t * n] = (T)v; }
};
// double scratch column, written and read back by the same thread (plain loads)
struct Scratch {
    double* p; i64 n;
    __device__ __forceinline__ double get(int t) const { return p[(i64)t * n]; }
    __device__ __forceinline__ void set(int t, double v) const { p[(i64)t * n] = v; }
};

// Reads the argument words in order.
struct Args {
    const u64* a; int pos; int nT; i64 N; i64 col;
    __device__ __forceinline__ u64 word() { return a[pos++]; }
    __device__ __forceinline__ int ival() { return (int)(long long)word(); }
    __device__ __forceinline__ double dval() { return __longlong_as_double((long long)word()); }
    template <typename T> __device__ __forceinline__ In<T> in(int slot) const {
        In<T> r; r.p = reinterpret_cast<const T*>(a[slot]) + col; r.n = N; return r;
    }
    template <typename T> __device__ __forceinline__ Out<T> out() {
        Out<T> r; r.p = reinterpret_cast<T*>(word()) + col; r.n = N; return r;
    }
    __device__ __forceinline__ Scratch scratch() {
        Scratch r; r.p = reinterpret_cast<double*>(word()) + col; r.n = N; return r;
    }
};

// First bar where every input is non-NaN (nT when there is none).
template <typename T, int NI>
__device__ int first_valid(const In<T> (&xs)[NI], int nT) {
    for (int t0 = 0; t0 < nT; t0 += 8) {
        bool ok[8];
#pragma unroll
        for (int u = 0; u < 8; ++u) {
            bool g = t0 + u < nT;
#pragma unroll
            for (int i = 0; i < NI; ++i) {
                if (g) { double v = xs[i](t0 + u); g = (v == v); }
            }
            ok[u] = g;
        }
#pragma unroll
        for (int u = 0; u < 8; ++u) if (ok[u]) return t0 + u;
    }
    return nT;
}

// ------------------------------------------------------------ moving averages
template <typename T, int U, int S> struct Sma {
    static constexpr unsigned MASK = 1u << S;
    In<T> x; Out<T> o; int p, s; double total; double lag[U];
    __device__ __forceinline__ void setup(Args& c) {
        o = c.out<T>(); p = c.ival(); x = c.in<T>(S);
        In<T> xs[1] = {x}; s = first_valid<T, 1>(xs, c.nT); total = 0.0;
    }
    __device__ __forceinline__ void load(int nT, int t0) {
#pragma unroll
        for (int u = 0; u < U; ++u) { int tl = t0 + u - p + 1; lag[u] = (t0 + u < nT && tl >= s) ? x(tl) : 0.0; }
    }
    template <int NF> __device__ __forceinline__ void step(const double (&b)[NF][U], int u, int t) {
        int k = t - s;
        if (k < 0) { o(t, QNAN); return; }
        total += b[S][u];
        if (k >= p - 1) { o(t, total / p); total -= lag[u]; }
        else o(t, QNAN);
    }
};

template <typename T, int U, int S> struct Ema {
    static constexpr unsigned MASK = 1u << S;
    Out<T> o; int p, s; double kk, total, prev;
    __device__ __forceinline__ void setup(Args& c) {
        o = c.out<T>(); p = c.ival(); In<T> xs[1] = {c.in<T>(S)}; s = first_valid<T, 1>(xs, c.nT);
        kk = 2.0 / (p + 1.0); total = 0.0; prev = 0.0;
    }
    __device__ __forceinline__ void load(int, int) {}
    template <int NF> __device__ __forceinline__ void step(const double (&b)[NF][U], int u, int t) {
        int k = t - s;
        if (k < 0) { o(t, QNAN); return; }
        double v = b[S][u];
        if (k < p - 1) { total += v; o(t, QNAN); }
        else if (k == p - 1) { total += v; prev = total / p; o(t, prev); }
        else { prev = ((v - prev) * kk) + prev; o(t, prev); }
    }
};

template <typename T, int U, int S> struct Wma {
    static constexpr unsigned MASK = 1u << S;
    In<T> x; Out<T> o; int p, s, bars; double divider, sub, sum, trailing; double lag[U];
    __device__ __forceinline__ void setup(Args& c) {
        o = c.out<T>(); p = c.ival(); x = c.in<T>(S); In<T> xs[1] = {x}; s = first_valid<T, 1>(xs, c.nT);
        divider = p * (p + 1.0) / 2.0; sub = 0.0; sum = 0.0; trailing = 0.0; bars = 0;
    }
    __device__ __forceinline__ void load(int nT, int t0) {
#pragma unroll
        for (int u = 0; u < U; ++u) { int tl = t0 + u - p + 1; lag[u] = (t0 + u < nT && tl >= s) ? x(tl) : 0.0; }
    }
    template <int NF> __device__ __forceinline__ void step(const double (&b)[NF][U], int u, int t) {
        int k = t - s;
        if (k < 0) { o(t, QNAN); return; }
        double v = b[S][u];
        if (p == 1) { o(t, v); return; }
        if (k < p - 1) { sub += v; sum += v * (double)(k + 1); o(t, QNAN); return; }
        if (k == p - 1) bars = 8 * p;
        sub += v; sub -= trailing; sum += v * (double)p;
        bars -= 1;
        if (bars <= 0) {
            bars = 8 * p; sub = 0.0; sum = 0.0; int w = 1;
            for (int j = t - p + 1; j <= t; ++j) { double vj = x(j); sub += vj; sum += vj * (double)w; ++w; }
        }
        trailing = lag[u];
        o(t, sum / divider);
        sum -= sub;
    }
};

// ---------------------------------------------------------------- oscillators
template <typename T, int U, int S> struct Rsi {
    static constexpr unsigned MASK = 1u << S;
    Out<T> o; int p, s; double prev, gain, loss, keep, nw;
    __device__ __forceinline__ void setup(Args& c) {
        o = c.out<T>(); p = c.ival(); In<T> xs[1] = {c.in<T>(S)}; s = first_valid<T, 1>(xs, c.nT);
        prev = 0.0; gain = 0.0; loss = 0.0; keep = (p - 1.0) / p; nw = 1.0 / p;
    }
    __device__ __forceinline__ void load(int, int) {}
    template <int NF> __device__ __forceinline__ void step(const double (&b)[NF][U], int u, int t) {
        int k = t - s;
        if (k < 0) { o(t, QNAN); return; }
        double v = b[S][u];
        if (k == 0) { prev = v; o(t, QNAN); return; }
        double d = v - prev; prev = v;
        if (k <= p) {
            if (d < 0.0) loss -= d; else gain += d;
            if (k < p) { o(t, QNAN); return; }
            loss /= p; gain /= p;
        } else {
            double up = !(d < 0.0) ? d : 0.0;
            double down = (d < 0.0) ? -d : 0.0;
            gain = gain * keep + up * nw; loss = loss * keep + down * nw;
        }
        double tv = gain + loss;
        o(t, (tv > 0.0 || tv < 0.0) ? 100.0 * (gain / tv) : 0.0);
    }
};

template <typename T, int U, int S> struct Roc {
    static constexpr unsigned MASK = 1u << S;
    In<T> x; Out<T> o; int p, s; double lag[U];
    __device__ __forceinline__ void setup(Args& c) {
        o = c.out<T>(); p = c.ival(); x = c.in<T>(S); In<T> xs[1] = {x}; s = first_valid<T, 1>(xs, c.nT);
    }
    __device__ __forceinline__ void load(int nT, int t0) {
#pragma unroll
        for (int u = 0; u < U; ++u) { int tl = t0 + u - p; lag[u] = (t0 + u < nT && tl >= s) ? x(tl) : 0.0; }
    }
    template <int NF> __device__ __forceinline__ void step(const double (&b)[NF][U], int u, int t) {
        if (t - s < p) { o(t, QNAN); return; }
        double old = lag[u];
        o(t, old != 0.0 ? ((b[S][u] / old) - 1.0) * 100.0 : 0.0);
    }
};

template <typename T, int U, int SH, int SL, int SC> struct Stoch {
    static constexpr unsigned MASK = (1u << SH) | (1u << SL) | (1u << SC);
    In<T> h, l; Out<T> ok, od; Scratch fkb, skb;
    int fk, sk, sd, s, lbk, lb, lowest_idx, highest_idx; double lowest, highest, total_k, total_d;
    __device__ __forceinline__ void setup(Args& c) {
        ok = c.out<T>(); od = c.out<T>(); fkb = c.scratch(); skb = c.scratch();
        fk = c.ival(); sk = c.ival(); sd = c.ival();
        h = c.in<T>(SH); l = c.in<T>(SL);
        In<T> xs[3] = {h, l, c.in<T>(SC)}; s = first_valid<T, 3>(xs, c.nT);
        lbk = fk - 1; lb = lbk + sk - 1 + sd - 1;
        lowest_idx = -1; highest_idx = -1; lowest = 0.0; highest = 0.0; total_k = 0.0; total_d = 0.0;
    }
    __device__ __forceinline__ void load(int, int) {}
    template <int NF> __device__ __forceinline__ void step(const double (&b)[NF][U], int u, int t) {
        int k = t - s;
        if (k < lbk) { ok(t, QNAN); od(t, QNAN); return; }
        int trailing = t - lbk;
        double tmp = b[SL][u];
        if (lowest_idx < trailing) {
            lowest_idx = trailing; lowest = l(lowest_idx);
            for (int i = lowest_idx + 1; i <= t; ++i) { tmp = l(i); if (tmp < lowest) { lowest_idx = i; lowest = tmp; } }
        } else if (tmp <= lowest) { lowest_idx = t; lowest = tmp; }
        tmp = b[SH][u];
        if (highest_idx < trailing) {
            highest_idx = trailing; highest = h(highest_idx);
            for (int i = highest_idx + 1; i <= t; ++i) { tmp = h(i); if (tmp > highest) { highest_idx = i; highest = tmp; } }
        } else if (tmp >= highest) { highest_idx = t; highest = tmp; }
        double diff = highest - lowest;
        double fkv = (diff != 0.0) ? ((b[SC][u] - lowest) / diff) * 100.0 : 0.0;
        fkb.set(t, fkv);
        int ka = k - lbk;
        double skv;
        if (sk == 1) skv = fkv;
        else {
            total_k += fkv;
            if (ka < sk - 1) { ok(t, QNAN); od(t, QNAN); return; }
            skv = total_k / sk;
            total_k -= fkb.get(t - sk + 1);
        }
        skb.set(t, skv);
        double sdv;
        if (sd == 1) sdv = skv;
        else {
            total_d += skv;
            if (k < lb) { ok(t, QNAN); od(t, QNAN); return; }
            sdv = total_d / sd;
            total_d -= skb.get(t - sd + 1);
        }
        ok(t, skv); od(t, sdv);
    }
};

// ----------------------------------------------------------------- volatility
// TA-Lib (>= 0.8) VAR: shifted running sums, re-anchored on the window mean.
struct VarSt { double shift, t1, t2, peak; int bars; };

template <typename T>
__device__ double var_rebuild(const In<T>& x, int t, int p, double inv, VarSt& st) {
    int ws = t - p + 1;
    double acc = 0.0;
    for (int j = ws; j <= t; ++j) acc += x(j);
    double shift = acc * inv, t1 = 0.0, t2 = 0.0;
    for (int j = ws; j <= t; ++j) { double a = x(j) - shift; t1 += a; t2 += a * a; }
    double m1 = t1 * inv;
    double var = t2 * inv - m1 * m1;
    if (var < 0.000001 * (t2 * inv)) {
        shift = x(t); t1 = 0.0; t2 = 0.0;
        for (int j = ws; j <= t; ++j) { double a = x(j) - shift; t1 += a; t2 += a * a; }
        m1 = t1 * inv;
        var = t2 * inv - m1 * m1;
    }
    st.peak = t2;
    if (var < 0.000000000001 * (t2 * inv)) var = 0.0;
    double a = x(ws) - shift; t1 -= a; t2 -= a * a;
    st.shift = shift; st.t1 = t1; st.t2 = t2;
    return var;
}

// One bar at age k >= 0 (v = x(t), old = x(t - p + 1)); NaN during the warm-up.
template <typename T>
__device__ __forceinline__ double var_step(VarSt& st, const In<T>& x, double v, double old, int k, int t, int p, double inv) {
    if (k == 0) st.shift = v;
    if (k < p - 1) { double a = v - st.shift; st.t1 += a; st.t2 += a * a; return QNAN; }
    if (k == p - 1) { st.bars = 32 * p; st.peak = st.t2; }
    double a = v - st.shift; st.t1 += a; st.t2 += a * a;
    if (st.t2 > st.peak) st.peak = st.t2;
    double m1 = st.t1 * inv;
    double var = st.t2 * inv - m1 * m1;
    a = old - st.shift; st.t1 -= a; st.t2 -= a * a;
    st.bars -= 1;
    if (var < 0.000001 * (st.peak * inv) || st.bars <= 0) { st.bars = 32 * p; var = var_rebuild<T>(x, t, p, inv, st); }
    return var;
}

template <typename T, int U, int S> struct StdDev {
    static constexpr unsigned MASK = 1u << S;
    In<T> x; Out<T> o; int p, s; double nbdev, inv; VarSt st; double lag[U];
    __device__ __forceinline__ void setup(Args& c) {
        o = c.out<T>(); p = c.ival(); nbdev = c.dval(); x = c.in<T>(S);
        In<T> xs[1] = {x}; s = first_valid<T, 1>(xs, c.nT);
        inv = 1.0 / p; st.shift = 0.0; st.t1 = 0.0; st.t2 = 0.0; st.peak = 0.0; st.bars = 0;
    }
    __device__ __forceinline__ void load(int nT, int t0) {
#pragma unroll
        for (int u = 0; u < U; ++u) { int tl = t0 + u - p + 1; lag[u] = (t0 + u < nT && tl >= s) ? x(tl) : 0.0; }
    }
    template <int NF> __device__ __forceinline__ void step(const double (&b)[NF][U], int u, int t) {
        int k = t - s;
        if (k < 0) { o(t, QNAN); return; }
        double var = var_step<T>(st, x, b[S][u], lag[u], k, t, p, inv);
        o(t, k < p - 1 ? QNAN : sqrt(var) * nbdev);
    }
};

template <typename T, int U, int S> struct ZScore {
    static constexpr unsigned MASK = 1u << S;
    In<T> x; Out<T> o; int p, s; double inv, total; VarSt st; double lag[U];
    __device__ __forceinline__ void setup(Args& c) {
        o = c.out<T>(); p = c.ival(); x = c.in<T>(S);
        In<T> xs[1] = {x}; s = first_valid<T, 1>(xs, c.nT);
        inv = 1.0 / p; total = 0.0; st.shift = 0.0; st.t1 = 0.0; st.t2 = 0.0; st.peak = 0.0; st.bars = 0;
    }
    __device__ __forceinline__ void load(int nT, int t0) {
#pragma unroll
        for (int u = 0; u < U; ++u) { int tl = t0 + u - p + 1; lag[u] = (t0 + u < nT && tl >= s) ? x(tl) : 0.0; }
    }
    template <int NF> __device__ __forceinline__ void step(const double (&b)[NF][U], int u, int t) {
        int k = t - s;
        if (k < 0) { o(t, QNAN); return; }
        double v = b[S][u];
        total += v;
        double var = var_step<T>(st, x, v, lag[u], k, t, p, inv);
        if (k < p - 1) { o(t, QNAN); return; }
        double mean = total / p;
        total -= lag[u];
        double sd = sqrt(var);
        o(t, sd > 0.0 ? (v - mean) / sd : QNAN);
    }
};

template <typename T, int U, int S> struct BBands {
    static constexpr unsigned MASK = 1u << S;
    In<T> x; Out<T> ou, om, ol; int p, s; double up, dn, inv, total; VarSt st; double lag[U];
    __device__ __forceinline__ void setup(Args& c) {
        ou = c.out<T>(); om = c.out<T>(); ol = c.out<T>();
        p = c.ival(); up = c.dval(); dn = c.dval(); x = c.in<T>(S);
        In<T> xs[1] = {x}; s = first_valid<T, 1>(xs, c.nT);
        inv = 1.0 / p; total = 0.0; st.shift = 0.0; st.t1 = 0.0; st.t2 = 0.0; st.peak = 0.0; st.bars = 0;
    }
    __device__ __forceinline__ void load(int nT, int t0) {
#pragma unroll
        for (int u = 0; u < U; ++u) { int tl = t0 + u - p + 1; lag[u] = (t0 + u < nT && tl >= s) ? x(tl) : 0.0; }
    }
    template <int NF> __device__ __forceinline__ void step(const double (&b)[NF][U], int u, int t) {
        int k = t - s;
        if (k < 0) { ou(t, QNAN); om(t, QNAN); ol(t, QNAN); return; }
        double v = b[S][u];
        total += v;
        double var = var_step<T>(st, x, v, lag[u], k, t, p, inv);
        if (k < p - 1) { ou(t, QNAN); om(t, QNAN); ol(t, QNAN); return; }
        double mid = total / p;
        total -= lag[u];
        double sd = sqrt(var);
        ou(t, mid + sd * up); om(t, mid); ol(t, mid - sd * dn);
    }
};

template <typename T, int U, int SH, int SL, int SC> struct Atr {
    static constexpr unsigned MASK = (1u << SH) | (1u << SL) | (1u << SC);
    Out<T> o; int p, s; double prev_close, total, prev, keep, nw;
    __device__ __forceinline__ void setup(Args& c) {
        o = c.out<T>(); p = c.ival(); keep = (p - 1.0) / p; nw = 1.0 / p;
        In<T> xs[3] = {c.in<T>(SH), c.in<T>(SL), c.in<T>(SC)}; s = first_valid<T, 3>(xs, c.nT);
        prev_close = 0.0; total = 0.0; prev = 0.0;
    }
    __device__ __forceinline__ void load(int, int) {}
    template <int NF> __device__ __forceinline__ void step(const double (&b)[NF][U], int u, int t) {
        int k = t - s;
        if (k < 0) { o(t, QNAN); return; }
        if (k == 0) { prev_close = b[SC][u]; o(t, QNAN); return; }
        double h = b[SH][u], lo = b[SL][u];
        double greatest = h - lo;
        double v2 = fabs(prev_close - h); if (v2 > greatest) greatest = v2;
        double v3 = fabs(prev_close - lo); if (v3 > greatest) greatest = v3;
        prev_close = b[SC][u];
        if (k < p) { total += greatest; o(t, QNAN); }
        else if (k == p) { total += greatest; prev = total / p; o(t, prev); }
        else { prev = prev * keep + greatest * nw; o(t, prev); }
    }
};

// --------------------------------------------------------------------- volume
template <typename T, int U, int SC, int SV> struct Obv {
    static constexpr unsigned MASK = (1u << SC) | (1u << SV);
    Out<T> o; int s; double obv, prev;
    __device__ __forceinline__ void setup(Args& c) {
        o = c.out<T>(); In<T> xs[2] = {c.in<T>(SC), c.in<T>(SV)}; s = first_valid<T, 2>(xs, c.nT);
        obv = 0.0; prev = 0.0;
    }
    __device__ __forceinline__ void load(int, int) {}
    template <int NF> __device__ __forceinline__ void step(const double (&b)[NF][U], int u, int t) {
        if (t < s) { o(t, QNAN); return; }
        double c = b[SC][u];
        if (t == s) { obv = b[SV][u]; prev = c; }
        else if (c > prev) obv += b[SV][u];
        else if (c < prev) obv -= b[SV][u];
        o(t, obv);
        prev = c;
    }
};

template <typename T, int U, int SH, int SL, int SC, int SV> struct Vwap {
    static constexpr unsigned MASK = (1u << SH) | (1u << SL) | (1u << SC) | (1u << SV);
    In<T> h, l, c, v; Out<T> o; int p, s, nonzero, nans, bars; double tpv, tv;
    __device__ __forceinline__ void setup(Args& a) {
        o = a.out<T>(); p = a.ival();
        h = a.in<T>(SH); l = a.in<T>(SL); c = a.in<T>(SC); v = a.in<T>(SV);
        In<T> xs[4] = {h, l, c, v}; s = first_valid<T, 4>(xs, a.nT);
        nonzero = 0; nans = 0; bars = 8 * p; tpv = 0.0; tv = 0.0;
    }
    __device__ __forceinline__ void load(int, int) {}
    __device__ __forceinline__ double pv_at(int j, double& vj) const {
        vj = v(j); return ((h(j) + l(j) + c(j)) / 3.0) * vj;
    }
    template <int NF> __device__ __forceinline__ void step(const double (&b)[NF][U], int u, int t) {
        int k = t - s;
        if (k < 0) { o(t, QNAN); return; }
        double vv = b[SV][u];
        double pv = ((b[SH][u] + b[SL][u] + b[SC][u]) / 3.0) * vv;
        if (pv != pv || vv != vv) nans += 1;
        else { tpv += pv; tv += vv; if (vv != 0.0) nonzero += 1; }
        if (k < p - 1) { o(t, QNAN); return; }
        bars -= 1;
        if (bars <= 0) {
            bars = 8 * p; tpv = 0.0; tv = 0.0;
            for (int j = t - p + 1; j <= t; ++j) {
                double vj; double pvj = pv_at(j, vj);
                if (!(pvj != pvj || vj != vj)) { tpv += pvj; tv += vj; }
            }
        }
        o(t, (nans > 0 || nonzero == 0) ? QNAN : tpv / tv);
        double vo; double pvo = pv_at(t - p + 1, vo);
        if (pvo != pvo || vo != vo) nans -= 1;
        else { tpv -= pvo; tv -= vo; if (vo != 0.0) nonzero -= 1; }
    }
};

// ----------------------------------------------------------------------- MACD
template <typename T, int U, int S> struct Macd {
    static constexpr unsigned MASK = 1u << S;
    Out<T> om, os, oh; int fp, sp, sg, s; double kf, ks, kg, sum_s, sum_f, sum_g, slow, fast, sig;
    __device__ __forceinline__ void setup(Args& c) {
        om = c.out<T>(); os = c.out<T>(); oh = c.out<T>();
        fp = c.ival(); sp = c.ival(); sg = c.ival();
        if (sp < fp) { int tmp = sp; sp = fp; fp = tmp; }
        In<T> xs[1] = {c.in<T>(S)}; s = first_valid<T, 1>(xs, c.nT);
        ks = 2.0 / (sp + 1.0); kf = 2.0 / (fp + 1.0); kg = 2.0 / (sg + 1.0);
        sum_s = 0.0; sum_f = 0.0; sum_g = 0.0; slow = 0.0; fast = 0.0; sig = 0.0;
    }
    __device__ __forceinline__ void load(int, int) {}
    template <int NF> __device__ __forceinline__ void step(const double (&b)[NF][U], int u, int t) {
        int k = t - s;
        int seed = sp - 1, lookback = sp - 1 + sg - 1;
        if (k < 0) { om(t, QNAN); os(t, QNAN); oh(t, QNAN); return; }
        double v = b[S][u];
        if (k < seed) {
            sum_s += v; if (k >= sp - fp) sum_f += v;
            om(t, QNAN); os(t, QNAN); oh(t, QNAN); return;
        }
        if (k == seed) { sum_s += v; sum_f += v; slow = sum_s / sp; fast = sum_f / fp; }
        else { slow = ((v - slow) * ks) + slow; fast = ((v - fast) * kf) + fast; }
        double m = fast - slow;
        if (k < lookback) { sum_g += m; om(t, QNAN); os(t, QNAN); oh(t, QNAN); return; }
        if (k == lookback) { sum_g += m; sig = sum_g / sg; }
        else sig = ((m - sig) * kg) + sig;
        om(t, m); os(t, sig); oh(t, m - sig);
    }
};

// ------------------------------------------------------------- pack + kernels
template <class... Is> struct Pack;
template <> struct Pack<> {
    static constexpr unsigned MASK = 0u;
    __device__ __forceinline__ void setup(Args&) {}
    __device__ __forceinline__ void load(int, int) {}
    template <int NF, int U> __device__ __forceinline__ void step(const double (&)[NF][U], int, int) {}
};
template <class I, class... Is> struct Pack<I, Is...> {
    static constexpr unsigned MASK = I::MASK | Pack<Is...>::MASK;
    I head; Pack<Is...> tail;
    __device__ __forceinline__ void setup(Args& c) { head.setup(c); tail.setup(c); }
    __device__ __forceinline__ void load(int nT, int t0) { head.load(nT, t0); tail.load(nT, t0); }
    template <int NF, int U> __device__ __forceinline__ void step(const double (&b)[NF][U], int u, int t) {
        head.template step<NF>(b, u, t); tail.template step<NF, U>(b, u, t);
    }
};

// Stream one column through the indicators of P (a Pack): U rows of the inputs P
// reads are loaded into registers at a time, then stepped through.
template <typename T, int U, int NF, class P>
__device__ __forceinline__ void stream(Args& c) {
    P ind;
    ind.setup(c);
    const T* f[NF];
#pragma unroll
    for (int i = 0; i < NF; ++i) f[i] = reinterpret_cast<const T*>(c.a[i]) + c.col;
    double b[NF][U];
    const int nT = c.nT;
    const i64 N = c.N;
    for (int t0 = 0; t0 < nT; t0 += U) {
#pragma unroll
        for (int i = 0; i < NF; ++i) {
            if (P::MASK & (1u << i)) {
#pragma unroll
                for (int u = 0; u < U; ++u) b[i][u] = (t0 + u < nT) ? (double)__ldg(f[i] + (i64)(t0 + u) * N) : 0.0;
            }
        }
        ind.load(nT, t0);
#pragma unroll
        for (int u = 0; u < U; ++u) {
            if (t0 + u < nT) ind.template step<NF, U>(b, u, t0 + u);
        }
    }
}

// Words: NF input pointers, then one start offset per item, then the items' words.
// Fused: one thread per column runs every item of P.
template <typename T, int U, int NF, class P>
__global__ void indicators(const u64* __restrict__ words, int nT, long long N) {
    i64 col = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= N) return;
    Args c; c.a = words; c.pos = (int)words[NF]; c.nT = nT; c.N = N; c.col = col;
    stream<T, U, NF, P>(c);
}

// Split: one thread per (column, item), item = blockIdx.y: more threads in flight
// when there are few columns, at the price of reading shared inputs once per item.
template <typename T, int U, int NF, class... Is> struct Split;
template <typename T, int U, int NF> struct Split<T, U, NF> {
    __device__ static void run(int, Args&) {}
};
template <typename T, int U, int NF, class I, class... Is> struct Split<T, U, NF, I, Is...> {
    __device__ static void run(int which, Args& c) {
        if (which == 0) stream<T, U, NF, Pack<I> >(c);
        else Split<T, U, NF, Is...>::run(which - 1, c);
    }
};
template <typename T, int U, int NF, class P> struct SplitOf;
template <typename T, int U, int NF, class... Is> struct SplitOf<T, U, NF, Pack<Is...> > {
    typedef Split<T, U, NF, Is...> type;
};

template <typename T, int U, int NF, class P>
__global__ void indicators_split(const u64* __restrict__ words, int nT, long long N) {
    i64 col = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= N) return;
    int which = blockIdx.y;
    Args c; c.a = words; c.pos = (int)words[NF + which]; c.nT = nT; c.N = N; c.col = col;
    SplitOf<T, U, NF, P>::type::run(which, c);
}
"""


# ------------------------------------------------------------------- Python side
def _ctype(dtype: Any) -> str:
    return "float" if np.dtype(dtype) == np.float32 else "double"


def _struct_name(kernel: str, ctype: str, unroll: int, slots: Sequence[int]) -> str:
    kd = KERNELS[kernel]
    return f"{kd.struct}<{ctype}, {unroll}, {', '.join(str(s) for s in slots)}>"


def kernel_name(
    items: Sequence[tuple[str, Sequence[int]]], n_fields: int, ctype: str, unroll: int, split: bool = False
) -> str:
    """The template instantiation for a pack of (kernel, input slots) items."""
    structs = ", ".join(_struct_name(k, ctype, unroll, slots) for k, slots in items)
    kernel = "indicators_split" if split else "indicators"
    return f"{kernel}<{ctype}, {unroll}, {n_fields}, Pack<{structs}>>"


@functools.lru_cache(maxsize=None)
def _module(names: tuple[str, ...]) -> Any:
    """A RawModule holding the given instantiations (compiled on first use, cached)."""
    import cupy  # noqa: PLC0415

    return cupy.RawModule(code=_SOURCE, options=_OPTIONS, name_expressions=list(names))


def use_split(n_cols: int, n_items: int) -> bool:
    """Split a pack over (column, item) threads when there are too few columns to fill the GPU."""
    return n_items > 1 and n_cols < SPLIT_BELOW_COLUMNS


def _function(name: str) -> Any:
    # One small module per instantiation: prewarm compiles them in parallel threads
    # (one module of every kernel took ~5 s of NVRTC per dtype on one core).
    return _module((name,)).get_function(name)


def run_fused(
    fields: Sequence[Any],
    items: Sequence[tuple[str, Sequence[int], Sequence[Any]]],
    *,
    unroll: int | None = None,
    block: int | None = None,
    split: bool | None = None,
) -> list:
    """Compute several indicators in one launch.

    `fields` are C-contiguous (T, N) CuPy arrays of one dtype (float32 or float64);
    each item is (kernel, input slots into `fields`, params as ints then doubles).
    `split` runs one thread per (column, item) instead of one per column (default:
    `use_split`); `unroll` and `block` default to the measured launch shapes above.
    Returns the outputs of all items in order, as (T, N) arrays.
    """
    import cupy  # noqa: PLC0415

    dtype = fields[0].dtype
    ctype = _ctype(dtype)
    n_bars, n_cols = (int(d) for d in fields[0].shape)
    keyed = [(k, tuple(int(s) for s in slots)) for k, slots, _ in items]
    if split is None:
        split = use_split(n_cols, len(items))
    split = bool(split) and len(items) > 1
    shape = (SPLIT_UNROLL, SPLIT_BLOCK) if split else (SINGLE_UNROLL, SINGLE_BLOCK) if len(items) == 1 else (PACK_UNROLL, PACK_BLOCK)
    unroll = shape[0] if unroll is None else int(unroll)
    block = shape[1] if block is None else int(block)
    name = kernel_name(keyed, len(fields), ctype, unroll, split)
    func = _function(name)

    n_out = sum(KERNELS[k].n_outputs for k, _ in keyed)
    n_scratch = sum(KERNELS[k].n_scratch for k, _ in keyed)
    out = cupy.empty((n_out, n_bars, n_cols), dtype=dtype)
    scratch = cupy.empty((n_scratch, n_bars, n_cols), dtype=np.float64) if n_scratch else None
    plane = n_bars * n_cols
    words: list[int] = [int(f.data.ptr) for f in fields] + [0] * len(items)
    o = 0
    sc = 0
    for i, ((kernel, _), (_, _, params)) in enumerate(zip(keyed, items)):
        words[len(fields) + i] = len(words)  # where item i's words start
        kd = KERNELS[kernel]
        for _ in range(kd.n_outputs):
            words.append(int(out.data.ptr) + o * plane * out.itemsize)
            o += 1
        for _ in range(kd.n_scratch):
            assert scratch is not None
            words.append(int(scratch.data.ptr) + sc * plane * 8)
            sc += 1
        if len(params) != kd.n_ints + kd.n_doubles:
            raise ValueError(f"{kernel}: expected {kd.n_ints + kd.n_doubles} parameters, got {len(params)}")
        for v in params[: kd.n_ints]:
            words.append(int(np.int64(int(v)).view(np.uint64)))
        for v in params[kd.n_ints :]:
            words.append(int(np.float64(v).view(np.uint64)))
    words_dev = cupy.asarray(np.asarray(words, dtype=np.uint64))
    grid = ((n_cols + block - 1) // block, len(items) if split else 1)
    func(grid, (block,), (words_dev, np.int32(n_bars), np.int64(n_cols)))
    return [out[i] for i in range(n_out)]


def run(kernel: str, arrays: Sequence[Any], params: Sequence[Any], **kw: Any) -> list:
    """One indicator kernel on prepared (T, N) CuPy inputs; a list of (T, N) outputs."""
    return run_fused(arrays, [(kernel, tuple(range(len(arrays))), tuple(params))], **kw)


def warmups() -> dict[str, Callable[[], None]]:
    """Compile and run every single-indicator kernel (float32 and float64) once on tiny inputs."""

    def make(kernel: str, dtype: Any) -> Callable[[], None]:
        def warm() -> None:
            import cupy  # noqa: PLC0415

            kd = KERNELS[kernel]
            rng = np.random.default_rng(0)
            base = 100.0 + rng.standard_normal((64, 2)).cumsum(axis=0)
            arrays = [cupy.asarray(base + i, dtype=dtype) for i in range(kd.n_inputs)]
            run(kernel, arrays, kd.defaults)
            cupy.cuda.get_current_stream().synchronize()

        return warm

    return {
        f"{kernel}_{np.dtype(dtype).name}": make(kernel, dtype)
        for kernel in KERNELS
        for dtype in (np.float64, np.float32)
    }
