// TA_SAR / TA_SAREXT (cpu/overlap.py sar_1d_nb) as a state and one bar's step: the one-thread column
// kernel (overlap.cu) and the speculative time segments (scan/speculate.cu) run the same operations.
#ifndef RQ_SAR_CUH
#define RQ_SAR_CUH

#include "column.cuh"

// The accelerations, clamped to their maxima as TA-Lib does (ext: SAREXT, short values negative).
struct SarParams {
    double start, offset, ail, al, aml, ais, as_, ams; bool ext;
    RQ_METHOD void init(double start_, double offset_, double ail_, double al_, double aml_, double ais_,
                        double as__, double ams_, bool ext_) {
        start = start_; offset = offset_; ail = ail_; al = al_; aml = aml_; ais = ais_; as_ = as__; ams = ams_;
        ext = ext_;
        if (ail > aml) ail = aml;
        if (al > aml) al = aml;
        if (ais > ams) ais = ams;
        if (as_ > ams) as_ = ams;
    }
    // The column kernel's parameter vector (cpu/overlap.py _col): code 19 SAR, 20 SAREXT.
    RQ_METHOD void from_vector(bool sarext, const double* p) {
        if (sarext) init(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], true);
        else init(0.0, 0.0, p[0], p[0], p[1], p[0], p[0], p[1], false);
    }
};

struct Sar {
    bool is_long; double sar, ep, af_l, af_s, new_high, new_low;

    // TA-Lib's start from a column's bars 0 and 1 (`start` 0: the direction of their directional
    // movement; else its sign and value); bar 1 is the first to step.
    RQ_METHOD void begin(const SarParams& q, double start, double h0, double l0, double h1, double l1) {
        if (start == 0.0) {
            double dp = h1 - h0;
            double dm = l0 - l1;
            is_long = !(dm > 0.0 && dp < dm);
        } else {
            is_long = start > 0.0;
        }
        af_l = q.ail; af_s = q.ais;
        new_high = h0; new_low = l0;
        if (start == 0.0) {
            if (is_long) { ep = h1; sar = new_low; }
            else { ep = l1; sar = new_high; }
        } else if (start > 0.0) {
            ep = h1; sar = start;
        } else {
            ep = l1; sar = fabs(start);
        }
        new_low = l1;
        new_high = h1;
    }

    // One bar: the state after it; returns the bar's output.
    RQ_METHOD double step(const SarParams& q, double h, double lo) {
        double out;
        double prev_low = new_low, prev_high = new_high;
        new_low = lo;
        new_high = h;
        if (is_long) {
            if (new_low <= sar) {
                is_long = false;
                sar = ep;
                if (sar < prev_high) sar = prev_high;
                if (sar < new_high) sar = new_high;
                if (q.offset != 0.0) sar += sar * q.offset;
                out = q.ext ? -sar : sar;
                af_s = q.ais;
                ep = new_low;
                sar = sar + af_s * (ep - sar);
                if (sar < prev_high) sar = prev_high;
                if (sar < new_high) sar = new_high;
            } else {
                out = sar;
                if (new_high > ep) {
                    ep = new_high;
                    af_l += q.al;
                    if (af_l > q.aml) af_l = q.aml;
                }
                sar = sar + af_l * (ep - sar);
                if (sar > prev_low) sar = prev_low;
                if (sar > new_low) sar = new_low;
            }
        } else if (new_high >= sar) {
            is_long = true;
            sar = ep;
            if (sar > prev_low) sar = prev_low;
            if (sar > new_low) sar = new_low;
            if (q.offset != 0.0) sar -= sar * q.offset;
            out = sar;
            af_l = q.ail;
            ep = new_high;
            sar = sar + af_l * (ep - sar);
            if (sar > prev_low) sar = prev_low;
            if (sar > new_low) sar = new_low;
        } else {
            out = q.ext ? -sar : sar;
            if (new_low < ep) {
                ep = new_low;
                af_s += q.as_;
                if (af_s > q.ams) af_s = q.ams;
            }
            sar = sar + af_s * (ep - sar);
            if (sar < prev_high) sar = prev_high;
            if (sar < new_high) sar = new_high;
        }
        return out;
    }

    // Whether two runs will give the same outputs from here on, bit for bit: the same direction,
    // stop, extreme point and acceleration of that direction (the other one is reset on a reversal;
    // new_high / new_low are the last bar's, the same for runs at the same bar).
    RQ_METHOD bool same(const Sar& o) const {
        return is_long == o.is_long && sar == o.sar && ep == o.ep && (is_long ? af_l == o.af_l : af_s == o.af_s);
    }
};

#endif  // RQ_SAR_CUH
