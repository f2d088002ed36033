// GPU forms of kernels/indicators/talib/cpu/volume.py (same codes, same parameter vector).
// gpu names: AD ADOSC OBV TRANGE ATR NATR ADR CVI MASSI PVT CMF EFI RVOL VWAP NVI PVI
// scratch planes: 3
#include "column.cuh"

// ---------------------------------------------------------------- helpers
RQ_DEV int vo_first_valid(Col x) {
    for (int t = 0; t < x.n; ++t) if (!rq_isnan(x[t])) return t;
    return x.n;
}

// ema_k_1d_nb (cpu/ma.py): EMA with factor k, seeded with the SMA of the first `period` bars.
RQ_DEV void vo_ema_k(Col x, Col out, int period, double k) {
    int n = x.n;
    if (n < period) return;
    double total = 0.0;
    for (int t = 0; t < period; ++t) total += x[t];
    double prev = total / period;
    out[period - 1] = prev;
    for (int t = period; t < n; ++t) { prev = ((x[t] - prev) * k) + prev; out[t] = prev; }
}

// sma_1d_nb (cpu/ma.py over kernels/indicators/cpu.py): TA_SMA, period 1 copies.
RQ_DEV void vo_sma(Col x, Col out, int period) {
    int n = x.n;
    if (period == 1) { for (int t = 0; t < n; ++t) out[t] = x[t]; return; }
    int s = vo_first_valid(x);
    double total = 0.0;
    for (int t = 0; t < n; ++t) {
        int k = t - s;
        if (k < 0) { out[t] = RQ_NAN; continue; }
        total += x[t];
        if (k >= period - 1) { out[t] = total / period; total -= x[t - period + 1]; }
        else out[t] = RQ_NAN;
    }
}

// ---------------------------------------------------------------- cpu/volume.py
RQ_DEV void ad_1d(Col h, Col low, Col c, Col v, Col out) {
    double ad = 0.0;
    for (int t = 0; t < c.n; ++t) {
        double rng = h[t] - low[t];
        if (rng > 0.0) ad += (((c[t] - low[t]) - (h[t] - c[t])) / rng) * v[t];
        out[t] = ad;
    }
}

// TA_ADOSC: EMA(fast) - EMA(slow) of the A/D line, both seeded with its first value.
RQ_DEV void adosc_1d(Col h, Col low, Col c, Col v, Col out, int fast, int slow) {
    int n = c.n;
    int lb = imax(fast, slow) - 1;
    double kf = 2.0 / (fast + 1.0), ks = 2.0 / (slow + 1.0);
    double ad = 0.0, ef = 0.0, es = 0.0;
    for (int t = 0; t < n; ++t) {
        double rng = h[t] - low[t];
        if (rng > 0.0) ad += (((c[t] - low[t]) - (h[t] - c[t])) / rng) * v[t];
        if (t == 0) { ef = ad; es = ad; }
        else {
            ef = (kf * ad) + ((1.0 - kf) * ef);
            es = (ks * ad) + ((1.0 - ks) * es);
        }
        if (t >= lb) out[t] = ef - es;
    }
}

RQ_DEV void obv_1d(Col c, Col v, Col out) {
    int n = c.n;
    double obv = v[0], prev = c[0];
    out[0] = obv;
    for (int t = 1; t < n; ++t) {
        if (c[t] > prev) obv += v[t];
        else if (c[t] < prev) obv -= v[t];
        out[t] = obv;
        prev = c[t];
    }
}

RQ_DEV void atr_1d(Col h, Col low, Col c, Col out, int period, bool normalised) {
    int n = c.n;
    if (n <= period) return;
    if (period == 1) {
        for (int t = 1; t < n; ++t) {
            double tr = true_range(h[t], low[t], c[t - 1]);
            if (normalised) out[t] = !is_zero(c[t]) ? (tr / c[t]) * 100.0 : 0.0;
            else out[t] = tr;
        }
        return;
    }
    double total = 0.0;
    for (int t = 1; t <= period; ++t) total += true_range(h[t], low[t], c[t - 1]);
    double prev = total / period;
    for (int t = period; t < n; ++t) {
        if (t > period) {
            prev *= period - 1;
            prev += true_range(h[t], low[t], c[t - 1]);
            prev /= period;
        }
        if (normalised) out[t] = !is_zero(c[t]) ? (prev / c[t]) * 100.0 : 0.0;
        else out[t] = prev;
    }
}

RQ_DEV void trange_1d(Col h, Col low, Col c, Col out) {
    for (int t = 1; t < c.n; ++t) out[t] = true_range(h[t], low[t], c[t - 1]);
}

RQ_DEV void adr_1d(Col h, Col low, Col out, int period, Scratch sc) {
    int n = h.n;
    Col d = sc.take(n);
    for (int t = 0; t < n; ++t) d[t] = h[t] - low[t];
    vo_sma(d, out, period);
}

RQ_DEV void cvi_1d(Col h, Col low, Col out, int period, int rocp, Scratch sc) {
    int n = h.n;
    Col d = sc.take(n);
    for (int t = 0; t < n; ++t) d[t] = h[t] - low[t];
    Col e = sc.take_nan(n);
    vo_ema_k(d, e, period, 2.0 / (period + 1.0));
    for (int t = period - 1 + rocp; t < n; ++t) {
        double prev = e[t - rocp];
        out[t] = prev != 0.0 ? ((e[t] - prev) / prev) * 100.0 : 0.0;
    }
}

RQ_DEV void massi_1d(Col h, Col low, Col out, int fast, int slow, Scratch sc) {
    int n = h.n;
    int lb1 = fast - 1;
    if (n <= 2 * lb1 + slow - 1) return;
    Col d = sc.take(n);
    for (int t = 0; t < n; ++t) d[t] = h[t] - low[t];
    double k = 2.0 / (fast + 1.0);
    Col e1 = sc.take_nan(n);
    Col e2 = sc.take_nan(n);
    vo_ema_k(d, e1, fast, k);
    vo_ema_k(e1.tail(lb1), e2.tail(lb1), fast, k);
    // r = e1 / e2 from bar 2 * lb1 on (d is no longer needed: r takes its plane)
    Col r = d.tail(2 * lb1);
    for (int t = 2 * lb1; t < n; ++t) r[t - 2 * lb1] = e1[t] / e2[t];
    sum_1d(r, out.tail(2 * lb1), slow);
}

RQ_DEV void pvt_1d(Col c, Col v, Col out) {
    double pvt = 0.0;
    out[0] = 0.0;
    for (int t = 1; t < c.n; ++t) {
        double prev = c[t - 1];
        if (prev != 0.0) pvt += ((c[t] - prev) / prev) * v[t];
        out[t] = pvt;
    }
}

RQ_DEV void cmf_1d(Col h, Col low, Col c, Col v, Col out, int period, Scratch sc) {
    int n = c.n;
    Col mfv = sc.take(n);
    for (int t = 0; t < n; ++t) {
        double rng = h[t] - low[t];
        mfv[t] = rng > 0.0 ? (((c[t] - low[t]) - (h[t] - c[t])) / rng) * v[t] : 0.0;
    }
    Col s1 = sc.take_nan(n);
    Col s2 = sc.take_nan(n);
    sum_1d(mfv, s1, period);
    sum_1d(v, s2, period);
    for (int t = period - 1; t < n; ++t) out[t] = s2[t] != 0.0 ? s1[t] / s2[t] : 0.0;
}

RQ_DEV void efi_1d(Col c, Col v, Col out, int period, Scratch sc) {
    int n = c.n;
    if (n <= period) return;
    Col f = sc.take(n - 1);
    for (int t = 1; t < n; ++t) f[t - 1] = (c[t] - c[t - 1]) * v[t];
    vo_ema_k(f, out.tail(1), period, 2.0 / (period + 1.0));
}

RQ_DEV void rvol_1d(Col v, Col out, int period) {
    int n = v.n;
    for (int t = period; t < n; ++t) {
        double total = 0.0;
        for (int i = t - period; i < t; ++i) total += v[i];
        double avg = total / period;
        out[t] = avg != 0.0 ? v[t] / avg : 0.0;
    }
}

RQ_DEV void vwap_1d(Col h, Col low, Col c, Col v, Col out) {
    double spv = 0.0, sv = 0.0;
    for (int t = 0; t < c.n; ++t) {
        spv += ((h[t] + low[t] + c[t]) / 3.0) * v[t];
        sv += v[t];
        out[t] = sv != 0.0 ? spv / sv : 0.0;
    }
}

RQ_DEV void nvi_1d(Col c, Col v, Col out, bool positive) {
    double x = 1000.0;
    out[0] = x;
    for (int t = 1; t < c.n; ++t) {
        bool up = v[t] > v[t - 1];
        bool dn = v[t] < v[t - 1];
        if ((positive && up) || ((!positive) && dn)) {
            double prev = c[t - 1];
            if (prev != 0.0) x += x * ((c[t] - prev) / prev);
        }
        out[t] = x;
    }
}

RQ_DEV void col_volume(int code, Col c0, Col c1, Col c2, Col c3, Col c4, Col* o, const double* p, int s,
                       Scratch sc) {
    if (code == 0) ad_1d(c0, c1, c2, c3, o[0]);
    else if (code == 1) adosc_1d(c0, c1, c2, c3, o[0], (int)p[0], (int)p[1]);
    else if (code == 2) obv_1d(c0, c1, o[0]);
    else if (code == 3) trange_1d(c0, c1, c2, o[0]);
    else if (code == 4 || code == 5) atr_1d(c0, c1, c2, o[0], (int)p[0], code == 5);
    else if (code == 6) adr_1d(c0, c1, o[0], (int)p[0], sc);
    else if (code == 7) cvi_1d(c0, c1, o[0], (int)p[0], (int)p[1], sc);
    else if (code == 8) massi_1d(c0, c1, o[0], (int)p[0], (int)p[1], sc);
    else if (code == 10) pvt_1d(c0, c1, o[0]);
    else if (code == 11) cmf_1d(c0, c1, c2, c3, o[0], (int)p[0], sc);
    else if (code == 12) efi_1d(c0, c1, o[0], (int)p[0], sc);
    else if (code == 13) rvol_1d(c0, o[0], (int)p[0]);
    else if (code == 14) vwap_1d(c0, c1, c2, c3, o[0]);
    else if (code == 15 || code == 16) nvi_1d(c0, c1, o[0], code == 16);
}

RQ_GROUP(volume)
