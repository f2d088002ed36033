"""The built-in strategies: trend_following, momentum, mean_reversion, pairs.

Each is a pure function `fn(panel, **params) -> positions (T, N)` written once
for NumPy and CuPy (the array module follows the panel's arrays). Moving averages
and standard deviations come from `kernels.indicators` (TA-Lib definitions). The
path-dependent band state machine of mean_reversion and pairs runs per asset over
time: a Numba kernel on the CPU, a CuPy RawModule kernel on the GPU.
Semantics: docs/backtest-semantics.md ("Built-in strategies").
"""
from __future__ import annotations

import functools
from types import ModuleType
from typing import Any, Mapping, NamedTuple

import numpy as np
from numba import njit

from kernels.backend import get_array_module, is_gpu_array
from kernels.strategies.registry import ParamSpec, register


class BandState(NamedTuple):
    """States of the band state machine (position held)."""

    SHORT: int = -1
    FLAT: int = 0
    LONG: int = 1


# ---------------------------------------------------------------- indicators
def _ma(x: Any, n: int, kind: str = "sma") -> Any:
    from kernels import indicators  # noqa: PLC0415 - sibling family, imported on use

    return indicators.ema(x, n) if kind == "ema" else indicators.sma(x, n)


def _std(x: Any, n: int) -> Any:
    from kernels import indicators  # noqa: PLC0415

    return indicators.rolling_std(x, n)


def _zscore(xp: ModuleType, x: Any, window: int) -> Any:
    """(x - SMA) / STDDEV over `window` bars; NaN where undefined or infinite."""
    with np.errstate(all="ignore"):
        z = (x - _ma(x, window)) / _std(x, window)
    return xp.where(xp.isfinite(z), z, xp.nan)


def _no_data_flat(xp: ModuleType, close: Any, pos: Any) -> Any:
    return xp.where(xp.isfinite(close), pos, 0.0).astype(close.dtype, copy=False)


# ----------------------------------------------------- band state machine
@njit(cache=True, inline="always")
def band_step_nb(state, z, ok, entry_z, exit_z, long_only):
    """One bar of the mean-reversion band state machine (docs/backtest-semantics.md):
    flat without a finite z; exits first, then entries when flat."""
    if not ok:
        return 0
    if state == 1 and z >= -exit_z:
        state = 0
    elif state == -1 and z <= exit_z:
        state = 0
    if state == 0:
        if z < -entry_z:
            state = 1
        elif z > entry_z and not long_only:
            state = -1
    return state


@njit(cache=True, nogil=True)
def band_state_nb(z, entry_z, exit_z, long_only, out):
    """Mean-reversion band state machine per column of z (T, N), written into out."""
    n_bars, n_cols = z.shape
    for i in range(n_cols):
        state = 0
        for t in range(n_bars):
            zt = z[t, i]
            state = band_step_nb(state, zt, np.isfinite(zt), entry_z, exit_z, long_only)
            out[t, i] = state
    return out


_BAND_STATE_CUDA = r"""
template<typename T>
__global__ void band_state(const T* __restrict__ z, T* __restrict__ out,
                           const int n_bars, const int n_cols,
                           const T entry_z, const T exit_z, const int long_only) {
    const int i = blockDim.x * blockIdx.x + threadIdx.x;
    if (i >= n_cols) return;
    int state = 0;
    #pragma unroll 8
    for (int t = 0; t < n_bars; ++t) {
        const long long idx = (long long)t * n_cols + i;
        const T zt = z[idx];
        if (!isfinite(zt)) {
            state = 0;
        } else {
            if (state == 1 && zt >= -exit_z) state = 0;
            else if (state == -1 && zt <= exit_z) state = 0;
            if (state == 0) {
                if (zt < -entry_z) state = 1;
                else if (zt > entry_z && !long_only) state = -1;
            }
        }
        out[idx] = (T)state;
    }
}
"""
_BAND_STATE_NAMES = ("band_state<float>", "band_state<double>")


@functools.lru_cache(maxsize=1)
def _band_state_module():
    import cupy as cp  # noqa: PLC0415 - GPU backend only

    return cp.RawModule(code=_BAND_STATE_CUDA, options=("-std=c++14",), name_expressions=_BAND_STATE_NAMES)


def _band_state_gpu(z: Any, entry_z: float, exit_z: float, long_only: bool) -> Any:
    import cupy as cp  # noqa: PLC0415

    z = cp.ascontiguousarray(z)
    if z.dtype not in (cp.float32, cp.float64):
        z = z.astype(cp.float64)
    scalar = np.float32 if z.dtype == cp.float32 else np.float64
    kernel = _band_state_module().get_function(
        "band_state<float>" if z.dtype == cp.float32 else "band_state<double>"
    )
    n_bars, n_cols = z.shape
    out = cp.empty_like(z)
    if z.size:
        threads = 128
        blocks = (n_cols + threads - 1) // threads
        kernel(
            (blocks,),
            (threads,),
            (z, out, np.int32(n_bars), np.int32(n_cols), scalar(entry_z), scalar(exit_z), np.int32(bool(long_only))),
        )
    return out


def band_state(z: Any, entry_z: float, exit_z: float, long_only: bool = False) -> Any:
    """Positions in {-1, 0, 1} of the band state machine over z-scores (T, N).

    Per asset, starting flat: non-finite z -> flat; else exits first (long when
    z >= -exit_z, short when z <= exit_z), then entries if flat (long when
    z < -entry_z, short when z > entry_z unless long_only).
    """
    if is_gpu_array(z):
        return _band_state_gpu(z, entry_z, exit_z, long_only)
    z = np.ascontiguousarray(z)
    if z.dtype not in (np.float32, np.float64):
        z = z.astype(np.float64)
    out = np.empty_like(z)
    return band_state_nb(z, float(entry_z), float(exit_z), bool(long_only), out)


def warmups() -> dict[str, Any]:
    """GPU warm-up callables (compile and run each kernel of this module once)."""
    import cupy as cp  # noqa: PLC0415

    def run(dtype: Any) -> None:
        band_state(cp.zeros((4, 2), dtype=dtype), 2.0, 0.5, False)

    return {
        "band_state_float": lambda: run(cp.float32),
        "band_state_double": lambda: run(cp.float64),
    }


# ---------------------------------------------------------------- strategies
def _fast_below_slow(p: dict[str, Any]) -> str | None:
    if not p["fast"] < p["slow"]:
        return f"parameter 'fast' ({p['fast']}) must be smaller than 'slow' ({p['slow']})"
    return None


def _fast_below_slow_rows(c: Mapping[str, Any]) -> Any:
    return c["fast"] < c["slow"]


def _exit_below_entry_rows(c: Mapping[str, Any]) -> Any:
    return c["exit_z"] < c["entry_z"]


def _exit_below_entry(p: dict[str, Any]) -> str | None:
    if not p["exit_z"] < p["entry_z"]:
        return f"parameter 'exit_z' ({p['exit_z']}) must be smaller than 'entry_z' ({p['entry_z']})"
    return None


@register(
    "trend_following",
    [
        ParamSpec("fast", "int", 10, low=1, window=True, doc="fast moving-average period"),
        ParamSpec("slow", "int", 50, low=2, window=True, doc="slow moving-average period"),
        ParamSpec("ma", "str", "sma", choices=("sma", "ema"), doc="moving-average kind"),
        ParamSpec("long_only", "bool", True, doc="0 instead of -1 when fast < slow"),
    ],
    sweepable=True,
    per_asset=True,
    check=_fast_below_slow,
    valid_rows=_fast_below_slow_rows,
)
def trend_following(panel: Any, fast: int = 10, slow: int = 50, ma: str = "sma", long_only: bool = True) -> Any:
    """Moving-average crossover: long when MA(fast) > MA(slow), short (or flat) below."""
    close = panel.close
    xp = get_array_module(close)
    f, s = _ma(close, fast, ma), _ma(close, slow, ma)
    below = 0.0 if long_only else -1.0
    pos = xp.where(f > s, 1.0, xp.where(f < s, below, 0.0))  # NaN compares false: 0
    return _no_data_flat(xp, close, pos)


def momentum_score(xp: ModuleType, close: Any, lookback: int) -> Any:
    """m[t] = c[t] / c[t - lookback] - 1; NaN for the first `lookback` bars or missing closes."""
    m = xp.full(close.shape, xp.nan, dtype=close.dtype)
    if lookback < close.shape[0]:
        with np.errstate(all="ignore"):
            m[lookback:] = close[lookback:] / close[:-lookback] - 1.0
    return xp.where(xp.isfinite(m), m, xp.nan)


def _top_mask(xp: ModuleType, key: Any, valid: Any, k: int) -> Any:
    """Per row, the k smallest `key` among `valid` (ties: lower column index)."""
    key = xp.where(valid, key, xp.inf) + 0.0  # + 0.0 turns -0.0 into 0.0 for the sort
    stable = {"kind": "stable"} if xp is np else {}  # CuPy's sort is always stable
    order = xp.argsort(key, axis=1, **stable)[:, :k]
    mask = xp.zeros(key.shape, dtype=bool)
    mask[xp.arange(key.shape[0])[:, None], order] = True
    return mask & valid


@register(
    "momentum",
    [
        ParamSpec("lookback", "int", 20, low=1, window=True, doc="look-back in bars"),
        ParamSpec("threshold", "float", 0.0, low=0.0, doc="minimum |return| for a signal (sign mode)"),
        ParamSpec("long_only", "bool", False, doc="no short positions"),
        ParamSpec("top_k", "int", 0, low=0, doc="0: sign mode; k > 0: long the k best, short the k worst"),
    ],
    sweepable=True,
    sweep_fixed={"top_k": 0},
    per_asset=lambda p: p["top_k"] == 0,
)
def momentum(panel: Any, lookback: int = 20, threshold: float = 0.0, long_only: bool = False, top_k: int = 0) -> Any:
    """Look-back return: its sign (beyond a threshold), or a cross-sectional top-k ranking."""
    close = panel.close
    xp = get_array_module(close)
    m = momentum_score(xp, close, lookback)
    if top_k == 0:
        short = -1.0 if not long_only else 0.0
        pos = xp.where(m > threshold, 1.0, xp.where(m < -threshold, short, 0.0))
    else:
        valid = xp.isfinite(m)
        k = min(int(top_k), close.shape[1])
        pos = _top_mask(xp, -m, valid, k).astype(close.dtype)
        if not long_only:
            pos = pos - _top_mask(xp, m, valid, k).astype(close.dtype)
    return _no_data_flat(xp, close, pos)


@register(
    "mean_reversion",
    [
        ParamSpec("window", "int", 20, low=2, window=True, doc="z-score window"),
        ParamSpec("entry_z", "float", 2.0, low=0.0, doc="enter beyond this |z|"),
        ParamSpec("exit_z", "float", 0.5, low=0.0, doc="exit once back within this |z|"),
        ParamSpec("long_only", "bool", False, doc="no short positions"),
    ],
    sweepable=True,
    per_asset=True,
    check=_exit_below_entry,
    valid_rows=_exit_below_entry_rows,
)
def mean_reversion(
    panel: Any, window: int = 20, entry_z: float = 2.0, exit_z: float = 0.5, long_only: bool = False
) -> Any:
    """Bollinger / z-score bands: enter beyond entry_z, exit back inside exit_z."""
    close = panel.close
    xp = get_array_module(close)
    pos = band_state(_zscore(xp, close, window), entry_z, exit_z, long_only)
    return _no_data_flat(xp, close, pos)


@register(
    "pairs",
    [
        ParamSpec("window", "int", 60, low=2, window=True, doc="spread z-score window"),
        ParamSpec("entry_z", "float", 2.0, low=0.0, doc="enter beyond this |z|"),
        ParamSpec("exit_z", "float", 0.5, low=0.0, doc="exit once back within this |z|"),
    ],
    sweepable=True,
    check=_exit_below_entry,
    valid_rows=_exit_below_entry_rows,
)
def pairs(panel: Any, window: int = 60, entry_z: float = 2.0, exit_z: float = 0.5) -> Any:
    """Stat-arb on consecutive pairs (0-1, 2-3, ...): trade the log-price spread's z-score."""
    close = panel.close
    xp = get_array_module(close)
    n_pairs = close.shape[1] // 2
    pos = xp.zeros(close.shape, dtype=close.dtype)
    if n_pairs:
        with np.errstate(all="ignore"):
            spread = xp.log(close[:, 0 : 2 * n_pairs : 2]) - xp.log(close[:, 1 : 2 * n_pairs : 2])
        q = band_state(_zscore(xp, spread, window), entry_z, exit_z, False)
        pos[:, 0 : 2 * n_pairs : 2] = q
        pos[:, 1 : 2 * n_pairs : 2] = -q
    return _no_data_flat(xp, close, pos)
