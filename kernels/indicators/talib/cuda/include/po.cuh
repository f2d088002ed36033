// TA_INT_PO (po_1d_nb of kernels/indicators/talib/cpu/momentum.py) for APO / PPO (momentum.cu) and
// PVO (volume.cu): fast MA - slow MA, or (fast - slow) / slow * 100 (0 where slow is ~0).
// Scratch: one plane of its own + RQ_MA_SCRATCH (ma.cuh).
#ifndef RQ_PO_CUH
#define RQ_PO_CUH

#include "column.cuh"
#include "ma.cuh"
#include "col_batch.cuh"

#define RQ_PO_SCRATCH (1 + RQ_MA_SCRATCH)

// The fast MA goes straight to `out` (NaN-filled by the entry point), the slow one to a plane; the
// bars before the slow lookback are set back to NaN.
RQ_DEV void po_1d(Col x, Col out, int fast, int slow, int matype, bool percent, Scratch sc) {
    int n = x.n;
    if (slow < fast) { int ti = fast; fast = slow; slow = ti; }
    if (matype == 11) matype = 1;
    int lbs = ma_lookback(slow, matype);
    if (n <= lbs) return;
    Col es = sc.take_nan(n);
    ma_1d(x, out, fast, matype, sc);
    ma_1d(x, es, slow, matype, sc);
    for (int t = 0; t < lbs; ++t) out[t] = RQ_NAN;
    const Col cols[2] = {out, es};
    const int lags[2] = {0, 0};
    rqb_run(cols, lags, lbs, n, [&](int t, const double (&b)[2][RQB_U], int u) {
        double f = b[0][u], s = b[1][u];
        if (percent) out[t] = !is_zero(s) ? ((f - s) / s) * 100.0 : 0.0;
        else out[t] = f - s;
    });
}

#endif  // RQ_PO_CUH
