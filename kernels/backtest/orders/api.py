"""`from_signals`: the public entry of the orders engine (inputs, validation, dispatch).

Arguments have the names and meanings of vectorbt's `Portfolio.from_signals`; see
docs/backtest-semantics.md ("Orders engine") for the semantics and the options that
are fixed at vectorbt's defaults. Inputs may be pandas (time x symbol), NumPy or
CuPy arrays, or a `kernels.data.Panel` (close, and open/high/low unless given, are
taken from it). Every bad argument raises `OrdersInputError` naming it.
"""
from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kernels.backend import is_gpu_array, resolve_backend, to_numpy
from kernels.backtest.orders import enums
from kernels.data import Panel
from kernels.wrapping import ArrayWrapper


class OrdersInputError(ValueError):
    """An argument of `from_signals` (or of an orders sweep) is invalid; the message names it."""


@dataclass(frozen=True, eq=False)
class Prepared:
    """Validated inputs of one simulation, ready for either kernel (host or device
    arrays). Per-column parameters are (N,) arrays; groups are contiguous column
    ranges [group_start[g], group_end[g])."""

    close: Any
    open: Any
    high: Any
    low: Any
    entries: Any
    exits: Any
    short_entries: Any
    short_exits: Any
    ls_mode: bool
    direction: np.ndarray
    size: np.ndarray
    size_type: np.ndarray
    fees: np.ndarray
    fixed_fees: np.ndarray
    slippage: np.ndarray
    sl_stop: np.ndarray
    sl_trail: np.ndarray
    tp_stop: np.ndarray
    accumulate: np.ndarray
    init_cash: np.ndarray  # per simulation group (cash-sharing group, or column)
    group_start: np.ndarray
    group_end: np.ndarray
    group_labels: pd.Index | None  # labels of the output groups (None: per column)
    out_group_of_col: np.ndarray  # output group of each column (columns when ungrouped)
    cash_sharing: bool
    wrapper: ArrayWrapper
    columns: pd.Index
    backend: str


# ------------------------------------------------------------------ helpers
def _is_array_like(x: Any) -> bool:
    return isinstance(x, (pd.Series, pd.DataFrame, np.ndarray)) or is_gpu_array(x) or isinstance(x, (list, tuple))


def _values(x: Any) -> Any:
    if isinstance(x, (pd.Series, pd.DataFrame)):
        return x.to_numpy()
    if is_gpu_array(x):
        return x
    return np.asarray(x)


def _broadcast_2d(name: str, x: Any, shape: tuple[int, int], xp: Any, dtype: Any) -> Any:
    """x broadcast to (T, N): a scalar, (T,) or (T, 1) (one series for every column),
    (1, N) or (T, N). pandas objects are aligned by position."""
    t, n = shape
    a = _values(x)
    if is_gpu_array(a) and xp is np:
        raise OrdersInputError(f"{name} is a CuPy array but the simulation runs on the CPU")
    a = xp.asarray(a)
    if a.ndim == 1:  # a time series, as vectorbt's to_2d: one column
        a = a[:, None]
    if a.ndim > 2:
        raise OrdersInputError(f"{name} must be at most 2-D, got shape {tuple(a.shape)}")
    try:
        out = xp.broadcast_to(a, shape)
    except ValueError as exc:
        raise OrdersInputError(
            f"{name} of shape {tuple(a.shape)} does not broadcast to close's shape {shape}"
        ) from exc
    if dtype is bool:
        if out.dtype != np.bool_:
            if out.dtype.kind == "f" and bool(xp.isnan(out).any()):
                raise OrdersInputError(f"{name} must be boolean (it contains NaN)")
            out = out.astype(np.bool_)
    else:
        out = out.astype(dtype, copy=False)
    return out


def _per_column(name: str, x: Any, n: int, columns: pd.Index, dtype: Any = np.float64) -> np.ndarray:
    """A scalar, an (N,) / (1, N) sequence or a Series over the columns, as (N,)."""
    if isinstance(x, pd.DataFrame):
        if x.shape[0] != 1:
            raise OrdersInputError(f"{name} must be one value per column (time-varying values are not supported)")
        x = x.iloc[0]
    if isinstance(x, pd.Series):
        if x.index.equals(columns) or (len(x) == n and x.index.sort_values().equals(columns.sort_values())
                                       and x.index.is_unique):
            x = x.reindex(columns).to_numpy()  # one value per column, by label
        else:  # vectorbt broadcasts a Series along time: a time-varying value
            raise OrdersInputError(f"{name} as a Series must be indexed by the columns (one value per column); "
                                   f"time-varying values are not supported")
    a = to_numpy(x) if is_gpu_array(x) else np.asarray(x, dtype=object if isinstance(x, (list, tuple)) else None)
    if a.ndim == 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 0:
        a = np.full(n, a.item() if hasattr(a, "item") else a, dtype=object)
    if a.ndim == 2 and a.shape[0] > 1:
        raise OrdersInputError(f"{name} must be a scalar or one value per column ({n}), got shape {a.shape} "
                               f"(time-varying values are not supported)")
    if a.ndim != 1 or a.shape[0] != n:
        raise OrdersInputError(f"{name} must be a scalar or one value per column ({n}), got shape {a.shape}")
    try:
        return np.asarray(a.astype(dtype), dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise OrdersInputError(f"{name} must be numeric, got {x!r}") from exc


def _enum_per_column(name: str, x: Any, n: int, columns: pd.Index, mapping: dict[str, int]) -> np.ndarray:
    raw = x
    if isinstance(x, str) or not _is_array_like(x):
        raw = [x] * n
    vals = list(np.asarray(raw, dtype=object).reshape(-1)) if not isinstance(raw, pd.Series) else list(raw)
    if len(vals) != n:
        raise OrdersInputError(f"{name} must be one value or one per column ({n}), got {len(vals)}")
    out = np.empty(n, dtype=np.int64)
    for j, v in enumerate(vals):
        key = v.lower() if isinstance(v, str) else v
        if isinstance(key, str) and key in mapping:
            out[j] = mapping[key]
        elif isinstance(key, (bool, np.bool_)) and name == "accumulate":
            out[j] = enums.AccumulationMode.Both if key else enums.AccumulationMode.Disabled
        elif isinstance(key, numbers.Integral) and not isinstance(key, bool) and 0 <= int(key) < len(mapping):
            out[j] = int(key)
        else:
            raise OrdersInputError(f"{name} must be one of {list(mapping)}, got {v!r}")
    return out


def _prices(close: Any, open_: Any, high: Any, low: Any) -> tuple[Any, Any, Any, Any, ArrayWrapper, pd.Index]:
    if isinstance(close, Panel):
        panel = close
        wrapper = ArrayWrapper.from_labels(pd.Index(panel.index), pd.Index(panel.symbols))
        return (panel.close, panel.open if open_ is None else open_, panel.high if high is None else high,
                panel.low if low is None else low, wrapper, pd.Index(panel.symbols))
    if isinstance(close, pd.Series):
        wrapper = ArrayWrapper.from_input(close)
        return close.to_numpy()[:, None], open_, high, low, wrapper, pd.Index([close.name if close.name is not None
                                                                               else 0])
    if isinstance(close, pd.DataFrame):
        return close.to_numpy(), open_, high, low, ArrayWrapper.from_input(close), close.columns
    if is_gpu_array(close) or isinstance(close, np.ndarray) or isinstance(close, (list, tuple)):
        a = close if is_gpu_array(close) else np.asarray(close)
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2:
            raise OrdersInputError(f"close must be 1-D or 2-D (time x columns), got shape {a.shape}")
        return a, open_, high, low, ArrayWrapper("array"), pd.RangeIndex(a.shape[1])
    raise OrdersInputError(f"close must be a DataFrame, Series, NumPy/CuPy array or Panel, got {type(close).__name__}")


def _groups(group_by: Any, cash_sharing: bool, columns: pd.Index) -> tuple[np.ndarray, pd.Index | None]:
    """Output group of each column (contiguous groups required) and group labels."""
    n = len(columns)
    if isinstance(cash_sharing, (bool, np.bool_)) is False:
        raise OrdersInputError(f"cash_sharing must be True or False, got {cash_sharing!r}")
    if group_by is None or group_by is False:
        if cash_sharing:
            group_by = True
        else:
            return np.arange(n, dtype=np.int64), None
    if group_by is True:
        return np.zeros(n, dtype=np.int64), pd.Index(["group"])
    labels = list(to_numpy(group_by)) if is_gpu_array(group_by) else list(group_by) \
        if isinstance(group_by, (list, tuple, np.ndarray, pd.Index, pd.Series)) else None
    if labels is None:
        raise OrdersInputError(f"group_by must be None, True or one label per column, got {group_by!r}")
    if len(labels) != n:
        raise OrdersInputError(f"group_by must have one label per column ({n}), got {len(labels)}")
    uniq: list[Any] = []
    pos: dict[Any, int] = {}
    out = np.empty(n, dtype=np.int64)
    for j, lab in enumerate(labels):
        if lab not in pos:
            pos[lab] = len(uniq)
            uniq.append(lab)
        out[j] = pos[lab]
    if np.any(np.diff(out) < 0):
        raise OrdersInputError("group_by labels must keep each group's columns next to each other")
    return out, pd.Index(uniq, name="group")


def _check_range(name: str, a: np.ndarray, lo: float, hi: float | None = None, allow_nan: bool = False,
                 hi_open: bool = False, allow_inf: bool = False) -> None:
    bad = np.zeros(a.shape, dtype=bool)
    nan = np.isnan(a)
    if not allow_nan:
        bad |= nan
    if not allow_inf:
        bad |= np.isinf(a)
    with np.errstate(invalid="ignore"):
        bad |= ~nan & (a < lo)
        if hi is not None:
            bad |= ~nan & ((a >= hi) if hi_open else (a > hi))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        bound = f"[{lo}, {hi})" if hi_open else f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise OrdersInputError(f"{name} must be in {bound}{' or NaN' if allow_nan else ''}, got {a[j]!r} "
                               f"(column {j})")


def _stop(name: str, x: Any, n: int, columns: pd.Index) -> np.ndarray:
    if x is None:
        return np.full(n, np.nan)
    a = _per_column(name, x, n, columns)
    with np.errstate(invalid="ignore"):
        if np.any(a < 0):
            j = int(np.flatnonzero(a < 0)[0])
            raise OrdersInputError(f"{name} must be >= 0 (a fraction of the entry price), got {a[j]!r} (column {j})")
    if np.any(np.isinf(a)):
        raise OrdersInputError(f"{name} must be finite or NaN (no stop)")
    return a


# vectorbt `Portfolio.from_signals` options this engine fixes at vectorbt's defaults (docs/backtest-semantics.md,
# "Fixed at vectorbt's defaults"): accepted when given with the default value (a string, or vectorbt's enum
# int), refused naming the argument otherwise. Options that do not change any number are accepted as they are.
FIXED_OPTIONS: dict[str, tuple[Any, ...]] = {
    "price": (np.inf,), "val_price": (np.inf,), "min_size": (1e-8,), "max_size": (np.inf,),
    "size_granularity": (np.nan,), "reject_prob": (0.0,), "lock_cash": (False,), "allow_partial": (True,),
    "upon_long_conflict": ("ignore", 0), "upon_short_conflict": ("ignore", 0), "upon_dir_conflict": ("ignore", 0),
    "upon_opposite_entry": ("reversereduce", 4), "stop_entry_price": ("close", 3),
    "stop_exit_price": ("stoplimit", 0), "upon_stop_exit": ("close", 0), "upon_stop_update": ("override", 1),
    "call_seq": ("default", 0), "ffill_val_price": (True,), "update_value": (False,), "use_stops": (None, True),
}
NEUTRAL_OPTIONS = frozenset({"raise_reject", "log", "max_orders", "max_logs", "seed", "init_temp_records",
                             "attach_call_seq", "broadcast_kwargs", "wrapper_kwargs"})


def _is_default(value: Any, allowed: tuple[Any, ...]) -> bool:
    if value is None:
        return None in allowed
    if isinstance(value, str):
        return value.lower() in allowed
    try:
        a = np.asarray(to_numpy(value) if is_gpu_array(value) else value)
    except Exception:  # noqa: BLE001 - anything unreadable is not the default
        return False
    if a.dtype.kind not in "biuf" or a.size == 0:
        if a.dtype.kind in "OU" and a.size:
            return all(isinstance(v, str) and v.lower() in allowed for v in a.reshape(-1))
        return False
    for d in allowed:
        if isinstance(d, (bool, float, int)) and not isinstance(d, str):
            if isinstance(d, float) and np.isnan(d):
                if bool(np.all(np.isnan(a.astype(np.float64)))):
                    return True
            elif bool(np.all(a == d)):
                return True
    return False


def check_fixed_options(options: dict[str, Any]) -> None:
    """vectorbt options this engine does not vary: TypeError for an unknown name (as Python's), an
    `OrdersInputError` naming the option for a value other than vectorbt's default."""
    for name, value in options.items():
        if name in NEUTRAL_OPTIONS:
            continue
        if name not in FIXED_OPTIONS:
            raise TypeError(f"from_signals() got an unexpected keyword argument {name!r}")
        if not _is_default(value, FIXED_OPTIONS[name]):
            shown = ", ".join(repr(d) for d in FIXED_OPTIONS[name])
            given = repr(value) if np.ndim(value) == 0 else f"<{type(value).__name__} of shape {np.shape(value)}>"
            raise OrdersInputError(f"{name}={given} is not supported: this engine fixes {name} at vectorbt's "
                                   f"default ({shown})")


# ------------------------------------------------------------------ preparation
def _positive_finite(xp: Any, a: Any) -> bool:
    """Every non-NaN value of `a` in (0, inf): its NaN-ignoring min and max, two passes without
    temporaries (isinf / <= 0 masks cost more than the from_signals kernel on long inputs)."""
    if a.size == 0:
        return True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: no value to check
        lo, hi = float(xp.nanmin(a)), float(xp.nanmax(a))
    return np.isnan(lo) or (lo > 0 and hi < np.inf)


def prepare(close: Any, entries: Any = None, exits: Any = None, *, short_entries: Any = None, short_exits: Any = None,
            open: Any = None, high: Any = None, low: Any = None, size: Any = np.inf,  # noqa: A002
            size_type: Any = "amount", direction: Any = "longonly", init_cash: Any = 100.0, fees: Any = 0.0,
            fixed_fees: Any = 0.0, slippage: Any = 0.0, sl_stop: Any = None, sl_trail: Any = False,
            tp_stop: Any = None, cash_sharing: bool = False, group_by: Any = None, accumulate: Any = False,
            backend: str = "auto") -> Prepared:
    """Validate and broadcast `from_signals` arguments (see `from_signals`)."""
    c, o, h, lo, wrapper, columns = _prices(close, open, high, low)
    try:
        ran = resolve_backend(backend, c, *(a for a in (o, h, lo, entries, exits) if is_gpu_array(a)))
    except ValueError as exc:
        raise OrdersInputError(str(exc)) from exc
    if ran == "gpu":
        import cupy as xp  # noqa: PLC0415
    else:
        xp = np
        if is_gpu_array(c):
            raise OrdersInputError("close is a CuPy array but backend='cpu'")
    c = xp.asarray(c)
    if c.dtype.kind not in "fiu":
        raise OrdersInputError(f"close must be numeric, got dtype {c.dtype}")
    c = c.astype(np.float64, copy=False)
    if xp is np:
        c = np.require(c, requirements=["C", "W"])
    t, n = c.shape
    if t < 1 or n < 1:
        raise OrdersInputError(f"close must have at least one bar and one column, got shape {(t, n)}")
    if not _positive_finite(xp, c):
        raise OrdersInputError("close must be positive and finite where present (NaN = no data)")
    shape = (t, n)
    ohlc = []
    for name, arr in (("open", o), ("high", h), ("low", lo)):
        if arr is None:
            ohlc.append(None)
            continue
        a = _broadcast_2d(name, arr, shape, xp, np.float64)
        if not _positive_finite(xp, a):
            raise OrdersInputError(f"{name} must be positive and finite where present (NaN = no data)")
        # C-contiguous and writeable, as the NaN placeholder: one compiled kernel signature
        ohlc.append(np.require(a, requirements=["C", "W"]) if xp is np else xp.ascontiguousarray(a))
    if any(a is not None for a in ohlc):
        nan = xp.full(shape, np.nan)
        ohlc = [nan if a is None else a for a in ohlc]
    else:
        ohlc = [xp.full((1, 1), np.nan)] * 3

    ls_mode = short_entries is not None or short_exits is not None
    if entries is None:
        if not ls_mode:  # vectorbt then enters at every bar: too easy to ask for by mistake
            raise OrdersInputError("entries is required (a boolean array or DataFrame of entry signals)")
        entries = False  # short signals only, as vectorbt
    sig = {}
    for name, arr in (("entries", entries), ("exits", exits), ("short_entries", short_entries),
                      ("short_exits", short_exits)):
        if name.startswith("short") and not ls_mode:
            sig[name] = sig["entries"]  # not read in direction mode
            continue
        if arr is None:
            arr = False
        # one C-contiguous writeable layout: one compiled kernel signature, column reads in place
        a = _broadcast_2d(name, arr, shape, xp, bool)
        if xp is np:
            sig[name] = a if (a.flags.c_contiguous and a.flags.writeable) else np.array(a, order="C", copy=True)
        else:
            sig[name] = xp.ascontiguousarray(a)
    dirs = _enum_per_column("direction", direction, n, columns, enums.DIRECTIONS)
    stypes = _enum_per_column("size_type", size_type, n, columns, enums.SIZE_TYPES)
    acc = _enum_per_column("accumulate", accumulate, n, columns, enums.ACCUMULATION_MODES)
    sz = _per_column("size", size, n, columns)
    if np.any(np.isnan(sz)) or np.any(sz < 0):
        j = int(np.flatnonzero(np.isnan(sz) | (sz < 0))[0])
        raise OrdersInputError(f"size must be >= 0 (direction comes from the signals), got {sz[j]!r} (column {j})")
    pct = (stypes == enums.SizeType.Percent) | (stypes == enums.SizeType.TargetPercent)
    if np.any(pct & ~(sz <= 1)):
        j = int(np.flatnonzero(pct & ~(sz <= 1))[0])
        raise OrdersInputError(f"size must be in [0, 1] with size_type percent/targetpercent, got {sz[j]!r} "
                               f"(column {j})")
    fe = _per_column("fees", fees, n, columns)
    _check_range("fees", fe, 0.0, 1.0, hi_open=True)
    ff = _per_column("fixed_fees", fixed_fees, n, columns)
    _check_range("fixed_fees", ff, 0.0)
    sl = _per_column("slippage", slippage, n, columns)
    _check_range("slippage", sl, 0.0, 1.0, hi_open=True)
    sls = _stop("sl_stop", sl_stop, n, columns)
    tps = _stop("tp_stop", tp_stop, n, columns)
    trail = _per_column("sl_trail", sl_trail, n, columns, dtype=np.bool_)
    longs = ls_mode | (dirs != enums.Direction.ShortOnly)
    shorts = ls_mode | (dirs != enums.Direction.LongOnly)
    with np.errstate(invalid="ignore"):
        if np.any(longs & (sls >= 1)):
            j = int(np.flatnonzero(longs & (sls >= 1))[0])
            raise OrdersInputError(f"sl_stop must be < 1 for long positions (a stop at or below 0 never triggers), "
                                   f"got {sls[j]!r} (column {j})")
        if np.any(shorts & (tps >= 1)):
            j = int(np.flatnonzero(shorts & (tps >= 1))[0])
            raise OrdersInputError(f"tp_stop must be < 1 for short positions (a target at or below 0 is never "
                                   f"reached), got {tps[j]!r} (column {j})")

    out_group, labels = _groups(group_by, cash_sharing, columns)
    if cash_sharing:
        sim_group = out_group
    else:
        sim_group = np.arange(n, dtype=np.int64)
    n_sim = int(sim_group[-1]) + 1
    starts = np.searchsorted(sim_group, np.arange(n_sim), side="left").astype(np.int64)
    ends = np.searchsorted(sim_group, np.arange(n_sim), side="right").astype(np.int64)
    ic_raw = init_cash
    try:
        ic = to_numpy(ic_raw) if is_gpu_array(ic_raw) else np.asarray(ic_raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:  # e.g. vectorbt's init_cash="auto"
        raise OrdersInputError(f"init_cash must be a positive number or one per column/group, got {ic_raw!r}") \
            from exc
    if ic.ndim == 0:
        ic = np.full(n_sim, float(ic))
    elif ic.shape != (n_sim,):
        what = "cash-sharing group" if cash_sharing else "column"
        raise OrdersInputError(f"init_cash must be a scalar or one value per {what} ({n_sim}), got shape {ic.shape}")
    if not np.all(np.isfinite(ic)) or np.any(ic <= 0):
        raise OrdersInputError(f"init_cash must be finite and > 0, got {ic_raw!r}")
    return Prepared(
        close=xp.ascontiguousarray(c), open=ohlc[0], high=ohlc[1], low=ohlc[2],
        entries=sig["entries"], exits=sig["exits"], short_entries=sig["short_entries"],
        short_exits=sig["short_exits"], ls_mode=ls_mode, direction=dirs, size=sz, size_type=stypes,
        fees=fe, fixed_fees=ff, slippage=sl, sl_stop=sls, sl_trail=trail, tp_stop=tps, accumulate=acc,
        init_cash=ic.astype(np.float64), group_start=starts, group_end=ends, group_labels=labels,
        out_group_of_col=out_group, cash_sharing=bool(cash_sharing), wrapper=wrapper, columns=pd.Index(columns),
        backend=ran,
    )


def simulate(p: Prepared) -> tuple[np.ndarray, int]:
    """Run the kernel of p's backend; (order records (host, order_dt), error code)."""
    if p.backend == "gpu":
        from kernels.backtest.orders import gpu  # noqa: PLC0415

        return gpu.simulate(p)
    from kernels.backtest.orders import cpu  # noqa: PLC0415

    bits = cpu.signal_bits(p.entries, p.exits, p.short_entries, p.short_exits, p.ls_mode)
    caps = cpu.count_signal_bars_nb(bits, p.group_start, p.group_end)
    offsets = np.zeros(len(caps) + 1, dtype=np.int64)
    np.cumsum(2 * caps + 1, out=offsets[1:])
    total = int(offsets[-1])
    o_idx = np.empty(total, dtype=np.int64)
    o_col = np.empty(total, dtype=np.int64)
    o_size = np.empty(total)
    o_price = np.empty(total)
    o_fees = np.empty(total)
    o_side = np.empty(total, dtype=np.int64)
    o_reason = np.empty(total, dtype=np.int64)
    counts, errors = cpu.simulate_from_signals_nb(
        p.close, p.open, p.high, p.low, p.entries, p.exits, p.short_entries, p.short_exits, p.ls_mode, bits,
        p.direction, p.size, p.size_type, p.fees, p.fixed_fees, p.slippage, p.sl_stop, p.sl_trail, p.tp_stop,
        p.accumulate, p.group_start, p.group_end, p.init_cash, offsets,
        o_idx, o_col, o_size, o_price, o_fees, o_side, o_reason)
    recs = pack_records(offsets, counts, o_idx, o_col, o_size, o_price, o_fees, o_side, o_reason)
    return recs, int(errors.max()) if len(errors) else 0


def pack_records(offsets: np.ndarray, counts: np.ndarray, *cols: np.ndarray) -> np.ndarray:
    """Compact the per-group regions into one `order_dt` array (ids 0..n-1 in
    group, bar, column order: vectorbt's order)."""
    counts = np.asarray(counts, dtype=np.int64)
    n = int(counts.sum())
    starts = np.asarray(offsets[:-1], dtype=np.int64)
    take = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(n)
    recs = np.empty(n, dtype=enums.order_dt)
    recs["id"] = np.arange(n)
    for name, a in zip(("idx", "col", "size", "price", "fees", "side", "reason"), cols):
        recs[name] = a[take]
    return recs


def raise_kernel_error(code: int) -> None:
    from kernels.backtest.orders.cpu import ERR_CAPACITY, ERR_PERCENT_REVERSAL  # noqa: PLC0415

    if code == ERR_PERCENT_REVERSAL:
        raise OrdersInputError("size_type='percent' does not support position reversal using signals "
                               "(as in vectorbt); use accumulate or separate exit signals")
    if code == ERR_CAPACITY:
        raise RuntimeError("internal error: order records overflowed their capacity")


def from_signals(close: Any, entries: Any = None, exits: Any = None, *, short_entries: Any = None, short_exits: Any = None,
                 open: Any = None, high: Any = None, low: Any = None, size: Any = np.inf,  # noqa: A002
                 size_type: Any = "amount", direction: Any = "longonly", init_cash: Any = 100.0, fees: Any = 0.0,
                 fixed_fees: Any = 0.0, slippage: Any = 0.0, sl_stop: Any = None, sl_trail: Any = False,
                 tp_stop: Any = None, cash_sharing: bool = False, group_by: Any = None, accumulate: Any = False,
                 freq: Any = None, backend: str = "auto", **options: Any) -> "OrdersResult":
    """Simulate orders from entry/exit signals, as vectorbt's `Portfolio.from_signals`.

    Orders fill at the close of the signal's bar (price = close), stops are checked
    intrabar against open/high/low from the next bar on (a gap through the stop fills
    at the open), and every fill is an order record. Returns an `OrdersResult`
    (value, cash, returns, positions, orders, trades, stats()).

    vectorbt's other options (`price`, `lock_cash`, `upon_opposite_entry`, ...; `FIXED_OPTIONS`) are
    accepted with vectorbt's default value only; any other value raises `OrdersInputError` naming it.
    """
    if "use_stops" in options and options["use_stops"] is False:  # vectorbt then ignores the stops
        options.pop("use_stops")
        sl_stop = tp_stop = None
    check_fixed_options(options)
    from kernels.backtest.orders.result import OrdersResult  # noqa: PLC0415

    p = prepare(close, entries, exits, short_entries=short_entries, short_exits=short_exits, open=open, high=high,
                low=low, size=size, size_type=size_type, direction=direction, init_cash=init_cash, fees=fees,
                fixed_fees=fixed_fees, slippage=slippage, sl_stop=sl_stop, sl_trail=sl_trail, tp_stop=tp_stop,
                cash_sharing=cash_sharing, group_by=group_by, accumulate=accumulate, backend=backend)
    if freq is not None:
        try:
            freq = pd.Timedelta(pd.tseries.frequencies.to_offset(freq)) if isinstance(freq, str) else pd.Timedelta(freq)
        except (ValueError, TypeError) as exc:
            raise OrdersInputError(f"freq must be a pandas frequency or Timedelta, got {freq!r}") from exc
    records, err = simulate(p)
    raise_kernel_error(err)
    return OrdersResult.build(p, records, freq)


__all__ = ["OrdersInputError", "Prepared", "from_signals", "prepare", "simulate", "pack_records"]
