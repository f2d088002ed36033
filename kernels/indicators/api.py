"""Public indicator API: validate inputs, then dispatch on the array kind.

NumPy in -> CPU backend (`cpu.py`, Numba, parallel over columns); CuPy in -> GPU
backend (`gpu.py`, CUDA RawModule, one thread per column). The output has the same
kind and shape as the inputs: (T,) or (T, N), time first. pandas in -> pandas out
(`kernels.wrapping.ArrayWrapper`): a Series or DataFrame with the input's index and
columns (the first pandas input's; pandas inputs must agree). Multi-output
indicators return a named tuple of their outputs (TA-Lib's names: `macd(x).macdsignal`),
which unpacks like the plain tuple it used to be.

Semantics (TA-Lib is the reference, see DESIGN.md "Indicators"):
- Results equal TA-Lib's (to rounding; the kernels perform TA-Lib's operations in
  TA-Lib's order) and are NaN exactly where TA-Lib's are.
- A column whose data starts late (leading NaN) starts its warm-up at its first
  bar where every input is non-NaN: the result equals TA-Lib run on that tail,
  padded with NaN.
- Interior NaN follow `nan_policy` (`kernels/indicators/gaps.py`, docs/backtest-
  semantics.md "Interior gaps"): "skip" (default) runs the windows over the last n
  valid values (TA-Lib on each column's valid values, NaN at the missing bars; a gap
  longer than `max_gap` bars restarts the warm-up); "propagate" is TA-Lib's own
  arithmetic, bit for bit.
- dtypes: float64 in -> float64 out. float32 in -> float32 out; the CPU backend
  computes in float64 and rounds the result, the GPU backend reads and writes float32
  and keeps its running state in float64. Integer inputs are converted to float64.
- Validation (ValueError naming the argument): inputs must be 1-D or 2-D with equal
  shapes, all NumPy or all CuPy; periods are integers >= TA-Lib's minimum; a period
  longer than the data (more than T bars) raises rather than returning all-NaN.
  A late-starting column whose tail is shorter than the warm-up is all NaN (that
  depends on the data, not on the call, so it does not raise).
"""
from __future__ import annotations

import collections
import functools
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, Union

import numpy as np
import pandas as pd

from kernels.backend import get_array_module, is_gpu_array
from kernels.indicators import gaps
from kernels.wrapping import ArrayWrapper, as_array

Array = Any  # numpy.ndarray or cupy.ndarray


# ---------------------------------------------------------------------- validation
class _Prepared:
    """Validated inputs as C-contiguous 2-D arrays, plus how to shape the outputs."""

    __slots__ = ("arrays", "backend", "ndim", "out_dtype", "n_bars")

    def __init__(self, arrays: list, backend: str, ndim: int, out_dtype: Any, n_bars: int) -> None:
        self.arrays = arrays
        self.backend = backend
        self.ndim = ndim
        self.out_dtype = out_dtype
        self.n_bars = n_bars

    def finish(self, out: Array) -> Array:
        """Cast to the output dtype and restore the caller's ndim."""
        if out.dtype != self.out_dtype:
            out = out.astype(self.out_dtype)
        return out[:, 0] if self.ndim == 1 else out


def _prepare(func: str, **inputs: Any) -> _Prepared:
    """Check ndim, shapes, kinds and dtypes of the named inputs; return 2-D arrays."""
    on_gpu = [is_gpu_array(a) for a in inputs.values()]
    if any(on_gpu) and not all(on_gpu):
        names = [n for n, g in zip(inputs, on_gpu) if not g]
        raise ValueError(f"{func}: inputs mix CuPy and NumPy arrays ({', '.join(names)} not on the GPU)")
    xp = get_array_module(*inputs.values())
    backend = "gpu" if any(on_gpu) else "cpu"
    shape = None
    first = None
    arrays = []
    dtypes = []
    for name, a in inputs.items():
        if not hasattr(a, "ndim"):
            a = np.asarray(a)
        if a.ndim not in (1, 2):
            raise ValueError(f"{func}: {name} must be 1-D (T,) or 2-D (T, N), got shape {tuple(a.shape)}")
        if shape is None:
            shape, first = tuple(a.shape), name
        elif tuple(a.shape) != shape:
            raise ValueError(f"{func}: {name} has shape {tuple(a.shape)} but {first} has shape {shape}")
        kind = np.dtype(a.dtype).kind
        if kind not in "fiub":
            raise ValueError(f"{func}: {name} must be a real numeric array, got dtype {a.dtype}")
        dtypes.append(np.float32 if a.dtype == np.float32 else np.float64)
        arrays.append(a)
    assert shape is not None
    if shape[0] == 0:
        raise ValueError(f"{func}: {first} has no bars (shape {shape})")
    out_dtype = np.dtype(np.float32) if all(d is np.float32 for d in dtypes) else np.dtype(np.float64)
    # CPU kernels run in float64; GPU kernels are templated on float/double.
    work = np.float64 if backend == "cpu" else out_dtype
    prepared = []
    for a in arrays:
        a2 = a.reshape(-1, 1) if a.ndim == 1 else a
        prepared.append(xp.ascontiguousarray(a2, dtype=work))
    return _Prepared(prepared, backend, len(shape), out_dtype, shape[0])


def _period(func: str, name: str, value: Any, minimum: int, n_bars: int) -> int:
    """An integer period >= minimum and not longer than the data."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{func}: {name} must be an integer >= {minimum}, got {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{func}: {name} must be >= {minimum}, got {value}")
    if value > n_bars:
        raise ValueError(f"{func}: {name}={value} is longer than the data ({n_bars} bars)")
    return value


def _real(func: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"{func}: {name} must be a finite number, got {value!r}")
    return float(value)


# -------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Param:
    """One parameter: an integer period with a minimum, or a finite real number."""

    name: str
    default: Any
    kind: str = "period"  # "period" | "real"
    minimum: int = 1


@dataclass(frozen=True)
class Indicator:
    """An entry of INDICATORS: how to call one indicator and what it returns.

    `inputs` are the function's array arguments and `fields` the panel fields they
    are taken from by `compute` (single-series indicators read "close" unless a
    spec names another "input"); `outputs` name the returned arrays (TA-Lib's names).
    """

    name: str
    kernel: str
    inputs: tuple[str, ...]
    fields: tuple[str, ...]
    outputs: tuple[str, ...]
    params: tuple[Param, ...]

    @property
    def func(self) -> Callable[..., Any]:
        return globals()[self.name]

    def check(self, n_bars: int, given: Mapping[str, Any]) -> tuple:
        """Validated kernel parameters (signature order) from the given keyword values."""
        names = [q.name for q in self.params]
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise ValueError(f"{self.name}: unknown parameter(s) {unknown}; parameters are {names}")
        values = []
        for q in self.params:
            v = given.get(q.name, q.default)
            if q.kind == "real":
                values.append(_real(self.name, q.name, v))
            else:
                values.append(_period(self.name, q.name, v, q.minimum, n_bars))
        return tuple(values)

    @property
    def result_type(self) -> type:
        """The named tuple of a multi-output indicator's results (fields `outputs`)."""
        return _result_type(self.name, self.outputs)

    def __call__(self, *arrays: Array, nan_policy: str = "skip", max_gap: int | None = None, **params: Any) -> Any:
        if len(arrays) != len(self.inputs):
            raise ValueError(f"{self.name}: expected {len(self.inputs)} input array(s) {self.inputs}, got {len(arrays)}")
        wrapper = _wrapper_of(self.name, arrays)
        p = _prepare(self.name, **dict(zip(self.inputs, (as_array(a) for a in arrays))))
        kp = self.check(p.n_bars, params)
        policy, gap = gaps.check_policy(self.name, nan_policy, max_gap)
        outs = [p.finish(o) for o in _run_policy(p, policy, gap, lambda arrs: _run(p, self.kernel, kp, arrs))]
        if len(outs) == 1:
            return wrapper.wrap(outs[0])
        return self.result_type(*(wrapper.wrap(o, name=n) for o, n in zip(outs, self.outputs)))


@functools.lru_cache(maxsize=None)
def _result_type(name: str, outputs: tuple[str, ...]) -> type:
    return collections.namedtuple(f"{name.upper()}Result", outputs)


def _wrapper_of(func: str, arrays: Sequence[Any]) -> ArrayWrapper:
    """How to give the outputs back: the labels of the first pandas input (all pandas inputs agree)."""
    wrappers = [ArrayWrapper.from_input(a) for a in arrays]
    pandas = [w for w in wrappers if w.is_pandas]
    if not pandas:
        return wrappers[0]
    first = pandas[0]
    for w in pandas[1:]:
        if w.kind != first.kind or not w.index.equals(first.index) or (
                w.columns is not None and not w.columns.equals(first.columns)):
            raise ValueError(f"{func}: pandas inputs must share one index and the same columns")
    return first


def _run_policy(p: "_Prepared", policy: str, max_gap: int, kernel: Callable[[list], list]) -> list:
    """Run `kernel` (prepared 2-D inputs -> 2-D outputs) under a NaN policy (see `gaps`)."""
    return gaps.run_with_policy(get_array_module(*p.arrays), p.arrays, policy, max_gap, kernel)


def _tp(default: int, minimum: int = 1) -> tuple[Param, ...]:
    return (Param("timeperiod", default, "period", minimum),)


_C = ("close",)
_HLC = ("high", "low", "close")
INDICATORS: dict[str, Indicator] = {
    ind.name: ind
    for ind in (
        Indicator("sma", "sma", ("x",), _C, ("sma",), _tp(30)),
        Indicator("ema", "ema", ("x",), _C, ("ema",), _tp(30)),
        Indicator("wma", "wma", ("x",), _C, ("wma",), _tp(30)),
        Indicator("rsi", "rsi", ("close",), _C, ("rsi",), _tp(14, 2)),
        Indicator("roc", "roc", ("close",), _C, ("roc",), _tp(10)),
        Indicator(
            "macd", "macd", ("close",), _C, ("macd", "macdsignal", "macdhist"),
            (Param("fastperiod", 12, "period", 2), Param("slowperiod", 26, "period", 2), Param("signalperiod", 9)),
        ),
        Indicator(
            "stoch", "stoch", _HLC, _HLC, ("slowk", "slowd"),
            (Param("fastk_period", 5), Param("slowk_period", 3), Param("slowd_period", 3)),
        ),
        Indicator(
            "bbands", "bbands", ("close",), _C, ("upperband", "middleband", "lowerband"),
            (Param("timeperiod", 5, "period", 2), Param("nbdevup", 2.0, "real"), Param("nbdevdn", 2.0, "real")),
        ),
        Indicator("atr", "atr", _HLC, _HLC, ("atr",), _tp(14)),
        Indicator("obv", "obv", ("close", "volume"), ("close", "volume"), ("obv",), ()),
        Indicator(
            "rolling_std", "stddev", ("x",), _C, ("rolling_std",),
            (Param("timeperiod", 5, "period", 2), Param("nbdev", 1.0, "real")),
        ),
        Indicator("zscore", "zscore", ("x",), _C, ("zscore",), _tp(20, 2)),
        Indicator("vwap", "vwap", ("high", "low", "close", "volume"), ("high", "low", "close", "volume"), ("vwap",), _tp(14)),
    )
}


INDICATOR_OUTPUTS: dict[str, tuple[str, ...]] = {ind.kernel: ind.outputs for ind in INDICATORS.values()}


# ------------------------------------------------------------------ moving averages
def sma(x: Array, timeperiod: int = 30, nan_policy: str = "skip", max_gap: int | None = None) -> Any:
    """Simple moving average (TA-Lib SMA)."""
    return INDICATORS["sma"](x, timeperiod=timeperiod, nan_policy=nan_policy, max_gap=max_gap)


def ema(x: Array, timeperiod: int = 30, nan_policy: str = "skip", max_gap: int | None = None) -> Any:
    """Exponential moving average, k = 2/(timeperiod+1), seeded with the SMA of the first period (TA-Lib EMA)."""
    return INDICATORS["ema"](x, timeperiod=timeperiod, nan_policy=nan_policy, max_gap=max_gap)


def wma(x: Array, timeperiod: int = 30, nan_policy: str = "skip", max_gap: int | None = None) -> Any:
    """Linearly weighted moving average, weights 1..timeperiod (TA-Lib WMA)."""
    return INDICATORS["wma"](x, timeperiod=timeperiod, nan_policy=nan_policy, max_gap=max_gap)


def rolling_std(x: Array, timeperiod: int = 5, nbdev: float = 1.0, nan_policy: str = "skip",
                max_gap: int | None = None) -> Any:
    """Rolling population standard deviation times nbdev (TA-Lib STDDEV)."""
    return INDICATORS["rolling_std"](x, timeperiod=timeperiod, nbdev=nbdev, nan_policy=nan_policy,
                                     max_gap=max_gap)


def zscore(x: Array, timeperiod: int = 20, nan_policy: str = "skip", max_gap: int | None = None) -> Any:
    """(x - SMA) / STDDEV over timeperiod bars; NaN in the warm-up and where the std is 0."""
    return INDICATORS["zscore"](x, timeperiod=timeperiod, nan_policy=nan_policy, max_gap=max_gap)


# --------------------------------------------------------------------- oscillators
def rsi(close: Array, timeperiod: int = 14, nan_policy: str = "skip", max_gap: int | None = None) -> Any:
    """Wilder's relative strength index (TA-Lib RSI)."""
    return INDICATORS["rsi"](close, timeperiod=timeperiod, nan_policy=nan_policy, max_gap=max_gap)


def roc(close: Array, timeperiod: int = 10, nan_policy: str = "skip", max_gap: int | None = None) -> Any:
    """Rate of change in percent: (close / close[t - timeperiod] - 1) * 100 (TA-Lib ROC)."""
    return INDICATORS["roc"](close, timeperiod=timeperiod, nan_policy=nan_policy, max_gap=max_gap)


def macd(
    close: Array, fastperiod: int = 12, slowperiod: int = 26, signalperiod: int = 9,
    nan_policy: str = "skip", max_gap: int | None = None,
) -> Any:
    """MACD line, signal line and histogram (TA-Lib MACD, fast EMA seed aligned to the slow one).

    A named tuple (macd, macdsignal, macdhist)."""
    return INDICATORS["macd"](close, fastperiod=fastperiod, slowperiod=slowperiod, signalperiod=signalperiod,
                              nan_policy=nan_policy, max_gap=max_gap)


def stoch(
    high: Array,
    low: Array,
    close: Array,
    fastk_period: int = 5,
    slowk_period: int = 3,
    slowd_period: int = 3,
    nan_policy: str = "skip",
    max_gap: int | None = None,
) -> Any:
    """Slow stochastic, a named tuple (slowk, slowd), with SMA smoothing (TA-Lib STOCH defaults)."""
    return INDICATORS["stoch"](
        high, low, close, fastk_period=fastk_period, slowk_period=slowk_period, slowd_period=slowd_period,
        nan_policy=nan_policy, max_gap=max_gap,
    )


# ---------------------------------------------------------------------- volatility
def bbands(
    close: Array, timeperiod: int = 5, nbdevup: float = 2.0, nbdevdn: float = 2.0,
    nan_policy: str = "skip", max_gap: int | None = None,
) -> Any:
    """Bollinger bands, a named tuple (upperband, middleband, lowerband): SMA middle, population std
    (TA-Lib BBANDS, matype=SMA)."""
    return INDICATORS["bbands"](close, timeperiod=timeperiod, nbdevup=nbdevup, nbdevdn=nbdevdn,
                                nan_policy=nan_policy, max_gap=max_gap)


def atr(high: Array, low: Array, close: Array, timeperiod: int = 14, nan_policy: str = "skip",
        max_gap: int | None = None) -> Any:
    """Wilder's average true range (TA-Lib ATR)."""
    return INDICATORS["atr"](high, low, close, timeperiod=timeperiod, nan_policy=nan_policy, max_gap=max_gap)


# -------------------------------------------------------------------------- volume
def obv(close: Array, volume: Array, nan_policy: str = "skip", max_gap: int | None = None) -> Any:
    """On-balance volume (TA-Lib OBV)."""
    return INDICATORS["obv"](close, volume, nan_policy=nan_policy, max_gap=max_gap)


def vwap(high: Array, low: Array, close: Array, volume: Array, timeperiod: int = 14, nan_policy: str = "skip",
         max_gap: int | None = None) -> Any:
    """Rolling VWAP: sum(typical * volume) / sum(volume), typical = (h + l + c) / 3.

    NaN in the warm-up (first timeperiod - 1 bars), while a bar with a NaN input is
    in the window, and where the window's volume is 0.
    """
    return INDICATORS["vwap"](high, low, close, volume, timeperiod=timeperiod, nan_policy=nan_policy,
                              max_gap=max_gap)


# ------------------------------------------------------------------ fused compute
Spec = Union[str, tuple, Mapping[str, Any]]


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _normalise(spec: Spec) -> tuple[str, Indicator, dict, tuple[str, ...]]:
    """(label, indicator, params, panel fields) for one spec."""
    label = None
    field = None
    if isinstance(spec, str):
        name, params = spec, {}
    elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        name, params = spec[0], dict(spec[1] or {})
    elif isinstance(spec, Mapping):
        extra = sorted(set(spec) - {"name", "params", "input", "label"})
        if "name" not in spec or extra:
            raise ValueError(f"compute: a spec mapping has keys name, params, input, label; got {sorted(spec)}")
        name, params = spec["name"], dict(spec.get("params") or {})
        field, label = spec.get("input"), spec.get("label")
    else:
        raise ValueError(f"compute: a spec is a name, (name, params) or a mapping, got {spec!r}")
    if name not in INDICATORS:
        raise ValueError(f"compute: unknown indicator {name!r}; known: {sorted(INDICATORS)}")
    ind = INDICATORS[name]
    fields = ind.fields
    if field is not None:
        if len(ind.inputs) != 1:
            raise ValueError(f"compute: {name} reads {ind.fields}; 'input' applies to single-series indicators")
        fields = (str(field),)
    if label is None:
        given = [_fmt(params[q.name]) for q in ind.params if q.name in params]
        label = "_".join([name, *given] + ([str(field)] if field is not None else []))
    return str(label), ind, params, fields


def compute(data: Any, specs: Sequence[Spec], nan_policy: str = "skip", max_gap: int | None = None) -> dict[str, Array]:
    """Compute a named list of indicators over a panel in one call.

    `data` is a `kernels.data.Panel`, a mapping of field name -> (T,) / (T, N)
    array (NumPy or CuPy, or pandas Series / DataFrames: the outputs are then
    pandas with the same labels), or a DataFrame with one column per field (one
    asset: the outputs are Series). Each spec is a name ("rsi"), a (name, params)
    pair (("sma", {"timeperiod": 20})) or a mapping {"name", "params", "input",
    "label"}. Keys of the result: the label (default: name and the given parameter
    values, "sma_20"), with ".<output>" appended for multi-output indicators
    ("macd.macdsignal"). On the GPU every spec is computed by one fused kernel that
    reads each input once (one per group of inputs when `nan_policy="skip"` meets
    interior gaps); on the CPU the kernels run one after the other. `nan_policy` and
    `max_gap` as for the single indicators.
    """
    policy, gap = gaps.check_policy("compute", nan_policy, max_gap)
    from kernels.indicators.talib import features as _talib  # noqa: PLC0415 - TA-Lib names (uppercase)

    if any(_talib.spec_name(s) for s in specs):
        ours = compute(data, [s for s in specs if not _talib.spec_name(s)], nan_policy, max_gap)
        theirs = _talib.compute(data, [s for s in specs if _talib.spec_name(s)])
        dup = sorted(set(ours) & set(theirs))
        if dup:
            raise ValueError(f"compute: duplicate labels {dup}; give the specs distinct 'label's")
        return {**ours, **theirs}
    items = [_normalise(s) for s in specs]
    labels = [lab for lab, *_ in items]
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise ValueError(f"compute: duplicate labels {dup}; give the specs distinct 'label's")
    if not items:
        return {}
    used: list[str] = []
    for _, ind, _, fields in items:
        used += [f for f in fields if f not in used]
        if hasattr(data, "require"):  # a Panel: close-only data has no high/low/volume
            data.require(*fields, who=f"indicator {ind.name!r}")
    arrays = {}
    for f in used:
        try:
            arrays[f] = data[f] if isinstance(data, (Mapping, pd.DataFrame)) else getattr(data, f)
        except (KeyError, AttributeError):
            raise ValueError(f"compute: the data has no field {f!r}") from None
    wrapper = _wrapper_of("compute", list(arrays.values()))
    p = _prepare("compute", **{f: as_array(a) for f, a in arrays.items()})
    checked = [(lab, ind, ind.check(p.n_bars, params), fields) for lab, ind, params, fields in items]
    jobs = [(ind.kernel, tuple(used.index(f) for f in fields), kp) for _, ind, kp, fields in checked]
    if policy == "skip":
        outs = _compute_skip(p, jobs, gap)
    else:
        outs = _run_many(p.backend, p.arrays, jobs)
    result: dict[str, Array] = {}
    i = 0
    for lab, ind, _, _ in checked:
        for name in ind.outputs:
            key = lab if len(ind.outputs) == 1 else f"{lab}.{name}"
            result[key] = wrapper.wrap(p.finish(outs[i]), name=key)
            i += 1
    return result


def _run_many(backend: str, arrays: list, jobs: list) -> list:
    """Several kernels (kernel, input slots, params) over the same 2-D inputs; their outputs in order."""
    if backend == "gpu":
        from kernels.indicators import gpu  # noqa: PLC0415 - imports CuPy lazily

        return gpu.run_fused(arrays, jobs)
    from kernels.indicators import cpu  # noqa: PLC0415

    return cpu.run_many(arrays, jobs)


def _compute_skip(p: _Prepared, jobs: list, max_gap: int) -> list:
    """`compute`'s kernels under nan_policy="skip": the specs reading the same inputs share
    one packing (their valid bars are those where all of those inputs are non-NaN)."""
    xp = get_array_module(*p.arrays)
    groups: dict[tuple, list[int]] = {}
    for j, (_, slots, _) in enumerate(jobs):
        groups.setdefault(tuple(slots), []).append(j)
    packing = {}
    for slots in groups:
        inputs = [p.arrays[k] for k in slots]
        if gaps.inputs_have_gaps(xp, inputs):
            packing[slots] = gaps.valid_mask(xp, inputs)
    if not packing:
        return _run_many(p.backend, p.arrays, jobs)
    n_out = [len(INDICATOR_OUTPUTS[kernel]) for kernel, _, _ in jobs]
    results: list = [None] * len(jobs)
    plain = [j for slots, js in groups.items() if slots not in packing for j in js]
    if plain:
        for j, outs in zip(plain, _split(_run_many(p.backend, p.arrays, [jobs[j] for j in plain]),
                                         [n_out[j] for j in plain])):
            results[j] = outs
    for slots, valid in packing.items():
        js = groups[slots]
        seg = gaps.plan(xp, valid, max_gap)
        packed = gaps.gather(xp, [p.arrays[k] for k in slots], valid, seg)
        local = [(jobs[j][0], tuple(range(len(slots))), jobs[j][2]) for j in js]
        outs = [gaps.scatter(xp, o, valid, seg) for o in _run_many(p.backend, packed, local)]
        for j, o in zip(js, _split(outs, [n_out[j] for j in js])):
            results[j] = o
    return [o for outs in results for o in outs]


def _split(outs: list, sizes: list[int]) -> list[list]:
    parts, i = [], 0
    for n in sizes:
        parts.append(outs[i:i + n])
        i += n
    return parts


# ------------------------------------------------------------------------ dispatch
def _run(p: _Prepared, kernel: str, params: tuple, arrays: list | None = None) -> list:
    """Run one indicator kernel on prepared 2-D inputs (or `arrays`, packed ones); a list of 2-D outputs."""
    arrays = p.arrays if arrays is None else arrays
    if p.backend == "gpu":
        from kernels.indicators import gpu  # noqa: PLC0415 - imports CuPy lazily

        return gpu.run(kernel, arrays, params)
    from kernels.indicators import cpu  # noqa: PLC0415

    return cpu.run(kernel, arrays, params)
