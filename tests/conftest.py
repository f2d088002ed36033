"""Shared test configuration: backend x dtype grid and automatic GPU skips."""
from __future__ import annotations

import os
from typing import Iterator

import numpy as np
import pytest

from kernels.backend import gpu_available

# Numba compiles into __pycache__; keep threads modest on 2-core CI machines.
os.environ.setdefault("NUMBA_NUM_THREADS", str(max(1, min(4, os.cpu_count() or 1))))

NO_GPU_REASON = "needs CuPy and a CUDA device (none here); run on the GPU machine via bench/gpu_all.sh"

# Relative tolerances by dtype for cross-backend and oracle comparisons.
RTOL = {np.float64: 1e-9, np.float32: 1e-4}


def backend_dtype_grid(dtypes: tuple = (np.float64,)) -> Iterator:
    """(backend, dtype) pairs for parametrised tests; GPU cases carry the gpu mark."""
    for backend in ("cpu", "gpu"):
        for dtype in dtypes:
            marks = [pytest.mark.gpu] if backend == "gpu" else []
            yield pytest.param(backend, dtype, marks=marks, id=f"{backend}-{np.dtype(dtype).name}")


def backends() -> Iterator:
    """The two backends as parameters; the GPU one carries the gpu mark."""
    yield pytest.param("cpu", id="cpu")
    yield pytest.param("gpu", marks=[pytest.mark.gpu], id="gpu")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if gpu_available():
        return
    skip_gpu = pytest.mark.skip(reason=NO_GPU_REASON)
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
