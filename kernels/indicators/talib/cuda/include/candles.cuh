// TA-Lib's candle settings for the pattern kernels (pattern.cu), mirroring cpu/pattern.py:
//   - Bars: the open/high/low/close columns of one thread's column (global memory);
//   - Win: the last five bars in registers (slot k is bar i - k), with TA-Lib's candle
//     measures (real body, high-low range, shadows, colour, real-body gaps);
//   - Avg<SETTING, K>: TA_CANDLEAVERAGE of a setting for the candle at i - K, a running period
//     total updated bar by bar exactly as TA-Lib (and avg_nb) does: start, at the first bar the
//     pattern evaluates (lb; lb - 3 for CDLHIKKAKEMOD), with the sum of the `period` ranges before
//     that bar's candle i - K, then add the new range minus the trailing one, so that every
//     comparison sees TA-Lib's numbers.
#ifndef RQ_CANDLES_CUH
#define RQ_CANDLES_CUH

// range kinds (TA_RangeType): real body, high-low, shadows
#define K_RB 0
#define K_HL 1
#define K_SH 2
// settings (TA_CandleSetting defaults): range kind, averaging period, factor x 100
// (F100 / 100.0 is the double nearest to the factor, as the literal 0.1 is).
#define BODY_LONG K_RB, 10, 100
#define BODY_VERY_LONG K_RB, 10, 300
#define BODY_SHORT K_RB, 10, 100
#define BODY_DOJI K_HL, 10, 10
#define SHADOW_LONG K_RB, 0, 100
#define SHADOW_VERY_LONG K_RB, 0, 200
#define SHADOW_SHORT K_SH, 10, 100
#define SHADOW_VERY_SHORT K_HL, 10, 10
#define NEAR K_HL, 5, 20
#define FAR K_HL, 5, 60
#define EQUAL K_HL, 5, 5

// TA-Lib's body top / bottom in the shadow measures (TA_UPPERSHADOW = high - (close >= open ? close : open),
// TA_LOWERSHADOW = (close >= open ? open : close) - low): the same as numpy's maximum / minimum in
// cpu/pattern.py on real numbers, and TA-Lib's pick where one of them is NaN (nan_policy="propagate").
RQ_DEV double body_top(double c, double o) { return c >= o ? c : o; }
RQ_DEV double body_bottom(double c, double o) { return c >= o ? o : c; }
// Python's max / min of two floats (the first unless the second is strictly greater / smaller)
RQ_DEV double py_max(double a, double b) { return b > a ? b : a; }
RQ_DEV double py_min(double a, double b) { return b < a ? b : a; }

struct Bars {
    Col o, h, l, c;
    int n;
};

// The candle range of kind KIND at bar j (cpu/pattern.py's rng[KIND][j]).
template <int KIND>
RQ_DEV double range_at(const Bars& b, int j) {
    double o = b.o[j], c = b.c[j];
    if (KIND == K_RB) return fabs(c - o);
    double h = b.h[j], l = b.l[j];
    if (KIND == K_HL) return h - l;
    return (h - body_top(c, o)) + (body_bottom(c, o) - l);
}

#define RQ_SHIFT5(A, v) A[4] = A[3]; A[3] = A[2]; A[2] = A[1]; A[1] = A[0]; A[0] = (v);

// The last five bars; slot k is bar i - k once bar i is pushed. Indices are constants after inlining,
// so the arrays live in registers.
struct Win {
    double O[5], H[5], L[5], C[5];
    // Bars t0 - 1 .. t0 - 5 (those that exist) in slots 0..4: pushing bar t0 then makes slot k bar t0 - k.
    RQ_METHOD void start(const Bars& b, int t0) {
        for (int k = 0; k < 5; ++k) {
            int j = t0 - 1 - k;
            bool ok = j >= 0 && j < b.n;
            O[k] = ok ? b.o[j] : 0.0; H[k] = ok ? b.h[j] : 0.0; L[k] = ok ? b.l[j] : 0.0; C[k] = ok ? b.c[j] : 0.0;
        }
    }
    RQ_METHOD void push(double o, double h, double l, double c) {
        RQ_SHIFT5(O, o) RQ_SHIFT5(H, h) RQ_SHIFT5(L, l) RQ_SHIFT5(C, c)
    }
    RQ_METHOD double o(int k) const { return O[k]; }
    RQ_METHOD double h(int k) const { return H[k]; }
    RQ_METHOD double l(int k) const { return L[k]; }
    RQ_METHOD double c(int k) const { return C[k]; }
    RQ_METHOD double rb(int k) const { return fabs(C[k] - O[k]); }
    RQ_METHOD double hl(int k) const { return H[k] - L[k]; }
    RQ_METHOD double us(int k) const { return H[k] - body_top(C[k], O[k]); }
    RQ_METHOD double ls(int k) const { return body_bottom(C[k], O[k]) - L[k]; }
    RQ_METHOD double col(int k) const { return C[k] >= O[k] ? 1.0 : -1.0; }
    // TA_REALBODYGAPUP(a, b): candle a's body entirely above candle b's (and the gap down)
    RQ_METHOD bool gap_up(int a, int b) const { return py_min(O[a], C[a]) > py_max(O[b], C[b]); }
    RQ_METHOD bool gap_down(int a, int b) const { return py_max(O[a], C[a]) < py_min(O[b], C[b]); }
    template <int KIND>
    RQ_METHOD double range(int k) const {
        if (KIND == K_RB) return rb(k);
        if (KIND == K_HL) return hl(k);
        return us(k) + ls(k);
    }
};

// TA_CANDLEAVERAGE of the setting (KIND, PERIOD, F100) for the candle at i - K, for bars i >= lb (the
// start bar given) in order: at(w) is the value at bar i (w holds bar i), next(b, w) moves to bar i + 1.
template <int KIND, int PERIOD, int F100, int K>
struct Avg {
    double total;
    int trailing;
    RQ_METHOD Avg(const Bars& b, int lb) {
        total = 0.0;
        trailing = lb - K - PERIOD;
        if (PERIOD > 0)
            for (int j = trailing; j < lb - K; ++j) total += range_at<KIND>(b, j);
    }
    RQ_METHOD double at(const Win& w) const {
        const double factor = F100 / 100.0;
        const double div = KIND == K_SH ? 2.0 : 1.0;
        const double period = PERIOD > 0 ? PERIOD : 1;  // (no division by a literal 0 where PERIOD is 0)
        if (PERIOD == 0) return factor * w.range<KIND>(K) / div;
        return factor * (total / period) / div;
    }
    RQ_METHOD void next(const Bars& b, const Win& w) {
        if (PERIOD == 0) return;
        total += w.range<KIND>(K) - range_at<KIND>(b, trailing);
        ++trailing;
    }
};

#endif  // RQ_CANDLES_CUH
