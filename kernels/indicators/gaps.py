"""The NaN policy for interior gaps, once for every indicator: compact, compute, scatter back.

`nan_policy="skip"` (the default of the public API): a bar where any input of an
indicator is NaN is *missing* for that indicator. Windows run over the last `n`
valid values, so an interior NaN does not poison the rest of the series, and the
output is NaN at the missing bars. A gap (a run of missing bars after the column
started) longer than `max_gap` bars ends a *segment*: the warm-up restarts at the
next valid bar (`max_gap=None`: gaps never restart the warm-up).

It is implemented once, around the unchanged kernels: per column the valid values
of each segment are packed into a column of their own (`gather`), the indicator
kernel runs on those columns (a segment is a late-starting column of the kernel's
own semantics: padded with NaN after its last value, which no earlier output
reads), and the outputs are written back to the valid bars (`scatter`), NaN
elsewhere. The CPU does the packing in Numba (`gather_nb` / `scatter_nb`), the GPU
with array operations (`gather_xp` / `scatter_xp`, also the test oracle of the
Numba pair). Columns without interior gaps (valid from their first bar to the end)
need no packing: `has_gaps` is False and the kernels run as they are.

`nan_policy="propagate"`: the kernels as they are, which is TA-Lib's behaviour bit
for bit (a NaN goes through TA-Lib's arithmetic and typically poisons running sums).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numba
import numpy as np
from numba import njit, prange

NAN_POLICIES: tuple[str, ...] = ("skip", "propagate")
NO_RESTART = np.iinfo(np.int64).max // 4


def check_policy(func: str, nan_policy: Any, max_gap: Any) -> tuple[str, int]:
    """Validated (policy, max_gap as an int: NO_RESTART for None); ValueError naming the argument."""
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"{func}: nan_policy must be one of {list(NAN_POLICIES)}, got {nan_policy!r}")
    if max_gap is None:
        return str(nan_policy), int(NO_RESTART)
    if isinstance(max_gap, bool) or not isinstance(max_gap, (int, np.integer)) or int(max_gap) < 0:
        raise ValueError(f"{func}: max_gap must be None or an integer >= 0 (bars), got {max_gap!r}")
    return str(nan_policy), int(max_gap)


def valid_mask(xp: Any, arrays: Sequence[Any]) -> Any:
    """(T, N) bool: every input is non-NaN at that bar."""
    valid = ~xp.isnan(arrays[0])
    for a in arrays[1:]:
        valid &= ~xp.isnan(a)
    return valid


def has_gaps(xp: Any, valid: Any) -> bool:
    """True when some column misses a bar after its first valid one (an interior or trailing gap)."""
    n_bars = valid.shape[0]
    any_valid = valid.any(axis=0)
    first = xp.where(any_valid, valid.argmax(axis=0), n_bars)
    count = valid.sum(axis=0)
    return bool((any_valid & (count < n_bars - first)).any())


@dataclass(frozen=True)
class Segments:
    """Where the valid bars go: column i's segments are packed columns offsets[i]..offsets[i+1]-1.

    `n_segments` packed columns; `n_rows` is the longest segment. On the
    GPU also the flat coordinates of every valid bar (`t`, `col`) and its packed
    place (`k`, `seg`).
    """

    n_segments: int
    n_rows: int
    max_gap: int
    offsets: Any = None
    t: Any = None
    col: Any = None
    k: Any = None
    seg: Any = None


def inputs_have_gaps(xp: Any, arrays: Sequence[Any]) -> bool:
    """`has_gaps(valid_mask(arrays))` without building the mask: one parallel pass on the CPU, one
    fused kernel on the GPU (`gaps_gpu`)."""
    if xp is not np:
        if len(arrays) <= 5:
            from kernels.indicators import gaps_gpu  # noqa: PLC0415 - CuPy only with CuPy inputs

            return gaps_gpu.inputs_have_gaps(arrays)
        return has_gaps(xp, valid_mask(xp, arrays))
    a = [np.ascontiguousarray(x) for x in arrays]
    while len(a) < 4:
        a.append(a[0])
    if len(a) > 4:
        return has_gaps(np, valid_mask(np, arrays))
    n_cols = a[0].shape[1]
    n_blocks = max(1, min(numba.get_num_threads(), n_cols // 256))
    if n_blocks == 1 or a[0].size < SERIAL_CELLS:  # a thread-pool launch would cost more than the pass
        return bool(gaps4_block_nb(a[0], a[1], a[2], a[3], 0, n_cols))
    return bool(gaps4_nb(a[0], a[1], a[2], a[3], n_blocks))


# ------------------------------------------------------------------------ CPU (Numba)
SERIAL_CELLS = 1 << 18  # inputs smaller than this are checked on the calling thread


@njit(cache=True, nogil=True)
def gaps4_block_nb(a, b, c, d, i0, i1):  # pragma: no cover - compiled
    """True when some column of i0:i1 misses a bar (any of a, b, c, d NaN) after its first valid bar.
    Row-major, branch-free (SIMD over the columns)."""
    n_bars = a.shape[0]
    started = np.zeros(i1 - i0, dtype=np.uint8)
    hole = np.uint8(0)
    for t in range(n_bars):
        row = np.uint8(0)
        for i in range(i0, i1):
            v = np.uint8((a[t, i] == a[t, i]) & (b[t, i] == b[t, i]) & (c[t, i] == c[t, i]) & (d[t, i] == d[t, i]))
            s = started[i - i0]
            row |= s & (v ^ np.uint8(1))
            started[i - i0] = s | v
        hole |= row
        if hole:
            break
    return hole != 0


@njit(cache=True, nogil=True, parallel=True)
def gaps4_nb(a, b, c, d, n_blocks):  # pragma: no cover - compiled
    """`gaps4_block_nb` over n_blocks blocks of columns in parallel."""
    n_cols = a.shape[1]
    found = np.zeros(n_blocks, dtype=np.uint8)
    for blk in prange(n_blocks):
        found[blk] = gaps4_block_nb(a, b, c, d, blk * n_cols // n_blocks, (blk + 1) * n_cols // n_blocks)
    return found.any()


@njit(cache=True, nogil=True)
def segment_counts_nb(valid, max_gap):  # pragma: no cover - compiled
    """Per column: (number of segments, longest segment)."""
    n_bars, n_cols = valid.shape
    counts = np.zeros(n_cols, dtype=np.int64)
    longest = 0
    for i in range(n_cols):
        run_len = 0
        gap = -1  # -1: the column has not started
        for t in range(n_bars):
            if valid[t, i]:
                if gap < 0 or gap > max_gap:
                    counts[i] += 1
                    run_len = 0
                run_len += 1
                if run_len > longest:
                    longest = run_len
                gap = 0
            elif gap >= 0:
                gap += 1
    return counts, longest


@njit(cache=True, nogil=True)
def gather_nb(x, valid, max_gap, offsets, out):  # pragma: no cover - compiled
    """Pack the valid values of x (T, N) segment by segment into out (rows, S) (pre-filled with NaN)."""
    n_bars, n_cols = x.shape
    for i in range(n_cols):
        s = offsets[i] - 1
        k = 0
        gap = -1
        for t in range(n_bars):
            if valid[t, i]:
                if gap < 0 or gap > max_gap:
                    s += 1
                    k = 0
                out[k, s] = x[t, i]
                k += 1
                gap = 0
            elif gap >= 0:
                gap += 1


@njit(cache=True, nogil=True)
def scatter_nb(packed, valid, max_gap, offsets, out):  # pragma: no cover - compiled
    """The inverse of gather_nb: packed (rows, S) back to the valid bars of out (T, N); NaN elsewhere."""
    n_bars, n_cols = out.shape
    for i in range(n_cols):
        s = offsets[i] - 1
        k = 0
        gap = -1
        for t in range(n_bars):
            if valid[t, i]:
                if gap < 0 or gap > max_gap:
                    s += 1
                    k = 0
                out[t, i] = packed[k, s]
                k += 1
                gap = 0
            else:
                out[t, i] = np.nan
                if gap >= 0:
                    gap += 1


def plan_nb(valid: np.ndarray, max_gap: int) -> Segments:
    counts, longest = segment_counts_nb(np.ascontiguousarray(valid), np.int64(max_gap))
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return Segments(int(offsets[-1]), int(longest), int(max_gap), offsets=offsets)


# ------------------------------------------------------------------ GPU (xp, also the oracle)
def plan_xp(xp: Any, valid: Any, max_gap: int) -> Segments:
    """Segments from array operations: the valid bars in (column, time) order and their packed places."""
    col, t = xp.nonzero(valid.T)  # sorted by column, then time
    n = int(t.shape[0])
    if n == 0:
        return Segments(0, 0, max_gap, t=t, col=col, k=t, seg=t)
    start = xp.ones(n, dtype=bool)
    if n > 1:
        start[1:] = (col[1:] != col[:-1]) | ((t[1:] - t[:-1] - 1) > max_gap)
    seg = xp.cumsum(start) - 1
    starts = xp.nonzero(start)[0]
    k = xp.arange(n) - starts[seg]
    n_segments = int(starts.shape[0])
    lengths = xp.diff(xp.concatenate([starts, xp.asarray([n], dtype=starts.dtype)]))
    return Segments(n_segments, int(lengths.max()), max_gap, t=t, col=col, k=k, seg=seg)


def gather_xp(xp: Any, x: Any, seg: Segments) -> Any:
    out = xp.full((x.shape[0], max(seg.n_segments, 1)), xp.nan, dtype=x.dtype)
    if seg.n_segments:
        out[seg.k, seg.seg] = x[seg.t, seg.col]
    return out


def scatter_xp(xp: Any, packed: Any, seg: Segments, shape: tuple) -> Any:
    out = xp.full(shape, xp.nan, dtype=packed.dtype)
    if seg.n_segments:
        out[seg.t, seg.col] = packed[seg.k, seg.seg]
    return out


# ------------------------------------------------------------------ one entry point
def plan(xp: Any, valid: Any, max_gap: int) -> Segments:
    return plan_nb(valid, max_gap) if xp is np else plan_xp(xp, valid, max_gap)


def gather(xp: Any, arrays: Sequence[Any], valid: Any, seg: Segments) -> list:
    """Each input packed to (T, S), C-contiguous (S >= 1; unused cells are NaN).

    The packed columns keep the data's T rows, so the kernels see the same length
    (and the same period checks) as without gaps."""
    if xp is not np:
        return [xp.ascontiguousarray(gather_xp(xp, a, seg)) for a in arrays]
    out = []
    for a in arrays:
        packed = np.full((a.shape[0], max(seg.n_segments, 1)), np.nan, dtype=a.dtype)
        gather_nb(a, valid, np.int64(seg.max_gap), seg.offsets, packed)
        out.append(packed)
    return out


def scatter(xp: Any, packed: Any, valid: Any, seg: Segments) -> Any:
    """A packed (rows, S) output back to (T, N): values at the valid bars, NaN elsewhere."""
    shape = tuple(valid.shape)
    if xp is not np:
        return scatter_xp(xp, packed, seg, shape)
    out = np.empty(shape, dtype=packed.dtype)
    scatter_nb(np.ascontiguousarray(packed), valid, np.int64(seg.max_gap), seg.offsets, out)
    return out


def run_with_policy(xp: Any, arrays: Sequence[Any], policy: str, max_gap: int, kernel: Any) -> list:
    """`kernel` (2-D inputs -> list of 2-D outputs) under a NaN policy: the one entry point for
    any indicator family (`policy`, `max_gap` from `check_policy`). "propagate" and inputs
    without gaps call the kernel on the inputs as they are; otherwise pack, compute, scatter."""
    if policy == "propagate" or not inputs_have_gaps(xp, arrays):
        return kernel(list(arrays))
    valid = valid_mask(xp, arrays)
    seg = plan(xp, valid, max_gap)
    packed = gather(xp, list(arrays), valid, seg)
    return [scatter(xp, o, valid, seg) for o in kernel(packed)]

