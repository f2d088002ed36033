// GPU forms of kernels/indicators/talib/cpu/cycle.py (same codes, same parameter vector): the
// Hilbert-transform family and MAMA, all through ht_1d of cycle_core.cuh (no scratch planes).
// gpu names: all
// scratch planes: 0
#include "column.cuh"
#include "cycle_core.cuh"

RQ_DEV void col_cycle(int code, Col c0, Col c1, Col c2, Col c3, Col c4, Col* o, const double* p, int s,
                      Scratch sc) {
    int lb = (code <= 1 || code == 6) ? 32 : 63;
    // o[1] is o[0]'s plane for the one-output functions (RQ_GROUP), as cycle.py passes o[0] twice
    if (code == 6) ht_1d(c0, o[0], o[1], 6, lb, p[0], p[1], 9);
    else if (code >= 0 && code <= 5) ht_1d(c0, o[0], o[1], code, lb, 0.0, 0.0, lb == 32 ? 9 : 34);
}

RQ_GROUP(cycle)
