"""Time-ordered, purged walk-forward splits (no look-ahead between train and test).

Rows carry their feature bar t; the label of row t is known only at bar t + h
(h = the label horizon). For a test window of feature bars [test_start, test_stop)
a training row is kept only if its label bar lies before the first test bar:

    t + h < test_start   <=>   t <= test_start - h - 1

so the h bars [test_start - h, test_start) are purged, plus `embargo` further bars
before them when asked. Training rows therefore use no price at or after the first
test bar, neither in their features (t < test_start) nor in their labels. Training
always lies before its test window (walk-forward), so no embargo after the test
window is needed. Windows are in bars, not rows, so every asset of a bar falls on
the same side.

`walk_forward` places `n_splits` consecutive test windows of `test_size` bars at the
end of the data; training is expanding (all earlier bars) or rolling (`train_size`
bars). `holdout` is the one-split case used for a model's held-out metrics.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class Split:
    """One fold: row positions and the bar windows [start, stop) they were cut from."""

    train: np.ndarray
    test: np.ndarray
    train_bars: tuple[int, int]
    test_bars: tuple[int, int]
    purge: int


def _nonneg_int(name: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def walk_forward(
    bars: np.ndarray,
    horizon: int,
    n_splits: int = 5,
    test_size: int | None = None,
    train_size: int | None = None,
    embargo: int = 0,
    min_train_bars: int = 1,
) -> list[Split]:
    """Purged walk-forward folds over rows whose feature bars are `bars` (sorted or not).

    Test windows tile the last `n_splits * test_size` bars of [min(bars), max(bars)];
    `test_size` defaults to an equal share of the span for n_splits + 1 parts (the
    first part only trains). Raises ValueError when a fold would have fewer than
    `min_train_bars` training bars or no rows on either side.
    """
    bars = np.asarray(bars)
    if bars.ndim != 1 or bars.size == 0 or not np.issubdtype(bars.dtype, np.integer):
        raise ValueError("bars must be a non-empty 1-D integer array (one feature bar per row)")
    horizon = _nonneg_int("horizon", horizon, 1)
    n_splits = _nonneg_int("n_splits", n_splits, 1)
    embargo = _nonneg_int("embargo", embargo)
    min_train_bars = _nonneg_int("min_train_bars", min_train_bars, 1)
    first, last = int(bars.min()), int(bars.max())
    span = last - first + 1
    if test_size is None:
        test_size = span // (n_splits + 1)
    test_size = _nonneg_int("test_size", test_size, 1)
    if train_size is not None:
        train_size = _nonneg_int("train_size", train_size, 1)
    purge = horizon + embargo
    test_first = last + 1 - n_splits * test_size
    splits = []
    for k in range(n_splits):
        t0 = test_first + k * test_size
        t1 = t0 + test_size
        train_stop = t0 - purge
        train_start = first if train_size is None else max(first, train_stop - train_size)
        if train_stop - train_start < min_train_bars:
            raise ValueError(
                f"fold {k}: test window [{t0}, {t1}) leaves {max(0, train_stop - train_start)} training bars "
                f"after purging {purge} bars (need >= {min_train_bars}); use fewer or smaller test windows"
            )
        train = np.flatnonzero((bars >= train_start) & (bars < train_stop))
        test = np.flatnonzero((bars >= t0) & (bars < t1))
        if train.size == 0 or test.size == 0:
            raise ValueError(f"fold {k}: no {'training' if train.size == 0 else 'test'} rows")
        splits.append(Split(train, test, (train_start, train_stop), (t0, t1), purge))
    return splits


def holdout(bars: np.ndarray, horizon: int, test_fraction: float = 0.2, embargo: int = 0) -> Split:
    """One purged split: the last `test_fraction` of the bars is the held-out window."""
    if not (isinstance(test_fraction, (int, float)) and 0.0 < float(test_fraction) < 1.0):
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    bars = np.asarray(bars)
    if bars.size == 0:
        raise ValueError("bars must be a non-empty 1-D integer array (one feature bar per row)")
    span = int(bars.max()) - int(bars.min()) + 1
    test_size = max(1, int(round(span * float(test_fraction))))
    return walk_forward(bars, horizon, n_splits=1, test_size=test_size, embargo=embargo)[0]
