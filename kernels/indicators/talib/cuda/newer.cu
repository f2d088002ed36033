// GPU forms of kernels/indicators/talib/cpu/newer.py (same codes, same parameter vector): the
// functions TA-Lib added in 0.7/0.8 and BETA.
//
// Most of these are a derived series fed through one or two moving averages. Where the Numba
// kernel builds the derived series in a temporary and then runs sma/ema/wma/rma over it, the
// kernels here compute the series on the fly inside the average's loop (re-reading the inputs
// for a window's trailing value) and chain the averages in one pass: the same operations on the
// same values in the same order, no scratch plane and one pass over the column. Rolling max/min
// (SMI, KDJ) run TA_MAX / TA_MIN's state machine step by step (newer_ext_step) for the same
// reason. Only AC with a signal period over NEWER_RING (the AO values a window back) and KDJ (the
// MA dispatch of ma.cuh, RQ_MA_SCRATCH planes) use a scratch plane.
//
// Arithmetic: the installed TA-Lib (0.8.1) is the reference, bit for bit. Where its arithmetic
// differs from cpu/newer.py's, these follow TA-Lib (its ta_codegen sources, and for the fused steps
// measured against the library variant by variant): the EMA step fma(x - prev, k, prev) and the
// Wilder (ATR / RMA) step fma(wbeta, prev, walpha * x); AO / AC's SMAs started at the first AO bar's
// windows; FOSC's O(1) regression sums with re-anchoring and fma(m, period, b); BETA's shifted
// returns with re-anchoring and a scale-relative zero test; CMOU / VORTEX / ER's running window sums
// with their flat-window resets; PERCENTRANK's count / period * 100; KDJ's fast %K
// 100 * ((c - LL) / (HH - LL)), its RMA, and matype 11 meaning its own default (RMA). Degenerate
// windows as TA-Lib answers them: IMI / RVI 50 where both legs are zero, ER 1 on a flat window,
// exact zero guards in ACCBANDS and BETA's returns, DPO from the first bar with x[t - shift].
// tests/kernels/indicators/talib/cuda/test_cuda_newer.py checks the bits on realistic data and the degenerate
// windows on tick-grid data; fma() is exact on both the GPU and the host, so both builds agree.
//
// Loads: a thread walks its column bar by bar, and every bar's loads come after the previous bar's
// stores, which the compiler may not move them above (the planes may alias), so each bar would
// wait a full memory latency. The main loops therefore read their inputs in register batches of
// U bars (newer_batch: U independent loads in flight, the current bar and the lagged ones a
// window needs), then step through the batch, as kernels/indicators/gpu.py's `stream` does.
// U = 4 (as gpu.py's several-indicator shape): with two to eight streams per loop that is 8 to 32
// loads in flight; U = 8 doubled the NVRTC / nvcc compile time of this file for little more.
// gpu names: all
// scratch planes: 1
#include "column.cuh"
#include "var.cuh"
#include "ma.cuh"

#ifdef RQ_HOST
#define NEWER_UNROLL
#define NEWER_LD(ptr) (*(ptr))
#else
#define NEWER_UNROLL _Pragma("unroll")
#define NEWER_LD(ptr) __ldg(ptr)
#endif
// The rare paths (a window rescan or rebuild) are out of line: the batched loops would otherwise
// copy them U times (code size, compile time) for no speed.
#ifdef RQ_HOST
#define NEWER_COLD static __attribute__((noinline))
#else
#define NEWER_COLD __device__ __noinline__
#endif

#define NEWER_RING 64  // AC keeps its last AO values in a local ring when signal <= this

// b[u] = x[t0 + u - lag] for the batch's bars inside the column (0.0 before bar 0 and past the end).
// Inputs only (read through the read-only cache on the GPU): never an output or scratch plane.
template <int U>
RQ_DEV void newer_batch(Col x, int t0, int lag, double (&b)[U]) {
    NEWER_UNROLL
    for (int u = 0; u < U; ++u) {
        int t = t0 + u - lag;
        b[u] = (t >= 0 && t0 + u < x.n) ? NEWER_LD(&x[t]) : 0.0;
    }
}

// Python's max(a, b) / min(a, b) (the first argument unless the second is strictly beyond it).
RQ_DEV double newer_pymax(double a, double b) { return b > a ? b : a; }
RQ_DEV double newer_pymin(double a, double b) { return b < a ? b : a; }

// One step of TA_MAX (hi) / TA_MIN (!hi) at bar `today` (>= period - 1) whose value is w, as
// max_1d / min_1d do it: idx / v are the state (start at -1 / 0.0), trailing = today - period + 1.
NEWER_COLD double newer_ext_rescan(Col x, int today, int trailing, int* idx, bool hi) {
    int k = trailing;
    double v = x[k];
    for (int i = trailing + 1; i <= today; ++i) {
        double u = x[i];
        if (hi ? (u > v) : (u < v)) { k = i; v = u; }
    }
    *idx = k;
    return v;
}

RQ_DEV double newer_ext_step(Col x, int today, int trailing, int& idx, double& v, bool hi, double w) {
    if (idx < trailing) {
        int k;
        v = newer_ext_rescan(x, today, trailing, &k, hi);
        idx = k;
    } else if (hi ? (w >= v) : (w <= v)) {
        idx = today; v = w;
    }
    return v;
}

// ------------------------------------------------------------------------ AO, AC
// AO = SMA(median, fast) - SMA(median, slow); AC = AO - SMA(AO, signal). As TA-Lib 0.8's ta_AO.c /
// ta_AC.c: both SMAs start at the first AO bar's window (the shorter one not at bar 0), add the
// bar, snapshot fast / slow - slow / slow, then drop their trailing bars; AC's signal sum likewise.
RQ_DEV void ao_1d(Col h, Col low, Col out, int fast, int slow, int signal, bool with_signal, Scratch sc) {
    const int U = 4;
    int n = h.n;
    int lb = imax(fast, slow) - 1;
    if (n <= lb) return;
    bool ring_ok = signal <= NEWER_RING;
    double ring[NEWER_RING];
    Col ao;
    if (with_signal && !ring_ok) ao = sc.take(n);
    int f0 = lb - (fast - 1), s0 = lb - (slow - 1);
    double ta = 0.0, tb = 0.0, tg = 0.0;
    for (int t = 0; t < lb; ++t) {
        double m = (h[t] + low[t]) / 2.0;
        if (t >= f0) ta += m;
        if (t >= s0) tb += m;
    }
    for (int t0 = lb; t0 < n; t0 += U) {
        double hb[U], lw[U], hf[U], lf[U], hs[U], ls[U];
        newer_batch(h, t0, 0, hb); newer_batch(low, t0, 0, lw);
        newer_batch(h, t0, fast - 1, hf); newer_batch(low, t0, fast - 1, lf);
        newer_batch(h, t0, slow - 1, hs); newer_batch(low, t0, slow - 1, ls);
        NEWER_UNROLL
        for (int u = 0; u < U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            double m = (hb[u] + lw[u]) / 2.0;
            ta += m;
            tb += m;
            double v = ta / fast - tb / slow;
            ta -= (hf[u] + lf[u]) / 2.0;
            tb -= (hs[u] + ls[u]) / 2.0;
            if (!with_signal) { out[t] = v; continue; }
            int j = t - lb;
            if (ring_ok) ring[j & (NEWER_RING - 1)] = v;
            else ao[t] = v;
            tg += v;
            if (j < signal - 1) continue;
            double r = v - tg / signal;
            tg -= ring_ok ? ring[(j - signal + 1) & (NEWER_RING - 1)] : ao[t - signal + 1];
            out[t] = r;
        }
    }
}

// ------------------------------------------------------------------------ QSTICK, DPO
RQ_DEV void qstick_1d(Col o, Col c, Col out, int period) {
    const int U = 4;
    int n = c.n;
    double total = 0.0;
    for (int t0 = 0; t0 < n; t0 += U) {
        double cb[U], ob[U], ct[U], ot[U];
        newer_batch(c, t0, 0, cb); newer_batch(o, t0, 0, ob);
        newer_batch(c, t0, period - 1, ct); newer_batch(o, t0, period - 1, ot);
        NEWER_UNROLL
        for (int u = 0; u < U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            double d = cb[u] - ob[u];
            if (period == 1) { out[t] = d; continue; }
            total += d;
            if (t >= period - 1) {
                out[t] = total / period;
                total -= ct[u] - ot[u];
            }
        }
    }
}

// TA-Lib's DPO: x[t - shift] - SMA(x, period)[t], from the first bar where both exist (for
// period 2 that is bar 2, not the lookback's bar 1).
RQ_DEV void dpo_1d(Col x, Col out, int period) {
    const int U = 4;
    int n = x.n;
    int shift = period / 2 + 1;
    double total = 0.0;
    for (int t0 = 0; t0 < n; t0 += U) {
        double xb[U], xt[U], xs[U];
        newer_batch(x, t0, 0, xb); newer_batch(x, t0, period - 1, xt); newer_batch(x, t0, shift, xs);
        NEWER_UNROLL
        for (int u = 0; u < U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            double s;
            if (period == 1) s = xb[u];
            else {
                total += xb[u];
                if (t < period - 1) continue;
                s = total / period;
                total -= xt[u];
            }
            if (t >= shift) out[t] = xs[u] - s;
        }
    }
}

// ------------------------------------------------------------------------ ER
// TA_ER (TA-Lib 0.8): the path length is a running sum (drop the trailing change, add the new
// one); a window of exactly-zero changes resets it to 0 (no rounding residue), and the ratio is
// 1 where the path is not positive or not above the signed net move.
RQ_DEV void er_1d(Col x, Col out, int period) {
    const int U = 4;
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
    for (int t0 = period; t0 < n; t0 += U) {
        double xb[U], x1[U], xp[U];
        newer_batch(x, t0, 0, xb); newer_batch(x, t0, 1, x1); newer_batch(x, t0, period, xp);
        NEWER_UNROLL
        for (int u = 0; u < U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            double v = xb[u], v2 = xp[u];
            double roc = v - v2;
            if (t > period) {
                sum -= fabs(trailing_value - v2);
                double d = v - x1[u];
                sum += fabs(d);
                null_run = d == 0.0 ? null_run + 1 : 0;
                if (null_run >= period) { null_run = period; sum = 0.0; }
            }
            trailing_value = v2;
            out[t] = (sum <= 0.0 || sum <= roc) ? 1.0 : fabs(roc / sum);
        }
    }
}

// ------------------------------------------------------------------------ IMI, VHF, VORTEX, CMOU
// IMI and VHF recompute their window per bar (the bar's own row from the batch; the rows before it
// hit the cache); VORTEX and CMOU keep running sums, as TA-Lib 0.8 does.
RQ_DEV void imi_1d(Col o, Col c, Col out, int period) {
    const int U = 4;
    int n = c.n;
    for (int t0 = period - 1; t0 < n; t0 += U) {
        double cb[U], ob[U];
        newer_batch(c, t0, 0, cb); newer_batch(o, t0, 0, ob);
        NEWER_UNROLL
        for (int u = 0; u < U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            double up = 0.0, dn = 0.0;
            for (int i = t - period + 1; i < t; ++i) {
                double d = c[i] - o[i];
                if (d > 0.0) up += d;
                else dn -= d;
            }
            double d = cb[u] - ob[u];
            if (d > 0.0) up += d;
            else dn -= d;
            double s = up + dn;
            out[t] = s != 0.0 ? 100.0 * (up / s) : 50.0;  // TA-Lib 0.8: a window of dojis is 50
        }
    }
}

RQ_DEV void vhf_1d(Col x, Col out, int period) {
    const int U = 4;
    int n = x.n;
    for (int t0 = period; t0 < n; t0 += U) {
        double xb[U];
        newer_batch(x, t0, 0, xb);
        NEWER_UNROLL
        for (int u = 0; u < U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            double hi = xb[u], lo = xb[u], vol = 0.0, prev = x[t - period];
            for (int i = t - period + 1; i <= t; ++i) {
                double v = x[i];
                if (v > hi) hi = v;
                if (v < lo) lo = v;
                vol += fabs(v - prev);
                prev = v;
            }
            out[t] = vol != 0.0 ? (hi - lo) / vol : 0.0;
        }
    }
}

// TA-Lib 0.8's VORTEX: window sums of TR, |H - prev L| and |L - prev H| kept by add-newest, snapshot,
// drop-oldest; the TR sum cleared once `period` zero true ranges have gone by; 0 where it is not
// positive.
RQ_DEV void vortex_1d(Col h, Col low, Col c, Col plus, Col minus, int period) {
    const int U = 4;
    int n = c.n;
    if (n <= period) return;
    double s_tr = 0.0, s_vp = 0.0, s_vm = 0.0;
    int null_run = 0;
    for (int i = 1; i < period; ++i) {
        double tr = true_range(h[i], low[i], c[i - 1]);
        s_tr += tr;
        s_vp += fabs(h[i] - low[i - 1]);
        s_vm += fabs(low[i] - h[i - 1]);
        null_run = tr == 0.0 ? null_run + 1 : 0;
    }
    for (int t0 = period; t0 < n; t0 += U) {
        double hb[U], lw[U], c1[U], h1[U], l1[U], hq[U], lq[U], cq[U], hq1[U], lq1[U];
        newer_batch(h, t0, 0, hb); newer_batch(low, t0, 0, lw); newer_batch(c, t0, 1, c1);
        newer_batch(h, t0, 1, h1); newer_batch(low, t0, 1, l1);
        newer_batch(h, t0, period - 1, hq); newer_batch(low, t0, period - 1, lq); newer_batch(c, t0, period, cq);
        newer_batch(h, t0, period, hq1); newer_batch(low, t0, period, lq1);
        NEWER_UNROLL
        for (int u = 0; u < U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            double tr = true_range(hb[u], lw[u], c1[u]);
            s_tr += tr;
            s_vp += fabs(hb[u] - l1[u]);
            s_vm += fabs(lw[u] - h1[u]);
            null_run = tr == 0.0 ? null_run + 1 : 0;
            if (null_run >= period) { null_run = period; s_tr = 0.0; }
            double cur_tr = s_tr, cur_vp = s_vp, cur_vm = s_vm;
            s_tr -= true_range(hq[u], lq[u], cq[u]);
            s_vp -= fabs(hq[u] - lq1[u]);
            s_vm -= fabs(lq[u] - hq1[u]);
            plus[t] = cur_tr > 0.0 ? cur_vp / cur_tr : 0.0;
            minus[t] = cur_tr > 0.0 ? cur_vm / cur_tr : 0.0;
        }
    }
}

// TA-Lib 0.8's CMOU: up / down sums of the last `period` changes kept by drop-oldest-then-add-newest,
// cleared once `period` exactly-zero changes have gone by (a flat window), and
// (100 * (up - down)) / (up + down), 0 where the sum is not positive.
RQ_DEV void cmou_1d(Col x, Col out, int period) {
    const int U = 4;
    int n = x.n;
    if (n <= period) return;
    double up = 0.0, dn = 0.0, prev = x[0], trailing_value = x[0];
    int null_run = 0;
    for (int i = 1; i <= period; ++i) {
        double v = x[i];
        double d = v - prev;
        prev = v;
        if (d > 0.0) up += d;
        else if (d < 0.0) dn -= d;
        null_run = d == 0.0 ? null_run + 1 : 0;
    }
    double s0 = up + dn;
    out[period] = s0 > 0.0 ? (100.0 * (up - dn)) / s0 : 0.0;
    for (int t0 = period + 1; t0 < n; t0 += U) {
        double xb[U], xq[U];
        newer_batch(x, t0, 0, xb); newer_batch(x, t0, period, xq);
        NEWER_UNROLL
        for (int u = 0; u < U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            double d = xq[u] - trailing_value;  // the oldest change leaves
            trailing_value = xq[u];
            if (d > 0.0) up -= d;
            else if (d < 0.0) dn += d;
            d = xb[u] - prev;  // the newest change enters
            prev = xb[u];
            if (d > 0.0) up += d;
            else if (d < 0.0) dn -= d;
            null_run = d == 0.0 ? null_run + 1 : 0;
            if (null_run >= period) { null_run = period; up = 0.0; dn = 0.0; }
            double sm = up + dn;
            out[t] = sm > 0.0 ? (100.0 * (up - dn)) / sm : 0.0;
        }
    }
}

// ------------------------------------------------------------------------ WAD, HA
RQ_DEV void wad_1d(Col h, Col low, Col c, Col out) {
    const int U = 4;
    int n = c.n;
    double wad = 0.0;
    out[0] = 0.0;
    for (int t0 = 1; t0 < n; t0 += U) {
        double hb[U], lw[U], cb[U], c1[U];
        newer_batch(h, t0, 0, hb); newer_batch(low, t0, 0, lw); newer_batch(c, t0, 0, cb); newer_batch(c, t0, 1, c1);
        NEWER_UNROLL
        for (int u = 0; u < U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            double pc = c1[u], ct = cb[u];
            if (ct > pc) wad += ct - newer_pymin(lw[u], pc);
            else if (ct < pc) wad += ct - newer_pymax(hb[u], pc);
            out[t] = wad;
        }
    }
}

RQ_DEV void ha_1d(Col o, Col h, Col low, Col c, Col ho, Col hh, Col hl, Col hc) {
    const int U = 4;
    int n = c.n;
    double po = 0.0, pc = 0.0;
    for (int t0 = 0; t0 < n; t0 += U) {
        double ob[U], hb[U], lw[U], cb[U];
        newer_batch(o, t0, 0, ob); newer_batch(h, t0, 0, hb); newer_batch(low, t0, 0, lw); newer_batch(c, t0, 0, cb);
        NEWER_UNROLL
        for (int u = 0; u < U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            double cl = (ob[u] + hb[u] + lw[u] + cb[u]) / 4.0;
            double op = t == 0 ? (ob[u] + cb[u]) / 2.0 : (po + pc) / 2.0;
            ho[t] = op;
            hc[t] = cl;
            hh[t] = newer_pymax(hb[u], newer_pymax(op, cl));
            hl[t] = newer_pymin(lw[u], newer_pymin(op, cl));
            po = op;
            pc = cl;
        }
    }
}

// ------------------------------------------------------------------------ COPPOCK (ROC sum -> WMA)
// s = ROC(x, r1) + ROC(x, r2) from the bar's values x[t], x[t - r1], x[t - r2].
RQ_DEV double newer_coppock_s(double v, double a, double b) {
    double ra = a != 0.0 ? ((v / a) - 1.0) * 100.0 : 0.0;
    double rb = b != 0.0 ? ((v / b) - 1.0) * 100.0 : 0.0;
    return ra + rb;
}

RQ_DEV double newer_coppock_at(Col x, int t, int r1, int r2) { return newer_coppock_s(x[t], x[t - r1], x[t - r2]); }

// The WMA's sums rebuilt from the window ending at bar t (wma_1d_nb's every-8-periods rebuild).
NEWER_COLD double newer_coppock_rebuild(Col x, int t, int wp, int r1, int r2, double* sub) {
    double period_sub = 0.0, period_sum = 0.0;
    int w = 1;
    for (int j = t - wp + 1; j <= t; ++j) {
        double q = newer_coppock_at(x, j, r1, r2);
        period_sub += q;
        period_sum += q * w;
        w += 1;
    }
    *sub = period_sub;
    return period_sum;
}

// wma_1d_nb (kernels/indicators/cpu.py, TA-Lib 0.8's WMA with a rebuild every 8 * period bars)
// over s[k] = the ROC sum at bar lb + k, written to out[lb + k].
RQ_DEV void coppock_1d(Col x, Col out, int wp, int r1, int r2) {
    const int U = 4;
    int n = x.n;
    int lb = imax(r1, r2);
    if (n <= lb + wp - 1) return;
    double divider = wp * (wp + 1.0) / 2.0;
    double period_sub = 0.0, period_sum = 0.0, trailing = 0.0;
    int bars = 0;
    for (int t0 = lb; t0 < n; t0 += U) {
        double xb[U], xa[U], xc[U], yb[U], ya[U], yc[U];
        newer_batch(x, t0, 0, xb); newer_batch(x, t0, r1, xa); newer_batch(x, t0, r2, xc);
        newer_batch(x, t0, wp - 1, yb); newer_batch(x, t0, wp - 1 + r1, ya); newer_batch(x, t0, wp - 1 + r2, yc);
        NEWER_UNROLL
        for (int u = 0; u < U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            int k = t - lb;
            double v = newer_coppock_s(xb[u], xa[u], xc[u]);
            if (wp == 1) { out[t] = v; continue; }
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
                period_sum = newer_coppock_rebuild(x, t, wp, r1, r2, &period_sub);
            }
            trailing = newer_coppock_s(yb[u], ya[u], yc[u]);
            out[t] = period_sum / divider;
            period_sum -= period_sub;
        }
    }
}

// ------------------------------------------------------------------------ EMA chains: TSI, ERI, SMI
// The EMA step as the installed TA-Lib 0.8.1 computes it (measured bit for bit): k = 2 / (p + 1),
// prev = fma(x - prev, k, prev) (TA-Lib's ((x - prev) * k) + prev, contracted), seeded with the mean
// of the first p inputs. Returns true once `prev` holds a value (j = position in the input).
RQ_DEV bool newer_emaf_step(double v, int j, int period, double k, double& total, double& prev) {
    if (j < period - 1) { total += v; return false; }
    if (j == period - 1) { total += v; prev = total / period; return true; }
    prev = fma(v - prev, k, prev);
    return true;
}

// TSI = 100 * EMA_s(EMA_r(m)) / EMA_s(EMA_r(|m|)), m = x[t] - x[t - 1]; 0 where the denominator is
// not positive (TA-Lib 0.8).
RQ_DEV void tsi_1d(Col x, Col out, int r, int s) {
    const int U = 4;
    int n = x.n;
    if (n <= r + s - 1) return;
    double kr = 2.0 / (r + 1.0), ks = 2.0 / (s + 1.0);
    double t1 = 0.0, t2 = 0.0, e1 = 0.0, e2 = 0.0, g1 = 0.0, g2 = 0.0, f1 = 0.0, f2 = 0.0;
    for (int t0 = 1; t0 < n; t0 += U) {
        double xb[U], x1[U];
        newer_batch(x, t0, 0, xb); newer_batch(x, t0, 1, x1);
        NEWER_UNROLL
        for (int u = 0; u < U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            int i = t - 1;
            double m = xb[u] - x1[u];
            double a = fabs(m);
            newer_emaf_step(m, i, r, kr, t1, e1);
            if (!newer_emaf_step(a, i, r, kr, t2, e2)) continue;
            int j = i - (r - 1);
            newer_emaf_step(e1, j, s, ks, g1, f1);
            if (!newer_emaf_step(e2, j, s, ks, g2, f2)) continue;
            out[t] = f2 > 0.0 ? 100.0 * f1 / f2 : 0.0;
        }
    }
}

RQ_DEV void eri_1d(Col h, Col low, Col c, Col bull, Col bear, int period) {
    const int U = 4;
    int n = c.n;
    if (n < period) return;
    double k = 2.0 / (period + 1.0), total = 0.0, e = 0.0;
    for (int t0 = 0; t0 < n; t0 += U) {
        double hb[U], lw[U], cb[U];
        newer_batch(h, t0, 0, hb); newer_batch(low, t0, 0, lw); newer_batch(c, t0, 0, cb);
        NEWER_UNROLL
        for (int u = 0; u < U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            if (!newer_emaf_step(cb[u], t, period, k, total, e)) continue;
            bull[t] = hb[u] - e;
            bear[t] = lw[u] - e;
        }
    }
}

// SMI = 100 * EMA_fast(EMA_slow(c - mid)) / (0.5 * EMA_fast(EMA_slow(HH - LL))) and its EMA signal.
RQ_DEV void smi_1d(Col h, Col low, Col c, Col smi, Col sig, int period, int fast, int slow, int signal) {
    const int U = 4;
    int n = c.n;
    int lb0 = period - 1;
    int lb = lb0 + slow - 1 + fast - 1 + signal - 1;
    if (n <= lb) return;
    double ks = 2.0 / (slow + 1.0), kf = 2.0 / (fast + 1.0), kg = 2.0 / (signal + 1.0);
    int hi_idx = -1, lo_idx = -1;
    double hi = 0.0, lo = 0.0;
    double td = 0.0, tr = 0.0, d1 = 0.0, r1 = 0.0, ud = 0.0, ur = 0.0, d2 = 0.0, r2 = 0.0, tg = 0.0, g = 0.0;
    int k0 = slow - 1 + fast - 1;
    for (int t0 = lb0; t0 < n; t0 += U) {
        double hb[U], lw[U], cb[U];
        newer_batch(h, t0, 0, hb); newer_batch(low, t0, 0, lw); newer_batch(c, t0, 0, cb);
        NEWER_UNROLL
        for (int u = 0; u < U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            double hh = newer_ext_step(h, t, t - lb0, hi_idx, hi, true, hb[u]);
            double ll = newer_ext_step(low, t, t - lb0, lo_idx, lo, false, lw[u]);
            double d = cb[u] - (hh + ll) / 2.0;
            double r = hh - ll;
            int j = t - lb0;  // index into d, r (length n - lb0)
            newer_emaf_step(d, j, slow, ks, td, d1);
            if (!newer_emaf_step(r, j, slow, ks, tr, r1)) continue;
            int j2 = j - (slow - 1);
            newer_emaf_step(d1, j2, fast, kf, ud, d2);
            if (!newer_emaf_step(r1, j2, fast, kf, ur, r2)) continue;
            double half = 0.5 * r2;  // TA-Lib 0.8.1: 0 unless the smoothed range is positive
            double v = half > 0.0 ? 100.0 * d2 / half : 0.0;
            if (!newer_emaf_step(v, j - k0, signal, kg, tg, g)) continue;
            smi[t] = v;
            sig[t] = g;
        }
    }
}

// ------------------------------------------------------------------------ FOSC (TSF one bar back)
// TA-Lib 0.8's ta_FOSC.c: 100 * (x[t] - TSF[t-1]) / x[t], the regression sums over the window ending
// at t - 1 kept in O(1) (SumXY += SumY - period * trailing; SumY += new - trailing), rebuilt every
// 32 * period bars or when the trailing term dwarfs the window (|period * trailing| > 100 sum |x|),
// the forecast fused as fma(m, period, b).
NEWER_COLD double newer_fosc_rebuild(Col x, int today, int period, double* sum_y, double* sum_abs) {
    double sy = 0.0, sxy = 0.0, sa = 0.0, w = (double)(period - 1);
    for (int j = today - period; j < today; ++j) {
        double v = x[j];
        sy += v;
        sxy += w * v;
        sa += fabs(v);
        w -= 1.0;
    }
    *sum_y = sy;
    *sum_abs = sa;
    return sxy;
}

RQ_DEV void fosc_1d(Col x, Col out, int period) {
    const int U = 4;
    int n = x.n;
    if (n <= period) return;
    double sum_x = (double)period * (period - 1) * 0.5;
    double sum_x_sqr = (double)period * (period - 1) * (2 * period - 1) / 6.0;
    double divisor = sum_x * sum_x - period * sum_x_sqr;
    double sum_xy = 0.0, sum_y = 0.0, sum_abs = 0.0;
    for (int i = period; i-- != 0;) {
        double v = x[period - 1 - i];
        sum_y += v;
        sum_xy += (double)i * v;
        sum_abs += fabs(v);
    }
    int bars = 32 * period;
    for (int t0 = period; t0 < n; t0 += U) {
        double xb[U], x1[U], xt[U];
        newer_batch(x, t0, 0, xb); newer_batch(x, t0, 1, x1); newer_batch(x, t0, period + 1, xt);
        NEWER_UNROLL
        for (int u = 0; u < U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            if (t > period) {
                double trailing = xt[u];  // x[t - 1 - period], the bar the window ending at t - 1 drops
                double wt = (double)period * trailing;
                sum_xy = sum_xy + sum_y - wt;
                sum_y = sum_y - trailing + x1[u];
                sum_abs = sum_abs - fabs(trailing) + fabs(x1[u]);
                bars -= 1;
                if (bars <= 0 || fabs(wt) > 100.0 * sum_abs) {
                    bars = 32 * period;
                    sum_xy = newer_fosc_rebuild(x, t, period, &sum_y, &sum_abs);
                }
            }
            double m = (period * sum_xy - sum_x * sum_y) / divisor;
            double b = (sum_y - m * sum_x) / (double)period;
            double v = xb[u];
            out[t] = v != 0.0 ? 100.0 * (v - fma(m, (double)period, b)) / v : 0.0;
        }
    }
}

// ------------------------------------------------------------------------ ACCBANDS, KC
// TA_ACCBANDS' band inputs: h * (1 + f) and low * (1 - f), f = 4 (h - low) / (h + low); h and low
// themselves where h + low is exactly zero (TA-Lib tests it exactly: h = 1e-15, low = 0 gives 5e-15).
RQ_DEV double newer_acc_up(double h, double low) {
    double s = h + low;
    return s == 0.0 ? h : h * (1.0 + 4.0 * (h - low) / s);
}
RQ_DEV double newer_acc_dn(double h, double low) {
    double s = h + low;
    return s == 0.0 ? low : low * (1.0 - 4.0 * (h - low) / s);
}

RQ_DEV void accbands_1d(Col h, Col low, Col c, Col up, Col mid, Col lo, int period) {
    const int U = 4;
    int n = c.n;
    double tu = 0.0, tc = 0.0, td = 0.0;
    for (int t0 = 0; t0 < n; t0 += U) {
        double hb[U], lw[U], cb[U], ht[U], lt[U], ct[U];
        newer_batch(h, t0, 0, hb); newer_batch(low, t0, 0, lw); newer_batch(c, t0, 0, cb);
        newer_batch(h, t0, period - 1, ht); newer_batch(low, t0, period - 1, lt); newer_batch(c, t0, period - 1, ct);
        NEWER_UNROLL
        for (int u = 0; u < U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            double uv = newer_acc_up(hb[u], lw[u]), dv = newer_acc_dn(hb[u], lw[u]), v = cb[u];
            if (period == 1) { up[t] = uv; mid[t] = v; lo[t] = dv; continue; }
            tu += uv; tc += v; td += dv;
            if (t < period - 1) continue;
            up[t] = tu / period; mid[t] = tc / period; lo[t] = td / period;
            tu -= newer_acc_up(ht[u], lt[u]);
            tc -= ct[u];
            td -= newer_acc_dn(ht[u], lt[u]);
        }
    }
}

RQ_DEV double newer_tp(double h, double low, double c) { return (h + low + c) / 3.0; }

// Wilder's smoothing as the installed TA-Lib 0.8.1 steps its ATR / RMA (measured bit for bit):
// wbeta = (p - 1) / p, walpha = 1 - wbeta, prev = fma(wbeta, prev, walpha * x).
RQ_DEV double newer_wilder(double prev, double x, double wbeta, double walpha) { return fma(wbeta, prev, walpha * x); }

// EMA(typical price, period) from bar lb - (period - 1) and ATR(atrp) (atr_1d_nb) from bar
// lb - atrp, both first defined at lb = max(period - 1, atrp): one pass from the EMA's start.
RQ_DEV void kc_1d(Col h, Col low, Col c, Col up, Col mid, Col lo, int period, int atrp, double nbdev) {
    const int U = 4;
    int n = c.n;
    int lb = imax(period - 1, atrp);
    if (n <= lb) return;
    int e0 = lb - (period - 1), a0 = lb - atrp;
    double k = 2.0 / (period + 1.0), total = 0.0, e = 0.0;
    for (int t = e0; t < lb; ++t) total += newer_tp(h[t], low[t], c[t]);
    double atr_total = 0.0, a = 0.0;
    double wbeta = (double)(atrp - 1) / (double)atrp, walpha = 1.0 - wbeta;
    if (atrp != 1)
        for (int t = a0 + 1; t <= lb; ++t) atr_total += true_range(h[t], low[t], c[t - 1]);
    for (int t0 = lb; t0 < n; t0 += U) {
        double hb[U], lw[U], cb[U], c1[U];
        newer_batch(h, t0, 0, hb); newer_batch(low, t0, 0, lw); newer_batch(c, t0, 0, cb); newer_batch(c, t0, 1, c1);
        NEWER_UNROLL
        for (int u = 0; u < U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            double tp = newer_tp(hb[u], lw[u], cb[u]);
            if (t == lb) { total += tp; e = total / period; }
            else e = fma(tp - e, k, e);
            if (atrp == 1) a = true_range(hb[u], lw[u], c1[u]);
            else if (t == lb) a = atr_total / atrp;
            else a = newer_wilder(a, true_range(hb[u], lw[u], c1[u]), wbeta, walpha);
            mid[t] = e;
            double w = a * nbdev;
            up[t] = e + w;
            lo[t] = e - w;
        }
    }
}

// ------------------------------------------------------------------------ PERCENTRANK, FRACTAL
RQ_DEV void percentrank_1d(Col x, Col out, int period) {
    const int U = 4;
    int n = x.n;
    for (int t0 = period; t0 < n; t0 += U) {
        double xb[U];
        newer_batch(x, t0, 0, xb);
        NEWER_UNROLL
        for (int u = 0; u < U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            int cnt = 0;
            double v = xb[u];
            for (int i = t - period; i < t; ++i)
                if (x[i] < v) cnt += 1;
            out[t] = (double)cnt / period * 100.0;  // TA-Lib 0.8: divide, then scale
        }
    }
}

// Williams fractals, reported `right` bars after the fractal bar m: 100 where h[m] (low[m]) is above
// (below) every other bar of m - left .. m + right.
RQ_DEV void fractal_1d(Col h, Col low, Col sh, Col sl, int left, int right) {
    const int U = 4;
    int n = h.n;
    for (int t0 = left + right; t0 < n; t0 += U) {
        double hm[U], lm[U], hb[U], lw[U];
        newer_batch(h, t0, right, hm); newer_batch(low, t0, right, lm);
        newer_batch(h, t0, 0, hb); newer_batch(low, t0, 0, lw);
        NEWER_UNROLL
        for (int u = 0; u < U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            int m = t - right;
            bool hi = hm[u] > hb[u], lo = lm[u] < lw[u];
            for (int j = m - left; j < t; ++j) {
                if (j == m) continue;
                if (!(hm[u] > h[j])) hi = false;
                if (!(lm[u] < low[j])) lo = false;
            }
            sh[t] = hi ? 100.0 : 0.0;
            sl[t] = lo ? 100.0 : 0.0;
        }
    }
}

// ------------------------------------------------------------------------ SUPERTREND
// atr_1d_nb(h, low, c, a, period) stepped inside the band loop.
RQ_DEV void supertrend_1d(Col h, Col low, Col c, Col st, Col trend, int period, double mult) {
    const int U = 4;
    int n = c.n;
    if (n <= period) return;
    double a = 0.0;
    if (period != 1) {
        double total = 0.0;
        for (int t = 1; t <= period; ++t) total += true_range(h[t], low[t], c[t - 1]);
        a = total / period;
    }
    double fu = 0.0, fl = 0.0, tr = 1.0;
    double wbeta = (double)(period - 1) / (double)period, walpha = 1.0 - wbeta;
    for (int t0 = period; t0 < n; t0 += U) {
        double hb[U], lw[U], cb[U], c1[U];
        newer_batch(h, t0, 0, hb); newer_batch(low, t0, 0, lw); newer_batch(c, t0, 0, cb); newer_batch(c, t0, 1, c1);
        NEWER_UNROLL
        for (int u = 0; u < U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            if (period == 1) a = true_range(hb[u], lw[u], c1[u]);
            else if (t > period) a = newer_wilder(a, true_range(hb[u], lw[u], c1[u]), wbeta, walpha);
            double md = (hb[u] + lw[u]) / 2.0;
            double bu = md + mult * a;
            double bl = md - mult * a;
            if (t == period) {
                fu = bu;
                fl = bl;
            } else {
                fu = (bu < fu || c1[u] > fu) ? bu : fu;
                fl = (bl > fl || c1[u] < fl) ? bl : fl;
                if (tr == 1.0 && cb[u] < fl) tr = -1.0;
                else if (tr == -1.0 && cb[u] > fu) tr = 1.0;
            }
            st[t] = tr == 1.0 ? fl : fu;
            trend[t] = tr;
        }
    }
}

// ------------------------------------------------------------------------ RVI
// var_1d_nb of kernels/indicators/cpu.py (TA-Lib 0.8's VAR), its rebuild in include/var.cuh.

// Relative volatility index: the population stddev over `sdp` bars (the VAR above, stepped), kept on
// up / down bars, each Wilder-smoothed (rma_1d_nb) over `period`; 100 * up / (up + down).
RQ_DEV void rvi_1d(Col x, Col out, int period, int sdp) {
    const int U = 4;
    int n = x.n;
    int lb0 = sdp - 1;
    if (n <= lb0 + period - 1) return;
    double inv = 1.0 / sdp;
    double shift = x[0], total1 = 0.0, total2 = 0.0, peak = 0.0;
    for (int t = 0; t < sdp - 1; ++t) {
        double a = x[t] - shift;
        total1 += a;
        total2 += a * a;
    }
    int bars = 32 * sdp;
    peak = total2;
    double beta = (double)(period - 1) / (double)period;
    double alpha = 1.0 - beta;
    double su = 0.0, sw = 0.0, u = 0.0, w = 0.0;
    for (int t0 = sdp - 1; t0 < n; t0 += U) {
        double xb[U], x1[U], xt[U];
        newer_batch(x, t0, 0, xb); newer_batch(x, t0, 1, x1); newer_batch(x, t0, sdp - 1, xt);
        NEWER_UNROLL
        for (int q = 0; q < U; ++q) {
            int t = t0 + q;
            if (t >= n) break;
            double a = xb[q] - shift;
            total1 += a;
            total2 += a * a;
            if (total2 > peak) peak = total2;
            double mean1 = total1 * inv;
            double var = total2 * inv - mean1 * mean1;
            a = xt[q] - shift;
            total1 -= a;
            total2 -= a * a;
            bars -= 1;
            if (var < RQ_VAR_FLAT * (peak * inv) || bars <= 0) {
                bars = 32 * sdp;
                var = var_rebuild(x, t, sdp, inv, shift, total1, total2, peak);
            }
            // rvi: up / down bars of the stddev, then rma_1d_nb over each
            double sd = sqrt(var);
            double d = xb[q] - x1[q];
            double vu = d > 0.0 ? sd : 0.0;
            double vd = d < 0.0 ? sd : 0.0;
            int j = t - lb0;
            if (j < period - 1) { su += vu; sw += vd; continue; }
            if (j == period - 1) {
                su += vu; sw += vd;
                u = su / period; w = sw / period;
            } else {
                u = newer_wilder(u, vu, beta, alpha);
                w = newer_wilder(w, vd, beta, alpha);
            }
            double s = u + w;
            out[t] = s != 0.0 ? 100.0 * (u / s) : 50.0;  // TA-Lib 0.8: no up or down volatility is 50
        }
    }
}

// ------------------------------------------------------------------------ BETA
// TA-Lib 0.8's beta.c (#242): the slope of y's bar returns on x's over `period` returns, with the
// returns measured from shifts (the first return, then the window means at each re-anchor) so the
// denominator n Sxx - Sx^2 does not cancel; re-anchored when it falls under 1e-6 of n Sxx, when the
// squared return that left dwarfs Sxx (1e3) and every 32 * period bars; 0 where the denominator is
// not above 1e-14 of its scale. A return is 0 where the previous price is exactly 0 (a price of 1e-9
// still gives a return, as in TA-Lib).
struct NewerBetaSums { double sxx, sxy, sx, sy, shift_x, shift_y; };

RQ_DEV double newer_bret(double v, double prev, double shift) { return prev != 0.0 ? (v - prev) / prev - shift : -shift; }

// The shifts (window means) and sums rebuilt over the returns of bars ws .. last, prev_x / prev_y
// the prices of bar ws - 1.
NEWER_COLD void newer_beta_rebuild(Col x, Col y, int ws, int last, double prev_x, double prev_y, double n,
                                   NewerBetaSums* r) {
    double px = prev_x, py = prev_y, ax = 0.0, ay = 0.0;
    for (int j = ws; j <= last; ++j) {
        if (px != 0.0) ax += (x[j] - px) / px;
        px = x[j];
        if (py != 0.0) ay += (y[j] - py) / py;
        py = y[j];
    }
    double shift_x = ax / n, shift_y = ay / n;
    double sxx = 0.0, sxy = 0.0, sx = 0.0, sy = 0.0;
    px = prev_x;
    py = prev_y;
    for (int j = ws; j <= last; ++j) {
        double a = newer_bret(x[j], px, shift_x);
        px = x[j];
        double b = newer_bret(y[j], py, shift_y);
        py = y[j];
        sxx += a * a;
        sxy += a * b;
        sx += a;
        sy += b;
    }
    r->sxx = sxx; r->sxy = sxy; r->sx = sx; r->sy = sy; r->shift_x = shift_x; r->shift_y = shift_y;
}

RQ_DEV void beta_1d(Col x, Col y, Col out, int period) {
    const int U = 4;
    int n = x.n;
    if (n <= period) return;
    double last_x = x[0], last_y = y[0], tlx = x[0], tly = y[0];
    double shift_x = last_x != 0.0 ? (x[1] - last_x) / last_x : 0.0;
    double shift_y = last_y != 0.0 ? (y[1] - last_y) / last_y : 0.0;
    double sxx = 0.0, sxy = 0.0, sx = 0.0, sy = 0.0;
    for (int i = 1; i < period; ++i) {
        double a = newer_bret(x[i], last_x, shift_x);
        last_x = x[i];
        double b = newer_bret(y[i], last_y, shift_y);
        last_y = y[i];
        sxx += a * a;
        sxy += a * b;
        sx += a;
        sy += b;
    }
    double nn = (double)period;
    int bars = 32 * period;
    double leaving_xx = 0.0;
    for (int t0 = period; t0 < n; t0 += U) {
        double xb[U], yb[U], xq[U], yq[U];
        newer_batch(x, t0, 0, xb); newer_batch(y, t0, 0, yb);
        newer_batch(x, t0, period - 1, xq); newer_batch(y, t0, period - 1, yq);
        NEWER_UNROLL
        for (int u = 0; u < U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            double a = newer_bret(xb[u], last_x, shift_x);
            last_x = xb[u];
            double b = newer_bret(yb[u], last_y, shift_y);
            last_y = yb[u];
            sxx += a * a;
            sxy += a * b;
            sx += a;
            sy += b;
            double scale = nn * sxx;
            double denom = scale - (sx * sx);
            bars--;
            if (denom < 0.000001 * scale || leaving_xx > 1000.0 * sxx || bars <= 0) {
                bars = 32 * period;
                NewerBetaSums r;
                newer_beta_rebuild(x, y, t - period + 1, t, tlx, tly, nn, &r);
                sxx = r.sxx; sxy = r.sxy; sx = r.sx; sy = r.sy; shift_x = r.shift_x; shift_y = r.shift_y;
                scale = nn * sxx;
                denom = scale - (sx * sx);
                if (denom < 0.0) denom = 0.0;
            }
            // the return leaving the window: bar t - period + 1 against its predecessor
            double ta = newer_bret(xq[u], tlx, shift_x);
            tlx = xq[u];
            double tb = newer_bret(yq[u], tly, shift_y);
            tly = yq[u];
            out[t] = denom > 0.00000000000001 * scale ? ((nn * sxy) - (sx * sy)) / denom : 0.0;
            leaving_xx = ta * ta;
            sxx -= ta * ta;
            sxy -= ta * tb;
            sx -= ta;
            sy -= tb;
        }
    }
}

// ------------------------------------------------------------------------ KDJ
// TA_RMA as the installed TA-Lib 0.8.1 computes it (the mean of the first p values, then the Wilder
// step newer_wilder): KDJ's default MA. ma.cuh's rma_1d is rma_1d_nb's beta * prev + alpha * x, which
// differs from TA-Lib in the last bits. (KDJ's other MA types go to ma.cuh's ma_1d.)
RQ_DEV void newer_rma_1d(Col x, Col out, int period) {
    int n = x.n;
    if (n < period) return;
    double wbeta = (double)(period - 1) / (double)period, walpha = 1.0 - wbeta;
    double total = 0.0;
    for (int t = 0; t < period; ++t) total += x[t];
    double prev = total / period;
    out[period - 1] = prev;
    for (int t = period; t < n; ++t) {
        prev = newer_wilder(prev, x[t], wbeta, walpha);
        out[t] = prev;
    }
}

// TA_EMA likewise (newer_emaf_step); ma.cuh's ema_1d is ema_1d_nb's unfused step.
RQ_DEV void newer_ema_1d(Col x, Col out, int period) {
    int n = x.n;
    double k = 2.0 / (period + 1.0), total = 0.0, prev = 0.0;
    for (int t = 0; t < n; ++t)
        if (newer_emaf_step(x[t], t, period, k, total, prev)) out[t] = prev;
}

RQ_DEV void newer_kdj_ma(Col x, Col out, int period, int matype, Scratch sc) {
    if (matype == 13 && period > 1) newer_rma_1d(x, out, period);
    else if (matype == 1 && period > 1) newer_ema_1d(x, out, period);
    else ma_1d(x, out, period, matype, sc);
}

// Fast %K (TA_MAX / TA_MIN stepped, no planes), slow K = MA(fast %K), D = MA(K), J = 3K - 2D. The
// output planes hold the stages until the end: fast %K in J's plane, K in its own, D in its own.
RQ_DEV void kdj_1d(Col h, Col low, Col c, Col ko, Col dout, Col jo, int fk, int sk, int skmt, int sd, int sdmt,
                   Scratch sc) {
    const int U = 4;
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
    for (int t0 = fk - 1; t0 < n; t0 += U) {
        double hb[U], lw[U], cb[U];
        newer_batch(h, t0, 0, hb); newer_batch(low, t0, 0, lw); newer_batch(c, t0, 0, cb);
        NEWER_UNROLL
        for (int u = 0; u < U; ++u) {
            int t = t0 + u;
            if (t >= n) break;
            double hh = newer_ext_step(h, t, t - (fk - 1), hi_idx, hi, true, hb[u]);
            double ll = newer_ext_step(low, t, t - (fk - 1), lo_idx, lo, false, lw[u]);
            // TA-Lib 0.8's fast %K bits: 100 * ((c - LL) / (HH - LL)) (not (c - LL) / ((HH - LL) / 100))
            double diff = hh - ll;
            jo[t] = diff != 0.0 ? 100.0 * ((cb[u] - ll) / diff) : 0.0;
        }
    }
    newer_kdj_ma(jo.tail(fk - 1), ko.tail(fk - 1), sk, skmt, sc);
    newer_kdj_ma(ko.tail(fk - 1 + lbk), dout.tail(fk - 1 + lbk), sd, sdmt, sc);
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
        // HA has four outputs, one more than RQ_MAX_OUT: its fourth plane (and warm plane) follows the third.
        Col o3 = o[2];
        o3.p = o[2].p + (o[2].p - o[1].p);
        o3.w = o[2].w + (o[2].w - o[1].w);
        ha_1d(c0, c1, c2, c3, o[0], o[1], o[2], o3);
    }
    else if (code == 14) accbands_1d(c0, c1, c2, o[0], o[1], o[2], (int)p[0]);
    else if (code == 15) kc_1d(c0, c1, c2, o[0], o[1], o[2], (int)p[0], (int)p[1], p[2]);
    else if (code == 16) percentrank_1d(c0, o[0], (int)p[0]);
    else if (code == 17)
        kdj_1d(c0, c1, c2, o[0], o[1], o[2], (int)p[0], (int)p[1], (int)p[2], (int)p[3], (int)p[4], sc);
    else if (code == 18) cmou_1d(c0, o[0], (int)p[0]);
    else if (code == 19) fractal_1d(c0, c1, o[0], o[1], (int)p[0], (int)p[1]);
    else if (code == 20) supertrend_1d(c0, c1, c2, o[0], o[1], (int)p[0], p[1]);
    else if (code == 21) smi_1d(c0, c1, c2, o[0], o[1], (int)p[0], (int)p[1], (int)p[2], (int)p[3]);
    else if (code == 22) rvi_1d(c0, o[0], (int)p[0], (int)p[1]);
    else if (code == 23) beta_1d(c0, c1, o[0], (int)p[0]);
}

RQ_GROUP(newer)
