// GPU forms of kernels/indicators/talib/cpu/newer.py (same codes, same parameter vector): the
// functions TA-Lib added in 0.7/0.8 and BETA.
//
// Most of these are a derived series fed through one or two moving averages. Where the Numba
// kernel builds the derived series in a temporary and then runs sma/ema/wma/rma over it, the
// kernels here compute the series on the fly inside the average's loop (re-reading the inputs
// for a window's trailing value) and chain the averages in one pass: the same operations on the
// same values in the same order as the CPU kernel (so the same bits), no scratch plane and one
// pass over the column. Rolling max/min (SMI) run TA_MAX / TA_MIN's state machine step by step
// (newer_ext_step) for the same reason. Only AC (the AO values a window back) and KDJ (the MA
// dispatch of ma.cuh, RQ_MA_SCRATCH planes) use a scratch plane.
// gpu names: all
// scratch planes: 1
#include "column.cuh"
#include "ma.cuh"

// Python's max(a, b) / min(a, b) (the first argument unless the second is strictly beyond it).
RQ_DEV double newer_pymax(double a, double b) { return b > a ? b : a; }
RQ_DEV double newer_pymin(double a, double b) { return b < a ? b : a; }

// One step of TA_MAX (sign > 0) / TA_MIN (sign < 0) at bar `today` (>= period - 1), as
// max_1d / min_1d do it: idx / v are the state (start at -1 / 0.0), trailing = today - period + 1.
RQ_DEV double newer_ext_step(Col x, int today, int trailing, int& idx, double& v, bool hi) {
    double w = x[today];
    if (idx < trailing) {
        idx = trailing; v = x[idx];
        for (int i = trailing + 1; i <= today; ++i) {
            double u = x[i];
            if (hi ? (u > v) : (u < v)) { idx = i; v = u; }
        }
    } else if (hi ? (w >= v) : (w <= v)) {
        idx = today; v = w;
    }
    return v;
}

// ------------------------------------------------------------------------ AO, AC
RQ_DEV double newer_median(Col h, Col low, int t) { return (h[t] + low[t]) / 2.0; }

RQ_DEV void ao_1d(Col h, Col low, Col out, int fast, int slow, int signal, bool with_signal, Scratch sc) {
    int n = h.n;
    int lb = imax(fast, slow) - 1;
    if (with_signal && n <= lb) return;
    Col ao;
    if (with_signal) ao = sc.take(n);
    double ta = 0.0, tb = 0.0, tg = 0.0;
    for (int t = 0; t < n; ++t) {
        double m = newer_median(h, low, t);
        // sma_1d_nb(m, a, fast), sma_1d_nb(m, b, slow)
        double a = 0.0, b = 0.0;
        if (fast == 1) a = m;
        else {
            ta += m;
            if (t >= fast - 1) { a = ta / fast; ta -= newer_median(h, low, t - fast + 1); }
        }
        if (slow == 1) b = m;
        else {
            tb += m;
            if (t >= slow - 1) { b = tb / slow; tb -= newer_median(h, low, t - slow + 1); }
        }
        if (t < lb) continue;
        double v = a - b;
        if (!with_signal) { out[t] = v; continue; }
        ao[t] = v;
        // sma_1d_nb(ao[lb:], sg[lb:], signal)
        int j = t - lb;
        double g;
        if (signal == 1) g = v;
        else {
            tg += v;
            if (j < signal - 1) continue;
            g = tg / signal;
            tg -= ao[t - signal + 1];
        }
        out[t] = v - g;
    }
}

// ------------------------------------------------------------------------ QSTICK, DPO
RQ_DEV void qstick_1d(Col o, Col c, Col out, int period) {
    int n = c.n;
    double total = 0.0;
    for (int t = 0; t < n; ++t) {
        double d = c[t] - o[t];
        if (period == 1) { out[t] = d; continue; }
        total += d;
        if (t >= period - 1) {
            out[t] = total / period;
            total -= c[t - period + 1] - o[t - period + 1];
        }
    }
}

// TA-Lib's DPO: x[t - shift] - SMA(x, period)[t], from the first bar where both exist (for
// period 2 that is bar 2, not the lookback's bar 1).
RQ_DEV void dpo_1d(Col x, Col out, int period) {
    int n = x.n;
    int shift = period / 2 + 1;
    double total = 0.0;
    for (int t = 0; t < n; ++t) {
        double s;
        if (period == 1) s = x[t];
        else {
            total += x[t];
            if (t < period - 1) continue;
            s = total / period;
            total -= x[t - period + 1];
        }
        if (t >= shift) out[t] = x[t - shift] - s;
    }
}

// ------------------------------------------------------------------------ ER, IMI, VHF, VORTEX, CMOU
// TA_ER (TA-Lib 0.8): the path length is a running sum (drop the trailing change, add the new
// one); a window of exactly-zero changes resets it to 0 (no rounding residue), and the ratio is
// 1 where the path is not positive or not above the signed net move.
RQ_DEV void er_1d(Col x, Col out, int period) {
    int n = x.n;
    if (n <= period) return;
    double sum = 0.0;
    int null_run = 0;
    for (int t = 0; t < period; ++t) {
        double d = x[t] - x[t + 1];
        sum += fabs(d);
        null_run = d == 0.0 ? null_run + 1 : 0;
    }
    double trailing_value = x[0];
    for (int t = period; t < n; ++t) {
        double v = x[t], v2 = x[t - period];
        double roc = v - v2;
        if (t > period) {
            sum -= fabs(trailing_value - v2);
            double d = v - x[t - 1];
            sum += fabs(d);
            null_run = d == 0.0 ? null_run + 1 : 0;
            if (null_run >= period) { null_run = period; sum = 0.0; }
        }
        trailing_value = v2;
        out[t] = (sum <= 0.0 || sum <= roc) ? 1.0 : fabs(roc / sum);
    }
}

RQ_DEV void imi_1d(Col o, Col c, Col out, int period) {
    int n = c.n;
    for (int t = period - 1; t < n; ++t) {
        double up = 0.0, dn = 0.0;
        for (int i = t - period + 1; i <= t; ++i) {
            double d = c[i] - o[i];
            if (d > 0.0) up += d;
            else dn -= d;
        }
        double s = up + dn;
        out[t] = s != 0.0 ? 100.0 * (up / s) : 50.0;  // TA-Lib 0.8: a window of dojis is 50
    }
}

RQ_DEV void vhf_1d(Col x, Col out, int period) {
    int n = x.n;
    for (int t = period; t < n; ++t) {
        double hi = x[t], lo = x[t], vol = 0.0;
        for (int i = t - period + 1; i <= t; ++i) {
            double v = x[i];
            if (v > hi) hi = v;
            if (v < lo) lo = v;
            vol += fabs(v - x[i - 1]);
        }
        out[t] = vol != 0.0 ? (hi - lo) / vol : 0.0;
    }
}

RQ_DEV void vortex_1d(Col h, Col low, Col c, Col plus, Col minus, int period) {
    int n = c.n;
    for (int t = period; t < n; ++t) {
        double vp = 0.0, vm = 0.0, tr = 0.0;
        for (int i = t - period + 1; i <= t; ++i) {
            vp += fabs(h[i] - low[i - 1]);
            vm += fabs(low[i] - h[i - 1]);
            tr += true_range(h[i], low[i], c[i - 1]);
        }
        plus[t] = tr != 0.0 ? vp / tr : 0.0;
        minus[t] = tr != 0.0 ? vm / tr : 0.0;
    }
}

RQ_DEV void cmou_1d(Col x, Col out, int period) {
    int n = x.n;
    for (int t = period; t < n; ++t) {
        double up = 0.0, dn = 0.0;
        for (int i = t - period + 1; i <= t; ++i) {
            double d = x[i] - x[i - 1];
            if (d > 0.0) up += d;
            else if (d < 0.0) dn -= d;
        }
        double s = up + dn;
        out[t] = s != 0.0 ? 100.0 * ((up - dn) / s) : 0.0;
    }
}

// ------------------------------------------------------------------------ WAD, HA
RQ_DEV void wad_1d(Col h, Col low, Col c, Col out) {
    int n = c.n;
    double wad = 0.0;
    out[0] = 0.0;
    for (int t = 1; t < n; ++t) {
        double pc = c[t - 1], ct = c[t];
        if (ct > pc) wad += ct - newer_pymin(low[t], pc);
        else if (ct < pc) wad += ct - newer_pymax(h[t], pc);
        out[t] = wad;
    }
}

RQ_DEV void ha_1d(Col o, Col h, Col low, Col c, Col ho, Col hh, Col hl, Col hc) {
    int n = c.n;
    double po = 0.0, pc = 0.0;
    for (int t = 0; t < n; ++t) {
        double cl = (o[t] + h[t] + low[t] + c[t]) / 4.0;
        double op = t == 0 ? (o[t] + c[t]) / 2.0 : (po + pc) / 2.0;
        ho[t] = op;
        hc[t] = cl;
        hh[t] = newer_pymax(h[t], newer_pymax(op, cl));
        hl[t] = newer_pymin(low[t], newer_pymin(op, cl));
        po = op;
        pc = cl;
    }
}

// ------------------------------------------------------------------------ COPPOCK (ROC sum -> WMA)
RQ_DEV double newer_coppock_sum(Col x, int t, int r1, int r2) {
    double a = x[t - r1], b = x[t - r2];
    double ra = a != 0.0 ? ((x[t] / a) - 1.0) * 100.0 : 0.0;
    double rb = b != 0.0 ? ((x[t] / b) - 1.0) * 100.0 : 0.0;
    return ra + rb;
}

// wma_1d_nb (kernels/indicators/cpu.py, TA-Lib 0.8's WMA with a rebuild every 8 * period bars)
// over s[k] = newer_coppock_sum(x, lb + k), written to out[lb + k].
RQ_DEV void coppock_1d(Col x, Col out, int wp, int r1, int r2) {
    int n = x.n;
    int lb = imax(r1, r2);
    if (n <= lb + wp - 1) return;
    int m = n - lb;
    double divider = wp * (wp + 1.0) / 2.0;
    double period_sub = 0.0, period_sum = 0.0, trailing = 0.0;
    int bars = 0;
    for (int k = 0; k < m; ++k) {
        double v = newer_coppock_sum(x, lb + k, r1, r2);
        if (wp == 1) { out[lb + k] = v; continue; }
        if (k < wp - 1) {
            period_sub += v;
            period_sum += v * (k + 1);
            continue;
        }
        if (k == wp - 1) bars = 8 * wp;
        period_sub += v;
        period_sub -= trailing;
        period_sum += v * wp;
        bars -= 1;
        if (bars <= 0) {
            bars = 8 * wp;
            period_sub = 0.0;
            period_sum = 0.0;
            int w = 1;
            for (int j = k - wp + 1; j <= k; ++j) {
                double u = newer_coppock_sum(x, lb + j, r1, r2);
                period_sub += u;
                period_sum += u * w;
                w += 1;
            }
        }
        trailing = newer_coppock_sum(x, lb + k - wp + 1, r1, r2);
        out[lb + k] = period_sum / divider;
        period_sum -= period_sub;
    }
}

// ------------------------------------------------------------------------ EMA chains: TSI, ERI, SMI
// One step of ema_k_1d_nb at position j of its input (j = 0, 1, ...): sums the first `period`
// values, emits their mean at j = period - 1, then the recursion. Returns true once `prev` holds.
RQ_DEV bool newer_ema_step(double v, int j, int period, double k, double& total, double& prev) {
    if (j < period - 1) { total += v; return false; }
    if (j == period - 1) { total += v; prev = total / period; return true; }
    prev = ((v - prev) * k) + prev;
    return true;
}

RQ_DEV void tsi_1d(Col x, Col out, int r, int s) {
    int n = x.n;
    if (n <= r + s - 1) return;
    double kr = 2.0 / (r + 1.0), ks = 2.0 / (s + 1.0);
    double t1 = 0.0, t2 = 0.0, e1 = 0.0, e2 = 0.0, g1 = 0.0, g2 = 0.0, f1 = 0.0, f2 = 0.0;
    for (int i = 0; i < n - 1; ++i) {
        double m = x[i + 1] - x[i];
        double a = fabs(m);
        newer_ema_step(m, i, r, kr, t1, e1);
        if (!newer_ema_step(a, i, r, kr, t2, e2)) continue;
        int j = i - (r - 1);
        newer_ema_step(e1, j, s, ks, g1, f1);
        if (!newer_ema_step(e2, j, s, ks, g2, f2)) continue;
        out[i + 1] = f2 != 0.0 ? 100.0 * (f1 / f2) : 0.0;
    }
}

RQ_DEV void eri_1d(Col h, Col low, Col c, Col bull, Col bear, int period) {
    int n = c.n;
    if (n < period) return;
    double k = 2.0 / (period + 1.0), total = 0.0, e = 0.0;
    for (int t = 0; t < n; ++t) {
        if (!newer_ema_step(c[t], t, period, k, total, e)) continue;
        bull[t] = h[t] - e;
        bear[t] = low[t] - e;
    }
}

RQ_DEV void smi_1d(Col h, Col low, Col c, Col smi, Col sig, int period, int fast, int slow, int signal) {
    int n = c.n;
    int lb0 = period - 1;
    int lb = lb0 + slow - 1 + fast - 1 + signal - 1;
    if (n <= lb) return;
    double ks = 2.0 / (slow + 1.0), kf = 2.0 / (fast + 1.0), kg = 2.0 / (signal + 1.0);
    int hi_idx = -1, lo_idx = -1;
    double hi = 0.0, lo = 0.0;
    double td = 0.0, tr = 0.0, d1 = 0.0, r1 = 0.0, ud = 0.0, ur = 0.0, d2 = 0.0, r2 = 0.0, tg = 0.0, g = 0.0;
    int k0 = slow - 1 + fast - 1;
    for (int t = lb0; t < n; ++t) {
        double hh = newer_ext_step(h, t, t - lb0, hi_idx, hi, true);
        double ll = newer_ext_step(low, t, t - lb0, lo_idx, lo, false);
        double d = c[t] - (hh + ll) / 2.0;
        double r = hh - ll;
        int j = t - lb0;  // index into d, r (length n - lb0)
        newer_ema_step(d, j, slow, ks, td, d1);
        if (!newer_ema_step(r, j, slow, ks, tr, r1)) continue;
        int j2 = j - (slow - 1);
        newer_ema_step(d1, j2, fast, kf, ud, d2);
        if (!newer_ema_step(r1, j2, fast, kf, ur, r2)) continue;
        double v = r2 != 0.0 ? 100.0 * d2 / (0.5 * r2) : 0.0;
        if (!newer_ema_step(v, j - k0, signal, kg, tg, g)) continue;
        smi[t] = v;
        sig[t] = g;
    }
}

// ------------------------------------------------------------------------ FOSC (TSF one bar back)
RQ_DEV void fosc_1d(Col x, Col out, int period) {
    int n = x.n;
    double sum_x = (double)(period * (period - 1)) * 0.5;
    double sum_x_sqr = (double)(period * (period - 1) * (2 * period - 1)) / 6.0;
    double divisor = sum_x * sum_x - period * sum_x_sqr;
    double prev = 0.0;
    for (int t = period - 1; t < n; ++t) {
        double sum_xy = 0.0, sum_y = 0.0;
        for (int i = period - 1; i >= 0; --i) {
            double v = x[t - i];
            sum_y += v;
            sum_xy += i * v;
        }
        double m = (period * sum_xy - sum_x * sum_y) / divisor;
        double b = (sum_y - m * sum_x) / period;
        double tsf = b + m * period;
        if (t >= period) out[t] = x[t] != 0.0 ? ((x[t] - prev) / x[t]) * 100.0 : 0.0;
        prev = tsf;
    }
}

// ------------------------------------------------------------------------ ACCBANDS, KC
// TA_ACCBANDS' band inputs: h * (1 + f) and low * (1 - f), f = 4 (h - low) / (h + low); h and low
// themselves where h + low is zero.
RQ_DEV double newer_acc_up(Col h, Col low, int t) {
    double s = h[t] + low[t];
    return is_zero(s) ? h[t] : h[t] * (1.0 + 4.0 * (h[t] - low[t]) / s);
}
RQ_DEV double newer_acc_dn(Col h, Col low, int t) {
    double s = h[t] + low[t];
    return is_zero(s) ? low[t] : low[t] * (1.0 - 4.0 * (h[t] - low[t]) / s);
}

RQ_DEV void accbands_1d(Col h, Col low, Col c, Col up, Col mid, Col lo, int period) {
    int n = c.n;
    double tu = 0.0, tc = 0.0, td = 0.0;
    for (int t = 0; t < n; ++t) {
        double u = newer_acc_up(h, low, t), d = newer_acc_dn(h, low, t), v = c[t];
        if (period == 1) { up[t] = u; mid[t] = v; lo[t] = d; continue; }
        tu += u; tc += v; td += d;
        if (t < period - 1) continue;
        up[t] = tu / period; mid[t] = tc / period; lo[t] = td / period;
        int q = t - period + 1;
        tu -= newer_acc_up(h, low, q);
        tc -= c[q];
        td -= newer_acc_dn(h, low, q);
    }
}

RQ_DEV double newer_tp(Col h, Col low, Col c, int t) { return (h[t] + low[t] + c[t]) / 3.0; }

// EMA(typical price, period) from bar lb - (period - 1) and ATR(atrp) (atr_1d_nb) from bar
// lb - atrp, both first defined at lb = max(period - 1, atrp): one pass from the EMA's start.
RQ_DEV void kc_1d(Col h, Col low, Col c, Col up, Col mid, Col lo, int period, int atrp, double nbdev) {
    int n = c.n;
    int lb = imax(period - 1, atrp);
    if (n <= lb) return;
    int e0 = lb - (period - 1), a0 = lb - atrp;
    double k = 2.0 / (period + 1.0), total = 0.0, e = 0.0;
    for (int t = e0; t < lb; ++t) total += newer_tp(h, low, c, t);
    double atr_total = 0.0, a = 0.0;
    if (atrp != 1)
        for (int t = a0 + 1; t <= lb; ++t) atr_total += true_range(h[t], low[t], c[t - 1]);
    for (int t = lb; t < n; ++t) {
        double tp = newer_tp(h, low, c, t);
        if (t == lb) { total += tp; e = total / period; }
        else e = ((tp - e) * k) + e;
        if (atrp == 1) a = true_range(h[t], low[t], c[t - 1]);
        else if (t == lb) a = atr_total / atrp;
        else {
            a *= atrp - 1;
            a += true_range(h[t], low[t], c[t - 1]);
            a /= atrp;
        }
        mid[t] = e;
        up[t] = e + nbdev * a;
        lo[t] = e - nbdev * a;
    }
}

// ------------------------------------------------------------------------ PERCENTRANK, FRACTAL
RQ_DEV void percentrank_1d(Col x, Col out, int period) {
    int n = x.n;
    for (int t = period; t < n; ++t) {
        int cnt = 0;
        double v = x[t];
        for (int i = t - period; i < t; ++i)
            if (x[i] < v) cnt += 1;
        out[t] = 100.0 * cnt / period;
    }
}

RQ_DEV void fractal_1d(Col h, Col low, Col sh, Col sl, int left, int right) {
    int n = h.n;
    for (int t = left + right; t < n; ++t) {
        int m = t - right;
        bool hi = true, lo = true;
        double hm = h[m], lm = low[m];
        for (int j = m - left; j <= t; ++j) {
            if (j == m) continue;
            if (!(hm > h[j])) hi = false;
            if (!(lm < low[j])) lo = false;
        }
        sh[t] = hi ? 100.0 : 0.0;
        sl[t] = lo ? 100.0 : 0.0;
    }
}

// ------------------------------------------------------------------------ SUPERTREND
// atr_1d_nb(h, low, c, a, period) stepped inside the band loop.
RQ_DEV void supertrend_1d(Col h, Col low, Col c, Col st, Col trend, int period, double mult) {
    int n = c.n;
    if (n <= period) return;
    double a = 0.0;
    if (period != 1) {
        double total = 0.0;
        for (int t = 1; t <= period; ++t) total += true_range(h[t], low[t], c[t - 1]);
        a = total / period;
    }
    double fu = 0.0, fl = 0.0, tr = 1.0;
    for (int t = period; t < n; ++t) {
        if (period == 1) a = true_range(h[t], low[t], c[t - 1]);
        else if (t > period) {
            a *= period - 1;
            a += true_range(h[t], low[t], c[t - 1]);
            a /= period;
        }
        double mid = (h[t] + low[t]) / 2.0;
        double bu = mid + mult * a;
        double bl = mid - mult * a;
        if (t == period) {
            fu = bu;
            fl = bl;
        } else {
            fu = (bu < fu || c[t - 1] > fu) ? bu : fu;
            fl = (bl > fl || c[t - 1] < fl) ? bl : fl;
            if (tr == 1.0 && c[t] < fl) tr = -1.0;
            else if (tr == -1.0 && c[t] > fu) tr = 1.0;
        }
        st[t] = tr == 1.0 ? fl : fu;
        trend[t] = tr;
    }
}

// ------------------------------------------------------------------------ RVI
// var_1d_nb / var_rebuild_nb of kernels/indicators/cpu.py (TA-Lib 0.8's VAR).
#define NEWER_VAR_FLAT 0.000001
#define NEWER_VAR_ZERO 0.000000000001

RQ_DEV double newer_var_rebuild(Col x, int t, int period, double inv, double& shift, double& total1,
                                double& total2, double& peak) {
    int ws = t - period + 1;
    double acc = 0.0;
    for (int j = ws; j <= t; ++j) acc = acc + x[j];
    shift = acc * inv;
    total1 = 0.0;
    total2 = 0.0;
    for (int j = ws; j <= t; ++j) {
        double a = x[j] - shift;
        total1 = total1 + a;
        total2 = total2 + a * a;
    }
    double mean1 = total1 * inv;
    double var = total2 * inv - mean1 * mean1;
    if (var < NEWER_VAR_FLAT * (total2 * inv)) {
        shift = x[t];
        total1 = 0.0;
        total2 = 0.0;
        for (int j = ws; j <= t; ++j) {
            double a = x[j] - shift;
            total1 = total1 + a;
            total2 = total2 + a * a;
        }
        mean1 = total1 * inv;
        var = total2 * inv - mean1 * mean1;
    }
    peak = total2;
    if (var < NEWER_VAR_ZERO * (total2 * inv)) var = 0.0;
    double a = x[ws] - shift;
    total1 = total1 - a;
    total2 = total2 - a * a;
    return var;
}

// Relative volatility index: the population stddev over `sdp` bars (the VAR above, stepped), kept on
// up / down bars, each Wilder-smoothed (rma_1d_nb) over `period`; 100 * up / (up + down).
RQ_DEV void rvi_1d(Col x, Col out, int period, int sdp) {
    int n = x.n;
    int lb0 = sdp - 1;
    if (n <= lb0 + period - 1) return;
    double inv = 1.0 / sdp;
    double shift = 0.0, total1 = 0.0, total2 = 0.0, peak = 0.0;
    int bars = 0;
    double beta = (period - 1.0) / period;
    double alpha = 1.0 - beta;
    double su = 0.0, sw = 0.0, u = 0.0, w = 0.0;
    for (int t = 0; t < n; ++t) {
        if (t == 0) shift = x[t];
        if (t < sdp - 1) {
            double a = x[t] - shift;
            total1 += a;
            total2 += a * a;
            continue;
        }
        if (t == sdp - 1) { bars = 32 * sdp; peak = total2; }
        double a = x[t] - shift;
        total1 += a;
        total2 += a * a;
        if (total2 > peak) peak = total2;
        double mean1 = total1 * inv;
        double var = total2 * inv - mean1 * mean1;
        a = x[t - sdp + 1] - shift;
        total1 -= a;
        total2 -= a * a;
        bars -= 1;
        if (var < NEWER_VAR_FLAT * (peak * inv) || bars <= 0) {
            bars = 32 * sdp;
            var = newer_var_rebuild(x, t, sdp, inv, shift, total1, total2, peak);
        }
        // rvi: up / down bars of the stddev, then rma_1d_nb over each
        double sd = sqrt(var);
        double d = x[t] - x[t - 1];
        double vu = d > 0.0 ? sd : 0.0;
        double vd = d < 0.0 ? sd : 0.0;
        int j = t - lb0;
        if (j < period - 1) { su += vu; sw += vd; continue; }
        if (j == period - 1) {
            su += vu; sw += vd;
            u = su / period; w = sw / period;
        } else {
            u = beta * u + alpha * vu;
            w = beta * w + alpha * vd;
        }
        double s = u + w;
        out[t] = s != 0.0 ? 100.0 * (u / s) : 50.0;  // TA-Lib 0.8: no up or down volatility is 50
    }
}

// ------------------------------------------------------------------------ BETA
RQ_DEV double newer_ret(Col x, int t) { return !is_zero(x[t - 1]) ? (x[t] - x[t - 1]) / x[t - 1] : 0.0; }

RQ_DEV void beta_1d(Col x, Col y, Col out, int period) {
    int n = x.n;
    if (n <= period) return;
    double sxx = 0.0, sxy = 0.0, sx = 0.0, sy = 0.0;
    // rx[0] = ry[0] = 0 (np.zeros), so a period-1 window starting at bar 0 would add zeros
    for (int t = 1; t < period; ++t) {
        double a = newer_ret(x, t), b = newer_ret(y, t);
        sxx += a * a;
        sxy += a * b;
        sx += a;
        sy += b;
    }
    for (int t = period; t < n; ++t) {
        double a = newer_ret(x, t), b = newer_ret(y, t);
        sxx += a * a;
        sxy += a * b;
        sx += a;
        sy += b;
        double tmp = period * sxx - sx * sx;
        out[t] = !is_zero(tmp) ? (period * sxy - sx * sy) / tmp : 0.0;
        int q = t - period + 1;
        a = newer_ret(x, q);
        b = newer_ret(y, q);
        sxx -= a * a;
        sxy -= a * b;
        sx -= a;
        sy -= b;
    }
}

// ------------------------------------------------------------------------ KDJ
// Fast %K (TA_MAX / TA_MIN stepped, no planes), slow K = MA(fast %K), D = MA(K), J = 3K - 2D. The
// output planes hold the stages until the end: fast %K in J's plane, K in its own, D in its own.
RQ_DEV void kdj_1d(Col h, Col low, Col c, Col ko, Col dout, Col jo, int fk, int sk, int skmt, int sd, int sdmt,
                   Scratch sc) {
    int n = c.n;
    // TA-Lib 0.8: matype 11 (DEFAULT) is the function's own default, RMA for KDJ
    if (skmt == 11) skmt = 13;
    if (sdmt == 11) sdmt = 13;
    int lbk = ma_lookback(sk, skmt);
    int lbd = ma_lookback(sd, sdmt);
    int lb = fk - 1 + lbk + lbd;
    if (n <= lb) return;
    int hi_idx = -1, lo_idx = -1;
    double hi = 0.0, lo = 0.0;
    for (int t = fk - 1; t < n; ++t) {
        double hh = newer_ext_step(h, t, t - (fk - 1), hi_idx, hi, true);
        double ll = newer_ext_step(low, t, t - (fk - 1), lo_idx, lo, false);
        // TA-Lib 0.8's fast %K bits: 100 * ((c - LL) / (HH - LL)) (not (c - LL) / ((HH - LL) / 100))
        double diff = hh - ll;
        jo[t] = diff != 0.0 ? 100.0 * ((c[t] - ll) / diff) : 0.0;
    }
    ma_1d(jo.tail(fk - 1), ko.tail(fk - 1), sk, skmt, sc);
    ma_1d(ko.tail(fk - 1 + lbk), dout.tail(fk - 1 + lbk), sd, sdmt, sc);
    for (int t = 0; t < lb; ++t) { ko[t] = RQ_NAN; dout[t] = RQ_NAN; jo[t] = RQ_NAN; }
    for (int t = lb; t < n; ++t) jo[t] = 3.0 * ko[t] - 2.0 * dout[t];
}

// ------------------------------------------------------------------------ dispatch (cpu/newer.py _col)
RQ_DEV void col_newer(int code, Col c0, Col c1, Col c2, Col c3, Col c4, Col* o, const double* p, int s,
                      Scratch sc) {
    if (code == 0 || code == 1) ao_1d(c0, c1, o[0], (int)p[0], (int)p[1], code == 1 ? (int)p[2] : 1, code == 1, sc);
    else if (code == 2) qstick_1d(c0, c1, o[0], (int)p[0]);
    else if (code == 3) dpo_1d(c0, o[0], (int)p[0]);
    else if (code == 4) er_1d(c0, o[0], (int)p[0]);
    else if (code == 5) imi_1d(c0, c1, o[0], (int)p[0]);
    else if (code == 6) vhf_1d(c0, o[0], (int)p[0]);
    else if (code == 7) vortex_1d(c0, c1, c2, o[0], o[1], (int)p[0]);
    else if (code == 8) wad_1d(c0, c1, c2, o[0]);
    else if (code == 9) coppock_1d(c0, o[0], (int)p[0], (int)p[1], (int)p[2]);
    else if (code == 10) tsi_1d(c0, o[0], (int)p[0], (int)p[1]);
    else if (code == 11) eri_1d(c0, c1, c2, o[0], o[1], (int)p[0]);
    else if (code == 12) fosc_1d(c0, o[0], (int)p[0]);
    else if (code == 13) {
        // HA has four outputs, one more than RQ_MAX_OUT: its fourth plane follows the third.
        Col o3 = o[2];
        o3.p = o[2].p + (o[2].p - o[1].p);
        ha_1d(c0, c1, c2, c3, o[0], o[1], o[2], o3);
    }
    else if (code == 14) accbands_1d(c0, c1, c2, o[0], o[1], o[2], (int)p[0]);
    else if (code == 15) kc_1d(c0, c1, c2, o[0], o[1], o[2], (int)p[0], (int)p[1], p[2]);
    else if (code == 16) percentrank_1d(c0, o[0], (int)p[0]);
    else if (code == 18) cmou_1d(c0, o[0], (int)p[0]);
    else if (code == 19) fractal_1d(c0, c1, o[0], o[1], (int)p[0], (int)p[1]);
    else if (code == 20) supertrend_1d(c0, c1, c2, o[0], o[1], (int)p[0], p[1]);
    else if (code == 21) smi_1d(c0, c1, c2, o[0], o[1], (int)p[0], (int)p[1], (int)p[2], (int)p[3]);
    else if (code == 22) rvi_1d(c0, o[0], (int)p[0], (int)p[1]);
    else if (code == 23) beta_1d(c0, c1, o[0], (int)p[0]);
    else if (code == 17)
        kdj_1d(c0, c1, c2, o[0], o[1], o[2], (int)p[0], (int)p[1], (int)p[2], (int)p[3], (int)p[4], sc);
}

RQ_GROUP(newer)
