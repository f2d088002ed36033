"""Elementwise TA-Lib functions written once with `xp` (NumPy on the CPU, CuPy on the GPU).

Math transforms and operators, price transforms, BOP, MARKETFI, and the bar-to-bar
differences MOM, ROCP, ROCR, ROCR100, TRANGE: no running state, so a NaN input
gives NaN only where it is read (a late start's leading NaN reproduce TA-Lib's
lookback). On the CPU the Numba kernels of `cpu/` take precedence where both exist;
`tests/kernels/indicators/talib/test_xp.py` checks these with NumPy against TA-Lib. Each entry takes (xp, *inputs, **params) with 2-D float64 inputs and
returns a list of outputs.

`BAR_LOCAL` (all but the bar-to-bar differences): a bar's value depends on that bar
alone, so no NaN policy applies, and on the GPU the same expression runs fused
(`cupy.fuse`: one kernel reading each input once, instead of one pass per operation).
"""
from __future__ import annotations

import functools
from typing import Any, Callable

from kernels.indicators.talib.table import FUNCTIONS

Array = Any


def _bop(xp: Any, o: Array, h: Array, lo: Array, c: Array) -> list:
    rng = h - lo
    out = xp.where(rng < 0.00000001, 0.0, (c - o) / xp.where(rng < 0.00000001, 1.0, rng))
    return [xp.where(xp.isnan(rng) | xp.isnan(o) | xp.isnan(c), xp.nan, out)]


def _div(xp: Any, a: Array, b: Array) -> list:
    return [a / b]


def _marketfi(xp: Any, h: Array, lo: Array, v: Array) -> list:
    """(high - low) / volume, 0 where the volume is 0 (TA-Lib's MARKETFI)."""
    out = xp.where(v == 0.0, 0.0, (h - lo) / xp.where(v == 0.0, 1.0, v))
    return [xp.where(xp.isnan(v) | xp.isnan(h) | xp.isnan(lo), xp.nan, out)]


def _prev(xp: Any, x: Array, k: int) -> Array:
    """x shifted down k bars (NaN in the first k)."""
    out = xp.full_like(x, xp.nan)
    if k < x.shape[0]:
        out[k:] = x[:-k]
    return out


def _ratio(xp: Any, x: Array, timeperiod: int, kind: int) -> list:
    """ROCP (0), ROCR (1), ROCR100 (2): TA-Lib's formulas, 0 where the old price is 0."""
    prev = _prev(xp, x, timeperiod)
    safe = xp.where(prev == 0.0, 1.0, prev)
    if kind == 0:
        v = (x - prev) / safe
    elif kind == 1:
        v = x / safe
    else:
        v = (x / safe) * 100.0
    return [xp.where(prev == 0.0, 0.0, v)]


def _trange(xp: Any, h: Array, lo: Array, c: Array) -> list:
    pc = _prev(xp, c, 1)
    return [xp.maximum(xp.maximum(h - lo, xp.abs(pc - h)), xp.abs(pc - lo))]


FUNCS: dict[str, Callable[..., list]] = {
    "MOM": lambda xp, x, timeperiod: [x - _prev(xp, x, timeperiod)],
    "ROCP": lambda xp, x, timeperiod: _ratio(xp, x, timeperiod, 0),
    "ROCR": lambda xp, x, timeperiod: _ratio(xp, x, timeperiod, 1),
    "ROCR100": lambda xp, x, timeperiod: _ratio(xp, x, timeperiod, 2),
    "TRANGE": _trange,
    "ACOS": lambda xp, x: [xp.arccos(x)],
    "ASIN": lambda xp, x: [xp.arcsin(x)],
    "ATAN": lambda xp, x: [xp.arctan(x)],
    "CEIL": lambda xp, x: [xp.ceil(x)],
    "COS": lambda xp, x: [xp.cos(x)],
    "COSH": lambda xp, x: [xp.cosh(x)],
    "EXP": lambda xp, x: [xp.exp(x)],
    "FLOOR": lambda xp, x: [xp.floor(x)],
    "LN": lambda xp, x: [xp.log(x)],
    "LOG10": lambda xp, x: [xp.log10(x)],
    "SIN": lambda xp, x: [xp.sin(x)],
    "SINH": lambda xp, x: [xp.sinh(x)],
    "SQRT": lambda xp, x: [xp.sqrt(x)],
    "TAN": lambda xp, x: [xp.tan(x)],
    "TANH": lambda xp, x: [xp.tanh(x)],
    "ADD": lambda xp, a, b: [a + b],
    "SUB": lambda xp, a, b: [a - b],
    "MULT": lambda xp, a, b: [a * b],
    "DIV": _div,
    "AVGPRICE": lambda xp, o, h, lo, c: [(o + h + lo + c) / 4.0],
    "MEDPRICE": lambda xp, h, lo: [(h + lo) / 2.0],
    "TYPPRICE": lambda xp, h, lo, c: [(h + lo + c) / 3.0],
    "WCLPRICE": lambda xp, h, lo, c: [(h + lo + (c * 2.0)) / 4.0],
    "BOP": _bop,
    "MARKETFI": _marketfi,
}


LAGGED: frozenset[str] = frozenset({"MOM", "ROCP", "ROCR", "ROCR100", "TRANGE"})  # read an earlier bar
BAR_LOCAL: frozenset[str] = frozenset(FUNCS) - LAGGED


def run(xp: Any, name: str, arrays: list, values: dict) -> list:
    """The outputs of elementwise function `name` (same shapes as the inputs)."""
    if name in BAR_LOCAL and getattr(xp, "__name__", "") == "cupy":
        return [fused(name)(*arrays)]
    with _errstate(xp):
        return FUNCS[name](xp, *arrays, **values)


@functools.lru_cache(maxsize=None)
def fused(name: str) -> Callable[..., Any]:
    """`name`'s expression (BAR_LOCAL, one output) as one CuPy kernel."""
    import cupy  # noqa: PLC0415

    f = FUNCS[name]
    by_arity: dict[int, Callable[..., Any]] = {  # cupy.fuse traces a fixed signature
        1: lambda a: f(cupy, a)[0],
        2: lambda a, b: f(cupy, a, b)[0],
        3: lambda a, b, c: f(cupy, a, b, c)[0],
        4: lambda a, b, c, d: f(cupy, a, b, c, d)[0],
    }
    return cupy.fuse(kernel_name=f"talib_{name.lower()}")(by_arity[len(FUNCTIONS[name].inputs)])


class _errstate:
    """numpy.errstate(all="ignore") on the CPU (TA-Lib gives inf/NaN silently); nothing on the GPU."""

    def __init__(self, xp: Any) -> None:
        self._ctx = xp.errstate(all="ignore") if hasattr(xp, "errstate") else None

    def __enter__(self) -> None:
        if self._ctx is not None:
            self._ctx.__enter__()

    def __exit__(self, *exc: Any) -> None:
        if self._ctx is not None:
            self._ctx.__exit__(*exc)
