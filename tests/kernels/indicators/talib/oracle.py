"""The TA-Lib oracle and the test data for tests/kernels/indicators/talib: TA-Lib run column by column."""
from __future__ import annotations

import numpy as np

from kernels.data import synthetic_panel
from kernels.indicators.talib.table import FUNCTIONS, FuncDef

INDEX_OUTPUTS = ("MAXINDEX", "MININDEX", "MINMAXINDEX")


def panel_data(n_bars: int = 400, n_assets: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    """Realistic OHLCV (kernels.data.synthetic_panel) as a dict of (T, N) float64 arrays."""
    p = synthetic_panel(n_assets=n_assets, n_bars=n_bars, seed=seed)
    return {f: np.ascontiguousarray(getattr(p, f), dtype=np.float64) for f in ("open", "high", "low", "close", "volume")}


def random_data(n_bars: int = 400, n_assets: int = 3, seed: int = 1) -> dict[str, np.ndarray]:
    """Rough random OHLCV: a random walk with wide, random bars (more equal/degenerate candles)."""
    rng = np.random.default_rng(seed)
    c = 50 + np.cumsum(rng.normal(0, 1, (n_bars, n_assets)), axis=0)
    c = np.abs(c) + 1.0
    o = c + rng.normal(0, 1, c.shape)
    o = np.abs(o) + 0.5
    h = np.maximum(o, c) + np.abs(rng.normal(0, 1, c.shape)) * (rng.random(c.shape) < 0.8)
    lo = np.minimum(o, c) - np.abs(rng.normal(0, 1, c.shape)) * (rng.random(c.shape) < 0.8)
    lo = np.maximum(lo, 0.1)
    # some doji-like bars and repeated prices, which the candle patterns react to
    doji = rng.random(c.shape) < 0.1
    o = np.where(doji, c, o)
    v = np.round(rng.uniform(1e3, 1e5, c.shape))
    return {"open": o, "high": h, "low": lo, "close": c, "volume": v}


def inputs_for(fd: FuncDef, d: dict[str, np.ndarray], seed: int = 2) -> list[np.ndarray]:
    """The arrays to pass for fd's inputs, taken from OHLCV data d."""
    out = []
    for name in fd.inputs:
        if name in d:
            out.append(d[name])
        elif name == "periods":
            rng = np.random.default_rng(seed)
            out.append(rng.integers(1, 45, d["close"].shape).astype(np.float64))
        elif name == "real0":
            out.append(d["high"])
        elif name == "real1":
            out.append(d["low"] if fd.name not in ("BETA", "CORREL") else d["close"][:, ::-1].copy())
        else:  # real
            if fd.group == "math_transform":
                c = d["close"]
                out.append(c / (np.nanmax(c, axis=0) * 1.01))
            else:
                out.append(d["close"])
    return out


def reference(fd: FuncDef, arrays: list[np.ndarray], params: dict) -> list[np.ndarray]:
    """TA-Lib's outputs, column by column, each column from its first bar where all inputs are valid."""
    import talib  # noqa: PLC0415 - the data helpers above are used where TA-Lib is absent (bench/device/indicators/gpu_talib_vs_cpu.py)

    fn = getattr(talib, fd.name)
    n, m = arrays[0].shape
    outs = [np.full((n, m), np.nan) for _ in fd.outputs]
    for j in range(m):
        cols = [np.ascontiguousarray(a[:, j], dtype=np.float64) for a in arrays]
        valid = np.ones(n, dtype=bool)
        for c in cols:
            valid &= ~np.isnan(c)
        s = int(np.argmax(valid)) if valid.any() else n
        if s >= n:
            continue
        r = fn(*[c[s:] for c in cols], **params)
        r = r if isinstance(r, (list, tuple)) else [r]
        for k, v in enumerate(r):
            v = np.asarray(v, dtype=np.float64)
            if fd.name in INDEX_OUTPUTS:
                lb = fd.lookback(**params)
                v = v.copy()
                v[lb:] += s
            outs[k][s:, j] = v
    outs = [np.where(np.isnan(o), 0, o).astype(np.int32) if fd.is_int(k) else o for k, o in zip(fd.outputs, outs)]
    return outs


def varied_params(fd: FuncDef) -> dict:
    """A non-default parameter set inside the valid ranges."""
    out = {}
    for q in fd.params:
        if q.kind == "int":
            out[q.name] = int(min(q.hi, max(q.lo, q.default + 3 if q.default < 20 else q.default - 7)))
        elif q.kind == "matype":
            out[q.name] = (q.default + 1) % 14 if (q.default + 1) % 14 != 7 else 8
        else:
            v = q.default * 0.75 if q.default != 0 else 0.01
            out[q.name] = float(min(q.hi, max(q.lo, v)))
    if fd.name == "MAVP":
        out["maxperiod"] = 40
    return out


ALL = list(FUNCTIONS)


def candle_data(n_bars: int = 6000, n_assets: int = 2, seed: int = 3) -> dict[str, np.ndarray]:
    """Bars drawn from a small alphabet of candle shapes (long / short / doji bodies, no / short / long
    shadows, gaps up and down, opens inside the previous body, closes equal to the previous close, runs
    of one colour), so that even rare patterns occur."""
    rng = np.random.default_rng(seed)
    shape = (n_bars, n_assets)
    body = rng.choice([3.0, 1.0, 0.2, 0.0], size=shape, p=[0.4, 0.25, 0.2, 0.15])
    keep = rng.random(shape) < 0.65
    flip = rng.choice([1.0, -1.0], size=shape)
    how = rng.choice(6, size=shape, p=[0.3, 0.15, 0.15, 0.25, 0.1, 0.05])
    frac = rng.uniform(0.1, 0.9, shape)
    up = rng.choice([0.0, 0.1, 1.0, 3.0], size=shape)
    dn = rng.choice([0.0, 0.1, 1.0, 3.0], size=shape)
    o = np.empty(shape)
    c = np.empty(shape)
    pc = np.full(n_assets, 100.0)
    po = np.full(n_assets, 100.0)
    col = np.ones(n_assets)
    for t in range(n_bars):
        col = np.where(keep[t], col, flip[t])
        g = np.select([how[t] == 1, how[t] == 2, how[t] == 3, how[t] == 4],
                      [4.0, -4.0, (po - pc) * frac[t], 0.5], 0.0)
        o[t] = pc + g
        c[t] = np.where(how[t] == 5, pc, o[t] + col * body[t])
        col = np.where(c[t] >= o[t], 1.0, -1.0)
        shift = np.where(c[t] < 20.0, 50.0, np.where(c[t] > 400.0, -50.0, 0.0))
        o[t] += shift
        c[t] += shift
        pc, po = c[t], o[t]
    h = np.maximum(o, c) + up
    lo = np.minimum(o, c) - dn
    v = np.round(rng.uniform(1e3, 1e5, shape))
    return {"open": o, "high": h, "low": lo, "close": c, "volume": v}


def grid_data(n_bars: int = 400, n_assets: int = 3, seed: int = 11, zeros: bool = False,
              tiny: bool = False) -> dict[str, np.ndarray]:
    """Prices on a 0.25 tick grid: many unchanged bars and dojis, flat stretches of up to ~30 bars;
    optionally bars at price 0 and closes 1e-9 off the grid. Column 1 starts late."""
    rng = np.random.default_rng(seed)
    shape = (n_bars, n_assets)
    c = np.abs(5 + np.cumsum(rng.choice([-1.0, 0.0, 0.0, 0.0, 1.0], shape), axis=0) * 0.25) + 0.25
    o = np.where(rng.random(shape) < 0.5, c, np.roll(c, 1, axis=0))
    h = np.maximum(o, c) + rng.choice([0.0, 0.0, 0.25], shape)
    lo = np.maximum(np.minimum(o, c) - rng.choice([0.0, 0.0, 0.25], shape), 0.0)
    flat = rng.random(shape) < 0.02
    for _ in range(30):
        flat |= np.roll(flat, 1, axis=0) & (rng.random(shape) < 0.9)
    for a in (o, h, lo):
        a[flat] = c[flat]
    if zeros:
        z = rng.random(shape) < 0.03
        for a in (o, h, lo, c):
            a[z] = 0.0
    if tiny:
        t = rng.random(shape) < 0.05
        c[t] += 1e-9
    out = {"open": o, "high": h, "low": lo, "close": c, "volume": np.round(rng.uniform(1e3, 1e5, shape))}
    for v in out.values():
        v[:23, 1] = np.nan
    return out
