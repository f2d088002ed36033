"""GPU backend of the streaming indicators: one CUDA kernel per tick batch (CuPy RawModule).

`stream_advance` runs one thread per symbol: it loads the symbol's packed state
(layout and step as `stream_cpu.advance_nb`, operation by operation) into
registers, steps it through its ticks (one for a tick batch, T for a seed from a
(T, S) history), and stores it back. The source is compiled with `--fmad=false`
so that no multiply-add is contracted: the results are the CPU kernel's bits.

`stream_validate` checks a tick batch that is already on the device (indices in
range and distinct, values finite) without a host round trip: it writes the call's
stamp into `err[0]` when something is wrong, and `stream_advance` launched after it
with `gate` = that stamp returns without touching the state. The caller then reads
`err` once (one sync) and explains the error on the host side.

State arrays are CuPy (`values` (n_scalars, S), `counters` (n_counters, S) int64,
`sma_buf` (S, sma_period), `std_buf` (S, std_period), `roc_buf` (S, roc_period));
`ip` / `dp` are the
parameter vectors of `stream_cpu` on the device. CuPy is imported lazily.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

BLOCK = 128  # threads per block (one per symbol)
_OPTIONS = ("-std=c++14", "--fmad=false")  # no contracted multiply-adds: the CPU kernel's bits

_SOURCE = r"""
typedef long long i64;
typedef unsigned long long u64;
#define QNAN __longlong_as_double(0x7ff8000000000000LL)

extern "C" __global__ void stream_advance(
    double* values, i64* counters, double* sma_buf, double* std_buf, double* roc_buf,
    const i64* sym, const int use_sym,
    const double* h, const double* lo, const double* c, const double* v,
    const int n_steps, const i64 ld, double* out, const i64 m, const i64 S,
    const i64* ip, const double* dp, const i64* err, const i64 gate)
{
    const i64 j = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= m) return;
    if (err[0] == gate) return;  // the batch failed validation: leave the state alone
    const i64 i = use_sym ? sym[j] : j;

    const int ema_p = (int)ip[0], rsi_p = (int)ip[1], fp = (int)ip[2], sp = (int)ip[3], gp = (int)ip[4];
    const int atr_p = (int)ip[5], sma_p = (int)ip[6], std_p = (int)ip[7], roc_p = (int)ip[8];
    const double nbdev = dp[0], c6 = dp[1], c12 = dp[2];
    const double ema_kf = 2.0 / (ema_p + 1.0);
    const double rsi_keep = (rsi_p - 1.0) / rsi_p, rsi_new = 1.0 / rsi_p;
    const double ks = 2.0 / (sp + 1.0), kfa = 2.0 / (fp + 1.0), kg = 2.0 / (gp + 1.0);
    const i64 seed_k = sp - 1, lookback = seed_k + gp - 1;
    const double atr_keep = (atr_p - 1.0) / atr_p, atr_new = 1.0 / atr_p;
    const double inv = 1.0 / std_p;
    double* sb = sma_buf + i * sma_p;
    double* db = std_buf + i * std_p;
    double* rb = roc_buf + i * roc_p;

    double ema_sum = values[0 * S + i], ema = values[1 * S + i];
    double rsi_prev = values[2 * S + i], gain = values[3 * S + i], loss = values[4 * S + i];
    double sum_slow = values[5 * S + i], sum_fast = values[6 * S + i], sum_sig = values[7 * S + i];
    double slow = values[8 * S + i], fast = values[9 * S + i], sig = values[10 * S + i];
    double pc = values[11 * S + i], atr_total = values[12 * S + i], atr = values[13 * S + i];
    double ob = values[14 * S + i], obv_prev = values[15 * S + i];
    double sma_total = values[16 * S + i];
    double shift = values[17 * S + i], t1 = values[18 * S + i], t2 = values[19 * S + i], peak = values[20 * S + i];
    i64 k = counters[0 * S + i], ka = counters[1 * S + i], ko = counters[2 * S + i], bars = counters[3 * S + i];

    double o_ema = QNAN, o_rsi = QNAN, o_macd = QNAN, o_sig = QNAN, o_hist = QNAN;
    double o_atr = QNAN, o_obv = QNAN, o_sma = QNAN, o_std = QNAN, o_roc = QNAN;
    for (int t = 0; t < n_steps; ++t) {
        const i64 x = (i64)t * ld + j;
        const double hh = h[x], ll = lo[x], cc = c[x], vv = v[x];
        if (k >= 0 || !isnan(cc)) k += 1;
        const bool on = k >= 0;

        // ---- EMA
        if (on && k <= ema_p - 1) ema_sum = ema_sum + cc;
        if (k == ema_p - 1) ema = ema_sum / ema_p;
        else if (k > ema_p - 1) ema = ((cc - ema) * ema_kf) + ema;
        o_ema = k >= ema_p - 1 ? ema : QNAN;

        // ---- RSI
        const double d = cc - rsi_prev;
        const bool neg = d < 0.0;
        if (k >= 1 && k <= rsi_p) {
            if (neg) loss = loss - d;
            else gain = gain + d;
        }
        if (k == rsi_p) { loss = loss / rsi_p; gain = gain / rsi_p; }
        if (k > rsi_p) {
            const double up = !neg ? d : 0.0;
            const double down = neg ? -d : 0.0;
            gain = gain * rsi_keep + up * rsi_new;
            loss = loss * rsi_keep + down * rsi_new;
        }
        if (on) rsi_prev = cc;
        if (k >= rsi_p) {
            const double tv = gain + loss;
            o_rsi = (tv > 0.0 || tv < 0.0) ? 100.0 * (gain / tv) : 0.0;
        } else {
            o_rsi = QNAN;
        }

        // ---- MACD
        if (on && k <= seed_k) {
            sum_slow = sum_slow + cc;
            if (k >= sp - fp) sum_fast = sum_fast + cc;
        }
        if (k == seed_k) { slow = sum_slow / sp; fast = sum_fast / fp; }
        else if (k > seed_k) { slow = ((cc - slow) * ks) + slow; fast = ((cc - fast) * kfa) + fast; }
        const double mm = fast - slow;
        if (k >= seed_k && k <= lookback) sum_sig = sum_sig + mm;
        if (k == lookback) sig = sum_sig / gp;
        else if (k > lookback) sig = ((mm - sig) * kg) + sig;
        if (k >= lookback) { o_macd = mm; o_sig = sig; o_hist = mm - sig; }
        else { o_macd = QNAN; o_sig = QNAN; o_hist = QNAN; }

        // ---- ATR
        if (ka >= 0 || !(isnan(hh) || isnan(ll) || isnan(cc))) ka += 1;
        double g = hh - ll;
        const double v2 = fabs(pc - hh);
        if (v2 > g) g = v2;
        const double v3 = fabs(pc - ll);
        if (v3 > g) g = v3;
        if (ka >= 0) pc = cc;
        if (ka >= 1 && ka <= atr_p) atr_total = atr_total + g;
        if (ka == atr_p) atr = atr_total / atr_p;
        else if (ka > atr_p) atr = atr * atr_keep + g * atr_new;
        o_atr = ka >= atr_p ? atr : QNAN;

        // ---- OBV
        if (ko >= 0 || !(isnan(cc) || isnan(vv))) ko += 1;
        if (ko == 0) ob = vv;
        else if (ko > 0) {
            if (cc > obv_prev) ob = ob + vv;
            else if (cc < obv_prev) ob = ob - vv;
        }
        if (ko >= 0) obv_prev = cc;
        o_obv = ko >= 0 ? ob : QNAN;

        // ---- SMA, ring buffer of the last sma_p closes
        i64 pos = (on ? k : 0) % sma_p;
        double total = sma_total;
        if (on) { sb[pos] = cc; total = sma_total + cc; }
        if (k >= sma_p - 1) { o_sma = total / sma_p; sma_total = total - sb[(pos + 1) % sma_p]; }
        else { o_sma = QNAN; sma_total = total; }

        // ---- ROC, ring buffer of the previous roc_p closes (slot k % roc_p: close k - roc_p, then close k)
        pos = (on ? k : 0) % roc_p;
        const double old = rb[pos];
        if (k >= roc_p) o_roc = old != 0.0 ? ((cc / old) - 1.0) * 100.0 : 0.0;
        else o_roc = QNAN;
        if (on) rb[pos] = cc;

        // ---- rolling std (TA-Lib 0.8 VAR), ring buffer of the last std_p closes
        pos = (on ? k : 0) % std_p;
        if (on) db[pos] = cc;
        if (k == 0) shift = cc;
        double a = cc - shift;
        const double t2_before = t2;
        if (on) { t1 = t1 + a; t2 = t2 + a * a; }
        const bool full = k >= std_p - 1;
        if (k == std_p - 1) { bars = 32 * std_p; peak = t2_before; }
        if (full && t2 > peak) peak = t2;
        const double mean1 = t1 * inv;
        double var = t2 * inv - mean1 * mean1;
        if (full) {
            a = db[(pos + 1) % std_p] - shift;
            t1 = t1 - a;
            t2 = t2 - a * a;
            bars -= 1;
            if (var < c6 * (peak * inv) || bars <= 0) {
                // fresh two-pass sums of the window, oldest first
                double acc = 0.0;
                for (int q = 0; q < std_p; ++q) acc = acc + db[(pos + 1 + q) % std_p];
                double sh = acc * inv;
                double s1 = 0.0, s2 = 0.0;
                for (int q = 0; q < std_p; ++q) { a = db[(pos + 1 + q) % std_p] - sh; s1 = s1 + a; s2 = s2 + a * a; }
                double m1 = s1 * inv;
                double vr = s2 * inv - m1 * m1;
                if (vr < c6 * (s2 * inv)) {
                    sh = db[pos];  // flat to within the rounding of its mean: anchor on its newest value
                    s1 = 0.0; s2 = 0.0;
                    for (int q = 0; q < std_p; ++q) {
                        a = db[(pos + 1 + q) % std_p] - sh; s1 = s1 + a; s2 = s2 + a * a;
                    }
                    m1 = s1 * inv;
                    vr = s2 * inv - m1 * m1;
                }
                peak = s2;
                if (vr < c12 * (s2 * inv)) vr = 0.0;
                a = db[(pos + 1) % std_p] - sh;
                var = vr; shift = sh; t1 = s1 - a; t2 = s2 - a * a;
                bars = 32 * std_p;
            }
            o_std = sqrt(var) * nbdev;
        } else {
            o_std = QNAN;
        }
    }

    values[0 * S + i] = ema_sum; values[1 * S + i] = ema;
    values[2 * S + i] = rsi_prev; values[3 * S + i] = gain; values[4 * S + i] = loss;
    values[5 * S + i] = sum_slow; values[6 * S + i] = sum_fast; values[7 * S + i] = sum_sig;
    values[8 * S + i] = slow; values[9 * S + i] = fast; values[10 * S + i] = sig;
    values[11 * S + i] = pc; values[12 * S + i] = atr_total; values[13 * S + i] = atr;
    values[14 * S + i] = ob; values[15 * S + i] = obv_prev;
    values[16 * S + i] = sma_total;
    values[17 * S + i] = shift; values[18 * S + i] = t1; values[19 * S + i] = t2; values[20 * S + i] = peak;
    counters[0 * S + i] = k; counters[1 * S + i] = ka; counters[2 * S + i] = ko; counters[3 * S + i] = bars;
    out[0 * m + j] = o_ema; out[1 * m + j] = o_rsi; out[2 * m + j] = o_macd;
    out[3 * m + j] = o_sig; out[4 * m + j] = o_hist; out[5 * m + j] = o_atr;
    out[6 * m + j] = o_obv; out[7 * m + j] = o_sma; out[8 * m + j] = o_std;
    out[9 * m + j] = o_roc;
}

extern "C" __global__ void stream_validate(
    const i64* sym, const double* h, const double* lo, const double* c, const double* v, const double* o,
    const i64 m, const i64 S, u64* marks, const u64 stamp, i64* err)
{
    const i64 j = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= m) return;
    const i64 s = sym[j];
    bool bad = s < 0 || s >= S;
    if (!bad) bad = atomicExch(marks + s, stamp) == stamp;  // a repeat within this call
    bad = bad || !(isfinite(h[j]) && isfinite(lo[j]) && isfinite(c[j]) && isfinite(v[j]) && isfinite(o[j]));
    if (bad) err[0] = (i64)stamp;
}
"""


@functools.lru_cache(maxsize=1)
def _module() -> Any:
    """The RawModule of both kernels (compiled on first use)."""
    import cupy  # noqa: PLC0415

    return cupy.RawModule(code=_SOURCE, options=_OPTIONS)


@functools.lru_cache(maxsize=None)
def _function(name: str) -> Any:
    return _module().get_function(name)


def _grid(m: int) -> tuple[int]:
    return ((m + BLOCK - 1) // BLOCK,)


def advance(
    values: Any, counters: Any, sma_buf: Any, std_buf: Any, roc_buf: Any, sym: Any | None,
    h: Any, lo: Any, c: Any, v: Any, n_steps: int, out: Any,
    ip: Any, dp: Any, err: Any, gate: int = -1,
) -> None:
    """Launch `stream_advance`.

    Tick batch: `sym` holds the m symbol indices (int64, or the int64 bits of a
    float64 row), inputs are (m,) rows, n_steps = 1, out (n_outputs, m). Seed:
    `sym` None, inputs are C-contiguous (n_steps, S) arrays, out (n_outputs, S).
    The kernel returns without effect when err[0] == gate (-1: never).
    """
    n_symbols = int(values.shape[1])
    m = int(out.shape[1])
    if m == 0:
        return
    seeding = sym is None
    ld = n_symbols if seeding else 0
    _function("stream_advance")(
        _grid(m), (BLOCK,),
        (values, counters, sma_buf, std_buf, roc_buf, counters if seeding else sym, np.int32(0 if seeding else 1),
         h, lo, c, v, np.int32(n_steps), np.int64(ld), out, np.int64(m), np.int64(n_symbols),
         ip, dp, err, np.int64(gate)),
    )


def validate(sym: Any, h: Any, lo: Any, c: Any, v: Any, o: Any, n_symbols: int, marks: Any, stamp: int,
             err: Any) -> None:
    """Launch `stream_validate` over a device tick batch; err[0] = stamp where it is invalid.

    `marks` is a uint64 (S,) array kept with the state; `stamp` differs from every
    earlier call's; `o` (open) may be any of the other rows when absent.
    """
    m = int(sym.shape[0])
    if m == 0:
        return
    _function("stream_validate")(
        _grid(m), (BLOCK,),
        (sym, h, lo, c, v, o, np.int64(m), np.int64(n_symbols), marks, np.uint64(stamp), err),
    )


def warmups() -> dict[str, Callable[[], None]]:
    """Compile the module and run a seed, a host tick batch and a device tick batch once."""

    def warm() -> None:
        import cupy  # noqa: PLC0415

        from kernels.indicators import stream  # noqa: PLC0415

        rng = np.random.default_rng(0)
        close = 100.0 + rng.standard_normal((40, 3)).cumsum(axis=0)
        bars = {"high": close + 1.0, "low": close - 1.0, "close": close, "volume": np.ones_like(close)}
        state = stream.StreamState.create(3, stream.StreamConfig(), cupy)
        stream.seed(state, bars)
        stream.update_packed(state, np.arange(3), np.vstack([close[-1] + 1.0, close[-1] - 1.0, close[-1], close[-1]]))
        stream.update_packed(state, cupy.arange(3), cupy.asarray(np.vstack([close[-2] + 1.0, close[-2] - 1.0,
                                                                            close[-2], close[-2]])))
        cupy.cuda.get_current_stream().synchronize()

    return {"stream": warm}
