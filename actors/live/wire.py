"""The live channel's data-only encoding: msgpack with a few extension types, never pickle.

A live channel socket is reachable from the network (see `actors.live.channel`), so
what crosses it must not be able to run code even when its token leaks. Messages are
msgpack; the types that live work needs travel as extension types that only *name*
data and a small, fixed set of classes:

- NumPy arrays as their raw bytes with dtype and shape (object dtypes refused),
  NumPy scalars likewise; tuples; pandas Timestamps, Index/DatetimeIndex, Series
  and DataFrames as their arrays;
- the dataclasses listed in `DATACLASSES` (work items, chunk specs, results): a
  registered name and its fields, rebuilt with the class's constructor;
- exceptions as the nearest class in `EXCEPTIONS` of their type's MRO (so a
  `ValueError` subclass still reads as a client error and a device fault as a
  `RuntimeError`), with their message and plain attributes; no traceback.

Decoding never imports a module named by the message: every class is looked up in
these tables. Anything else is an `EncodeError` (sender) or `DecodeError` (receiver).
"""
from __future__ import annotations

import builtins
import dataclasses
import importlib
import math
from typing import Any

import msgpack
import numpy as np
import pandas as pd

# Extension type codes.
_TUPLE, _NDARRAY, _SCALAR, _DATACLASS, _EXCEPTION, _TIMESTAMP, _INDEX, _SERIES, _FRAME = range(1, 10)

# Dataclasses a live message may hold: registered name -> module that defines it.
DATACLASSES: dict[str, str] = {
    "WorkItem": "actors.messages",
    "WorkResult": "actors.messages",
    "ChunkSpec": "actors.jobs.plans",
    "FeatureBlock": "actors.jobs.plans",
}

# Exceptions rebuilt on the receiving side (others read as the nearest of these in their MRO).
EXCEPTIONS: dict[str, str] = {
    **{name: "builtins" for name in (
        "Exception", "RuntimeError", "ValueError", "KeyError", "TypeError", "IndexError", "LookupError",
        "ArithmeticError", "ZeroDivisionError", "OverflowError", "MemoryError", "NotImplementedError",
        "TimeoutError", "AssertionError")},
    "JobSpecError": "actors.jobs.plans",
    "InvalidJobSpec": "actors.jobs.records",
    "DatasetNotCached": "actors.live.router",
    "DatasetNotFound": "actors.datasets",
    "ModelNotFound": "actors.models.registry",
    "ModelIntegrityError": "actors.models.registry",
    "StreamError": "actors.streams.registry",
    "StreamNotFound": "actors.streams.registry",
    "GpuHalError": "gpu_hal.errors",
    "QuotaExceeded": "gpu_hal.errors",
    "DeviceFault": "gpu_hal.errors",
    "DeviceUnhealthy": "gpu_hal.errors",
    "DeviceUnavailable": "gpu_hal.errors",
    "Cancelled": "gpu_hal.errors",
    "BackendUnavailable": "kernels.backend",
    "DataValidationError": "kernels.data",
    "StrategyError": "kernels.strategies.registry",
    "UnknownStrategy": "kernels.strategies.registry",
    "UnknownModel": "kernels.ml.models",
    "InvalidParams": "kernels.ml.models",
}

_PLAIN = (str, int, float, bool, type(None))


class EncodeError(TypeError):
    """A value that the live channel does not carry (the caller uses a Ray actor call instead)."""


class DecodeError(ValueError):
    """Bytes that are not a well-formed live channel message."""


def _lookup(table: dict[str, str], name: str) -> type:
    module = table.get(name)
    if module is None:
        raise DecodeError(f"unknown type {name!r} in a live channel message")
    if module == "builtins":
        return getattr(builtins, name)
    return getattr(importlib.import_module(module), name)


def _array_bytes(arr: np.ndarray) -> list[Any]:
    if arr.dtype.hasobject or arr.dtype.fields is not None:
        raise EncodeError(f"arrays of dtype {arr.dtype} do not travel on the live channel")
    return [arr.dtype.str, list(arr.shape), np.ascontiguousarray(arr).tobytes()]


def _array_from(dtype: str, shape: list[int], raw: bytes) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt.hasobject or dt.fields is not None:
        raise DecodeError(f"dtype {dtype!r} is not allowed")
    if not all(isinstance(n, int) and n >= 0 for n in shape):
        raise DecodeError(f"bad array shape {shape!r}")
    if math.prod(shape) * dt.itemsize != len(raw):
        raise DecodeError(f"array of {dtype} {shape} does not match its {len(raw)} bytes")
    return np.frombuffer(raw, dtype=dt).reshape(shape).copy()  # writable, owns its memory


def _index(idx: pd.Index) -> list[Any]:
    if isinstance(idx, pd.MultiIndex):
        raise EncodeError("MultiIndex does not travel on the live channel")
    if isinstance(idx, pd.DatetimeIndex):
        naive = idx.tz_convert("UTC").tz_localize(None) if idx.tz is not None else idx
        return ["datetime", idx.name, str(idx.tz) if idx.tz is not None else None, _array_bytes(naive.to_numpy())]
    values = idx.to_numpy()
    if values.dtype.hasobject:
        return ["list", idx.name, [_plain_item(v) for v in values]]
    return ["array", idx.name, _array_bytes(values)]


def _plain_item(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, _PLAIN):
        raise EncodeError(f"index label of type {type(value).__name__} does not travel on the live channel")
    return value


def _index_from(form: str, name: Any, *rest: Any) -> pd.Index:
    if form == "datetime":
        tz, (dtype, shape, raw) = rest
        values = _array_from(dtype, shape, raw)
        if values.dtype.kind != "M":
            raise DecodeError(f"a DatetimeIndex of dtype {values.dtype}")
        out = pd.DatetimeIndex(values, name=name)
        return out.tz_localize("UTC").tz_convert(tz) if tz else out
    if form == "list":
        return pd.Index(rest[0], name=name)
    if form == "array":
        return pd.Index(_array_from(*rest[0]), name=name)
    raise DecodeError(f"unknown index form {form!r}")


def _exception(exc: BaseException) -> list[Any]:
    cls = next((c for c in type(exc).__mro__ if EXCEPTIONS.get(c.__name__) == c.__module__), Exception)
    message = str(exc.args[0]) if isinstance(exc, KeyError) and len(exc.args) == 1 else str(exc)
    if cls is not type(exc):
        message = f"{type(exc).__name__}: {message}"
        attrs: dict[str, Any] = {}
    else:
        attrs = {k: v for k, v in vars(exc).items() if isinstance(k, str) and isinstance(v, _PLAIN)}
    return [cls.__name__, message, attrs]


def _exception_from(name: str, message: str, attrs: dict[str, Any]) -> BaseException:
    cls = _lookup(EXCEPTIONS, name)
    exc = cls.__new__(cls, message)  # no __init__: constructors' signatures differ; args is the message
    exc.args = (message,)
    for key, value in attrs.items():
        if isinstance(key, str) and not key.startswith("__") and isinstance(value, _PLAIN):
            setattr(exc, key, value)
    return exc


def _default(obj: Any) -> Any:
    # strict_types: subclasses of the msgpack types come here (tuples must not turn into lists)
    if isinstance(obj, str):  # e.g. a str-valued enum member: its value
        return str.__add__(obj, "")
    if isinstance(obj, dict):
        return dict(obj)
    if isinstance(obj, list):
        return list(obj)
    if isinstance(obj, tuple):
        return msgpack.ExtType(_TUPLE, _pack(list(obj)))
    if isinstance(obj, np.ndarray):
        return msgpack.ExtType(_NDARRAY, _pack(_array_bytes(obj)))
    if isinstance(obj, np.generic):
        return msgpack.ExtType(_SCALAR, _pack(_array_bytes(np.asarray(obj))))
    if isinstance(obj, pd.Timestamp):
        return msgpack.ExtType(_TIMESTAMP, _pack([obj.value, str(obj.tz) if obj.tz is not None else None]))
    if isinstance(obj, pd.Index):
        return msgpack.ExtType(_INDEX, _pack(_index(obj)))
    if isinstance(obj, pd.Series):
        return msgpack.ExtType(_SERIES, _pack([obj.name, _index(obj.index), obj.to_numpy()]))
    if isinstance(obj, pd.DataFrame):
        columns = [obj[c].to_numpy() for c in obj.columns] if obj.columns.is_unique else None
        if columns is None:
            raise EncodeError("DataFrames with duplicate columns do not travel on the live channel")
        return msgpack.ExtType(_FRAME, _pack([_index(obj.index), _index(obj.columns), columns]))
    if isinstance(obj, BaseException):
        return msgpack.ExtType(_EXCEPTION, _pack(_exception(obj)))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        name = type(obj).__name__
        if DATACLASSES.get(name) != type(obj).__module__:
            raise EncodeError(f"{type(obj).__module__}.{name} is not a live channel message type")
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init}
        return msgpack.ExtType(_DATACLASS, _pack([name, fields]))
    raise EncodeError(f"a {type(obj).__name__} does not travel on the live channel")


def _ext_hook(code: int, data: bytes) -> Any:
    value = _unpack(data)
    if code == _TUPLE:
        return tuple(value)
    if code == _NDARRAY:
        return _array_from(*value)
    if code == _SCALAR:
        return _array_from(*value)[()]
    if code == _TIMESTAMP:
        ns, tz = value
        ts = pd.Timestamp(int(ns))
        return ts.tz_localize("UTC").tz_convert(tz) if tz else ts
    if code == _INDEX:
        return _index_from(*value)
    if code == _SERIES:
        name, index, values = value
        return pd.Series(values, index=_index_from(*index), name=name)
    if code == _FRAME:
        index, columns, data = value
        cols = _index_from(*columns)
        if len(cols) != len(data):
            raise DecodeError("DataFrame columns and data differ in length")
        return pd.DataFrame(dict(zip(range(len(cols)), data)), index=_index_from(*index)).set_axis(cols, axis=1)
    if code == _EXCEPTION:
        return _exception_from(*value)
    if code == _DATACLASS:
        name, fields = value
        return _lookup(DATACLASSES, name)(**fields)
    raise DecodeError(f"unknown extension type {code}")


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, default=_default, use_bin_type=True, strict_types=True)


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False, ext_hook=_ext_hook, use_list=True)


def encode(message: Any) -> bytes:
    """A live message (work item, result, exception) as msgpack bytes; EncodeError if it holds other types."""
    try:
        return _pack(message)
    except EncodeError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise EncodeError(f"cannot encode a live message: {exc}") from None


def decode(data: bytes) -> Any:
    """The message of `encode`; DecodeError for anything else (pickles included)."""
    try:
        return _unpack(data)
    except DecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - malformed input of any kind is one error
        raise DecodeError(f"not a live channel message: {type(exc).__name__}: {exc}") from None
