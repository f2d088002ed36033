"""TA-Lib's functions that never forget, on the GPU with several threads per column.

These depend on every bar since a column's first, so the warm-up of `time_split` cannot
cut them, and one thread per column (5,000 threads for a 2520 x 5000 panel) leaves the
device nearly idle. Two ways to cut them anyway, each a CUDA source in `cuda/scan/`:

- **Affine scans** (`recurrences.cu`): CUMSUM, AD, OBV, PVT, WAD, VWAP, NVI, PVI, ADOSC,
  KAMA and the networks of exponential smoothing (EMA, DEMA, TEMA, TRIX, T3, RMA, ATR,
  NATR, ZLEMA, APO / PPO / PVO with EMAs, MACD, MACDFIX, TSI, CMO, RSI, and MA of those
  types) keep a small state that a bar maps affinely, with coefficients fixed by the
  inputs alone (KAMA's smoothing constant by its last `timeperiod` bars), so the map of a
  segment of bars composes: compose every segment's map (thread per column and segment),
  walk each column's maps (thread per column), replay every segment from its exact start
  state.
  Results equal one thread per column but for the rounding of the start states (1e-15),
  with no warm-up: exact where `time_split` would cut exponential smoothing after a
  warm-up of 15 to 30 times its period, and with as many segments as windows get.
- **Verified speculation** (`speculate.cu`): SAR and SAREXT forget their start at the first
  reversal two runs share. Each segment guesses its start state from `SPECULATE_WARM` bars
  of warm-up; a thread per column then checks every guess against the end state of the
  segment before, bit for bit, and runs again the segments whose guess was wrong. Results
  are the one-thread kernel's exactly, whatever the data.

For columns without gaps after their first valid bar (the NaN policy "skip" packs gappy
columns first; "propagate" keeps one thread per column). A `Scan` says what one call
launches; the host build that CI runs (tests/kernels/indicators/talib/cuda/cuda_host.py)
launches the same.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from kernels.indicators.talib import gpu_columns, time_split
from kernels.indicators.talib.table import FUNCTIONS

SCAN_DIR = gpu_columns.CUDA_DIR / "scan"
AFFINE: tuple[str, ...] = (  # recurrences.cu's RS_ codes, in order
    "CUMSUM", "AD", "OBV", "PVT", "WAD", "VWAP", "NVI", "PVI", "ADOSC", "KAMA",
    "EMA", "DEMA", "TEMA", "TRIX", "T3", "RMA", "ATR", "NATR",
    "ZLEMA", "APO", "PPO", "PVO", "MACD", "MACDFIX", "TSI", "CMO", "RSI",
)
MA_TYPES: dict[int, str] = {1: "EMA", 3: "DEMA", 4: "TEMA", 8: "T3", 13: "RMA"}  # MA(matype) -> the function
T3_VFACTOR_IN_MA = 0.7  # TA_MA's T3 (cpu/ma.py ma_1d_nb)
PERIOD_1_ELSEWHERE = frozenset({"KAMA", "EMA", "DEMA", "TEMA", "T3", "ATR", "NATR", "ZLEMA"})  # copies / TRANGE
EMA_MATYPES = (1, 11)  # APO / PPO / PVO: EMA, and DEFAULT, which is EMA there (cpu/momentum.py po_1d_nb)
SPECULATIVE: tuple[str, ...] = ("SAR", "SAREXT")  # speculate.cu's codes
NAMES: tuple[str, ...] = AFFINE + SPECULATIVE + ("MA",)
AFFINE_STATE = 6  # RS_D: doubles of state at most (T3's six EMAs)
# rs_dim: the state's doubles per function (1 where not named), which picks the kernels' entry points
# rs_maps_<D>, rs_carry_<D>, rs_emit_<D> (tests/.../cuda/test_scan.py checks this against the source)
AFFINE_DIMS: dict[str, int] = {"VWAP": 2, "ADOSC": 3, "DEMA": 2, "TEMA": 3, "TRIX": 4, "T3": 6, "APO": 2, "PPO": 2,
                               "PVO": 2, "MACD": 3, "MACDFIX": 3, "TSI": 4, "CMO": 2, "RSI": 2}
AFFINE_RUNS = AFFINE_STATE + 1  # RS_RUNS: the inhomogeneous run and one homogeneous run per state element
SPECULATE_STATE = 7  # SP_STATE: doubles of SAR's state
SPECULATE_WARM = 128  # bars of warm-up behind a guess (daily data: every guess right in tests/...test_scan.py)
BLOCK = 128
# The scans the public GPU path takes: where the H100 measured the scan faster than every other route of
# the function and equal to one thread per column (bench/results/talib_gpu_paths_h100.json, 2026-12-07,
# bench/kernels/indicators/bench_gpu_paths.py; tests/.../cuda/test_scan.py checks this list against
# that file). Not taken: T3, TSI, RSI, CMO, ATR, NATR, MACD, MACDFIX, ADOSC (the time-segmented column
# kernels or one thread per column were faster) and PVT (faster, but 5e-9 from one thread per column).
ROUTED: frozenset[str] = frozenset({"CUMSUM", "AD", "VWAP", "WAD", "SAR", "SAREXT", "EMA", "DEMA", "TEMA", "TRIX",
                                    "RMA", "ZLEMA", "APO", "PPO", "PVO", "KAMA", "NVI", "PVI", "OBV"})


@dataclass(frozen=True)
class Technique:
    """One source of cuda/scan/: its path and its phases, in launch order (True: a thread per column)."""

    source: Path
    phases: tuple[tuple[str, bool], ...]


TECHNIQUES: dict[str, Technique] = {
    "affine": Technique(SCAN_DIR / "recurrences.cu", (("rs_maps", False), ("rs_carry", True), ("rs_emit", False))),
    "speculative": Technique(SCAN_DIR / "speculate.cu", (("sp_run", False), ("sp_fix", True))),
}


@dataclass(frozen=True)
class Scan:
    """What one call launches: the technique, the segments, every phase's arguments and the output."""

    technique: Technique
    split: time_split.Split
    n_cols: int
    args: tuple
    out: Any
    suffix: str = ""  # of the entry points (affine: "_<D>", the state size)

    def threads(self, per_column: bool) -> int:
        return self.n_cols if per_column else self.n_cols * self.split.segments

    def entries(self) -> list[tuple[str, bool]]:
        """(kernel name, a thread per column) of each phase, in launch order."""
        return [(phase + self.suffix, per_column) for phase, per_column in self.technique.phases]


def _as_function(name: str, values: Mapping[str, Any]) -> tuple[str, dict]:
    """MA of a scanned type as that function (T3 with TA_MA's vfactor); other calls unchanged."""
    if name != "MA":
        return name, dict(values)
    target = MA_TYPES.get(values["matype"], "")
    out: dict[str, Any] = {"timeperiod": values["timeperiod"]}
    if target == "T3":
        out["vfactor"] = T3_VFACTOR_IN_MA
    return target, out


def covers(name: str, values: Mapping[str, Any]) -> bool:
    """Whether this call is a scan here (MA of another type, and period 1 where a function copies
    its input or is the true range, stay with the column kernels)."""
    name, values = _as_function(name, values)
    if name not in AFFINE + SPECULATIVE:
        return False
    if name in ("APO", "PPO", "PVO"):
        return values["matype"] in EMA_MATYPES
    if name in ("MACD", "MACDFIX"):
        return values["signalperiod"] > 1  # a signal of one bar is a copy of the MACD line
    return not (name in PERIOD_1_ELSEWHERE and values["timeperiod"] == 1)


def routed(name: str, values: Mapping[str, Any]) -> bool:
    """Whether the public GPU path (talib.gpu.run) takes the scan for this call."""
    return name in ROUTED and covers(name, values)


def plan(name: str, n_bars: int, n_cols: int) -> time_split.Split:
    """Segments that fill the device (affine: no warm-up, each segment starts from its exact state)."""
    return time_split.plan(n_bars, n_cols, SPECULATE_WARM if name in SPECULATIVE else 0)


def prepare(xp: Any, name: str, arrays: Sequence[Any], values: Mapping[str, Any], split: time_split.Split,
            marks: Any = None) -> Scan:
    """The buffers and arguments of `name` over (T, N) float64 `arrays` of module `xp` (CuPy or NumPy);
    `marks` (2, N) int32, -1 (`gaps_gpu.new_marks`): the first phase leaves the inputs' gap marks there
    (None: a null pointer, no marks)."""
    from kernels.indicators.talib.cpu import param_vector  # noqa: PLC0415

    name, values = _as_function(name, values)
    n_cols = int(arrays[0].shape[1])
    s, i32, f64 = split.segments, np.int32, xp.float64
    params = param_vector(name, values) if xp is np else gpu_columns.device_params(param_vector(name, values))
    out = xp.empty((len(FUNCTIONS[name].outputs), split.n_bars, n_cols), dtype=f64)
    if name in SPECULATIVE:
        kinds = xp.empty((s, n_cols), dtype=xp.int32)
        guess = xp.empty((s, SPECULATE_STATE, n_cols), dtype=f64)
        end = xp.empty((s, SPECULATE_STATE, n_cols), dtype=f64)
        args = (i32(SPECULATIVE.index(name)), arrays[0], arrays[1], params, i32(split.n_bars), np.int64(n_cols),
                i32(split.seg), i32(split.warm), kinds, guess, end, out, _pointer(marks))
        return Scan(TECHNIQUES["speculative"], split, n_cols, args, out)
    maps = xp.empty((s, AFFINE_RUNS, AFFINE_STATE, n_cols), dtype=f64)
    kinds = xp.empty((s, n_cols), dtype=xp.int32)
    starts = xp.empty((s, AFFINE_STATE, n_cols), dtype=f64)
    first = xp.empty((n_cols,), dtype=xp.int32)
    a = list(arrays) + [arrays[0]] * (5 - len(arrays))
    args = (i32(AFFINE.index(name)), *a, i32(len(arrays)), params, i32(split.n_bars), np.int64(n_cols),
            i32(split.seg), i32(FUNCTIONS[name].lookback(**values)), maps, kinds, starts, first, out,
            _pointer(marks))
    return Scan(TECHNIQUES["affine"], split, n_cols, args, out, f"_{AFFINE_DIMS.get(name, 1)}")


def _pointer(a: Any) -> Any:
    """An optional buffer as a kernel argument: None is a null pointer."""
    return np.uint64(0) if a is None else a


@functools.lru_cache(maxsize=None)
def _module(source: Path) -> Any:
    import cupy  # noqa: PLC0415

    return cupy.RawModule(code=gpu_columns.expanded_source(source), options=gpu_columns.NVRTC_OPTIONS)


def run(name: str, ins: Sequence[Any], values: Mapping[str, Any], cut: time_split.Split, marks: Any = None) -> list:
    """The outputs ((T, N) CuPy float64, NaN where no value) of `name` over (T, N) CuPy inputs
    without gaps after each column's first valid bar, in `cut`'s segments (`plan`); with `marks`
    (`gaps_gpu.new_marks`) also on gappy columns, whose values are then wrong and the marks show them."""
    import cupy  # noqa: PLC0415

    arrays = [cupy.ascontiguousarray(a, dtype=cupy.float64) for a in ins]
    scan = prepare(cupy, name, arrays, values, cut, marks)
    module = _module(scan.technique.source)
    for entry, per_column in scan.entries():
        n = scan.threads(per_column)
        module.get_function(entry)(((n + BLOCK - 1) // BLOCK,), (BLOCK,), scan.args)
    return list(scan.out)
