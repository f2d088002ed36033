"""Backend selection: which array library runs a computation.

`backend` is "cpu" (NumPy + Numba), "gpu" (CuPy) or "auto". An explicit request
that cannot be honoured raises `BackendUnavailable`; only "auto" falls back, and
callers record the backend that actually ran (modelled on vectorbt's
`resolve_engine`).
"""
from __future__ import annotations

import functools
from types import ModuleType
from typing import Any, Literal

import numpy as np

BackendName = Literal["cpu", "gpu", "auto"]
BACKENDS: tuple[str, ...] = ("cpu", "gpu", "auto")


class BackendUnavailable(RuntimeError):
    """An explicitly requested backend cannot run here (no CuPy or no device)."""


@functools.lru_cache(maxsize=1)
def _cupy() -> ModuleType | None:
    try:
        import cupy  # noqa: PLC0415 - optional dependency
    except Exception:  # ImportError, or a CUDA library that fails to load
        return None
    return cupy


@functools.lru_cache(maxsize=1)
def gpu_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    cp = _cupy()
    if cp is None:
        return False
    try:
        return cp.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def is_gpu_array(a: Any) -> bool:
    """True for a CuPy ndarray (without importing CuPy when it is absent)."""
    return type(a).__module__.startswith("cupy") and hasattr(a, "__cuda_array_interface__")


def resolve_backend(backend: str, *arrays: Any) -> str:
    """Return "cpu" or "gpu" for a requested backend and the inputs at hand.

    CuPy inputs run on the GPU; asking for "cpu" with CuPy inputs is an error
    rather than a silent device-to-host copy.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    on_gpu = any(is_gpu_array(a) for a in arrays)
    if backend == "cpu":
        if on_gpu:
            raise ValueError("backend='cpu' was requested but the inputs are CuPy arrays")
        return "cpu"
    if backend == "gpu" or on_gpu:
        if not gpu_available():
            raise BackendUnavailable("backend='gpu' needs CuPy and a CUDA device; none is available here")
        return "gpu"
    return "gpu" if gpu_available() else "cpu"


def array_module(backend: str) -> ModuleType:
    """NumPy for "cpu", CuPy for "gpu"."""
    if backend == "gpu":
        cp = _cupy()
        if cp is None:
            raise BackendUnavailable("CuPy is not installed")
        return cp
    if backend == "cpu":
        return np
    raise ValueError(f"array_module takes 'cpu' or 'gpu', got {backend!r}")


def get_array_module(*arrays: Any) -> ModuleType:
    """CuPy if any input is a CuPy array, else NumPy."""
    if any(is_gpu_array(a) for a in arrays):
        return array_module("gpu")
    return np


def to_backend(a: Any, backend: str, dtype: Any = None) -> Any:
    """Move an array to the backend's array library (no copy when already there)."""
    xp = array_module(backend)
    if backend == "cpu" and is_gpu_array(a):
        a = a.get()
    return xp.asarray(a, dtype=dtype)


def to_numpy(a: Any) -> np.ndarray:
    """A NumPy view or copy of a NumPy or CuPy array."""
    return a.get() if is_gpu_array(a) else np.asarray(a)
