"""pandas at the edge, arrays inside: one wrapper for every public kernel function.

Kernels take and return arrays. The public functions (indicators, `run`, `sweep`,
`from_signals`) remember what the caller passed with `ArrayWrapper.from_input` and
give the results back in the same kind: a Series for a Series, a DataFrame with the
same index and columns for a DataFrame, the array itself for NumPy / CuPy input.
Modelled on vectorbt's `ArrayWrapper` (`wrap()` / `wrap_reduced()`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from kernels.backend import is_gpu_array


def to_host(a: Any) -> np.ndarray:
    """A NumPy view or copy of `a` (CuPy arrays are copied to the host)."""
    if is_gpu_array(a):
        return a.get()
    return np.asarray(a)


def as_array(obj: Any, dtype: Any = None) -> Any:
    """The values of a pandas object as an ndarray; arrays pass through (CuPy stays CuPy)."""
    if isinstance(obj, (pd.Series, pd.DataFrame)):
        values = obj.to_numpy(dtype=dtype if dtype is not None else None)
        return values if dtype is None else values.astype(dtype, copy=False)
    if is_gpu_array(obj):
        return obj if dtype is None else obj.astype(dtype, copy=False)
    return np.asarray(obj, dtype=dtype)


@dataclass(frozen=True)
class ArrayWrapper:
    """How to give arrays back in the caller's shape: pandas labels, or none.

    `kind` is "series", "frame" or "array". `index` labels the rows (time), `columns`
    the columns (symbols); both are None for "array" input unless given explicitly.
    """

    kind: str
    index: pd.Index | None = None
    columns: pd.Index | None = None
    name: Any = None

    @classmethod
    def from_input(cls, obj: Any) -> "ArrayWrapper":
        """Remember the kind and labels of a user's input."""
        if isinstance(obj, pd.Series):
            return cls("series", obj.index, None, obj.name)
        if isinstance(obj, pd.DataFrame):
            return cls("frame", obj.index, obj.columns)
        return cls("array")

    @classmethod
    def from_labels(cls, index: Sequence[Any] | pd.Index | None, columns: Sequence[Any] | pd.Index | None) -> "ArrayWrapper":
        """A frame wrapper for arrays known to be (len(index), len(columns))."""
        idx = None if index is None else pd.Index(index)
        cols = None if columns is None else pd.Index(columns)
        return cls("frame", idx, cols)

    @property
    def is_pandas(self) -> bool:
        return self.kind in ("series", "frame")

    def wrap(self, a: Any, columns: Sequence[Any] | pd.Index | None = None, name: Any = None) -> Any:
        """A time-indexed result: Series / DataFrame for pandas input, the array otherwise.

        `columns` overrides the remembered columns (e.g. group labels); a 1-D result
        of frame input becomes a Series named `name`.
        """
        if not self.is_pandas:
            return a
        values = to_host(a)
        index = self.index if self.index is not None and len(self.index) == values.shape[0] else None
        if values.ndim == 1:
            return pd.Series(values, index=index, name=name if name is not None else self.name)
        cols = columns if columns is not None else self.columns
        if cols is not None and len(cols) != values.shape[1]:
            cols = None
        return pd.DataFrame(values, index=index, columns=cols)

    def wrap_reduced(self, a: Any, name: Any = None, columns: Sequence[Any] | pd.Index | None = None) -> Any:
        """A per-column result (one value per column): a Series over the columns."""
        if not self.is_pandas:
            return a
        values = to_host(a)
        if values.ndim == 0 or self.kind == "series":
            return values.item() if values.size == 1 else values
        cols = columns if columns is not None else self.columns
        return pd.Series(values, index=cols, name=name)

    def always_frame(self, a: Any, columns: Sequence[Any] | pd.Index | None = None) -> pd.DataFrame:
        """A host DataFrame whatever the input kind (results objects expose pandas always)."""
        values = to_host(a)
        if values.ndim == 1:
            values = values[:, None]
        index = self.index if self.index is not None and len(self.index) == values.shape[0] else None
        cols = columns if columns is not None else self.columns
        if cols is None or len(cols) != values.shape[1]:
            cols = pd.RangeIndex(values.shape[1])
        return pd.DataFrame(values, index=index, columns=cols)
