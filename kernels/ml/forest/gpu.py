"""GPU backend of the packed tree ensembles: one CUDA kernel, a thread per row (CuPy RawModule).

Each thread walks every tree in order for its row, for exactly the tree's depth
(leaves point to themselves, so the threads of a warp loop the same number of
times), and adds the leaf values into a register accumulator that starts from
`out` (the caller's init): the same sums in the same order as the Numba kernels
and scikit-learn, hence the same bits. Only additions happen in the kernel (no
multiply-add to contract). X is read transposed (features, rows) so that the
threads of a warp, which test the same root feature, load consecutive floats;
a node is one 16-byte `int4` load through the read-only cache.

Lazy: CuPy is imported inside functions and the module compiles on first use.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import numpy as np

from kernels.backend import is_gpu_array

BLOCK = 128  # threads per block
_TEMPLATED_OUTS = (1, 2)  # n_out with a register accumulator; others use the generic (0) kernel

_CODE = r"""
template<int NOUT>
__global__ void forest_sum(const float* __restrict__ xt, const int4* __restrict__ nodes,
                           const double* __restrict__ values, const long long* __restrict__ roots,
                           const long long* __restrict__ depths, const long long n_rows,
                           const int n_trees, const int n_out, double* __restrict__ out) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n_rows) return;
    double acc[NOUT > 0 ? NOUT : 1];
    if (NOUT > 0) {
        for (int k = 0; k < NOUT; ++k) acc[k] = out[i * NOUT + k];
    }
    for (int t = 0; t < n_trees; ++t) {
        long long node = roots[t];
        const long long depth = depths[t];
        for (long long d = 0; d < depth; ++d) {
            const int4 nd = __ldg(&nodes[node]);
            const float x = xt[(long long)(nd.x & 0x7fffffff) * n_rows + i];
            const bool right = (x > __int_as_float(nd.w)) || (x != x && nd.x >= 0);
            node = right ? nd.z : nd.y;
        }
        if (NOUT > 0) {
            for (int k = 0; k < NOUT; ++k) acc[k] += values[node * NOUT + k];
        } else {
            for (int k = 0; k < n_out; ++k) out[i * n_out + k] += values[node * n_out + k];
        }
    }
    if (NOUT > 0) {
        for (int k = 0; k < NOUT; ++k) out[i * NOUT + k] = acc[k];
    }
}
"""
_NAMES = tuple(f"forest_sum<{k}>" for k in (0, *_TEMPLATED_OUTS))


@functools.lru_cache(maxsize=1)
def _module() -> Any:
    import cupy  # noqa: PLC0415

    return cupy.RawModule(code=_CODE, options=("--std=c++14",), name_expressions=_NAMES)


def _get_module_func(n_out: int) -> Any:
    k = n_out if n_out in _TEMPLATED_OUTS else 0
    return _module().get_function(f"forest_sum<{k}>")


def to_device(forest: Any) -> Any:
    """The same PackedForest with its arrays in device memory (copy it once, reuse it per call)."""
    import cupy  # noqa: PLC0415

    return dataclasses.replace(forest, nodes=cupy.asarray(forest.nodes), values=cupy.asarray(forest.values),
                               roots=cupy.asarray(forest.roots), depths=cupy.asarray(forest.depths))


def forest_sum(forest: Any, xt: Any, out: Any) -> None:
    """Launch: out (rows, n_out) float64 += leaf sums of xt (features, rows) float32, all on the device.

    Asynchronous on the current stream; `forest` from `to_device`.
    """
    n_rows = int(xt.shape[1])
    if n_rows == 0:
        return
    n_out = int(forest.values.shape[1])
    grid = ((n_rows + BLOCK - 1) // BLOCK,)
    _get_module_func(n_out)(grid, (BLOCK,), (
        xt, forest.nodes, forest.values, forest.roots, forest.depths, np.int64(n_rows),
        np.int32(forest.roots.shape[0]), np.int32(n_out), out))


def forest_raw(forest: Any, X: Any) -> np.ndarray:
    """Per-row sums (rows, n_out) float64 as a host array; X host or device (rows, features)."""
    import cupy  # noqa: PLC0415

    dev = forest if is_gpu_array(forest.nodes) else to_device(forest)
    X = X if is_gpu_array(X) else np.asarray(X)
    xt = cupy.ascontiguousarray(cupy.asarray(X).astype(cupy.float32, copy=False).T)
    out = cupy.empty((xt.shape[1], int(forest.values.shape[1])), dtype=cupy.float64)
    out[:] = cupy.asarray(forest.init)
    forest_sum(dev, xt, out)
    return cupy.asnumpy(out)


def warmups() -> dict[str, Callable[[], Any]]:
    """One callable per kernel variant that compiles it (the `kernels.prewarm` convention)."""
    return {name: functools.partial(_get_module_func, k) for name, k in zip(_NAMES, (0, *_TEMPLATED_OUTS))}
