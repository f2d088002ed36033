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
"""
from __future__ import annotations

from typing import Any

import numpy as np

from kernels.indicators.talib import stream_cpu as sc
from kernels.indicators.talib.api import result_type
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
        return 5 + 2 * v["timeperiod"]
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
