"""The CUDA C column kernels (kernels/indicators/talib/cuda/) built for the host with g++ and run
column by column on the CPU: the same source text as the GPU's, so CI checks it against TA-Lib."""
from __future__ import annotations

import ctypes
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from kernels.indicators.talib import gpu_columns, gpu_scan, time_split
from tests.kernels import host_build

CXX = host_build.CXX
FLAGS = ("-O2", "-shared", "-fPIC", "-std=c++17", "-ffp-contract=off", "-fno-fast-math", "-x", "c++")


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(gpu_columns.INCLUDE_DIR.glob("*.cuh")) + sorted(gpu_columns.INCLUDE_DIR.glob("*.h")) + [path]:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _build(source: Path, name: str) -> ctypes.CDLL:
    """`source` compiled for the host (after host_shim.h, with include/ on the path)."""
    return host_build.build(name, _digest(source), [*FLAGS, "-include", str(gpu_columns.INCLUDE_DIR / "host_shim.h"),
                                                   f"-I{gpu_columns.INCLUDE_DIR}", str(source)])


@lru_cache(maxsize=None)
def library(group: str) -> ctypes.CDLL:
    """cuda/<group>.cu compiled for the host."""
    src = gpu_columns.sources()[group]
    dll = _build(src.path, group)
    fn = getattr(dll, f"host_{src.entry}")
    dp = ctypes.c_void_p
    fn.argtypes = [ctypes.c_int, dp, dp, dp, dp, dp, ctypes.c_int, dp, dp, ctypes.c_int, dp, ctypes.c_int,
                   ctypes.c_int, ctypes.c_longlong, ctypes.c_int, ctypes.c_int, dp]
    fn.restype = None
    return dll


def run(name: str, ins: Sequence[np.ndarray], values: Mapping[str, Any], n_out: int,
        split: time_split.Split | None = None) -> list[np.ndarray]:
    """What gpu_columns.run computes on the GPU, computed by the same source on the host (`split`:
    time segments as the GPU would cut them; default one segment a column)."""
    arrays = [np.ascontiguousarray(a, dtype=np.float64) for a in ins]
    job = gpu_columns.plan(name, len(arrays), values, n_out)
    n_bars, n_cols = arrays[0].shape
    split = split or time_split.plan(n_bars, n_cols, None)
    out, scratch, wbuf = gpu_columns.buffers(np, job, split, n_cols)
    out.fill(-7.0)  # a bar the kernel forgot to write shows up (the GPU's empty() is not NaN either)
    params = np.ascontiguousarray(job.params)
    fn = getattr(library(job.source.group), f"host_{job.source.entry}")
    args = gpu_columns.launch_args(job, arrays, params, out, scratch, wbuf, split, n_cols)
    fn(*[a.ctypes.data if isinstance(a, np.ndarray) else int(a) for a in args])
    return [out[k] for k in range(n_out)]



@lru_cache(maxsize=None)
def scan_library(source: Path) -> ctypes.CDLL:
    """A source of cuda/scan/ (gpu_scan's phases) compiled for the host."""
    return _build(source, f"scan-{source.stem}")


def run_scan(name: str, ins: Sequence[np.ndarray], values: Mapping[str, Any], split: time_split.Split,
             phases: int | None = None, marks: np.ndarray | None = None) -> list[np.ndarray]:
    """What gpu_scan.run computes on the GPU, computed by the same source on the host (`phases`: only
    the first so many; `marks`: (2, N) int32, -1, filled with the gap marks as on the GPU)."""
    arrays = [np.ascontiguousarray(a, dtype=np.float64) for a in ins]
    scan = gpu_scan.prepare(np, name, arrays, values, split, marks)
    scan.out.fill(-7.0)  # a bar the kernel forgot to write shows up
    dll = scan_library(scan.technique.source)
    for entry, per_column in scan.entries()[:phases]:
        host_build.call(getattr(dll, f"host_{entry}"), np.int64(scan.threads(per_column)), *scan.args)
    return list(scan.out)
