// The Hilbert-transform machinery of TA-Lib's cycle family and MAMA: a C port of ht_1d_nb in
// kernels/indicators/talib/cpu/cycle.py (same steps, same operation order). Used by ma.cuh
// (MA with matype 7 = MAMA) and cycle.cu (HT_* and MAMA). Needs no scratch planes: its state is a
// few scalars and two small fixed-size rings (4 x 2 Hilbert buffers, 50 smoothed prices).
#ifndef RQ_CYCLE_CORE_CUH
#define RQ_CYCLE_CORE_CUH

#include "column.cuh"
#include "cycle_sincos.cuh"

// A device function compiled once and called (not inlined at every call site): for the large
// kernels that several functions of a group reach (ht_1d, ma_1d), which would otherwise multiply
// the NVRTC / ptxas time of the group's module.
#ifndef RQ_NOINL
#ifdef RQ_HOST
#define RQ_NOINL static
#else
#define RQ_NOINL static __device__ __noinline__
#endif
#endif

// atan(1.0) as glibc returns it (the double nearest pi/4), written out so that the GPU's atan
// (which may differ in the last bit) does not enter the degree/radian constants.
#define RQ_HT_ATAN1 0.78539816339744830962

// One Hilbert transform step; s holds [buf0, buf1, buf2, prev, prev_input] (cycle.py's _hilbert).
RQ_DEV double ht_hilbert(double* s, int idx, double value, double adj) {
    double tmp = 0.0962 * value;
    double r = 0.0 - s[idx];
    s[idx] = tmp;
    r += tmp;
    r -= s[3];
    s[3] = 0.5769 * s[4];
    r += s[3];
    s[4] = value;
    r *= adj;
    return r;
}

// kind: 0 DCPERIOD, 1 PHASOR, 2 DCPHASE, 3 SINE, 4 TRENDLINE, 5 TRENDMODE, 6 MAMA. Writes o0 (and o1
// for PHASOR, SINE, MAMA) from bar `lookback` on. For MAMA o1 (FAMA) is written before o0 (MAMA), so
// a caller that wants MAMA alone may pass o1 = o0. The price smoother's warm-up runs `warm` bars.
RQ_NOINL void ht_1d(Col x, Col o0, Col o1, int kind, int lookback, double fastlimit, double slowlimit, int warm) {
    int n = x.n;
    if (n <= lookback) return;
    const double rad2deg = 180.0 / (4.0 * RQ_HT_ATAN1);
    const double deg2rad = 1.0 / rad2deg;
    const double const_deg2rad_by360 = 2.0 * (4.0 * RQ_HT_ATAN1);
    int trailing = 0;
    int today = 0;
    double v = x[today];
    ++today;
    double wsub = v;
    double wsum = v;
    v = x[today];
    ++today;
    wsub += v;
    wsum += v * 2.0;
    v = x[today];
    ++today;
    wsub += v;
    wsum += v * 3.0;
    double trailing_value = 0.0;
    double smoothed = 0.0;
    for (int w = 0; w < warm; ++w) {
        v = x[today];
        ++today;
        wsub += v;
        wsub -= trailing_value;
        wsum += v * 4.0;
        trailing_value = x[trailing];
        ++trailing;
        smoothed = wsum * 0.1;
        wsum -= wsub;
    }
    double st[4][2][5];
    for (int a = 0; a < 4; ++a)
        for (int b = 0; b < 2; ++b)
            for (int c = 0; c < 5; ++c) st[a][b][c] = 0.0;
    int hidx = 0;
    double period = 0.0, prev_q2 = 0.0, prev_i2 = 0.0, re = 0.0, im = 0.0;
    double i1_odd3 = 0.0, i1_even3 = 0.0, i1_odd2 = 0.0, i1_even2 = 0.0;
    double smooth_period = 0.0;
    double smooth_price[50];
    for (int i = 0; i < 50; ++i) smooth_price[i] = 0.0;
    int sp_idx = 0;
    double dc_phase = 0.0, i_trend1 = 0.0, i_trend2 = 0.0, i_trend3 = 0.0;
    int days_in_trend = 0;
    double prev_dc_phase = 0.0, sine = 0.0, lead_sine = 0.0, prev_phase = 0.0, mama = 0.0, fama = 0.0;
    double trendline = 0.0, ph = 0.0;
    // From here trailing == today - 3: the price smoother's trailing bar comes from three registers
    // (r1..r3 = x[today-1..today-3]), and the next bar's price is loaded one bar ahead, so that its
    // memory latency hides behind this bar's arithmetic (one thread per column has little else to run).
    double r1 = x[today - 1], r2 = x[today - 2], r3 = x[today - 3];
    double nxt = today < n ? x[today] : 0.0;
    while (today < n) {
        double adj = 0.075 * period + 0.54;
        double tv = nxt;
        if (today + 1 < n) nxt = x[today + 1];
        wsub += tv;
        wsub -= trailing_value;
        wsum += tv * 4.0;
        trailing_value = r3;  // x[trailing], trailing = today - 3
        r3 = r2;
        r2 = r1;
        r1 = tv;
        smoothed = wsum * 0.1;
        wsum -= wsub;
        smooth_price[sp_idx] = smoothed;
        double q2, i2;
        if (today % 2 == 0) {
            double detrender = ht_hilbert(st[0][0], hidx, smoothed, adj);
            double q1 = ht_hilbert(st[1][0], hidx, detrender, adj);
            if (kind == 1 && today >= lookback) {
                o0[today] = i1_even3;
                o1[today] = q1;
            }
            if (kind == 6) ph = i1_even3 != 0.0 ? atan(q1 / i1_even3) * rad2deg : 0.0;
            double ji = ht_hilbert(st[2][0], hidx, i1_even3, adj);
            double jq = ht_hilbert(st[3][0], hidx, q1, adj);
            ++hidx;
            if (hidx == 3) hidx = 0;
            q2 = 0.2 * (q1 + ji) + 0.8 * prev_q2;
            i2 = 0.2 * (i1_even3 - jq) + 0.8 * prev_i2;
            i1_odd3 = i1_odd2;
            i1_odd2 = detrender;
        } else {
            double detrender = ht_hilbert(st[0][1], hidx, smoothed, adj);
            double q1 = ht_hilbert(st[1][1], hidx, detrender, adj);
            if (kind == 1 && today >= lookback) {
                o0[today] = i1_odd3;
                o1[today] = q1;
            }
            if (kind == 6) ph = i1_odd3 != 0.0 ? atan(q1 / i1_odd3) * rad2deg : 0.0;
            double ji = ht_hilbert(st[2][1], hidx, i1_odd3, adj);
            double jq = ht_hilbert(st[3][1], hidx, q1, adj);
            q2 = 0.2 * (q1 + ji) + 0.8 * prev_q2;
            i2 = 0.2 * (i1_odd3 - jq) + 0.8 * prev_i2;
            i1_even3 = i1_even2;
            i1_even2 = detrender;
        }
        if (kind == 6) {
            double d = prev_phase - ph;
            prev_phase = ph;
            if (d < 1.0) d = 1.0;
            if (d > 1.0) {
                d = fastlimit / d;
                if (d < slowlimit) d = slowlimit;
            } else {
                d = fastlimit;
            }
            mama = d * tv + (1.0 - d) * mama;
            d *= 0.5;
            fama = d * mama + (1.0 - d) * fama;
            if (today >= lookback) {
                o1[today] = fama;  // before o0: o1 may alias o0 (MA with matype 7)
                o0[today] = mama;
            }
        }
        re = 0.2 * (i2 * prev_i2 + q2 * prev_q2) + 0.8 * re;
        im = 0.2 * (i2 * prev_q2 - q2 * prev_i2) + 0.8 * im;
        prev_q2 = q2;
        prev_i2 = i2;
        double t1 = period;
        if (im != 0.0 && re != 0.0) period = 360.0 / (atan(im / re) * rad2deg);
        double t2 = 1.5 * t1;
        if (period > t2) period = t2;
        t2 = 0.67 * t1;
        if (period < t2) period = t2;
        if (period < 6) period = 6.0;
        else if (period > 50) period = 50.0;
        period = 0.2 * period + 0.8 * t1;
        smooth_period = 0.33 * period + 0.67 * smooth_period;
        if (kind == 0 && today >= lookback) o0[today] = smooth_period;
        if (kind >= 2 && kind <= 5) {
            int dc_period_int = (int)(smooth_period + 0.5);
            if (kind != 4) {
                double real_part = 0.0, imag_part = 0.0;
                int idx = sp_idx;
                if (dc_period_int >= 1 && dc_period_int <= RQ_HT_TABLE_MAX_DC) {
                    // sin / cos of (i * 2 pi) / dc from the table (glibc's values, cycle_sincos.cuh)
                    const double* ts = rq_ht_sin + dc_period_int * (dc_period_int - 1) / 2;
                    const double* tc = rq_ht_cos + dc_period_int * (dc_period_int - 1) / 2;
                    for (int i = 0; i < dc_period_int; ++i) {
                        double b = smooth_price[idx];
                        real_part += ts[i] * b;
                        imag_part += tc[i] * b;
                        if (idx == 0) idx = 49;
                        else --idx;
                    }
                } else {
                    for (int i = 0; i < dc_period_int; ++i) {
                        double a = (i * const_deg2rad_by360) / dc_period_int;
                        double b = smooth_price[idx];
                        real_part += sin(a) * b;
                        imag_part += cos(a) * b;
                        if (idx == 0) idx = 49;
                        else --idx;
                    }
                }
                double a = fabs(imag_part);
                if (a > 0.0) {
                    dc_phase = atan(real_part / imag_part) * rad2deg;
                } else if (a <= 0.01) {
                    if (real_part < 0.0) dc_phase -= 90.0;
                    else if (real_part > 0.0) dc_phase += 90.0;
                }
                dc_phase += 90.0;
                dc_phase += 360.0 / smooth_period;
                if (imag_part < 0.0) dc_phase += 180.0;
                if (dc_phase > 315.0) dc_phase -= 360.0;
            }
            if (kind == 4 || kind == 5) {
                double a = 0.0;
                int idx = today;
                for (int i = 0; i < dc_period_int; ++i) {
                    a += x[idx < 0 ? idx + n : idx];  // Python's x[-k] where the window would start before bar 0
                    --idx;
                }
                if (dc_period_int > 0) a /= dc_period_int;
                trendline = (4.0 * a + 3.0 * i_trend1 + 2.0 * i_trend2 + i_trend3) / 10.0;
                i_trend3 = i_trend2;
                i_trend2 = i_trend1;
                i_trend1 = a;
            }
            if (today >= lookback) {
                if (kind == 2) {
                    o0[today] = dc_phase;
                } else if (kind == 3) {
                    o0[today] = sin(dc_phase * deg2rad);
                    o1[today] = sin((dc_phase + 45.0) * deg2rad);
                } else if (kind == 4) {
                    o0[today] = trendline;
                }
            }
            if (kind == 5) {
                double prev_sine = sine;
                double prev_lead = lead_sine;
                sine = sin(dc_phase * deg2rad);
                lead_sine = sin((dc_phase + 45.0) * deg2rad);
                double trend = 1.0;
                if ((sine > lead_sine && prev_sine <= prev_lead) || (sine < lead_sine && prev_sine >= prev_lead)) {
                    days_in_trend = 0;
                    trend = 0.0;
                }
                ++days_in_trend;
                if (days_in_trend < 0.5 * smooth_period) trend = 0.0;
                double a = dc_phase - prev_dc_phase;
                if (smooth_period != 0.0 && a > 0.67 * 360.0 / smooth_period && a < 1.5 * 360.0 / smooth_period)
                    trend = 0.0;
                a = smooth_price[sp_idx];
                if (trendline != 0.0 && fabs((a - trendline) / trendline) >= 0.015) trend = 1.0;
                prev_dc_phase = dc_phase;
                if (today >= lookback) o0[today] = trend;
            }
        }
        ++sp_idx;
        if (sp_idx == 50) sp_idx = 0;
        ++today;
    }
}

#endif  // RQ_CYCLE_CORE_CUH
