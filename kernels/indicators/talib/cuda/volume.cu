// GPU forms of kernels/indicators/talib/cpu/volume.py (same codes, same parameter vector).
//
// The Numba kernels' operations in the same order (the host build is bit-identical to the CPU
// backend), each in one pass: derived series (h - low, money-flow volume, force) are computed as the
// pass reaches them instead of into temporaries, inputs are read in register batches
// (col_batch.cuh) and lagged terms come from thread-local rings (a scratch plane only past 64 bars).
// PVO is TA_INT_PO over ma.cuh (po.cuh: its slow MA plane plus RQ_MA_SCRATCH).
// gpu names: all
// scratch planes: 2
#include "column.cuh"
#include "po.cuh"
#include "col_batch.cuh"

// ---------------------------------------------------------------- cpu/volume.py
RQ_DEV void ad_1d(Col h, Col low, Col c, Col v, Col out) {
    double ad = 0.0;
    const Col cols[4] = {h, low, c, v};
    const int lags[4] = {0, 0, 0, 0};
    rqb_run(cols, lags, 0, c.n, [&](int t, const double (&b)[4][RQB_U], int u) {
        double ht = b[0][u], lt = b[1][u], ct = b[2][u];
        double rng = ht - lt;
        if (rng > 0.0) ad += (((ct - lt) - (ht - ct)) / rng) * b[3][u];
        out[t] = ad;
    });
}

// TA_ADOSC: EMA(fast) - EMA(slow) of the A/D line, both seeded with its first value.
RQ_DEV void adosc_1d(Col h, Col low, Col c, Col v, Col out, int fast, int slow) {
    int lb = imax(fast, slow) - 1;
    double kf = 2.0 / (fast + 1.0), ks = 2.0 / (slow + 1.0);
    double ad = 0.0, ef = 0.0, es = 0.0;
    const Col cols[4] = {h, low, c, v};
    const int lags[4] = {0, 0, 0, 0};
    rqb_run(cols, lags, 0, c.n, [&](int t, const double (&b)[4][RQB_U], int u) {
        double ht = b[0][u], lt = b[1][u], ct = b[2][u];
        double rng = ht - lt;
        if (rng > 0.0) ad += (((ct - lt) - (ht - ct)) / rng) * b[3][u];
        if (t == 0) { ef = ad; es = ad; }
        else {
            ef = (kf * ad) + ((1.0 - kf) * ef);
            es = (ks * ad) + ((1.0 - ks) * es);
        }
        if (t >= lb) out[t] = ef - es;
    });
}

RQ_DEV void obv_1d(Col c, Col v, Col out) {
    double obv = v[0], prev = c[0];
    out[0] = obv;
    const Col cols[2] = {c, v};
    const int lags[2] = {0, 0};
    rqb_run(cols, lags, 1, c.n, [&](int t, const double (&b)[2][RQB_U], int u) {
        double ct = b[0][u];
        if (ct > prev) obv += b[1][u];
        else if (ct < prev) obv -= b[1][u];
        out[t] = obv;
        prev = ct;
    });
}

// ATR / NATR (the previous close carried in a register).
RQ_DEV void atr_1d(Col h, Col low, Col c, Col out, int period, bool normalised) {
    int n = c.n;
    if (n <= period) return;
    const Col cols[3] = {h, low, c};
    const int lags[3] = {0, 0, 0};
    if (period == 1) {
        double pc = c[0];
        rqb_run(cols, lags, 1, n, [&](int t, const double (&b)[3][RQB_U], int u) {
            double ct = b[2][u];
            double tr = true_range(b[0][u], b[1][u], pc);
            pc = ct;
            out[t] = tr;  // TA-Lib: NATR(1) is TRANGE, not normalised
        });
        return;
    }
    double total = 0.0;
    for (int t = 1; t <= period; ++t) total += true_range(h[t], low[t], c[t - 1]);
    double prev = total / period;
    double pc = c[period - 1];
    rqb_run(cols, lags, period, n, [&](int t, const double (&b)[3][RQB_U], int u) {
        double ct = b[2][u];
        if (t > period) {
            prev *= period - 1;
            prev += true_range(b[0][u], b[1][u], pc);
            prev /= period;
        }
        pc = ct;
        if (normalised) out[t] = ct != 0.0 ? (prev / ct) * 100.0 : 0.0;  // TA-Lib: an exact zero test
        else out[t] = prev;
    });
}

RQ_DEV void trange_1d(Col h, Col low, Col c, Col out) {
    double pc = c[0];
    const Col cols[3] = {h, low, c};
    const int lags[3] = {0, 0, 0};
    rqb_run(cols, lags, 1, c.n, [&](int t, const double (&b)[3][RQB_U], int u) {
        out[t] = true_range(b[0][u], b[1][u], pc);
        pc = b[2][u];
    });
}

// ADR: sma_1d_nb of h - low in one pass (the trailing range recomputed from the lagged bars: the same
// value).
RQ_DEV void adr_1d(Col h, Col low, Col out, int period) {
    int n = h.n;
    if (period == 1) { for (int t = 0; t < n; ++t) out[t] = h[t] - low[t]; return; }
    int s = 0;
    while (s < n && rq_isnan(h[s] - low[s])) ++s;
    double total = 0.0;
    const Col cols[4] = {h, low, h, low};
    const int lags[4] = {0, 0, period - 1, period - 1};
    rqb_run(cols, lags, s, n, [&](int t, const double (&b)[4][RQB_U], int u) {
        total += b[0][u] - b[1][u];
        if (t - s >= period - 1) {
            out[t] = total / period;
            total -= b[2][u] - b[3][u];
        }
    });
}

// CVI: the EMA of h - low (ema_k_1d_nb) and its `rocp`-bar rate of change in one pass; the EMA values
// in a ring of rocp + 1 slots.
RQ_DEV void cvi_1d(Col h, Col low, Col out, int period, int rocp, Scratch sc) {
    int n = h.n;
    if (n < period) return;
    int slots = rocp + 1;
    RqbRing e; e.init(slots, sc);
    double k = 2.0 / (period + 1.0);
    double total = 0.0, prev = 0.0;
    const Col cols[2] = {h, low};
    const int lags[2] = {0, 0};
    rqb_run(cols, lags, 0, n, [&](int t, const double (&b)[2][RQB_U], int u) {
        double d = b[0][u] - b[1][u];
        if (t < period - 1) { total += d; return; }
        if (t == period - 1) { total += d; prev = total / period; }
        else prev = ((d - prev) * k) + prev;
        e[t % slots] = prev;
        if (t >= period - 1 + rocp) {
            double old = e[(t - rocp) % slots];
            out[t] = old != 0.0 ? ((prev - old) / old) * 100.0 : 0.0;
        }
    });
}

// MASSI: EMA(h - low), the EMA of that, their ratio and its `slow`-bar sum (sum_1d_nb), in one pass;
// the ratios in a ring of `slow` slots for the trailing term of the sum.
RQ_DEV void massi_1d(Col h, Col low, Col out, int fast, int slow, Scratch sc) {
    int n = h.n;
    int lb1 = fast - 1;
    if (n <= 2 * lb1 + slow - 1) return;
    RqbRing r; r.init(slow, sc);
    double k = 2.0 / (fast + 1.0);
    double t1 = 0.0, e1 = 0.0, t2 = 0.0, e2 = 0.0, total = 0.0;
    const Col cols[2] = {h, low};
    const int lags[2] = {0, 0};
    rqb_run(cols, lags, 0, n, [&](int t, const double (&b)[2][RQB_U], int u) {
        double d = b[0][u] - b[1][u];
        if (t < lb1) { t1 += d; return; }
        if (t == lb1) { t1 += d; e1 = t1 / fast; } else e1 = ((d - e1) * k) + e1;
        int j = t - lb1;
        if (j < lb1) { t2 += e1; return; }
        if (j == lb1) { t2 += e1; e2 = t2 / fast; } else e2 = ((e1 - e2) * k) + e2;
        int i = t - 2 * lb1;
        double v = e2 != 0.0 ? e1 / e2 : 1.0;  // TA-Lib: a ratio of 1 while every range is 0
        r[i % slow] = v;
        total += v;
        if (i < slow - 1) return;
        out[t] = total;
        total -= r[(i - slow + 1) % slow];
    });
}

RQ_DEV void pvt_1d(Col c, Col v, Col out) {
    double pvt = 0.0;
    out[0] = 0.0;
    double prev = c[0];
    const Col cols[2] = {c, v};
    const int lags[2] = {0, 0};
    rqb_run(cols, lags, 1, c.n, [&](int t, const double (&b)[2][RQB_U], int u) {
        if (prev != 0.0) pvt += ((b[0][u] - prev) / prev) * b[1][u];
        out[t] = pvt;
        prev = b[0][u];
    });
}

// CMF: the money-flow volumes and the two `period`-bar sums (sum_1d_nb) in one pass; the money-flow
// volumes in a ring of `period` slots for the trailing term.
RQ_DEV void cmf_1d(Col h, Col low, Col c, Col v, Col out, int period, Scratch sc) {
    RqbRing mfv; mfv.init(period, sc);
    double s1 = 0.0, s2 = 0.0;
    const Col cols[5] = {h, low, c, v, v};
    const int lags[5] = {0, 0, 0, 0, period - 1};
    rqb_run(cols, lags, 0, c.n, [&](int t, const double (&b)[5][RQB_U], int u) {
        double ht = b[0][u], lt = b[1][u], ct = b[2][u];
        double rng = ht - lt;
        double m = rng > 0.0 ? (((ct - lt) - (ht - ct)) / rng) * b[3][u] : 0.0;
        mfv[t % period] = m;
        s1 += m;
        s2 += b[3][u];
        if (t < period - 1) return;
        out[t] = s2 > 0.0 ? s1 / s2 : 0.0;  // TA-Lib 0.8.1: 0 unless the window's volume is positive
        s1 -= mfv[(t - period + 1) % period];
        s2 -= b[4][u];
    });
}

// EFI: ema_k_1d_nb of the force (c[t] - c[t-1]) * v[t], in one pass.
RQ_DEV void efi_1d(Col c, Col v, Col out, int period) {
    int n = c.n;
    if (n <= period) return;
    double k = 2.0 / (period + 1.0);
    double total = 0.0, prev = 0.0, pc = c[0];
    const Col cols[2] = {c, v};
    const int lags[2] = {0, 0};
    rqb_run(cols, lags, 1, n, [&](int t, const double (&b)[2][RQB_U], int u) {
        double f = (b[0][u] - pc) * b[1][u];
        pc = b[0][u];
        int j = t - 1;
        if (j < period - 1) { total += f; return; }
        if (j == period - 1) { total += f; prev = total / period; }
        else prev = ((f - prev) * k) + prev;
        out[t] = prev;
    });
}

// RVOL (rvol_1d_nb, TA-Lib 0.8.1): volume / the mean of the previous `period` volumes, the total kept by
// drop-then-add (a window of zero volumes keeps its rounding residue); 0 / 0 is NaN.
RQ_DEV void rvol_1d(Col v, Col out, int period, Scratch sc) {
    (void)sc;
    if (v.n <= period) return;
    double total = 0.0;
    for (int i = 0; i < period; ++i) total += v[i];
    const Col cols[2] = {v, v};
    const int lags[2] = {0, period};
    rqb_run(cols, lags, period, v.n, [&](int t, const double (&b)[2][RQB_U], int u) {
        double base = total / period;
        total -= b[1][u];
        double today = b[0][u];
        total += today;
        out[t] = today / base;
    });
}

RQ_DEV void vwap_1d(Col h, Col low, Col c, Col v, Col out) {
    double spv = 0.0, sv = 0.0;
    const Col cols[4] = {h, low, c, v};
    const int lags[4] = {0, 0, 0, 0};
    double vw = 0.0;  // TA-Lib 0.8.1: the last value carried while the volume sum is not positive (0 before)
    rqb_run(cols, lags, 0, c.n, [&](int t, const double (&b)[4][RQB_U], int u) {
        double tp = (b[0][u] + b[1][u] + b[2][u]) / 3.0, vol = b[3][u];
        if (!rq_isnan(tp - tp) && !rq_isnan(vol - vol)) {  // both finite (x - x is NaN for NaN and inf)
            double pv = tp * vol;
            spv += pv;
            sv += vol;
        }
        if (sv > 0.0) vw = spv / sv;
        out[t] = vw;
    });
}

RQ_DEV void nvi_1d(Col c, Col v, Col out, bool positive) {
    double x = 1000.0;
    out[0] = x;
    double pc = c[0], pv = v[0];
    const Col cols[2] = {c, v};
    const int lags[2] = {0, 0};
    rqb_run(cols, lags, 1, c.n, [&](int t, const double (&b)[2][RQB_U], int u) {
        double ct = b[0][u], vt = b[1][u];
        bool up = vt > pv;
        bool dn = vt < pv;
        if ((positive && up) || ((!positive) && dn)) {
            if (pc != 0.0) x += x * ((ct - pc) / pc);
        }
        out[t] = x;
        pc = ct; pv = vt;
    });
}

RQ_DEV void col_volume(int code, Col c0, Col c1, Col c2, Col c3, Col c4, Col* o, const double* p, int s,
                       Scratch sc) {
    if (code == 0) ad_1d(c0, c1, c2, c3, o[0]);
    else if (code == 1) adosc_1d(c0, c1, c2, c3, o[0], (int)p[0], (int)p[1]);
    else if (code == 2) obv_1d(c0, c1, o[0]);
    else if (code == 3) trange_1d(c0, c1, c2, o[0]);
    else if (code == 4 || code == 5) atr_1d(c0, c1, c2, o[0], (int)p[0], code == 5);
    else if (code == 6) adr_1d(c0, c1, o[0], (int)p[0]);
    else if (code == 7) cvi_1d(c0, c1, o[0], (int)p[0], (int)p[1], sc);
    else if (code == 8) massi_1d(c0, c1, o[0], (int)p[0], (int)p[1], sc);
    else if (code == 9) po_1d(c0, o[0], (int)p[0], (int)p[1], (int)p[2], true, sc);
    else if (code == 10) pvt_1d(c0, c1, o[0]);
    else if (code == 11) cmf_1d(c0, c1, c2, c3, o[0], (int)p[0], sc);
    else if (code == 12) efi_1d(c0, c1, o[0], (int)p[0]);
    else if (code == 13) rvol_1d(c0, o[0], (int)p[0], sc);
    else if (code == 14) vwap_1d(c0, c1, c2, c3, o[0]);
    else if (code == 15 || code == 16) nvi_1d(c0, c1, o[0], code == 16);
}

RQ_GROUP(volume)
