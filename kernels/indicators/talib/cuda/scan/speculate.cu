// SAR and SAREXT with several threads per column: speculative time segments, verified bit for bit
// (kernels/indicators/talib/gpu_scan.py runs this source; the host build checks it in CI).
//
// SAR's state (direction, stop, extreme point, acceleration) is not an affine function of where a
// column started, but it forgets it: two runs started at different bars reach the same state, bit
// for bit, at the first reversal that both take (on daily data all columns within 128 bars). So:
//   1. sp_run: thread (column, segment g) starts `warm` bars before its segment with TA-Lib's own
//      start at that bar, runs the warm-up, keeps its state at the segment's first bar (its guess),
//      then runs its bars writing their outputs and keeps its end state. A column that starts
//      inside the warm-up (or the first segment) is run from its true start: exact.
//   2. sp_fix: a thread per column walks its segments: where a guess differs from the end state of
//      the segment before (bit for bit, include/sar.cuh Sar::same), it runs that segment again from
//      that end state, overwriting its outputs. So the outputs are always the one-thread kernel's;
//      only the time depends on how soon the guesses agree.
// Columns must have no gap after their first valid bar (gpu_scan.run's caller guarantees it).
//
// Memory (S segments, N columns): kinds (S, N) int: -1 no output state, -2 guessed, -3 exact;
// guess and end (S, SP_STATE, N): a segment's state at its first bar and after its last; out (T, N).
#include "column.cuh"
#include "sar.cuh"

#define SP_STATE 7

RQ_DEV void sp_store(const Sar& st, double* base, i64 N) {
    base[0] = st.is_long ? 1.0 : 0.0; base[N] = st.sar; base[2 * N] = st.ep; base[3 * N] = st.af_l;
    base[4 * N] = st.af_s; base[5 * N] = st.new_high; base[6 * N] = st.new_low;
}

RQ_DEV Sar sp_load(const double* base, i64 N) {
    Sar st;
    st.is_long = base[0] != 0.0; st.sar = base[N]; st.ep = base[2 * N]; st.af_l = base[3 * N];
    st.af_s = base[4 * N]; st.new_high = base[5 * N]; st.new_low = base[6 * N];
    return st;
}

#define SP_ARGS                                                                                       \
    int code, const double* high, const double* low, const double* p, int T, i64 N, int seg, int warm,   \
        int* kinds, double* guess, double* end, double* out, int* marks

RQ_DEV bool sp_valid(const double* h, const double* lo, i64 N, int t) {
    return !rq_isnan(h[(i64)t * N]) && !rq_isnan(lo[(i64)t * N]);
}

RQ_DEV void sp_run_thread(i64 idx, SP_ARGS) {
    i64 col = idx % N; int g = (int)(idx / N), S = (T + seg - 1) / seg;
    if (g >= S) return;
    int b = g * seg, e = b + seg < T ? b + seg : T;
    if (marks) {  // the gap marks of the bars this thread owns (column.cuh)
        const double* ins[2] = {high, low};
        rq_mark_gaps(ins, 2, col, N, T, b, e, marks);
    }
    const double* h = high + col; const double* lo = low + col; double* o = out + col;
    i64 at = (i64)g * N + col;
    SarParams q; q.from_vector(code == 1, p);
    for (int t = b; t < e; ++t) o[(i64)t * N] = RQ_NAN;
    int a = b - warm, kind;
    Sar st;
    if (a - 1 >= 0 && sp_valid(h, lo, N, a - 1)) {  // the column started before the warm-up: guess
        kind = -2;
        st.begin(q, 0.0, h[(i64)a * N], lo[(i64)a * N], h[(i64)(a + 1) * N], lo[(i64)(a + 1) * N]);
        for (int t = a + 1; t < b; ++t) st.step(q, h[(i64)t * N], lo[(i64)t * N]);
        sp_store(st, guess + (i64)g * SP_STATE * N + col, N);
    } else {  // the column's true start s is here (or later): run from it
        if (!sp_valid(h, lo, N, e - 1)) { kinds[at] = -1; return; }
        int s = a > 0 ? a : 0;
        while (!sp_valid(h, lo, N, s)) ++s;
        if (s + 1 >= T) { kinds[at] = -1; return; }  // one bar: no output (TA-Lib needs two)
        kind = -3;
        st.begin(q, q.start, h[(i64)s * N], lo[(i64)s * N], h[(i64)(s + 1) * N], lo[(i64)(s + 1) * N]);
        for (int t = s + 1; t < b; ++t) st.step(q, h[(i64)t * N], lo[(i64)t * N]);
        a = s;
    }
    for (int t = (a + 1 > b ? a + 1 : b); t < e; ++t) o[(i64)t * N] = st.step(q, h[(i64)t * N], lo[(i64)t * N]);
    sp_store(st, end + (i64)g * SP_STATE * N + col, N);
    kinds[at] = kind;
}

RQ_DEV void sp_fix_thread(i64 col, SP_ARGS) {
    if (col >= N) return;
    int S = (T + seg - 1) / seg;
    const double* h = high + col; const double* lo = low + col; double* o = out + col;
    SarParams q; q.from_vector(code == 1, p);
    Sar last;
    for (int g = 0; g < S; ++g) {
        int k = kinds[(i64)g * N + col];
        if (k == -1) continue;
        if (k == -2 && !sp_load(guess + (i64)g * SP_STATE * N + col, N).same(last)) {
            int b = g * seg, e = b + seg < T ? b + seg : T;
            for (int t = b; t < e; ++t) o[(i64)t * N] = last.step(q, h[(i64)t * N], lo[(i64)t * N]);
            continue;
        }
        last = sp_load(end + (i64)g * SP_STATE * N + col, N);
    }
}

#define SP_CALL code, high, low, p, T, N, seg, warm, kinds, guess, end, out, marks

#ifndef RQ_HOST
extern "C" __global__ void sp_run(SP_ARGS) { sp_run_thread(RQ_COL_INDEX(), SP_CALL); }
extern "C" __global__ void sp_fix(SP_ARGS) { sp_fix_thread(RQ_COL_INDEX(), SP_CALL); }
#else
// The host build: each phase runs its threads one after another.
extern "C" void host_sp_run(i64 threads, SP_ARGS) { for (i64 i = 0; i < threads; ++i) sp_run_thread(i, SP_CALL); }
extern "C" void host_sp_fix(i64 threads, SP_ARGS) { for (i64 i = 0; i < threads; ++i) sp_fix_thread(i, SP_CALL); }
#endif
