"""CPU backend of the packed tree ensembles: Numba traversal kernels.

Both kernels add the leaf values of every tree, in tree order, into `out` (rows,
n_out) float64, which the caller fills with the start value: per row the sum is
init + v_0 + v_1 + ..., the order and arithmetic of scikit-learn (forests'
`_accumulate_prediction` with one job, boosting's `predict_stages`), so the
results are bit-identical. Trees are the outer loop and the rows the inner one,
so one tree's nodes stay in cache while every row of a block walks it.

Traversal is branch-free and in lockstep: LANES rows descend the same tree
together for exactly the tree's depth (a leaf points to itself), choosing the
child by index (`nodes[node, 1 + go_right]`), so the CPU overlaps the LANES
independent chains of loads and mispredicts no branch (3-4x over a plain
`while not leaf` loop on a 100-tree, depth-12 forest).

Node layout (`kernels.ml.forest.api.PackedForest`): `nodes` int32 (n_nodes, 4) =
(feature | MISSING_LEFT, left, right, threshold bits), `thresholds` its float32
view of column 3. X is float32, as scikit-learn casts it before traversal, so
`x > t32` with t32 the largest float32 <= scikit-learn's float64 threshold goes
right exactly when scikit-learn's `not x <= t` does. A NaN goes right unless the
node's MISSING_LEFT bit (scikit-learn's `missing_go_to_left`) is set.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

LANES = 8  # rows that descend a tree in lockstep
ROW_BLOCK = 64  # rows per task of the parallel kernel (each task walks every tree)
FEATURE_MASK = 0x7FFFFFFF  # feature index bits of nodes[:, 0]; the sign bit is MISSING_LEFT


@njit(cache=True, nogil=True, inline="always")
def _child_nb(X: np.ndarray, i: int, nodes: np.ndarray, thresholds: np.ndarray, node: int) -> int:
    f = nodes[node, 0]
    x = X[i, f & FEATURE_MASK]
    go_right = np.int64(x > thresholds[node]) | (np.int64(x != x) & np.int64(f >= 0))
    return nodes[node, 1 + go_right]


@njit(cache=True, nogil=True)
def _sum_rows_nb(X: np.ndarray, nodes: np.ndarray, thresholds: np.ndarray, values: np.ndarray,
                 roots: np.ndarray, depths: np.ndarray, out: np.ndarray, r0: int, r1: int) -> None:
    n_out = values.shape[1]
    cur = np.empty(LANES, np.int64)
    for t in range(roots.shape[0]):
        root = roots[t]
        depth = depths[t]
        i0 = r0
        while i0 + LANES <= r1:
            for lane in range(LANES):
                cur[lane] = root
            for _ in range(depth):
                for lane in range(LANES):
                    cur[lane] = _child_nb(X, i0 + lane, nodes, thresholds, cur[lane])
            for lane in range(LANES):
                for k in range(n_out):
                    out[i0 + lane, k] += values[cur[lane], k]
            i0 += LANES
        for i in range(i0, r1):
            node = root
            for _ in range(depth):
                node = _child_nb(X, i, nodes, thresholds, node)
            for k in range(n_out):
                out[i, k] += values[node, k]


@njit(cache=True, nogil=True)
def forest_sum_nb(X: np.ndarray, nodes: np.ndarray, thresholds: np.ndarray, values: np.ndarray,
                  roots: np.ndarray, depths: np.ndarray, out: np.ndarray) -> None:
    """out[i] += the leaf values of row i, tree by tree in order; one thread."""
    _sum_rows_nb(X, nodes, thresholds, values, roots, depths, out, 0, X.shape[0])


@njit(cache=True, nogil=True, parallel=True)
def forest_sum_parallel_nb(X: np.ndarray, nodes: np.ndarray, thresholds: np.ndarray, values: np.ndarray,
                           roots: np.ndarray, depths: np.ndarray, out: np.ndarray) -> None:
    """`forest_sum_nb` over blocks of ROW_BLOCK rows on Numba's threads (the same sums)."""
    n = X.shape[0]
    n_blocks = (n + ROW_BLOCK - 1) // ROW_BLOCK
    for b in prange(n_blocks):
        r0 = b * ROW_BLOCK
        _sum_rows_nb(X, nodes, thresholds, values, roots, depths, out, r0, min(n, r0 + ROW_BLOCK))
