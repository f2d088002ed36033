"""Public indicator API: validate inputs, then dispatch on the array kind.

NumPy in -> CPU backend (`cpu.py`, Numba, parallel over columns); CuPy in -> GPU
backend (`gpu.py`, CUDA RawModule, one thread per column). The output has the same
kind and shape as the inputs: (T,) or (T, N), time first.

Semantics (TA-Lib is the reference, see DESIGN.md "Indicators"):
- Results equal TA-Lib's (to rounding; the kernels perform TA-Lib's operations in
  TA-Lib's order) and are NaN exactly where TA-Lib's are.
- A column whose data starts late (leading NaN) starts its warm-up at its first
  bar where every input is non-NaN: the result equals TA-Lib run on that tail,
  padded with NaN. Interior NaN follow TA-Lib's own arithmetic.
- dtypes: float64 in -> float64 out. float32 in -> float32 out; the CPU backend
  computes in float64 and rounds the result, the GPU backend reads and writes float32
  and keeps its running state in float64. Integer inputs are converted to float64.
- Validation (ValueError naming the argument): inputs must be 1-D or 2-D with equal
  shapes, all NumPy or all CuPy; periods are integers >= TA-Lib's minimum; a period
  longer than the data (more than T bars) raises rather than returning all-NaN.
  A late-starting column whose tail is shorter than the warm-up is all NaN (that
  depends on the data, not on the call, so it does not raise).
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable

import numpy as np

from kernels.backend import get_array_module, is_gpu_array

Array = Any  # numpy.ndarray or cupy.ndarray


# ---------------------------------------------------------------------- validation
class _Prepared:
    """Validated inputs as C-contiguous 2-D arrays, plus how to shape the outputs."""

    __slots__ = ("arrays", "backend", "ndim", "out_dtype", "n_bars")

    def __init__(self, arrays: list, backend: str, ndim: int, out_dtype: Any, n_bars: int) -> None:
        self.arrays = arrays
        self.backend = backend
        self.ndim = ndim
        self.out_dtype = out_dtype
        self.n_bars = n_bars

    def finish(self, out: Array) -> Array:
        """Cast to the output dtype and restore the caller's ndim."""
        if out.dtype != self.out_dtype:
            out = out.astype(self.out_dtype)
        return out[:, 0] if self.ndim == 1 else out


def _prepare(func: str, **inputs: Any) -> _Prepared:
    """Check ndim, shapes, kinds and dtypes of the named inputs; return 2-D arrays."""
    on_gpu = [is_gpu_array(a) for a in inputs.values()]
    if any(on_gpu) and not all(on_gpu):
        names = [n for n, g in zip(inputs, on_gpu) if not g]
        raise ValueError(f"{func}: inputs mix CuPy and NumPy arrays ({', '.join(names)} not on the GPU)")
    xp = get_array_module(*inputs.values())
    backend = "gpu" if any(on_gpu) else "cpu"
    shape = None
    first = None
    arrays = []
    dtypes = []
    for name, a in inputs.items():
        if not hasattr(a, "ndim"):
            a = np.asarray(a)
        if a.ndim not in (1, 2):
            raise ValueError(f"{func}: {name} must be 1-D (T,) or 2-D (T, N), got shape {tuple(a.shape)}")
        if shape is None:
            shape, first = tuple(a.shape), name
        elif tuple(a.shape) != shape:
            raise ValueError(f"{func}: {name} has shape {tuple(a.shape)} but {first} has shape {shape}")
        kind = np.dtype(a.dtype).kind
        if kind not in "fiub":
            raise ValueError(f"{func}: {name} must be a real numeric array, got dtype {a.dtype}")
        dtypes.append(np.float32 if a.dtype == np.float32 else np.float64)
        arrays.append(a)
    assert shape is not None
    if shape[0] == 0:
        raise ValueError(f"{func}: {first} has no bars (shape {shape})")
    out_dtype = np.dtype(np.float32) if all(d is np.float32 for d in dtypes) else np.dtype(np.float64)
    # CPU kernels run in float64; GPU kernels are templated on float/double.
    work = np.float64 if backend == "cpu" else out_dtype
    prepared = []
    for a in arrays:
        a2 = a.reshape(-1, 1) if a.ndim == 1 else a
        prepared.append(xp.ascontiguousarray(a2, dtype=work))
    return _Prepared(prepared, backend, len(shape), out_dtype, shape[0])


def _period(func: str, name: str, value: Any, minimum: int, n_bars: int) -> int:
    """An integer period >= minimum and not longer than the data."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{func}: {name} must be an integer >= {minimum}, got {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{func}: {name} must be >= {minimum}, got {value}")
    if value > n_bars:
        raise ValueError(f"{func}: {name}={value} is longer than the data ({n_bars} bars)")
    return value


def _real(func: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"{func}: {name} must be a finite number, got {value!r}")
    return float(value)


# ------------------------------------------------------------------ moving averages
def sma(x: Array, timeperiod: int = 30) -> Array:
    """Simple moving average (TA-Lib SMA)."""
    p = _prepare("sma", x=x)
    tp = _period("sma", "timeperiod", timeperiod, 1, p.n_bars)
    return p.finish(_run(p, "sma", (tp,))[0])


def ema(x: Array, timeperiod: int = 30) -> Array:
    """Exponential moving average, k = 2/(timeperiod+1), seeded with the SMA of the first period (TA-Lib EMA)."""
    p = _prepare("ema", x=x)
    tp = _period("ema", "timeperiod", timeperiod, 1, p.n_bars)
    return p.finish(_run(p, "ema", (tp,))[0])


def wma(x: Array, timeperiod: int = 30) -> Array:
    """Linearly weighted moving average, weights 1..timeperiod (TA-Lib WMA)."""
    p = _prepare("wma", x=x)
    tp = _period("wma", "timeperiod", timeperiod, 1, p.n_bars)
    return p.finish(_run(p, "wma", (tp,))[0])


def rolling_std(x: Array, timeperiod: int = 5, nbdev: float = 1.0) -> Array:
    """Rolling population standard deviation times nbdev (TA-Lib STDDEV)."""
    p = _prepare("rolling_std", x=x)
    tp = _period("rolling_std", "timeperiod", timeperiod, 2, p.n_bars)
    nd = _real("rolling_std", "nbdev", nbdev)
    return p.finish(_run(p, "stddev", (tp, nd))[0])


def zscore(x: Array, timeperiod: int = 20) -> Array:
    """(x - SMA) / STDDEV over timeperiod bars; NaN in the warm-up and where the std is 0."""
    p = _prepare("zscore", x=x)
    tp = _period("zscore", "timeperiod", timeperiod, 2, p.n_bars)
    return p.finish(_run(p, "zscore", (tp,))[0])


# --------------------------------------------------------------------- oscillators
def rsi(close: Array, timeperiod: int = 14) -> Array:
    """Wilder's relative strength index (TA-Lib RSI)."""
    p = _prepare("rsi", close=close)
    tp = _period("rsi", "timeperiod", timeperiod, 2, p.n_bars)
    return p.finish(_run(p, "rsi", (tp,))[0])


def roc(close: Array, timeperiod: int = 10) -> Array:
    """Rate of change in percent: (close / close[t - timeperiod] - 1) * 100 (TA-Lib ROC)."""
    p = _prepare("roc", close=close)
    tp = _period("roc", "timeperiod", timeperiod, 1, p.n_bars)
    return p.finish(_run(p, "roc", (tp,))[0])


def macd(
    close: Array, fastperiod: int = 12, slowperiod: int = 26, signalperiod: int = 9
) -> tuple[Array, Array, Array]:
    """MACD line, signal line and histogram (TA-Lib MACD, fast EMA seed aligned to the slow one)."""
    p = _prepare("macd", close=close)
    fp = _period("macd", "fastperiod", fastperiod, 2, p.n_bars)
    sp = _period("macd", "slowperiod", slowperiod, 2, p.n_bars)
    sg = _period("macd", "signalperiod", signalperiod, 1, p.n_bars)
    return tuple(p.finish(o) for o in _run(p, "macd", (fp, sp, sg)))  # type: ignore[return-value]


def stoch(
    high: Array,
    low: Array,
    close: Array,
    fastk_period: int = 5,
    slowk_period: int = 3,
    slowd_period: int = 3,
) -> tuple[Array, Array]:
    """Slow stochastic (slowk, slowd) with SMA smoothing (TA-Lib STOCH defaults)."""
    p = _prepare("stoch", high=high, low=low, close=close)
    fk = _period("stoch", "fastk_period", fastk_period, 1, p.n_bars)
    sk = _period("stoch", "slowk_period", slowk_period, 1, p.n_bars)
    sd = _period("stoch", "slowd_period", slowd_period, 1, p.n_bars)
    return tuple(p.finish(o) for o in _run(p, "stoch", (fk, sk, sd)))  # type: ignore[return-value]


# ---------------------------------------------------------------------- volatility
def bbands(
    close: Array, timeperiod: int = 5, nbdevup: float = 2.0, nbdevdn: float = 2.0
) -> tuple[Array, Array, Array]:
    """Bollinger bands (upper, middle, lower): SMA middle, population std (TA-Lib BBANDS, matype=SMA)."""
    p = _prepare("bbands", close=close)
    tp = _period("bbands", "timeperiod", timeperiod, 2, p.n_bars)
    up = _real("bbands", "nbdevup", nbdevup)
    dn = _real("bbands", "nbdevdn", nbdevdn)
    return tuple(p.finish(o) for o in _run(p, "bbands", (tp, up, dn)))  # type: ignore[return-value]


def atr(high: Array, low: Array, close: Array, timeperiod: int = 14) -> Array:
    """Wilder's average true range (TA-Lib ATR)."""
    p = _prepare("atr", high=high, low=low, close=close)
    tp = _period("atr", "timeperiod", timeperiod, 1, p.n_bars)
    return p.finish(_run(p, "atr", (tp,))[0])


# -------------------------------------------------------------------------- volume
def obv(close: Array, volume: Array) -> Array:
    """On-balance volume (TA-Lib OBV)."""
    p = _prepare("obv", close=close, volume=volume)
    return p.finish(_run(p, "obv", ())[0])


def vwap(high: Array, low: Array, close: Array, volume: Array, timeperiod: int = 14) -> Array:
    """Rolling VWAP: sum(typical * volume) / sum(volume), typical = (h + l + c) / 3.

    NaN in the warm-up (first timeperiod - 1 bars) and where the window's volume is 0.
    """
    p = _prepare("vwap", high=high, low=low, close=close, volume=volume)
    tp = _period("vwap", "timeperiod", timeperiod, 1, p.n_bars)
    return p.finish(_run(p, "vwap", (tp,))[0])


# ------------------------------------------------------------------------ dispatch
def _run(p: _Prepared, kernel: str, params: tuple) -> list:
    """Run one indicator kernel on prepared 2-D inputs; a list of 2-D outputs."""
    if p.backend == "gpu":
        from kernels.indicators import gpu  # noqa: PLC0415 - imports CuPy lazily

        return gpu.run(kernel, p.arrays, params)
    from kernels.indicators import cpu  # noqa: PLC0415

    fn: Callable = getattr(cpu, f"{kernel}_nb")
    out = fn(*p.arrays, *params, cpu.n_workers())
    return list(out) if out.ndim == 3 else [out]
