"""Dispatch for the TA-Lib functions: validate, pick the backend by array kind, wrap the result.

NumPy (or pandas) inputs run on the CPU backend (`cpu/`, Numba), CuPy inputs on the
GPU backend (`gpu.py`). The output has the kind of the first input: a Series for a
Series, a DataFrame with the same index and columns for a DataFrame, NumPy / CuPy
arrays otherwise, (T,) or (T, N) as the input. Multi-output functions return a
named tuple with TA-Lib's output names (`BBANDS(...).upperband`).

Semantics (TA-Lib 0.8 is the reference):
- Values equal TA-Lib's to 1e-9 (the kernels perform TA-Lib's operations in its
  order) and there is no value exactly where TA-Lib has none: NaN for real
  outputs, 0 for integer outputs (int32, as TA-Lib returns them).
- A column whose data starts late (leading NaN in any input) starts its warm-up at
  its first bar where every input is non-NaN: the result equals TA-Lib run on that
  tail, padded (MAXINDEX-style outputs index the whole column).
- CPU results are (T, N) Fortran-ordered arrays (each column contiguous, as the kernels
  write them); GPU results C-ordered.
- float32 in -> float32 out (computed in float64). Parameters are validated by the
  table (`table.FUNCTIONS`): ValueError naming the parameter.
- Interior gaps follow the NaN policy of every indicator (`kernels/indicators/gaps.py`,
  docs/backtest-semantics.md *Interior gaps*): `nan_policy="skip"` (default) computes
  each column over its valid bars (a bar is valid when every input is non-NaN) and
  writes the values back at those bars, NaN (0 for integer outputs) at the missing
  ones; a gap of more than `max_gap` bars restarts the warm-up. MAXINDEX-style outputs
  still index the original bars. `nan_policy="propagate"` is TA-Lib's own behaviour,
  bit for bit. Both backends run the same packing (`gaps.gather` / `gaps.scatter`).
"""
from __future__ import annotations

from collections import namedtuple
from functools import lru_cache
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from kernels.backend import is_gpu_array
from kernels.indicators import gaps
from kernels.indicators.talib.table import FUNCTIONS, FuncDef
from kernels.wrapping import ArrayWrapper, as_array

Array = Any
INDEX_FUNCTIONS: frozenset[str] = frozenset({"MAXINDEX", "MININDEX", "MINMAXINDEX"})  # outputs are bar indices


@lru_cache(maxsize=None)
def result_type(name: str) -> type:
    """The named tuple of a multi-output function (`BBANDS` -> BBANDSResult(upperband, middleband, lowerband))."""
    return namedtuple(f"{name}Result", FUNCTIONS[name].outputs)


def prepare(fd: FuncDef, arrays: Sequence[Any]) -> tuple[list, str, int, Any, ArrayWrapper]:
    """Validated 2-D float64 inputs, the backend, the caller's ndim, output dtype and wrapper."""
    if len(arrays) != len(fd.inputs):
        raise ValueError(f"{fd.name}: expected {len(fd.inputs)} input array(s) {fd.inputs}, got {len(arrays)}")
    wrapper = ArrayWrapper.from_input(arrays[0])
    raw = []
    for name, a in zip(fd.inputs, arrays):
        if a is None:
            raise ValueError(f"{fd.name}: input {name!r} is missing")
        raw.append(as_array(a) if isinstance(a, (pd.Series, pd.DataFrame)) or is_gpu_array(a) else np.asarray(a))
    on_gpu = [is_gpu_array(a) for a in raw]
    if any(on_gpu) and not all(on_gpu):
        raise ValueError(f"{fd.name}: inputs mix CuPy and NumPy arrays")
    backend = "gpu" if any(on_gpu) else "cpu"
    shape = tuple(raw[0].shape)
    for name, a in zip(fd.inputs, raw):
        if a.ndim not in (1, 2):
            raise ValueError(f"{fd.name}: {name} must be 1-D (T,) or 2-D (T, N), got shape {tuple(a.shape)}")
        if tuple(a.shape) != shape:
            raise ValueError(f"{fd.name}: {name} has shape {tuple(a.shape)} but {fd.inputs[0]} has shape {shape}")
        if np.dtype(a.dtype).kind not in "fiub":
            raise ValueError(f"{fd.name}: {name} must be a real numeric array, got dtype {a.dtype}")
    if shape[0] == 0:
        raise ValueError(f"{fd.name}: the inputs have no bars (shape {shape})")
    out_dtype = np.float32 if all(a.dtype == np.float32 for a in raw) else np.float64
    if backend == "gpu":
        import cupy as xp  # noqa: PLC0415 - only with CuPy inputs
    else:
        xp = np
    prepared = [xp.ascontiguousarray((a.reshape(-1, 1) if a.ndim == 1 else a), dtype=np.float64) for a in raw]
    if xp is np:
        # Read-only inputs (pandas' to_numpy, Ray's object store) would make Numba compile every group
        # driver a second time for read-only arrays (minutes from a cold cache): hand it writable copies.
        prepared = [a if a.flags.writeable else a.copy() for a in prepared]
    return prepared, backend, len(shape), out_dtype, wrapper


def call(name: str, arrays: Sequence[Any], params: Mapping[str, Any], nan_policy: str = "skip",
         max_gap: int | None = None) -> Any:
    """Evaluate TA-Lib function `name` on `arrays` with `params` (validated against the table),
    interior gaps by `nan_policy` / `max_gap` (see the module docstring)."""
    fd = FUNCTIONS[name]
    values = fd.check(params)
    policy, gap = gaps.check_policy(name, nan_policy, max_gap)
    ins, backend, ndim, out_dtype, wrapper = prepare(fd, arrays)
    outs = compute_with_policy(fd, ins, values, backend, policy, gap)
    results = []
    for out_name, o in zip(fd.outputs, outs):
        if fd.is_int(out_name):
            o = _to_int32(o)
        elif o.dtype != out_dtype:
            o = o.astype(out_dtype)
        if ndim == 1:
            o = o[:, 0]
        results.append(wrapper.wrap(o))
    if len(results) == 1:
        return results[0]
    return result_type(name)(*results)


def compute_with_policy(fd: FuncDef, ins: list, values: Mapping[str, Any], backend: str, policy: str,
                        max_gap: int) -> list:
    """`compute` under a NaN policy: inputs without interior gaps (or "propagate") as they are;
    otherwise each column's valid bars packed segment by segment (`gaps.gather`), computed,
    and scattered back (`gaps.scatter`), index outputs mapped back to the original bars."""
    xp = _xp(ins[0])
    if backend == "cpu":
        from kernels.indicators.talib import cpu  # noqa: PLC0415

        if cpu.has_holes(fd.name):  # the driver finds the gappy columns on its way: no extra pass
            holes = np.zeros(ins[0].shape[1], dtype=np.uint8)
            out = cpu.run(fd.name, ins, values, len(fd.outputs), holes)
            outs = [out[k] for k in range(len(fd.outputs))]
            if policy == "propagate" or not holes.any():
                return outs
            cols = np.flatnonzero(holes)  # only these columns run again, packed
            for o, g in zip(outs, _packed(fd, [a[:, cols] for a in ins], values, backend, max_gap)):
                o[:, cols] = g
            return outs
    if policy == "propagate" or backend == "gpu" and _bar_local(fd.name):  # a bar's value is the bar's: no gaps
        return compute(fd, ins, values, backend)
    if backend == "gpu" and len(ins) <= 5:
        return _gpu_split_then_patch(fd, ins, values, max_gap)
    if not gaps.inputs_have_gaps(xp, ins):
        return compute(fd, ins, values, backend, split=True)
    return _packed(fd, ins, values, backend, max_gap)


def _gpu_split_then_patch(fd: FuncDef, ins: list, values: Mapping[str, Any], max_gap: int) -> list:
    """The policy "skip" on the GPU with one host sync: the gap-free computation of every column, which
    also leaves the gap marks (`gaps_gpu`: the scans mark the bars as they read them, other routes take
    a pass of their own before), and only then does the host read which columns miss a bar; those
    (usually none) are computed again packed and written over theirs. Columns are independent, so the
    others' values are the gap-free ones either way."""
    import cupy  # noqa: PLC0415 - GPU inputs only
    from kernels.indicators import gaps_gpu  # noqa: PLC0415
    from kernels.indicators.talib import gpu  # noqa: PLC0415

    marks = gaps_gpu.new_marks(int(ins[0].shape[1]))
    outs = gpu.run(fd, ins, values, split=True, marks=marks)
    cols = cupy.flatnonzero(gaps_gpu.gappy(marks, int(ins[0].shape[0])))  # the one sync
    if cols.size:  # written in place below: never into an input, nor twice into one array
        seen: list = []
        for k, o in enumerate(outs):
            if any(cupy.may_share_memory(o, other) for other in (*ins, *seen)):
                outs[k] = o = o.copy()
            seen.append(o)
        for o, g in zip(outs, _packed(fd, [a[:, cols] for a in ins], values, "gpu", max_gap)):
            o[:, cols] = g
    return outs


def _bar_local(name: str) -> bool:
    from kernels.indicators.talib import xp as xp_funcs  # noqa: PLC0415

    return name in xp_funcs.BAR_LOCAL


def _packed(fd: FuncDef, ins: list, values: Mapping[str, Any], backend: str, max_gap: int) -> list:
    """The NaN policy "skip" by packing: each column's valid bars segment by segment, computed, scattered back."""
    xp = _xp(ins[0])
    valid = gaps.valid_mask(xp, ins)
    seg = gaps.plan(xp, valid, max_gap)
    extra = []
    if fd.name in INDEX_FUNCTIONS:  # the original bar of every packed cell, to map the indices back
        extra = [xp.ascontiguousarray(xp.broadcast_to(xp.arange(valid.shape[0], dtype=np.float64)[:, None],
                                                      valid.shape))]
    packed = gaps.gather(xp, list(ins) + extra, valid, seg)
    outs = compute(fd, packed[: len(ins)], values, backend, split=True)  # packed columns have no gaps
    if extra:
        bars = packed[-1]
        outs = [_map_index(xp, o, bars) for o in outs]
    return [gaps.scatter(xp, o, valid, seg) for o in outs]


def _map_index(xp: Any, idx: Any, bars: Any) -> Any:
    """idx (rows, S): packed row numbers (NaN where no value) -> the original bars they stand for."""
    ok = ~xp.isnan(idx)
    rows = xp.where(ok, idx, 0).astype(np.int64)
    return xp.where(ok, xp.take_along_axis(bars, rows, axis=0), xp.nan)


def compute(fd: FuncDef, ins: list, values: Mapping[str, Any], backend: str, split: bool = False) -> list:
    """The outputs (list of 2-D float64 arrays, NaN where no value) on the given backend (`split`:
    no column misses a bar after its start, so the GPU may cut time into segments)."""
    if backend == "gpu":
        from kernels.indicators.talib import gpu  # noqa: PLC0415 - imports CuPy lazily

        return gpu.run(fd, ins, values, split=split)
    from kernels.indicators.talib import cpu  # noqa: PLC0415

    out = cpu.run(fd.name, ins, values, len(fd.outputs))
    return [out[k] for k in range(len(fd.outputs))]


def _to_int32(o: Any) -> Any:
    """Integer outputs as TA-Lib returns them: int32, 0 where there is no value (one pass on the GPU)."""
    if is_gpu_array(o):
        return _int32_kernel()(o)
    return np.where(np.isnan(o), 0, o).astype(np.int32)


@lru_cache(maxsize=1)
def _int32_kernel() -> Any:
    import cupy  # noqa: PLC0415

    return cupy.ElementwiseKernel("float64 x", "int32 y", "y = isnan(x) ? 0 : (int)x", "rq_nan_to_int32")


def _xp(a: Any) -> Any:
    if is_gpu_array(a):
        import cupy  # noqa: PLC0415

        return cupy
    return np
