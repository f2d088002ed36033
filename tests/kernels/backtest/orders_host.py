"""The orders engine's CUDA kernel (kernels/backtest/orders/gpu.py) built for the host with g++ and run
thread by thread on the CPU: the same source text as the GPU's, so CI checks its logic against the Numba
backend with no GPU (as tests/kernels/indicators/talib/cuda/cuda_host.py does for the TA-Lib kernels)."""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from kernels.backtest.orders import gpu

CXX = shutil.which("g++")
BUILD_DIR = Path(tempfile.gettempdir()) / "rayquant-cuda-host"
FLAGS = ("-O2", "-shared", "-fPIC", "-std=c++14", "-ffp-contract=off", "-fno-fast-math", "-x", "c++")

# What the CUDA source needs from the CUDA headers, for g++: qualifiers that mean nothing on the host, the
# thread index (set by host_block before each thread), and the bit cast HEADER's NaN and inf use.
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
extern "C" void host_block(long long g) { blockIdx.x = g; }
"""


@lru_cache(maxsize=1)
def library() -> ctypes.CDLL:
    """The kernel compiled for the host (cached by the hash of its text)."""
    if CXX is None:
        raise RuntimeError("g++ is needed to build the CUDA source for the host")
    text = SHIM + gpu.HEADER + gpu.STEP_SRC + gpu.KERNEL_SRC
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    lib = BUILD_DIR / f"orders-{hashlib.sha256(text.encode()).hexdigest()[:16]}.so"
    if not lib.exists():
        src = BUILD_DIR / f"{lib.stem}.{os.getpid()}.cu"
        src.write_text(text)
        tmp = lib.with_name(f"{lib.stem}.{os.getpid()}.tmp.so")  # test workers may build it at once
        subprocess.run([CXX, *FLAGS, str(src), "-o", str(tmp)], check=True, capture_output=True, text=True)
        tmp.replace(lib)
    return ctypes.CDLL(str(lib))


def _ctype(a: Any) -> Any:
    if isinstance(a, np.ndarray):
        return ctypes.c_void_p
    return ctypes.c_longlong if isinstance(a, np.int64) else ctypes.c_int


def simulate(p: Any) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """What gpu.simulate_device computes on the GPU, computed by the same source on the host:
    ({record field: array in vectorbt's order}, per-group error codes)."""
    args, out = gpu.launch_args(np, p)
    dll = library()
    fn = dll.simulate_from_signals
    fn.argtypes = [_ctype(a) for a in args]
    fn.restype = None
    raw = [a.ctypes.data if isinstance(a, np.ndarray) else int(a) for a in args]
    for g in range(len(p.group_start)):  # one thread per group, as the GPU's
        dll.host_block(ctypes.c_longlong(g))
        fn(*raw)
    return gpu.compact(np, out), out["errors"]
