// Register batches for the one-thread-per-column loops of momentum.cu, volume.cu and statistic.cu.
//
// A thread walks its column bar by bar, and each bar's loads come after the previous bar's stores,
// above which the compiler may not move them (the planes may alias): every bar would wait a full
// memory latency. rqb_run loads U bars of each input (K columns, each at its own lag: x[t - lag])
// into registers at a time, U * K independent loads in flight, then calls step(t, b, u) for each bar
// of the batch with the batch fully unrolled, so that b[k][u] are registers. The step does exactly
// what one iteration of the plain loop did, so results are the same bits.
// Reads through rqb_run are plain loads: the columns may be scratch planes written earlier by the
// same thread (STOCHRSI runs fast %K over its RSI plane).
#ifndef RQ_COL_BATCH_CUH
#define RQ_COL_BATCH_CUH

#include "column.cuh"

#ifdef RQ_HOST
#define RQB_UNROLL
#else
#define RQB_UNROLL _Pragma("unroll")
#endif

#define RQB_U 8     // bars per batch
#define RQB_RING 64 // windows up to this length keep their values in a thread-local ring (no plane)

// Bars t = start .. n-1: step(t, b, u) with b[k][u] = cols[k][t - lags[k]] (0.0 where t - lag < 0),
// U bars per batch (rqb_run: RQB_U; rqb_run_u<U>: a smaller U for steps with inner loops, where the
// batch saves less and each unrolled copy of the step costs compile time).
template <int U, int K, class F>
RQ_DEV void rqb_run_u(const Col (&cols)[K], const int (&lags)[K], int start, int n, F step) {
    for (int t0 = start; t0 < n; t0 += U) {
        double b[K][U];
        RQB_UNROLL
        for (int k = 0; k < K; ++k) {
            RQB_UNROLL
            for (int u = 0; u < U; ++u) {
                int t = t0 + u - lags[k];
                b[k][u] = (t0 + u < n && t >= 0) ? cols[k][t] : 0.0;
            }
        }
        RQB_UNROLL
        for (int u = 0; u < U; ++u)
            if (t0 + u < n) step(t0 + u, b, u);
    }
}

template <int K, class F>
RQ_DEV void rqb_run(const Col (&cols)[K], const int (&lags)[K], int start, int n, F step) {
    rqb_run_u<RQB_U>(cols, lags, start, n, step);
}

// The last values of a window, slot i = bar i % slots: a thread-local array (no alias with the
// columns, so it does not hold back the batched loads) when the window has at most RQB_RING slots,
// else a scratch plane, taken only then (a caller declares that plane in its scratch count).
// Slots are always written before they are read; bar indices stay below the column length.
struct RqbRing {
    double loc[RQB_RING];
    Col plane;
    bool big;
    RQ_METHOD void init(int slots, Scratch& sc) {
        big = slots > RQB_RING;
        if (big) plane = sc.take(slots);
    }
    RQ_METHOD double& operator[](int i) { return big ? plane[i] : loc[i]; }
};

#endif  // RQ_COL_BATCH_CUH
