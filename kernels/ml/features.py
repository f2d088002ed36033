"""Learning datasets built from a panel: indicator features and forward-return labels.

A feature is any `kernels.indicators.compute` spec; every output of every spec is
one column. The (T, N) outputs are stacked into a (T, N, F) cube and flattened into
rows, one per (bar, asset), ordered by bar then asset (time order, which
`kernels.ml.splits` relies on). A row is kept only when all its features are finite
and (for training data) its label is too, so warm-up bars, late-starting assets and
the last `horizon` bars (no label yet) are dropped together. Each row remembers its
feature bar `t`: the features use data up to the close of t, the label the close of
t + horizon.

Datasets are host (NumPy) data, whatever backend computed the indicators: they are
what the model layer and the actors pass around.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from kernels.backend import get_array_module, to_numpy
from kernels.indicators import compute
from kernels.ml.labels import check_horizon, check_task, make_labels

Array = Any


@dataclass(frozen=True, eq=False)
class Dataset:
    """Rows of a learning problem, time-ordered.

    X: (rows, F) float64 finite features; y: (rows,) labels (NaN-free when the
    dataset was built with labels, all NaN for prediction rows); bar / asset: (rows,)
    int64 positions of each row in the panel; `index` and `symbols` are the panel's.
    """

    X: np.ndarray
    y: np.ndarray
    bar: np.ndarray
    asset: np.ndarray
    feature_names: tuple[str, ...]
    horizon: int
    task: str
    index: np.ndarray
    symbols: tuple[str, ...]

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    def window(self, split: Any) -> dict[str, Any]:
        """A JSON-able description of a split's windows: bars [start, stop) and their timestamps."""
        out: dict[str, Any] = {"horizon": self.horizon, "purge_bars": int(split.purge)}
        last = len(self.index) - 1
        for side in ("train", "test"):
            start, stop = (int(b) for b in getattr(split, f"{side}_bars"))
            out[f"{side}_bars"] = [start, stop]
            out[f"{side}_start"] = str(self.index[min(start, last)])
            out[f"{side}_end"] = str(self.index[min(stop - 1, last)])
            out[f"{side}_rows"] = int(getattr(split, side).size)
        return out

    def take(self, rows: np.ndarray) -> "Dataset":
        """The dataset restricted to the given row positions (in that order)."""
        rows = np.asarray(rows, dtype=np.int64)
        return Dataset(
            self.X[rows], self.y[rows], self.bar[rows], self.asset[rows],
            self.feature_names, self.horizon, self.task, self.index, self.symbols,
        )


def feature_cube(panel: Any, specs: Sequence[Any]) -> tuple[tuple[str, ...], Array]:
    """(names, (T, N, F) array) of the indicator outputs of `specs`, on the panel's backend."""
    if not specs:
        raise ValueError("features: give at least one indicator spec")
    outs = compute(panel, list(specs))
    names = tuple(outs)
    first = next(iter(outs.values()))
    xp = get_array_module(first)
    cube = xp.stack([xp.asarray(outs[k], dtype=xp.float64) for k in names], axis=-1)
    return names, cube


def _rows(cube: Array, labels: Array | None, bars: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """Flatten a (T, N, F) cube (and (T, N) labels) into the kept rows."""
    cube = to_numpy(cube)
    t, n, f = cube.shape
    keep = np.isfinite(cube).all(axis=-1)
    y = np.full((t, n), np.nan) if labels is None else to_numpy(labels).astype(np.float64)
    if labels is not None:
        keep &= np.isfinite(y)
    if bars is not None:
        only = np.zeros(t, dtype=bool)
        only[bars] = True
        keep &= only[:, None]
    bar, asset = np.nonzero(keep)  # C order: by bar, then asset
    return cube[bar, asset], y[bar, asset], bar.astype(np.int64), asset.astype(np.int64)


def build_dataset(panel: Any, specs: Sequence[Any], horizon: int = 1, task: str = "regression") -> Dataset:
    """Training rows: features at bar t, label = forward return (or its sign) to t + horizon."""
    horizon, task = check_horizon(horizon), check_task(task)
    names, cube = feature_cube(panel, specs)
    labels = make_labels(panel.close, horizon, task)
    X, y, bar, asset = _rows(cube, labels, None)
    return Dataset(X, y, bar, asset, names, horizon, task, np.asarray(panel.index), tuple(panel.symbols))


def prediction_rows(panel: Any, specs: Sequence[Any], bars: Sequence[int] | None = None) -> Dataset:
    """Rows to predict on (no labels needed): the given bars (default: the last one).

    Assets whose features are not finite at a requested bar are left out; `asset`
    says which ones remain.
    """
    names, cube = feature_cube(panel, specs)
    t = int(cube.shape[0])
    sel = np.asarray([t - 1] if bars is None else list(bars), dtype=np.int64)
    if sel.size and (sel.min() < -t or sel.max() >= t):
        raise ValueError(f"bars must lie in [-{t}, {t}), got {sel.tolist()}")
    X, y, bar, asset = _rows(cube, None, sel % t if sel.size else sel)
    return Dataset(X, y, bar, asset, names, 0, "prediction", np.asarray(panel.index), tuple(panel.symbols))
