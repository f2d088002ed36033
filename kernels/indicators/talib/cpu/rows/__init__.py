"""Time-major ("row") CPU kernels for the widely used TA-Lib functions: one module per group.

Each module has `NAMES` (TA-Lib names, the kernel code is the position), `_rows` (the code
dispatch, see `common` for the kernel contract), `run_nb` (its cached parallel driver) and,
where some parameter values have no row kernel, `supports(name, values)`, and where a kernel
needs more columns than common.MIN_COLUMNS to pay off, `MIN_COLUMNS` ({name: columns}).
`cpu.run` takes this path for C-ordered panels of a registered function that `supports` accepts
and the column kernels otherwise; both give the same bits
(tests/kernels/indicators/talib/test_row_kernels.py). The outputs are allocated here, by NumPy
(huge pages for large arrays), and filled by the drivers.
"""
from __future__ import annotations

import importlib
from functools import lru_cache
from typing import Any, Mapping, Sequence

import numpy as np

from kernels.indicators.talib.cpu.rows.common import MIN_COLUMNS, chunk_width

MODULES: tuple[str, ...] = ("overlap", "momentum", "directional", "stochastic", "volatility", "volume", "statistic")


@lru_cache(maxsize=1)
def registry() -> dict[str, tuple[Any, int]]:
    """name -> (row module, code) for every function with a row kernel."""
    reg: dict[str, tuple[Any, int]] = {}
    for m in MODULES:
        mod = importlib.import_module(f"kernels.indicators.talib.cpu.rows.{m}")
        for i, name in enumerate(mod.NAMES):
            reg[name] = (mod, i)
    return reg


def supports(name: str, values: Mapping[str, Any], n_columns: int = MIN_COLUMNS) -> bool:
    """True when `name` with these parameter values has a row kernel worth taking for `n_columns` columns
    (common.MIN_COLUMNS, or the module's MIN_COLUMNS[name] where a kernel needs more to pay off)."""
    entry = registry().get(name)
    if entry is None:
        return False
    mod = entry[0]
    if n_columns < getattr(mod, "MIN_COLUMNS", {}).get(name, MIN_COLUMNS):
        return False
    check = getattr(mod, "supports", None)
    return check is None or bool(check(name, values))


def run(name: str, arrays: Sequence[np.ndarray], p: np.ndarray, n_out: int, holes: np.ndarray) -> np.ndarray:
    """(n_out, T, N) C-ordered outputs of `name` over C-ordered 2-D float64 inputs (`p`: `cpu.param_vector`)."""
    mod, code = registry()[name]
    a = list(arrays) + [arrays[0]] * (5 - len(arrays))
    out = np.empty((n_out,) + a[0].shape)
    mod.run_nb(code, a[0], a[1], a[2], a[3], a[4], len(arrays), p, out, holes, chunk_width(a[0].shape[1]))
    return out
