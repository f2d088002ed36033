// GPU forms of kernels/indicators/talib/cpu/statistic.py (same codes, same parameter vector), and
// of var_1d_nb (kernels/indicators/cpu.py), which VAR and STDDEV use.
//
// The Numba kernels' operations in the same order (the host build is bit-identical to the CPU
// backend); inputs are read in register batches (col_batch.cuh), MINMAX / MINMAXINDEX advance both
// extremes in one pass, and the window functions (LINEARREG family, AVGDEV, PERCENTILE's sorted
// window) keep their window thread-local up to 64 bars (a scratch plane beyond).
// gpu names: all
// scratch planes: 1
#include "column.cuh"
#include "col_batch.cuh"
#include "var.cuh"

// ---------------------------------------------------------------- TA_VAR

// var_talib_1d_nb (cpu/statistic.py, TA-Lib 0.8.1's TA_VAR, var.cuh's VarTalibStage); with `sd`, STDDEV's
// sqrt(var) * nbdev is taken as each value is written.
RQ_DEV void var_1d(Col x, Col out, int period, bool sd, double nbdev) {
    VarTalibStage vs;
    vs.init(x, period);
    int lb = period - 1;
    for (int t = 0; t < x.n; ++t) {
        double v = vs.step(x, t, x[t], t >= lb ? x[t - lb] : x[t]);
        out[t] = sd ? sqrt(v) * nbdev : v;
    }
}

// ---------------------------------------------------------------- cpu/statistic.py
// TA_CORREL as TA-Lib 0.8.1 computes it (correl_1d_nb): sums of deviations from a shift, rebuilt by a
// two-pass over the window (shift: the window means) when a sum of squares falls below 1e-6 of its raw sum,
// the bar that left dwarfs the window, or every 32 * period bars; 0 unless both sums of squares are above
// 1e-14 of their raw sums; clamped to [-1, 1].
RQ_DEV void correl_1d(Col x, Col y, Col out, int period) {
    int n = x.n, lb = period - 1;
    if (n <= lb) return;
    double inv = 1.0 / (double)period;
    int tr = 0;
    double shx = x[0], shy = y[0];
    double sx = 0.0, sy = 0.0, sxy = 0.0, sx2 = 0.0, sy2 = 0.0;
    for (int j = 0; j < lb; ++j) {
        double a = x[j] - shx, b = y[j] - shy;
        sx += a; sx2 += a * a; sxy += a * b; sy += b; sy2 += b * b;
    }
    int since = 32 * period;
    double lvx = 0.0, lvy = 0.0;
    for (int t = lb; t < n; ++t) {
        double a = x[t] - shx, b = y[t] - shy;
        sx += a; sx2 += a * a; sxy += a * b; sy += b; sy2 += b * b;
        double ssx = sx2 - ((sx * sx) * inv), ssy = sy2 - ((sy * sy) * inv), sp = sxy - ((sx * sy) * inv);
        --since;
        if (ssx < 0.000001 * sx2 || ssy < 0.000001 * sy2 || lvx > 1000000.0 * sx2 || lvy > 1000000.0 * sy2
            || since <= 0) {
            since = 32 * period;
            int ws = t - lb;
            double mx = 0.0, my = 0.0;
            for (int j = ws; j <= t; ++j) { mx += x[j]; my += y[j]; }
            shx = mx * inv; shy = my * inv;
            sx = 0.0; sy = 0.0; sxy = 0.0; sx2 = 0.0; sy2 = 0.0;
            for (int j = ws; j <= t; ++j) {
                double a2 = x[j] - shx, b2 = y[j] - shy;
                sx += a2; sx2 += a2 * a2; sxy += a2 * b2; sy += b2; sy2 += b2 * b2;
            }
            ssx = sx2 - ((sx * sx) * inv); ssy = sy2 - ((sy * sy) * inv); sp = sxy - ((sx * sy) * inv);
            if (ssx < 0.0) ssx = 0.0;
            if (ssy < 0.0) ssy = 0.0;
        }
        double ta = x[tr] - shx, tb = y[tr] - shy;
        ++tr;
        if (ssx > 0.00000000000001 * sx2 && ssy > 0.00000000000001 * sy2) {
            double r = sp / sqrt(ssx * ssy);
            out[t] = r > 1.0 ? 1.0 : (r < -1.0 ? -1.0 : r);
        } else {
            out[t] = 0.0;
        }
        lvx = ta * ta; lvy = tb * tb;
        sx -= ta; sx2 -= lvx; sxy -= ta * tb; sy -= tb; sy2 -= lvy;
    }
}

// LINEARREG 0, _SLOPE 1, _INTERCEPT 2, _ANGLE 3, TSF 4 (linreg_1d_nb, TA-Lib 0.8.1's arithmetic): the
// window sums slid in O(1) (SumXY += SumY - period * trailing; SumY += new - trailing; sum |x| alongside),
// taken afresh from the oldest bar every 32 * period bars or when |period * trailing| > 100 * sum |x|; the
// forecasts b + m * k as one fma.
RQ_DEV double linreg_scan(Col x, int t, int period, double* sum_y, double* sum_abs) {
    double sxy = 0.0, sy = 0.0, sa = 0.0;
    for (int i = period - 1; i >= 0; --i) {
        double v = x[t - i];
        sy += v;
        sxy += (double)i * v;
        sa += fabs(v);
    }
    *sum_y = sy;
    *sum_abs = sa;
    return sxy;
}

RQ_DEV void linreg_1d(Col x, Col out, int period, int kind, Scratch sc) {
    (void)sc;
    int n = x.n;
    if (n < period) return;
    double sum_x = (double)period * (period - 1) * 0.5;
    double sum_x_sqr = (double)period * (period - 1) * (2 * period - 1) / 6.0;
    double divisor = sum_x * sum_x - period * sum_x_sqr;
    double sum_y = 0.0, sum_abs = 0.0;
    double sum_xy = linreg_scan(x, period - 1, period, &sum_y, &sum_abs);
    int bars = 32 * period;
    for (int t = period - 1; t < n; ++t) {
        if (t > period - 1) {
            double tv = x[t - period], xt = x[t];
            double wt = (double)period * tv;
            sum_xy = sum_xy + sum_y - wt;
            sum_y = sum_y - tv + xt;
            sum_abs = sum_abs - fabs(tv) + fabs(xt);
            bars -= 1;
            if (bars <= 0 || fabs(wt) > 100.0 * sum_abs) {
                bars = 32 * period;
                sum_xy = linreg_scan(x, t, period, &sum_y, &sum_abs);
            }
        }
        double m = (period * sum_xy - sum_x * sum_y) / divisor;
        double bb = (sum_y - m * sum_x) / period;
        if (kind == 0) out[t] = fma(m, (double)(period - 1), bb);
        else if (kind == 1) out[t] = m;
        else if (kind == 2) out[t] = bb;
        else if (kind == 3) out[t] = atan(m) * (180.0 / 3.14159265358979323846);
        else out[t] = fma(m, (double)period, bb);
    }
}

// AVGDEV: the window's values in a ring, both sums from the oldest bar.
RQ_DEV void avgdev_1d(Col x, Col out, int period, Scratch sc) {
    RqbRing w; w.init(period, sc);
    const Col cols[1] = {x};
    const int lags[1] = {0};
    rqb_run_u<2>(cols, lags, 0, x.n, [&](int t, const double (&b)[1][2], int u) {
        w[t % period] = b[0][u];
        if (t < period - 1) return;
        int first = (t - period + 1) % period;
        double total = 0.0;
        for (int i = first; i < period; ++i) total += w[i];
        for (int i = 0; i < first; ++i) total += w[i];
        double mean = total / period;
        double dev = 0.0;
        for (int i = first; i < period; ++i) dev += fabs(w[i] - mean);
        for (int i = 0; i < first; ++i) dev += fabs(w[i] - mean);
        out[t] = dev / period;
    });
}

// TA_SUM (sum_1d of column.cuh) with batched loads: add the new bar, emit, drop the trailing bar.
RQ_DEV void st_sum_1d(Col x, Col out, int period) {
    int n = x.n;
    double total = 0.0;
    for (int t = 0; t < imin(period - 1, n); ++t) total += x[t];
    const Col cols[2] = {x, x};
    const int lags[2] = {0, period - 1};
    rqb_run(cols, lags, period - 1, n, [&](int t, const double (&b)[2][RQB_U], int u) {
        total += b[0][u];
        out[t] = total;
        total -= b[1][u];
    });
}

// MAX / MIN / MAXINDEX / MININDEX / MINMAX / MINMAXINDEX: max_1d / min_1d / argmax_1d / argmin_1d
// (column.cuh) in one batched pass; omin / omax get the values (offset < 0) or the indices + offset,
// for the sides asked for (want_min / want_max).
RQ_DEV void extrema_1d(Col x, Col omin, Col omax, int period, double offset, bool want_min, bool want_max) {
    int lo_idx = -1, hi_idx = -1;
    double lo = 0.0, hi = 0.0;
    const Col cols[1] = {x};
    const int lags[1] = {0};
    rqb_run_u<4>(cols, lags, period - 1, x.n, [&](int today, const double (&b)[1][4], int u) {
        int trailing = today - period + 1;
        double v = b[0][u];
        if (want_min) {
            if (lo_idx < trailing) {
                lo_idx = trailing; lo = x[lo_idx];
                for (int i = trailing + 1; i <= today; ++i) { double w = x[i]; if (w < lo) { lo_idx = i; lo = w; } }
            } else if (v <= lo) { lo_idx = today; lo = v; }
            omin[today] = offset < 0.0 ? lo : lo_idx + offset;
        }
        if (want_max) {
            if (hi_idx < trailing) {
                hi_idx = trailing; hi = x[hi_idx];
                for (int i = trailing + 1; i <= today; ++i) { double w = x[i]; if (w > hi) { hi_idx = i; hi = w; } }
            } else if (v >= hi) { hi_idx = today; hi = v; }
            omax[today] = offset < 0.0 ? hi : hi_idx + offset;
        }
    });
}

// np.sort's order: NaN after every number.
RQ_DEV bool st_before(double a, double b) { return a < b || (!rq_isnan(a) && rq_isnan(b)); }
RQ_DEV bool st_same(double a, double b) { return a == b || (rq_isnan(a) && rq_isnan(b)); }

// TA_PERCENTILE: the nearest-rank percentile of the window. The window is kept sorted (drop the
// trailing value, insert the new one; thread-local up to RQB_RING values, else a scratch plane): the
// same multiset as np.sort of the window.
RQ_DEV void percentile_1d(Col x, Col out, int period, double pct, Scratch sc) {
    int n = x.n;
    if (n < period) return;
    int rank = (int)ceil(pct * period / 100.0);
    if (rank < 1) rank = 1;
    if (rank > period) rank = period;
    RqbRing w; w.init(period, sc);
    int len = 0;
    for (int t = 0; t < n; ++t) {
        if (t >= period) {  // drop x[t - period]
            double old = x[t - period];
            int j = 0;
            while (j < len - 1 && !st_same(w[j], old)) ++j;
            for (; j < len - 1; ++j) w[j] = w[j + 1];
            --len;
        }
        double v = x[t];
        int j = len;
        while (j > 0 && st_before(v, w[j - 1])) { w[j] = w[j - 1]; --j; }
        w[j] = v;
        ++len;
        if (t >= period - 1) out[t] = w[rank - 1];
    }
}

RQ_DEV void col_statistic(int code, Col c0, Col c1, Col c2, Col c3, Col c4, Col* o, const double* p, int s,
                          Scratch sc) {
    int period = (int)p[0];
    if (code == 0) st_sum_1d(c0, o[0], period);
    else if (code == 1) extrema_1d(c0, o[0], o[0], period, -1.0, false, true);
    else if (code == 2) extrema_1d(c0, o[0], o[0], period, -1.0, true, false);
    else if (code == 3) extrema_1d(c0, o[0], o[0], period, (double)s, false, true);
    else if (code == 4) extrema_1d(c0, o[0], o[0], period, (double)s, true, false);
    else if (code == 5 || code == 6) extrema_1d(c0, o[0], o[1], period, code == 6 ? (double)s : -1.0, true, true);
    else if (code == 7) {
        double total = 0.0;
        const Col cols[1] = {c0};
        const int lags[1] = {0};
        rqb_run(cols, lags, 0, c0.n, [&](int t, const double (&b)[1][RQB_U], int u) { total += b[0][u]; o[0][t] = total; });
    } else if (code == 8) {
        if (period == 1) o[0].fill(0.0);
        else var_1d(c0, o[0], period, false, 0.0);
    } else if (code == 9) var_1d(c0, o[0], period, true, p[1]); else if (code == 10) correl_1d(c0, c1, o[0], period);
    else if (code <= 15) linreg_1d(c0, o[0], period, code - 11, sc);
    else if (code == 16) avgdev_1d(c0, o[0], period, sc);
    else if (code == 17) percentile_1d(c0, o[0], period, p[1], sc);
}

RQ_GROUP(statistic)
