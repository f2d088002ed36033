"""Helpers shared by the CPU kernels of every group: window extrema, true range, the start bar."""
from __future__ import annotations

import numpy as np
from numba import njit

NAN = np.nan


@njit(cache=True, nogil=True, inline="always")
def is_zero(v):
    """TA_IS_ZERO: |v| < 1e-8."""
    return -0.00000001 < v < 0.00000001


@njit(cache=True, nogil=True, inline="always")
def is_zero_or_neg(v):
    """TA_IS_ZERO_OR_NEG: v < 1e-8."""
    return v < 0.00000001


@njit(cache=True, nogil=True)
def first_valid_nb(a0, a1, a2, a3, a4, n_in, j):
    """The first bar of column j where every one of the n_in inputs is non-NaN (T if none)."""
    n = a0.shape[0]
    for t in range(n):
        if np.isnan(a0[t, j]):
            continue
        if n_in > 1 and np.isnan(a1[t, j]):
            continue
        if n_in > 2 and np.isnan(a2[t, j]):
            continue
        if n_in > 3 and np.isnan(a3[t, j]):
            continue
        if n_in > 4 and np.isnan(a4[t, j]):
            continue
        return t
    return n


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
def max_1d_nb(x, out, period):
    """Rolling maximum over `period` bars (TA_MAX); the argmax goes to idx when given."""
    n = x.shape[0]
    hi_idx = -1
    hi = 0.0
    trailing = 0
    for today in range(period - 1, n):
        v = x[today]
        if hi_idx < trailing:
            hi_idx = trailing
            hi = x[hi_idx]
            for i in range(trailing + 1, today + 1):
                w = x[i]
                if w > hi:
                    hi_idx = i
                    hi = w
        elif v >= hi:
            hi_idx = today
            hi = v
        out[today] = hi
        trailing += 1


@njit(cache=True, nogil=True)
def min_1d_nb(x, out, period):
    n = x.shape[0]
    lo_idx = -1
    lo = 0.0
    trailing = 0
    for today in range(period - 1, n):
        v = x[today]
        if lo_idx < trailing:
            lo_idx = trailing
            lo = x[lo_idx]
            for i in range(trailing + 1, today + 1):
                w = x[i]
                if w < lo:
                    lo_idx = i
                    lo = w
        elif v <= lo:
            lo_idx = today
            lo = v
        out[today] = lo
        trailing += 1


@njit(cache=True, nogil=True)
def argmax_1d_nb(x, out, period, offset):
    """TA_MAXINDEX: the (absolute, + offset) index of the window maximum."""
    n = x.shape[0]
    hi_idx = -1
    hi = 0.0
    trailing = 0
    for today in range(period - 1, n):
        v = x[today]
        if hi_idx < trailing:
            hi_idx = trailing
            hi = x[hi_idx]
            for i in range(trailing + 1, today + 1):
                w = x[i]
                if w > hi:
                    hi_idx = i
                    hi = w
        elif v >= hi:
            hi_idx = today
            hi = v
        out[today] = hi_idx + offset
        trailing += 1


@njit(cache=True, nogil=True)
def argmin_1d_nb(x, out, period, offset):
    n = x.shape[0]
    lo_idx = -1
    lo = 0.0
    trailing = 0
    for today in range(period - 1, n):
        v = x[today]
        if lo_idx < trailing:
            lo_idx = trailing
            lo = x[lo_idx]
            for i in range(trailing + 1, today + 1):
                w = x[i]
                if w < lo:
                    lo_idx = i
                    lo = w
        elif v <= lo:
            lo_idx = today
            lo = v
        out[today] = lo_idx + offset
        trailing += 1


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
