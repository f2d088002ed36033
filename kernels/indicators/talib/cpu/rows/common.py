"""The time-major ("row") driver shared by the row kernels of every group, and its helpers.

A row kernel walks the bars once and, at each bar, every column of its chunk: the per-column
state (running sums, previous EMA values, ...) lives in small arrays indexed by column, the
inner loop runs over contiguous memory of the C-ordered (T, N) panel and has no dependency
from one column to the next, so it vectorises (SIMD) and keeps several columns in flight.
That is what makes the CPU backend faster per core than TA-Lib's one-column loops; the
arithmetic for each column is the column kernel's, in the same order, so the outputs are
bit-identical to `cpu/<group>.py` (tests/kernels/indicators/talib/test_row_kernels.py).

Kernel contract, `_rows(code, a0, a1, a2, a3, a4, out, p, start, j0, j1)` of a group module:
- `a0..a4` the (T, N) C-ordered inputs (unused ones repeat a0), `p` the parameter vector of
  `cpu.param_vector` (the column kernels' own), `out` the (n_out, T, N) outputs;
- `start` (j1 - j0,) int64: each column's first bar where every input is non-NaN (T if none);
  the column's values are computed from there, as the column kernels' driver slices it;
- the kernel writes every out[k, t, j0:j1] for t >= t0 = start.min() (NaN where no value); the
  driver has filled the rows before t0 with NaN.

`run_rows_nb` finds the columns with interior gaps in a pass of its own over the inputs before the
kernel runs. A memory-bound kernel (a few operations per input read) can save that pass: its module
uses `run_rows_marking_nb`, whose kernels take `holes` as a last argument and set holes[j0 + j] = 1
themselves for every column with a NaN input after its start (`nan_sum_nb` accumulates the check
where the kernel reads its inputs anyway; `mark_from_sums_nb` writes the flags).
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from kernels.indicators.talib.cpu.statistic import var_talib_rebuild_nb

NAN = np.nan
MAX_CHUNK = 1024  # columns per task at most: per-column state and the rows a window revisits stay in cache
# Below this many columns the column kernels win: a row kernel's per-bar slicing is not paid back by SIMD
# (measured, one thread, 2520 bars: rows 1.1-1.8x faster at 8 columns, 2-5x at 32, 0.2-0.7x at 1).
MIN_COLUMNS = 8


@njit(cache=True, nogil=True)
def pick_nb(a0, a1, a2, a3, a4, i):
    """Input i of the five driver slots."""
    if i == 1:
        return a1
    if i == 2:
        return a2
    if i == 3:
        return a3
    if i == 4:
        return a4
    return a0


@njit(cache=True, nogil=True)
def starts_nb(a0, a1, a2, a3, a4, n_in, j0, j1):
    """(j1 - j0,) int64: the first bar of each column where every input is non-NaN (T if none).
    Stops at the bar where the last column starts (the first bar for ordinary data)."""
    n = a0.shape[0]
    w = j1 - j0
    start = np.full(w, n, dtype=np.int64)
    left = w
    t = 0
    while left > 0 and t < n:
        for j in range(w):
            if start[j] == n:
                ok = True
                for i in range(n_in):
                    v = pick_nb(a0, a1, a2, a3, a4, i)[t, j0 + j]
                    if v != v:
                        ok = False
                        break
                if ok:
                    start[j] = t
                    left -= 1
        t += 1
    return start


@njit(cache=True, nogil=True)
def mark_holes_nb(a0, a1, a2, a3, a4, n_in, start, holes, j0, j1):
    """holes[j] = 1 for every column of j0:j1 with a NaN input after its start bar. One vectorised
    pass: v * 0.0 is NaN exactly for NaN (and inf, which only makes such a column go the packed way)."""
    n = a0.shape[0]
    w = j1 - j0
    acc = np.zeros(w)
    st = start.copy()
    for i in range(n_in):
        src = pick_nb(a0, a1, a2, a3, a4, i)
        for t in range(n):
            r = src[t, j0:j1]
            for j in range(w):
                acc[j] += r[j] * 0.0 if t >= st[j] else 0.0
    for j in range(w):
        if acc[j] != acc[j]:
            holes[j0 + j] = 1


def chunk_width(m: int) -> int:
    """Columns per task: the columns spread over Numba's threads, at least MIN_COLUMNS (a narrower task
    would run slower than the column kernels) and at most MAX_CHUNK per task."""
    tasks = max(1, min(numba.get_num_threads(), m // MIN_COLUMNS))
    return max(1, min(MAX_CHUNK, -(-m // tasks)))



@njit(inline="always")
def talib_var_step_nb(x, t, c, k, lb, inv, v, vo, shift, tot1, tot2, bars, j):
    """TA-Lib 0.8.1's VAR (`statistic.var_talib_1d_nb`, the same operations) of column c of x at bar t, the
    column's k-th bar (k >= 0), kept in state slot j: v = x[t, c], vo = x[t - lb, c]. Sums of deviations from
    a shift (the column's first value), the trailing value removed before the test; rebuilt on the window
    mean when the variance is under 1e-6 of the remaining sum of squares / period, when the departing
    squared deviation exceeds 1e6 x the remaining sum, or every 32 * period bars; a rebuilt variance under
    1e-12 of its sum of squares / period is 0. NaN before the lookback lb (BBANDS and STDDEV rows)."""
    if k == 0:
        shift[j] = v
    if k < lb:
        a = v - shift[j]
        tot1[j] += a
        tot2[j] += a * a
        return NAN
    if k == lb:
        bars[j] = 32 * (lb + 1)
    a = v - shift[j]
    tot1[j] += a
    a *= a
    tot2[j] += a
    m = tot1[j] * inv
    vr = tot2[j] * inv - m * m
    a = vo - shift[j]
    tot1[j] -= a
    a *= a
    tot2[j] -= a
    bars[j] -= 1
    if vr < 0.000001 * (tot2[j] * inv) or a > 1000000.0 * tot2[j] or bars[j] <= 0:
        bars[j] = 32 * (lb + 1)
        shift[j], tot1[j], tot2[j], vr = var_talib_rebuild_nb(x[:, c], t - lb, t, inv)
    return vr

@njit(inline="always")
def nan_sum_nb(v):
    """v * 0.0: 0 for a finite input, NaN for a NaN (or inf: that column then just goes the packed way).
    Summed over a column's inputs from its start bar on, NaN exactly when the column has a gap."""
    return v * 0.0


@njit(inline="always")
def add_nan_checks_nb(acc, xt, t, st, t_all):
    """acc[j] += nan_sum_nb(xt[j]) for the columns started by bar t (st[j] <= t); t_all = st.max(): from
    there every column counts without a per-column test (an integer test per cell costs the SIMD loop)."""
    if t >= t_all:
        for j in range(acc.shape[0]):
            acc[j] += xt[j] * 0.0
    else:
        for j in range(acc.shape[0]):
            acc[j] += xt[j] * 0.0 if t >= st[j] else 0.0


@njit(inline="always")
def mask_warmup_nb(ot, t, st, lb):
    """ot[j] = NaN where column j is still in its lookback at bar t (t - st[j] < lb). Called only for the
    bars before st.max() + lb, after a branch-free loop wrote every cell."""
    for j in range(ot.shape[0]):
        ot[j] = ot[j] if t - st[j] >= lb else NAN


@njit(cache=True, nogil=True)
def mark_from_sums_nb(acc, holes, j0):
    """holes[j0 + j] = 1 where the kernel's sum of nan_sum_nb terms acc[j] is NaN."""
    for j in range(acc.shape[0]):
        if acc[j] != acc[j]:
            holes[j0 + j] = 1


@njit(inline="always")
def chunk_nb(a0, a1, a2, a3, a4, n_in, out, n_out, c, w):
    """Columns j0:j1 of chunk c, their start bars, the rows before the first start filled with NaN;
    t0 = the first start (T when no column of the chunk ever starts)."""
    n, m = a0.shape
    j0 = c * w
    j1 = min(m, j0 + w)
    start = starts_nb(a0, a1, a2, a3, a4, n_in, j0, j1)
    t0 = start.min()
    for k in range(n_out):
        for t in range(min(t0, n)):
            out[k, t, j0:j1] = NAN
    return j0, j1, start, t0


@njit(inline="always")
def run_rows_nb(rows, code, a0, a1, a2, a3, a4, n_in, p, out, holes, w):
    """Run row kernel `code` of a group module (its `_rows` dispatch, `rows`) over column chunks in
    parallel, `w` columns a task (`chunk_width`), into `out`, the (n_out, T, N) C-ordered outputs (NaN
    where there is no value; allocated by NumPy, whose large arrays get huge pages: a Numba
    allocation page-faults 4 KiB at a time, ~6 ms per 20 MB output); holes as in
    `cpu.common.run_group_nb` (1 for a column that misses a bar after its start)."""
    n, m = a0.shape
    n_out = out.shape[0]
    for c in prange((m + w - 1) // w):
        j0, j1, start, t0 = chunk_nb(a0, a1, a2, a3, a4, n_in, out, n_out, c, w)
        if t0 >= n:
            continue
        mark_holes_nb(a0, a1, a2, a3, a4, n_in, start, holes, j0, j1)
        rows(code, a0, a1, a2, a3, a4, out, p, start, j0, j1)
    return out


@njit(inline="always")
def run_rows_marking_nb(rows, code, a0, a1, a2, a3, a4, n_in, p, out, holes, w):
    """`run_rows_nb` for kernels that mark the gappy columns themselves: `rows(..., j0, j1, holes)`."""
    n, m = a0.shape
    n_out = out.shape[0]
    for c in prange((m + w - 1) // w):
        j0, j1, start, t0 = chunk_nb(a0, a1, a2, a3, a4, n_in, out, n_out, c, w)
        if t0 >= n:
            continue
        rows(code, a0, a1, a2, a3, a4, out, p, start, j0, j1, holes)
    return out
