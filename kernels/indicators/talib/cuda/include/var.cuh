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

#endif  // RQ_VAR_CUH
