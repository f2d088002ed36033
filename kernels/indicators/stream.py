"""Streaming (incremental) indicators: O(1) state per symbol, updated tick batch by tick batch.

A `StreamState` holds, for S symbols, the running state of EMA, RSI, MACD, ATR,
OBV, SMA, rolling std (TA-Lib 0.8's STDDEV) and ROC, packed for the fused kernels:
`values` (n_scalars, S) float64, `counters` (n_counters, S) int64 and the ring
buffers `sma_buf` (S, sma_period), `std_buf` (S, std_period) and `roc_buf`
(S, roc_period: ROC reads close k - roc_period from slot k % roc_period before
close k overwrites it); `arrays` names every row (views). NumPy arrays on the
CPU, CuPy arrays resident on the GPU. Snapshots of the older format (before ROC
was streamed) do not restore: ValueError.

One call applies a whole tick batch (m symbols, one tick each) in one kernel:
`stream_cpu` (Numba, threads over symbols) or `stream_gpu` (CUDA, one thread per
symbol), chosen by the state's array module. `seed` replays a (T, S) history in
one kernel call as well.

Exactness: every step performs the batch kernels' operations (`cpu.py`) in the
same order on the same float64 values, so a stream seeded from bars 0..k-1 and
fed bars k..t one at a time gives the batch indicators' row t bit for bit (the
tests check equality); the GPU kernel is compiled without contracted multiply-adds
and gives the same bits. That includes the rolling std's re-anchoring rebuilds,
which only need the window (the ring buffer). Per indicator a symbol starts at
its first tick where the indicator's inputs are all non-NaN, as the batch
functions do for late-starting columns.

The `xp` step below (`reference_update`, `reference_seed`) is the test oracle of
the fused kernels, not a serving path.

NaN policy (the batch indicators' `nan_policy`, kernels/indicators/gaps.py): with
"skip" (the default of `seed`, `update`, `update_packed`) a tick with a NaN price or
volume is a *missing bar* for its symbol: the state is left untouched and the
outputs are NaN, so the stream equals the batch indicators computed with
nan_policy="skip" over bars missing as a whole (all fields NaN). A run of more than
`max_gap` missing ticks re-seeds the symbol: its next tick starts the warm-up again
(the count of missing ticks lives with the state object, not in snapshots). With
"raise", a NaN tick is a ValueError (infinite values always are). A seed history
under "skip" replays each symbol's valid bars (its last segment when max_gap is
set); under "propagate" the NaN go through TA-Lib's arithmetic as in the batch.

Typical use::

    state = StreamState.create(n_symbols, StreamConfig())            # xp=cupy: on the GPU
    seed(state, {"high": h, "low": l, "close": c, "volume": v})       # (T, S) history
    values = update(state, symbols, high=h1, low=l1, close=c1, volume=v1)   # dict of (m,)
    packed = update_packed(state, symbols, ticks, to_host=True)       # ticks (4, m) -> (10, m)
    snap = snapshot(state); state2 = restore(snap, xp)                # plain arrays
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, fields
from typing import Any, Mapping, NoReturn

import numpy as np

from kernels.backend import get_array_module, is_gpu_array
from kernels.indicators import gaps, stream_cpu
from kernels.indicators.cpu import VAR_FLAT, VAR_ZERO
from kernels.indicators.stream_cpu import COUNTERS, OUTPUTS, SCALARS

Array = Any  # numpy.ndarray or cupy.ndarray

# OUTPUTS (re-exported): the rows of `update_packed` and the keys of `update`, in order.
# Rows of `update_packed`'s ticks: these four, or "open" and these four.
TICK_FIELDS: tuple[str, ...] = ("high", "low", "close", "volume")
RING_BUFFERS: dict[str, str] = {"sma_buf": "sma_period", "std_buf": "std_period", "roc_buf": "roc_period"}


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
    roc_period: int = 10

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

    def kernel_params(self) -> tuple[np.ndarray, np.ndarray]:
        """The kernels' parameter vectors `ip` (int64) and `dp` (float64), see `stream_cpu`."""
        fast, slow = sorted((int(self.macd_fast), int(self.macd_slow)))
        ip = np.array([self.ema_period, self.rsi_period, fast, slow, self.macd_signal, self.atr_period,
                       self.sma_period, self.std_period, self.roc_period], dtype=np.int64)
        dp = np.array([self.std_nbdev, VAR_FLAT, VAR_ZERO], dtype=np.float64)
        return ip, dp


class StreamState:
    """Running indicator state of S symbols, packed for the kernels (see the module docstring).

    `arrays` maps each state name to a view: (S,) per scalar or counter, (S, window)
    per ring buffer. Build one with `create` or `restore`; `StreamState(config,
    arrays)` packs such a mapping (all NumPy or all CuPy). Not thread-safe: one
    caller at a time per state (the kernels update it in place).
    """

    def __init__(self, config: StreamConfig, arrays: Mapping[str, Array]) -> None:
        xp = get_array_module(*arrays.values())
        self._set(
            config,
            xp.stack([xp.asarray(arrays[n], dtype=xp.float64) for n in SCALARS]),
            xp.stack([xp.asarray(arrays[n], dtype=xp.int64) for n in COUNTERS]),
            xp.array(arrays["sma_buf"], dtype=xp.float64, order="C"),
            xp.array(arrays["std_buf"], dtype=xp.float64, order="C"),
            xp.array(arrays["roc_buf"], dtype=xp.float64, order="C"),
        )

    def _set(self, config: StreamConfig, values: Array, counters: Array, sma_buf: Array, std_buf: Array,
             roc_buf: Array) -> None:
        self.config = config
        self.values = values
        self.counters = counters
        self.sma_buf = sma_buf
        self.std_buf = std_buf
        self.roc_buf = roc_buf
        self.ip, self.dp = config.kernel_params()
        # per-state scratch (not state): repeat marks, the call stamp, device copies of ip/dp
        self._scratch: dict[str, Array] = {}
        self._stamp = 0

    @classmethod
    def _packed(cls, config: StreamConfig, values: Array, counters: Array, sma_buf: Array,
                std_buf: Array, roc_buf: Array) -> "StreamState":
        state = cls.__new__(cls)
        state._set(config, values, counters, sma_buf, std_buf, roc_buf)
        return state

    @property
    def n_symbols(self) -> int:
        return int(self.values.shape[1])

    @property
    def xp(self) -> Any:
        """numpy or cupy: where the state lives."""
        return get_array_module(self.values)

    @property
    def on_gpu(self) -> bool:
        return is_gpu_array(self.values)

    @property
    def arrays(self) -> dict[str, Array]:
        """Every state array by name, as views into the packed storage."""
        out = {name: self.values[j] for j, name in enumerate(SCALARS)}
        out.update({name: self.counters[j] for j, name in enumerate(COUNTERS)})
        out["sma_buf"] = self.sma_buf
        out["std_buf"] = self.std_buf
        out["roc_buf"] = self.roc_buf
        return out

    @classmethod
    def create(cls, n_symbols: int, config: StreamConfig | None = None, xp: Any = np) -> "StreamState":
        """An empty state (no symbol started) for n_symbols symbols; xp is numpy or cupy."""
        if isinstance(n_symbols, bool) or not isinstance(n_symbols, numbers.Integral) or n_symbols < 1:
            raise ValueError(f"StreamState.create: n_symbols must be an integer >= 1, got {n_symbols!r}")
        config = config or StreamConfig()
        n = int(n_symbols)
        state = cls._packed(
            config,
            xp.zeros((len(SCALARS), n), dtype=xp.float64),
            xp.zeros((len(COUNTERS), n), dtype=xp.int64),
            xp.zeros((n, int(config.sma_period)), dtype=xp.float64),
            xp.zeros((n, int(config.std_period)), dtype=xp.float64),
            xp.zeros((n, int(config.roc_period)), dtype=xp.float64),
        )
        state.reset()
        return state

    def reset(self) -> None:
        """Forget every symbol's history (in place)."""
        self.values[...] = 0.0
        self.counters[...] = 0
        for j, name in enumerate(COUNTERS):
            if name.startswith("k_"):
                self.counters[j] = -1
        self.sma_buf[...] = 0.0
        self.std_buf[...] = 0.0
        self.roc_buf[...] = 0.0

    # -- scratch for the kernels
    def _next_stamp(self) -> int:
        self._stamp += 1
        return self._stamp

    def _host_marks(self) -> np.ndarray:
        if "host_marks" not in self._scratch:
            self._scratch["host_marks"] = np.zeros(self.n_symbols, dtype=np.int64)
        return self._scratch["host_marks"]

    def _device(self) -> dict[str, Array]:
        """ip, dp, err and repeat marks on the device (created once)."""
        if "ip" not in self._scratch:
            xp = self.xp
            self._scratch.update(
                ip=xp.asarray(self.ip), dp=xp.asarray(self.dp), err=xp.zeros(1, dtype=xp.int64),
                marks=xp.zeros(self.n_symbols, dtype=xp.uint64),
            )
        return self._scratch


# ------------------------------------------------------------- xp oracle (tests)
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

    # ---- ROC (cpu.roc_1d_nb), ring buffer of the previous roc_period closes: slot k % p
    # holds close k - p (once k >= p) until close k replaces it
    p = cfg.roc_period
    buf = st["roc_buf"]
    pos = xp.where(on, k, 0) % p
    old = buf[rows, pos]
    r = xp.where(old != 0.0, ((c / old) - 1.0) * 100.0, 0.0)
    out["roc"] = xp.where(k >= p, r, nan)
    buf[rows, pos] = xp.where(on, c, old)

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


def _reference_advance(state: StreamState, idx: Array | None, h: Array, lo: Array, c: Array, v: Array) -> dict:
    """Gather the rows idx (None: all), step them with `_step`, scatter them back; the outputs."""
    xp = state.xp
    arrays = state.arrays
    if idx is None:
        st = {name: a.copy() for name, a in arrays.items()}
    else:
        st = {name: a[idx] for name, a in arrays.items()}
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        out = _step(xp, state.config, st, h, lo, c, v)
    for name, a in st.items():
        if idx is None:
            arrays[name][...] = a
        else:
            arrays[name][idx] = a
    return out


def reference_seed(state: StreamState, bars: Any) -> dict[str, Array]:
    """Test oracle of `seed`: T vectorised `_step`s over all symbols (no kernel)."""
    h, lo, c, v = _seed_inputs(state, bars)
    state.reset()
    out: dict[str, Array] = {}
    for t in range(c.shape[0]):
        out = _reference_advance(state, None, h[t], lo[t], c[t], v[t])
    return out


def reference_update(state: StreamState, symbols: Any, *, high: Any, low: Any, close: Any, volume: Any) -> dict:
    """Test oracle of `update` (no validation): one vectorised `_step` over the listed symbols."""
    xp = state.xp
    sym = xp.asarray(symbols, dtype=xp.int64)
    vals = [xp.asarray(a, dtype=xp.float64).reshape(sym.shape) for a in (high, low, close, volume)]
    return _reference_advance(state, sym, *vals)


# -------------------------------------------------------------------------- API
def _field(bars: Any, name: str) -> Any:
    try:
        return bars[name] if isinstance(bars, Mapping) else getattr(bars, name)
    except (KeyError, AttributeError):
        raise ValueError(f"seed: the bars have no field {name!r}") from None


def _seed_inputs(state: StreamState, bars: Any) -> list[Array]:
    """high, low, close, volume as C-contiguous float64 (T, S) arrays of the state's kind."""
    xp = state.xp
    arrs = []
    for name in TICK_FIELDS:
        a = xp.asarray(_field(bars, name), dtype=xp.float64)
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2 or a.shape[1] != state.n_symbols or a.shape[0] < 1:
            raise ValueError(f"seed: {name} must be (T, {state.n_symbols}) with T >= 1, got shape {tuple(a.shape)}")
        arrs.append(xp.ascontiguousarray(a))
    if len({a.shape for a in arrs}) != 1:
        raise ValueError(f"seed: high/low/close/volume shapes differ: {[tuple(a.shape) for a in arrs]}")
    return arrs


def seed(state: StreamState, bars: Any, nan_policy: str = "skip", max_gap: int | None = None) -> dict[str, Array]:
    """Reset `state` and replay a (T, S) history of high/low/close/volume through it.

    `bars` is a `kernels.data.Panel` or a mapping of those fields (host arrays are
    copied to a GPU state's device). NaN-aware as the batch functions (leading NaN:
    the symbol starts later; interior missing bars by `nan_policy`, see the module
    docstring). Afterwards the state's values equal the batch indicators' last row
    (with the same nan_policy and max_gap); returns those values, each (S,). One
    kernel call.
    """
    policy, gap = gaps.check_policy("seed", nan_policy, max_gap)
    h, lo, c, v = _seed_inputs(state, bars)
    state._scratch["missing_run"] = np.zeros(state.n_symbols, dtype=np.int64)
    last_missing = None
    if policy == "skip":
        h, lo, c, v, last_missing = _right_aligned(state, (h, lo, c, v), gap)
    state.reset()
    xp = state.xp
    n_bars = int(c.shape[0])
    out = xp.empty((len(OUTPUTS), state.n_symbols), dtype=xp.float64)
    if state.on_gpu:
        from kernels.indicators import stream_gpu  # noqa: PLC0415

        dev = state._device()
        stream_gpu.advance(state.values, state.counters, state.sma_buf, state.std_buf, state.roc_buf, None,
                           h, lo, c, v, n_bars, out, dev["ip"], dev["dp"], dev["err"])
    else:
        stream_cpu.seed_nb(state.values, state.counters, state.sma_buf, state.std_buf, state.roc_buf, n_bars,
                           h.ravel(), lo.ravel(), c.ravel(), v.ravel(), state.ip, state.dp, out)
    if last_missing is not None:  # a symbol whose last bar is missing: NaN, as the batch's last row
        out[:, xp.asarray(last_missing)] = xp.nan
    return {name: out[j] for j, name in enumerate(OUTPUTS)}


def _right_aligned(state: StreamState, arrays: tuple, max_gap: int) -> tuple:
    """Each symbol's valid bars (every field the data has non-NaN: a field that is NaN
    throughout, as in close-only data, does not count; the last segment when a gap is
    longer than max_gap) moved to the end of the history, NaN before them: the kernel
    then replays exactly those bars (leading NaN = a late start). Also records each
    symbol's trailing run of missing bars, and returns the symbols whose last bar is missing."""
    xp = state.xp
    present = [a for a in arrays if not bool(xp.isnan(a).all())]  # close-only data: no high/low/volume at all
    valid = gaps.valid_mask(xp, present or list(arrays))
    n_bars = valid.shape[0]
    host_valid = np.asarray(valid.get() if state.on_gpu else valid)
    trailing = np.where(host_valid.any(axis=0), host_valid[::-1].argmax(axis=0), n_bars)  # missing bars at the end
    state._scratch["missing_run"] = trailing.astype(np.int64)
    if not gaps.has_gaps(xp, valid):
        return (*arrays, None)
    seg = gaps.plan(xp, valid, max_gap)
    packed = gaps.gather(xp, list(arrays), valid, seg)
    if xp is np:
        last = np.where(seg.offsets[1:] > seg.offsets[:-1], seg.offsets[1:] - 1, -1)
    else:
        last = _last_segments(xp, seg, valid.shape[1])
    has = xp.asarray(last >= 0)
    out = []
    for a in packed:
        col = a[:, xp.asarray(np.maximum(last, 0))]  # (T, S): each symbol's last segment, packed at the top
        col = xp.where(has[None, :], col, xp.nan)
        n_valid = (~xp.isnan(col)).sum(axis=0)
        shift = n_bars - n_valid  # roll each column down so that its values end at the last bar
        rows = (xp.arange(n_bars)[:, None] - shift[None, :]) % n_bars
        out.append(xp.ascontiguousarray(xp.take_along_axis(col, rows, axis=0)))
    return (*out, np.flatnonzero(~host_valid[-1]))


def _last_segments(xp: Any, seg: Any, n_cols: int) -> np.ndarray:
    """Per column, its last packed segment (-1: none), from the xp plan's flat coordinates."""
    last = np.full(n_cols, -1, dtype=np.int64)
    if seg.n_segments:
        col = np.asarray(seg.col.get() if hasattr(seg.col, "get") else seg.col)
        sid = np.asarray(seg.seg.get() if hasattr(seg.seg, "get") else seg.seg)
        np.maximum.at(last, col, sid)
    return last


def update(
    state: StreamState, symbols: Any, *, high: Any, low: Any, close: Any, volume: Any, open: Any = None,
    nan_policy: str = "skip", max_gap: int | None = None,
) -> dict[str, Array]:
    """Apply one tick to each listed symbol; the new indicator values, each (len(symbols),).

    `symbols` are integer indices into the state (each at most once per call); the
    price arrays are aligned with them. Ordering and de-duplication across calls
    are the caller's job. Raises ValueError for unknown or repeated symbol indices,
    mismatched shapes and NaN/inf prices or volumes (`open` is checked, not used);
    the state is then unchanged. Host inputs to a GPU state travel in one transfer;
    outputs are arrays of the state's kind (views of one (len(OUTPUTS), m) array).
    `nan_policy` "skip" (default): a tick with a NaN is a missing bar (state untouched,
    outputs NaN; more than `max_gap` in a row re-seed the symbol); "raise": ValueError.
    """
    named = {"high": high, "low": low, "close": close, "volume": volume}
    if open is not None:
        named["open"] = open
    out = _apply_policy(state, "update", symbols, named, False, nan_policy, max_gap)
    return {name: out[j] for j, name in enumerate(OUTPUTS)}


def update_packed(state: StreamState, symbols: Any, ticks: Any, *, to_host: bool = False, nan_policy: str = "skip",
                  max_gap: int | None = None) -> Array:
    """`update` with the tick fields as rows of one array and the outputs as rows of another.

    `ticks` is (4, m) with rows `TICK_FIELDS` (high, low, close, volume), or (5, m)
    with open first (checked, not used). Returns (len(OUTPUTS), m), rows in `OUTPUTS`
    order: of the state's kind, or NumPy when `to_host` (a GPU state then costs one
    host-to-device and one device-to-host copy per call). Same validation and NaN
    policy as `update`.
    """
    xp = state.xp if any(is_gpu_array(a) for a in (symbols, ticks)) else np
    t = xp.asarray(ticks, dtype=xp.float64)
    if t.ndim != 2 or t.shape[0] not in (4, 5):
        raise ValueError(f"update_packed: ticks must be (4, m) high/low/close/volume or (5, m) with open first, "
                         f"got shape {tuple(t.shape)}")
    rows = (("open",) if t.shape[0] == 5 else ()) + TICK_FIELDS
    named = {name: t[j] for j, name in enumerate(rows)}
    return _apply_policy(state, "update_packed", symbols, named, to_host, nan_policy, max_gap)


STREAM_NAN_POLICIES = ("skip", "raise")


def _apply_policy(state: StreamState, who: str, symbols: Any, named: dict[str, Any], to_host: bool,
                  nan_policy: str, max_gap: int | None) -> Array:
    """`_apply` under the stream's NaN policy: ticks with a NaN leave their symbols untouched
    (outputs NaN), a valid tick after more than max_gap missing ones re-seeds its symbol."""
    if nan_policy not in STREAM_NAN_POLICIES:
        raise ValueError(f"{who}: nan_policy must be one of {list(STREAM_NAN_POLICIES)}, got {nan_policy!r}")
    _, gap = gaps.check_policy(who, "skip", max_gap)
    if nan_policy == "raise":
        return _apply(state, who, symbols, named, to_host)
    on_device = any(is_gpu_array(a) for a in (symbols, *named.values()))
    if on_device and not state.on_gpu:
        raise ValueError(f"{who}: the state is in host memory but the ticks are CuPy arrays")
    xp = state.xp if on_device else np
    sym, vals = _inputs(xp, who, symbols, named)
    missing = xp.zeros(sym.shape, dtype=bool)
    for a in vals.values():
        missing |= xp.isnan(a)
    host_sym = np.asarray(sym.get() if on_device else sym)
    host_missing = np.asarray(missing.get() if on_device else missing)
    runs = state._scratch.get("missing_run")
    if runs is None:
        runs = state._scratch["missing_run"] = np.zeros(state.n_symbols, dtype=np.int64)
    if not host_missing.any():
        restart = host_sym[(runs[np.clip(host_sym, 0, state.n_symbols - 1)] > gap)] if gap < gaps.NO_RESTART else ()
        out = _apply(state, who, sym, vals, to_host, restart=restart)
        runs[np.clip(host_sym, 0, state.n_symbols - 1)] = 0
        return out
    # validate the whole batch (a missing tick still names a known symbol once), then apply the rest
    checked = {k: xp.where(missing, 1.0, a) for k, a in vals.items()}
    keep = ~host_missing
    idx = xp.asarray(np.flatnonzero(keep))
    kept_sym = host_sym[keep]
    _validate_only(state, who, sym, checked)
    restart = kept_sym[runs[kept_sym] > gap] if gap < gaps.NO_RESTART else ()
    part = _apply(state, who, sym[idx], {k: a[idx] for k, a in vals.items()}, to_host, restart=restart)
    rx = get_array_module(part)  # host ticks into a GPU state give device outputs unless to_host
    out = rx.full((len(OUTPUTS), int(sym.shape[0])), rx.nan, dtype=rx.float64)
    out[:, rx.asarray(np.flatnonzero(keep))] = part
    runs[kept_sym] = 0
    runs[host_sym[host_missing]] += 1
    return out


def _validate_only(state: StreamState, who: str, sym: Array, vals: dict[str, Array]) -> None:
    """Raise what `_apply` would for an invalid batch (unknown or repeated symbols, inf), applying nothing."""
    xp = get_array_module(sym)
    n = state.n_symbols
    bad = (sym < 0) | (sym >= n)
    if bool(bad.any()) or int(xp.unique(sym).size) != int(sym.size) or \
            not all(bool(xp.isfinite(a).all()) for a in vals.values()):
        _explain(xp, who, sym, vals, n)


def _reset_symbols(state: StreamState, symbols: Any) -> None:
    """Forget the history of some symbols (re-seed them: their next tick starts the warm-up)."""
    idx = state.xp.asarray(np.asarray(symbols, dtype=np.int64))
    fresh = StreamState.create(1, state.config, xp=state.xp)
    state.values[:, idx] = fresh.values[:, :1]
    state.counters[:, idx] = fresh.counters[:, :1]
    for name in RING_BUFFERS:
        getattr(state, name)[idx] = 0.0


def _apply(state: StreamState, who: str, symbols: Any, named: dict[str, Any], to_host: bool,
           restart: Any = ()) -> Array:
    """Validate a tick batch and run the state's kernel on it; (len(OUTPUTS), m).

    `restart`: symbols to re-seed (forget) once the batch is known valid, before it applies."""
    on_device = any(is_gpu_array(a) for a in (symbols, *named.values()))
    if on_device and not state.on_gpu:
        raise ValueError(f"{who}: the state is in host memory but the ticks are CuPy arrays")
    xp = state.xp if on_device else np
    sym, vals = _inputs(xp, who, symbols, named)
    m = int(sym.shape[0])
    n = state.n_symbols
    h, lo, c, v = (vals[f] for f in TICK_FIELDS)
    o = vals.get("open", h)
    if on_device:
        return _apply_device(state, who, sym, vals, to_host, restart)
    if not stream_cpu.validate_nb(sym, h, lo, c, v, o, n, state._host_marks(), state._next_stamp()):
        _explain(np, who, sym, vals, n)
    if len(restart):
        _reset_symbols(state, restart)
    if not state.on_gpu:
        out = np.empty((len(OUTPUTS), m), dtype=np.float64)
        if m:
            stream_cpu.update(state.values, state.counters, state.sma_buf, state.std_buf, state.roc_buf, sym,
                              h, lo, c, v, state.ip, state.dp, out)
        return out
    # host ticks, GPU state: one packed host-to-device copy (row 0: the indices' int64 bits)
    from kernels.indicators import stream_gpu  # noqa: PLC0415

    gxp = state.xp
    packed = np.empty((5, m), dtype=np.float64)
    packed[0].view(np.int64)[:] = sym
    for j, a in enumerate((h, lo, c, v)):
        packed[j + 1] = a
    dev_ticks = gxp.asarray(packed)
    out = gxp.empty((len(OUTPUTS), m), dtype=gxp.float64)
    dev = state._device()
    sym_d, h_d, lo_d, c_d, v_d = dev_ticks
    stream_gpu.advance(state.values, state.counters, state.sma_buf, state.std_buf, state.roc_buf, sym_d,
                       h_d, lo_d, c_d, v_d, 1, out, dev["ip"], dev["dp"], dev["err"])
    return out.get() if to_host else out


def _apply_device(state: StreamState, who: str, sym: Array, vals: dict[str, Array], to_host: bool,
                  restart: Any = ()) -> Array:
    """Device tick batch: validate and apply in two launches, then one sync to learn the verdict."""
    from kernels.indicators import stream_gpu  # noqa: PLC0415

    xp = state.xp
    m = int(sym.shape[0])
    out = xp.empty((len(OUTPUTS), m), dtype=xp.float64)
    if m == 0:
        return out.get() if to_host else out
    h, lo, c, v = (vals[f] for f in TICK_FIELDS)
    if len(restart):  # the batch is checked by the kernel below; a re-seed only follows a valid earlier check
        _validate_only(state, who, sym, vals)
        _reset_symbols(state, restart)
    dev = state._device()
    stamp = state._next_stamp()
    stream_gpu.validate(sym, h, lo, c, v, vals.get("open", h), state.n_symbols, dev["marks"], stamp, dev["err"])
    stream_gpu.advance(state.values, state.counters, state.sma_buf, state.std_buf, state.roc_buf, sym,
                       h, lo, c, v, 1, out, dev["ip"], dev["dp"], dev["err"], gate=stamp)
    if int(dev["err"].get()[0]) == stamp:
        _explain(xp, who, sym, vals, state.n_symbols)
    return out.get() if to_host else out


def _inputs(xp: Any, who: str, symbols: Any, named: dict[str, Any]) -> tuple[Array, dict[str, Array]]:
    """Indices as int64 and values as float64, C-contiguous, on xp; shape errors raise."""
    sym = xp.asarray(symbols)
    if sym.ndim != 1:
        raise ValueError(f"{who}: symbols must be 1-D, got shape {tuple(sym.shape)}")
    if sym.size and np.dtype(sym.dtype).kind not in "iu":
        raise ValueError(f"{who}: symbols must be integer indices, got dtype {sym.dtype}")
    sym = xp.ascontiguousarray(sym, dtype=xp.int64)
    vals = {}
    for name, a in named.items():
        a = xp.asarray(a, dtype=xp.float64)
        if a.ndim == 0:
            a = a.reshape(1)
        if a.shape != sym.shape:
            raise ValueError(f"{who}: {name} has shape {tuple(a.shape)} but symbols has {tuple(sym.shape)}")
        vals[name] = xp.ascontiguousarray(a)
    return sym, vals


def _explain(xp: Any, who: str, sym: Array, vals: dict[str, Array], n: int) -> NoReturn:
    """Raise the ValueError that names what is wrong with a batch the kernel check rejected."""
    bad = (sym < 0) | (sym >= n)
    if bool(bad.any()):
        raise ValueError(f"{who}: unknown symbol index {int(sym[bad][0])} (state has {n} symbols)")
    if int(xp.unique(sym).size) != int(sym.size):
        raise ValueError(f"{who}: a symbol appears more than once in one tick batch")
    for name, a in vals.items():
        fin = xp.isfinite(a)
        if not bool(fin.all()):
            raise ValueError(f"{who}: {name} has NaN or inf values (symbols {sym[~fin].tolist()})")
    raise ValueError(f"{who}: invalid tick batch")


def snapshot(state: StreamState) -> dict[str, np.ndarray]:
    """The state as plain host NumPy arrays (config as 0-d arrays "config.<field>"); copies."""
    def host(a: Array) -> np.ndarray:
        return a.get() if is_gpu_array(a) else np.array(a, copy=True)

    values, counters = host(state.values), host(state.counters)
    snap = {name: values[j] for j, name in enumerate(SCALARS)}
    snap.update({name: counters[j] for j, name in enumerate(COUNTERS)})
    snap["sma_buf"] = host(state.sma_buf)
    snap["std_buf"] = host(state.std_buf)
    snap["roc_buf"] = host(state.roc_buf)
    for f in fields(state.config):
        snap[f"config.{f.name}"] = np.asarray(getattr(state.config, f.name))
    return snap


def restore(snap: Mapping[str, Any], xp: Any = np) -> StreamState:
    """A state rebuilt from `snapshot`'s arrays (copied onto xp); continues without drift.

    Raises ValueError for missing or misshapen arrays, including a snapshot of the
    older format taken before ROC was streamed (no "roc_buf" / "config.roc_period"):
    its last closes are not all there, so such a stream must be re-seeded from history.
    """
    absent = [key for key in ("config.roc_period", "roc_buf") if key not in snap]
    if absent:
        raise ValueError(f"restore: the snapshot lacks {absent}: an older snapshot format, taken before ROC was "
                         f"streamed; it cannot be resumed, re-seed the stream from its history instead")
    kw = {}
    for f in fields(StreamConfig):
        key = f"config.{f.name}"
        if key not in snap:
            raise ValueError(f"restore: the snapshot has no {key!r}")
        val = np.asarray(snap[key]).item()
        kw[f.name] = float(val) if f.name == "std_nbdev" else int(val)
    config = StreamConfig(**kw)
    missing = sorted((set(SCALARS) | set(COUNTERS) | set(RING_BUFFERS)) - set(snap))
    if missing:
        raise ValueError(f"restore: the snapshot lacks {missing}")
    n = int(np.asarray(snap["k_close"]).shape[0])
    expected = {name: (n,) for name in SCALARS + COUNTERS}
    expected.update({name: (n, int(getattr(config, width))) for name, width in RING_BUFFERS.items()})
    host = {}
    for name, shape in expected.items():
        a = np.asarray(snap[name])
        if a.shape != shape:
            raise ValueError(f"restore: {name} has shape {tuple(a.shape)}, expected {shape}")
        host[name] = a
    return StreamState._packed(
        config,
        xp.asarray(np.stack([host[name].astype(np.float64) for name in SCALARS])),
        xp.asarray(np.stack([host[name].astype(np.int64) for name in COUNTERS])),
        xp.array(host["sma_buf"], dtype=xp.float64, order="C"),
        xp.array(host["std_buf"], dtype=xp.float64, order="C"),
        xp.array(host["roc_buf"], dtype=xp.float64, order="C"),
    )
