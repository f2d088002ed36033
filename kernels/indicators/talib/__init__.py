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

import functools
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

    defaults = {q.name: q.default for q in fd.params}
    fast_keys = frozenset(defaults) | {"nan_policy", "max_gap"}

    def func(*args: Any, **kwargs: Any) -> Any:
        if len(args) == n_in and fast_keys.issuperset(kwargs):  # the usual call: inputs, parameters by name
            values = {**defaults, **{k: v for k, v in kwargs.items() if k in defaults}}
            return call(fd.name, list(args), values, nan_policy=kwargs.get("nan_policy", "skip"),
                        max_gap=kwargs.get("max_gap"))
        bound = sig.bind(*args, **kwargs)  # anything else (parameters by position, inputs by name, errors)
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


def warm_up_tasks() -> dict[str, Callable[[], None]]:
    """One callable per CPU kernel module that loads (or compiles) it: the column kernels' group modules
    (a narrow panel), the row kernels' modules (`cpu.rows`, a panel wide enough for each of them), the
    elementwise functions and the streaming forms. One call per module is enough, as all functions of a
    module share its driver's single specialization. Separate tasks so that `kernels.prewarm` can
    compile them in several processes (a cold compile of all of them is ~6 minutes of one core)."""
    import numpy as np  # noqa: PLC0415

    from kernels.indicators.talib import cpu  # noqa: PLC0415
    from kernels.indicators.talib.cpu import rows  # noqa: PLC0415

    def panel(n_columns: int) -> dict[str, np.ndarray]:
        c = 100.0 + np.random.default_rng(0).standard_normal((80, n_columns)).cumsum(axis=0)
        return {"open": c, "high": c + 1.0, "low": c - 1.0, "close": c, "volume": np.abs(c) * 10.0,
                "real": c, "real0": c + 1.0, "real1": c - 1.0, "periods": np.full_like(c, 5.0)}

    def one(name: str, n_columns: int, layout: str) -> None:
        fd = FUNCTIONS[name]
        arrays = panel(n_columns)
        ins = [arrays[i] for i in fd.inputs]
        cpu.run(name, ins, fd.defaults, len(fd.outputs), np.zeros(ins[0].shape[1], dtype=np.uint8), layout=layout)

    def elementwise(name: str) -> None:  # the elementwise functions (xp): one call loads them all
        arrays = panel(2)
        call(name, [arrays[i] for i in FUNCTIONS[name].inputs], {})

    def stream() -> None:
        from kernels.indicators.talib.stream import TalibStream  # noqa: PLC0415

        TalibStream("RSI", 2).seed(real=panel(2)["close"])

    tasks: dict[str, Callable[[], None]] = {}
    for registry, n_columns, layout in (({n: e for n, e in cpu.registry().items() if e[1] >= 0}, 2, "columns"),
                                        (rows.registry(), rows.MIN_COLUMNS, "rows")):
        for name, (mod, _) in registry.items():
            tasks.setdefault(f"{layout}:{mod.__name__}", functools.partial(one, name, n_columns, layout))
    first_xp = next(name for name, (_, code) in cpu.registry().items() if code < 0)
    tasks["elementwise"] = functools.partial(elementwise, first_xp)
    tasks["stream"] = stream
    return tasks


def warm_up() -> None:
    """Load (or compile) every CPU kernel module once (`warm_up_tasks`; a worker's prewarm calls this)."""
    for task in warm_up_tasks().values():
        task()


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
