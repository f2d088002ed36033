"""Batch technical indicators over (T,) or (T, N) arrays, TA-Lib compatible.

NumPy inputs run on the CPU backend (Numba), CuPy inputs on the GPU backend (CuPy
RawModule); see `kernels.indicators.api` for the exact semantics. `INDICATORS`
maps each name to its inputs, outputs and parameters; `compute` evaluates a named
list of them over a panel (one fused kernel on the GPU).
"""
from __future__ import annotations

from kernels.indicators.api import (
    INDICATORS,
    Indicator,
    Param,
    atr,
    bbands,
    compute,
    ema,
    macd,
    obv,
    roc,
    rolling_std,
    rsi,
    sma,
    stoch,
    vwap,
    wma,
    zscore,
)

__all__ = [
    "INDICATORS",
    "Indicator",
    "Param",
    "atr",
    "bbands",
    "compute",
    "ema",
    "macd",
    "obv",
    "roc",
    "rolling_std",
    "rsi",
    "sma",
    "stoch",
    "vwap",
    "wma",
    "zscore",
]
