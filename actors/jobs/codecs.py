"""Result objects <-> the mappings the ResultStore writes (Parquet, .npy, JSON).

Only the result types listed in `RESULT_TYPES` are rebuilt: files never name code
to import, and nothing is unpickled.
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Mapping

import numpy as np
import pandas as pd

TYPE_KEY = "__type__"
NESTED_SEP = "--"  # field--subfield (the ResultStore allows letters, digits, "_" and "-")

RESULT_TYPES: dict[str, str] = {
    "RunResult": "kernels.backtest.runner",
    "SweepResult": "kernels.backtest.sweep",
    "FoldResult": "kernels.backtest.walk_forward",
    "WalkForwardResult": "kernels.backtest.walk_forward",
    "TrainResult": "actors.jobs.plans",
}


def _result_class(name: str) -> type:
    if name not in RESULT_TYPES:
        raise ValueError(f"unknown result type {name!r}")
    return getattr(importlib.import_module(RESULT_TYPES[name]), name)


def encode(result: Any) -> dict[str, Any]:
    """A flat mapping of arrays, DataFrames and JSON-able values."""
    if isinstance(result, Mapping):  # features: {label: DataFrame (bars x symbols)} -> one wide frame
        return {TYPE_KEY: "frames", "frames": pd.concat(dict(result.items()), axis=1, names=["label", "symbol"])}
    name = type(result).__name__
    if name not in RESULT_TYPES or not dataclasses.is_dataclass(result):
        raise TypeError(f"cannot store a {name}")
    out: dict[str, Any] = {TYPE_KEY: name}
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        if isinstance(value, (np.ndarray, pd.DataFrame)):
            out[f.name] = value
        elif isinstance(value, pd.Series):
            out[f.name] = value.to_frame(name=value.name or f.name)
        elif dataclasses.is_dataclass(value):
            nested = encode_plain(value)
            out.update({f"{f.name}{NESTED_SEP}{k}": v for k, v in nested.items()})
            out[f"{f.name}{NESTED_SEP}{TYPE_KEY}"] = type(value).__name__
        else:
            out[f.name] = _jsonable(value)
    return out


def encode_plain(obj: Any) -> dict[str, Any]:
    return {f.name: (getattr(obj, f.name) if isinstance(getattr(obj, f.name), (np.ndarray, pd.DataFrame))
                     else _jsonable(getattr(obj, f.name))) for f in dataclasses.fields(obj)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return {"__tuple__": [_jsonable(v) for v in value]}
    if isinstance(value, (range, slice)):
        return {"__range__": [value.start, value.stop]}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _unjson(value: Any) -> Any:
    if isinstance(value, dict):
        if "__tuple__" in value and len(value) == 1:
            return tuple(_unjson(v) for v in value["__tuple__"])
        if "__range__" in value and len(value) == 1:
            return range(*value["__range__"])
        return {k: _unjson(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unjson(v) for v in value]
    return value


def decode(values: dict[str, Any]) -> Any:
    """Rebuild a result from `encode`'s mapping."""
    kind = values.get(TYPE_KEY)
    if kind == "frames":
        wide = values["frames"]
        labels = list(dict.fromkeys(wide.columns.get_level_values(0)))
        return {label: wide[label] for label in labels}
    cls = _result_class(str(kind))
    nested: dict[str, dict[str, Any]] = {}
    top: dict[str, Any] = {}
    for key, value in values.items():
        if key == TYPE_KEY:
            continue
        if NESTED_SEP in key:
            field, sub = key.split(NESTED_SEP, 1)
            nested.setdefault(field, {})[sub] = value
        else:
            top[key] = value if isinstance(value, (np.ndarray, pd.DataFrame)) else _unjson(value)
    hints = {f.name: f for f in dataclasses.fields(cls)}
    for field, parts in nested.items():
        type_name = parts.pop(TYPE_KEY)
        module = importlib.import_module(RESULT_TYPES[cls.__name__])
        nested_cls = getattr(module, type_name)
        top[field] = nested_cls(**{k: (v if isinstance(v, (np.ndarray, pd.DataFrame)) else _unjson(v))
                                   for k, v in parts.items()})
    init = {k: v for k, v in top.items() if k in hints and hints[k].init}
    return cls(**init)
