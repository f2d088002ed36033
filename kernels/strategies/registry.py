"""The strategy registry: names, parameter specifications and their validation.

A strategy is a pure function `fn(panel, **params) -> positions (T, N)` in
[-1, 1]. Registering it with a `StrategySpec` lets every entry point (the `run`
API, sweeps, the CLI, the HTTP service) validate client parameters before any
computation: unknown names, wrong types and out-of-range values are rejected with
an error that names the parameter.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

StrategyFn = Callable[..., Any]


class StrategyError(ValueError):
    """Unknown strategy, bad parameters, or invalid positions from a strategy."""


class UnknownStrategy(StrategyError, KeyError):
    """No strategy is registered under this name."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: type, default, bounds (inclusive) or choices.

    `window=True` marks a look-back length in bars: it may not exceed the number
    of bars of the data it runs on.
    """

    name: str
    type: str
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    window: bool = False
    doc: str = ""

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ValueError(f"parameter {self.name!r}: type must be one of {tuple(_TYPES)}, got {self.type!r}")
        if self.default is not None:
            object.__setattr__(self, "default", self.coerce(self.default))

    def coerce(self, value: Any) -> Any:
        """The value as this parameter's Python type, or StrategyError naming it."""
        name, kind = self.name, self.type
        if kind == "bool":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            raise StrategyError(f"parameter {name!r} must be a bool, got {value!r}")
        if kind == "int":
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
                raise StrategyError(f"parameter {name!r} must be an int, got {value!r}")
            value = int(value)
        elif kind == "float":
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
                raise StrategyError(f"parameter {name!r} must be a number, got {value!r}")
            value = float(value)
            if not math.isfinite(value):
                raise StrategyError(f"parameter {name!r} must be finite, got {value!r}")
        elif kind == "str":
            if not isinstance(value, str):
                raise StrategyError(f"parameter {name!r} must be a string, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise StrategyError(f"parameter {name!r} must be one of {list(self.choices)}, got {value!r}")
        if self.low is not None and value < self.low:
            raise StrategyError(f"parameter {name!r} must be >= {self.low}, got {value!r}")
        if self.high is not None and value > self.high:
            raise StrategyError(f"parameter {name!r} must be <= {self.high}, got {value!r}")
        return value


@dataclass(frozen=True)
class StrategySpec:
    """A registered strategy: its function, parameters and sweepability.

    `check(params) -> str | None` states constraints between parameters (such as
    fast < slow) and returns the error message, naming the parameters, or None;
    `valid_rows(columns) -> bool array`, where given, is the same constraint over
    columns of parameter values (a sweep grid's 10^5 combinations checked at once).
    `sweepable` says whether the fused sweep kernels implement it; `sweep_fixed`
    lists parameter values the sweep kernels require (e.g. momentum's top_k = 0).
    `per_asset` (a bool, or a function of the parameters) says whether each
    asset's positions depend on its own data only (not cross-sectional).
    """

    name: str
    fn: StrategyFn
    params: tuple[ParamSpec, ...] | None = ()  # None: an unregistered callable, parameters unchecked
    sweepable: bool = False
    check: Callable[[dict[str, Any]], str | None] | None = None
    valid_rows: Callable[[Mapping[str, Any]], Any] | None = None
    sweep_fixed: Mapping[str, Any] = field(default_factory=dict)
    per_asset: bool | Callable[[dict[str, Any]], bool] = False
    doc: str = ""

    def is_per_asset(self, params: Mapping[str, Any]) -> bool:
        """True when each asset's positions depend on that asset's data only, so
        that runs over asset chunks merge into the run over all of them."""
        return bool(self.per_asset(dict(params)) if callable(self.per_asset) else self.per_asset)

    @property
    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params or ()}

    def param(self, name: str) -> ParamSpec:
        for p in self.params or ():
            if p.name == name:
                return p
        raise StrategyError(f"strategy {self.name!r} has no parameter {name!r}; parameters: {self.param_names}")

    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.params or ()]

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly description (for the service's listing endpoints)."""
        return {
            "name": self.name,
            "doc": self.doc,
            "sweepable": self.sweepable,
            "per_asset": self.per_asset if isinstance(self.per_asset, bool) else None,
            "params": [
                {
                    "name": p.name,
                    "type": p.type,
                    "default": p.default,
                    "low": p.low,
                    "high": p.high,
                    "choices": list(p.choices) if p.choices is not None else None,
                    "window": p.window,
                    "doc": p.doc,
                }
                for p in self.params or ()
            ],
        }

    def __call__(self, panel: Any, **params: Any) -> Any:
        return self.fn(panel, **params)


_REGISTRY: dict[str, StrategySpec] = {}


def register(
    name: str | None = None,
    params: Sequence[ParamSpec] = (),
    *,
    sweepable: bool = False,
    check: Callable[[dict[str, Any]], str | None] | None = None,
    valid_rows: Callable[[Mapping[str, Any]], Any] | None = None,
    sweep_fixed: Mapping[str, Any] | None = None,
    per_asset: bool | Callable[[dict[str, Any]], bool] = False,
    replace: bool = False,
) -> Callable[[StrategyFn], StrategyFn]:
    """Decorator: register `fn(panel, **params) -> positions` under `name`.

    Registering a taken name raises unless `replace=True`. The function itself is
    returned unchanged.
    """

    def deco(fn: StrategyFn) -> StrategyFn:
        spec = StrategySpec(
            name=name or fn.__name__,
            fn=fn,
            params=tuple(params),
            sweepable=sweepable,
            check=check,
            valid_rows=valid_rows,
            sweep_fixed=dict(sweep_fixed or {}),
            per_asset=per_asset,
            doc=(fn.__doc__ or "").strip().split("\n")[0],
        )
        register_spec(spec, replace=replace)
        return fn

    return deco


def register_spec(spec: StrategySpec, replace: bool = False) -> StrategySpec:
    """Register a ready-made spec (see `register`)."""
    if not spec.name or not isinstance(spec.name, str):
        raise StrategyError("a strategy needs a non-empty name")
    if spec.name in _REGISTRY and not replace:
        raise StrategyError(f"strategy {spec.name!r} is already registered (pass replace=True)")
    names = [p.name for p in spec.params]
    if len(set(names)) != len(names):
        raise StrategyError(f"strategy {spec.name!r} has duplicate parameter names: {names}")
    _REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a registered strategy (built-ins included; mainly for tests)."""
    _REGISTRY.pop(name, None)


def get_strategy(name: str) -> StrategySpec:
    """The spec registered under `name`, or UnknownStrategy listing the known ones."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise UnknownStrategy(f"unknown strategy {name!r}; known strategies: {sorted(_REGISTRY)}")
    return _REGISTRY[name]


def list_strategies() -> list[str]:
    """Registered strategy names, sorted."""
    return sorted(_REGISTRY)


def as_spec(strategy: str | StrategySpec | StrategyFn) -> StrategySpec:
    """A spec for a name, a spec, or a plain callable (an unregistered user strategy).

    A plain callable gets a spec with no declared parameters: its keyword
    arguments are passed through unchecked.
    """
    if isinstance(strategy, StrategySpec):
        return strategy
    if isinstance(strategy, str):
        return get_strategy(strategy)
    if callable(strategy):
        return StrategySpec(name=getattr(strategy, "__name__", "user_strategy"), fn=strategy, params=None)
    raise StrategyError(f"strategy must be a registered name or a callable, got {type(strategy).__name__}")


def validate_params(
    strategy: str | StrategySpec | StrategyFn,
    params: Mapping[str, Any] | None = None,
    n_bars: int | None = None,
) -> dict[str, Any]:
    """Check `params` against the strategy's spec and fill in the defaults.

    Raises StrategyError naming the parameter for unknown names, wrong types,
    out-of-range values, windows longer than `n_bars` (when given) and violated
    constraints between parameters. Unregistered callables accept any keyword
    parameters (returned as given).
    """
    spec = as_spec(strategy)
    params = dict(params or {})
    for key in params:
        if not isinstance(key, str):
            raise StrategyError(f"parameter names must be strings, got {key!r}")
    if spec.params is None:
        return params
    known = {p.name: p for p in spec.params}
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise StrategyError(
            f"unknown parameter(s) {unknown} for strategy {spec.name!r}; parameters: {list(known)}"
        )
    out: dict[str, Any] = {}
    for p in spec.params:
        if p.name in params:
            out[p.name] = p.coerce(params[p.name])
        elif p.default is None:
            raise StrategyError(f"parameter {p.name!r} of strategy {spec.name!r} is required")
        else:
            out[p.name] = p.default
        if p.window and n_bars is not None and out[p.name] > n_bars:
            raise StrategyError(
                f"parameter {p.name!r} = {out[p.name]} is longer than the data ({n_bars} bars)"
            )
    if spec.check is not None:
        problem = spec.check(out)
        if problem:
            raise StrategyError(f"strategy {spec.name!r}: {problem}")
    return out


def per_asset(strategy: str | StrategySpec | StrategyFn, params: Mapping[str, Any] | None = None) -> bool:
    """Whether the strategy (with these validated parameters) decides each asset on
    its own data, so that a backtest can be cut into asset chunks and merged."""
    spec = as_spec(strategy)
    return spec.params is not None and spec.is_per_asset(validate_params(spec, params))


def validate_positions(positions: Any, shape: tuple[int, int], name: str = "strategy") -> None:
    """Raise StrategyError unless `positions` is a (T, N) finite array within [-1, 1]."""
    shp = tuple(getattr(positions, "shape", ()))
    if getattr(positions, "ndim", None) != 2 or shp != tuple(shape):
        raise StrategyError(f"strategy {name!r} returned positions of shape {shp or None}, expected {tuple(shape)}")
    kind = getattr(getattr(positions, "dtype", None), "kind", None)
    if kind not in ("f", "i", "u", "b"):
        raise StrategyError(f"strategy {name!r} returned positions of dtype {getattr(positions, 'dtype', None)}, expected numbers")
    if positions.size == 0:
        return
    if kind == "f":
        finite = bool(_xp_of(positions).isfinite(positions).all())
        if not finite:
            raise StrategyError(f"strategy {name!r} returned non-finite positions (NaN or inf)")
    lo, hi = float(positions.min()), float(positions.max())
    if lo < -1.0 or hi > 1.0:
        raise StrategyError(f"strategy {name!r} returned positions outside [-1, 1] (min {lo}, max {hi})")


def _xp_of(a: Any) -> Any:
    from kernels.backend import get_array_module  # noqa: PLC0415

    return get_array_module(a)
