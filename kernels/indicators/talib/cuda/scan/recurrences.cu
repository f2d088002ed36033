// TA-Lib's functions that never forget their start, with several threads per column: affine scans
// over time segments (kernels/indicators/talib/gpu_scan.py runs this source; the host build checks it
// in CI).
//
// One thread per column leaves a GPU nearly idle on a (2520, 5000) panel, and these functions' state
// depends on every bar since the column's first, so time_split.py can cut them only after a long
// warm-up, or not at all. But each keeps a state x of D <= 6 doubles that bar t > r maps by
// x -> M_t x + c_t, with M_t and c_t fixed by the inputs alone: a running sum (M = 1), NVI / PVI
// (M = 1 + the bar's return, or 1), ADOSC's two EMAs of the A/D line (3 x 3), KAMA (M = 1 - sc_t,
// sc_t from the efficiency ratio of the last `period` bars, which a thread sums itself where it
// starts), and networks of exponential smoothing (EMA ... RSI below: levels, each seeded with the
// SMA of its first `period` inputs). r is the recurrence's first bar: the column's first valid bar s,
// or where the function's seeds are all in (the thread holding r runs the seeds from s itself). The
// map of a segment of bars is of the
// same form, so three launches do what one thread per column did:
//   1. rs_maps: thread (column, segment g) composes its segment's map: c by running the recurrence
//      from x = 0, column i of M by running its homogeneous part (the inputs' own terms dropped)
//      from e_i. The segment holding r starts there from the function's first state (a constant map).
//   2. rs_carry: a thread per column applies its segments' maps in turn: the state before each one.
//   3. rs_emit: thread (column, g) runs the recurrence from that state over its bars, writing the
//      outputs with the operations of the one-thread kernels (cuda/volume.cu, statistic.cu, newer.cu,
//      overlap.cu).
// Only the start states' rounding differs from one thread per column (relative 1e-15).
// Columns must have no gap after their first valid bar (gpu_scan.run's caller guarantees it).
//
// Memory (S segments, N columns): maps (S, RS_RUNS, RS_D, N); kinds (S, N) int: -1 the recurrence
// starts after the segment, -2 before it, else r; starts (S, RS_D, N); first (N) int: r, -1 none;
// out (outputs, T, N).
#include "column.cuh"

#define RS_D 6
#define RS_RUNS (RS_D + 1)

// codes: the order of gpu_scan.AFFINE
#define RS_CUMSUM 0
#define RS_AD 1
#define RS_OBV 2
#define RS_PVT 3
#define RS_WAD 4
#define RS_VWAP 5
#define RS_NVI 6
#define RS_PVI 7
#define RS_ADOSC 8
#define RS_KAMA 9
#define RS_EMA 10
#define RS_DEMA 11
#define RS_TEMA 12
#define RS_TRIX 13
#define RS_T3 14
#define RS_RMA 15
#define RS_ATR 16
#define RS_NATR 17
#define RS_ZLEMA 18
#define RS_APO 19
#define RS_PPO 20
#define RS_PVO 21
#define RS_MACD 22
#define RS_MACDFIX 23
#define RS_TSI 24
#define RS_CMO 25
#define RS_RSI 26
#define RS_MAX_OUT 3

// Loops over state elements have compile-time bounds (the phases are templates on the state size D),
// so that the state stays in registers: a runtime index would put it in local memory.
#ifdef RQ_HOST
#define RS_UNROLL
#else
#define RS_UNROLL _Pragma("unroll")
#endif

// st[i] for a runtime i < D, read without indexing the array at run time.
template <int D>
RQ_METHOD double rs_pick(const double* st, int i) {
    double v = 0.0;
    RS_UNROLL
    for (int d = 0; d < D; ++d) if (d == i) v = st[d];
    return v;
}

// One column's inputs: x(i, t) is input i at bar t.
struct Bars {
    const double* a[RQ_MAX_IN]; i64 N; int n_in;
    RQ_METHOD double operator()(int i, int t) const { return a[i][(i64)t * N]; }
    RQ_METHOD bool valid(int t) const {
        bool ok = true;
        RS_UNROLL
        for (int i = 0; i < RQ_MAX_IN; ++i) if (i < n_in) ok = ok && !rq_isnan((*this)(i, t));
        return ok;
    }
};

// ---------------------------------------------------------------- networks of smoothing levels
// EMA, DEMA, TEMA, TRIX, T3, RMA, ATR, NATR, ZLEMA, APO / PPO / PVO (EMA), MACD, MACDFIX, TSI, CMO and
// RSI are levels of exponential smoothing. A level smooths one source (a stream of the inputs,
// rs_stream; another level; or the difference of two levels), takes its first input at bar
// s + first, is seeded with the mean of its first `period` inputs, then steps by its rule; the
// one-thread kernels (cpu/ma.py, momentum.py, volume.py, newer.py) do the same in the same order.
#define RS_STEP_EMA 0     // ((in - e) * k) + e
#define RS_STEP_RMA 1     // beta * e + (1 - beta) * in, beta = (period - 1) / period
#define RS_STEP_WILDER 2  // ((e * (period - 1)) + in) / period
#define RS_STEP_KEEP 3    // e * keep + in * new, keep = (period - 1) / period, new = 1 / period
#define RS_STREAM(i) (i)
#define RS_LEVEL(i) (-1 - (i))

// c0, c1: the rule's constants, computed once as the one-thread kernels compute them (EMA: k; RMA:
// beta, 1 - beta; Wilder: period - 1, period; KEEP: keep, new).
struct RsLevel { int src, minus, first, period, rule; double c0, c1; };

struct RsNet {
    int n, outputs;
    RsLevel lv[RS_D];
    RQ_METHOD void add(int src, int first, int period, int rule, double k = 0.0, int minus = -1) {
        RsLevel& l = lv[n++];
        double P = period;
        l.src = src; l.minus = minus; l.first = first; l.period = period; l.rule = rule;
        l.c0 = k; l.c1 = 0.0;
        if (rule == RS_STEP_RMA) { l.c0 = (P - 1.0) / P; l.c1 = 1.0 - l.c0; }
        else if (rule == RS_STEP_WILDER) { l.c0 = P - 1.0; l.c1 = P; }
        else if (rule == RS_STEP_KEEP) { l.c0 = (P - 1.0) / P; l.c1 = 1.0 / P; }
    }
    RQ_METHOD void ema(int src, int first, int period) { add(src, first, period, RS_STEP_EMA, 2.0 / (period + 1.0)); }
    // Bars from s to the last level's seed: the recurrence's first bar r = s + seeded().
    RQ_METHOD int seeded() const {
        int r = 0;
        for (int j = 0; j < n; ++j) r = imax(r, lv[j].first + lv[j].period - 1);
        return r;
    }
};

RQ_DEV bool rs_is_net(int code) { return code >= RS_EMA; }

RQ_METHOD RsNet rs_net(int code, const double* p);

// What a thread needs of its function, worked out once: the first D levels of a net in a fixed-size
// array read only at compile-time indices, so that it stays in registers (RsNet's array is filled at
// run-time indices: local memory); `offset`, the bars from the column's first valid bar s to the
// recurrence's first bar r; `outputs`, how many.
template <int D>
struct RsLevels {
    RsLevel lv[D]; int n, offset, outputs;
    RQ_METHOD void load(int code, const double* p) {
        RsNet net = rs_net(code, p);
        n = net.n; outputs = net.outputs;
        offset = rs_is_net(code) ? net.seeded() : (code == RS_KAMA ? (int)p[0] - 1 : 0);
        RS_UNROLL
        for (int j = 0; j < D; ++j) lv[j] = net.lv[j < net.n ? j : 0];
    }
};

// The levels of `code` for the parameter vector p (cpu/*.py param_vector: the periods first).
RQ_METHOD RsNet rs_net(int code, const double* p) {
    RsNet net; net.n = 0; net.outputs = 1;
    int P = (int)p[0], lb = P - 1;
    switch (code) {
    case RS_EMA: net.ema(RS_STREAM(0), 0, P); break;
    case RS_DEMA: case RS_TEMA: case RS_TRIX: case RS_T3: {
        int K = code == RS_DEMA ? 2 : (code == RS_T3 ? 6 : 3);
        net.ema(RS_STREAM(0), 0, P);
        for (int j = 1; j < K; ++j) net.ema(RS_LEVEL(j - 1), j * lb, P);
        break;
    }
    case RS_RMA: net.add(RS_STREAM(0), 0, P, RS_STEP_RMA); break;
    case RS_ATR: case RS_NATR: net.add(RS_STREAM(0), 1, P, RS_STEP_WILDER); break;
    case RS_ZLEMA: net.ema(RS_STREAM(0), (P - 1) / 2, P); break;
    case RS_APO: case RS_PPO: case RS_PVO: {
        int f = imin(P, (int)p[1]), sl = imax(P, (int)p[1]);
        net.ema(RS_STREAM(0), 0, f); net.ema(RS_STREAM(0), 0, sl);
        break;
    }
    case RS_MACD: case RS_MACDFIX: {  // cpu/momentum.py macd_k_1d_nb: the fast EMA seeded on the slow one's window
        int f = 12, sl = 26, sig = (int)p[0];
        double kf = 0.15, ks = 0.075;
        if (code == RS_MACD) { f = P; sl = (int)p[1]; sig = (int)p[2]; kf = 2.0 / (f + 1.0); ks = 2.0 / (sl + 1.0); }
        if (sl < f) { int t = f; f = sl; sl = t; double u = kf; kf = ks; ks = u; }
        net.add(RS_STREAM(0), (sl - 1) - (f - 1), f, RS_STEP_EMA, kf);
        net.add(RS_STREAM(0), 0, sl, RS_STEP_EMA, ks);
        net.add(RS_LEVEL(0), sl - 1, sig, RS_STEP_EMA, 2.0 / (sig + 1.0), 1);
        net.outputs = 3;
        break;
    }
    case RS_TSI: {  // cpu/newer.py tsi_1d_nb: EMA(EMA) of the change and of its size
        int r1 = P, r2 = (int)p[1];
        net.ema(RS_STREAM(0), 1, r1); net.ema(RS_STREAM(1), 1, r1);
        net.ema(RS_LEVEL(0), r1, r2); net.ema(RS_LEVEL(1), r1, r2);
        break;
    }
    case RS_CMO: net.add(RS_STREAM(0), 1, P, RS_STEP_WILDER); net.add(RS_STREAM(1), 1, P, RS_STEP_WILDER); break;
    case RS_RSI: net.add(RS_STREAM(0), 1, P, RS_STEP_KEEP); net.add(RS_STREAM(1), 1, P, RS_STEP_KEEP); break;
    }
    return net;
}

// Stream i of the inputs at bar t (t - 1, t - lag: bars after the column's start by the levels' `first`).
RQ_METHOD double rs_stream(int code, const Bars& x, int t, int i, const double* p) {
    switch (code) {
    case RS_ATR: case RS_NATR: return true_range(x(0, t), x(1, t), x(2, t - 1));
    case RS_ZLEMA: return 2.0 * x(0, t) - x(0, t - ((int)p[0] - 1) / 2);
    case RS_TSI: { double m = x(0, t) - x(0, t - 1); return i == 0 ? m : fabs(m); }
    case RS_CMO: case RS_RSI: {  // the gain, or the loss, of the bar
        double d = x(0, t) - x(0, t - 1);
        return i == 0 ? (!(d < 0.0) ? d : 0.0) : (d < 0.0 ? -d : 0.0);
    }
    default: return x(0, t);
    }
}

template <int D>
RQ_METHOD double rs_source(int code, const RsLevel& l, const Bars& x, int t, const double* p, const double* st,
                           bool hom) {
    if (l.src >= 0) return hom ? 0.0 : rs_stream(code, x, t, l.src, p);
    double v = rs_pick<D>(st, -1 - l.src);
    return l.minus >= 0 ? v - rs_pick<D>(st, l.minus) : v;
}

RQ_METHOD double rs_rule(const RsLevel& l, double e, double in) {
    switch (l.rule) {
    case RS_STEP_RMA: return l.c0 * e + l.c1 * in;
    case RS_STEP_WILDER: return ((e * l.c0) + in) / l.c1;
    case RS_STEP_KEEP: return e * l.c0 + in * l.c1;
    default: return ((in - e) * l.c0) + e;
    }
}

// The state after bar r = s + net.seeded(): every level seeded and stepped from the column's first bar
// s, as the one-thread kernels do (TRIX keeps its third EMA one bar back as a fourth value).
template <int D>
RQ_METHOD void rs_net_first(int code, const RsLevels<D>& L, const Bars& x, int s, int r, const double* p, double* st) {
    double sum[D];
    RS_UNROLL
    for (int j = 0; j < D; ++j) sum[j] = 0.0;
    for (int t = s; t <= r; ++t) {
        RS_UNROLL
        for (int j = 0; j < D; ++j) {
            if (j >= L.n) continue;
            const RsLevel& l = L.lv[j];
            int from = s + l.first, seed = from + l.period - 1;
            if (t < from) continue;
            double in = rs_source<D>(code, l, x, t, p, st, false);
            if (t < seed) sum[j] += in;
            else if (t == seed) { sum[j] += in; st[j] = sum[j] / l.period; }
            else st[j] = rs_rule(l, st[j], in);
        }
    }
    if (D > 3 && code == RS_TRIX) st[3] = st[2];
}

template <int D>
RQ_METHOD void rs_net_step(int code, const RsLevels<D>& L, const Bars& x, int t, const double* p, double* st,
                           bool hom) {
    if (D > 3 && code == RS_TRIX) st[3] = st[2];
    RS_UNROLL
    for (int j = 0; j < D; ++j)
        if (j < L.n) st[j] = rs_rule(L.lv[j], st[j], rs_source<D>(code, L.lv[j], x, t, p, st, hom));
}

// The outputs at bar t (net.outputs of them).
RQ_METHOD void rs_net_values(int code, const Bars& x, int t, const double* p, const double* st, double* v) {
    switch (code) {
    case RS_DEMA: v[0] = (2.0 * st[0]) - st[1]; break;
    case RS_TEMA: v[0] = st[2] + ((3.0 * st[0]) - (3.0 * st[1])); break;
    case RS_TRIX: v[0] = st[3] != 0.0 ? ((st[2] / st[3]) - 1.0) * 100.0 : 0.0; break;
    case RS_T3: {  // cpu/ma.py t3_1d_nb's coefficients of the vfactor p[1]
        double a = p[1], temp = a * a, c1 = -temp * a, c2 = 3.0 * (temp - c1);
        double c3 = -6.0 * temp - 3.0 * (a - c1), c4 = 1.0 + 3.0 * a - c1 + 3.0 * temp;
        v[0] = c1 * st[5] + c2 * st[4] + c3 * st[3] + c4 * st[2];
        break;
    }
    case RS_NATR: { double c = x(2, t); v[0] = c != 0.0 ? (st[0] / c) * 100.0 : 0.0; break; }
    case RS_APO: v[0] = st[0] - st[1]; break;
    case RS_PPO: case RS_PVO: { double sl = st[1]; v[0] = !is_zero(sl) ? ((st[0] - sl) / sl) * 100.0 : 0.0; break; }
    case RS_MACD: case RS_MACDFIX: { double m = st[0] - st[1]; v[0] = m; v[1] = st[2]; v[2] = m - st[2]; break; }
    case RS_TSI: v[0] = st[3] != 0.0 ? 100.0 * (st[2] / st[3]) : 0.0; break;
    case RS_CMO: { double sm = st[0] + st[1]; v[0] = !is_zero(sm) ? 100.0 * ((st[0] - st[1]) / sm) : 0.0; break; }
    case RS_RSI: { double tv = st[0] + st[1]; v[0] = (tv > 0.0 || tv < 0.0) ? 100.0 * (st[0] / tv) : 0.0; break; }
    default: v[0] = st[0];
    }
}

// ---------------------------------------------------------------- every function
RQ_DEV int rs_dim(int code, const double* p) {
    if (code == RS_TRIX) return 4;
    if (rs_is_net(code)) return rs_net(code, p).n;
    return code == RS_VWAP ? 2 : (code == RS_ADOSC ? 3 : 1);
}


// What a bar's step needs beyond the state, from the inputs alone (KAMA: the smoothing constant of
// cpu/ma.py kama_1d_nb). `fresh`: the thread's first step, which sums the window itself (as the
// one-thread kernel's first sum does); later steps update the running sum as that kernel does.
struct RsBar {
    double sum;
    RQ_METHOD double prepare(int code, const Bars& x, int t, const double* p, bool fresh) {
        if (code != RS_KAMA) return 0.0;
        int period = (int)p[0];
        if (fresh) {
            sum = 0.0;
            for (int i = t - period; i < t; ++i) sum += fabs(x(0, i) - x(0, i + 1));
        } else {
            sum -= fabs(x(0, t - period - 1) - x(0, t - period));
            sum += fabs(x(0, t) - x(0, t - 1));
        }
        const double const_max = 2.0 / (30.0 + 1.0);
        const double const_diff = 2.0 / (2.0 + 1.0) - const_max;
        double period_roc = x(0, t) - x(0, t - period);
        double er = (sum <= period_roc || (-1e-8 < sum && sum < 1e-8)) ? 1.0 : fabs(period_roc / sum);
        double sc = (er * const_diff) + const_max;
        return sc * sc;
    }
};

// cpu/volume.py ad_1d_nb: the bar's money-flow volume added to the A/D line.
RQ_METHOD void rs_ad_add(const Bars& x, int t, double& ad) {
    double h = x(0, t), lo = x(1, t), c = x(2, t);
    double rng = h - lo;
    if (rng > 0.0) ad += (((c - lo) - (h - c)) / rng) * x(3, t);
}

// The state after the recurrence's first bar r (the one-thread kernels' first iterations).
template <int D>
RQ_METHOD void rs_first(int code, const RsLevels<D>& L, const Bars& x, int r, const double* p, double* st) {
    if (rs_is_net(code)) { rs_net_first<D>(code, L, x, r - L.offset, r, p, st); return; }
    int s = r;
    switch (code) {
    case RS_CUMSUM: st[0] = 0.0; st[0] += x(0, s); break;
    case RS_AD: st[0] = 0.0; rs_ad_add(x, s, st[0]); break;
    case RS_OBV: st[0] = x(1, s); break;
    case RS_PVT: case RS_WAD: st[0] = 0.0; break;
    case RS_VWAP:
        st[0] = 0.0; st[1] = 0.0;
        st[0] += ((x(0, s) + x(1, s) + x(2, s)) / 3.0) * x(3, s); st[1] += x(3, s);
        break;
    case RS_NVI: case RS_PVI: st[0] = 1000.0; break;
    case RS_ADOSC: if (D >= 3) { st[0] = 0.0; rs_ad_add(x, s, st[0]); st[1] = st[0]; st[2] = st[0]; } break;
    case RS_KAMA: st[0] = x(0, s); break;
    }
}

// Bar t > r: st <- M_t st + c_t (hom: st <- M_t st); k: RsBar::prepare's value for the bar.
template <int D>
RQ_METHOD void rs_step(int code, const RsLevels<D>& L, const Bars& x, int t, const double* p, double* st, bool hom,
                       double k) {
    if (rs_is_net(code)) { rs_net_step<D>(code, L, x, t, p, st, hom); return; }
    switch (code) {
    case RS_CUMSUM: if (!hom) st[0] += x(0, t); break;
    case RS_AD: if (!hom) rs_ad_add(x, t, st[0]); break;
    case RS_OBV:
        if (!hom) {
            double c = x(0, t), pc = x(0, t - 1);
            if (c > pc) st[0] += x(1, t);
            else if (c < pc) st[0] -= x(1, t);
        }
        break;
    case RS_PVT:
        if (!hom) {
            double prev = x(0, t - 1);
            if (prev != 0.0) st[0] += ((x(0, t) - prev) / prev) * x(1, t);
        }
        break;
    case RS_WAD:
        if (!hom) {
            double c = x(2, t), pc = x(2, t - 1);
            if (c > pc) { double lo = x(1, t); st[0] += c - (pc < lo ? pc : lo); }
            else if (c < pc) { double h = x(0, t); st[0] += c - (pc > h ? pc : h); }
        }
        break;
    case RS_VWAP:
        if (!hom) { st[0] += ((x(0, t) + x(1, t) + x(2, t)) / 3.0) * x(3, t); st[1] += x(3, t); }
        break;
    case RS_NVI: case RS_PVI: {
        double v = x(1, t), pv = x(1, t - 1);
        if (code == RS_PVI ? v > pv : v < pv) {
            double pc = x(0, t - 1);
            if (pc != 0.0) st[0] += st[0] * ((x(0, t) - pc) / pc);
        }
        break;
    }
    case RS_ADOSC: {
        double kf = 2.0 / (p[0] + 1.0), ks = 2.0 / (p[1] + 1.0);
        if (!hom) rs_ad_add(x, t, st[0]);
        st[1] = (kf * st[0]) + ((1.0 - kf) * st[1]);
        st[2] = (ks * st[0]) + ((1.0 - ks) * st[2]);
        break;
    }
    case RS_KAMA: st[0] = (((hom ? 0.0 : x(0, t)) - st[0]) * k) + st[0]; break;
    }
}

// The outputs at bar t (RsLevels::outputs of them).
RQ_METHOD void rs_values(int code, const Bars& x, int t, const double* p, const double* st, double* v) {
    if (rs_is_net(code)) { rs_net_values(code, x, t, p, st, v); return; }
    if (code == RS_VWAP) v[0] = st[1] != 0.0 ? st[0] / st[1] : 0.0;
    else if (code == RS_ADOSC) v[0] = st[1] - st[2];
    else v[0] = st[0];
}

#define RS_ARGS                                                                                       \
    int code, const double* a0, const double* a1, const double* a2, const double* a3, const double* a4, \
        int n_in, const double* p, int T, i64 N, int seg, int lb, double* maps, int* kinds,             \
        double* starts, int* first, double* out, int* marks

// Thread idx of a (column, segment) launch: its column's inputs and bars [b, e).
struct RsThread {
    Bars x; i64 col; int g, S, b, e; bool ok;
    RQ_METHOD void init(i64 idx, const double* a0, const double* a1, const double* a2, const double* a3,
                        const double* a4, int n_in, int T, i64 N, int seg) {
        col = idx % N; g = (int)(idx / N); S = (T + seg - 1) / seg;
        ok = g < S;
        b = g * seg; e = b + seg < T ? b + seg : T;
        const double* ins[RQ_MAX_IN] = {a0, a1, a2, a3, a4};
        RS_UNROLL
        for (int i = 0; i < RQ_MAX_IN; ++i) x.a[i] = (i < n_in ? ins[i] : a0) + col;
        x.N = N; x.n_in = n_in;
    }
    // The segment's kind for a recurrence starting `off` bars after the first valid bar s (the valid
    // bars are t >= s): -1 it starts after the segment, -2 before it, else its first bar r = s + off.
    RQ_METHOD int kind(int off) const {
        int q = b - off - 1;
        if (q >= 0 && x.valid(q)) return -2;  // s <= q: r < b
        if (!x.valid(e - 1)) return -1;
        int s = b - off > 0 ? b - off : 0;
        while (!x.valid(s)) ++s;
        return s + off < e ? s + off : -1;
    }
};

template <int D>
RQ_DEV void rs_maps_d(i64 idx, RS_ARGS) {
    RsThread th; th.init(idx, a0, a1, a2, a3, a4, n_in, T, N, seg);
    if (!th.ok) return;
    if (marks) {  // the gap marks of the bars this thread owns (column.cuh)
        const double* ins[RQ_MAX_IN] = {a0, a1, a2, a3, a4};
        rq_mark_gaps(ins, n_in, th.col, N, T, th.b, th.e, marks);
    }
    RsLevels<D> L; L.load(code, p);
    int k = th.kind(L.offset);
    kinds[(i64)th.g * N + th.col] = k;
    if (k == -1) return;
    double st[D + 1][RS_D];
    bool affine = k < 0;
    int from = th.b;
    if (affine) {
        RS_UNROLL
        for (int r = 0; r <= D; ++r) {
            RS_UNROLL
            for (int d = 0; d < D; ++d) st[r][d] = (r == d + 1) ? 1.0 : 0.0;
        }
    } else {
        rs_first<D>(code, L, th.x, k, p, st[0]); from = k + 1;
    }
    RsBar bar;
    bool fresh = true;
    for (int t = from; t < th.e; ++t, fresh = false) {
        double kt = bar.prepare(code, th.x, t, p, fresh);
        rs_step<D>(code, L, th.x, t, p, st[0], false, kt);
        if (affine) {
            RS_UNROLL
            for (int r = 1; r <= D; ++r) rs_step<D>(code, L, th.x, t, p, st[r], true, kt);
        }
    }
    RS_UNROLL
    for (int r = 0; r <= D; ++r) {
        if (r > 0 && !affine) break;
        RS_UNROLL
        for (int d = 0; d < D; ++d) maps[(((i64)th.g * RS_RUNS + r) * RS_D + d) * N + th.col] = st[r][d];
    }
}

template <int D>
RQ_DEV void rs_carry_d(i64 col, RS_ARGS) {
    if (col >= N) return;
    int S = (T + seg - 1) / seg, r = -1;
    double x[RS_D];
    RS_UNROLL
    for (int d = 0; d < D; ++d) x[d] = 0.0;
    for (int g = 0; g < S; ++g) {
        int k = kinds[(i64)g * N + col];
        if (k == -1) continue;
        double y[RS_D];
        RS_UNROLL
        for (int d = 0; d < D; ++d) {
            starts[((i64)g * RS_D + d) * N + col] = x[d];
            y[d] = maps[(((i64)g * RS_RUNS) * RS_D + d) * N + col];
            if (k < 0) {
                RS_UNROLL
                for (int i = 0; i < D; ++i) y[d] += maps[(((i64)g * RS_RUNS + 1 + i) * RS_D + d) * N + col] * x[i];
            }
        }
        RS_UNROLL
        for (int d = 0; d < D; ++d) x[d] = y[d];
        if (k >= 0) r = k;
    }
    first[col] = r;
}

template <int D>
RQ_DEV void rs_emit_d(i64 idx, RS_ARGS) {
    RsThread th; th.init(idx, a0, a1, a2, a3, a4, n_in, T, N, seg);
    if (!th.ok) return;
    RsLevels<D> L; L.load(code, p);
    int k = kinds[(i64)th.g * N + th.col], r = first[th.col];
    int s = r - L.offset;  // the column's first valid bar
    int n_out = L.outputs;
    i64 plane = (i64)T * N;
    double* o = out + th.col;
    int from = th.b;
    double st[RS_D];
    RS_UNROLL
    for (int d = 0; d < D; ++d) st[d] = 0.0;
    if (k == -1) from = th.e;
    else if (k >= 0) from = k;
    else {
        RS_UNROLL
        for (int d = 0; d < D; ++d) st[d] = starts[((i64)th.g * RS_D + d) * N + th.col];
    }
    for (int t = th.b; t < from; ++t) {
        RS_UNROLL
        for (int m = 0; m < RS_MAX_OUT; ++m) if (m < n_out) o[m * plane + (i64)t * N] = RQ_NAN;
    }
    RsBar bar;
    bool fresh = true;
    for (int t = from; t < th.e; ++t) {
        if (t == r) rs_first<D>(code, L, th.x, t, p, st);
        else { rs_step<D>(code, L, th.x, t, p, st, false, bar.prepare(code, th.x, t, p, fresh)); fresh = false; }
        double v[RS_MAX_OUT];
        rs_values(code, th.x, t, p, st, v);
        RS_UNROLL
        for (int m = 0; m < RS_MAX_OUT; ++m) if (m < n_out) o[m * plane + (i64)t * N] = t - s >= lb ? v[m] : RQ_NAN;
    }
}

#define RS_CALL code, a0, a1, a2, a3, a4, n_in, p, T, N, seg, lb, maps, kinds, starts, first, out, marks

// Entry points per state size D (rs_dim: 1, 2, 3, 4 or 6; gpu_scan.AFFINE_DIMS picks them): each its
// own register budget, so that a sum (D = 1) is not held to T3's (D = 6).
#ifndef RQ_HOST
#define RS_ENTRIES(D)                                                                                  \
    extern "C" __global__ void rs_maps_##D(RS_ARGS) { rs_maps_d<D>(RQ_COL_INDEX(), RS_CALL); }         \
    extern "C" __global__ void rs_carry_##D(RS_ARGS) { rs_carry_d<D>(RQ_COL_INDEX(), RS_CALL); }       \
    extern "C" __global__ void rs_emit_##D(RS_ARGS) { rs_emit_d<D>(RQ_COL_INDEX(), RS_CALL); }
#else
// The host build: each phase runs its threads one after another; host_rs_dim lets the tests check
// gpu_scan.AFFINE_DIMS against rs_dim.
#define RS_ENTRIES(D)                                                                                  \
    extern "C" void host_rs_maps_##D(i64 n, RS_ARGS) { for (i64 i = 0; i < n; ++i) rs_maps_d<D>(i, RS_CALL); }   \
    extern "C" void host_rs_carry_##D(i64 n, RS_ARGS) { for (i64 i = 0; i < n; ++i) rs_carry_d<D>(i, RS_CALL); } \
    extern "C" void host_rs_emit_##D(i64 n, RS_ARGS) { for (i64 i = 0; i < n; ++i) rs_emit_d<D>(i, RS_CALL); }
extern "C" int host_rs_dim(int code, const double* p) { return rs_dim(code, p); }
#endif
RS_ENTRIES(1)
RS_ENTRIES(2)
RS_ENTRIES(3)
RS_ENTRIES(4)
RS_ENTRIES(6)
