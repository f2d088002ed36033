"""Sweeps over assets with interior gaps: the built-in strategy's positions, then the kernels' accounting.

The fused sweep kernels stream their indicators over every bar, which is TA-Lib's
arithmetic (`nan_policy="propagate"`): a missing bar inside an asset's data poisons
its moving averages for good. `run` follows the default policy, `"skip"` (windows
over the last n valid values, see `kernels.indicators.gaps`), and every sweep row
must equal `run`. So the units (assets, or pairs) whose signal has an interior gap
are taken out of the kernel (their inputs blanked: they add nothing) and computed
here: per combination, the built-in strategy's positions with the indicators'
policy (the code `run` calls), then the kernels' own per-bar accounting
(`sweep_cpu.leg_step_nb`: the same accumulators and the same fixed-point portfolio
sums), on the host. Momentum uses no indicator and needs none of this.

Host NumPy work, one strategy call per combination over all gap units of the chunk:
cheap while gaps are rare (a halted asset here and there), linear in their number.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
from numba import njit

from kernels.backtest.grid import KIND
from kernels.backtest.sweep_cpu import LEG0, leg_step_nb, write_leg_nb

NEEDS_FALLBACK = (KIND.TREND, KIND.MEAN_REVERSION, KIND.PAIRS)


def interior_gaps(xp: Any, sig: Any) -> np.ndarray:
    """Host indices of the columns of sig (T, U) with a missing value between two valid ones."""
    valid = ~xp.isnan(sig)
    n_bars = valid.shape[0]
    any_valid = valid.any(axis=0)
    first = valid.argmax(axis=0)
    last = n_bars - 1 - valid[::-1].argmax(axis=0)
    holes = any_valid & (valid.sum(axis=0) < last - first + 1)
    return np.flatnonzero(np.asarray(holes.get() if hasattr(holes, "get") else holes))


@njit(cache=True, nogil=True)
def legs_nb(pos_t, ret_t, fs, fs2, scale, prow, acc, c, cols):  # pragma: no cover - compiled
    """The sweep kernels' per-bar accounting of given positions: pos_t, ret_t (L, T);
    fixed-point net returns added into prow (T,), accumulators written at acc[:, c, cols[l]]."""
    for leg_i in range(pos_t.shape[0]):
        leg = LEG0
        for t in range(pos_t.shape[1]):
            fq, leg = leg_step_nb(leg, pos_t[leg_i, t], ret_t[leg_i, t], fs, fs2, scale)
            prow[t] += fq
        write_leg_nb(acc, c, cols[leg_i], leg)


def fallback(strategy: str, kind: int, params: Any, close: np.ndarray, ra: np.ndarray, rb: np.ndarray | None,
             units: np.ndarray, fs: float, scale: float, n_bars: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accumulators (N_ACC, P, L) and fixed-point sums (T, P) of the gap units for every combination.

    `close` (T, U or 2U) host float64 closes of the chunk's units (both legs for pairs,
    a then b), `ra` / `rb` (T, U) their bar returns, `params` the combinations'
    parameter rows. Returns (acc, sums, columns of acc in the chunk's asset order).
    """
    from kernels.strategies import builtin  # noqa: PLC0415
    from kernels.strategies import validate_params  # noqa: PLC0415
    from kernels.backtest.sweep_cpu import N_ACC  # noqa: PLC0415

    fn = {KIND.TREND: builtin.trend_following, KIND.MEAN_REVERSION: builtin.mean_reversion,
          KIND.PAIRS: builtin.pairs}[kind]
    if kind == KIND.PAIRS:
        cols = np.ravel(np.column_stack([2 * units, 2 * units + 1]))
        closes = np.empty((n_bars, 2 * len(units)))
        closes[:, 0::2] = close[:, 2 * units]
        closes[:, 1::2] = close[:, 2 * units + 1]
        rets = np.empty((n_bars, 2 * len(units)))
        rets[:, 0::2] = ra[:, units]
        rets[:, 1::2] = rb[:, units]
    else:
        cols = units.astype(np.int64)
        closes = close[:, units]
        rets = ra[:, units]
    ret_t = np.ascontiguousarray(rets.T, dtype=np.float64)
    n_combos = len(params)
    acc = np.zeros((N_ACC, n_combos, len(cols)))
    sums = np.zeros((n_combos, n_bars), dtype=np.int64)
    local = np.arange(len(cols), dtype=np.int64)
    panel = SimpleNamespace(close=np.ascontiguousarray(closes))
    for c in range(n_combos):
        row = {k: params[k].iloc[c] for k in params.columns}  # per column: keeps each dtype
        row = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
        pos = fn(panel, **validate_params(strategy, row, n_bars=n_bars))
        pos_t = np.ascontiguousarray(np.rint(pos).T, dtype=np.int64)
        legs_nb(pos_t, ret_t, fs, 2.0 * fs, scale, sums[c], acc, c, local)
    return acc, np.ascontiguousarray(sums.T), cols
