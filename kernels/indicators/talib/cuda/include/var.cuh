// var_rebuild_nb of kernels/indicators/cpu.py (TA-Lib 0.8's VAR), shared by statistic.cu (VAR,
// STDDEV), overlap.cu (BBANDS) and newer.cu (RVI): fresh two-pass sums of the window ending at t,
// shifted by the window mean (by x[t] when the variance is under RQ_VAR_FLAT of the sum of squares);
// `peak` becomes that sum; a variance under RQ_VAR_ZERO of it is 0. The sums it leaves have the
// window's trailing value removed already (the caller adds the next bar). Rare, so kept out of line.
#ifndef RQ_VAR_CUH
#define RQ_VAR_CUH
#include "column.cuh"

#define RQ_VAR_FLAT 0.000001
#define RQ_VAR_ZERO 0.000000000001
#ifdef RQ_HOST
#define RQ_VAR_COLD static __attribute__((noinline))
#else
#define RQ_VAR_COLD static __device__ __noinline__
#endif

RQ_VAR_COLD double var_rebuild(Col x, int t, int period, double inv, double& shift, double& total1,
                               double& total2, double& peak) {
    int ws = t - period + 1;
    double acc = 0.0;
    for (int j = ws; j <= t; ++j) acc = acc + x[j];
    shift = acc * inv;
    total1 = 0.0; total2 = 0.0;
    for (int j = ws; j <= t; ++j) { double a = x[j] - shift; total1 = total1 + a; total2 = total2 + a * a; }
    double mean1 = total1 * inv;
    double var = total2 * inv - mean1 * mean1;
    if (var < RQ_VAR_FLAT * (total2 * inv)) {
        shift = x[t];
        total1 = 0.0; total2 = 0.0;
        for (int j = ws; j <= t; ++j) { double a = x[j] - shift; total1 = total1 + a; total2 = total2 + a * a; }
        mean1 = total1 * inv;
        var = total2 * inv - mean1 * mean1;
    }
    peak = total2;
    if (var < RQ_VAR_ZERO * (total2 * inv)) var = 0.0;
    double a = x[ws] - shift;
    total1 = total1 - a;
    total2 = total2 - a * a;
    return var;
}

// TA_VAR as TA-Lib 0.8.1 computes it (var_talib_1d_nb of cpu/statistic.py; statistic.cu's VAR / STDDEV and
// overlap.cu's BBANDS), stepped bar by bar: its value
// at bar t (NaN before the first full window). Sums of deviations from a shift (the first window value), the
// trailing value removed before the test; rebuilt on the window mean when the variance is under 1e-6 of the
// remaining sum of squares / period, the departing squared deviation exceeds 1e6 x the remaining sum, or
// every 32 * period bars; a rebuilt variance under 1e-12 of its sum of squares / period is 0.
// step(x, t, v, lagv): v = x[t], lagv = x[t - period + 1] (the caller's chunks; the rebuild reads x).
struct VarTalibStage {
    double inv, shift, total1, total2;
    int period, bars, s;
    RQ_METHOD void init(Col x, int p) {
        period = p; inv = 1.0 / p; shift = 0.0; total1 = 0.0; total2 = 0.0; bars = 0;
        for (s = 0; s < x.n && rq_isnan(x[s]); ++s) {}  // the first valid bar
    }
    RQ_METHOD double step(Col x, int t, double v, double lagv) {
        int k = t - s;
        if (k < 0) return RQ_NAN;
        if (k == 0) shift = v;
        if (k < period - 1) {
            double a = v - shift;
            total1 += a;
            total2 += a * a;
            return RQ_NAN;
        }
        if (k == period - 1) bars = 32 * period;
        double a = v - shift;
        total1 += a;
        a *= a;
        total2 += a;
        double mean1 = total1 * inv;
        double var = total2 * inv - mean1 * mean1;
        a = lagv - shift;
        total1 -= a;
        a *= a;
        total2 -= a;
        --bars;
        if (var < 0.000001 * (total2 * inv) || a > 1000000.0 * total2 || bars <= 0) {
            bars = 32 * period;
            int ws = t - period + 1;
            double acc = 0.0;
            for (int j = ws; j <= t; ++j) acc += x[j];
            shift = acc * inv;
            total1 = 0.0; total2 = 0.0;
            for (int j = ws; j <= t; ++j) { double d = x[j] - shift; total1 += d; d *= d; total2 += d; }
            mean1 = total1 * inv;
            var = total2 * inv - mean1 * mean1;
            if (var < 0.000000000001 * (total2 * inv)) var = 0.0;
            a = x[ws] - shift;
            total1 -= a; a *= a; total2 -= a;
        }
        return var;
    }
};

#endif  // RQ_VAR_CUH
