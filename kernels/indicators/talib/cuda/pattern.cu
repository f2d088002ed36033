// GPU forms of kernels/indicators/talib/cpu/pattern.py: the 61 candlestick patterns (same codes, same
// parameter vector [penetration, lookback]). One pass over the bars per column: the last five bars
// sit in registers (Win), each candle setting keeps TA-Lib's running period total (Avg), and every
// output bar from the lookback on gets 0 or the pattern's value (+/-100, +/-80, +/-200).
// gpu names: all
// scratch planes: 0
#include "column.cuh"
#include "candles.cuh"

// The loop every pattern shares, over bars lb..n-1 in batches of U bars: the batch's open/high/low/close
// are loaded first (independent loads in flight together, instead of one memory round trip per bar),
// then each bar (i0 + u) is pushed into slot 0 of `w` and BODY computes `r` (0 = no pattern) from w and the
// averages, AVGS_NEXT moves the averages on, and the batch's outputs are stored at its end (so that
// the averages' trailing loads are not held behind stores). Bars past the end in the last batch
// repeat bar n - 1 and are not stored. PATTERN_LOOP_FROM starts earlier (CDLHIKKAKE: setups before
// lb count) and stores from lb on. U is RQ_PAT_U (8); the patterns with four or more candle averages
// (PATTERN_LOOP_HEAVY, each 25+ ns a bar in TA-Lib) take RQ_PAT_U_HEAVY (4): the unrolled batch is
// what the compile time grows with, and their per-bar work hides more of the memory latency anyway.
#ifndef RQ_PAT_U
#define RQ_PAT_U 8
#endif
#ifndef RQ_PAT_U_HEAVY
#define RQ_PAT_U_HEAVY (RQ_PAT_U < 4 ? RQ_PAT_U : 4)
#endif
#define PATTERN_LOOP_FROM_U(U, FIRST, BODY, AVGS_NEXT)                                 \
    Win w; w.start(b, FIRST);                                                         \
    for (int i0 = FIRST; i0 < b.n; i0 += (U)) {                                       \
        double q_o[U], q_h[U], q_l[U], q_c[U], q_r[U];                                \
        _Pragma("unroll")                                                             \
        for (int u = 0; u < (U); ++u) {                                               \
            int t = i0 + u < b.n ? i0 + u : b.n - 1;                                  \
            q_o[u] = b.o[t]; q_h[u] = b.h[t]; q_l[u] = b.l[t]; q_c[u] = b.c[t];       \
        }                                                                             \
        _Pragma("unroll")                                                             \
        for (int u = 0; u < (U); ++u) {                                               \
            w.push(q_o[u], q_h[u], q_l[u], q_c[u]);                                   \
            double r = 0.0;                                                           \
            BODY                                                                      \
            q_r[u] = r;                                                               \
            AVGS_NEXT                                                                 \
        }                                                                             \
        _Pragma("unroll")                                                             \
        for (int u = 0; u < (U); ++u)                                                 \
            if (i0 + u >= lb && i0 + u < b.n) out[i0 + u] = q_r[u];                   \
    }
#define PATTERN_LOOP_FROM(FIRST, BODY, AVGS_NEXT) PATTERN_LOOP_FROM_U(RQ_PAT_U, FIRST, BODY, AVGS_NEXT)
#define PATTERN_LOOP(BODY, AVGS_NEXT) PATTERN_LOOP_FROM_U(RQ_PAT_U, lb, BODY, AVGS_NEXT)
#define PATTERN_LOOP_HEAVY(BODY, AVGS_NEXT) PATTERN_LOOP_FROM_U(RQ_PAT_U_HEAVY, lb, BODY, AVGS_NEXT)

// Each pattern is its own (not inlined) device function, called once per column from the switch in
// col_pattern (the kernel does not hold all the pattern bodies inlined).
#ifndef RQ_HOST
#define RQ_PATTERN __device__ __noinline__
#else
#define RQ_PATTERN static
#endif

RQ_PATTERN void cdl2crows(Bars b, Col out, int lb) {  // 0
    Avg<BODY_LONG, 2> bl(b, lb);
    PATTERN_LOOP(
        if (w.col(2) == 1 && w.rb(2) > bl.at(w) && w.col(1) == -1 && w.gap_up(1, 2) && w.col(0) == -1
            && w.o(0) < w.o(1) && w.o(0) > w.c(1) && w.c(0) > w.o(2) && w.c(0) < w.c(2)) r = -100.0;,
        bl.next(b, w);)
}

RQ_PATTERN void cdl3blackcrows(Bars b, Col out, int lb) {  // 1
    Avg<SHADOW_VERY_SHORT, 2> s2(b, lb);
    Avg<SHADOW_VERY_SHORT, 1> s1(b, lb);
    Avg<SHADOW_VERY_SHORT, 0> s0(b, lb);
    PATTERN_LOOP(
        if (w.col(3) == 1 && w.col(2) == -1 && w.ls(2) < s2.at(w) && w.col(1) == -1 && w.ls(1) < s1.at(w)
            && w.col(0) == -1 && w.ls(0) < s0.at(w) && w.o(1) < w.o(2) && w.o(1) > w.c(2)
            && w.o(0) < w.o(1) && w.o(0) > w.c(1) && w.h(3) > w.c(2)
            && w.c(2) > w.c(1) && w.c(1) > w.c(0)) r = -100.0;,
        s2.next(b, w); s1.next(b, w); s0.next(b, w);)
}

RQ_PATTERN void cdl3inside(Bars b, Col out, int lb) {  // 2
    Avg<BODY_LONG, 2> bl(b, lb);
    Avg<BODY_SHORT, 1> bs(b, lb);
    PATTERN_LOOP(
        if (w.rb(2) > bl.at(w) && w.rb(1) <= bs.at(w)
            && py_max(w.c(1), w.o(1)) < py_max(w.c(2), w.o(2)) && py_min(w.c(1), w.o(1)) > py_min(w.c(2), w.o(2))
            && ((w.col(2) == 1 && w.col(0) == -1 && w.c(0) < w.o(2))
                || (w.col(2) == -1 && w.col(0) == 1 && w.c(0) > w.o(2)))) r = -w.col(2) * 100.0;,
        bl.next(b, w); bs.next(b, w);)
}

RQ_PATTERN void cdl3linestrike(Bars b, Col out, int lb) {  // 3
    Avg<NEAR, 3> n3(b, lb);
    Avg<NEAR, 2> n2(b, lb);
    PATTERN_LOOP(
        if (w.col(3) == w.col(2) && w.col(2) == w.col(1) && w.col(0) == -w.col(1)
            && w.o(2) >= py_min(w.o(3), w.c(3)) - n3.at(w) && w.o(2) <= py_max(w.o(3), w.c(3)) + n3.at(w)
            && w.o(1) >= py_min(w.o(2), w.c(2)) - n2.at(w) && w.o(1) <= py_max(w.o(2), w.c(2)) + n2.at(w)
            && ((w.col(1) == 1 && w.c(1) > w.c(2) && w.c(2) > w.c(3) && w.o(0) > w.c(1) && w.c(0) < w.o(3))
                || (w.col(1) == -1 && w.c(1) < w.c(2) && w.c(2) < w.c(3) && w.o(0) < w.c(1) && w.c(0) > w.o(3))))
            r = w.col(1) * 100.0;,
        n3.next(b, w); n2.next(b, w);)
}

RQ_PATTERN void cdl3outside(Bars b, Col out, int lb) {  // 4
    PATTERN_LOOP(
        if ((w.col(1) == 1 && w.col(2) == -1 && w.c(1) > w.o(2) && w.o(1) < w.c(2) && w.c(0) > w.c(1))
            || (w.col(1) == -1 && w.col(2) == 1 && w.o(1) > w.c(2) && w.c(1) < w.o(2) && w.c(0) < w.c(1)))
            r = w.col(1) * 100.0;,
        ;)
}

RQ_PATTERN void cdl3starsinsouth(Bars b, Col out, int lb) {  // 5
    Avg<BODY_LONG, 2> bl(b, lb);
    Avg<SHADOW_LONG, 2> sl(b, lb);
    Avg<SHADOW_VERY_SHORT, 1> v1(b, lb);
    Avg<SHADOW_VERY_SHORT, 0> v0(b, lb);
    Avg<BODY_SHORT, 0> bs(b, lb);
    PATTERN_LOOP_HEAVY(
        if (w.col(2) == -1 && w.col(1) == -1 && w.col(0) == -1
            && w.rb(2) > bl.at(w) && w.ls(2) > sl.at(w)
            && w.rb(1) < w.rb(2) && w.o(1) > w.c(2) && w.o(1) <= w.h(2)
            && w.l(1) < w.c(2) && w.l(1) >= w.l(2) && w.ls(1) > v1.at(w)
            && w.rb(0) < bs.at(w) && w.ls(0) < v0.at(w) && w.us(0) < v0.at(w)
            && w.l(0) > w.l(1) && w.h(0) < w.h(1)) r = 100.0;,
        bl.next(b, w); sl.next(b, w); v1.next(b, w); v0.next(b, w); bs.next(b, w);)
}

RQ_PATTERN void cdl3whitesoldiers(Bars b, Col out, int lb) {  // 6
    Avg<SHADOW_VERY_SHORT, 2> v2(b, lb);
    Avg<SHADOW_VERY_SHORT, 1> v1(b, lb);
    Avg<SHADOW_VERY_SHORT, 0> v0(b, lb);
    Avg<NEAR, 2> n2(b, lb);
    Avg<NEAR, 1> n1(b, lb);
    Avg<FAR, 2> f2(b, lb);
    Avg<FAR, 1> f1(b, lb);
    Avg<BODY_SHORT, 0> bs(b, lb);
    PATTERN_LOOP_HEAVY(
        if (w.col(2) == 1 && w.us(2) < v2.at(w) && w.col(1) == 1 && w.us(1) < v1.at(w)
            && w.col(0) == 1 && w.us(0) < v0.at(w) && w.c(0) > w.c(1) && w.c(1) > w.c(2)
            && w.o(1) > w.o(2) && w.o(1) <= w.c(2) + n2.at(w)
            && w.o(0) > w.o(1) && w.o(0) <= w.c(1) + n1.at(w)
            && w.rb(1) > w.rb(2) - f2.at(w) && w.rb(0) > w.rb(1) - f1.at(w) && w.rb(0) > bs.at(w)) r = 100.0;,
        v2.next(b, w); v1.next(b, w); v0.next(b, w); n2.next(b, w); n1.next(b, w); f2.next(b, w);
        f1.next(b, w); bs.next(b, w);)
}

RQ_PATTERN void cdlabandonedbaby(Bars b, Col out, int lb, double pen) {  // 7
    Avg<BODY_LONG, 2> bl(b, lb);
    Avg<BODY_DOJI, 1> bd(b, lb);
    Avg<BODY_SHORT, 0> bs(b, lb);
    PATTERN_LOOP(
        if (w.rb(2) > bl.at(w) && w.rb(1) <= bd.at(w) && w.rb(0) > bs.at(w)
            && ((w.col(2) == 1 && w.col(0) == -1 && w.c(0) < w.c(2) - w.rb(2) * pen
                 && w.l(1) > w.h(2) && w.h(0) < w.l(1))
                || (w.col(2) == -1 && w.col(0) == 1 && w.c(0) > w.c(2) + w.rb(2) * pen
                    && w.h(1) < w.l(2) && w.l(0) > w.h(1)))) r = w.col(0) * 100.0;,
        bl.next(b, w); bd.next(b, w); bs.next(b, w);)
}

RQ_PATTERN void cdladvanceblock(Bars b, Col out, int lb) {  // 8
    Avg<NEAR, 2> n2(b, lb);
    Avg<NEAR, 1> n1(b, lb);
    Avg<FAR, 2> f2(b, lb);
    Avg<FAR, 1> f1(b, lb);
    Avg<BODY_LONG, 2> bl(b, lb);
    Avg<SHADOW_SHORT, 2> s2(b, lb);
    Avg<SHADOW_SHORT, 1> s1(b, lb);
    Avg<SHADOW_SHORT, 0> s0(b, lb);
    Avg<SHADOW_LONG, 0> sl(b, lb);
    PATTERN_LOOP_HEAVY(
        if (w.col(2) == 1 && w.col(1) == 1 && w.col(0) == 1
            && w.c(0) > w.c(1) && w.c(1) > w.c(2)
            && w.o(1) > w.o(2) && w.o(1) <= w.c(2) + n2.at(w)
            && w.o(0) > w.o(1) && w.o(0) <= w.c(1) + n1.at(w)
            && w.rb(2) > bl.at(w) && w.us(2) < s2.at(w)
            && ((w.rb(1) < w.rb(2) - f2.at(w) && w.rb(0) < w.rb(1) + n1.at(w))
                || (w.rb(0) < w.rb(1) - f1.at(w))
                || (w.rb(0) < w.rb(1) && w.rb(1) < w.rb(2) && (w.us(0) > s0.at(w) || w.us(1) > s1.at(w)))
                || (w.rb(0) < w.rb(1) && w.us(0) > sl.at(w)))) r = -100.0;,
        n2.next(b, w); n1.next(b, w); f2.next(b, w); f1.next(b, w); bl.next(b, w); s2.next(b, w);
        s1.next(b, w); s0.next(b, w); sl.next(b, w);)
}

template <int CODE>
RQ_PATTERN void cdlbelthold_closingmarubozu(Bars b, Col out, int lb) {  // 9, 11
    Avg<BODY_LONG, 0> bl(b, lb);
    Avg<SHADOW_VERY_SHORT, 0> vs(b, lb);
    PATTERN_LOOP(
        bool ok = CODE == 9 ? ((w.col(0) == 1 && w.ls(0) < vs.at(w)) || (w.col(0) == -1 && w.us(0) < vs.at(w)))
                            : ((w.col(0) == 1 && w.us(0) < vs.at(w)) || (w.col(0) == -1 && w.ls(0) < vs.at(w)));
        if (w.rb(0) > bl.at(w) && ok) r = w.col(0) * 100.0;,
        bl.next(b, w); vs.next(b, w);)
}

RQ_PATTERN void cdlbreakaway(Bars b, Col out, int lb) {  // 10
    Avg<BODY_LONG, 4> bl(b, lb);
    PATTERN_LOOP(
        if (w.rb(4) > bl.at(w) && w.col(4) == w.col(3) && w.col(3) == w.col(1) && w.col(1) == -w.col(0)
            && ((w.col(4) == -1 && w.gap_down(3, 4) && w.h(2) < w.h(3) && w.l(2) < w.l(3)
                 && w.h(1) < w.h(2) && w.l(1) < w.l(2) && w.c(0) > w.o(3) && w.c(0) < w.c(4))
                || (w.col(4) == 1 && w.gap_up(3, 4) && w.h(2) > w.h(3) && w.l(2) > w.l(3)
                    && w.h(1) > w.h(2) && w.l(1) > w.l(2) && w.c(0) < w.o(3) && w.c(0) > w.c(4))))
            r = w.col(0) * 100.0;,
        bl.next(b, w);)
}

RQ_PATTERN void cdlconcealbabyswall(Bars b, Col out, int lb) {  // 12
    Avg<SHADOW_VERY_SHORT, 3> v3(b, lb);
    Avg<SHADOW_VERY_SHORT, 2> v2(b, lb);
    Avg<SHADOW_VERY_SHORT, 1> v1(b, lb);
    PATTERN_LOOP(
        if (w.col(3) == -1 && w.col(2) == -1 && w.col(1) == -1 && w.col(0) == -1
            && w.ls(3) < v3.at(w) && w.us(3) < v3.at(w) && w.ls(2) < v2.at(w) && w.us(2) < v2.at(w)
            && w.gap_down(1, 2) && w.us(1) > v1.at(w) && w.h(1) > w.c(2)
            && w.h(0) > w.h(1) && w.l(0) < w.l(1)) r = 100.0;,
        v3.next(b, w); v2.next(b, w); v1.next(b, w);)
}

RQ_PATTERN void cdlcounterattack(Bars b, Col out, int lb) {  // 13
    Avg<EQUAL, 1> eq(b, lb);
    Avg<BODY_LONG, 1> b1(b, lb);
    Avg<BODY_LONG, 0> b0(b, lb);
    PATTERN_LOOP(
        if (w.col(1) == -w.col(0) && w.rb(1) > b1.at(w) && w.rb(0) > b0.at(w)
            && w.c(0) <= w.c(1) + eq.at(w) && w.c(0) >= w.c(1) - eq.at(w)) r = w.col(0) * 100.0;,
        eq.next(b, w); b1.next(b, w); b0.next(b, w);)
}

RQ_PATTERN void cdldarkcloudcover(Bars b, Col out, int lb, double pen) {  // 14
    Avg<BODY_LONG, 1> bl(b, lb);
    PATTERN_LOOP(
        if (w.col(1) == 1 && w.rb(1) > bl.at(w) && w.col(0) == -1 && w.o(0) > w.h(1)
            && w.c(0) > w.o(1) && w.c(0) < w.c(1) - w.rb(1) * pen) r = -100.0;,
        bl.next(b, w);)
}

RQ_PATTERN void cdldoji(Bars b, Col out, int lb) {  // 15
    Avg<BODY_DOJI, 0> bd(b, lb);
    PATTERN_LOOP(
        if (w.rb(0) <= bd.at(w)) r = 100.0;,
        bd.next(b, w);)
}

RQ_PATTERN void cdldojistar(Bars b, Col out, int lb) {  // 16
    Avg<BODY_LONG, 1> bl(b, lb);
    Avg<BODY_DOJI, 0> bd(b, lb);
    PATTERN_LOOP(
        if (w.rb(1) > bl.at(w) && w.rb(0) <= bd.at(w)
            && ((w.col(1) == 1 && w.gap_up(0, 1)) || (w.col(1) == -1 && w.gap_down(0, 1))))
            r = -w.col(1) * 100.0;,
        bl.next(b, w); bd.next(b, w);)
}

template <int CODE>
RQ_PATTERN void cdldragonfly_gravestone(Bars b, Col out, int lb) {  // 17, 22
    Avg<BODY_DOJI, 0> bd(b, lb);
    Avg<SHADOW_VERY_SHORT, 0> vs(b, lb);
    PATTERN_LOOP(
        bool ok = CODE == 17 ? (w.us(0) < vs.at(w) && w.ls(0) > vs.at(w)) : (w.ls(0) < vs.at(w) && w.us(0) > vs.at(w));
        if (w.rb(0) <= bd.at(w) && ok) r = 100.0;,
        bd.next(b, w); vs.next(b, w);)
}

RQ_PATTERN void cdlengulfing(Bars b, Col out, int lb) {  // 18
    PATTERN_LOOP(
        if ((w.col(0) == 1 && w.col(1) == -1
             && ((w.c(0) >= w.o(1) && w.o(0) < w.c(1)) || (w.c(0) > w.o(1) && w.o(0) <= w.c(1))))
            || (w.col(0) == -1 && w.col(1) == 1
                && ((w.o(0) >= w.c(1) && w.c(0) < w.o(1)) || (w.o(0) > w.c(1) && w.c(0) <= w.o(1))))) {
            if (w.o(0) != w.c(1) && w.c(0) != w.o(1)) r = w.col(0) * 100.0;
            else r = w.col(0) * 80.0;
        },
        ;)
}

// CODE 19 EVENINGDOJISTAR, 20 EVENINGSTAR, 42 MORNINGDOJISTAR, 43 MORNINGSTAR
template <int CODE>
RQ_PATTERN void cdlstar(Bars b, Col out, int lb, double pen) {
    Avg<BODY_LONG, 2> bl(b, lb);
    Avg<K_HL, 10, 10, 1> mid_doji(b, lb);   // BODY_DOJI
    Avg<K_RB, 10, 100, 1> mid_short(b, lb);  // BODY_SHORT
    Avg<BODY_SHORT, 0> bs(b, lb);
    const bool doji = CODE == 19 || CODE == 42;
    PATTERN_LOOP_HEAVY(
        double mid = doji ? mid_doji.at(w) : mid_short.at(w);
        if (w.rb(2) > bl.at(w) && w.rb(1) <= mid && w.rb(0) > bs.at(w)) {
            if (CODE <= 20) {
                if (w.col(2) == 1 && w.gap_up(1, 2) && w.col(0) == -1 && w.c(0) < w.c(2) - w.rb(2) * pen) r = -100.0;
            } else if (w.col(2) == -1 && w.gap_down(1, 2) && w.col(0) == 1 && w.c(0) > w.c(2) + w.rb(2) * pen) {
                r = 100.0;
            }
        },
        bl.next(b, w); if (doji) mid_doji.next(b, w); else mid_short.next(b, w); bs.next(b, w);)
}

RQ_PATTERN void cdlgapsidesidewhite(Bars b, Col out, int lb) {  // 21
    Avg<NEAR, 1> nr(b, lb);
    Avg<EQUAL, 1> eq(b, lb);
    PATTERN_LOOP(
        bool up = w.gap_up(1, 2) && w.gap_up(0, 2);
        bool dn = w.gap_down(1, 2) && w.gap_down(0, 2);
        if ((up || dn) && w.col(1) == 1 && w.col(0) == 1
            && w.rb(0) >= w.rb(1) - nr.at(w) && w.rb(0) <= w.rb(1) + nr.at(w)
            && w.o(0) >= w.o(1) - eq.at(w) && w.o(0) <= w.o(1) + eq.at(w)) r = w.gap_up(1, 2) ? 100.0 : -100.0;,
        nr.next(b, w); eq.next(b, w);)
}

template <int CODE>
RQ_PATTERN void cdlhammer_hangingman(Bars b, Col out, int lb) {  // 23, 24
    Avg<BODY_SHORT, 0> bs(b, lb);
    Avg<SHADOW_LONG, 0> sl(b, lb);
    Avg<SHADOW_VERY_SHORT, 0> vs(b, lb);
    Avg<NEAR, 1> nr(b, lb);
    PATTERN_LOOP_HEAVY(
        if (w.rb(0) < bs.at(w) && w.ls(0) > sl.at(w) && w.us(0) < vs.at(w)) {
            if (CODE == 23 && py_min(w.c(0), w.o(0)) <= w.l(1) + nr.at(w)) r = 100.0;
            else if (CODE == 24 && py_min(w.c(0), w.o(0)) >= w.h(1) - nr.at(w)) r = -100.0;
        },
        bs.next(b, w); sl.next(b, w); vs.next(b, w); nr.next(b, w);)
}

template <int CODE>
RQ_PATTERN void cdlharami(Bars b, Col out, int lb) {  // 25 HARAMI, 26 HARAMICROSS
    Avg<BODY_LONG, 1> bl(b, lb);
    Avg<K_RB, 10, 100, 0> sm_short(b, lb);  // BODY_SHORT
    Avg<K_HL, 10, 10, 0> sm_doji(b, lb);    // BODY_DOJI
    PATTERN_LOOP(
        double sm = CODE == 25 ? sm_short.at(w) : sm_doji.at(w);
        if (w.rb(1) > bl.at(w) && w.rb(0) <= sm) {
            if (py_max(w.c(0), w.o(0)) < py_max(w.c(1), w.o(1)) && py_min(w.c(0), w.o(0)) > py_min(w.c(1), w.o(1)))
                r = -w.col(1) * 100.0;
            else if (py_max(w.c(0), w.o(0)) <= py_max(w.c(1), w.o(1)) && py_min(w.c(0), w.o(0)) >= py_min(w.c(1), w.o(1)))
                r = -w.col(1) * 80.0;
        },
        bl.next(b, w); if (CODE == 25) sm_short.next(b, w); else sm_doji.next(b, w);)
}

RQ_PATTERN void cdlhighwave(Bars b, Col out, int lb) {  // 27
    Avg<BODY_SHORT, 0> bs(b, lb);
    Avg<SHADOW_VERY_LONG, 0> vl(b, lb);
    PATTERN_LOOP(
        if (w.rb(0) < bs.at(w) && w.us(0) > vl.at(w) && w.ls(0) > vl.at(w)) r = w.col(0) * 100.0;,
        bs.next(b, w); vl.next(b, w);)
}

// CDLHIKKAKE / CDLHIKKAKEMOD: an inside bar then a breakout (+/-100), confirmed within 3 bars (+/-200).
// Runs from lb - 3 (the setups before the first output bar count); the bar before a setup is kept.
template <bool MOD>
RQ_PATTERN void cdlhikkake(Bars b, Col out, int lb) {  // 28, 29
    // CDLHIKKAKEMOD only: TA-Lib starts the Near total at lb - 3 and checks Near on the bars before lb too
    // (CDLHIKKAKE starts an unused one on bars 0..4, which exist since n > lb = 5)
    Avg<NEAR, 2> nr(b, MOD ? lb - 3 : 2 + 5);
    int pattern_idx = 0;
    double pattern_result = 0.0, setup_h = 0.0, setup_l = 0.0;  // high / low of bar pattern_idx - 1
    PATTERN_LOOP_FROM(lb - 3,
        int i = i0 + u;
        bool setup;
        if (MOD) {
            setup = w.h(2) < w.h(3) && w.l(2) > w.l(3) && w.h(1) < w.h(2) && w.l(1) > w.l(2)
                    && ((w.h(0) < w.h(1) && w.l(0) < w.l(1) && w.c(2) <= w.l(2) + nr.at(w))
                        || (w.h(0) > w.h(1) && w.l(0) > w.l(1) && w.c(2) >= w.h(2) - nr.at(w)));
        } else {
            setup = w.h(1) < w.h(2) && w.l(1) > w.l(2)
                    && ((w.h(0) < w.h(1) && w.l(0) < w.l(1)) || (w.h(0) > w.h(1) && w.l(0) > w.l(1)));
        }
        if (setup) {
            pattern_result = w.h(0) < w.h(1) ? 100.0 : -100.0;
            pattern_idx = i;
            setup_h = w.h(1); setup_l = w.l(1);
            r = pattern_result;
        } else if (i <= pattern_idx + 3
                   && ((pattern_result > 0 && w.c(0) > setup_h) || (pattern_result < 0 && w.c(0) < setup_l))) {
            r = pattern_result + (pattern_result > 0 ? 100.0 : -100.0);
            pattern_idx = 0;
        },
        if (MOD) nr.next(b, w);)
}

RQ_PATTERN void cdlhomingpigeon(Bars b, Col out, int lb) {  // 30
    Avg<BODY_LONG, 1> bl(b, lb);
    Avg<BODY_SHORT, 0> bs(b, lb);
    PATTERN_LOOP(
        if (w.col(1) == -1 && w.col(0) == -1 && w.rb(1) > bl.at(w) && w.rb(0) <= bs.at(w)
            && w.o(0) < w.o(1) && w.c(0) > w.c(1)) r = 100.0;,
        bl.next(b, w); bs.next(b, w);)
}

RQ_PATTERN void cdlidentical3crows(Bars b, Col out, int lb) {  // 31
    Avg<SHADOW_VERY_SHORT, 2> v2(b, lb);
    Avg<SHADOW_VERY_SHORT, 1> v1(b, lb);
    Avg<SHADOW_VERY_SHORT, 0> v0(b, lb);
    Avg<EQUAL, 2> e2(b, lb);
    Avg<EQUAL, 1> e1(b, lb);
    PATTERN_LOOP_HEAVY(
        if (w.col(2) == -1 && w.ls(2) < v2.at(w) && w.col(1) == -1 && w.ls(1) < v1.at(w)
            && w.col(0) == -1 && w.ls(0) < v0.at(w) && w.c(2) > w.c(1) && w.c(1) > w.c(0)
            && w.o(1) <= w.c(2) + e2.at(w) && w.o(1) >= w.c(2) - e2.at(w)
            && w.o(0) <= w.c(1) + e1.at(w) && w.o(0) >= w.c(1) - e1.at(w)) r = -100.0;,
        v2.next(b, w); v1.next(b, w); v0.next(b, w); e2.next(b, w); e1.next(b, w);)
}

// CODE 32 INNECK, 44 ONNECK, 56 THRUSTING
template <int CODE>
RQ_PATTERN void cdlneck(Bars b, Col out, int lb) {
    Avg<EQUAL, 1> eq(b, lb);
    Avg<BODY_LONG, 1> bl(b, lb);
    PATTERN_LOOP(
        if (w.col(1) == -1 && w.rb(1) > bl.at(w) && w.col(0) == 1 && w.o(0) < w.l(1)) {
            bool ok;
            if (CODE == 32) ok = w.c(0) <= w.c(1) + eq.at(w) && w.c(0) >= w.c(1);
            else if (CODE == 44) ok = w.c(0) <= w.l(1) + eq.at(w) && w.c(0) >= w.l(1) - eq.at(w);
            else ok = w.c(0) > w.c(1) + eq.at(w) && w.c(0) <= w.c(1) + w.rb(1) * 0.5;
            if (ok) r = -100.0;
        },
        eq.next(b, w); bl.next(b, w);)
}

template <int CODE>
RQ_PATTERN void cdlinvertedhammer_shootingstar(Bars b, Col out, int lb) {  // 33, 49
    Avg<BODY_SHORT, 0> bs(b, lb);
    Avg<SHADOW_LONG, 0> sl(b, lb);
    Avg<SHADOW_VERY_SHORT, 0> vs(b, lb);
    PATTERN_LOOP(
        if (w.rb(0) < bs.at(w) && w.us(0) > sl.at(w) && w.ls(0) < vs.at(w)) {
            if (CODE == 33 && w.gap_down(0, 1)) r = 100.0;
            else if (CODE == 49 && w.gap_up(0, 1)) r = -100.0;
        },
        bs.next(b, w); sl.next(b, w); vs.next(b, w);)
}

template <int CODE>
RQ_PATTERN void cdlkicking(Bars b, Col out, int lb) {  // 34 KICKING, 35 KICKINGBYLENGTH
    Avg<SHADOW_VERY_SHORT, 1> v1(b, lb);
    Avg<SHADOW_VERY_SHORT, 0> v0(b, lb);
    Avg<BODY_LONG, 1> b1(b, lb);
    Avg<BODY_LONG, 0> b0(b, lb);
    PATTERN_LOOP_HEAVY(
        if (w.col(1) == -w.col(0)
            && w.rb(1) > b1.at(w) && w.us(1) < v1.at(w) && w.ls(1) < v1.at(w)
            && w.rb(0) > b0.at(w) && w.us(0) < v0.at(w) && w.ls(0) < v0.at(w)
            && ((w.col(1) == -1 && w.l(0) > w.h(1)) || (w.col(1) == 1 && w.h(0) < w.l(1)))) {
            if (CODE == 34) r = w.col(0) * 100.0;
            else r = (w.rb(0) > w.rb(1) ? w.col(0) : w.col(1)) * 100.0;
        },
        v1.next(b, w); v0.next(b, w); b1.next(b, w); b0.next(b, w);)
}

RQ_PATTERN void cdlladderbottom(Bars b, Col out, int lb) {  // 36
    Avg<SHADOW_VERY_SHORT, 1> vs(b, lb);
    PATTERN_LOOP(
        if (w.col(4) == -1 && w.col(3) == -1 && w.col(2) == -1
            && w.o(4) > w.o(3) && w.o(3) > w.o(2) && w.c(4) > w.c(3) && w.c(3) > w.c(2)
            && w.col(1) == -1 && w.us(1) > vs.at(w)
            && w.col(0) == 1 && w.o(0) > w.o(1) && w.c(0) > w.h(1)) r = 100.0;,
        vs.next(b, w);)
}

RQ_PATTERN void cdllongleggeddoji(Bars b, Col out, int lb) {  // 37
    Avg<BODY_DOJI, 0> bd(b, lb);
    Avg<SHADOW_LONG, 0> sl(b, lb);
    PATTERN_LOOP(
        if (w.rb(0) <= bd.at(w) && (w.ls(0) > sl.at(w) || w.us(0) > sl.at(w))) r = 100.0;,
        bd.next(b, w); sl.next(b, w);)
}

// CODE 38 LONGLINE (BODY_LONG, SHADOW_SHORT), 39 MARUBOZU (BODY_LONG, SHADOW_VERY_SHORT),
// 50 SHORTLINE (BODY_SHORT, SHADOW_SHORT)
template <int CODE>
RQ_PATTERN void cdlline(Bars b, Col out, int lb) {
    Avg<K_RB, 10, 100, 0> body(b, lb);  // BODY_LONG and BODY_SHORT are the same setting here
    Avg<K_SH, 10, 100, 0> sh_short(b, lb);  // SHADOW_SHORT
    Avg<K_HL, 10, 10, 0> sh_vshort(b, lb);  // SHADOW_VERY_SHORT
    PATTERN_LOOP(
        double sh = CODE == 39 ? sh_vshort.at(w) : sh_short.at(w);
        bool big = CODE == 50 ? w.rb(0) < body.at(w) : w.rb(0) > body.at(w);
        if (big && w.us(0) < sh && w.ls(0) < sh) r = w.col(0) * 100.0;,
        body.next(b, w); if (CODE == 39) sh_vshort.next(b, w); else sh_short.next(b, w);)
}

RQ_PATTERN void cdlmatchinglow(Bars b, Col out, int lb) {  // 40
    Avg<EQUAL, 1> eq(b, lb);
    PATTERN_LOOP(
        if (w.col(1) == -1 && w.col(0) == -1 && w.c(0) <= w.c(1) + eq.at(w) && w.c(0) >= w.c(1) - eq.at(w))
            r = 100.0;,
        eq.next(b, w);)
}

RQ_PATTERN void cdlmathold(Bars b, Col out, int lb, double pen) {  // 41
    Avg<BODY_LONG, 4> bl(b, lb);
    Avg<BODY_SHORT, 3> s3(b, lb);
    Avg<BODY_SHORT, 2> s2(b, lb);
    Avg<BODY_SHORT, 1> s1(b, lb);
    PATTERN_LOOP_HEAVY(
        if (w.rb(4) > bl.at(w) && w.rb(3) < s3.at(w) && w.rb(2) < s2.at(w) && w.rb(1) < s1.at(w)
            && w.col(4) == 1 && w.col(3) == -1 && w.col(0) == 1
            && w.gap_up(3, 4)
            && py_min(w.o(2), w.c(2)) < w.c(4) && py_min(w.o(1), w.c(1)) < w.c(4)
            && py_min(w.o(2), w.c(2)) > w.c(4) - w.rb(4) * pen
            && py_min(w.o(1), w.c(1)) > w.c(4) - w.rb(4) * pen
            && py_max(w.c(2), w.o(2)) < w.o(3) && py_max(w.c(1), w.o(1)) < py_max(w.c(2), w.o(2))
            && w.o(0) > w.c(1) && w.c(0) > py_max(py_max(w.h(3), w.h(2)), w.h(1))) r = 100.0;,
        bl.next(b, w); s3.next(b, w); s2.next(b, w); s1.next(b, w);)
}

RQ_PATTERN void cdlpiercing(Bars b, Col out, int lb) {  // 45
    Avg<BODY_LONG, 1> b1(b, lb);
    Avg<BODY_LONG, 0> b0(b, lb);
    PATTERN_LOOP(
        if (w.col(1) == -1 && w.rb(1) > b1.at(w) && w.col(0) == 1 && w.rb(0) > b0.at(w)
            && w.o(0) < w.l(1) && w.c(0) < w.o(1) && w.c(0) > w.c(1) + w.rb(1) * 0.5) r = 100.0;,
        b1.next(b, w); b0.next(b, w);)
}

RQ_PATTERN void cdlrickshawman(Bars b, Col out, int lb) {  // 46
    Avg<BODY_DOJI, 0> bd(b, lb);
    Avg<SHADOW_LONG, 0> sl(b, lb);
    Avg<NEAR, 0> nr(b, lb);
    PATTERN_LOOP(
        if (w.rb(0) <= bd.at(w) && w.ls(0) > sl.at(w) && w.us(0) > sl.at(w)
            && py_min(w.o(0), w.c(0)) <= w.l(0) + w.hl(0) / 2.0 + nr.at(w)
            && py_max(w.o(0), w.c(0)) >= w.l(0) + w.hl(0) / 2.0 - nr.at(w)) r = 100.0;,
        bd.next(b, w); sl.next(b, w); nr.next(b, w);)
}

RQ_PATTERN void cdlrisefall3methods(Bars b, Col out, int lb) {  // 47
    Avg<BODY_LONG, 4> b4(b, lb);
    Avg<BODY_SHORT, 3> s3(b, lb);
    Avg<BODY_SHORT, 2> s2(b, lb);
    Avg<BODY_SHORT, 1> s1(b, lb);
    Avg<BODY_LONG, 0> b0(b, lb);
    PATTERN_LOOP_HEAVY(
        double k = w.col(4);
        if (w.rb(4) > b4.at(w) && w.rb(3) < s3.at(w) && w.rb(2) < s2.at(w) && w.rb(1) < s1.at(w) && w.rb(0) > b0.at(w)
            && k == -w.col(3) && w.col(3) == w.col(2) && w.col(2) == w.col(1) && w.col(1) == -w.col(0)
            && py_min(w.o(3), w.c(3)) < w.h(4) && py_max(w.o(3), w.c(3)) > w.l(4)
            && py_min(w.o(2), w.c(2)) < w.h(4) && py_max(w.o(2), w.c(2)) > w.l(4)
            && py_min(w.o(1), w.c(1)) < w.h(4) && py_max(w.o(1), w.c(1)) > w.l(4)
            && w.c(2) * k < w.c(3) * k && w.c(1) * k < w.c(2) * k
            && w.o(0) * k > w.c(1) * k && w.c(0) * k > w.c(4) * k) r = 100.0 * k;,
        b4.next(b, w); s3.next(b, w); s2.next(b, w); s1.next(b, w); b0.next(b, w);)
}

RQ_PATTERN void cdlseparatinglines(Bars b, Col out, int lb) {  // 48
    Avg<SHADOW_VERY_SHORT, 0> vs(b, lb);
    Avg<BODY_LONG, 0> bl(b, lb);
    Avg<EQUAL, 1> eq(b, lb);
    PATTERN_LOOP(
        if (w.col(1) == -w.col(0) && w.o(0) <= w.o(1) + eq.at(w) && w.o(0) >= w.o(1) - eq.at(w)
            && w.rb(0) > bl.at(w)
            && ((w.col(0) == 1 && w.ls(0) < vs.at(w)) || (w.col(0) == -1 && w.us(0) < vs.at(w))))
            r = w.col(0) * 100.0;,
        vs.next(b, w); bl.next(b, w); eq.next(b, w);)
}

RQ_PATTERN void cdlspinningtop(Bars b, Col out, int lb) {  // 51
    Avg<BODY_SHORT, 0> bs(b, lb);
    PATTERN_LOOP(
        if (w.rb(0) < bs.at(w) && w.us(0) > w.rb(0) && w.ls(0) > w.rb(0)) r = w.col(0) * 100.0;,
        bs.next(b, w);)
}

RQ_PATTERN void cdlstalledpattern(Bars b, Col out, int lb) {  // 52
    Avg<BODY_LONG, 2> b2(b, lb);
    Avg<BODY_LONG, 1> b1(b, lb);
    Avg<BODY_SHORT, 0> bs(b, lb);
    Avg<SHADOW_VERY_SHORT, 1> vs(b, lb);
    Avg<NEAR, 2> n2(b, lb);
    Avg<NEAR, 1> n1(b, lb);
    PATTERN_LOOP_HEAVY(
        if (w.col(2) == 1 && w.col(1) == 1 && w.col(0) == 1
            && w.c(0) > w.c(1) && w.c(1) > w.c(2)
            && w.rb(2) > b2.at(w) && w.rb(1) > b1.at(w) && w.us(1) < vs.at(w)
            && w.o(1) > w.o(2) && w.o(1) <= w.c(2) + n2.at(w)
            && w.rb(0) < bs.at(w) && w.o(0) >= w.c(1) - w.rb(0) - n1.at(w)) r = -100.0;,
        b2.next(b, w); b1.next(b, w); bs.next(b, w); vs.next(b, w); n2.next(b, w); n1.next(b, w);)
}

RQ_PATTERN void cdlsticksandwich(Bars b, Col out, int lb) {  // 53
    Avg<EQUAL, 2> eq(b, lb);
    PATTERN_LOOP(
        if (w.col(2) == -1 && w.col(1) == 1 && w.col(0) == -1 && w.l(1) > w.c(2)
            && w.c(0) <= w.c(2) + eq.at(w) && w.c(0) >= w.c(2) - eq.at(w)) r = 100.0;,
        eq.next(b, w);)
}

RQ_PATTERN void cdltakuri(Bars b, Col out, int lb) {  // 54
    Avg<BODY_DOJI, 0> bd(b, lb);
    Avg<SHADOW_VERY_SHORT, 0> vs(b, lb);
    Avg<SHADOW_VERY_LONG, 0> vl(b, lb);
    PATTERN_LOOP(
        if (w.rb(0) <= bd.at(w) && w.us(0) < vs.at(w) && w.ls(0) > vl.at(w)) r = 100.0;,
        bd.next(b, w); vs.next(b, w); vl.next(b, w);)
}

RQ_PATTERN void cdltasukigap(Bars b, Col out, int lb) {  // 55
    Avg<NEAR, 1> nr(b, lb);
    PATTERN_LOOP(
        if ((w.gap_up(1, 2) && w.col(1) == 1 && w.col(0) == -1 && w.o(0) < w.c(1) && w.o(0) > w.o(1)
             && w.c(0) < w.o(1) && w.c(0) > py_max(w.c(2), w.o(2)) && fabs(w.rb(1) - w.rb(0)) < nr.at(w))
            || (w.gap_down(1, 2) && w.col(1) == -1 && w.col(0) == 1 && w.o(0) < w.o(1)
                && w.o(0) > w.c(1) && w.c(0) > w.o(1) && w.c(0) < py_min(w.c(2), w.o(2))
                && fabs(w.rb(1) - w.rb(0)) < nr.at(w))) r = w.col(1) * 100.0;,
        nr.next(b, w);)
}

RQ_PATTERN void cdltristar(Bars b, Col out, int lb) {  // 57
    Avg<BODY_DOJI, 2> bd(b, lb);
    PATTERN_LOOP(
        if (w.rb(2) <= bd.at(w) && w.rb(1) <= bd.at(w) && w.rb(0) <= bd.at(w)) {
            if (w.gap_up(1, 2) && py_max(w.o(0), w.c(0)) < py_max(w.o(1), w.c(1))) r = -100.0;
            if (w.gap_down(1, 2) && py_min(w.o(0), w.c(0)) > py_min(w.o(1), w.c(1))) r = 100.0;
        },
        bd.next(b, w);)
}

RQ_PATTERN void cdlunique3river(Bars b, Col out, int lb) {  // 58
    Avg<BODY_LONG, 2> bl(b, lb);
    Avg<BODY_SHORT, 0> bs(b, lb);
    PATTERN_LOOP(
        if (w.rb(2) > bl.at(w) && w.col(2) == -1
            && w.col(1) == -1 && w.c(1) > w.c(2) && w.o(1) <= w.o(2) && w.l(1) < w.l(2)
            && w.rb(0) < bs.at(w) && w.col(0) == 1 && w.o(0) > w.l(1)) r = 100.0;,
        bl.next(b, w); bs.next(b, w);)
}

RQ_PATTERN void cdlupsidegap2crows(Bars b, Col out, int lb) {  // 59
    Avg<BODY_LONG, 2> bl(b, lb);
    Avg<BODY_SHORT, 1> bs(b, lb);
    PATTERN_LOOP(
        if (w.col(2) == 1 && w.rb(2) > bl.at(w) && w.col(1) == -1 && w.rb(1) <= bs.at(w)
            && w.gap_up(1, 2) && w.col(0) == -1 && w.o(0) > w.o(1) && w.c(0) < w.c(1)
            && w.c(0) > w.c(2)) r = -100.0;,
        bl.next(b, w); bs.next(b, w);)
}

RQ_PATTERN void cdlxsidegap3methods(Bars b, Col out, int lb) {  // 60
    PATTERN_LOOP(
        if (w.col(2) == w.col(1) && w.col(1) == -w.col(0)
            && w.o(0) < py_max(w.c(1), w.o(1)) && w.o(0) > py_min(w.c(1), w.o(1))
            && w.c(0) < py_max(w.c(2), w.o(2)) && w.c(0) > py_min(w.c(2), w.o(2))
            && ((w.col(2) == 1 && w.gap_up(1, 2)) || (w.col(2) == -1 && w.gap_down(1, 2))))
            r = w.col(2) * 100.0;,
        ;)
}

// inputs open, high, low, close; p = [penetration, lookback]
RQ_DEV void col_pattern(int code, Col c0, Col c1, Col c2, Col c3, Col c4, Col* o, const double* p, int s,
                        Scratch sc) {
    Bars b; b.o = c0; b.h = c1; b.l = c2; b.c = c3; b.n = c3.n;
    double pen = p[0];
    int lb = (int)p[1];
    if (b.n <= lb) return;
    Col out = o[0];
    switch (code) {
        case 0: cdl2crows(b, out, lb); break;
        case 1: cdl3blackcrows(b, out, lb); break;
        case 2: cdl3inside(b, out, lb); break;
        case 3: cdl3linestrike(b, out, lb); break;
        case 4: cdl3outside(b, out, lb); break;
        case 5: cdl3starsinsouth(b, out, lb); break;
        case 6: cdl3whitesoldiers(b, out, lb); break;
        case 7: cdlabandonedbaby(b, out, lb, pen); break;
        case 8: cdladvanceblock(b, out, lb); break;
        case 9: cdlbelthold_closingmarubozu<9>(b, out, lb); break;
        case 10: cdlbreakaway(b, out, lb); break;
        case 11: cdlbelthold_closingmarubozu<11>(b, out, lb); break;
        case 12: cdlconcealbabyswall(b, out, lb); break;
        case 13: cdlcounterattack(b, out, lb); break;
        case 14: cdldarkcloudcover(b, out, lb, pen); break;
        case 15: cdldoji(b, out, lb); break;
        case 16: cdldojistar(b, out, lb); break;
        case 17: cdldragonfly_gravestone<17>(b, out, lb); break;
        case 18: cdlengulfing(b, out, lb); break;
        case 19: cdlstar<19>(b, out, lb, pen); break;
        case 20: cdlstar<20>(b, out, lb, pen); break;
        case 21: cdlgapsidesidewhite(b, out, lb); break;
        case 22: cdldragonfly_gravestone<22>(b, out, lb); break;
        case 23: cdlhammer_hangingman<23>(b, out, lb); break;
        case 24: cdlhammer_hangingman<24>(b, out, lb); break;
        case 25: cdlharami<25>(b, out, lb); break;
        case 26: cdlharami<26>(b, out, lb); break;
        case 27: cdlhighwave(b, out, lb); break;
        case 28: cdlhikkake<false>(b, out, lb); break;
        case 29: cdlhikkake<true>(b, out, lb); break;
        case 30: cdlhomingpigeon(b, out, lb); break;
        case 31: cdlidentical3crows(b, out, lb); break;
        case 32: cdlneck<32>(b, out, lb); break;
        case 33: cdlinvertedhammer_shootingstar<33>(b, out, lb); break;
        case 34: cdlkicking<34>(b, out, lb); break;
        case 35: cdlkicking<35>(b, out, lb); break;
        case 36: cdlladderbottom(b, out, lb); break;
        case 37: cdllongleggeddoji(b, out, lb); break;
        case 38: cdlline<38>(b, out, lb); break;
        case 39: cdlline<39>(b, out, lb); break;
        case 40: cdlmatchinglow(b, out, lb); break;
        case 41: cdlmathold(b, out, lb, pen); break;
        case 42: cdlstar<42>(b, out, lb, pen); break;
        case 43: cdlstar<43>(b, out, lb, pen); break;
        case 44: cdlneck<44>(b, out, lb); break;
        case 45: cdlpiercing(b, out, lb); break;
        case 46: cdlrickshawman(b, out, lb); break;
        case 47: cdlrisefall3methods(b, out, lb); break;
        case 48: cdlseparatinglines(b, out, lb); break;
        case 49: cdlinvertedhammer_shootingstar<49>(b, out, lb); break;
        case 50: cdlline<50>(b, out, lb); break;
        case 51: cdlspinningtop(b, out, lb); break;
        case 52: cdlstalledpattern(b, out, lb); break;
        case 53: cdlsticksandwich(b, out, lb); break;
        case 54: cdltakuri(b, out, lb); break;
        case 55: cdltasukigap(b, out, lb); break;
        case 56: cdlneck<56>(b, out, lb); break;
        case 57: cdltristar(b, out, lb); break;
        case 58: cdlunique3river(b, out, lb); break;
        case 59: cdlupsidegap2crows(b, out, lb); break;
        case 60: cdlxsidegap3methods(b, out, lb); break;
        default: break;
    }
}

RQ_GROUP(pattern)
