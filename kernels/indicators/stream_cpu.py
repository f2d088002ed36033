"""CPU backend of the streaming indicators: fused Numba kernels over a packed state.

One call applies a whole tick batch (m symbols, one tick each) or replays a (T, S)
history (`seed`), each symbol independently (`prange` over symbols). Per symbol the
state is loaded into locals, stepped through its ticks and stored back, so a tick
costs O(1): ring buffers for SMA, ROC and the rolling std, whose rare re-anchoring
rebuild (TA-Lib 0.8 VAR) reads only the ring buffer.

Exactness: the step performs the operations of the `xp` oracle (`stream._step`),
which are those of the batch kernels (`cpu.py`), on the same float64 values in the
same order (Numba does not contract multiply-adds), so results are bit-identical
to the batch indicators bar by bar.

Packed state (the layout the kernels hard-code; `stream.StreamState` owns it):
- `values` (len(SCALARS), S) float64, one row per name in `SCALARS`;
- `counters` (len(COUNTERS), S) int64: bars since the symbol's first valid bar per
  input group (-1: not started) and the rolling std's bars until a forced rebuild;
- `sma_buf` (S, sma_period), `std_buf` (S, std_period), `roc_buf` (S, roc_period):
  the last closes, close k in slot k % p (ROC reads slot k % p, close k - roc_period,
  before it writes close k there).

Inputs are 1-D C-contiguous float64 arrays read at `t * ld + col` (a tick batch:
T = 1, col = position in the batch; a history: the raveled (T, S) panel, ld = S).
Parameters travel as `ip` = (ema, rsi, macd fast, macd slow, macd signal, atr,
sma, std, roc periods; macd fast <= slow) and `dp` = (std nbdev, VAR_FLAT, VAR_ZERO).
Outputs are written into `out` (len(OUTPUTS), m), column by column.

These only accept NumPy arrays, already validated by `stream.py`.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from kernels.indicators.cpu import true_range_nb, var_rebuild_nb

NAN = np.nan

SCALARS: tuple[str, ...] = (
    "ema_sum", "ema",
    "rsi_prev", "rsi_gain", "rsi_loss",
    "macd_sum_slow", "macd_sum_fast", "macd_sum_sig", "macd_slow", "macd_fast", "macd_sig",
    "atr_prev_close", "atr_total", "atr",
    "obv", "obv_prev",
    "sma_total",
    "std_shift", "std_total1", "std_total2", "std_peak",
)
COUNTERS: tuple[str, ...] = ("k_close", "k_hlc", "k_cv", "std_bars")
OUTPUTS: tuple[str, ...] = (
    "ema", "rsi", "macd", "macdsignal", "macdhist", "atr", "obv", "sma", "rolling_std", "roc",
)

# A tick batch runs threaded over its symbols when it has at least PARALLEL_MIN_TICKS
# ticks and Numba has at least PARALLEL_MIN_THREADS threads, else on the calling
# thread. Measured (bench/results/stream_kernel_*.json, 5,000 symbols): 16 idle
# cores 0.16 ms threaded vs 1.1 ms on one thread; 2 oversubscribed cores 16 ms vs
# 1.5 ms, because a parallel region waits for its slowest (descheduled) thread.
PARALLEL_MIN_TICKS = 512
PARALLEL_MIN_THREADS = 4


@njit(cache=True, nogil=True)
def advance_nb(
    values: np.ndarray, counters: np.ndarray, sma_buf: np.ndarray, std_buf: np.ndarray, roc_buf: np.ndarray,
    i: int, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray, col: int, n_steps: int, ld: int,
    ip: np.ndarray, dp: np.ndarray, out: np.ndarray, ocol: int,
) -> None:
    """Step symbol i through ticks t = 0..n_steps-1 (inputs at t * ld + col); outputs of the last one."""
    ema_p = ip[0]
    rsi_p = ip[1]
    fp = ip[2]
    sp = ip[3]
    gp = ip[4]
    atr_p = ip[5]
    sma_p = ip[6]
    std_p = ip[7]
    roc_p = ip[8]
    nbdev = dp[0]
    c6 = dp[1]
    c12 = dp[2]
    ema_kf = 2.0 / (ema_p + 1.0)
    rsi_keep = (rsi_p - 1.0) / rsi_p
    rsi_new = 1.0 / rsi_p
    ks = 2.0 / (sp + 1.0)
    kfa = 2.0 / (fp + 1.0)
    kg = 2.0 / (gp + 1.0)
    seed_k = sp - 1
    lookback = seed_k + gp - 1
    atr_keep = (atr_p - 1.0) / atr_p
    atr_new = 1.0 / atr_p
    inv = 1.0 / std_p

    ema_sum = values[0, i]
    ema = values[1, i]
    rsi_prev = values[2, i]
    gain = values[3, i]
    loss = values[4, i]
    sum_slow = values[5, i]
    sum_fast = values[6, i]
    sum_sig = values[7, i]
    slow = values[8, i]
    fast = values[9, i]
    sig = values[10, i]
    pc = values[11, i]
    atr_total = values[12, i]
    atr = values[13, i]
    ob = values[14, i]
    obv_prev = values[15, i]
    sma_total = values[16, i]
    shift = values[17, i]
    t1 = values[18, i]
    t2 = values[19, i]
    peak = values[20, i]
    k = counters[0, i]
    ka = counters[1, i]
    ko = counters[2, i]
    bars = counters[3, i]

    o_ema = NAN
    o_rsi = NAN
    o_macd = NAN
    o_sig = NAN
    o_hist = NAN
    o_atr = NAN
    o_obv = NAN
    o_sma = NAN
    o_std = NAN
    o_roc = NAN
    for t in range(n_steps):
        x = t * ld + col
        hh = h[x]
        ll = lo[x]
        cc = c[x]
        vv = v[x]
        if k >= 0 or not np.isnan(cc):
            k += 1
        on = k >= 0

        # ---- EMA (cpu.ema_1d_nb)
        if on and k <= ema_p - 1:
            ema_sum = ema_sum + cc
        if k == ema_p - 1:
            ema = ema_sum / ema_p
        elif k > ema_p - 1:
            ema = ((cc - ema) * ema_kf) + ema
        o_ema = ema if k >= ema_p - 1 else NAN

        # ---- RSI (cpu.rsi_1d_nb)
        d = cc - rsi_prev
        neg = d < 0.0
        if k >= 1 and k <= rsi_p:
            if neg:
                loss = loss - d
            else:
                gain = gain + d
        if k == rsi_p:
            loss = loss / rsi_p
            gain = gain / rsi_p
        if k > rsi_p:
            up = d if not neg else 0.0
            down = -d if neg else 0.0
            gain = gain * rsi_keep + up * rsi_new
            loss = loss * rsi_keep + down * rsi_new
        if on:
            rsi_prev = cc
        if k >= rsi_p:
            tv = gain + loss
            o_rsi = 100.0 * (gain / tv) if (tv > 0.0 or tv < 0.0) else 0.0
        else:
            o_rsi = NAN

        # ---- MACD (cpu.macd_1d_nb)
        if on and k <= seed_k:
            sum_slow = sum_slow + cc
            if k >= sp - fp:
                sum_fast = sum_fast + cc
        if k == seed_k:
            slow = sum_slow / sp
            fast = sum_fast / fp
        elif k > seed_k:
            slow = ((cc - slow) * ks) + slow
            fast = ((cc - fast) * kfa) + fast
        m = fast - slow
        if k >= seed_k and k <= lookback:
            sum_sig = sum_sig + m
        if k == lookback:
            sig = sum_sig / gp
        elif k > lookback:
            sig = ((m - sig) * kg) + sig
        if k >= lookback:
            o_macd = m
            o_sig = sig
            o_hist = m - sig
        else:
            o_macd = NAN
            o_sig = NAN
            o_hist = NAN

        # ---- ATR (cpu.atr_1d_nb)
        if ka >= 0 or not (np.isnan(hh) or np.isnan(ll) or np.isnan(cc)):
            ka += 1
        g = true_range_nb(hh, ll, pc)
        if ka >= 0:
            pc = cc
        if ka >= 1 and ka <= atr_p:
            atr_total = atr_total + g
        if ka == atr_p:
            atr = atr_total / atr_p
        elif ka > atr_p:
            atr = atr * atr_keep + g * atr_new
        o_atr = atr if ka >= atr_p else NAN

        # ---- OBV (cpu.obv_1d_nb)
        if ko >= 0 or not (np.isnan(cc) or np.isnan(vv)):
            ko += 1
        if ko == 0:
            ob = vv
        elif ko > 0:
            if cc > obv_prev:
                ob = ob + vv
            elif cc < obv_prev:
                ob = ob - vv
        if ko >= 0:
            obv_prev = cc
        o_obv = ob if ko >= 0 else NAN

        # ---- SMA (cpu.sma_1d_nb), ring buffer of the last sma_p closes
        pos = (k if on else 0) % sma_p
        if on:
            sma_buf[i, pos] = cc
            total = sma_total + cc
        else:
            total = sma_total
        if k >= sma_p - 1:
            o_sma = total / sma_p
            sma_total = total - sma_buf[i, (pos + 1) % sma_p]
        else:
            o_sma = NAN
            sma_total = total

        # ---- ROC (cpu.roc_1d_nb), ring buffer of the previous roc_p closes
        pos = (k if on else 0) % roc_p
        old = roc_buf[i, pos]  # close k - roc_p once k >= roc_p
        if k >= roc_p:
            if old != 0.0:
                o_roc = ((cc / old) - 1.0) * 100.0
            else:
                o_roc = 0.0
        else:
            o_roc = NAN
        if on:
            roc_buf[i, pos] = cc

        # ---- rolling std (cpu.var_1d_nb + stddev_1d_nb), ring buffer of std_p closes
        pos = (k if on else 0) % std_p
        if on:
            std_buf[i, pos] = cc
        if k == 0:
            shift = cc
        a = cc - shift
        t2_before = t2
        if on:
            t1 = t1 + a
            t2 = t2 + a * a
        full = k >= std_p - 1
        if k == std_p - 1:
            bars = 32 * std_p
            peak = t2_before  # total2 before this bar, as TA-Lib
        if full and t2 > peak:
            peak = t2
        mean1 = t1 * inv
        var = t2 * inv - mean1 * mean1
        if full:
            a = std_buf[i, (pos + 1) % std_p] - shift
            t1 = t1 - a
            t2 = t2 - a * a
            bars -= 1
            if var < c6 * (peak * inv) or bars <= 0:
                # fresh two-pass sums of the window, oldest first (TA-Lib VAR's reseed)
                window = np.empty(std_p)
                for j in range(std_p):
                    window[j] = std_buf[i, (pos + 1 + j) % std_p]
                var, shift, t1, t2, peak = var_rebuild_nb(window, std_p - 1, std_p, inv, c6, c12)
                bars = 32 * std_p
            o_std = np.sqrt(var) * nbdev
        else:
            o_std = NAN

    values[0, i] = ema_sum
    values[1, i] = ema
    values[2, i] = rsi_prev
    values[3, i] = gain
    values[4, i] = loss
    values[5, i] = sum_slow
    values[6, i] = sum_fast
    values[7, i] = sum_sig
    values[8, i] = slow
    values[9, i] = fast
    values[10, i] = sig
    values[11, i] = pc
    values[12, i] = atr_total
    values[13, i] = atr
    values[14, i] = ob
    values[15, i] = obv_prev
    values[16, i] = sma_total
    values[17, i] = shift
    values[18, i] = t1
    values[19, i] = t2
    values[20, i] = peak
    counters[0, i] = k
    counters[1, i] = ka
    counters[2, i] = ko
    counters[3, i] = bars
    out[0, ocol] = o_ema
    out[1, ocol] = o_rsi
    out[2, ocol] = o_macd
    out[3, ocol] = o_sig
    out[4, ocol] = o_hist
    out[5, ocol] = o_atr
    out[6, ocol] = o_obv
    out[7, ocol] = o_sma
    out[8, ocol] = o_std
    out[9, ocol] = o_roc


@njit(cache=True, nogil=True, parallel=True)
def update_nb(
    values: np.ndarray, counters: np.ndarray, sma_buf: np.ndarray, std_buf: np.ndarray, roc_buf: np.ndarray,
    sym: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray, ip: np.ndarray, dp: np.ndarray,
    out: np.ndarray,
) -> None:
    """One tick for each symbol sym[j] (distinct, validated), inputs and outputs at column j; threads over j."""
    for j in prange(sym.shape[0]):
        advance_nb(values, counters, sma_buf, std_buf, roc_buf, sym[j], h, lo, c, v, j, 1, 0, ip, dp, out, j)


@njit(cache=True, nogil=True)
def update_serial_nb(
    values: np.ndarray, counters: np.ndarray, sma_buf: np.ndarray, std_buf: np.ndarray, roc_buf: np.ndarray,
    sym: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray, ip: np.ndarray, dp: np.ndarray,
    out: np.ndarray,
) -> None:
    """`update_nb` on the calling thread (small batches)."""
    for j in range(sym.shape[0]):
        advance_nb(values, counters, sma_buf, std_buf, roc_buf, sym[j], h, lo, c, v, j, 1, 0, ip, dp, out, j)


@njit(cache=True, nogil=True, parallel=True)
def seed_nb(
    values: np.ndarray, counters: np.ndarray, sma_buf: np.ndarray, std_buf: np.ndarray, roc_buf: np.ndarray,
    n_bars: int, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray, ip: np.ndarray, dp: np.ndarray,
    out: np.ndarray,
) -> None:
    """Replay raveled (n_bars, S) histories into a reset state; out (n_outputs, S) holds the last bar's values."""
    n = values.shape[1]
    for i in prange(n):
        advance_nb(values, counters, sma_buf, std_buf, roc_buf, i, h, lo, c, v, i, n_bars, n, ip, dp, out, i)


@njit(cache=True, nogil=True)
def validate_nb(
    sym: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray, o: np.ndarray,
    n_symbols: int, marks: np.ndarray, stamp: int,
) -> bool:
    """True when every index is in [0, n_symbols) and distinct and every value is finite.

    Repeats are found with `marks` (one int64 per symbol, kept by the caller): a
    symbol seen in this call carries `stamp`, which must differ from every earlier
    call's. `o` (open) is checked like the others (pass any of them when absent).
    """
    for j in range(sym.shape[0]):
        s = sym[j]
        if s < 0 or s >= n_symbols:
            return False
        if marks[s] == stamp:
            return False
        marks[s] = stamp
        if not (np.isfinite(h[j]) and np.isfinite(lo[j]) and np.isfinite(c[j]) and np.isfinite(v[j])
                and np.isfinite(o[j])):
            return False
    return True


def update(
    values: np.ndarray, counters: np.ndarray, sma_buf: np.ndarray, std_buf: np.ndarray, roc_buf: np.ndarray,
    sym: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray, ip: np.ndarray, dp: np.ndarray,
    out: np.ndarray,
) -> None:
    """Apply a validated tick batch: threads over the symbols when the batch and the pool are large enough."""
    threaded = sym.shape[0] >= PARALLEL_MIN_TICKS and numba.get_num_threads() >= PARALLEL_MIN_THREADS
    kernel = update_nb if threaded else update_serial_nb
    kernel(values, counters, sma_buf, std_buf, roc_buf, sym, h, lo, c, v, ip, dp, out)
