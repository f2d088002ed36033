"""The orders engine's CUDA kernel (kernels/backtest/orders/gpu.py) built for the host with g++ and run
thread by thread on the CPU: the same source text as the GPU's, so CI checks its logic against the Numba
backend with no GPU (as tests/kernels/indicators/talib/cuda/cuda_host.py does for the TA-Lib kernels)."""
from __future__ import annotations

import ctypes
import hashlib
import os
from functools import lru_cache
from typing import Any

import numpy as np

from kernels.backtest.orders import gpu
from tests.kernels import host_build

FLAGS = ("-O2", "-shared", "-fPIC", "-std=c++14", "-ffp-contract=off", "-fno-fast-math", "-x", "c++")

# What the CUDA source needs from the CUDA headers, for g++: qualifiers that mean nothing on the host, the
# thread index (set by host_block before each thread), the bit cast HEADER's NaN and inf use, and the bit
# counts of the signal bitmaps.
SHIM = r"""
#include <cmath>
#include <cstring>
using std::isnan; using std::isinf; using std::fabs;
#define __device__
#define __global__
#define __forceinline__ inline
#define __restrict__ __restrict
struct RqDim { long long x; };
static RqDim blockIdx = {0}, blockDim = {1}, threadIdx = {0};
static inline double __longlong_as_double(unsigned long long v) { double d; std::memcpy(&d, &v, 8); return d; }
static inline int __popcll(unsigned long long v) { return __builtin_popcountll(v); }
static inline int __ffsll(long long v) { return __builtin_ffsll(v); }
extern "C" void host_block(long long g) { blockIdx.x = g; }
"""


@lru_cache(maxsize=1)
def library() -> ctypes.CDLL:
    """The kernel compiled for the host (cached by the hash of its text)."""
    text = SHIM + gpu.HEADER + gpu.STEP_SRC + gpu.KERNEL_SRC
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    host_build.BUILD_DIR.mkdir(parents=True, exist_ok=True)
    src = host_build.BUILD_DIR / f"orders-{key}.{os.getpid()}.cu"
    src.write_text(text)
    return host_build.build("orders", key, [*FLAGS, str(src)])


def simulate(p: Any) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """What gpu.simulate_device computes on the GPU, computed by the same source on the host:
    ({record field: array in vectorbt's order}, per-group error codes)."""
    args, out = gpu.launch_args(np, p, launch)
    launch("simulate_from_signals", len(p.group_start), args)  # one thread per group, as the GPU's
    return gpu.compact(np, out), out["errors"]


def launch(name: str, n_threads: int, args: tuple) -> None:
    """gpu.launch_on_device's launch on the host: the kernel's threads one after another."""
    dll = library()
    for t in range(n_threads):
        dll.host_block(ctypes.c_longlong(t))
        host_build.call(getattr(dll, name), *args)
