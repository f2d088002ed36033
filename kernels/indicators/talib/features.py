"""TA-Lib functions in `kernels.indicators.compute` (and so the HTTP features route) by name.

A spec whose name is a TA-Lib function (`"RSI"`, `("BBANDS", {"timeperiod": 20})`,
`{"name": "ADX", "params": {...}, "label": ...}`) is computed here: its inputs are
taken from the panel's fields by TA-Lib's names (`real` -> close, or the spec's
`input`; `real0`/`real1` -> high/low; MAVP's `periods` is not a panel field and is
refused), parameters are validated by the table (ValueError naming the parameter).
Keys: the label (default: name and the given parameter values, "ADX_20"), with
".<output>" for multi-output functions ("BBANDS.upperband"). Interior gaps follow
the NaN policy of every indicator (`nan_policy="skip"`, the default of
`kernels.indicators.talib.call`: windows over the valid bars). On CuPy data a function without a GPU kernel is computed on
the host and moved back (the service's "auto" backend may do that).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import pandas as pd

from kernels.backend import is_gpu_array
from kernels.indicators.talib.table import FUNCTIONS

_FIELD_OF = {"real": "close", "real0": "high", "real1": "low", "open": "open", "high": "high", "low": "low",
             "close": "close", "volume": "volume"}


def spec_name(spec: Any) -> str | None:
    """The TA-Lib name of a spec, or None when it is not a TA-Lib spec."""
    if isinstance(spec, str):
        name = spec
    elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        name = spec[0]
    elif isinstance(spec, Mapping):
        name = spec.get("name")
    else:
        return None
    return name if isinstance(name, str) and name in FUNCTIONS else None


def _parts(spec: Any) -> tuple[str, dict, str | None, str | None]:
    if isinstance(spec, str):
        return spec, {}, None, None
    if isinstance(spec, tuple):
        return spec[0], dict(spec[1] or {}), None, None
    extra = sorted(set(spec) - {"name", "params", "input", "label"})
    if extra:
        raise ValueError(f"compute: a spec mapping has keys name, params, input, label; got {sorted(spec)}")
    return spec["name"], dict(spec.get("params") or {}), spec.get("input"), spec.get("label")


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _field(data: Any, f: str) -> Any:
    if hasattr(data, "require"):
        data.require(f, who="a TA-Lib function")
    try:
        return data[f] if isinstance(data, (Mapping, pd.DataFrame)) else getattr(data, f)
    except (KeyError, AttributeError):
        raise ValueError(f"compute: the data has no field {f!r}") from None


def compute(data: Any, specs: Sequence[Any]) -> dict[str, Any]:
    """{label: output} for TA-Lib specs over a panel (see the module docstring)."""
    from kernels.indicators.talib.api import call  # noqa: PLC0415

    out: dict[str, Any] = {}
    for spec in specs:
        name, params, field, label = _parts(spec)
        fd = FUNCTIONS[name]
        values = fd.check(params)
        if "periods" in fd.inputs:
            raise ValueError(f"compute: {name} needs a 'periods' array, which is not a panel field")
        if field is not None and fd.inputs != ("real",):
            raise ValueError(f"compute: {name} reads {fd.inputs}; 'input' applies to single-series functions")
        arrays = [_field(data, str(field) if (field is not None and i == "real") else _FIELD_OF[i]) for i in fd.inputs]
        if any(is_gpu_array(a) for a in arrays) and not _has_gpu(name):
            import cupy  # noqa: PLC0415

            res = call(name, [cupy.asnumpy(a) for a in arrays], values)
            res = tuple(cupy.asarray(r) for r in res) if isinstance(res, tuple) else cupy.asarray(res)
        else:
            res = call(name, arrays, values)
        if label is None:
            given = [_fmt(params[q.name]) for q in fd.params if q.name in params]
            label = "_".join([name, *given] + ([str(field)] if field is not None else []))
        if isinstance(res, tuple):
            for k, r in zip(fd.outputs, res):
                out[f"{label}.{k}"] = r
        else:
            out[str(label)] = res
    return out


def _has_gpu(name: str) -> bool:
    from kernels.indicators.talib.gpu import GPU_FUNCTIONS  # noqa: PLC0415

    return name in GPU_FUNCTIONS
