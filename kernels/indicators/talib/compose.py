"""GPU forms of some recursive / windowed functions composed from primitive kernels and `xp`.

Each function takes `prim`, the backend's primitives: `prim.xp` (NumPy / CuPy) and
`prim.ema(x, p)`, `prim.sma(x, p)`, `prim.atr(h, l, c, p)` on 2-D float64 arrays,
each starting a column at its first non-NaN bar as TA-Lib's wrapper does. On the GPU
the primitives are the CUDA kernels of `kernels.indicators.gpu`; the tests run the
same compositions with the CPU kernels as primitives and compare with TA-Lib, so the
composition logic is checked here and the primitives on the GPU machine.

Running sums (SUM, CUMSUM, AD) use `xp.cumsum` over the valid bars (a different
summation order than TA-Lib's loop: ~1e-15 relative). Interior NaN are not TA-Lib's
here (a NaN counts as 0 in CUMSUM / AD and poisons SUM's window only).
"""
from __future__ import annotations

from typing import Any, Callable

Array = Any


def _prev(xp: Any, x: Array, k: int) -> Array:
    out = xp.full_like(x, xp.nan)
    if k < x.shape[0]:
        out[k:] = x[:-k]
    return out


def _started(xp: Any, *arrays: Array) -> Array:
    """True from each column's first bar where every input is non-NaN."""
    valid = ~xp.isnan(arrays[0])
    for a in arrays[1:]:
        valid &= ~xp.isnan(a)
    return xp.cumsum(valid, axis=0) > 0, valid


def dema(prim: Any, x: Array, timeperiod: int) -> list:
    e1 = prim.ema(x, timeperiod)
    e2 = prim.ema(e1, timeperiod)
    return [(2.0 * e1) - e2]


def tema(prim: Any, x: Array, timeperiod: int) -> list:
    e1 = prim.ema(x, timeperiod)
    e2 = prim.ema(e1, timeperiod)
    e3 = prim.ema(e2, timeperiod)
    return [e3 + ((3.0 * e1) - (3.0 * e2))]


def t3(prim: Any, x: Array, timeperiod: int, vfactor: float) -> list:
    e = [prim.ema(x, timeperiod)]
    for _ in range(5):
        e.append(prim.ema(e[-1], timeperiod))
    a = vfactor
    temp = a * a
    c1 = -temp * a
    c2 = 3.0 * (temp - c1)
    c3 = -6.0 * temp - 3.0 * (a - c1)
    c4 = 1.0 + 3.0 * a - c1 + 3.0 * temp
    return [c1 * e[5] + c2 * e[4] + c3 * e[3] + c4 * e[2]]


def trix(prim: Any, x: Array, timeperiod: int) -> list:
    xp = prim.xp
    e3 = prim.ema(prim.ema(prim.ema(x, timeperiod), timeperiod), timeperiod)
    prev = _prev(xp, e3, 1)
    safe = xp.where(prev == 0.0, 1.0, prev)
    return [xp.where(prev == 0.0, 0.0, ((e3 / safe) - 1.0) * 100.0)]


def natr(prim: Any, h: Array, lo: Array, c: Array, timeperiod: int) -> list:
    xp = prim.xp
    a = prim.atr(h, lo, c, timeperiod)
    zero = (c > -0.00000001) & (c < 0.00000001)
    out = xp.where(zero, 0.0, (a / xp.where(zero, 1.0, c)) * 100.0)
    return [xp.where(xp.isnan(a), xp.nan, out)]


def _po(prim: Any, x: Array, fastperiod: int, slowperiod: int, matype: int, percent: bool) -> list:
    xp = prim.xp
    if slowperiod < fastperiod:
        fastperiod, slowperiod = slowperiod, fastperiod
    ma = prim.sma if matype == 0 else prim.ema
    f = ma(x, fastperiod)
    s = ma(x, slowperiod)
    if not percent:
        return [xp.where(xp.isnan(s), xp.nan, f - s)]
    zero = (s > -0.00000001) & (s < 0.00000001)
    out = xp.where(zero, 0.0, ((f - s) / xp.where(zero, 1.0, s)) * 100.0)
    return [xp.where(xp.isnan(s), xp.nan, out)]


def apo(prim: Any, x: Array, fastperiod: int, slowperiod: int, matype: int) -> list:
    return _po(prim, x, fastperiod, slowperiod, matype, False)


def ppo(prim: Any, x: Array, fastperiod: int, slowperiod: int, matype: int) -> list:
    return _po(prim, x, fastperiod, slowperiod, matype, True)


def sum_(prim: Any, x: Array, timeperiod: int) -> list:
    xp = prim.xp
    started, valid = _started(xp, x)
    v = xp.where(valid, x, 0.0)
    cs = xp.cumsum(v, axis=0)
    cnt = xp.cumsum(started, axis=0)
    lag = xp.zeros_like(cs)
    lag[timeperiod:] = cs[:-timeperiod]
    return [xp.where(cnt >= timeperiod, cs - lag, xp.nan)]


def cumsum(prim: Any, x: Array) -> list:
    xp = prim.xp
    started, valid = _started(xp, x)
    return [xp.where(started, xp.cumsum(xp.where(valid, x, 0.0), axis=0), xp.nan)]


def ad(prim: Any, h: Array, lo: Array, c: Array, v: Array) -> list:
    xp = prim.xp
    started, valid = _started(xp, h, lo, c, v)
    rng = h - lo
    pos = rng > 0.0
    mfv = xp.where(pos & valid, (((c - lo) - (h - c)) / xp.where(pos, rng, 1.0)) * v, 0.0)
    return [xp.where(started, xp.cumsum(mfv, axis=0), xp.nan)]


FUNCS: dict[str, Callable[..., list]] = {
    "DEMA": dema, "TEMA": tema, "T3": t3, "TRIX": trix, "NATR": natr, "APO": apo, "PPO": ppo,
    "SUM": sum_, "CUMSUM": cumsum, "AD": ad,
}


def supported(name: str, values: dict) -> bool:
    """False where the composition does not cover the parameters (APO/PPO: SMA or EMA only; period 1)."""
    if name in ("APO", "PPO"):
        return values["matype"] in (0, 1)
    if name in ("DEMA", "TEMA", "T3", "TRIX", "NATR"):
        return values["timeperiod"] > 1
    return True
