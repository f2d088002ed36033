"""The GPU form of `gaps.inputs_have_gaps`: one fused pass instead of a chain of CuPy reductions.

`has_gaps(valid_mask(...))` on CuPy is seven elementwise passes and three column reductions
over the (T, N) panel before the indicator itself starts, about the time of a cheap
indicator. Here one kernel reads every input once, many threads per column (a thread per
(column, block of bars)), and marks per column its first valid bar and its last missing bar;
a column has a gap when a missing bar comes after its first valid one.
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

import numpy as np

BARS_PER_THREAD = 64  # a thread checks this many bars of one column (independent loads, no carried state)
BLOCK = 256

_SOURCE = r"""
extern "C" __global__ void gap_marks(const double* a0, const double* a1, const double* a2, const double* a3,
                                     const double* a4, int n_in, int T, long long N, int tb, int* first, int* last_bad) {
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
    if (f < T) atomicMin(&first[col], f);
    if (bad >= 0) atomicMax(&last_bad[col], bad);
}
"""


@functools.lru_cache(maxsize=1)
def _kernel() -> Any:
    import cupy  # noqa: PLC0415

    return cupy.RawKernel(_SOURCE, "gap_marks")


def gappy_columns(arrays: Sequence[Any]) -> Any:
    """(N,) bool CuPy: the columns that miss a bar (any input NaN) after their first valid bar."""
    import cupy  # noqa: PLC0415

    if len(arrays) > 5:
        raise ValueError(f"gappy_columns takes at most 5 inputs, got {len(arrays)}")
    a = [cupy.ascontiguousarray(x, dtype=cupy.float64) for x in arrays]
    n_bars, n_cols = (int(d) for d in a[0].shape)
    first = cupy.full(n_cols, n_bars, dtype=cupy.int32)
    last_bad = cupy.full(n_cols, -1, dtype=cupy.int32)
    blocks = -(-n_bars // BARS_PER_THREAD)
    threads = blocks * n_cols
    if threads:
        _kernel()(((threads + BLOCK - 1) // BLOCK,), (BLOCK,),
                  (*a, *[a[0]] * (5 - len(a)), np.int32(len(a)), np.int32(n_bars), np.int64(n_cols),
                   np.int32(BARS_PER_THREAD), first, last_bad))
    return last_bad > first


def inputs_have_gaps(arrays: Sequence[Any]) -> bool:
    """True when some column misses a bar after its first valid one (one device-to-host sync)."""
    return bool(gappy_columns(arrays).any())
