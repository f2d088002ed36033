"""The GPU form of `gaps.inputs_have_gaps`: one fused pass instead of a chain of CuPy reductions.

`has_gaps(valid_mask(...))` on CuPy is seven elementwise passes and three column reductions
over the (T, N) panel before the indicator itself starts, about the time of a cheap
indicator. Here one kernel reads every input once, many threads per column (a thread per
(column, block of bars)), and marks per column its first valid bar and its last missing bar;
a column has a gap when a missing bar comes after its first valid one.

The marks are (2, N) int32, -1 to start with (`new_marks`): marks[0, col] = T - 1 - the column's first
valid bar, marks[1, col] = its last bar where an input is NaN, both atomic maxima. The TA-Lib column
kernels write the same marks for the bars each of their threads owns while they compute
(`cuda/include/column.cuh`, rq_mark_gaps), so a call on them needs no pass of its own (`gappy`).
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

import numpy as np

BARS_PER_THREAD = 64  # a thread checks this many bars of one column (independent loads, no carried state)
BLOCK = 256

_SOURCE = r"""
extern "C" __global__ void gap_marks(const double* a0, const double* a1, const double* a2, const double* a3,
                                     const double* a4, int n_in, int T, long long N, int tb, int* marks) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long col = idx % N, blk = idx / N;
    int t0 = (int)blk * tb;
    if (t0 >= T) return;
    int t1 = t0 + tb < T ? t0 + tb : T;
    const double* ins[5] = {a0, a1, a2, a3, a4};
    int f = T, bad = -1;
    for (int t = t0; t < t1; ++t) {
        bool ok = true;
        for (int i = 0; i < n_in; ++i) { double v = ins[i][(long long)t * N + col]; ok = ok && (v == v); }
        if (ok) { if (f == T) f = t; } else bad = t;
    }
    if (f < T) atomicMax(&marks[col], T - 1 - f);
    if (bad >= 0) atomicMax(&marks[N + col], bad);
}
"""


@functools.lru_cache(maxsize=1)
def _kernel() -> Any:
    import cupy  # noqa: PLC0415

    return cupy.RawKernel(_SOURCE, "gap_marks")


def new_marks(n_cols: int) -> Any:
    """Gap marks of `n_cols` columns before any bar is seen: (2, n_cols) int32, -1."""
    import cupy  # noqa: PLC0415

    return cupy.full((2, n_cols), -1, dtype=cupy.int32)


def mark(arrays: Sequence[Any], marks: Any) -> Any:
    """Mark every bar of the (T, N) inputs into `marks` (`new_marks(N)`); returns `marks`."""
    import cupy  # noqa: PLC0415

    if len(arrays) > 5:
        raise ValueError(f"gap marks take at most 5 inputs, got {len(arrays)}")
    a = [cupy.ascontiguousarray(x, dtype=cupy.float64) for x in arrays]
    n_bars, n_cols = (int(d) for d in a[0].shape)
    threads = -(-n_bars // BARS_PER_THREAD) * n_cols
    if threads:
        _kernel()(((threads + BLOCK - 1) // BLOCK,), (BLOCK,),
                  (*a, *[a[0]] * (5 - len(a)), np.int32(len(a)), np.int32(n_bars), np.int64(n_cols),
                   np.int32(BARS_PER_THREAD), marks))
    return marks


def gappy(marks: Any, n_bars: int) -> Any:
    """(N,) bool CuPy from complete marks: the columns that miss a bar after their first valid bar."""
    return marks[1] > (n_bars - 1) - marks[0]


def gappy_columns(arrays: Sequence[Any]) -> Any:
    """(N,) bool CuPy: the columns that miss a bar (any input NaN) after their first valid bar."""
    return gappy(mark(arrays, new_marks(int(arrays[0].shape[1]))), int(arrays[0].shape[0]))


def inputs_have_gaps(arrays: Sequence[Any]) -> bool:
    """True when some column misses a bar after its first valid one (one device-to-host sync)."""
    return bool(gappy_columns(arrays).any())
