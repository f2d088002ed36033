// GPU forms of kernels/indicators/talib/cpu/overlap.py (same codes, same parameter vector).
// gpu names: all
// scratch planes: 3
#include "column.cuh"
#include "ma.cuh"
#include "var.cuh"
#include "sar.cuh"

// TA_BBANDS: MA(matype) middle, +/- nbdev * population std over `period`; the variance is
// streamed in the same pass that writes the bands.
RQ_NOINL void bbands_1d(Col x, Col up, Col mid, Col lo, int period, double nbdevup, double nbdevdn, int matype,
                        Scratch sc) {
    int n = x.n;
    ma_1d(x, mid, period, matype, sc);
    VarTalibStage vs;
    vs.init(x, period);
    for (int t0 = 0; t0 < n; t0 += RQ_U) {
        double b[RQ_U], lag[RQ_U], m[RQ_U];
        rq_chunk(x, t0, 0, b);
        rq_chunk(x, t0, period - 1, lag);
        rq_chunk(mid, t0, 0, m);
#pragma unroll
        for (int u = 0; u < RQ_U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            double var = vs.step(x, t, b[u], lag[u]);
            if (rq_isnan(m[u]) || rq_isnan(var)) {
                mid[t] = RQ_NAN;
                continue;
            }
            double sd = sqrt(var);
            up[t] = m[u] + sd * nbdevup;
            lo[t] = m[u] - sd * nbdevdn;
        }
    }
}

// max_1d / min_1d of column.cuh bar by bar (the same rescans when the extreme leaves the window):
// step(x, today, val) with val = x[today], for today = period-1, period, ..., returns that bar's
// highest / lowest.
// The rescans (when the extreme leaves the window) are calls, not inlined into every unrolled step.
RQ_NOINL void ov_rescan_max(Col x, int trailing, int today, int& idx, double& v) {
    idx = trailing; v = x[idx];
    for (int i = trailing + 1; i <= today; ++i) { double w = x[i]; if (w > v) { idx = i; v = w; } }
}
RQ_NOINL void ov_rescan_min(Col x, int trailing, int today, int& idx, double& v) {
    idx = trailing; v = x[idx];
    for (int i = trailing + 1; i <= today; ++i) { double w = x[i]; if (w < v) { idx = i; v = w; } }
}
struct OvMaxRun {
    int idx, trailing; double v;
    RQ_METHOD void init() { idx = -1; trailing = 0; v = 0.0; }
    RQ_METHOD double step(Col x, int today, double val) {
        if (idx < trailing) ov_rescan_max(x, trailing, today, idx, v);
        else if (val >= v) { idx = today; v = val; }
        ++trailing;
        return v;
    }
};
struct OvMinRun {
    int idx, trailing; double v;
    RQ_METHOD void init() { idx = -1; trailing = 0; v = 0.0; }
    RQ_METHOD double step(Col x, int today, double val) {
        if (idx < trailing) ov_rescan_min(x, trailing, today, idx, v);
        else if (val <= v) { idx = today; v = val; }
        ++trailing;
        return v;
    }
};

// Highest, (highest + lowest) / 2 and lowest over `period` bars of h and low, one pass; with
// bands false only the middle (MIDPRICE; MIDPOINT: h = low = x).
RQ_NOINL void donchian_1d(Col h, Col low, Col up, Col mid, Col lo, int period, bool bands) {
    int n = h.n;
    OvMaxRun hi; hi.init();
    OvMinRun lw; lw.init();
    for (int t0 = period - 1; t0 < n; t0 += RQ_U) {
        double bh[RQ_U], bl[RQ_U];
        rq_chunk(h, t0, 0, bh);
        rq_chunk(low, t0, 0, bl);
#pragma unroll
        for (int u = 0; u < RQ_U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            double a = hi.step(h, t, bh[u]);
            double c = lw.step(low, t, bl[u]);
            if (bands) {
                up[t] = a;
                lo[t] = c;
            }
            mid[t] = (a + c) / 2.0;
        }
    }
}

// TA_MAVP: at each bar the MA(matype) with that bar's period, clipped to [minp, maxp]. Each
// distinct period runs once (in order of first appearance); plane q holds the clipped periods, and
// -1 once a bar has its value.
RQ_NOINL void mavp_1d(Col x, Col periods, Col out, int minp, int maxp, int matype, int lookback, Scratch sc) {
    int n = x.n;
    if (n <= lookback) return;
    Col buf = sc.take(n);
    Col q = sc.take(n);
    for (int u = lookback; u < n; ++u) {
        double pu = periods[u];
        // Python's int() then the clip, done on the double (the same integer, no overflow); NaN -> minp
        if (!(pu >= (double)minp)) q[u] = minp;
        else if (pu > (double)maxp) q[u] = maxp;
        else q[u] = (double)(int)pu;
    }
    for (int t = lookback; t < n; ++t) {
        double qt = q[t];
        if (qt < 0.0) continue;
        int qi = (int)qt;
        int off = lookback - ma_lookback(qi, matype);
        // every MA kernel writes its output from its lookback on, so buf needs no reset: the bars
        // read below (u >= t >= lookback = off + its lookback) are this period's values
        ma_1d(x.tail(off), buf.tail(off), qi, matype, sc);
        for (int u0 = t; u0 < n; u0 += RQ_U) {
            double bq[RQ_U];
            rq_chunk(q, u0, 0, bq);
#pragma unroll
            for (int i = 0; i < RQ_U; ++i) {
                int u = u0 + i;
                if (u < n && bq[i] == qt) {
                    out[u] = buf[u];
                    q[u] = -1.0;
                }
            }
        }
    }
}

// TA_VWMA (vwma_1d_nb, TA-Lib 0.8.1): (sum(x * v) / period) / (sum(v) / period) over `period` bars, the
// sums kept by add-then-subtract (0 / 0: NaN); period 1 copies x.
RQ_NOINL void vwma_1d(Col x, Col v, Col out, int period) {
    int n = x.n;
    if (period == 1) {
        for (int t = 0; t < n; ++t) out[t] = x[t];
        return;
    }
    double s_pv = 0.0, s_v = 0.0;
    for (int t = 0; t < imin(period - 1, n); ++t) {
        double pv = x[t] * v[t];
        s_pv += pv;
        s_v += v[t];
    }
    for (int t0 = period - 1; t0 < n; t0 += RQ_U) {
        double bx[RQ_U], bv[RQ_U], wx[RQ_U], wv[RQ_U];
        rq_chunk(x, t0, 0, bx);
        rq_chunk(v, t0, 0, bv);
        rq_chunk(x, t0, period - 1, wx);
        rq_chunk(v, t0, period - 1, wv);
#pragma unroll
        for (int u = 0; u < RQ_U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            double pv = bx[u] * bv[u];
            s_pv += pv;
            s_v += bv[u];
            out[t] = (s_pv / period) / (s_v / period);
            pv = wx[u] * wv[u];
            s_pv -= pv;
            s_v -= wv[u];
        }
    }
}

// TA_SAR and TA_SAREXT: include/sar.cuh's step over the column, bars read in register chunks.
RQ_NOINL void sar_1d(Col h, Col low, Col out, const SarParams& q) {
    int n = h.n;
    if (n < 2) return;
    Sar st; st.begin(q, q.start, h[0], low[0], h[1], low[1]);
    for (int t0 = 1; t0 < n; t0 += RQ_U) {
        double bh[RQ_U], bl[RQ_U];
        rq_chunk(h, t0, 0, bh);
        rq_chunk(low, t0, 0, bl);
#pragma unroll
        for (int u = 0; u < RQ_U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            out[t] = st.step(q, bh[u], bl[u]);
        }
    }
}

RQ_DEV void col_overlap(int code, Col c0, Col c1, Col c2, Col c3, Col c4, Col* o, const double* p, int s,
                        Scratch sc) {
    switch (code) {
        case 0: sma_1d(c0, o[0], (int)p[0]); break;
        case 1: ema_1d(c0, o[0], (int)p[0]); break;
        case 2: wma_1d(c0, o[0], (int)p[0]); break;
        case 3: dema_1d(c0, o[0], (int)p[0]); break;
        case 4: tema_1d(c0, o[0], (int)p[0]); break;
        case 5: trima_1d(c0, o[0], (int)p[0], sc); break;
        case 6: kama_1d(c0, o[0], (int)p[0]); break;
        case 7: t3_1d(c0, o[0], (int)p[0], p[1]); break;
        case 8: hma_1d(c0, o[0], (int)p[0], sc); break;
        case 9: zlema_1d(c0, o[0], (int)p[0]); break;
        case 10: rma_1d(c0, o[0], (int)p[0]); break;
        case 11: ma_1d(c0, o[0], (int)p[0], (int)p[1], sc); break;
        case 12: bbands_1d(c0, o[0], o[1], o[2], (int)p[0], p[1], p[2], (int)p[3], sc); break;
        case 13: donchian_1d(c0, c0, o[0], o[0], o[0], (int)p[0], false); break;
        case 14: donchian_1d(c0, c1, o[0], o[0], o[0], (int)p[0], false); break;
        case 15: donchian_1d(c0, c1, o[0], o[1], o[2], (int)p[0], true); break;
        case 16: mavp_1d(c0, c1, o[0], (int)p[0], (int)p[1], (int)p[2], (int)p[3], sc); break;
        case 17: mama_1d(c0, o[0], o[1], p[0], p[1]); break;
        case 18: vwma_1d(c0, c1, o[0], (int)p[0]); break;
        case 19: case 20: { SarParams q; q.from_vector(code == 20, p); sar_1d(c0, c1, o[0], q); break; }
        default: break;
    }
}

RQ_GROUP(overlap)
