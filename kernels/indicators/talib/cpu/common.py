"""Helpers shared by the CPU kernels of every group: window extrema, true range, the start bar."""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

NAN = np.nan


@intrinsic
def fma_nb(typingctx, a, b, c):
    """a * b + c rounded once (LLVM's llvm.fma.f64), where TA-Lib's C build contracts an expression into an
    FMA (the forecast of LINEARREG / TSF). Arguments float64."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        d = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [d], ir.FunctionType(d, [d, d, d]))
        return builder.call(fn, args)

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def is_zero(v):
    """TA_IS_ZERO: |v| < 1e-8."""
    return -0.00000001 < v < 0.00000001


@njit(cache=True, nogil=True, inline="always")
def is_zero_or_neg(v):
    """TA_IS_ZERO_OR_NEG: v < 1e-8."""
    return v < 0.00000001


BLOCK = 64  # columns gathered at a time by the group modules' run_nb


@njit(cache=True, nogil=True)
def gather_block_nb(a0, a1, a2, a3, a4, n_in, j0, w):
    """Columns j0:j0+w of the n_in (T, N) inputs as contiguous (n_in, w, T) rows: each cache
    line of the panel is read once, and every column's kernel then runs on contiguous data."""
    n = a0.shape[0]
    ins = np.empty((n_in, w, n))
    for i in range(n_in):
        src = a0
        if i == 1:
            src = a1
        elif i == 2:
            src = a2
        elif i == 3:
            src = a3
        elif i == 4:
            src = a4
        for t in range(n):
            for b in range(w):
                ins[i, b, t] = src[t, j0 + b]
    return ins


@njit(cache=True, nogil=True)
def block_start_nb(ins, n_in, b):
    """The first bar of gathered column b where every input is non-NaN (T if none)."""
    n = ins.shape[2]
    for t in range(n):
        ok = True
        for i in range(n_in):
            if np.isnan(ins[i, b, t]):
                ok = False
                break
        if ok:
            return t
    return n


@njit(cache=True, nogil=True)
def block_hole_nb(ins, n_in, b, s):
    """1 when gathered column b misses a bar after its start bar s (an input is NaN there), else 0.
    Branch-free over the (cached) gathered rows."""
    n = ins.shape[2]
    hole = np.uint8(0)
    for i in range(n_in):
        for t in range(s, n):
            v = ins[i, b, t]
            hole |= np.uint8(v != v)
    return hole


@njit(cache=True, nogil=True)
def scatter_block_nb(obuf, out, j0):
    """The (n_out, w, T) outputs of a block back into columns j0:j0+w of (n_out, T, N)."""
    n_out, w, n = obuf.shape
    for k in range(n_out):
        for t in range(n):
            for b in range(w):
                out[k, t, j0 + b] = obuf[k, b, t]


@njit(cache=True, nogil=True, inline="always")
def true_range(h, lo, prev_close):
    """TA-Lib's TRUE_RANGE: the greatest of h - lo, |prev_close - h|, |prev_close - lo|."""
    greatest = h - lo
    v2 = abs(prev_close - h)
    if v2 > greatest:
        greatest = v2
    v3 = abs(prev_close - lo)
    if v3 > greatest:
        greatest = v3
    return greatest


@njit(cache=True, nogil=True)
def window_extreme_1d_nb(x, out, period, sign):
    """sign * the rolling maximum of sign * x over `period` bars, from bar period - 1, for a NaN-free x:
    branch-free (van Herk / Gil-Werman: with the bars cut into blocks of `period`, a window is a suffix of
    one block and a prefix of the next). The value of TA-Lib's rescanning extreme, 3 comparisons a bar
    whatever the data (the rescans cost TA-Lib's loop 5x on a random walk)."""
    n = x.shape[0]
    suf = np.empty(n)
    for k0 in range(0, n, period):
        k1 = min(n, k0 + period)
        u = sign * x[k1 - 1]
        suf[k1 - 1] = u
        for t in range(k1 - 2, k0 - 1, -1):
            v = sign * x[t]
            u = v if v > u else u
            suf[t] = u
        pre = sign * x[k0]
        for t in range(k0, k1):
            v = sign * x[t]
            pre = v if v > pre else pre
            if t >= period - 1:
                w = suf[t - period + 1]
                out[t] = sign * (w if w > pre else pre)


@njit(cache=True, nogil=True)
def extreme_1d_nb(x, out, period, sign, as_index, offset):
    """TA-Lib's rolling extreme over `period` bars: the maximum of sign * x (sign -1.0: the minimum; the
    flip is exact, so the comparisons, ties to the latest bar and NaN handling are TA_MAX's / TA_MIN's).
    Writes the extreme itself, or with as_index its (absolute, + offset) bar index (TA_MAXINDEX).
    A NaN-free x takes `window_extreme_1d_nb` for the values (the same numbers)."""
    n = x.shape[0]
    if not as_index:
        clean = True
        for t in range(n):
            if x[t] != x[t]:
                clean = False
                break
        if clean:
            window_extreme_1d_nb(x, out, period, sign)
            return
    best_idx = -1
    best = 0.0
    trailing = 0
    for today in range(period - 1, n):
        v = sign * x[today]
        if best_idx < trailing:
            best_idx = trailing
            best = sign * x[best_idx]
            for i in range(trailing + 1, today + 1):
                w = sign * x[i]
                if w > best:
                    best_idx = i
                    best = w
        elif v >= best:
            best_idx = today
            best = v
        out[today] = (best_idx + offset) if as_index else sign * best
        trailing += 1


@njit(cache=True, nogil=True)
def max_1d_nb(x, out, period):
    """TA_MAX: rolling maximum over `period` bars."""
    extreme_1d_nb(x, out, period, 1.0, False, 0)


@njit(cache=True, nogil=True)
def min_1d_nb(x, out, period):
    """TA_MIN: rolling minimum over `period` bars."""
    extreme_1d_nb(x, out, period, -1.0, False, 0)


@njit(cache=True, nogil=True)
def argmax_1d_nb(x, out, period, offset):
    """TA_MAXINDEX: the (absolute, + offset) index of the window maximum."""
    extreme_1d_nb(x, out, period, 1.0, True, offset)


@njit(cache=True, nogil=True)
def argmin_1d_nb(x, out, period, offset):
    """TA_MININDEX: the (absolute, + offset) index of the window minimum."""
    extreme_1d_nb(x, out, period, -1.0, True, offset)


@njit(cache=True, nogil=True)
def sum_1d_nb(x, out, period):
    """TA_SUM: running total, add the new bar, emit, drop the trailing bar."""
    n = x.shape[0]
    total = 0.0
    for t in range(min(period - 1, n)):
        total += x[t]
    for t in range(period - 1, n):
        total += x[t]
        out[t] = total
        total -= x[t - period + 1]


@njit(inline="always")
def run_group_nb(col, code, a0, a1, a2, a3, a4, n_in, p, out, holes):
    """Run function `code` of a group module (its `_col` dispatch, `col`) over every column into `out`,
    the (n_out, N, T) outputs -- column j of output k is the contiguous row out[k, j] (`cpu.run` hands
    out the (n_out, T, N) transposed view) -- NaN where there is no value. `out` comes from NumPy
    (huge pages for large arrays; a Numba allocation page-faults 4 KiB at a time).

    Columns go in blocks of BLOCK (common.gather_block_nb), each run from its start bar straight
    into its output row (no block buffer, no scatter pass). holes[j] is set to 1 where column j
    misses a bar after its start (an input NaN: the NaN policy then re-runs it packed).
    """
    n, m = a0.shape
    for blk in prange((m + BLOCK - 1) // BLOCK):
        j0 = blk * BLOCK
        w = min(BLOCK, m - j0)
        ins = gather_block_nb(a0, a1, a2, a3, a4, n_in, j0, w)
        for b in range(w):
            o = out[:, j0 + b, :]
            o[:, :] = np.nan
            s = block_start_nb(ins, n_in, b)
            if s >= n:
                continue
            holes[j0 + b] = block_hole_nb(ins, n_in, b, s)
            c0 = ins[0, b, s:]
            c1 = ins[1, b, s:] if n_in > 1 else c0
            c2 = ins[2, b, s:] if n_in > 2 else c0
            c3 = ins[3, b, s:] if n_in > 3 else c0
            c4 = ins[4, b, s:] if n_in > 4 else c0
            col(code, c0, c1, c2, c3, c4, o[:, s:], p, s)
    return out
