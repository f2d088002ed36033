"""Streaming (incremental) indicators: O(1) state per symbol, updated tick by tick.

A `StreamState` holds, for S symbols, the running state of EMA, RSI, MACD, ATR,
OBV, SMA and rolling std (TA-Lib 0.8's STDDEV) as flat arrays: (S,) per scalar
and (S, window) ring buffers for the rolling windows. Nothing else of the history
is kept.

Exactness: every step performs the batch kernel's operations (`cpu.py`) in the
same order on the same float64 values, so a stream seeded from bars 0..k-1 and
fed bars k..t one at a time gives the batch indicators' row t bit for bit (the
tests check equality). That includes the rolling std's re-anchoring rebuilds,
which only need the window (the ring buffer). Per indicator a symbol starts at
its first tick where the indicator's inputs are all non-NaN, as the batch
functions do for late-starting columns.

The math is written once with `xp` taken from the state's arrays (NumPy here; a
CuPy state runs the same code on the GPU, a fused kernel can replace it later).

Typical use::

    state = StreamState.create(n_symbols, StreamConfig())
    seed(state, {"high": h, "low": l, "close": c, "volume": v})   # (T, S) history
    values = update(state, symbols, high=h1, low=l1, close=c1, volume=v1)
    snap = snapshot(state); state2 = restore(snap)                # plain arrays
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, fields
from typing import Any, Mapping

import numpy as np

from kernels.backend import get_array_module
from kernels.indicators.cpu import VAR_FLAT, VAR_ZERO

Array = Any  # numpy.ndarray or cupy.ndarray

# outputs of `update` / `current`, in order
OUTPUTS = ("ema", "rsi", "macd", "macdsignal", "macdhist", "atr", "obv", "sma", "rolling_std")


@dataclass(frozen=True)
class StreamConfig:
    """Parameters of the streamed indicators (same meaning and minimums as the batch API)."""

    ema_period: int = 30
    rsi_period: int = 14
    macd_fast: int = 12
    macd_slow: int = 26
    macd_signal: int = 9
    atr_period: int = 14
    sma_period: int = 30
    std_period: int = 5
    std_nbdev: float = 1.0

    def __post_init__(self) -> None:
        minimums = {"rsi_period": 2, "macd_fast": 2, "macd_slow": 2, "std_period": 2}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "std_nbdev":
                if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(float(v)):
                    raise ValueError(f"StreamConfig: std_nbdev must be a finite number, got {v!r}")
                continue
            lo = minimums.get(f.name, 1)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or int(v) < lo:
                raise ValueError(f"StreamConfig: {f.name} must be an integer >= {lo}, got {v!r}")


# state arrays: name -> (kind, width) where width None means (S,), else a config field
_FLOAT = {
    # EMA
    "ema_sum": None, "ema": None,
    # RSI
    "rsi_prev": None, "rsi_gain": None, "rsi_loss": None,
    # MACD
    "macd_sum_slow": None, "macd_sum_fast": None, "macd_sum_sig": None,
    "macd_slow": None, "macd_fast": None, "macd_sig": None,
    # ATR
    "atr_prev_close": None, "atr_total": None, "atr": None,
    # OBV
    "obv": None, "obv_prev": None,
    # SMA
    "sma_total": None, "sma_buf": "sma_period",
    # rolling std (TA-Lib 0.8 VAR state)
    "std_shift": None, "std_total1": None, "std_total2": None, "std_peak": None, "std_buf": "std_period",
}
# bars since the symbol's first valid bar, per input group (-1: not started)
_INT = {"k_close": None, "k_hlc": None, "k_cv": None, "std_bars": None}


class StreamState:
    """Running indicator state of S symbols: flat (S,) and (S, window) arrays in `arrays`."""

    def __init__(self, config: StreamConfig, arrays: dict[str, Array]) -> None:
        self.config = config
        self.arrays = arrays

    @property
    def n_symbols(self) -> int:
        return int(self.arrays["k_close"].shape[0])

    @classmethod
    def create(cls, n_symbols: int, config: StreamConfig | None = None, xp: Any = np) -> "StreamState":
        """An empty state (no symbol started) for n_symbols symbols; xp is numpy or cupy."""
        if isinstance(n_symbols, bool) or not isinstance(n_symbols, numbers.Integral) or n_symbols < 1:
            raise ValueError(f"StreamState.create: n_symbols must be an integer >= 1, got {n_symbols!r}")
        config = config or StreamConfig()
        arrays: dict[str, Array] = {}
        for name, width in _FLOAT.items():
            shape = (int(n_symbols),) if width is None else (int(n_symbols), int(getattr(config, width)))
            arrays[name] = xp.zeros(shape, dtype=xp.float64)
        for name in _INT:
            arrays[name] = xp.full((int(n_symbols),), -1 if name.startswith("k_") else 0, dtype=xp.int64)
        return cls(config, arrays)


# ------------------------------------------------------------------------ one step
def _var_rebuild(xp: Any, w: Array, inv: float) -> tuple:
    """Vectorised `cpu.var_rebuild_nb` over rows of w (m, period), oldest value first."""
    period = w.shape[1]
    acc = xp.zeros(w.shape[0])
    for j in range(period):
        acc = acc + w[:, j]
    shift = acc * inv

    def sums(sh: Array) -> tuple:
        t1 = xp.zeros(w.shape[0])
        t2 = xp.zeros(w.shape[0])
        for j in range(period):
            a = w[:, j] - sh
            t1 = t1 + a
            t2 = t2 + a * a
        m1 = t1 * inv
        return t1, t2, t2 * inv - m1 * m1

    total1, total2, var = sums(shift)
    flat = var < VAR_FLAT * (total2 * inv)
    if bool(flat.any()):
        shift = xp.where(flat, w[:, -1], shift)
        f1, f2, fv = sums(shift)
        total1 = xp.where(flat, f1, total1)
        total2 = xp.where(flat, f2, total2)
        var = xp.where(flat, fv, var)
    peak = total2
    var = xp.where(var < VAR_ZERO * (total2 * inv), 0.0, var)
    a = w[:, 0] - shift
    return var, shift, total1 - a, total2 - a * a, peak


def _ema_phase(xp: Any, k: Array, seed_k: int, first: Array, x: Array, prev: Array, kf: float) -> Array:
    """TA-Lib EMA step: the SMA seed `first` at k == seed_k, ((x - prev) * kf) + prev after, prev before."""
    return xp.where(k == seed_k, first, xp.where(k > seed_k, ((x - prev) * kf) + prev, prev))


def _step(xp: Any, cfg: StreamConfig, st: dict[str, Array], h: Array, lo: Array, c: Array, v: Array) -> dict:
    """Advance gathered rows `st` (each (m,) or (m, w), modified in place) by one bar; the outputs.

    NaN inputs follow the batch kernels: a group's counter starts at the first bar
    where its inputs are all non-NaN; later NaN go through TA-Lib's arithmetic.
    """
    nan = xp.nan
    out: dict[str, Array] = {}

    def advance(key: str, valid: Array) -> Array:
        k0 = st[key]
        k = xp.where((k0 >= 0) | valid, k0 + 1, -1)
        st[key] = k
        return k

    k = advance("k_close", ~xp.isnan(c))
    on = k >= 0

    # ---- EMA (cpu.ema_1d_nb)
    p = cfg.ema_period
    st["ema_sum"] = xp.where(on & (k <= p - 1), st["ema_sum"] + c, st["ema_sum"])
    kf = 2.0 / (p + 1.0)
    st["ema"] = _ema_phase(xp, k, p - 1, st["ema_sum"] / p, c, st["ema"], kf)
    out["ema"] = xp.where(k >= p - 1, st["ema"], nan)

    # ---- RSI (cpu.rsi_1d_nb)
    p = cfg.rsi_period
    d = c - st["rsi_prev"]
    neg = d < 0.0
    warm = (k >= 1) & (k <= p)
    run = k > p
    gain, loss = st["rsi_gain"], st["rsi_loss"]
    loss = xp.where(warm & neg, loss - d, loss)
    gain = xp.where(warm & ~neg, gain + d, gain)
    loss = xp.where(k == p, loss / p, loss)
    gain = xp.where(k == p, gain / p, gain)
    keep = (p - 1.0) / p
    new = 1.0 / p
    up = xp.where(~neg, d, 0.0)
    down = xp.where(neg, -d, 0.0)
    gain = xp.where(run, gain * keep + up * new, gain)
    loss = xp.where(run, loss * keep + down * new, loss)
    st["rsi_gain"], st["rsi_loss"] = gain, loss
    st["rsi_prev"] = xp.where(on, c, st["rsi_prev"])
    tv = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        r = xp.where((tv > 0.0) | (tv < 0.0), 100.0 * (gain / tv), 0.0)
    out["rsi"] = xp.where(k >= p, r, nan)

    # ---- MACD (cpu.macd_1d_nb)
    fp, sp, gp = cfg.macd_fast, cfg.macd_slow, cfg.macd_signal
    if sp < fp:
        fp, sp = sp, fp
    seed_k = sp - 1
    lookback = seed_k + gp - 1
    upto = on & (k <= seed_k)
    st["macd_sum_slow"] = xp.where(upto, st["macd_sum_slow"] + c, st["macd_sum_slow"])
    st["macd_sum_fast"] = xp.where(upto & (k >= sp - fp), st["macd_sum_fast"] + c, st["macd_sum_fast"])
    ks, kfa, kg = 2.0 / (sp + 1.0), 2.0 / (fp + 1.0), 2.0 / (gp + 1.0)
    slow = _ema_phase(xp, k, seed_k, st["macd_sum_slow"] / sp, c, st["macd_slow"], ks)
    fast = _ema_phase(xp, k, seed_k, st["macd_sum_fast"] / fp, c, st["macd_fast"], kfa)
    st["macd_slow"], st["macd_fast"] = slow, fast
    m = fast - slow
    st["macd_sum_sig"] = xp.where((k >= seed_k) & (k <= lookback), st["macd_sum_sig"] + m, st["macd_sum_sig"])
    sig = _ema_phase(xp, k, lookback, st["macd_sum_sig"] / gp, m, st["macd_sig"], kg)
    st["macd_sig"] = sig
    ready = k >= lookback
    out["macd"] = xp.where(ready, m, nan)
    out["macdsignal"] = xp.where(ready, sig, nan)
    out["macdhist"] = xp.where(ready, m - sig, nan)

    # ---- ATR (cpu.atr_1d_nb)
    p = cfg.atr_period
    ka = advance("k_hlc", ~(xp.isnan(h) | xp.isnan(lo) | xp.isnan(c)))
    pc = st["atr_prev_close"]
    g = h - lo
    v2 = xp.abs(pc - h)
    g = xp.where(v2 > g, v2, g)
    v3 = xp.abs(pc - lo)
    g = xp.where(v3 > g, v3, g)
    st["atr_prev_close"] = xp.where(ka >= 0, c, pc)
    st["atr_total"] = xp.where((ka >= 1) & (ka <= p), st["atr_total"] + g, st["atr_total"])
    keep = (p - 1.0) / p
    new = 1.0 / p
    st["atr"] = xp.where(ka == p, st["atr_total"] / p, xp.where(ka > p, st["atr"] * keep + g * new, st["atr"]))
    out["atr"] = xp.where(ka >= p, st["atr"], nan)

    # ---- OBV (cpu.obv_1d_nb)
    ko = advance("k_cv", ~(xp.isnan(c) | xp.isnan(v)))
    ob, prev = st["obv"], st["obv_prev"]
    ob = xp.where(ko == 0, v, xp.where(ko > 0, xp.where(c > prev, ob + v, xp.where(c < prev, ob - v, ob)), ob))
    st["obv"] = ob
    st["obv_prev"] = xp.where(ko >= 0, c, prev)
    out["obv"] = xp.where(ko >= 0, ob, nan)

    rows = xp.arange(c.shape[0])
    # ---- SMA (cpu.sma_1d_nb), ring buffer of the last sma_period closes
    p = cfg.sma_period
    buf = st["sma_buf"]
    pos = xp.where(on, k, 0) % p
    buf[rows, pos] = xp.where(on, c, buf[rows, pos])
    total = xp.where(on, st["sma_total"] + c, st["sma_total"])
    full = k >= p - 1
    out["sma"] = xp.where(full, total / p, nan)
    trail = buf[rows, (pos + 1) % p]
    st["sma_total"] = xp.where(full, total - trail, total)

    # ---- rolling std (cpu.var_1d_nb + stddev_1d_nb)
    p = cfg.std_period
    inv = 1.0 / p
    buf = st["std_buf"]
    pos = xp.where(on, k, 0) % p
    buf[rows, pos] = xp.where(on, c, buf[rows, pos])
    shift = xp.where(k == 0, c, st["std_shift"])
    a = c - shift
    t1 = xp.where(on, st["std_total1"] + a, st["std_total1"])
    t2 = xp.where(on, st["std_total2"] + a * a, st["std_total2"])
    full = k >= p - 1
    first = k == p - 1
    bars = xp.where(first, 32 * p, st["std_bars"])
    peak = xp.where(first, st["std_total2"], st["std_peak"])  # total2 before this bar, as TA-Lib
    peak = xp.where(full & (t2 > peak), t2, peak)
    mean1 = t1 * inv
    var = t2 * inv - mean1 * mean1
    a = buf[rows, (pos + 1) % p] - shift
    t1 = xp.where(full, t1 - a, t1)
    t2 = xp.where(full, t2 - a * a, t2)
    bars = xp.where(full, bars - 1, bars)
    redo = full & ((var < VAR_FLAT * (peak * inv)) | (bars <= 0))
    if bool(redo.any()):
        idx = xp.nonzero(redo)[0]
        order = (pos[idx, None] + 1 + xp.arange(p)[None, :]) % p  # oldest first
        w = xp.take_along_axis(buf[idx], order, axis=1)
        rv, rs, r1, r2, rp = _var_rebuild(xp, w, inv)
        var[idx], shift[idx], t1[idx], t2[idx], peak[idx] = rv, rs, r1, r2, rp
        bars[idx] = 32 * p
    st["std_shift"], st["std_total1"], st["std_total2"], st["std_peak"], st["std_bars"] = shift, t1, t2, peak, bars
    out["rolling_std"] = xp.where(full, xp.sqrt(var) * cfg.std_nbdev, nan)
    return out


def _advance(state: StreamState, idx: Array | None, h: Array, lo: Array, c: Array, v: Array) -> dict:
    """Gather the rows idx (None: all), step them, scatter them back; the outputs."""
    xp = get_array_module(state.arrays["k_close"])
    if idx is None:
        st = {name: a.copy() for name, a in state.arrays.items()}
    else:
        st = {name: a[idx] for name, a in state.arrays.items()}
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        out = _step(xp, state.config, st, h, lo, c, v)
    for name, a in st.items():
        if idx is None:
            state.arrays[name] = a
        else:
            state.arrays[name][idx] = a
    return out


# -------------------------------------------------------------------------- API
def _field(bars: Any, name: str) -> Any:
    try:
        return bars[name] if isinstance(bars, Mapping) else getattr(bars, name)
    except (KeyError, AttributeError):
        raise ValueError(f"seed: the bars have no field {name!r}") from None


def seed(state: StreamState, bars: Any) -> dict[str, Array]:
    """Reset `state` and replay a (T, S) history of high/low/close/volume through it.

    `bars` is a `kernels.data.Panel` or a mapping of those fields. NaN-aware as the
    batch functions (leading NaN: the symbol starts later). Afterwards the state's
    values equal the batch indicators' last row; returns those values, each (S,).
    Replays bar by bar (T vectorised steps over all S symbols).
    """
    xp = get_array_module(state.arrays["k_close"])
    arrs = []
    for name in ("high", "low", "close", "volume"):
        a = xp.asarray(_field(bars, name), dtype=xp.float64)
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2 or a.shape[1] != state.n_symbols or a.shape[0] < 1:
            raise ValueError(f"seed: {name} must be (T, {state.n_symbols}) with T >= 1, got shape {tuple(a.shape)}")
        arrs.append(a)
    if len({a.shape for a in arrs}) != 1:
        raise ValueError(f"seed: high/low/close/volume shapes differ: {[tuple(a.shape) for a in arrs]}")
    fresh = StreamState.create(state.n_symbols, state.config, xp)
    state.arrays = fresh.arrays
    out: dict[str, Array] = {}
    h, lo, c, v = arrs
    for t in range(c.shape[0]):
        out = _advance(state, None, h[t], lo[t], c[t], v[t])
    return out


def update(
    state: StreamState, symbols: Any, *, high: Any, low: Any, close: Any, volume: Any, open: Any = None
) -> dict[str, Array]:
    """Apply one tick to each listed symbol; the new indicator values, each (len(symbols),).

    `symbols` are integer indices into the state (each at most once per call); the
    price arrays are aligned with them. Ordering and de-duplication across calls
    are the caller's job. Raises ValueError for unknown or repeated symbol indices,
    mismatched shapes and NaN/inf prices or volumes (`open` is checked, not used).
    """
    xp = get_array_module(state.arrays["k_close"])
    sym = xp.asarray(symbols)
    if sym.ndim != 1:
        raise ValueError(f"update: symbols must be 1-D, got shape {tuple(sym.shape)}")
    if sym.size and np.dtype(sym.dtype).kind not in "iu":
        raise ValueError(f"update: symbols must be integer indices, got dtype {sym.dtype}")
    sym = sym.astype(xp.int64)
    n = state.n_symbols
    if sym.size:
        bad = (sym < 0) | (sym >= n)
        if bool(bad.any()):
            raise ValueError(f"update: unknown symbol index {int(sym[bad][0])} (state has {n} symbols)")
        if int(xp.unique(sym).size) != int(sym.size):
            raise ValueError("update: a symbol appears more than once in one tick batch")
    named = {"high": high, "low": low, "close": close, "volume": volume}
    if open is not None:
        named["open"] = open
    vals = {}
    for name, a in named.items():
        a = xp.asarray(a, dtype=xp.float64)
        if a.ndim == 0:
            a = a.reshape(1)
        if a.shape != sym.shape:
            raise ValueError(f"update: {name} has shape {tuple(a.shape)} but symbols has {tuple(sym.shape)}")
        if not bool(xp.isfinite(a).all()):
            bad_syms = sym[~xp.isfinite(a)].tolist()
            raise ValueError(f"update: {name} has NaN or inf values (symbols {bad_syms})")
        vals[name] = a
    return _advance(state, sym, vals["high"], vals["low"], vals["close"], vals["volume"])


def snapshot(state: StreamState) -> dict[str, np.ndarray]:
    """The state as plain host NumPy arrays (config as 0-d arrays "config.<field>"); copies."""
    from kernels.backend import to_numpy  # noqa: PLC0415

    snap = {name: np.array(to_numpy(a), copy=True) for name, a in state.arrays.items()}
    for f in fields(state.config):
        snap[f"config.{f.name}"] = np.asarray(getattr(state.config, f.name))
    return snap


def restore(snap: Mapping[str, Any], xp: Any = np) -> StreamState:
    """A state rebuilt from `snapshot`'s arrays (copied onto xp); continues without drift."""
    kw = {}
    for f in fields(StreamConfig):
        key = f"config.{f.name}"
        if key not in snap:
            raise ValueError(f"restore: the snapshot has no {key!r}")
        val = np.asarray(snap[key]).item()
        kw[f.name] = float(val) if f.name == "std_nbdev" else int(val)
    config = StreamConfig(**kw)
    missing = sorted((set(_FLOAT) | set(_INT)) - set(snap))
    if missing:
        raise ValueError(f"restore: the snapshot lacks {missing}")
    n = int(np.asarray(snap["k_close"]).shape[0])
    template = StreamState.create(n, config, xp)
    arrays = {}
    for name, t in template.arrays.items():
        a = xp.array(np.asarray(snap[name]), dtype=t.dtype, copy=True)
        if a.shape != t.shape:
            raise ValueError(f"restore: {name} has shape {tuple(a.shape)}, expected {tuple(t.shape)}")
        arrays[name] = a
    return StreamState(config, arrays)
