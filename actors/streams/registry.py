"""Streams of live ticks kept by a worker: incremental indicator state per stream.

Ray-free. A `StreamRegistry` holds, per stream id, a `kernels.indicators.stream`
`StreamState` over the stream's symbols (CuPy arrays in device memory on a GPU
worker, NumPy on the CPU worker), the symbol -> row map and the last tick time of
each symbol. A stream is seeded from a dataset's history (on a GPU worker the
realtime path's preloaded copy), then fed tick batches:

* a batch is validated as a whole before anything is applied: unknown symbols,
  non-finite prices, ticks at or before the symbol's last time, the same symbol
  twice at one time: `StreamError` naming the row and symbol, state unchanged;
* several ticks of one symbol in a batch are applied in time order (the batch is
  split into sub-batches: the k-th tick of every symbol goes in sub-batch k);
* the values after each tick come back row-aligned with the batch.

A stream may also compute TA-Lib functions by name (`StreamSpec.functions`, validated by
the table): `kernels.indicators.talib.stream.FunctionSet` in host memory beside the fused
state, its outputs named by the functions' labels ("RSI", "BBANDS_20.upperband").

Snapshots are plain host arrays (`StreamSnapshot`), so a stream can be restored on
another worker (or after a restart) and continue without drift. Idle streams are
evicted after `idle_timeout_s`; at most `max_streams` are open.

All state-touching work goes through `run(fn, *args)`, which the worker points at
its REALTIME device context (highest-priority CUDA stream, never preempted).
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from actors.settings import StreamsConfig
from kernels.indicators.stream import OUTPUTS, StreamConfig, StreamState, restore, seed, snapshot, update_packed
from kernels.indicators.talib.stream import FunctionSet, function_specs, output_labels

TICK_FIELDS = ("open", "high", "low", "close", "volume")
TIME_UNITS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_ROW_LIMIT_IN_MESSAGES = 10  # rows named in an error message


class StreamError(ValueError):
    """A client mistake on one stream (bad tick, unknown symbol, bad spec); nothing changed."""


class StreamNotFound(KeyError):
    """No stream of that id here (never opened, closed, evicted, or this worker restarted)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "stream not found"


class StreamLimitReached(RuntimeError):
    """`max_streams` streams are open and none is idle."""


@dataclass(frozen=True)
class StreamSpec:
    """What a stream computes: a dataset version's symbols and the indicator parameters."""

    stream_id: str
    dataset: str
    dataset_version: str
    symbols: tuple[str, ...] | None = None  # None: every symbol of the dataset
    config: tuple[tuple[str, Any], ...] = ()  # StreamConfig fields that differ from the defaults
    outputs: tuple[str, ...] = OUTPUTS
    history: int | None = None  # seed from the last `history` bars (None: all of them)
    functions: tuple = ()  # TA-Lib functions by name: (name, param items, input, label), `function_specs`

    def __post_init__(self) -> None:
        if not self.stream_id:
            raise StreamError("stream id must not be empty")
        bad = [o for o in self.outputs if o not in OUTPUTS]
        if bad or not (self.outputs or self.functions):
            raise StreamError(f"outputs: unknown {bad}; choose from {list(OUTPUTS)}" if bad else
                              "outputs: give at least one")
        try:
            if function_specs(self.functions) != tuple(self.functions):
                raise ValueError("give them through StreamSpec.build")
            labels = output_labels(self.functions)
        except (TypeError, ValueError) as exc:
            raise StreamError(f"functions: {exc}") from None
        dup = sorted({x for x in labels if labels.count(x) > 1} | (set(labels) & set(self.outputs)))
        if dup:
            raise StreamError(f"functions: output {dup[0]!r} is given twice; give the functions distinct labels")
        if self.history is not None and int(self.history) < 1:
            raise StreamError(f"history must be >= 1 bars, got {self.history}")
        self.stream_config()  # validates

    @classmethod
    def build(cls, stream_id: str, dataset: str, dataset_version: str, symbols: Sequence[str] | None = None,
              config: Mapping[str, Any] | None = None, outputs: Sequence[str] | None = None,
              history: int | None = None, functions: Sequence[Any] | None = None) -> "StreamSpec":
        """`functions`: TA-Lib specs ("RSI", {"name", "params", "input", "label"}); with functions and
        no `outputs`, only the functions' values come back (else the fused outputs, default all)."""
        names = {f.name for f in fields(StreamConfig)}
        unknown = sorted(set(config or {}) - names)
        if unknown:
            raise StreamError(f"config: unknown indicator parameters {unknown}; known: {sorted(names)}")
        try:
            specs = function_specs(functions)
        except (TypeError, ValueError) as exc:
            raise StreamError(f"functions: {exc}") from None
        default = () if specs else OUTPUTS
        return cls(stream_id, dataset, dataset_version, tuple(symbols) if symbols is not None else None,
                   tuple(sorted((config or {}).items())), tuple(outputs) if outputs else default, history, specs)

    @property
    def labels(self) -> tuple[str, ...]:
        """Every value a tick gives: the chosen fused outputs, then the functions' outputs."""
        return tuple(self.outputs) + output_labels(self.functions)

    def stream_config(self) -> StreamConfig:
        try:
            return StreamConfig(**dict(self.config))
        except (TypeError, ValueError) as exc:
            raise StreamError(f"config: {exc}") from exc

    def seed_key(self) -> tuple:
        """Streams with equal keys start from the same state."""
        return (self.dataset, self.dataset_version, self.symbols, self.config, self.history, self.functions)


@dataclass(frozen=True)
class TickBatch:
    """A batch of ticks as host arrays, row-aligned; `time` in int64 nanoseconds since the epoch."""

    symbol: tuple[str, ...]
    time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.symbol)

    @classmethod
    def from_columns(cls, columns: Mapping[str, Any], time_unit: str = "ns", max_ticks: int | None = None
                     ) -> "TickBatch":
        """From {"symbol": [...], "time": [...], "open": [...], ...}; StreamError names the problem.

        `time` holds numbers in `time_unit` since the epoch, or ISO-8601 strings. `open`
        may be left out (it does not enter the indicators).
        """
        if not isinstance(columns, Mapping):
            raise StreamError("ticks: expected columns {symbol, time, open, high, low, close, volume}")
        extra = sorted(set(columns) - {"symbol", "time", *TICK_FIELDS})
        if extra:
            raise StreamError(f"ticks: unknown columns {extra[:10]}")
        missing = [c for c in ("symbol", "time", "high", "low", "close", "volume") if c not in columns]
        if missing:
            raise StreamError(f"ticks: missing columns {missing}")
        symbols = columns["symbol"]
        if isinstance(symbols, (str, bytes)) or not isinstance(symbols, Sequence | np.ndarray):
            raise StreamError("ticks: symbol must be a list of strings")
        n = len(symbols)
        if n == 0:
            raise StreamError("ticks: the batch is empty")
        if max_ticks is not None and n > max_ticks:
            raise StreamError(f"ticks: {n} ticks in one batch are over the limit of {max_ticks}")
        sym = tuple(symbols)
        if not all(isinstance(s, str) for s in sym):
            i, s = next((i, s) for i, s in enumerate(sym) if not isinstance(s, str))
            raise StreamError(f"ticks: row {i}: symbol must be a string, got {type(s).__name__}")
        arrays: dict[str, np.ndarray] = {"time": parse_times(columns["time"], time_unit, n)}
        for name in TICK_FIELDS:
            value = columns.get(name)
            if value is None and name == "open":
                arrays[name] = np.full(n, np.nan)
                continue
            arrays[name] = _column(name, value, n)
        return cls(symbol=sym, **arrays)

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]], time_unit: str = "ns", max_ticks: int | None = None
                  ) -> "TickBatch":
        """From [{"symbol", "time", "open", "high", "low", "close", "volume"}, ...]."""
        if not isinstance(rows, Sequence) or isinstance(rows, (str, bytes)):
            raise StreamError("ticks: expected a list of row objects")
        if max_ticks is not None and len(rows) > max_ticks:
            raise StreamError(f"ticks: {len(rows)} ticks in one batch are over the limit of {max_ticks}")
        cols: dict[str, list] = {c: [] for c in ("symbol", "time", *TICK_FIELDS)}
        for i, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise StreamError(f"ticks: row {i} is not an object")
            extra = sorted(set(row) - set(cols))
            if extra:
                raise StreamError(f"ticks: row {i}: unknown fields {extra[:10]}")
            for c in cols:
                if c not in row and c != "open":
                    raise StreamError(f"ticks: row {i}: missing field {c!r}")
                cols[c].append(row.get(c, np.nan) if c == "open" else row[c])
        return cls.from_columns(cols, time_unit, max_ticks)

    def take(self, rows: np.ndarray) -> "TickBatch":
        return TickBatch(tuple(self.symbol[i] for i in rows), *(getattr(self, f)[rows] for f in ("time", *TICK_FIELDS)))


def _column(name: str, value: Any, n: int) -> np.ndarray:
    if value is None or isinstance(value, (str, bytes, Mapping)):
        raise StreamError(f"ticks: {name} must be a list of {n} numbers")
    flags = [i for i, v in enumerate(value) if isinstance(v, (bool, np.bool_))] \
        if isinstance(value, (list, tuple)) else ([0] if getattr(value, "dtype", None) == np.bool_ else [])
    if flags:  # true is not a price
        raise StreamError(f"ticks: {name} must hold numbers (row {flags[0]}: a boolean)")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        bad = next((i for i, v in enumerate(value) if not _is_number(v)), None)
        where = f" (row {bad}: {value[bad]!r})" if bad is not None else ""
        raise StreamError(f"ticks: {name} must hold numbers{where}") from None
    if arr.shape != (n,):
        raise StreamError(f"ticks: {name} has {arr.size} values but symbol has {n}")
    return arr


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.number)) and not isinstance(v, bool)


def parse_times(values: Any, unit: str, n: int) -> np.ndarray:
    """Tick times as int64 ns: numbers in `unit` since the epoch, or ISO-8601 strings."""
    if unit not in TIME_UNITS:
        raise StreamError(f"time_unit must be one of {list(TIME_UNITS)}, got {unit!r}")
    if isinstance(values, (str, bytes)) or values is None:
        raise StreamError(f"ticks: time must be a list of {n} times")
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise StreamError(f"ticks: time has {arr.size} values but symbol has {n}")
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64) * TIME_UNITS[unit]
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise StreamError(f"ticks: row {int(np.flatnonzero(~np.isfinite(arr))[0])}: time is not finite")
        return np.round(arr * TIME_UNITS[unit]).astype(np.int64)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[ns]").astype(np.int64)
    if arr.dtype.kind in "UO":
        import pandas as pd  # noqa: PLC0415

        for i, v in enumerate(arr):
            if not isinstance(v, str):
                raise StreamError(f"ticks: row {i}: time must be a number or an ISO-8601 string, got {v!r}")
        try:
            parsed = pd.to_datetime(arr, format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise StreamError(f"ticks: time is not ISO-8601: {exc}") from None
        if getattr(parsed, "tz", None) is not None:
            parsed = parsed.tz_convert("UTC").tz_localize(None)
        return np.asarray(parsed.to_numpy(dtype="datetime64[ns]")).astype(np.int64)
    raise StreamError("ticks: time must hold numbers or ISO-8601 strings")


@dataclass(frozen=True)
class StreamSnapshot:
    """A stream's whole state as host arrays: enough to continue it anywhere."""

    spec: StreamSpec
    symbols: tuple[str, ...]
    arrays: dict[str, np.ndarray] = field(repr=False)
    last_time: np.ndarray = field(repr=False)  # int64 ns per symbol
    batches: int = 0
    functions: dict | None = field(default=None, repr=False)  # FunctionSet.snapshot() of the TA-Lib functions

    @property
    def nbytes(self) -> int:
        extra = 0 if self.functions is None else int(self.functions["buf"].nbytes)
        return int(sum(a.nbytes for a in self.arrays.values()) + self.last_time.nbytes) + extra


@dataclass(frozen=True)
class PushResult:
    """The values after each tick of a batch, row-aligned with it (host arrays)."""

    stream_id: str
    rows: int
    features: dict[str, np.ndarray]
    batches: int
    sub_batches: int
    seconds: float
    snapshot: StreamSnapshot | None = None


class _Stream:
    def __init__(self, spec: StreamSpec, symbols: tuple[str, ...], state: StreamState, last_time: np.ndarray,
                 now: float, batches: int = 0, funcs: FunctionSet | None = None) -> None:
        self.spec = spec
        self.funcs = funcs
        self.symbols = symbols
        self.index = {s: i for i, s in enumerate(symbols)}
        self.state = state
        self.last_time = last_time
        self.last_used = now
        self.opened = now
        self.batches = batches
        self.ticks = 0
        self.last_symbols: tuple[str, ...] = ()
        self.last_idx = np.empty(0, dtype=np.int64)
        self.lock = threading.Lock()


def _direct(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


class StreamRegistry:
    """The streams of one worker (thread-safe: a worker actor serves several calls at once)."""

    def __init__(self, config: StreamsConfig | None = None, xp: Any = np,
                 run: Callable[..., Any] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config or StreamsConfig()
        self.xp = xp
        self.run = run or _direct
        self.clock = clock
        self._streams: dict[str, _Stream] = {}
        self._lock = threading.Lock()
        self._seeds: OrderedDict[tuple, StreamSnapshot] = OrderedDict()
        self._last_sweep = clock()
        self.counts = {"opened": 0, "restored": 0, "closed": 0, "evicted": 0, "batches": 0, "ticks": 0,
                       "rejected": 0, "seed_hits": 0, "dropped": 0}

    # -- lifecycle ------------------------------------------------------------------
    def open(self, spec: StreamSpec, panel: Any) -> dict[str, Any]:
        """Seed a new stream from `panel` (the dataset: host or device arrays); its status."""
        self._make_room(spec.stream_id)
        cached = self._seeds.get(spec.seed_key()) if self.config.seed_cache else None
        if cached is not None:
            self.counts["seed_hits"] += 1
            return self.restore(StreamSnapshot(spec, cached.symbols, cached.arrays, cached.last_time, 0,
                                               cached.functions), _count="opened")
        symbols = tuple(spec.symbols) if spec.symbols is not None else tuple(panel.symbols)
        if len(symbols) > self.config.max_symbols:
            raise StreamError(f"symbols: {len(symbols)} are over the limit of {self.config.max_symbols} per stream")
        try:
            sub = panel.select(list(symbols) if spec.symbols is not None else None,
                               start=max(0, panel.n_bars - spec.history) if spec.history else 0)
        except KeyError as exc:
            raise StreamError(f"symbols: {exc.args[0] if exc.args else exc}") from None
        if sub.n_bars < 1:
            raise StreamError(f"dataset {spec.dataset!r} has no bars to seed from")
        config = spec.stream_config()

        def build() -> StreamState:
            state = StreamState.create(len(symbols), config, self.xp)
            seed(state, sub)
            return state

        state = self.run(build)
        funcs = None
        if spec.functions:  # host memory on every worker: the history comes to the host once
            funcs = FunctionSet(spec.functions, len(symbols), self.config.talib_window)
            funcs.seed({f: _host(getattr(sub, f)) for f in funcs.fields})
        last = np.full(len(symbols), int(np.asarray(sub.index[-1]).astype("datetime64[ns]").astype(np.int64)),
                       dtype=np.int64)
        stream = _Stream(spec, symbols, state, last, self.clock(), funcs=funcs)
        if self.config.seed_cache:
            snap = self._snapshot_of(stream)
            with self._lock:
                self._seeds[spec.seed_key()] = snap
                while len(self._seeds) > self.config.seed_cache:
                    self._seeds.popitem(last=False)
        self._add(stream, "opened")
        return self._status(stream)

    def restore(self, snap: StreamSnapshot, _count: str = "restored") -> dict[str, Any]:
        """Rebuild a stream from a snapshot (replacing one of the same id); its status."""
        self._make_room(snap.spec.stream_id)
        arrays = snap.arrays
        state = self.run(lambda: restore(arrays, self.xp))
        if state.n_symbols != len(snap.symbols) or snap.last_time.shape != (len(snap.symbols),):
            raise StreamError("restore: the snapshot's arrays do not match its symbols")
        funcs = FunctionSet.restore(snap.functions) if snap.functions is not None else None
        stream = _Stream(snap.spec, tuple(snap.symbols), state, np.array(snap.last_time, dtype=np.int64),
                         self.clock(), snap.batches, funcs)
        self._add(stream, _count)
        return self._status(stream)

    def close(self, stream_id: str) -> dict[str, Any]:
        with self._lock:
            stream = self._streams.pop(stream_id, None)
        if stream is None:
            raise StreamNotFound(f"no stream {stream_id!r} on this worker")
        self.counts["closed"] += 1
        return {**self._status(stream), "closed": True}

    def evict_idle(self, now: float | None = None) -> list[str]:
        """Drop streams idle for longer than `idle_timeout_s`; their ids."""
        now = self.clock() if now is None else now
        limit = self.config.idle_timeout_s
        with self._lock:
            self._last_sweep = now
            gone = [sid for sid, s in self._streams.items() if now - s.last_used > limit]
            for sid in gone:
                del self._streams[sid]
        self.counts["evicted"] += len(gone)
        return gone

    def _maybe_sweep(self) -> None:
        if self.clock() - self._last_sweep >= self.config.evict_interval_s:
            self.evict_idle()

    def _make_room(self, stream_id: str) -> None:
        with self._lock:
            full = stream_id not in self._streams and len(self._streams) >= self.config.max_streams
        if full:
            self.evict_idle()
            with self._lock:
                full = stream_id not in self._streams and len(self._streams) >= self.config.max_streams
            if full:
                raise StreamLimitReached(f"{self.config.max_streams} streams are open on this worker "
                                         f"and none has been idle for {self.config.idle_timeout_s:g} s")

    def _add(self, stream: _Stream, count: str) -> None:
        with self._lock:
            self._streams[stream.spec.stream_id] = stream
        self.counts[count] += 1

    def _get(self, stream_id: str) -> _Stream:
        with self._lock:
            stream = self._streams.get(stream_id)
        if stream is None:
            raise StreamNotFound(f"no stream {stream_id!r} on this worker")
        return stream

    def drop(self, stream_id: str) -> None:
        """Forget a stream whose state may be inconsistent (a device fault mid-batch)."""
        with self._lock:
            if self._streams.pop(stream_id, None) is not None:
                self.counts["dropped"] += 1

    # -- ticks ------------------------------------------------------------------------
    def push(self, stream_id: str, batch: TickBatch, want_snapshot: bool = False) -> PushResult:
        """Validate the whole batch, then apply it in time order per symbol; the values per row."""
        started = time.perf_counter()
        self._maybe_sweep()
        stream = self._get(stream_id)
        with stream.lock:
            try:
                idx, groups = self._validate(stream, batch)
            except StreamError:
                self.counts["rejected"] += 1
                raise
            try:
                out = self.run(self._apply, stream, batch, idx, groups)
            except BaseException:
                self.drop(stream_id)  # the state may be half-updated: the router restores it
                raise
            np.maximum.at(stream.last_time, idx, batch.time)
            stream.batches += 1
            stream.ticks += len(batch)
            stream.last_used = self.clock()
            snap = self._snapshot_of(stream) if want_snapshot else None
        self.counts["batches"] += 1
        self.counts["ticks"] += len(batch)
        return PushResult(stream_id, len(batch), out, stream.batches, len(groups), time.perf_counter() - started,
                          snap)

    def _validate(self, stream: _Stream, batch: TickBatch) -> tuple[np.ndarray, list[np.ndarray]]:
        n = len(batch)
        if n == 0:
            raise StreamError("ticks: the batch is empty")
        if n > self.config.max_ticks:
            raise StreamError(f"ticks: {n} ticks in one batch are over the limit of {self.config.max_ticks}")
        index = stream.index
        try:
            if batch.symbol == stream.last_symbols:  # a feed usually repeats its symbol list
                idx = stream.last_idx
            else:
                idx = np.array([index[s] for s in batch.symbol], dtype=np.int64)
                stream.last_symbols, stream.last_idx = batch.symbol, idx
        except KeyError:
            unknown = [(i, s) for i, s in enumerate(batch.symbol) if s not in index]
            shown = ", ".join(f"row {i}: {s!r}" for i, s in unknown[:_ROW_LIMIT_IN_MESSAGES])
            raise StreamError(f"unknown symbol(s) for stream {stream.spec.stream_id!r}: {shown}"
                              f"{' ...' if len(unknown) > _ROW_LIMIT_IN_MESSAGES else ''}") from None
        for name in ("high", "low", "close", "volume"):
            col = getattr(batch, name)
            bad = ~np.isfinite(col)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise StreamError(f"ticks: row {i} ({batch.symbol[i]!r}): {name} is not a finite number")
        for name, bad in (("high", batch.high <= 0), ("low", batch.low <= 0), ("close", batch.close <= 0),
                          ("volume", batch.volume < 0)):
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                kind = "non-negative" if name == "volume" else "positive"
                raise StreamError(f"ticks: row {i} ({batch.symbol[i]!r}): {name} must be {kind}, "
                                  f"got {float(getattr(batch, name)[i])!r}")
        if stream.funcs is not None and "open" in stream.funcs.fields:
            bad = ~(np.isfinite(batch.open) & (batch.open > 0))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise StreamError(f"ticks: row {i} ({batch.symbol[i]!r}): open must be a positive number (the "
                                  f"stream's functions read it), got {float(batch.open[i])!r}")
        inverted = batch.high < batch.low
        if inverted.any():
            i = int(np.flatnonzero(inverted)[0])
            raise StreamError(f"ticks: row {i} ({batch.symbol[i]!r}): high {float(batch.high[i])!r} is below "
                              f"low {float(batch.low[i])!r}")
        t = batch.time
        last = stream.last_time[idx]
        repeated = t == last
        if repeated.any():
            i = int(np.flatnonzero(repeated)[0])
            raise StreamError(f"duplicate tick: row {i} ({batch.symbol[i]!r}) at {_iso(t[i])} has the time of that "
                              f"symbol's last tick")
        stale = t < last
        if stale.any():
            i = int(np.flatnonzero(stale)[0])
            raise StreamError(f"out-of-order tick: row {i} ({batch.symbol[i]!r}) at {_iso(t[i])} is not after that "
                              f"symbol's last tick at {_iso(stream.last_time[idx[i]])}")
        if n == 1:
            return idx, [np.zeros(1, dtype=np.int64)]
        order = np.lexsort((t, idx))
        si, st = idx[order], t[order]
        same = si[1:] == si[:-1]
        dup = same & (st[1:] == st[:-1])
        if dup.any():
            j = int(np.flatnonzero(dup)[0])
            a, b = sorted((int(order[j]), int(order[j + 1])))
            raise StreamError(f"duplicate tick: rows {a} and {b} are both {batch.symbol[a]!r} at {_iso(t[a])}")
        if not same.any():
            return idx, [np.arange(n)]
        # rank of each row among its symbol's ticks (time order): sub-batch k holds every k-th tick
        starts = np.r_[0, np.flatnonzero(~same) + 1]
        first = np.repeat(starts, np.diff(np.r_[starts, n]))
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n) - first
        groups = [np.flatnonzero(rank == k) for k in range(int(rank.max()) + 1)]
        return idx, groups

    def _apply(self, stream: _Stream, batch: TickBatch, idx: np.ndarray, groups: list[np.ndarray]
               ) -> dict[str, np.ndarray]:
        """One fused kernel call per sub-batch; host ticks in, host values out (one copy each way on a GPU)."""
        wanted = [(j, name) for j, name in enumerate(OUTPUTS) if name in stream.spec.outputs]
        host = {name: np.empty(len(batch)) for name in stream.spec.labels}
        whole = len(groups) == 1
        funcs = stream.funcs
        for rows in groups:
            sel = slice(None) if whole else rows
            ticks = np.stack([batch.high[sel], batch.low[sel], batch.close[sel], batch.volume[sel]])
            out = update_packed(stream.state, idx[sel], ticks, to_host=True)
            for j, name in wanted:
                host[name][sel] = out[j]
            if funcs is not None:
                for name, values in funcs.update(idx[sel], {f: getattr(batch, f)[sel] for f in funcs.fields}).items():
                    host[name][sel] = values
        return host

    # -- snapshots and status -----------------------------------------------------------
    def snapshot(self, stream_id: str) -> StreamSnapshot:
        stream = self._get(stream_id)
        with stream.lock:
            return self._snapshot_of(stream)

    def _snapshot_of(self, stream: _Stream) -> StreamSnapshot:
        arrays = self.run(snapshot, stream.state)
        funcs = stream.funcs.snapshot() if stream.funcs is not None else None
        return StreamSnapshot(stream.spec, stream.symbols, arrays, stream.last_time.copy(), stream.batches, funcs)

    def status(self, stream_id: str) -> dict[str, Any]:
        return self._status(self._get(stream_id))

    def _status(self, stream: _Stream) -> dict[str, Any]:
        spec = stream.spec
        return {"stream_id": spec.stream_id, "dataset": spec.dataset, "dataset_version": spec.dataset_version,
                "symbols": list(stream.symbols), "outputs": list(spec.labels), "config": dict(spec.config),
                "batches": stream.batches, "ticks": stream.ticks,
                "idle_s": max(0.0, self.clock() - stream.last_used),
                "last_time": {s: _iso(t) for s, t in zip(stream.symbols[:_ROW_LIMIT_IN_MESSAGES], stream.last_time)}}

    def __contains__(self, stream_id: str) -> bool:
        with self._lock:
            return stream_id in self._streams

    def __len__(self) -> int:
        with self._lock:
            return len(self._streams)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            n = len(self._streams)
            symbols = sum(len(s.symbols) for s in self._streams.values())
        return {"open": n, "symbols": symbols, "max_streams": self.config.max_streams,
                "seed_cache": len(self._seeds), **self.counts}


def _host(a: Any) -> np.ndarray:
    """A host copy of a panel field (CuPy arrays of a GPU worker's preloaded dataset come to the host)."""
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def _iso(ns: Any) -> str:
    return str(np.datetime64(int(ns), "ns"))


__all__ = ["PushResult", "StreamError", "StreamLimitReached", "StreamNotFound", "StreamRegistry", "StreamSnapshot",
           "StreamSpec", "TickBatch", "parse_times", "TICK_FIELDS", "TIME_UNITS"]
