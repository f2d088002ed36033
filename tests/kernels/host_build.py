"""Build CUDA C text for the host with g++ and call it through ctypes: how CI runs the GPU kernels' logic
with no GPU (indicators/talib/cuda/cuda_host.py, backtest/orders_host.py)."""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

CXX = shutil.which("g++")
BUILD_DIR = Path(tempfile.gettempdir()) / "rayquant-cuda-host"


def build(name: str, key: str, args: Sequence[str]) -> ctypes.CDLL:
    """`g++ <args> -o BUILD_DIR/<name>-<key>.so`, once per key (the hash of what it compiles)."""
    if CXX is None:
        raise RuntimeError("g++ is needed to build the CUDA sources for the host")
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    lib = BUILD_DIR / f"{name}-{key}.so"
    if not lib.exists():
        tmp = lib.with_name(f"{lib.stem}.{os.getpid()}.tmp.so")  # test workers may build it at once
        subprocess.run([CXX, *args, "-o", str(tmp)], check=True, capture_output=True, text=True)
        tmp.replace(lib)
    return ctypes.CDLL(str(lib))


def call(fn: Any, *args: Any) -> None:
    """fn(*args) with NumPy arrays (and np.uint64, a null pointer's stand-in) as pointers, np.int64 as long
    long and other numbers as int."""
    fn.argtypes = [ctypes.c_void_p if isinstance(a, (np.ndarray, np.uint64)) else
                   ctypes.c_longlong if isinstance(a, np.int64) else ctypes.c_int for a in args]
    fn.restype = None
    fn(*[a.ctypes.data if isinstance(a, np.ndarray) else int(a) for a in args])
