"""The TA-Lib function set, drop-in: `from kernels.indicators import talib as ta; ta.RSI(close, timeperiod=14)`.

Every name of `talib.get_functions()` (TA-Lib 0.8: overlap studies, momentum,
volume, volatility, price transforms, cycle indicators, statistic functions, math
transforms and operators, candlestick patterns) with TA-Lib's argument names and
defaults. Inputs are NumPy (T,) or (T, N) arrays, CuPy arrays (GPU backend) or
pandas Series / DataFrames (the result keeps their index and columns); see
`kernels.indicators.talib.api` for the exact semantics and `table.FUNCTIONS` for
each function's inputs, parameters, ranges, outputs and lookback.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

from kernels.indicators.talib.api import call, result_type
from kernels.indicators.talib.table import FUNCTIONS, GROUPS, MA_TYPES, FuncDef


def _make(fd: FuncDef) -> Callable[..., Any]:
    params = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in fd.inputs]
    params += [inspect.Parameter(q.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=q.default) for q in fd.params]
    params += [inspect.Parameter("nan_policy", inspect.Parameter.KEYWORD_ONLY, default="skip"),
               inspect.Parameter("max_gap", inspect.Parameter.KEYWORD_ONLY, default=None)]
    sig = inspect.Signature(params)
    n_in = len(fd.inputs)

    def func(*args: Any, **kwargs: Any) -> Any:
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        a = bound.arguments
        return call(fd.name, [a[n] for n in fd.inputs], {q.name: a[q.name] for q in fd.params},
                    nan_policy=a["nan_policy"], max_gap=a["max_gap"])

    func.__name__ = func.__qualname__ = fd.name
    func.__signature__ = sig  # type: ignore[attr-defined]
    ps = ", ".join(f"{q.name}={q.default!r}" for q in fd.params)
    func.__doc__ = (
        f"TA-Lib {fd.name} ({fd.group}): inputs {', '.join(fd.inputs)}; parameters {ps or 'none'}; "
        f"outputs {', '.join(fd.outputs)}; lookback {fd.lookback_expr}. Interior NaN gaps: nan_policy "
        f"'skip' (default: windows over the valid bars; a gap over max_gap bars restarts the warm-up) or "
        f"'propagate' (TA-Lib's own behaviour)."
        + ("" if n_in else "")
    )
    return func


for _fd in FUNCTIONS.values():
    globals()[_fd.name] = _make(_fd)


def warm_up() -> None:
    """Load (or compile) every CPU kernel module once: one call per group module is enough, as all
    functions of a module share its driver's single specialization (a worker's prewarm can call this)."""
    import numpy as np  # noqa: PLC0415

    from kernels.indicators.talib import cpu  # noqa: PLC0415
    from kernels.indicators.talib.stream import TalibStream  # noqa: PLC0415

    rng = np.random.default_rng(0)
    c = 100.0 + rng.standard_normal((80, 2)).cumsum(axis=0)
    seen = set()
    for name, (mod, _) in cpu.registry().items():
        if mod.__name__ in seen:
            continue
        seen.add(mod.__name__)
        fd = FUNCTIONS[name]
        arrays = {"open": c, "high": c + 1.0, "low": c - 1.0, "close": c, "volume": np.abs(c) * 10.0,
                  "real": c, "real0": c + 1.0, "real1": c - 1.0, "periods": np.full_like(c, 5.0)}
        call(name, [arrays[i] for i in fd.inputs], {})
    TalibStream("RSI", 2).seed(real=c)


def get_functions() -> list[str]:
    """Every function name, as `talib.get_functions()`."""
    return list(FUNCTIONS)


def get_function_groups() -> dict[str, list[str]]:
    """Group -> names (our short group names: overlap, momentum, ...)."""
    out: dict[str, list[str]] = {g: [] for g in GROUPS}
    for fd in FUNCTIONS.values():
        out[fd.group].append(fd.name)
    return out


__all__ = ["FUNCTIONS", "MA_TYPES", "call", "get_function_groups", "get_functions", "result_type", "warm_up",
           *FUNCTIONS]
