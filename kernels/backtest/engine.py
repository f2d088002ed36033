"""Positions -> returns: the vectorised backtest engine, written once for NumPy and CuPy.

Semantics (docs/backtest-semantics.md): the position decided at bar t's close is
held over bar t+1; costs are charged on turnover at the bar where it happens; the
portfolio is equal weight over the assets with data at each bar.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class Simulation:
    """Per-asset (T, N) and portfolio (T,) series of one backtest (NumPy or CuPy)."""

    positions: Any  # target positions, 0 where there is no data
    active: Any  # close is finite
    gross: Any
    cost: Any
    net: Any
    equity: Any
    portfolio_net: Any
    portfolio_active: Any
    portfolio_equity: Any


def asset_returns(xp: ModuleType, close: Any, positions: Any, fees: float, slippage: float) -> tuple[Any, ...]:
    """(positions, active, gross, cost, net) for target positions over `close` (T, N).

    Positions are forced to 0 where the close is missing; gross is 0 unless both
    closes of the bar are finite. NumPy runs `asset_returns_xp`; CuPy runs one
    fused elementwise CUDA kernel doing the same operations (no FMA contraction,
    so the same numbers) instead of about fifteen array operations.
    """
    if xp is np:
        return asset_returns_xp(xp, close, positions, fees, slippage)
    return _asset_returns_gpu(close, positions, fees + slippage)


def asset_returns_xp(xp: ModuleType, close: Any, positions: Any, fees: float, slippage: float) -> tuple[Any, ...]:
    """The vectorised form of `asset_returns` (any array module; the kernel's oracle)."""
    dtype = close.dtype
    active = xp.isfinite(close)
    p = xp.where(active, positions, 0.0).astype(dtype, copy=False)
    zero_row = xp.zeros((1, close.shape[1]), dtype=dtype)
    p_prev = xp.concatenate([zero_row, p[:-1]], axis=0)
    both = active[1:] & active[:-1]
    with np.errstate(all="ignore"):
        change = xp.where(both, close[1:] / close[:-1] - 1.0, 0.0).astype(dtype, copy=False)
    gross = xp.concatenate([zero_row, p[:-1] * change], axis=0)
    cost = ((fees + slippage) * xp.abs(p - p_prev)).astype(dtype, copy=False)
    net = gross - cost
    return p, active, gross, cost, net


_ASSET_RETURNS_CUDA = r"""
template<typename T>
__global__ void asset_returns(const T* __restrict__ close, const T* __restrict__ positions,
                              T* __restrict__ p_out, bool* __restrict__ active_out,
                              T* __restrict__ gross_out, T* __restrict__ cost_out, T* __restrict__ net_out,
                              const T rate, const long long size, const int n_cols) {
    const long long idx = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (idx >= size) return;
    const T c = close[idx];
    const bool a = isfinite(c);
    const T p = a ? positions[idx] : (T)0;
    T p_prev = (T)0;
    T g = (T)0;
    if (idx >= n_cols) {
        const T c_prev = close[idx - n_cols];
        const bool a_prev = isfinite(c_prev);
        p_prev = a_prev ? positions[idx - n_cols] : (T)0;
        if (a && a_prev) g = p_prev * (c / c_prev - (T)1);
    }
    const T k = rate * (T)fabs((double)(p - p_prev));
    p_out[idx] = p;
    active_out[idx] = a;
    gross_out[idx] = g;
    cost_out[idx] = k;
    net_out[idx] = g - k;
}
"""
_ASSET_RETURNS_NAMES = ("asset_returns<float>", "asset_returns<double>")


@functools.lru_cache(maxsize=1)
def _asset_returns_module() -> Any:
    import cupy as cp  # noqa: PLC0415 - GPU backend only

    # --fmad=false: no fused multiply-add, so each operation rounds as NumPy's does.
    return cp.RawModule(code=_ASSET_RETURNS_CUDA, options=("-std=c++14", "--fmad=false"),
                        name_expressions=_ASSET_RETURNS_NAMES)


def _asset_returns_gpu(close: Any, positions: Any, rate: float) -> tuple[Any, ...]:
    import cupy as cp  # noqa: PLC0415

    dtype = cp.float32 if close.dtype == cp.float32 else cp.float64
    close = cp.ascontiguousarray(close, dtype=dtype)
    positions = cp.ascontiguousarray(positions, dtype=dtype)
    p, gross, cost, net = (cp.empty(close.shape, dtype=dtype) for _ in range(4))
    active = cp.empty(close.shape, dtype=cp.bool_)
    if close.size:
        kernel = _asset_returns_module().get_function(
            "asset_returns<float>" if dtype == cp.float32 else "asset_returns<double>"
        )
        threads = 256
        blocks = (close.size + threads - 1) // threads
        scalar = np.float32 if dtype == cp.float32 else np.float64
        kernel((blocks,), (threads,), (close, positions, p, active, gross, cost, net, scalar(rate),
                                       np.int64(close.size), np.int32(close.shape[1])))
    return p, active, gross, cost, net


def warmups() -> dict[str, Callable[[], None]]:
    """GPU warm-up callables: compile and run this module's CUDA kernel once per dtype."""
    import cupy as cp  # noqa: PLC0415

    def run(dtype: Any) -> None:
        _asset_returns_gpu(cp.ones((3, 2), dtype=dtype), cp.zeros((3, 2), dtype=dtype), 0.001)

    return {"asset_returns_float": lambda: run(cp.float32), "asset_returns_double": lambda: run(cp.float64)}


def portfolio_returns(xp: ModuleType, net: Any, active: Any) -> tuple[Any, Any]:
    """Equal-weight portfolio over active assets: (R (T,), active (T,)); R = 0 with none."""
    count = active.sum(axis=1)
    total = xp.where(active, net, 0.0).sum(axis=1)
    with np.errstate(all="ignore"):
        port = xp.where(count > 0, total / xp.maximum(count, 1), 0.0).astype(net.dtype, copy=False)
    return port, count > 0


def simulate(xp: ModuleType, close: Any, positions: Any, fees: float = 0.0, slippage: float = 0.0) -> Simulation:
    """Run positions over a close panel: per-asset and portfolio returns and equity."""
    p, active, gross, cost, net = asset_returns(xp, close, positions, fees, slippage)
    equity = xp.cumprod(1.0 + net, axis=0)
    port, port_active = portfolio_returns(xp, net, active)
    return Simulation(
        positions=p,
        active=active,
        gross=gross,
        cost=cost,
        net=net,
        equity=equity,
        portfolio_net=port,
        portfolio_active=port_active,
        portfolio_equity=xp.cumprod(1.0 + port),
    )
