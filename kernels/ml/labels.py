"""Forward-return labels for supervised learning on a panel.

The label of bar t is decided by prices after t: the simple return from the close
of bar t to the close of bar t + h (`close[t+h] / close[t] - 1`). It is NaN for the
last h bars and wherever either close is missing. Classification labels are its
sign: 1.0 for a positive return, 0.0 otherwise (a zero return counts as "not up"),
NaN where the return is NaN. The label of bar t becomes known at bar t + h, which
is what `kernels.ml.splits` purges.
"""
from __future__ import annotations

from typing import Any

from kernels.backend import get_array_module

TASKS: tuple[str, ...] = ("regression", "classification")

Array = Any  # numpy.ndarray or cupy.ndarray


def check_horizon(horizon: Any) -> int:
    """A horizon is an integer number of bars >= 1."""
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be an integer >= 1 (bars), got {horizon!r}")
    return horizon


def check_task(task: Any) -> str:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return task


def forward_returns(close: Array, horizon: int) -> Array:
    """(T,) or (T, N) simple returns from bar t to bar t + horizon; NaN at the end."""
    horizon = check_horizon(horizon)
    xp = get_array_module(close)
    close = xp.asarray(close, dtype=xp.float64)
    out = xp.full(close.shape, xp.nan, dtype=xp.float64)
    if horizon < close.shape[0]:
        out[:-horizon] = close[horizon:] / close[:-horizon] - 1.0
    return out


def direction(returns: Array) -> Array:
    """1.0 where the return is positive, 0.0 where it is not, NaN where it is NaN."""
    xp = get_array_module(returns)
    return xp.where(xp.isnan(returns), xp.nan, (returns > 0).astype(xp.float64))


def make_labels(close: Array, horizon: int, task: str = "regression") -> Array:
    """Labels of the given task over a (T,) or (T, N) close array."""
    r = forward_returns(close, horizon)
    return r if check_task(task) == "regression" else direction(r)
