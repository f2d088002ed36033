"""Batch technical indicators over (T,) or (T, N) arrays, TA-Lib compatible.

NumPy inputs run on the CPU backend (Numba), CuPy inputs on the GPU backend (CuPy
RawModule); see `kernels.indicators.api` for the exact semantics.
"""
from __future__ import annotations

from kernels.indicators.api import (
    atr,
    bbands,
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
    "atr",
    "bbands",
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
