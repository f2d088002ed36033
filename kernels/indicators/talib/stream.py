"""Streaming TA-Lib functions: per-symbol state, O(1) work per tick, equal to the batch functions.

    st = TalibStream("ADX", n_symbols=3, timeperiod=14)
    st.seed(high=h, low=l, close=c)            # (T, S) history; returns the batch outputs
    adx = st.update(high=h1, low=l1, close=c1)  # (S,) values for one tick of every symbol

Covers the recursive families used live (`STREAMABLE`): EMA, DEMA, TEMA, T3, KAMA,
RSI, ATR, NATR, OBV, AD, ADOSC, PLUS_DM, MINUS_DM, PLUS_DI, MINUS_DI, DX, ADX, ADXR,
SAR, MFI, STOCH / STOCHF (SMA smoothing, matype 0) and STOCHRSI (matype 0). Parameters
are validated by the table. State is host memory (NumPy, Numba step kernels in
`stream_cpu`); `snapshot()` / `TalibStream.restore()` give plain arrays for
persistence. Complements `kernels.indicators.stream`, the fused stream of the
service's eight default indicators.

`FunctionSet` streams *every* TA-Lib function by name for the service's streams
(`POST /v1/streams` / `WS /v1/stream` `functions`): the streamable ones through
`TalibStream`, the cumulative ones carried, every other one over a bounded window of
recent bars (see its docstring for which and how exact).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from kernels.indicators.talib import stream_cpu as sc
from kernels.indicators.talib.api import call, result_type
from kernels.indicators.talib.table import FUNCTIONS

STREAMABLE: dict[str, int] = {
    "EMA": sc.EMA, "DEMA": sc.DEMA, "TEMA": sc.TEMA, "T3": sc.T3, "KAMA": sc.KAMA, "RSI": sc.RSI,
    "ATR": sc.ATR, "NATR": sc.NATR, "OBV": sc.OBV, "AD": sc.AD, "ADOSC": sc.ADOSC,
    "PLUS_DM": sc.PLUS_DM, "MINUS_DM": sc.MINUS_DM, "PLUS_DI": sc.PLUS_DI, "MINUS_DI": sc.MINUS_DI,
    "DX": sc.DX, "ADX": sc.ADX, "ADXR": sc.ADXR, "SAR": sc.SAR, "MFI": sc.MFI, "STOCH": sc.STOCH, "STOCHF": sc.STOCHF,
    "STOCHRSI": sc.STOCHRSI,
}


def _state_size(name: str, v: dict) -> int:
    if name in ("EMA",):
        return 3
    if name in ("DEMA", "TEMA", "T3"):
        return {"DEMA": 6, "TEMA": 9, "T3": 18}[name]
    if name == "KAMA":
        return 5 + v["timeperiod"]
    if name in ("RSI",):
        return 4
    if name in ("ATR", "NATR", "OBV"):
        return 3
    if name in ("AD", "ADOSC"):
        return 4
    if name in ("PLUS_DM", "MINUS_DM", "PLUS_DI", "MINUS_DI", "DX", "ADX", "SAR"):
        return 9
    if name == "MFI":
        return 6 + 2 * v["timeperiod"]
    if name == "ADXR":
        return 10 + v["timeperiod"]
    if name == "STOCH":
        return 5 + 2 * v["fastk_period"] + v["slowk_period"] + v["slowd_period"]
    if name == "STOCHF":
        return 5 + 2 * v["fastk_period"] + v["fastd_period"]
    return 4 + 5 + 2 * v["fastk_period"] + v["fastd_period"]  # STOCHRSI


def _kernel_params(name: str, v: dict) -> np.ndarray:
    if name == "STOCH":
        return np.array([v["fastk_period"], v["slowk_period"], v["slowd_period"]], dtype=np.float64)
    if name == "STOCHF":
        return np.array([v["fastk_period"], v["fastd_period"]], dtype=np.float64)
    if name == "STOCHRSI":
        return np.array([v["timeperiod"], v["fastk_period"], v["fastd_period"]], dtype=np.float64)
    vals = [x for k, x in v.items() if "matype" not in k]
    return np.asarray(vals or [0.0], dtype=np.float64)


class TalibStream:
    """One TA-Lib function streamed for `n_symbols` symbols."""

    def __init__(self, name: str, n_symbols: int, **params: Any) -> None:
        if name not in STREAMABLE:
            raise ValueError(f"{name}: no streaming form; streamable: {sorted(STREAMABLE)}")
        fd = FUNCTIONS[name]
        values = fd.check(params)
        bad = [k for k, x in values.items() if "matype" in k and x != 0]
        if bad:
            raise ValueError(f"{name}: the streaming form supports matype 0 (SMA) only; got {bad}")
        if n_symbols < 1:
            raise ValueError(f"n_symbols must be >= 1, got {n_symbols}")
        self.name = name
        self.fd = fd
        self.params = values
        self.code = STREAMABLE[name]
        self.inputs = fd.inputs
        self._p = _kernel_params(name, values)
        self.state = np.zeros((n_symbols, _state_size(name, values)))
        self.started = np.zeros(n_symbols, dtype=np.bool_)

    @property
    def n_symbols(self) -> int:
        return self.state.shape[0]

    def update(self, **ticks: Any) -> Any:
        """Apply one tick per symbol: inputs by TA-Lib's names, each (S,). Returns (S,) values (named tuple if several)."""
        missing = [n for n in self.inputs if n not in ticks]
        if missing:
            raise ValueError(f"{self.name}: missing input(s) {missing}")
        ins = np.empty((len(self.inputs), self.n_symbols))
        for i, n in enumerate(self.inputs):
            a = np.asarray(ticks[n], dtype=np.float64).reshape(-1)
            if a.shape[0] != self.n_symbols:
                raise ValueError(f"{self.name}: {n} has {a.shape[0]} values for {self.n_symbols} symbols")
            ins[i] = a
        out = np.empty((len(self.fd.outputs), self.n_symbols))
        sc.step_nb(self.code, self.state, ins, out, self._p, self.started)
        return out[0] if out.shape[0] == 1 else result_type(self.name)(*out)

    def seed(self, **history: Any) -> Any:
        """Replay a (T, S) history tick by tick; returns the stacked (T, S) outputs."""
        arrays = [np.asarray(history[n], dtype=np.float64) for n in self.inputs]
        rows = []
        for t in range(arrays[0].shape[0]):
            r = self.update(**{n: a[t] for n, a in zip(self.inputs, arrays)})
            rows.append(np.stack(r) if isinstance(r, tuple) else r[None])
        outs = np.stack(rows, axis=1) if rows else np.empty((len(self.fd.outputs), 0, self.n_symbols))
        return outs[0] if outs.shape[0] == 1 else result_type(self.name)(*outs)

    def snapshot(self) -> dict:
        """Plain arrays and values that `restore` turns back into an equal stream."""
        return {"name": self.name, "params": dict(self.params), "state": self.state.copy(), "started": self.started.copy()}

    @classmethod
    def restore(cls, snap: dict) -> "TalibStream":
        st = cls(snap["name"], snap["state"].shape[0], **snap["params"])
        st.state[...] = snap["state"]
        st.started[...] = snap["started"]
        return st


class _OneThread:
    """Numba's parallel drivers on the calling thread only (Numba's thread mask is per thread): the
    small per-tick-batch calls of a stream cost a thread-pool launch each otherwise, which on a busy
    host is milliseconds."""

    def __enter__(self) -> None:
        import numba  # noqa: PLC0415

        self._n = numba.get_num_threads()
        numba.set_num_threads(1)

    def __exit__(self, *exc: Any) -> None:
        import numba  # noqa: PLC0415

        numba.set_num_threads(self._n)


def _update_rows(st: TalibStream, rows: np.ndarray, ins: np.ndarray) -> np.ndarray:
    """Advance only the symbols `rows` (distinct) by one tick: ins (n_inputs, m) -> (n_outputs, m)."""
    state = st.state[rows]
    started = st.started[rows]
    out = np.empty((len(st.fd.outputs), len(rows)))
    sc.step_nb(st.code, state, np.ascontiguousarray(ins, dtype=np.float64), out, st._p, started)
    st.state[rows] = state
    st.started[rows] = started
    return out


# ---------------------------------------------------------------------------- a stream's function set
# Fields of a tick (the service's stream) the TA-Lib inputs read: `real` is close unless a spec names another.
TICK_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
_FIELD_OF = {"real": "close", "real0": "high", "real1": "low", "open": "open", "high": "high", "low": "low",
             "close": "close", "volume": "volume"}
# Cumulative functions (no forgetting: a window recompute cannot give them): the value is carried per symbol
# and advanced by the last step of a short recompute (added, or multiplied for NVI/PVI); VWAP carries its sums.
CARRY_ADD: frozenset[str] = frozenset({"CUMSUM", "PVT", "WAD"})
CARRY_MUL: frozenset[str] = frozenset({"NVI", "PVI"})
CARRY_SUMS: frozenset[str] = frozenset({"VWAP"})
WINDOW_PER_LOOKBACK = 40  # a windowed function recomputes over max(window, 40 x (lookback + 1)) bars
CARRY_WINDOW = 16  # a carried function steps from its last valid bar among the last 16 (history gaps)


def stream_mode(name: str, params: dict | None = None) -> str:
    """How a stream computes `name`: "o1" (an O(1) state per symbol, `STREAMABLE`), "carry" (cumulative
    functions, carried per symbol) or "window" (the batch function over the last bars, see `FunctionSet`)."""
    fd = FUNCTIONS[name]
    values = fd.check(params or {})
    if name in STREAMABLE and all(x == 0 for k, x in values.items() if "matype" in k):
        return "o1"
    if name in CARRY_ADD or name in CARRY_MUL or name in CARRY_SUMS:
        return "carry"
    return "window"


class FunctionSet:
    """TA-Lib functions by name over the ticks of S symbols: the service stream's `functions`.

    `specs` are (name, params, input, label): `input` (or None) is the tick field a single-series
    function reads instead of close; `label` names the outputs (`label` or `label.<output>`).
    Three forms, each equal to the batch function over the history and every tick since:
    - "o1": the streaming forms of `TalibStream` (`STREAMABLE`, matype 0), O(1) per tick;
    - "carry": CUMSUM, PVT, WAD (a value carried and advanced by the last step of a short
      recompute), NVI, PVI (multiplied), VWAP (its two sums carried): exact, O(1);
    - "window": every other function is the batch function over the last W bars of each
      symbol (a ring of the tick fields), W = max(`window`, 40 x (lookback + 1)) -- exact for
      functions of a fixed window (patterns, SMA, BBANDS, STDDEV, ...); for the recursive ones
      (MACD, TRIX, the HT_* family, MAMA, ...) the dropped history weighs less than
      (1 - 1/period)^W, far below 1e-9 of the value.
    A tick with a NaN in an input a function reads is a missing bar for it (output NaN, state
    untouched), as the batch functions' nan_policy="skip" (no max_gap). Host memory (NumPy).
    """

    def __init__(self, specs: Sequence[tuple[str, Mapping[str, Any], str | None, str]], n_symbols: int,
                 window: int = 512) -> None:
        if n_symbols < 1:
            raise ValueError(f"n_symbols must be >= 1, got {n_symbols}")
        self.n_symbols = int(n_symbols)
        self.window = int(window)
        self.entries: list[dict] = []
        self.specs = [(str(n), dict(p), f, str(lb)) for n, p, f, lb in specs]
        labels: list[str] = []
        ring = 2
        for name, params, field, label in specs:
            if name not in FUNCTIONS:
                raise ValueError(f"unknown TA-Lib function {str(name)[:80]!r}")
            fd = FUNCTIONS[name]
            values = fd.check(dict(params))
            if "periods" in fd.inputs:
                raise ValueError(f"{name} needs a 'periods' array, which is not a tick field")
            if field is not None and fd.inputs != ("real",):
                raise ValueError(f"{name} reads {list(fd.inputs)}; 'input' applies to single-series functions")
            if field is not None and field not in TICK_FIELDS:
                raise ValueError(f"{name}: input must be one of {list(TICK_FIELDS)}, got {field!r}")
            fields = tuple(field if (field is not None and i == "real") else _FIELD_OF[i] for i in fd.inputs)
            mode = stream_mode(name, values)
            e: dict = {"name": name, "params": values, "fields": fields, "mode": mode, "label": str(label),
                       "outputs": [f"{label}.{o}" if len(fd.outputs) > 1 else str(label) for o in fd.outputs]}
            if mode == "o1":
                e["stream"] = TalibStream(name, self.n_symbols, **values)
            elif mode == "window":
                e["w"] = max(self.window, WINDOW_PER_LOOKBACK * (fd.lookback(**values) + 1))
                ring = max(ring, e["w"])
            else:
                e["w"] = CARRY_WINDOW
                ring = max(ring, CARRY_WINDOW)
                e["value"] = np.full((len(fd.outputs), self.n_symbols), np.nan)
                if name in CARRY_SUMS:
                    e["sums"] = np.zeros((2, self.n_symbols))
            dup = [o for o in e["outputs"] if o in labels]
            if dup:
                raise ValueError(f"output {dup[0]!r} is given twice: give the functions distinct labels")
            labels += e["outputs"]
            self.entries.append(e)
        self.labels: tuple[str, ...] = tuple(labels)
        self.fields: tuple[str, ...] = tuple(f for f in TICK_FIELDS if any(f in e["fields"] for e in self.entries))
        self.ring = ring
        self.buf = np.full((len(TICK_FIELDS), self.n_symbols, ring), np.nan)
        self.count = np.zeros(self.n_symbols, dtype=np.int64)  # bars pushed per symbol (the ring's clock)

    # -- seeding and ticks ---------------------------------------------------------------
    def seed(self, history: Mapping[str, Any]) -> None:
        """Consume a (T, S) history (fields by name: open, high, low, close, volume)."""
        with _OneThread():
            self._seed(history)

    def _seed(self, history: Mapping[str, Any]) -> None:
        arrays = {f: np.asarray(history[f], dtype=np.float64) for f in self.fields}
        n_bars = next(iter(arrays.values())).shape[0] if arrays else 0
        rows = np.arange(self.n_symbols)
        for e in self.entries:
            if e["mode"] == "o1":
                ins = [arrays[f] for f in e["fields"]]
                valid = np.ones((n_bars, self.n_symbols), dtype=bool)
                for a in ins:
                    valid &= ~np.isnan(a)
                for t in range(n_bars):
                    r = rows[valid[t]]
                    if r.size:
                        _update_rows(e["stream"], r, np.stack([a[t, r] for a in ins]))
            elif e["mode"] == "carry" and n_bars:
                ins = [arrays[f] for f in e["fields"]]
                res = call(e["name"], ins, e["params"])
                res = res if isinstance(res, tuple) else (res,)
                for k, o in enumerate(res):
                    o = np.asarray(o, dtype=np.float64)
                    ok = ~np.isnan(o)
                    last = np.where(ok.any(axis=0), n_bars - 1 - np.argmax(ok[::-1], axis=0), 0)
                    e["value"][k] = np.where(ok.any(axis=0), o[last, rows], np.nan)
                if e["name"] in CARRY_SUMS:
                    h, lo, c, v = ins
                    with np.errstate(invalid="ignore"):
                        ok = ~(np.isnan(h) | np.isnan(lo) | np.isnan(c) | np.isnan(v))
                        e["sums"][0] = np.where(ok, ((h + lo + c) / 3.0) * v, 0.0).sum(axis=0)
                        e["sums"][1] = np.where(ok, v, 0.0).sum(axis=0)
        keep = min(n_bars, self.ring)
        for i, f in enumerate(TICK_FIELDS):
            if f in arrays and keep:
                tail = arrays[f][n_bars - keep:]
                pos = (n_bars - keep + np.arange(keep)) % self.ring
                self.buf[i][:, pos] = tail.T
        self.count[:] = n_bars

    def update(self, rows: Any, ticks: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """One tick for each of the distinct symbols `rows` (m,): fields by name, each (m,).
        Returns {output label: (m,) values}."""
        with _OneThread():
            return self._update(rows, ticks)

    def _update(self, rows: Any, ticks: Mapping[str, Any]) -> dict[str, np.ndarray]:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        m = rows.shape[0]
        tick = {f: np.asarray(ticks[f], dtype=np.float64).reshape(-1) for f in self.fields}
        for f, a in tick.items():
            if a.shape[0] != m:
                raise ValueError(f"{f} has {a.shape[0]} values for {m} symbols")
        pos = self.count[rows] % self.ring
        for i, f in enumerate(TICK_FIELDS):
            if f in tick:
                self.buf[i, rows, pos] = tick[f]
        self.count[rows] += 1
        out: dict[str, np.ndarray] = {}
        for e in self.entries:
            ins = np.stack([tick[f] for f in e["fields"]])
            ok = ~np.isnan(ins).any(axis=0)
            vals = np.full((len(e["outputs"]), m), np.nan)
            if e["mode"] == "o1":
                if ok.any():
                    vals[:, ok] = _update_rows(e["stream"], rows[ok], ins[:, ok])
            elif ok.any():
                r = rows[ok]
                if e["mode"] == "window":
                    vals[:, ok] = self._recompute(e, r)
                else:
                    vals[:, ok] = self._carry(e, r, ins[:, ok])
            for k, label in enumerate(e["outputs"]):
                out[label] = vals[k]
        return out

    def _window(self, e: dict, rows: np.ndarray, w: int) -> list[np.ndarray]:
        """The last w bars of each symbol in `rows` as (w, m) arrays per input, oldest first (NaN before
        a symbol's start; a bar missing in the history stays NaN, which the batch function skips)."""
        ks = self.count[rows][None, :] - self.ring + np.arange(self.ring)[:, None]  # the ring's bars, in order
        idx = np.where(ks >= 0, ks % self.ring, 0)
        arrays = [np.where(ks >= 0, self.buf[TICK_FIELDS.index(f)][rows[None, :], idx], np.nan) for f in e["fields"]]
        if self.ring > w:  # only the last w bars: TA-Lib on them as a late-starting column
            arrays = [a[-w:] for a in arrays]
        return arrays

    def _recompute(self, e: dict, rows: np.ndarray) -> np.ndarray:
        arrays = self._window(e, rows, e["w"])
        res = call(e["name"], arrays, e["params"])
        res = res if isinstance(res, tuple) else (res,)
        last = np.stack([np.asarray(o, dtype=np.float64)[-1] for o in res])
        if e["name"] in ("MAXINDEX", "MININDEX", "MINMAXINDEX"):  # window rows -> bars since the stream's start
            lb = FUNCTIONS[e["name"]].lookback(**e["params"])
            last = np.where(self.count[rows] > lb, last + (self.count[rows] - arrays[0].shape[0]), 0.0)
        return last

    def _carry(self, e: dict, rows: np.ndarray, ins: np.ndarray) -> np.ndarray:
        name = e["name"]
        if name in CARRY_SUMS:
            h, lo, c, v = ins
            sums = e["sums"]
            sums[0, rows] += ((h + lo + c) / 3.0) * v
            sums[1, rows] += v
            sv = sums[1, rows]
            val = np.where(sv != 0.0, sums[0, rows] / np.where(sv != 0.0, sv, 1.0), 0.0)[None, :]
            e["value"][:, rows] = val
            return val
        res = call(name, self._window(e, rows, e["w"]), e["params"])
        res = res if isinstance(res, tuple) else (res,)
        val = np.empty((len(res), rows.shape[0]))
        cols = np.arange(rows.shape[0])
        for k, o in enumerate(res):
            o = np.asarray(o, dtype=np.float64)
            ok = ~np.isnan(o[:-1])  # the step is from the symbol's last valid bar (a history gap is skipped)
            before = o[:-1][np.where(ok.any(axis=0), o.shape[0] - 2 - np.argmax(ok[::-1], axis=0), 0), cols]
            before = np.where(ok.any(axis=0), before, np.nan)
            prev = e["value"][k, rows]
            with np.errstate(all="ignore"):
                step = o[-1] / before if name in CARRY_MUL else o[-1] - before
                nxt = prev * step if name in CARRY_MUL else prev + step
            val[k] = np.where(np.isnan(prev), o[-1], np.where(np.isnan(before), prev, nxt))
            e["value"][k, rows] = val[k]
        return val

    # -- persistence ---------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Plain arrays and values: `FunctionSet.restore` continues from them exactly."""
        states = []
        for e in self.entries:
            s: dict[str, Any] = {}
            if e["mode"] == "o1":
                s = {"state": e["stream"].state.copy(), "started": e["stream"].started.copy()}
            elif e["mode"] == "carry":
                s = {"value": e["value"].copy(), **({"sums": e["sums"].copy()} if "sums" in e else {})}
            states.append(s)
        return {"specs": [tuple(sp) for sp in self.specs], "n_symbols": self.n_symbols, "window": self.window, "buf": self.buf.copy(),
                "count": self.count.copy(), "states": states}

    @classmethod
    def restore(cls, snap: Mapping[str, Any]) -> "FunctionSet":
        fs = cls(snap["specs"], snap["n_symbols"], snap["window"])
        fs.buf[...] = snap["buf"]
        fs.count[...] = snap["count"]
        for e, s in zip(fs.entries, snap["states"]):
            if e["mode"] == "o1":
                e["stream"].state[...] = s["state"]
                e["stream"].started[...] = s["started"]
            elif e["mode"] == "carry":
                e["value"][...] = s["value"]
                if "sums" in s:
                    e["sums"][...] = s["sums"]
        return fs


def function_specs(functions: Sequence[Any] | None) -> tuple[tuple[str, tuple, str | None, str], ...]:
    """Normalise stream function specs -- "RSI", ("BBANDS", {"timeperiod": 20}) or {"name", "params",
    "input", "label"} -- to hashable (name, sorted param items, input, label) tuples, validated by the
    table (ValueError naming the function and the parameter). The default label is the name and the
    given parameter values ("BBANDS_20"), as the features route names its outputs."""
    out = []
    for spec in functions or ():
        if isinstance(spec, str):
            name, params, field, label = spec, {}, None, None
        elif isinstance(spec, tuple) and len(spec) in (2, 4) and isinstance(spec[0], str):
            name, params = spec[0], dict(spec[1] or {})
            field, label = (spec[2], spec[3]) if len(spec) == 4 else (None, None)
        elif isinstance(spec, Mapping):
            extra = sorted(set(spec) - {"name", "params", "input", "label"})
            if extra:
                raise ValueError(f"a function spec has keys name, params, input, label; got {sorted(spec)}")
            name, params, field, label = spec.get("name"), dict(spec.get("params") or {}), spec.get("input"), \
                spec.get("label")
        else:
            raise ValueError(f"a function spec is a TA-Lib name or {{name, params, input, label}}, got {spec!r:.80}")
        if not isinstance(name, str) or name not in FUNCTIONS:
            raise ValueError(f"unknown TA-Lib function {str(name)[:80]!r}")
        fd = FUNCTIONS[name]
        values = fd.check(params)
        if "periods" in fd.inputs:
            raise ValueError(f"{name} needs a 'periods' array, which is not a tick field")
        if field is not None and (fd.inputs != ("real",) or field not in TICK_FIELDS):
            raise ValueError(f"{name}: 'input' picks the tick field ({list(TICK_FIELDS)}) of a single-series "
                             f"function; got {field!r}")
        if label is None:
            given = [f"{values[q.name]:g}" if isinstance(values[q.name], float) else str(values[q.name])
                     for q in fd.params if q.name in params]
            label = "_".join([name, *given] + ([str(field)] if field is not None else []))
        out.append((name, tuple(sorted(values.items())), field, str(label)))
    return tuple(out)


def output_labels(specs: Sequence[tuple[str, Any, Any, str]]) -> tuple[str, ...]:
    """The output labels of normalised specs, in order: `label`, or `label.<output>` for several outputs."""
    out: list[str] = []
    for name, _, _, label in specs:
        outs = FUNCTIONS[name].outputs
        out += [f"{label}.{o}" if len(outs) > 1 else str(label) for o in outs]
    return tuple(out)
