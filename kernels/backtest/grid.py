"""Parameter grids of the fused sweeps: expansion, validation and kernel encoding.

A grid maps parameter names to value lists; the combinations are their Cartesian
product in the order the names are given (the last name varies fastest). Values
are checked against the strategy's registered `ParamSpec`s (types, bounds, windows
no longer than the data) and the spec's `sweep_fixed` values; a parameter left out
takes its default, and a single value (or a one-element list) fixes it.

Combinations that break a constraint *between* parameters (`fast >= slow`,
`exit_z >= entry_z`: the spec's `check`) are dropped, not rejected, because a
Cartesian grid of two window lists nearly always contains some; the survivors are
numbered from 0 in Cartesian order, and `n_dropped` says how many were removed. A
grid where no combination survives is an error.

Each surviving combination is encoded for the kernels as one row of an int32
array and one row of a float array (`KernelParams`), with a layout per strategy
kind (`Kind`); both backends read the same rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd

from kernels.strategies import StrategyError, get_strategy
from kernels.strategies.registry import StrategySpec

N_INT_SLOTS = 4
N_FLOAT_SLOTS = 8


class Kind(NamedTuple):
    """Strategy kinds of the fused kernels (the `kind` argument of both backends)."""

    TREND: int = 0
    MOMENTUM: int = 1
    MEAN_REVERSION: int = 2
    PAIRS: int = 3


KIND = Kind()
KIND_OF: dict[str, int] = {
    "trend_following": KIND.TREND,
    "momentum": KIND.MOMENTUM,
    "mean_reversion": KIND.MEAN_REVERSION,
    "pairs": KIND.PAIRS,
}
SWEEP_STRATEGIES: tuple[str, ...] = tuple(KIND_OF)


class GridError(StrategyError):
    """A sweep grid is invalid; the message names the parameter or the problem."""


@dataclass(frozen=True, eq=False)
class SweepGrid:
    """The validated combinations of one sweep.

    `params` is a DataFrame indexed by combo_id (0..n-1) with one column per
    strategy parameter (swept or fixed); `ints` (n, 4) int32 and `floats` (n, 4)
    float64 are the kernel encoding (see `encode`).
    """

    strategy: str
    kind: int
    names: tuple[str, ...]
    swept: tuple[str, ...]
    params: pd.DataFrame
    ints: np.ndarray
    floats: np.ndarray
    n_dropped: int

    @property
    def n_combos(self) -> int:
        return len(self.params)


def _values(name: str, raw: Any) -> list[Any]:
    if isinstance(raw, (str, bytes)) or np.ndim(raw) == 0:
        return [raw.item() if isinstance(raw, np.generic) else raw]
    vals = [v.item() if isinstance(v, np.generic) else v for v in list(raw)]
    if not vals:
        raise GridError(f"grid parameter {name!r} has no values")
    return vals


def expand_grid(strategy: str, grid: Mapping[str, Any], n_bars: int) -> SweepGrid:
    """Validate `grid` for `strategy` over data of `n_bars` bars and enumerate it."""
    if not isinstance(strategy, str):
        raise GridError(
            f"sweep takes a built-in strategy name, one of {list(SWEEP_STRATEGIES)}; got {type(strategy).__name__}"
        )
    spec: StrategySpec = get_strategy(strategy)  # UnknownStrategy names the known ones
    if strategy not in KIND_OF or not spec.sweepable:
        raise GridError(
            f"strategy {strategy!r} has no fused sweep kernel; sweepable strategies: {list(SWEEP_STRATEGIES)} "
            "(run other strategies combination by combination with kernels.backtest.run)"
        )
    if not isinstance(grid, Mapping):
        raise GridError(f"grid must be a mapping of parameter name to values, got {type(grid).__name__}")
    known = {p.name: p for p in spec.params}
    unknown = [k for k in grid if k not in known]
    if unknown:
        raise GridError(f"unknown parameter(s) {unknown} for strategy {strategy!r}; parameters: {list(known)}")
    values: dict[str, list[Any]] = {}
    for name, raw in grid.items():
        p = known[name]
        coerced = [p.coerce(v) for v in _values(name, raw)]
        if p.window:
            longest = max(coerced)
            if longest > n_bars:
                raise GridError(f"parameter {name!r} = {longest} is longer than the data ({n_bars} bars)")
        fixed = spec.sweep_fixed.get(name)
        if fixed is not None and any(v != fixed for v in coerced):
            raise GridError(f"sweeps of {strategy!r} need {name!r} = {fixed!r}, got {coerced}")
        values[name] = coerced
    swept = tuple(values)
    names = tuple(p.name for p in spec.params)
    defaults = {p.name: p.default for p in spec.params}
    # The Cartesian product in itertools.product order (the last parameter varies fastest), as columns:
    # each column is its value list (dtype inferred as for a list of rows) indexed by the combination.
    picks = np.indices([len(values[n]) for n in swept]).reshape(len(swept), -1)
    n_all = picks.shape[1]
    columns = {n: pd.Series(values[n] if n in values else [defaults[n]]).take(
        picks[swept.index(n)] if n in values else np.zeros(n_all, dtype=np.intp)).reset_index(drop=True)
        for n in names}
    ok = _valid_rows(spec, columns, n_all)
    dropped = int(n_all - ok.sum())
    if not ok.any():
        first = {n: columns[n].iloc[0] for n in names}
        problem = spec.check(_native(first)) if spec.check is not None else None
        raise GridError(
            f"no valid combination in the grid for {strategy!r} ({dropped} dropped), e.g. {problem}"
        )
    params = pd.DataFrame({n: columns[n][ok].reset_index(drop=True) for n in names}, columns=list(names))
    params.index = pd.RangeIndex(len(params), name="combo_id")
    ints, floats = encode(KIND_OF[strategy], params)
    return SweepGrid(strategy, KIND_OF[strategy], names, swept, params, ints, floats, dropped)


def _native(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in row.items()}


def _valid_rows(spec: StrategySpec, columns: Mapping[str, pd.Series], n: int) -> np.ndarray:
    """Which combinations pass the strategy's constraint: its column form where it has one, else
    `check` row by row."""
    if spec.check is None:
        return np.ones(n, dtype=bool)
    if spec.valid_rows is not None:
        return np.asarray(spec.valid_rows(columns), dtype=bool)
    frame = pd.DataFrame(dict(columns))
    return np.array([spec.check(_native(row)) is None for row in frame.to_dict("records")], dtype=bool)


def encode(kind: int, params: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Kernel rows: ints (P, 4) int32 and floats (P, 8) float64 (cast to the sweep's
    dtype before the kernels read them, so that both backends see the same values).

    - trend:          ints [fast, slow, is_ema, long_only];
                      floats [k_fast, k_slow, 1/fast, 1/slow, fast, slow, 0, 0]
      (k = 2 / (period + 1), TA-Lib's EMA factor; the reciprocals only pre-screen
      the MA comparison, which is decided on TA-Lib's quotients sum / period)
    - momentum:       ints [lookback, long_only, 0, 0]; floats [threshold, 0, ...]
    - mean_reversion: ints [window, long_only, 0, 0];   floats [entry_z, exit_z, window, 1/window, 0, ...]
    - pairs:          ints [window, 0, 0, 0];           floats [entry_z, exit_z, window, 1/window, 0, ...]
    """
    n = len(params)
    ints = np.zeros((n, N_INT_SLOTS), dtype=np.int32)
    floats = np.zeros((n, N_FLOAT_SLOTS), dtype=np.float64)

    def col(name: str, dtype: Any) -> np.ndarray:
        return params[name].to_numpy(dtype=dtype)

    if kind == KIND.TREND:
        fast, slow = col("fast", np.int64), col("slow", np.int64)
        ints[:, 0], ints[:, 1] = fast, slow
        ints[:, 2] = params["ma"].to_numpy() == "ema"
        ints[:, 3] = col("long_only", bool)
        floats[:, 0] = 2.0 / (fast + 1.0)
        floats[:, 1] = 2.0 / (slow + 1.0)
        floats[:, 2] = 1.0 / fast
        floats[:, 3] = 1.0 / slow
        floats[:, 4], floats[:, 5] = fast, slow
    elif kind == KIND.MOMENTUM:
        ints[:, 0] = col("lookback", np.int64)
        ints[:, 1] = col("long_only", bool)
        floats[:, 0] = col("threshold", np.float64)
    elif kind in (KIND.MEAN_REVERSION, KIND.PAIRS):
        window = col("window", np.int64)
        ints[:, 0] = window
        if kind == KIND.MEAN_REVERSION:
            ints[:, 1] = col("long_only", bool)
        floats[:, 0], floats[:, 1] = col("entry_z", np.float64), col("exit_z", np.float64)
        floats[:, 2] = window
        floats[:, 3] = 1.0 / window
    else:
        raise ValueError(f"unknown kernel kind {kind}")
    return ints, floats


def combo_params(grid: SweepGrid, combos: Sequence[int] | range) -> pd.DataFrame:
    """The parameter rows of the given combination ids."""
    return grid.params.iloc[list(combos) if not isinstance(combos, range) else slice(combos.start, combos.stop)]
