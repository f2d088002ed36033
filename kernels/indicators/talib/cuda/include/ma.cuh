// Moving averages (TA-Lib's MA types) and the MA-type dispatch: a C port of
// kernels/indicators/talib/cpu/ma.py (and of the SMA / EMA / WMA kernels of
// kernels/indicators/cpu.py it calls), for every group source that needs TA_MA
// (MACDEXT, STOCH/STOCHF/STOCHRSI matypes, APO/PPO, PVO, BBANDS, MAVP, ...).
//
// Same contract as the Numba kernels: a kernel takes a column (usually valid from its first bar),
// writes its output from its lookback on and leaves the bars before as the caller filled them
// (so a caller that reads them takes its plane with take_nan, as the CPU code uses np.full(n, nan)).
// sma_1d / ema_1d / wma_1d (and the DEMA / TEMA / HMA stages built on them) first skip leading NaN
// of their input and write NaN there, as kernels/indicators/cpu.py does.
//
// Scratch: ma_1d and every kernel here take at most RQ_MA_SCRATCH planes (HMA takes one; TRIMA and
// the cascades DEMA / TEMA / T3 / ZLEMA and MAMA stream and take none). A caller that runs ma_1d
// after taking k planes of its own declares k + RQ_MA_SCRATCH in its `// scratch planes:` line.
//
// Speed: with one thread per column, a kernel that loads one bar, uses it and loads the next waits
// a full memory latency per bar. The streaming kernels here load RQ_U bars at a time into registers
// (rq_chunk: RQ_U independent loads in flight, as the fused kernels of kernels/indicators/gpu.py do),
// the trailing bars of a window too, and then step through them; the arithmetic is unchanged.
//
// Entry points (stable):
//   void ma_1d(Col x, Col out, int period, int matype, Scratch sc)   TA_MA (talib.MA_Type 0..13)
//   int  ma_lookback(int period, int matype)                          TA_MA_Lookback
//   sma_1d, ema_1d, wma_1d, dema_1d, tema_1d, trima_1d(sc: unused), kama_1d, t3_1d(vfactor), hma_1d(sc),
//   zlema_1d, rma_1d, ema_k_1d(k), mama_1d(fast, slow), copy_1d, first_valid_1d
#ifndef RQ_MA_CUH
#define RQ_MA_CUH

#include "column.cuh"
#include "cycle_core.cuh"

#define RQ_MA_SCRATCH 1

// Bars per chunk of the streaming loops.
#ifndef RQ_U
#define RQ_U 8
#endif

// b[u] = x[t0 + u - back] for u < RQ_U, 0.0 where that bar is outside the column (never used there).
RQ_METHOD void rq_chunk(Col x, int t0, int back, double (&b)[RQ_U]) {
#pragma unroll
    for (int u = 0; u < RQ_U; ++u) {
        int t = t0 + u - back;
        b[u] = (t >= 0 && t < x.n) ? x[t] : 0.0;
    }
}

RQ_DEV int first_valid_1d(Col x) {
    int n = x.n;
    for (int t = 0; t < n; ++t)
        if (!rq_isnan(x[t])) return t;
    return n;
}

RQ_NOINL void copy_1d(Col x, Col out) {
    int n = x.n;
    for (int t0 = 0; t0 < n; t0 += RQ_U) {
        double b[RQ_U];
        rq_chunk(x, t0, 0, b);
#pragma unroll
        for (int u = 0; u < RQ_U; ++u)
            if (t0 + u < n) out[t0 + u] = b[u];
    }
}

// ------------------------------------------------------------- streaming stages (one bar at a time)
// EMA of kernels/indicators/cpu.py (ema_1d_nb): leading NaN skipped (NaN out), then the SMA of the
// first `period` values as the seed, then prev = ((v - prev) * k) + prev. step() returns the value
// for this bar (NaN during the warm-up).
struct MaEmaStage {
    double k_, total, prev;
    int period, k;
    RQ_METHOD void init(int p) { period = p; k_ = 2.0 / (p + 1.0); total = 0.0; prev = 0.0; k = -1; }
    RQ_METHOD double step(double v) {
        if (k < 0) {
            if (rq_isnan(v)) return RQ_NAN;
            k = 0;
        } else {
            ++k;
        }
        if (k < period - 1) { total += v; return RQ_NAN; }
        if (k == period - 1) { total += v; prev = total / period; return prev; }
        prev = ((v - prev) * k_) + prev;
        return prev;
    }
};

// ema_k_1d_nb of ma.py as a stage: no NaN skipping; the SMA of the first `period` values, then
// prev = ((v - prev) * k) + prev with an explicit k.
struct MaEmaKStage {
    double k_, total, prev;
    int period, c;
    RQ_METHOD void init(int p, double kk) { period = p; k_ = kk; total = 0.0; prev = 0.0; c = 0; }
    // true when `value` holds this bar's EMA
    RQ_METHOD bool step(double v, double& value) {
        int i = c++;
        if (i < period) {
            total += v;
            if (i < period - 1) return false;
            prev = total / period;
            value = prev;
            return true;
        }
        prev = ((v - prev) * k_) + prev;
        value = prev;
        return true;
    }
};

// The WMA's periodic rebuild of both sums from the window ending at t (rare: not inlined into every
// unrolled step).
RQ_NOINL void ma_wma_rebuild(Col x, int t, int period, double& period_sub, double& period_sum) {
    period_sub = 0.0;
    period_sum = 0.0;
    int w = 1;
    for (int j = t - period + 1; j <= t; ++j) {
        double u = x[j];
        period_sub += u;
        period_sum += u * (double)w;
        ++w;
    }
}

// WMA of kernels/indicators/cpu.py (wma_1d_nb) over a column in memory, bar by bar: leading NaN
// skipped, weights 1..period, both sums rebuilt from the window every 8 * period bars (read from
// x); period 1 is a copy from the first valid bar. step(x, t, v, lagv): v = x[t], lagv =
// x[t - period + 1] (the caller's chunks).
struct MaWmaStage {
    double divider, period_sub, period_sum, trailing;
    int period, bars, s;
    RQ_METHOD void init(Col x, int p) {
        period = p; divider = p * (p + 1.0) / 2.0;
        period_sub = 0.0; period_sum = 0.0; trailing = 0.0; bars = 0; s = first_valid_1d(x);
    }
    RQ_METHOD double step(Col x, int t, double v, double lagv) {
        int k = t - s;
        if (k < 0) return RQ_NAN;
        if (period == 1) return v;
        if (k < period - 1) {
            period_sub += v;
            period_sum += v * (double)(k + 1);
            return RQ_NAN;
        }
        if (k == period - 1) bars = 8 * period;
        period_sub += v;
        period_sub -= trailing;
        period_sum += v * (double)period;
        --bars;
        if (bars <= 0) {
            bars = 8 * period;
            ma_wma_rebuild(x, t, period, period_sub, period_sum);
        }
        trailing = lagv;
        double r = period_sum / divider;
        period_sum -= period_sub;
        return r;
    }
};

// SMA of kernels/indicators/cpu.py (sma_1d_nb), bar by bar: leading NaN skipped (s: the first valid
// bar), then a running total (add the bar, emit, drop the trailing bar). step(t, v, lagv): v = x[t],
// lagv = x[t - period + 1]. Two stages over the same column, one run some bars behind the other,
// give the same value for the same bar.
struct MaSmaStage {
    double total;
    int period, s;
    RQ_METHOD void init(Col x, int p) { period = p; total = 0.0; s = first_valid_1d(x); }
    RQ_METHOD double step(int t, double v, double lagv) {
        int k = t - s;
        if (k < 0) return RQ_NAN;
        total += v;
        if (k < period - 1) return RQ_NAN;
        double r = total / period;
        total -= lagv;
        return r;
    }
};

// ------------------------------------------------------------------------ the MA kernels
// SMA (ma.py sma_1d_nb: period 1 copies; else TA_SMA from the first valid bar, NaN before).
RQ_NOINL void sma_1d(Col x, Col out, int period) {
    if (period == 1) { copy_1d(x, out); return; }
    int n = x.n;
    MaSmaStage st;
    st.init(x, period);
    for (int t0 = 0; t0 < n; t0 += RQ_U) {
        double b[RQ_U], lag[RQ_U];
        rq_chunk(x, t0, 0, b);
        rq_chunk(x, t0, period - 1, lag);
#pragma unroll
        for (int u = 0; u < RQ_U; ++u)
            if (t0 + u < n) out[t0 + u] = st.step(t0 + u, b[u], lag[u]);
    }
}

RQ_NOINL void ema_1d(Col x, Col out, int period) {
    if (period == 1) { copy_1d(x, out); return; }
    int n = x.n;
    MaEmaStage e; e.init(period);
    for (int t0 = 0; t0 < n; t0 += RQ_U) {
        double b[RQ_U];
        rq_chunk(x, t0, 0, b);
#pragma unroll
        for (int u = 0; u < RQ_U; ++u)
            if (t0 + u < n) out[t0 + u] = e.step(b[u]);
    }
}

RQ_NOINL void wma_1d(Col x, Col out, int period) {
    int n = x.n;
    MaWmaStage w; w.init(x, period);
    for (int t0 = 0; t0 < n; t0 += RQ_U) {
        double b[RQ_U], lag[RQ_U];
        rq_chunk(x, t0, 0, b);
        rq_chunk(x, t0, period - 1, lag);
#pragma unroll
        for (int u = 0; u < RQ_U; ++u)
            if (t0 + u < n) out[t0 + u] = w.step(x, t0 + u, b[u], lag[u]);
    }
}

// EMA with an explicit smoothing factor k, seeded with the SMA of the first `period` bars.
RQ_DEV void ema_k_1d(Col x, Col out, int period, double k) {
    int n = x.n;
    if (n < period) return;
    MaEmaKStage e; e.init(period, k);
    for (int t0 = 0; t0 < n; t0 += RQ_U) {
        double b[RQ_U];
        rq_chunk(x, t0, 0, b);
#pragma unroll
        for (int u = 0; u < RQ_U; ++u) {
            double v;
            if (t0 + u < n && e.step(b[u], v)) out[t0 + u] = v;
        }
    }
}

// DEMA: 2 * EMA - EMA(EMA), the second EMA over the first's values from bar period-1 on (streamed:
// the same sums in the same order as ma.py's three arrays).
RQ_NOINL void dema_1d(Col x, Col out, int period) {
    if (period == 1) { copy_1d(x, out); return; }
    int n = x.n, lb = period - 1;
    MaEmaStage e1, e2; e1.init(period); e2.init(period);
    for (int t0 = 0; t0 < n; t0 += RQ_U) {
        double b[RQ_U];
        rq_chunk(x, t0, 0, b);
#pragma unroll
        for (int u = 0; u < RQ_U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            double a = e1.step(b[u]);
            if (t < lb) continue;
            double c = e2.step(a);
            if (t >= 2 * lb) out[t] = (2.0 * a) - c;
        }
    }
}

RQ_NOINL void tema_1d(Col x, Col out, int period) {
    if (period == 1) { copy_1d(x, out); return; }
    int n = x.n, lb = period - 1;
    if (n <= 3 * lb) return;
    MaEmaStage e1, e2, e3; e1.init(period); e2.init(period); e3.init(period);
    for (int t0 = 0; t0 < n; t0 += RQ_U) {
        double b[RQ_U];
        rq_chunk(x, t0, 0, b);
#pragma unroll
        for (int u = 0; u < RQ_U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            double a = e1.step(b[u]);
            if (t < lb) continue;
            double c2 = e2.step(a);
            if (t < 2 * lb) continue;
            double c3 = e3.step(c2);
            if (t >= 3 * lb) out[t] = c3 + ((3.0 * a) - (3.0 * c2));
        }
    }
}

// Triangular MA: ma.py's SMA(b) of SMA(a), streamed with no scratch: the outer SMA's trailing value
// (the inner SMA b-1 bars back) comes from a second inner stage run b-1 bars behind the first (the
// same operations on the same bars, so the same value as the stored array's). Writes every bar from
// a-1 on (NaN in the warm-up), as the Numba kernel does.
RQ_NOINL void trima_1d(Col x, Col out, int period, Scratch sc) {
    if (period == 1) { copy_1d(x, out); return; }
    int n = x.n;
    if (n < period) return;
    int a, b;
    if (period % 2 == 1) { a = (period + 1) / 2; b = a; }
    else { a = period / 2; b = a + 1; }
    MaSmaStage lead, lag;  // a == 1: the inner SMA is the input itself (ma.py's copy)
    lead.init(x, a);
    lag.init(x, a);
    // the outer SMA over y[j] = inner[a-1+j], from y's first non-NaN value (kernels/indicators/cpu.py)
    int k = -1;
    double total = 0.0;
    for (int t0 = 0; t0 < n; t0 += RQ_U) {
        double x0[RQ_U], xa[RQ_U], xb[RQ_U], xab[RQ_U];
        rq_chunk(x, t0, 0, x0);               // x[t]
        rq_chunk(x, t0, a - 1, xa);           // x[t - a + 1]
        rq_chunk(x, t0, b - 1, xb);           // x[td], td = t - b + 1
        rq_chunk(x, t0, a + b - 2, xab);      // x[td - a + 1]
#pragma unroll
        for (int u = 0; u < RQ_U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            double y = a == 1 ? x0[u] : lead.step(t, x0[u], xa[u]);
            int td = t - b + 1;
            // the lagging stage steps every bar from 0 in order (its value is used by the drops below)
            double yd = 0.0;
            if (td >= 0) yd = a == 1 ? xb[u] : lag.step(td, xb[u], xab[u]);
            if (t < a - 1) continue;
            if (k < 0) {
                if (rq_isnan(y)) { out[t] = RQ_NAN; continue; }
                k = 0;
            } else {
                ++k;
            }
            total += y;
            if (k < b - 1) { out[t] = RQ_NAN; continue; }
            out[t] = total / b;
            total -= yd;  // y[j - b + 1] = inner[t - b + 1]
        }
    }
}

// TA_KAMA: efficiency ratio over `period` bars, fastest 2 / slowest 30 bars; period 1 copies as
// TA-Lib does (ma.py's kama_1d_nb does not).
RQ_NOINL void kama_1d(Col x, Col out, int period) {
    if (period == 1) { copy_1d(x, out); return; }
    int n = x.n;
    if (n <= period) return;
    const double const_max = 2.0 / (30.0 + 1.0);
    const double const_diff = 2.0 / (2.0 + 1.0) - const_max;
    double sum_roc1 = 0.0;
    for (int t = 0; t < period; ++t) sum_roc1 += fabs(x[t] - x[t + 1]);
    double prev = x[period - 1];
    double trailing_value = x[0];
    double v_prev = x[period - 1];  // x[today - 1]
    for (int t0 = period; t0 < n; t0 += RQ_U) {
        double b[RQ_U], tr[RQ_U];
        rq_chunk(x, t0, 0, b);
        rq_chunk(x, t0, period, tr);  // x[today - period] = x[trailing] once today > period
#pragma unroll
        for (int u = 0; u < RQ_U; ++u) {
            int today = t0 + u;
            if (today >= n) break;
            double v = b[u];
            if (today > period) {
                double trailing_value_old = trailing_value;
                trailing_value = tr[u];
                sum_roc1 -= fabs(trailing_value_old - trailing_value);
                sum_roc1 += fabs(v - v_prev);
            }
            double period_roc = v - trailing_value;
            double er;
            if (sum_roc1 <= period_roc || (-1e-8 < sum_roc1 && sum_roc1 < 1e-8)) er = 1.0;
            else er = fabs(period_roc / sum_roc1);
            double scv = (er * const_diff) + const_max;
            scv *= scv;
            prev = ((v - prev) * scv) + prev;
            out[today] = prev;
            v_prev = v;
        }
    }
}

// TA_T3: six EMAs in cascade (each seeded with the SMA of its first `period` values), streamed.
RQ_NOINL void t3_1d(Col x, Col out, int period, double vfactor) {
    if (period == 1) { copy_1d(x, out); return; }
    int n = x.n, lb = period - 1;
    if (n <= 6 * lb) return;
    double k = 2.0 / (period + 1.0);
    MaEmaKStage e[6];
    for (int i = 0; i < 6; ++i) e[i].init(period, k);
    double a = vfactor;
    double temp = a * a;
    double c1 = -temp * a;
    double c2 = 3.0 * (temp - c1);
    double c3 = -6.0 * temp - 3.0 * (a - c1);
    double c4 = 1.0 + 3.0 * a - c1 + 3.0 * temp;
    double b0 = 0.0, b1 = 0.0, b2 = 0.0, b3 = 0.0, b4 = 0.0, b5 = 0.0;
    for (int t0 = 0; t0 < n; t0 += RQ_U) {
        double xb[RQ_U];
        rq_chunk(x, t0, 0, xb);
#pragma unroll
        for (int u = 0; u < RQ_U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            // stage s sees stage s-1's values from bar s * lb on, i.e. from its first value
            if (!e[0].step(xb[u], b0)) continue;
            if (!e[1].step(b0, b1)) continue;
            if (!e[2].step(b1, b2)) continue;
            if (!e[3].step(b2, b3)) continue;
            if (!e[4].step(b3, b4)) continue;
            if (!e[5].step(b4, b5)) continue;
            out[t] = c1 * b5 + c2 * b4 + c3 * b3 + c4 * b2;
        }
    }
}

// Hull MA: WMA(2 * WMA(x, period // 2) - WMA(x, period), int(sqrt(period))) (one scratch plane).
RQ_NOINL void hma_1d(Col x, Col out, int period, Scratch sc) {
    if (period == 1) { copy_1d(x, out); return; }
    int n = x.n;
    int half = period / 2;
    int sq = (int)sqrt((double)period);
    int lb = period - 1;
    if (n <= lb + sq - 1) return;
    MaWmaStage full, hw;
    full.init(x, period);
    hw.init(x, half);
    Col d = sq == 1 ? out.tail(lb) : sc.take(n - lb);
    for (int t0 = 0; t0 < n; t0 += RQ_U) {
        double b[RQ_U], lf[RQ_U], lh[RQ_U];
        rq_chunk(x, t0, 0, b);
        rq_chunk(x, t0, period - 1, lf);
        rq_chunk(x, t0, half - 1, lh);
#pragma unroll
        for (int u = 0; u < RQ_U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            double f = full.step(x, t, b[u], lf[u]);
            double h = half == 1 ? b[u] : hw.step(x, t, b[u], lh[u]);
            if (t >= lb) d[t - lb] = 2.0 * h - f;
        }
    }
    if (sq != 1) wma_1d(d, out.tail(lb), sq);
}

// Zero-lag EMA: EMA (k = 2/(period+1), SMA seed) of 2 * x[t] - x[t - (period-1)//2].
RQ_NOINL void zlema_1d(Col x, Col out, int period) {
    if (period == 1) { copy_1d(x, out); return; }
    int n = x.n;
    int lag = (period - 1) / 2;
    if (n <= lag + period - 1) return;
    MaEmaKStage e; e.init(period, 2.0 / (period + 1.0));
    for (int t0 = lag; t0 < n; t0 += RQ_U) {
        double b[RQ_U], bl[RQ_U];
        rq_chunk(x, t0, 0, b);
        rq_chunk(x, t0, lag, bl);
#pragma unroll
        for (int u = 0; u < RQ_U; ++u) {
            double v;
            if (t0 + u < n && e.step(2.0 * b[u] - bl[u], v)) out[t0 + u] = v;
        }
    }
}

// Wilder's MA: SMA seed, then prev * (p-1)/p + x * (1 - (p-1)/p).
RQ_NOINL void rma_1d(Col x, Col out, int period) {
    int n = x.n;
    if (n < period) return;
    double beta = (period - 1.0) / period;
    double alpha = 1.0 - beta;
    double total = 0.0;
    for (int t = 0; t < period; ++t) total += x[t];
    double prev = total / period;
    out[period - 1] = prev;
    for (int t0 = period; t0 < n; t0 += RQ_U) {
        double b[RQ_U];
        rq_chunk(x, t0, 0, b);
#pragma unroll
        for (int u = 0; u < RQ_U; ++u) {
            if (t0 + u >= n) break;
            prev = beta * prev + alpha * b[u];
            out[t0 + u] = prev;
        }
    }
}

// TA_MAMA (the MESA adaptive MA and its following average), lookback 32; fama may be mama.
RQ_DEV void mama_1d(Col x, Col mama, Col fama, double fastlimit, double slowlimit) {
    ht_1d(x, mama, fama, 6, 32, fastlimit, slowlimit, 9);
}

// TA_MA: the moving average of type `matype` (talib.MA_Type); period 1 copies the input, for every
// matype as TA-Lib does (ma.py's ma_1d_nb runs MAMA for period 1, matype 7: TA-Lib copies).
RQ_NOINL void ma_1d(Col x, Col out, int period, int matype, Scratch sc) {
    if (matype == 10 || period == 1) copy_1d(x, out);
    else if (matype == 0 || matype == 11) sma_1d(x, out, period);
    else if (matype == 1) ema_1d(x, out, period);
    else if (matype == 2) wma_1d(x, out, period);
    else if (matype == 3) dema_1d(x, out, period);
    else if (matype == 4) tema_1d(x, out, period);
    else if (matype == 5) trima_1d(x, out, period, sc);
    else if (matype == 6) kama_1d(x, out, period);
    else if (matype == 7) mama_1d(x, out, out, 0.5, 0.05);
    else if (matype == 8) t3_1d(x, out, period, 0.7);
    else if (matype == 9) hma_1d(x, out, period, sc);
    else if (matype == 12) zlema_1d(x, out, period);
    else rma_1d(x, out, period);
}

// TA_MA_Lookback (table.ma_lookback, except period 1 with matype 7: 0 as TA-Lib, not 32).
RQ_DEV int ma_lookback(int period, int matype) {
    if (matype == 10 || period == 1) return 0;  // TA-Lib: 0 for period 1 whatever the matype
    if (matype == 7) return 32;
    if (matype == 3) return 2 * (period - 1);
    if (matype == 4) return 3 * (period - 1);
    if (matype == 6) return period;
    if (matype == 8) return 6 * (period - 1);
    if (matype == 9) return period - 1 + (int)sqrt((double)period) - 1;
    if (matype == 12) return period - 1 + (period - 1) / 2;
    return period - 1;
}

#endif  // RQ_MA_CUH
