// GPU forms of kernels/indicators/talib/cpu/momentum.py (same codes, same parameter vector).
//
// Each function is the Numba kernel's operations in the same order (the host build is bit-identical
// to the CPU backend), restructured for one thread per column: where the Numba kernel makes several
// passes over temporaries (MACD's EMAs, TRIX's cascade, WILLR / fast %K's rolling extremes, ADXR's
// ADX), the stages advance together in one pass; every main loop reads its inputs in register
// batches (col_batch.cuh), and windows keep their values in thread-local rings (a scratch plane only
// past 64 bars). The MA-type functions (MACDEXT, APO / PPO, STOCH / STOCHF / STOCHRSI) run ma.cuh's
// TA_MA, in the output planes where they can. Scratch: STOCH's %K or STOCHRSI's RSI (or APO / PPO's
// slow MA) plus RQ_MA_SCRATCH; MFI / ULTOSC's two rings past 64 bars.
// gpu names: all
// scratch planes: 2
#include "column.cuh"
#include "ma.cuh"
#include "po.cuh"
#include "col_batch.cuh"

// ---------------------------------------------------------------- helpers
RQ_DEV int mo_first_valid(Col x) {
    for (int t = 0; t < x.n; ++t) if (!rq_isnan(x[t])) return t;
    return x.n;
}

// ---------------------------------------------------------------- RSI (kernels/indicators/cpu.py rsi_1d_nb)
RQ_DEV void rsi_1d(Col x, Col out, int period) {
    int n = x.n;
    int s = mo_first_valid(x);
    double prev_value = 0.0, gain = 0.0, loss = 0.0;
    double keep = (period - 1.0) / period;
    double nw = 1.0 / period;
    for (int t = 0; t < s; ++t) out[t] = RQ_NAN;
    const Col cols[1] = {x};
    const int lags[1] = {0};
    rqb_run(cols, lags, s, n, [&](int t, const double (&b)[1][RQB_U], int u) {
        int k = t - s;
        double v = b[0][u];
        if (k == 0) { prev_value = v; out[t] = RQ_NAN; return; }
        double d = v - prev_value;
        prev_value = v;
        if (k <= period) {
            if (d < 0.0) loss -= d; else gain += d;
            if (k < period) { out[t] = RQ_NAN; return; }
            loss /= period;
            gain /= period;
        } else {
            double up = !(d < 0.0) ? d : 0.0;
            double down = d < 0.0 ? -d : 0.0;
            gain = gain * keep + up * nw;
            loss = loss * keep + down * nw;
        }
        double tv = gain + loss;
        out[t] = (tv > 0.0 || tv < 0.0) ? 100.0 * (gain / tv) : 0.0;
    });
}

// MOM (0), ROC (1), ROCP (2), ROCR (3), ROCR100 (4).
RQ_DEV void roc_family_1d(Col x, Col out, int period, int kind) {
    const Col cols[2] = {x, x};
    const int lags[2] = {0, period};
    rqb_run(cols, lags, period, x.n, [&](int t, const double (&b)[2][RQB_U], int u) {
        double v = b[0][u], prev = b[1][u];
        if (kind == 0) out[t] = v - prev;
        else if (prev != 0.0) {
            if (kind == 1) out[t] = ((v / prev) - 1.0) * 100.0;
            else if (kind == 2) out[t] = (v - prev) / prev;
            else if (kind == 3) out[t] = v / prev;
            else out[t] = (v / prev) * 100.0;
        } else out[t] = 0.0;
    });
}

// TA_INT_MACD: EMAs with factors kf / ks, the fast one seeded on the slow one's window. One pass: the
// slow EMA, the fast EMA (from bar slow - fast), their difference and its signal EMA advance together,
// each with ema_k_1d_nb's operations (SMA seed summed in bar order, then ((x - prev) * k) + prev).
RQ_DEV void macd_k_1d(Col x, Col macd, Col sig, Col hist, int fast, int slow, int signal, double kf, double ks) {
    int n = x.n;
    if (slow < fast) {
        int ti = fast; fast = slow; slow = ti;
        double td = kf; kf = ks; ks = td;
    }
    int lb_slow = slow - 1;
    int lb = lb_slow + signal - 1;
    if (n <= lb) return;
    int f0 = lb_slow - (fast - 1);
    double kg = 2.0 / (signal + 1.0);
    double tf = 0.0, ef = 0.0, ts = 0.0, es = 0.0, tg = 0.0, sg = 0.0;
    const Col cols[1] = {x};
    const int lags[1] = {0};
    rqb_run(cols, lags, 0, n, [&](int t, const double (&b)[1][RQB_U], int u) {
        double v = b[0][u];
        if (t < lb_slow) {
            ts += v;
            if (t >= f0) tf += v;
            return;
        }
        if (t == lb_slow) {
            ts += v; es = ts / slow;
            tf += v; ef = tf / fast;
        } else {
            ef = ((v - ef) * kf) + ef;
            es = ((v - es) * ks) + es;
        }
        double m = ef - es;
        if (signal == 1) {
            sg = m;
        } else {
            int k = t - lb_slow;
            if (k < signal - 1) { tg += m; return; }
            if (k == signal - 1) { tg += m; sg = tg / signal; }
            else sg = ((m - sg) * kg) + sg;
        }
        macd[t] = m; sig[t] = sg; hist[t] = m - sg;
    });
}

// The running maximum / minimum of max_1d / min_1d (column.cuh), one bar at a time, so that several
// windows advance in one pass: call step(x, today, trailing, x[today]) for today = period - 1, period, ...
struct MoMax {
    int idx; double v;
    RQ_METHOD void step(Col x, int today, int trailing, double w) {
        if (idx < trailing) {
            idx = trailing; v = x[idx];
            for (int i = trailing + 1; i <= today; ++i) { double u = x[i]; if (u > v) { idx = i; v = u; } }
        } else if (w >= v) { idx = today; v = w; }
    }
};
struct MoMin {
    int idx; double v;
    RQ_METHOD void step(Col x, int today, int trailing, double w) {
        if (idx < trailing) {
            idx = trailing; v = x[idx];
            for (int i = trailing + 1; i <= today; ++i) { double u = x[i]; if (u < v) { idx = i; v = u; } }
        } else if (w <= v) { idx = today; v = w; }
    }
};

// TA_MACDEXT: MA(fast) - MA(slow), each from the bar where the longer lookback ends, and its MA signal.
// The fast MA goes to the hist plane, the slow one to the signal plane, their difference to the macd
// plane; the signal MA then overwrites the signal plane, and the bars before the lookback go back to NaN.
RQ_DEV void macdext_1d(Col x, Col macd, Col sig, Col hist, int fast, int fmt, int slow, int smt, int signal,
                       int sgmt, Scratch sc) {
    int n = x.n;
    if (slow < fast) {
        int ti = fast; fast = slow; slow = ti;
        ti = fmt; fmt = smt; smt = ti;
    }
    int lbf = ma_lookback(fast, fmt);
    int lbs = ma_lookback(slow, smt);
    int m0 = imax(lbf, lbs);
    int lb = m0 + ma_lookback(signal, sgmt);
    if (n <= lb) return;
    ma_1d(x.tail(m0 - lbf), hist.tail(m0 - lbf), fast, fmt, sc);
    ma_1d(x.tail(m0 - lbs), sig.tail(m0 - lbs), slow, smt, sc);
    const Col fs[2] = {hist, sig};
    const int lags[2] = {0, 0};
    rqb_run(fs, lags, m0, n, [&](int t, const double (&b)[2][RQB_U], int u) { macd[t] = b[0][u] - b[1][u]; });
    ma_1d(macd.tail(m0), sig.tail(m0), signal, sgmt, sc);
    for (int t = 0; t < lb; ++t) { macd[t] = RQ_NAN; sig[t] = RQ_NAN; hist[t] = RQ_NAN; }
    const Col ms[2] = {macd, sig};
    rqb_run(ms, lags, lb, n, [&](int t, const double (&b)[2][RQB_U], int u) { hist[t] = b[0][u] - b[1][u]; });
}

// Fast %K from bar period-1 (fastk_1d_nb): (close - LL) / (HH - LL) * 100, 0 where |HH - LL| is not
// above 1e-14 of |HH| + |LL| (TA-Lib 0.8: a window flat up to rounding, as RSI's in STOCHRSI).
RQ_DEV void fastk_1d(Col h, Col low, Col c, Col out, int period) {
    MoMax hh; hh.idx = -1; hh.v = 0.0;
    MoMin ll; ll.idx = -1; ll.v = 0.0;
    const Col cols[3] = {h, low, c};
    const int lags[3] = {0, 0, 0};
    rqb_run_u<4>(cols, lags, period - 1, c.n, [&](int t, const double (&b)[3][4], int u) {
        int trailing = t - period + 1;
        hh.step(h, t, trailing, b[0][u]);
        ll.step(low, t, trailing, b[1][u]);
        double d = hh.v - ll.v;
        out[t] = fabs(d) <= 0.00000000000001 * (fabs(hh.v) + fabs(ll.v)) ? 0.0 : (b[2][u] - ll.v) / d * 100.0;
    });
}

// STOCH: %K into a plane, slow %K (its MA) straight into slowk, slow %D (the MA of that) into slowd.
RQ_DEV void stoch_1d(Col h, Col low, Col c, Col slowk, Col slowd, int fk, int sk, int skmt, int sd, int sdmt,
                     Scratch sc) {
    int n = c.n;
    int lbk = ma_lookback(sk, skmt);
    int lbd = ma_lookback(sd, sdmt);
    int lb = fk - 1 + lbk + lbd;
    if (n <= lb) return;
    Col k = sc.take(n);
    fastk_1d(h, low, c, k, fk);
    ma_1d(k.tail(fk - 1), slowk.tail(fk - 1), sk, skmt, sc);
    ma_1d(slowk.tail(fk - 1 + lbk), slowd.tail(fk - 1 + lbk), sd, sdmt, sc);
    for (int t = 0; t < lb; ++t) { slowk[t] = RQ_NAN; slowd[t] = RQ_NAN; }
}

// STOCHF: %K straight into fastk, %D (its MA) into fastd.
RQ_DEV void stochf_1d(Col h, Col low, Col c, Col fastk, Col fastd, int fk, int fd, int fdmt, Scratch sc) {
    int n = c.n;
    int lbd = ma_lookback(fd, fdmt);
    int lb = fk - 1 + lbd;
    if (n <= lb) return;
    fastk_1d(h, low, c, fastk, fk);
    ma_1d(fastk.tail(fk - 1), fastd.tail(fk - 1), fd, fdmt, sc);
    for (int t = 0; t < lb; ++t) { fastk[t] = RQ_NAN; fastd[t] = RQ_NAN; }
}

// TA_RSI with the installed TA-Lib's (0.8.1) rounding, bit for bit (cpu/momentum.py rsi_talib_1d_nb):
// the first averages scaled by 1 / period, then avg = (avg * (period - 1) + move) * (1 / period).
// STOCHRSI's fast %K magnifies the RSI's last bits on a nearly flat window, so it needs these bits.
RQ_DEV void rsi_talib_1d(Col x, Col out, int period) {
    int n = x.n;
    if (n <= period) return;
    double inv = 1.0 / period, gain = 0.0, loss = 0.0;
    for (int t = 1; t <= period; ++t) {
        double d = x[t] - x[t - 1];
        if (d < 0.0) loss -= d; else gain += d;
    }
    gain *= inv;
    loss *= inv;
    double tv = gain + loss;
    out[period] = (tv > 0.0 || tv < 0.0) ? 100.0 * (gain / tv) : 0.0;  // exact 0 test; NaN: 0
    const Col cols[2] = {x, x};
    const int lags[2] = {0, 1};
    rqb_run(cols, lags, period + 1, n, [&](int t, const double (&b)[2][RQB_U], int u) {
        double d = b[0][u] - b[1][u];
        gain *= period - 1;
        loss *= period - 1;
        if (d < 0.0) loss -= d; else gain += d;
        gain *= inv;
        loss *= inv;
        double s = gain + loss;
        out[t] = (s > 0.0 || s < 0.0) ? 100.0 * (gain / s) : 0.0;
    });
}

RQ_DEV void stochrsi_1d(Col x, Col fastk, Col fastd, int period, int fk, int fd, int fdmt, Scratch sc) {
    int n = x.n;
    if (n <= period) return;
    Col r = sc.take_nan(n);
    rsi_talib_1d(x, r, period);
    Col rr = r.tail(period);
    stochf_1d(rr, rr, rr, fastk.tail(period), fastd.tail(period), fk, fd, fdmt, sc);
}

RQ_DEV void willr_1d(Col h, Col low, Col c, Col out, int period) {
    MoMax hh; hh.idx = -1; hh.v = 0.0;
    MoMin ll; ll.idx = -1; ll.v = 0.0;
    const Col cols[3] = {h, low, c};
    const int lags[3] = {0, 0, 0};
    rqb_run_u<4>(cols, lags, period - 1, c.n, [&](int t, const double (&b)[3][4], int u) {
        int trailing = t - period + 1;
        hh.step(h, t, trailing, b[0][u]);
        ll.step(low, t, trailing, b[1][u]);
        // TA-Lib 0.8: 0 on a window flat up to 1e-14 of |HH| + |LL|; the value clamped into [-100, 0] (a close
        // beyond HH / LL; HH < LL takes the formula and the clamp too)
        double d = hh.v - ll.v, ct = b[2][u];
        if (fabs(d) <= 0.00000000000001 * (fabs(hh.v) + fabs(ll.v))) out[t] = 0.0;  // a NaN goes through
        else {
            double r = (hh.v - ct) / d * (-100.0);
            out[t] = r > 0.0 ? 0.0 : (r < -100.0 ? -100.0 : r);
        }
    });
}

// CCI: the typical prices of the window in a ring (slot t % period).
RQ_DEV void cci_1d(Col h, Col low, Col c, Col out, int period, Scratch sc) {
    RqbRing tp; tp.init(period, sc);
    const Col cols[3] = {h, low, c};
    const int lags[3] = {0, 0, 0};
    rqb_run_u<2>(cols, lags, 0, c.n, [&](int t, const double (&b)[3][2], int u) {
        double cur = (b[0][u] + b[1][u] + b[2][u]) / 3.0;
        tp[t % period] = cur;
        if (t < period - 1) return;
        int first = (t - period + 1) % period;  // the window's bars in order: slots first.. then 0..
        double avg = 0.0;
        for (int i = first; i < period; ++i) avg += tp[i];
        for (int i = 0; i < first; ++i) avg += tp[i];
        avg /= period;
        double dev = 0.0;
        for (int i = first; i < period; ++i) dev += fabs(tp[i] - avg);
        for (int i = 0; i < first; ++i) dev += fabs(tp[i] - avg);
        double num = cur - avg;
        out[t] = (num != 0.0 && dev != 0.0) ? num / (0.015 * (dev / period)) : 0.0;
    });
}

// TA_CMO: Wilder-smoothed gains and losses as RSI, 100 * (gain - loss) / (gain + loss).
RQ_DEV void cmo_1d(Col x, Col out, int period) {
    int n = x.n;
    if (n <= period) return;
    double gain = 0.0, loss = 0.0;
    for (int t = 1; t <= period; ++t) {
        double d = x[t] - x[t - 1];
        if (d < 0.0) loss -= d; else gain += d;
    }
    loss /= period;
    gain /= period;
    double s = gain + loss;
    out[period] = (s > 0.0 || s < 0.0) ? 100.0 * ((gain - loss) / s) : 0.0;  // TA-Lib 0.8.1: exact 0 test (NaN: 0)
    const Col cols[2] = {x, x};
    const int lags[2] = {0, 1};
    rqb_run(cols, lags, period + 1, n, [&](int t, const double (&b)[2][RQB_U], int u) {
        double d = b[0][u] - b[1][u];
        loss *= period - 1;
        gain *= period - 1;
        if (d < 0.0) loss -= d; else gain += d;
        loss /= period;
        gain /= period;
        double s2 = gain + loss;
        out[t] = (s2 > 0.0 || s2 < 0.0) ? 100.0 * ((gain - loss) / s2) : 0.0;
    });
}

// TA_MFI (mfi_1d_nb, TA-Lib 0.8.1): the last `period` money flows in two rings; a move within 1e-14 of
// |tp| + |previous tp| is none, the sums reset after `period` bars without money flow.
RQ_DEV void mfi_1d(Col h, Col low, Col c, Col v, Col out, int period, Scratch sc) {
    int n = c.n;
    if (n <= period) return;
    RqbRing pos; pos.init(period, sc);
    RqbRing neg; neg.init(period, sc);
    for (int i = 0; i < period; ++i) { pos[i] = 0.0; neg[i] = 0.0; }
    double prev = (h[0] + low[0] + c[0]) / 3.0;
    double pos_sum = 0.0, neg_sum = 0.0;
    int idx = 0, run = 0;
    const Col cols[4] = {h, low, c, v};
    const int lags[4] = {0, 0, 0, 0};
    rqb_run_u<4>(cols, lags, 1, n, [&](int t, const double (&b)[4][4], int u) {
        if (t > period) { pos_sum -= pos[idx]; neg_sum -= neg[idx]; }
        double tp = (b[0][u] + b[1][u] + b[2][u]) / 3.0;
        double d = tp - prev;
        double scale = fabs(tp) + fabs(prev);
        prev = tp;
        double mf = tp * b[3][u];
        mf = fabs(d) <= 0.00000000000001 * scale ? 0.0 : mf;
        double pf = d < 0.0 ? 0.0 : mf, nf = d < 0.0 ? mf : 0.0;
        pos[idx] = pf; neg[idx] = nf;
        pos_sum += pf; neg_sum += nf;
        run = mf == 0.0 ? run + 1 : 0;
        if (run >= period) { run = period; pos_sum = 0.0; neg_sum = 0.0; }
        ++idx;
        if (idx == period) idx = 0;
        if (t >= period) {
            double s = pos_sum + neg_sum;
            double pc = pos_sum < 0.0 ? 0.0 : (pos_sum > s ? s : pos_sum);
            out[t] = s <= 0.0 ? 0.0 : 100.0 * (pc / s);
        }
    });
}

RQ_DEV void aroon_1d(Col h, Col low, Col down, Col up, int period, bool osc) {
    double factor = 100.0 / period;
    int lo_idx = -1, hi_idx = -1;
    double lo = 0.0, hi = 0.0;
    const Col cols[2] = {low, h};
    const int lags[2] = {0, 0};
    rqb_run_u<4>(cols, lags, period, h.n, [&](int today, const double (&b)[2][4], int u) {
        int trailing = today - period;
        double v = b[0][u];
        if (lo_idx < trailing) {
            lo_idx = trailing;
            lo = low[lo_idx];
            for (int i = trailing + 1; i <= today; ++i) { double w = low[i]; if (w <= lo) { lo_idx = i; lo = w; } }
        } else if (v <= lo) { lo_idx = today; lo = v; }
        v = b[1][u];
        if (hi_idx < trailing) {
            hi_idx = trailing;
            hi = h[hi_idx];
            for (int i = trailing + 1; i <= today; ++i) { double w = h[i]; if (w >= hi) { hi_idx = i; hi = w; } }
        } else if (v >= hi) { hi_idx = today; hi = v; }
        if (osc) {
            down[today] = factor * (hi_idx - lo_idx);
        } else {
            up[today] = factor * (period - (today - hi_idx));
            down[today] = factor * (period - (today - lo_idx));
        }
    });
}

// The directional-movement family: PLUS_DM 0, MINUS_DM 1, PLUS_DI 2, MINUS_DI 3, DX 4, ADX 5; and ADXR 6
// in the same pass (adxr_1d_nb: (ADX[t] + ADX[t - (period - 1)]) / 2, the ADX values in a ring of
// `period` slots). The previous bar's high, low and close are carried in registers.
RQ_DEV void dm_1d(Col h, Col low, Col c, Col out, int period, int kind, Scratch sc) {
    int n = h.n;
    if (n < 2) return;
    int p = period;
    double ph = h[0], pl = low[0], pc = c[0];
    const Col cols[3] = {h, low, c};
    const int lags[3] = {0, 0, 0};
    if (p == 1 && kind <= 3) {
        rqb_run_u<4>(cols, lags, 1, n, [&](int t, const double (&b)[3][4], int u) {
            double ht = b[0][u], lt = b[1][u];
            double dp = ht - ph;
            double dmn = pl - lt;
            double pdm = (dp > 0.0 && dp > dmn) ? dp : 0.0;
            double mdm = (dmn > 0.0 && dp < dmn) ? dmn : 0.0;
            if (kind == 0) out[t] = pdm;
            else if (kind == 1) out[t] = mdm;
            else {
                double tr = true_range(ht, lt, pc);
                double dm = kind == 2 ? pdm : mdm;
                out[t] = !is_zero(tr) ? dm / tr : 0.0;  // TA-Lib: no x100 for period 1
            }
            ph = ht; pl = lt; pc = b[2][u];
        });
        return;
    }
    RqbRing ring;
    if (kind == 6) ring.init(p, sc);
    double sp = 0.0, sm = 0.0, st = 0.0, sum_dx = 0.0, adx = 0.0;
    rqb_run_u<4>(cols, lags, 1, n, [&](int t, const double (&b)[3][4], int u) {
        double ht = b[0][u], lt = b[1][u];
        double dp = ht - ph;
        double dmn = pl - lt;
        double pdm = (dp > 0.0 && dp > dmn) ? dp : 0.0;
        double mdm = (dmn > 0.0 && dp < dmn) ? dmn : 0.0;
        double tr = true_range(ht, lt, pc);
        ph = ht; pl = lt; pc = b[2][u];
        if (t < p) {
            sp += pdm; sm += mdm; st += tr;
            if (t == p - 1) {
                if (kind == 0) out[t] = sp;
                else if (kind == 1) out[t] = sm;
            }
            return;
        }
        sp = sp - (sp / p) + pdm;
        sm = sm - (sm / p) + mdm;
        st = st - (st / p) + tr;
        if (kind == 0) { out[t] = sp; return; }
        if (kind == 1) { out[t] = sm; return; }
        if (kind == 2 || kind == 3) {
            double dm = kind == 2 ? sp : sm;
            out[t] = st != 0.0 ? 100.0 * (dm / st) : 0.0;  // TA-Lib 0.8.1: exact 0 test of the TR sum
            return;
        }
        double dx = RQ_NAN;
        if (st != 0.0) {
            double mdi = 100.0 * (sm / st);
            double pdi = 100.0 * (sp / st);
            double s = mdi + pdi;
            if (!is_zero(s)) dx = 100.0 * (fabs(mdi - pdi) / s);
        }
        if (kind == 4) { out[t] = !rq_isnan(dx) ? dx : 0.0; return; }
        if (t < 2 * p) {
            if (!rq_isnan(dx)) sum_dx += dx;
            if (t != 2 * p - 1) return;
            adx = sum_dx / p;
        } else if (!rq_isnan(dx)) {
            adx = ((adx * (p - 1)) + dx) / p;
        }
        if (kind == 5) { out[t] = adx; return; }
        ring[t % p] = adx;  // ADXR: ADX[t - (p - 1)] is in slot (t + 1) % p (this slot when p == 1)
        if (t >= 3 * p - 2) out[t] = (adx + ring[(t + 1) % p]) / 2.0;
    });
}

// TRIX: three EMAs (factor 2 / (period + 1), each seeded with the SMA of the first `period` values of
// the one before) in one pass, then the 1-bar rate of change of the third.
RQ_DEV void trix_1d(Col x, Col out, int period) {
    int n = x.n;
    int lb = period - 1;
    if (n <= 3 * lb + 1) return;
    double k = 2.0 / (period + 1.0);
    double t1 = 0.0, e1 = 0.0, t2 = 0.0, e2 = 0.0, t3 = 0.0, e3 = 0.0;
    const Col cols[1] = {x};
    const int lags[1] = {0};
    rqb_run(cols, lags, 0, n, [&](int t, const double (&b)[1][RQB_U], int u) {
        double v = b[0][u];
        if (t < lb) { t1 += v; return; }
        if (t == lb) { t1 += v; e1 = t1 / period; } else e1 = ((v - e1) * k) + e1;
        int j = t - lb;
        if (j < lb) { t2 += e1; return; }
        if (j == lb) { t2 += e1; e2 = t2 / period; } else e2 = ((e1 - e2) * k) + e2;
        int w = t - 2 * lb;
        double prev = e3;
        if (w < lb) { t3 += e2; return; }
        if (w == lb) { t3 += e2; e3 = t3 / period; } else e3 = ((e2 - e3) * k) + e3;
        if (t >= 3 * lb + 1) out[t] = prev != 0.0 ? ((e3 / prev) - 1.0) * 100.0 : 0.0;
    });
}

// ULTOSC: buying pressure and true range of the longest window in two rings (slot t % longest); each
// window's sums run over its bars in order.
RQ_DEV void ultosc_1d(Col h, Col low, Col c, Col out, int p1, int p2, int p3, Scratch sc) {
    int n = c.n;
    int a = imin(p1, imin(p2, p3));
    int cc = imax(p1, imax(p2, p3));
    int b = p1 + p2 + p3 - a - cc;
    if (n <= cc) return;
    RqbRing bp; bp.init(cc, sc);
    RqbRing tr; tr.init(cc, sc);
    double pc = c[0];
    const Col cols[3] = {h, low, c};
    const int lags[3] = {0, 0, 0};
    rqb_run_u<2>(cols, lags, 1, n, [&](int t, const double (&v)[3][2], int u) {
        double ht = v[0][u], lt = v[1][u], ct = v[2][u];
        double tl = lt < pc ? lt : pc;
        int slot = t % cc;
        bp[slot] = ct - tl;
        tr[slot] = true_range(ht, lt, pc);
        pc = ct;
        if (t < cc) return;
        // each window from its oldest bar: slot (t - len + 1) mod cc, then on with a wrap at cc
        double b1 = 0.0, t1 = 0.0;
        for (int i = 0, k = (slot - a + 1 + cc) % cc; i < a; ++i) { b1 += bp[k]; t1 += tr[k]; if (++k == cc) k = 0; }
        double b2 = 0.0, t2 = 0.0;
        for (int i = 0, k = (slot - b + 1 + cc) % cc; i < b; ++i) { b2 += bp[k]; t2 += tr[k]; if (++k == cc) k = 0; }
        double b3 = 0.0, t3 = 0.0;
        for (int i = 0, k = (slot + 1) % cc; i < cc; ++i) { b3 += bp[k]; t3 += tr[k]; if (++k == cc) k = 0; }
        double o = 0.0;  // TA-Lib 0.8: a window's term counts unless its true-range sum is exactly 0
        if (t1 != 0.0) o += 4.0 * (b1 / t1);
        if (t2 != 0.0) o += 2.0 * (b2 / t2);
        if (t3 != 0.0) o += b3 / t3;
        out[t] = 100.0 * (o / 7.0);
    });
}

RQ_DEV void col_momentum(int code, Col c0, Col c1, Col c2, Col c3, Col c4, Col* o, const double* p, int s,
                         Scratch sc) {
    if (code == 0) rsi_1d(c0, o[0], (int)p[0]);
    else if (code <= 5) roc_family_1d(c0, o[0], (int)p[0], code - 1);
    else if (code == 6) {
        int f = (int)p[0], sl = (int)p[1];
        macd_k_1d(c0, o[0], o[1], o[2], f, sl, (int)p[2], 2.0 / (f + 1.0), 2.0 / (sl + 1.0));
    } else if (code == 7) macd_k_1d(c0, o[0], o[1], o[2], 12, 26, (int)p[0], 0.15, 0.075);
    else if (code == 8)
        macdext_1d(c0, o[0], o[1], o[2], (int)p[0], (int)p[1], (int)p[2], (int)p[3], (int)p[4], (int)p[5], sc);
    else if (code == 9 || code == 10) po_1d(c0, o[0], (int)p[0], (int)p[1], (int)p[2], code == 10, sc);
    else if (code == 11) stoch_1d(c0, c1, c2, o[0], o[1], (int)p[0], (int)p[1], (int)p[2], (int)p[3], (int)p[4], sc);
    else if (code == 12) stochf_1d(c0, c1, c2, o[0], o[1], (int)p[0], (int)p[1], (int)p[2], sc);
    else if (code == 13) stochrsi_1d(c0, o[0], o[1], (int)p[0], (int)p[1], (int)p[2], (int)p[3], sc);
    else if (code == 14) willr_1d(c0, c1, c2, o[0], (int)p[0]);
    else if (code == 15) cci_1d(c0, c1, c2, o[0], (int)p[0], sc);
    else if (code == 16) cmo_1d(c0, o[0], (int)p[0]);
    else if (code == 17) mfi_1d(c0, c1, c2, c3, o[0], (int)p[0], sc);
    else if (code == 18) aroon_1d(c0, c1, o[0], o[1], (int)p[0], false);
    else if (code == 19) aroon_1d(c0, c1, o[0], o[0], (int)p[0], true);
    else if (code >= 20 && code <= 25) dm_1d(c0, c1, code <= 21 ? c1 : c2, o[0], (int)p[0], code - 20, sc);
    else if (code == 26) dm_1d(c0, c1, c2, o[0], (int)p[0], 6, sc);
    else if (code == 27) trix_1d(c0, o[0], (int)p[0]);
    else if (code == 28) ultosc_1d(c0, c1, c2, o[0], (int)p[0], (int)p[1], (int)p[2], sc);
}

RQ_GROUP(momentum)
