"""TA-Lib's functions that never forget, on the GPU with several threads per column (affine scans).

CUMSUM, AD, OBV, PVT, WAD, VWAP, NVI, PVI, ADOSC and KAMA depend on every bar since a
column's first, so the warm-up of `time_split` cannot cut them, and one thread per column
(5,000 threads for a 2520 x 5000 panel) leaves the device nearly idle. Each keeps a small
state that a bar maps affinely, with coefficients fixed by the inputs alone (KAMA's
smoothing constant by its last `timeperiod` bars), so the map of a segment of bars
composes: `cuda/scan/recurrences.cu` composes every segment's map (thread per column and
segment), walks the maps of each column (thread per column), then replays every segment
from its exact start state (thread per column and segment). Results equal one thread per
column but for the rounding of the start states (relative 1e-15).

For columns without gaps after their first valid bar (the NaN policy "skip" packs gappy
columns first; "propagate" keeps one thread per column). `buffers` and `launch_args` are
shared with the host build that CI runs (tests/kernels/indicators/talib/cuda/cuda_host.py).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from kernels.indicators.talib import gpu_columns, time_split
from kernels.indicators.talib.table import FUNCTIONS

SOURCE = gpu_columns.CUDA_DIR / "scan" / "recurrences.cu"
NAMES: tuple[str, ...] = ("CUMSUM", "AD", "OBV", "PVT", "WAD", "VWAP", "NVI", "PVI", "ADOSC", "KAMA")  # the source's codes
STATE = 3  # RS_D: doubles of state at most
RUNS = STATE + 1  # RS_RUNS: the inhomogeneous run and one homogeneous run per state element
PHASES: tuple[str, ...] = ("rs_maps", "rs_carry", "rs_emit")
BLOCK = 128


@dataclass(frozen=True)
class Buffers:
    """Device (or host) memory of one scan: see the layout in the source's header."""

    maps: Any
    kinds: Any
    starts: Any
    first: Any
    out: Any


def covers(name: str, values: Mapping[str, Any]) -> bool:
    """Whether this call is a scan here (KAMA(1) copies its input: the column kernel does that)."""
    return name in NAMES and not (name == "KAMA" and values["timeperiod"] == 1)


def plan(n_bars: int, n_cols: int) -> time_split.Split:
    """Segments that fill the device (no warm-up: each segment starts from its exact state)."""
    return time_split.plan(n_bars, n_cols, 0)


def buffers(xp: Any, split: time_split.Split, n_cols: int) -> Buffers:
    s = split.segments
    return Buffers(
        maps=xp.empty((s, RUNS, STATE, n_cols), dtype=xp.float64),
        kinds=xp.empty((s, n_cols), dtype=xp.int32),
        starts=xp.empty((s, STATE, n_cols), dtype=xp.float64),
        first=xp.empty((n_cols,), dtype=xp.int32),
        out=xp.empty((split.n_bars, n_cols), dtype=xp.float64),
    )


def threads(phase: str, split: time_split.Split, n_cols: int) -> int:
    """Threads of one phase: a column each for the carry, a (column, segment) each otherwise."""
    return n_cols if phase == "rs_carry" else n_cols * split.segments


def launch_args(name: str, arrays: Sequence[Any], params: Any, lookback: int, buf: Buffers,
                split: time_split.Split, n_cols: int) -> tuple:
    """The kernels' arguments in RS_ARGS order (the same for the three phases)."""
    a = list(arrays) + [arrays[0]] * (5 - len(arrays))
    return (np.int32(NAMES.index(name)), *a, np.int32(len(arrays)), params, np.int32(split.n_bars),
            np.int64(n_cols), np.int32(split.seg), np.int32(lookback), buf.maps, buf.kinds, buf.starts,
            buf.first, buf.out)


def parameters(name: str, values: Mapping[str, Any]) -> tuple[np.ndarray, int]:
    """(the parameter vector, TA-Lib's lookback) of one call."""
    from kernels.indicators.talib.cpu import param_vector  # noqa: PLC0415

    return param_vector(name, values), FUNCTIONS[name].lookback(**values)


@functools.lru_cache(maxsize=None)
def _functions() -> dict[str, Any]:
    import cupy  # noqa: PLC0415

    module = cupy.RawModule(code=gpu_columns.expanded_source(SOURCE), options=gpu_columns.NVRTC_OPTIONS)
    return {phase: module.get_function(phase) for phase in PHASES}


def run(name: str, ins: Sequence[Any], values: Mapping[str, Any], cut: time_split.Split) -> list:
    """[the output] ((T, N) CuPy float64, NaN where no value) of `name` over (T, N) CuPy inputs
    without gaps after each column's first valid bar, in `cut`'s segments (`plan`)."""
    import cupy  # noqa: PLC0415

    arrays = [cupy.ascontiguousarray(a, dtype=cupy.float64) for a in ins]
    n_cols = int(arrays[0].shape[1])
    vector, lookback = parameters(name, values)
    buf = buffers(cupy, cut, n_cols)
    args = launch_args(name, arrays, cupy.asarray(vector), lookback, buf, cut, n_cols)
    for phase, fn in _functions().items():
        n = threads(phase, cut, n_cols)
        fn(((n + BLOCK - 1) // BLOCK,), (BLOCK,), args)
    return [buf.out]

