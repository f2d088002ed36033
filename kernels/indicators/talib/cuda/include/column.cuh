// Shared by every group source in this folder: the column view, scratch planes and the
// one-thread-per-column entry point of the TA-Lib GPU backend.
//
// The same text is compiled twice:
//   - by NVRTC through CuPy (kernels/indicators/talib/gpu_columns.py), for the GPU;
//   - by g++ with host_shim.h in front (tests/kernels/indicators/talib/cuda/cuda_host.py), which runs the kernel
//     body once per column on the CPU, so that CI checks the GPU code against TA-Lib with no GPU.
// So keep to the subset both accept: plain C++ with RQ_DEV functions, no CUDA intrinsics except
// through the macros below, math through the overloads in <cmath> / CUDA's math API
// (sqrt, fabs, floor, ceil, log, exp, sin, cos, tan, atan, ...).
//
// Layout: inputs and outputs are C-contiguous (T, N) float64 planes; thread `col` walks bars
// t = 0..T-1 of its column at p[t * N + col] (neighbouring threads read neighbouring columns,
// so every load is coalesced). A group's col_<group>(code, ...) mirrors the Numba `_col` of
// kernels/indicators/talib/cpu/<group>.py: same codes, same parameter vector, same operations in
// the same order (TA-Lib's), so results equal the CPU backend's bit for bit where the math
// functions agree.
#ifndef RQ_COLUMN_CUH
#define RQ_COLUMN_CUH

#ifndef RQ_HOST
#define RQ_DEV __device__ inline
#define RQ_METHOD __device__ __forceinline__
#define RQ_NAN __longlong_as_double(0x7ff8000000000000LL)
#define RQ_INF __longlong_as_double(0x7ff0000000000000LL)
#define RQ_COL_INDEX() ((long long)blockIdx.x * (long long)blockDim.x + (long long)threadIdx.x)
#define RQ_TRAP() __trap()
#define RQ_ATOMIC_MAX(p, v) atomicMax((p), (v))
#endif

typedef long long i64;

#define RQ_MAX_IN 5
#define RQ_MAX_OUT 3

RQ_DEV bool rq_isnan(double v) { return v != v; }

// One column from some bar on: element t is p[t * N]; n bars long. Reads and writes.
// Bars t < off live elsewhere, at w[t * N]: a time segment's warm-up bars (the entry point below),
// which precede the bars the segment owns and must not be written into the output it shares with
// the segment before it. off <= 0 (every input and scratch column) means no such bars.
struct Col {
    double* p; double* w; i64 N; int n; int off;
    RQ_METHOD double& operator[](int t) const { return (t < off ? w : p)[(i64)t * N]; }
    // The column from bar k on (Python's x[k:]).
    RQ_METHOD Col tail(int k) const {
        Col r; r.p = p + (i64)k * N; r.w = w + (i64)k * N; r.N = N; r.n = n - k; r.off = off - k; return r;
    }
    RQ_METHOD void fill(double v) const { for (int t = 0; t < n; ++t) (*this)[t] = v; }
};

RQ_METHOD Col rq_col(double* p, i64 N, int n) { Col r; r.p = p; r.w = p; r.N = N; r.n = n; r.off = 0; return r; }

// This thread's scratch planes: plane k is a column of length n (the CPU kernels' np.empty /
// np.full temporaries). Planes are handed out in order with take(); a kernel that calls another
// kernel gives it the planes it has not taken itself (pass the Scratch by value after taking).
struct Scratch {
    double* base; i64 N; i64 plane; int n_planes; int next;
    RQ_METHOD Col take(int n) {
        if (next >= n_planes) RQ_TRAP();  // more planes than the source's "// scratch planes:" line
        Col r = rq_col(base + (i64)next * plane, N, n); ++next;
        return r;
    }
    RQ_METHOD Col take_nan(int n) { Col r = take(n); r.fill(RQ_NAN); return r; }
    RQ_METHOD Col take_zero(int n) { Col r = take(n); r.fill(0.0); return r; }
};

// ---------------------------------------------------------------- helpers of cpu/common.py
RQ_DEV bool is_zero(double v) { return -0.00000001 < v && v < 0.00000001; }
RQ_DEV bool is_zero_or_neg(double v) { return v < 0.00000001; }
RQ_DEV int imin(int a, int b) { return a < b ? a : b; }
RQ_DEV int imax(int a, int b) { return a > b ? a : b; }

RQ_DEV double true_range(double h, double lo, double prev_close) {
    double greatest = h - lo;
    double v2 = fabs(prev_close - h);
    if (v2 > greatest) greatest = v2;
    double v3 = fabs(prev_close - lo);
    if (v3 > greatest) greatest = v3;
    return greatest;
}

// TA_MAX / TA_MIN / TA_MAXINDEX / TA_MININDEX over `period` bars (index outputs get + offset).
RQ_DEV void max_1d(Col x, Col out, int period) {
    int n = x.n, hi_idx = -1, trailing = 0; double hi = 0.0;
    for (int today = period - 1; today < n; ++today) {
        double v = x[today];
        if (hi_idx < trailing) {
            hi_idx = trailing; hi = x[hi_idx];
            for (int i = trailing + 1; i <= today; ++i) { double w = x[i]; if (w > hi) { hi_idx = i; hi = w; } }
        } else if (v >= hi) { hi_idx = today; hi = v; }
        out[today] = hi; ++trailing;
    }
}
RQ_DEV void min_1d(Col x, Col out, int period) {
    int n = x.n, lo_idx = -1, trailing = 0; double lo = 0.0;
    for (int today = period - 1; today < n; ++today) {
        double v = x[today];
        if (lo_idx < trailing) {
            lo_idx = trailing; lo = x[lo_idx];
            for (int i = trailing + 1; i <= today; ++i) { double w = x[i]; if (w < lo) { lo_idx = i; lo = w; } }
        } else if (v <= lo) { lo_idx = today; lo = v; }
        out[today] = lo; ++trailing;
    }
}
RQ_DEV void argmax_1d(Col x, Col out, int period, double offset) {
    int n = x.n, hi_idx = -1, trailing = 0; double hi = 0.0;
    for (int today = period - 1; today < n; ++today) {
        double v = x[today];
        if (hi_idx < trailing) {
            hi_idx = trailing; hi = x[hi_idx];
            for (int i = trailing + 1; i <= today; ++i) { double w = x[i]; if (w > hi) { hi_idx = i; hi = w; } }
        } else if (v >= hi) { hi_idx = today; hi = v; }
        out[today] = hi_idx + offset; ++trailing;
    }
}
RQ_DEV void argmin_1d(Col x, Col out, int period, double offset) {
    int n = x.n, lo_idx = -1, trailing = 0; double lo = 0.0;
    for (int today = period - 1; today < n; ++today) {
        double v = x[today];
        if (lo_idx < trailing) {
            lo_idx = trailing; lo = x[lo_idx];
            for (int i = trailing + 1; i <= today; ++i) { double w = x[i]; if (w < lo) { lo_idx = i; lo = w; } }
        } else if (v <= lo) { lo_idx = today; lo = v; }
        out[today] = lo_idx + offset; ++trailing;
    }
}
// TA_SUM: running total, add the new bar, emit, drop the trailing bar.
RQ_DEV void sum_1d(Col x, Col out, int period) {
    int n = x.n; double total = 0.0;
    for (int t = 0; t < imin(period - 1, n); ++t) total += x[t];
    for (int t = period - 1; t < n; ++t) { total += x[t]; out[t] = total; total -= x[t - period + 1]; }
}

// ---------------------------------------------------------------- gap marks
// The gap marks of kernels/indicators/gaps_gpu.py, for bars [b, e) of one column: marks (2, N) int,
// -1 to start with; marks[col] = max of T - 1 - t over the bars t where every input is non-NaN (so
// T - 1 - its first valid bar), marks[N + col] = its last bar where an input is NaN. The column misses a
// bar after its start when marks[N + col] > T - 1 - marks[col]. Threads that own a column's bars
// between them mark it whole, in any order (atomic maxima). The scans (scan/*.cu) mark in their first
// phase; the column kernels do not: on the H100 marking there cost more than the gap pass it saves
// (ADX's public call 1.74 -> 3.17 ms; bench/results/talib_gpu_paths_h100_session8_column_marks.json).
RQ_DEV void rq_mark_gaps(const double* const* ins, int n_in, i64 col, i64 N, int T, int b, int e, int* marks) {
    int first = e, bad = -1;
    for (int t = b; t < e; ++t) {
        bool ok = true;
        for (int i = 0; i < n_in; ++i) ok = ok & !rq_isnan(ins[i][(i64)t * N + col]);  // every load issued
        if (!ok) bad = t; else if (first == e) first = t;
    }
    if (first < e) RQ_ATOMIC_MAX(&marks[col], T - 1 - first);
    if (bad >= 0) RQ_ATOMIC_MAX(&marks[N + col], bad);
}

// ---------------------------------------------------------------- the entry point
// RQ_GROUP(name): defines `extern "C" __global__ void talib_<name>(...)`, one thread per (column,
// time segment). Segment g owns bars [b, e) = [g * seg, min(T, (g + 1) * seg)) of its column: NaN
// in every output bar it owns, then its first bar s >= b - warm where every input is non-NaN, then
// col_<name>(code, c[5], o[3], p, s, scratch) on the bars s .. e - 1 (the CPU backend's run_nb on
// that stretch). Bars before b are the segment's warm-up: their outputs go to the thread's own
// warm planes (Col::off), never to the output the segment before it owns. With seg >= T (one
// segment) this is the whole column from its first valid bar: TA-Lib's semantics exactly. With
// shorter segments the caller (gpu_columns.run) guarantees that `warm` bars of history determine a
// function's value to 1e-9 and that no column misses a bar after its start.
// Memory: out (n_out, T, N); scratch (n_scratch, S, L, N) with L = min(T, seg + warm) and
// S = ceil(T / seg): a thread's planes; wbuf (n_out, S, warm, N): its warm planes.
// Under RQ_HOST it also defines host_talib_<name>(...), which runs that body for every thread.
#define RQ_GROUP_BODY(NAME)                                                                             \
    {                                                                                                  \
        i64 col = idx % N, g = idx / N;                                                                \
        int S = (T + seg - 1) / seg;                                                                   \
        if (g >= S) return;                                                                            \
        int b = (int)g * seg, e = b + seg < T ? b + seg : T;                                           \
        int L = seg + warm < T ? seg + warm : T;                                                       \
        const double* ins[RQ_MAX_IN] = {a0, a1, a2, a3, a4};                                           \
        i64 plane = (i64)T * N;                                                                        \
        for (int k = 0; k < n_out; ++k)                                                                \
            for (int t = b; t < e; ++t) out[k * plane + (i64)t * N + col] = RQ_NAN;                    \
        int from = b - warm > 0 ? b - warm : 0;                                                        \
        int s = e;                                                                                     \
        for (int t = from; t < e && s == e; ++t) {                                                     \
            bool ok = true;                                                                            \
            for (int i = 0; i < n_in; ++i) if (rq_isnan(ins[i][(i64)t * N + col])) { ok = false; break; } \
            if (ok) s = t;                                                                             \
        }                                                                                              \
        if (s >= e) return;                                                                            \
        Col c[RQ_MAX_IN];                                                                              \
        for (int i = 0; i < RQ_MAX_IN; ++i)                                                            \
            c[i] = rq_col(const_cast<double*>(ins[i < n_in ? i : 0]) + (i64)s * N + col, N, e - s);     \
        i64 wplane = (i64)S * warm * N;                                                                \
        double* wb = wbuf + (i64)g * warm * N + col + (i64)(s - (b - warm)) * N;                       \
        Col o[RQ_MAX_OUT];                                                                             \
        for (int k = 0; k < RQ_MAX_OUT; ++k) {                                                         \
            int kk = k < n_out ? k : 0;                                                                \
            o[k] = rq_col(out + kk * plane + (i64)s * N + col, N, e - s);                              \
            o[k].w = wb + kk * wplane; o[k].off = b - s;                                               \
        }                                                                                              \
        for (int k = 0; k < n_out; ++k)                                                                \
            for (int t = 0; t < b - s; ++t) wb[k * wplane + (i64)t * N] = RQ_NAN;                      \
        Scratch sc; sc.base = scratch + (i64)g * L * N + col; sc.N = N; sc.plane = (i64)S * L * N;     \
        sc.n_planes = n_scratch; sc.next = 0;                                                          \
        col_##NAME(code, c[0], c[1], c[2], c[3], c[4], o, p, s, sc);                                   \
    }

#define RQ_GROUP_ARGS                                                                                  \
    int code, const double* a0, const double* a1, const double* a2, const double* a3, const double* a4, \
        int n_in, const double* p, double* out, int n_out, double* scratch, int n_scratch, int T, i64 N,  \
        int seg, int warm, double* wbuf

#ifndef RQ_HOST
#define RQ_GROUP(NAME)                                                                                 \
    extern "C" __global__ void talib_##NAME(RQ_GROUP_ARGS) {                                           \
        i64 idx = RQ_COL_INDEX();                                                                      \
        RQ_GROUP_BODY(NAME)                                                                            \
    }
#else
#define RQ_GROUP(NAME)                                                                                 \
    static void talib_col_##NAME(i64 idx, RQ_GROUP_ARGS) RQ_GROUP_BODY(NAME)                            \
    extern "C" void host_talib_##NAME(RQ_GROUP_ARGS) {                                                 \
        i64 threads = N * (i64)((T + seg - 1) / seg);                                                  \
        for (i64 idx = 0; idx < threads; ++idx)                                                        \
            talib_col_##NAME(idx, code, a0, a1, a2, a3, a4, n_in, p, out, n_out, scratch, n_scratch, T, N, \
                             seg, warm, wbuf);                                                         \
    }
#endif

#endif  // RQ_COLUMN_CUH
