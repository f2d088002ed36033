// GPU forms of kernels/indicators/talib/cpu/momentum.py (same codes, same parameter vector).
// gpu names: WILLR
// scratch planes: 2
#include "column.cuh"

RQ_DEV void willr_1d(Col h, Col low, Col c, Col out, int period, Scratch sc) {
    int n = c.n;
    Col hh = sc.take_nan(n);
    Col ll = sc.take_nan(n);
    max_1d(h, hh, period);
    min_1d(low, ll, period);
    for (int t = period - 1; t < n; ++t) {
        double diff = (hh[t] - ll[t]) / (-100.0);
        out[t] = diff != 0.0 ? (hh[t] - c[t]) / diff : 0.0;
    }
}

RQ_DEV void col_momentum(int code, Col c0, Col c1, Col c2, Col c3, Col c4, Col* o, const double* p, int s,
                         Scratch sc) {
    if (code == 14) willr_1d(c0, c1, c2, o[0], (int)p[0], sc);
}

RQ_GROUP(momentum)
