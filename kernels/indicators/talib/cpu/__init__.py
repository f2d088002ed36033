"""CPU backend of the TA-Lib functions: Numba kernels, one module per TA-Lib group.

Each group module has 1-D kernels (`*_1d_nb`: one column valid from its first bar,
outputs written from the lookback on, TA-Lib's operations in TA-Lib's order), a
`NAMES` tuple, a `_col` dispatch and `run_nb`, its cached entry to the one parallel driver `common.run_group_nb(_col, code, a0..a4, n_in,
p, out, holes)` that finds each column's first bar where every input is non-NaN, runs
the kernel on that tail (contiguous copies of the inputs) straight into the column's
contiguous row of `out`, the (n_out, N, T) outputs `run` allocates with NumPy, NaN where
there is no value; `run` gives the (n_out, T, N) view of them (each output Fortran-ordered).
The 30 most used functions also have time-major row kernels (`rows/`), taken for wide C-ordered panels. These only accept NumPy arrays, already validated by
`kernels.indicators.talib.api`.

Numba's on-disk cache checks only the source file of the cached function: after
editing a shared kernel (`ma.py`, `common.py`, `cycle.py`), touch the group modules
that call it (or clear their `__pycache__/*.nbi`), or they keep the old code.
"""
from __future__ import annotations

import importlib
from functools import lru_cache
from typing import Any, Mapping, Sequence

import numpy as np

from kernels import host_memory

from kernels.indicators.talib.cpu import rows


MODULES: tuple[str, ...] = ("overlap", "momentum", "volume", "volatility", "price", "cycle", "statistic", "newer",
                            "math", "pattern")


@lru_cache(maxsize=1)
def registry() -> dict[str, tuple[Any, int]]:
    """name -> (group module, code) for every function with a CPU kernel (xp: the shared elementwise code)."""
    from kernels.indicators.talib import xp  # noqa: PLC0415

    reg: dict[str, tuple[Any, int]] = {name: (xp, -1) for name in xp.FUNCS}
    for m in MODULES:
        try:
            mod = importlib.import_module(f"kernels.indicators.talib.cpu.{m}")
        except ModuleNotFoundError as e:
            if e.name != f"kernels.indicators.talib.cpu.{m}":
                raise
            continue
        for i, name in enumerate(mod.NAMES):
            if not name.startswith("_"):  # "_X": a slot served by another module
                reg[name] = (mod, i)
    return reg


def run(name: str, arrays: Sequence[np.ndarray], values: Mapping[str, Any], n_out: int,
        holes: np.ndarray | None = None, layout: str = "auto") -> np.ndarray:
    """(n_out, T, N) float64 outputs of `name` over 2-D float64 inputs. `holes` ((N,) uint8, zeros),
    when given, gets 1 for every column that misses a bar after its start (`has_holes` says whether
    the function's driver reports them; the elementwise xp functions do not). `layout`: "auto" takes
    the time-major row kernels (`rows`, faster per core) where the function has one, the inputs
    are C-ordered and wide enough (`rows.supports`), else the column kernels; "columns" / "rows" force one (same bits either way)."""
    host_memory.ensure()  # the outputs reuse freed pages instead of faulting in fresh ones
    mod, code = registry()[name]
    if code < 0:
        return np.stack(mod.run(np, name, list(arrays), dict(values)))
    if holes is None:
        holes = np.zeros(arrays[0].shape[1], dtype=np.uint8)
    if layout == "rows" or (layout == "auto" and rows.supports(name, values, arrays[0].shape[1])
                            and all(x.flags.c_contiguous for x in arrays)):
        return rows.run(name, arrays, param_vector(name, values), n_out, holes)
    a = list(arrays) + [arrays[0]] * (5 - len(arrays))
    out = np.empty((n_out, a[0].shape[1], a[0].shape[0]))
    mod.run_nb(code, a[0], a[1], a[2], a[3], a[4], len(arrays), param_vector(name, values), out, holes)
    return out.transpose(0, 2, 1)  # the drivers write each column contiguously: (n_out, N, T) -> (n_out, T, N)


def has_holes(name: str) -> bool:
    """True when `run` reports the columns with gaps for `name` (a Numba group driver runs it)."""
    return registry()[name][1] >= 0


def param_vector(name: str, values: Mapping[str, Any]) -> np.ndarray:
    """The float64 parameter vector the group kernels (Numba here, CUDA C in ../cuda/) take for `name`."""
    mod, _ = registry()[name]
    p = np.asarray(mod.params(name, dict(values)) if hasattr(mod, "params") else list(values.values()),
                   dtype=np.float64)
    return p if p.size else np.zeros(1)
