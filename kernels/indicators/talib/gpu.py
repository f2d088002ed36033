"""GPU backend of the TA-Lib functions (CuPy inputs).

What runs on the GPU today:
- every elementwise function (`xp.FUNCS`: math transforms and operators, price
  transforms, BOP, MARKETFI), written once with `xp` and run with CuPy, fused into one
  kernel where a bar's value is the bar's (the bar-to-bar differences MOM, ROC*, TRANGE
  go to the column kernels' time segments on gap-free columns);
- where time cannot be cut (`nan_policy="propagate"`), the functions that share a kernel
  with `kernels.indicators.gpu` (CUDA RawModule, one thread per column, TA-Lib's
  operations in TA-Lib's order): SMA, EMA, WMA, RSI,
  ROC, MACD, STOCH (SMA smoothing), BBANDS (SMA middle), ATR, OBV, STDDEV, and MA
  with matype SMA/EMA/WMA.
- DEMA, TEMA, T3, TRIX, NATR, APO / PPO (SMA or EMA), SUM, CUMSUM and AD, composed
  (`compose.py`) from those CUDA EMA / SMA / ATR kernels and CuPy array operations;
- the column kernels of `cuda/` (`gpu_columns.py`: CUDA C mirroring the Numba modules,
  one thread per column), which also serve the parameter values the kernels above refuse,
  and every call on gap-free columns (where `time_split` can, with several threads per
  column: windows and exponential smoothing, segments of time with their own warm-up);
- on those gap-free columns, the functions `gpu_scan.ROUTED` names (cumulative sums, SAR, the EMA family) as
  scans over time segments (exact: affine maps composed, or speculation verified bit for bit).
Every other function raises `GpuNotAvailable` for CuPy inputs (an explicit GPU
request is never served by a silent host round trip): pass NumPy arrays for the CPU
backend. `GPU_FUNCTIONS` lists the names covered.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from kernels.indicators.talib import compose, gpu_columns, gpu_scan, time_split
from kernels.indicators.talib import xp as xp_funcs
from kernels.indicators.talib.table import FuncDef


class GpuNotAvailable(NotImplementedError):
    """This function has no GPU kernel yet."""


def _shared(kernel: str, names: tuple[str, ...]) -> Callable[[list, Mapping[str, Any]], list]:
    def run(ins: list, values: Mapping[str, Any]) -> list:
        from kernels.indicators import gpu  # noqa: PLC0415 - imports CuPy lazily

        return gpu.run(kernel, ins, tuple(values[n] for n in names))

    return run


def _ma(ins: list, values: Mapping[str, Any]) -> list:
    kernel = {0: "sma", 1: "ema", 2: "wma"}.get(values["matype"])
    if kernel is None or values["timeperiod"] == 1:
        raise GpuNotAvailable(f"MA: matype {values['matype']} (period {values['timeperiod']}) has no GPU kernel yet")
    return _shared(kernel, ("timeperiod",))(ins, values)


def _stoch(ins: list, values: Mapping[str, Any]) -> list:
    if values["slowk_matype"] != 0 or values["slowd_matype"] != 0:
        raise GpuNotAvailable("STOCH: only SMA smoothing (matype 0) has a GPU kernel yet")
    return _shared("stoch", ("fastk_period", "slowk_period", "slowd_period"))(ins, values)


def _bbands(ins: list, values: Mapping[str, Any]) -> list:
    if values["matype"] != 0:
        raise GpuNotAvailable("BBANDS: only matype 0 (SMA) has a GPU kernel yet")
    return _shared("bbands", ("timeperiod", "nbdevup", "nbdevdn"))(ins, values)


def _period_gt1(kernel: str, name: str) -> Callable[[list, Mapping[str, Any]], list]:
    def run(ins: list, values: Mapping[str, Any]) -> list:
        if values["timeperiod"] == 1:
            raise GpuNotAvailable(f"{name}: timeperiod 1 has no GPU kernel yet")
        return _shared(kernel, ("timeperiod",))(ins, values)

    return run


KERNELS: dict[str, Callable[[list, Mapping[str, Any]], list]] = {
    "SMA": _period_gt1("sma", "SMA"),
    "EMA": _period_gt1("ema", "EMA"),
    "WMA": _period_gt1("wma", "WMA"),
    "RSI": _shared("rsi", ("timeperiod",)),
    "ROC": _shared("roc", ("timeperiod",)),
    "MACD": _shared("macd", ("fastperiod", "slowperiod", "signalperiod")),
    "STOCH": _stoch,
    "BBANDS": _bbands,
    "ATR": _period_gt1("atr", "ATR"),
    "OBV": _shared("obv", ()),
    "STDDEV": _shared("stddev", ("timeperiod", "nbdev")),
    "MA": _ma,
}

GPU_FUNCTIONS: tuple[str, ...] = tuple(
    sorted(set(xp_funcs.FUNCS) | set(KERNELS) | set(compose.FUNCS) | set(gpu_columns.functions()))
)


class _GpuPrimitives:
    """The CUDA kernels of kernels.indicators.gpu as compose.py's primitives (2-D CuPy float64)."""

    def __init__(self) -> None:
        import cupy  # noqa: PLC0415

        self.xp = cupy

    @staticmethod
    def _one(kernel: str, arrays: list, params: tuple) -> Any:
        from kernels.indicators import gpu  # noqa: PLC0415

        return gpu.run(kernel, arrays, params)[0]

    def ema(self, x: Any, p: int) -> Any:
        return self._one("ema", [self.xp.ascontiguousarray(x)], (p,))

    def sma(self, x: Any, p: int) -> Any:
        return self._one("sma", [self.xp.ascontiguousarray(x)], (p,))

    def atr(self, h: Any, lo: Any, c: Any, p: int) -> Any:
        return self._one("atr", [h, lo, c], (p,))


def _mark(ins: list, marks: Any) -> None:
    """The gap marks of `ins` into `marks` by a pass of their own (routes whose kernels do not mark)."""
    if marks is not None:
        from kernels.indicators import gaps_gpu  # noqa: PLC0415

        gaps_gpu.mark(ins, marks)


def run(fd: FuncDef, ins: list, values: Mapping[str, Any], split: bool = False, marks: Any = None) -> list:
    """The outputs (2-D CuPy float64 arrays, NaN where no value) of `fd` on the GPU. `split`: no
    column misses a bar after its start, so a column kernel may cut time into segments (several
    threads per column, `time_split`); the column kernels then run instead of the shared and
    composed ones, which take a pass per stage. `marks` (`gaps_gpu.new_marks`, with `split`): filled
    with the inputs' gap marks, by the scans as they run, else by a pass of their own (measured
    faster than marking inside the column kernels); the columns they show gappy are wrong and are the
    caller's to recompute."""
    columns = fd.name in gpu_columns.registry()
    if fd.name in xp_funcs.FUNCS and not (split and columns):  # lagged ones on gap-free columns: time segments
        import cupy  # noqa: PLC0415

        _mark(ins, marks)
        return xp_funcs.run(cupy, fd.name, ins, dict(values))
    if split and gpu_scan.routed(fd.name, values):
        cut = gpu_scan.plan(fd.name, *(int(d) for d in ins[0].shape))
        if cut.segments > 1:
            return gpu_scan.run(fd.name, ins, values, cut, marks)  # marks as it reads
    if split and columns:  # one pass per column segment (also with one segment: compose.py makes several)
        n_bars, n_cols = (int(d) for d in ins[0].shape)
        cut = time_split.plan(n_bars, n_cols, time_split.warm_bars(fd.name, values))
        _mark(ins, marks)
        return gpu_columns.run(fd.name, ins, values, len(fd.outputs), cut=cut)
    _mark(ins, marks)
    try:
        if fd.name in KERNELS:
            return list(KERNELS[fd.name](ins, values))
        if fd.name in compose.FUNCS:
            if not compose.supported(fd.name, dict(values)):
                raise GpuNotAvailable(f"{fd.name}: these parameters {dict(values)} have no GPU form yet")
            return list(compose.FUNCS[fd.name](_GpuPrimitives(), *ins, **values))
    except GpuNotAvailable:
        if not columns:
            raise
    if columns:  # the column kernels of cuda/ cover every parameter value
        return gpu_columns.run(fd.name, ins, values, len(fd.outputs))
    raise GpuNotAvailable(
        f"{fd.name}: no GPU kernel yet (GPU: {len(GPU_FUNCTIONS)} functions, see kernels.indicators.talib.gpu); "
        "pass NumPy arrays to use the CPU backend"
    )
