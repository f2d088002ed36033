"""Time segments for the GPU column kernels: more threads than columns.

One thread per column leaves an H100 nearly idle on a (2520, 5000) panel: 157 warps
for 132 SMs, each walking 2,520 bars one dependent step after another (1-7 ms a call
whatever the arithmetic). A function whose value at bar t is fixed, to 1e-9, by the
last `warm` bars of its inputs can instead give each column several threads: thread
(column, g) owns bars [g * seg, (g + 1) * seg) and starts its warm-up `warm` bars
earlier (`cuda/include/column.cuh`, the entry point). Exact for windows (the value is
a function of the window: only the rounding of running sums differs); for
exponential smoothing the start-up error decays like (1 - alpha)^warm, and `warm` is
taken long enough that it is below 1e-13 relative to the state. Functions whose
state never forgets get no warm-up bound here. On the GPU `gpu_scan` cuts those
(and exponential smoothing, exactly and without a warm-up) where it can; the rest
(the Hilbert transform family, MAMA, SUPERTREND) keep one thread per column.

Only for columns without interior gaps (the NaN policy "skip" packs gappy columns
first; "propagate" never splits): a NaN inside the warm-up would otherwise be seen
by one segment and not by the next.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from kernels.indicators.talib.table import FUNCTIONS

TARGET_THREADS = 1 << 17  # threads per launch worth having: ~8 warps per SM scheduler of an H100
MIN_SEG = 32  # bars a segment owns at least
WARM_RATIO = 2  # a segment owns at least WARM_RATIO x warm bars: at most 1.5 x the work of one thread a column
DECAY_BARS = 30.0  # exponential smoothing: warm-up of DECAY_BARS / alpha bars leaves (1 - alpha)^warm < 1e-13


def _ema(p: int) -> int:
    return int(math.ceil(DECAY_BARS * (p + 1) / 2.0))


def _wilder(p: int) -> int:
    return int(math.ceil(DECAY_BARS * p))


_MA_DECAY: dict[int, Callable[[int], int] | None] = {  # table.MA_TYPES -> warm-up bars beyond the lookback
    0: lambda p: 0, 2: lambda p: 0, 5: lambda p: 0, 9: lambda p: 0, 10: lambda p: 0, 11: lambda p: 0,  # windows
    1: _ema, 12: _ema, 3: lambda p: 2 * _ema(p), 4: lambda p: 3 * _ema(p), 8: lambda p: 6 * _ema(p),
    13: _wilder, 6: None, 7: None,  # KAMA and MAMA adapt their speed: no bound
}


def _ma(p: int, matype: int) -> int | None:
    """Warm-up bars of MA(p, matype) beyond its lookback (None: no bound)."""
    if p <= 1:  # TA-Lib copies the input
        return 0
    rule = _MA_DECAY[matype]
    return None if rule is None else rule(p)


def _total(*parts: int | None) -> int | None:
    return None if any(x is None for x in parts) else sum(parts)


def _kdj_ma(p: int, matype: int) -> int | None:
    return _ma(p, 13 if matype == 11 else matype)  # KDJ's DEFAULT (11) is RMA (cpu/newer.py)


# Functions whose value is a function of their TA-Lib lookback window: warm = lookback. (VAR, CORREL,
# FOSC and AO keep running sums whose rounding depends on where they started: equal to 1e-9.) Not here,
# though windowed: MAXINDEX / MININDEX / MINMAXINDEX (on ties TA-Lib keeps the index its rescans found,
# which depends on history), BETA and COPPOCK, whose re-anchored returns and ratios of prices near
# 1e-9 amplify where the sums started (tests/.../cuda/test_time_split.py, the degenerate data), and
# LINEARREG_ANGLE: TA-Lib restarts the regression sums every 32 x period bars from the column's start, and
# the arc tangent in degrees turns a segment's other restart points into 5.8e-9 (H100, 2520 x 5000,
# bench/results/talib_gpu_paths_h100_session8.json).
WINDOW: frozenset[str] = frozenset("""
    AC ACCBANDS ADR AO AROON AROONOSC AVGDEV CCI CMF CMOU CORREL DONCHIAN DPO ER FOSC FRACTAL HMA
    IMI LINEARREG LINEARREG_INTERCEPT LINEARREG_SLOPE MAX MFI MIDPOINT MIDPRICE MIN
    MINMAX MOM PERCENTILE PERCENTRANK QSTICK ROC ROCP ROCR ROCR100 RVOL SMA STDDEV SUM
    TRANGE TRIMA TSF ULTOSC VAR VHF VORTEX VWMA WILLR WMA
""".split()) | frozenset(name for name, fd in FUNCTIONS.items() if fd.group == "pattern")

# name -> warm-up bars beyond the lookback, from the parameters (None: no bound). The smoothing
# constants are the kernels' (cpu/*.py): EMA 2 / (p + 1), Wilder's 1 / p.
EXTRA: dict[str, Callable[[Mapping[str, Any]], int | None]] = {
    "MA": lambda v: _ma(v["timeperiod"], v["matype"]),
    "EMA": lambda v: _ema(v["timeperiod"]),
    "ZLEMA": lambda v: _ema(v["timeperiod"]),
    "DEMA": lambda v: 2 * _ema(v["timeperiod"]),
    "TEMA": lambda v: 3 * _ema(v["timeperiod"]),
    "TRIX": lambda v: 3 * _ema(v["timeperiod"]),
    "T3": lambda v: 6 * _ema(v["timeperiod"]),
    "RMA": lambda v: _wilder(v["timeperiod"]),
    "BBANDS": lambda v: _ma(v["timeperiod"], v["matype"]),
    "MAVP": lambda v: _ma(v["maxperiod"], v["matype"]),
    "STOCH": lambda v: _total(_ma(v["slowk_period"], v["slowk_matype"]), _ma(v["slowd_period"], v["slowd_matype"])),
    "STOCHF": lambda v: _ma(v["fastd_period"], v["fastd_matype"]),
    "STOCHRSI": lambda v: _total(_wilder(v["timeperiod"]), _ma(v["fastd_period"], v["fastd_matype"])),
    "KDJ": lambda v: _total(_kdj_ma(v["slowk_period"], v["slowk_matype"]), _kdj_ma(v["slowd_period"], v["slowd_matype"])),
    "MACD": lambda v: max(_ema(v["fastperiod"]), _ema(v["slowperiod"])) + _ema(v["signalperiod"]),
    "MACDFIX": lambda v: _ema(26) + _ema(v["signalperiod"]),
    "MACDEXT": lambda v: _total(_total(_ma(v["fastperiod"], v["fastmatype"]), _ma(v["slowperiod"], v["slowmatype"])),
                                _ma(v["signalperiod"], v["signalmatype"])),
    "APO": lambda v: _total(_ma(v["fastperiod"], v["matype"]), _ma(v["slowperiod"], v["matype"])),
    "PPO": lambda v: _total(_ma(v["fastperiod"], v["matype"]), _ma(v["slowperiod"], v["matype"])),
    "PVO": lambda v: _total(_ma(v["fastperiod"], v["matype"]), _ma(v["slowperiod"], v["matype"])),
    **{name: (lambda v: _wilder(v["timeperiod"])) for name in (
        "RSI", "CMO", "ATR", "NATR", "PLUS_DM", "MINUS_DM", "PLUS_DI", "MINUS_DI", "DX", "RVI")},
    "ADX": lambda v: 2 * _wilder(v["timeperiod"]),
    "ADXR": lambda v: 2 * _wilder(v["timeperiod"]),
    "KC": lambda v: max(_ema(v["timeperiod"]), _wilder(v["atrperiod"])),
    "MASSI": lambda v: 2 * _ema(v["fastperiod"]),
    "EFI": lambda v: _ema(v["timeperiod"]),
    "ERI": lambda v: _ema(v["timeperiod"]),
    "TSI": lambda v: _ema(v["firstperiod"]) + _ema(v["secondperiod"]),
    "SMI": lambda v: _ema(v["slowperiod"]) + _ema(v["fastperiod"]) + _ema(v["signalperiod"]),
    "HA": lambda v: 64,  # the open halves its distance to the previous bar's each bar: 2^-64
}  # not CVI: the rate of change of an EMA of ranges of 1e-9 magnifies the start-up error (degenerate data)


def warm_bars(name: str, values: Mapping[str, Any]) -> int | None:
    """Bars of history that fix `name`'s value to 1e-9 (None: the function never forgets)."""
    if name in WINDOW:
        return FUNCTIONS[name].lookback(**values)
    extra = EXTRA.get(name)
    if extra is None:
        return None
    more = extra(values)
    return None if more is None else FUNCTIONS[name].lookback(**values) + more


@dataclass(frozen=True)
class Split:
    """How one launch cuts time: `seg` bars a thread owns (>= T: one thread a column), `warm` bars before them."""

    seg: int
    warm: int
    n_bars: int

    @property
    def segments(self) -> int:
        return -(-self.n_bars // self.seg)

    @property
    def rows(self) -> int:
        """Bars a thread's scratch plane holds."""
        return min(self.n_bars, self.seg + self.warm)


def plan(n_bars: int, n_cols: int, warm: int | None) -> Split:
    """Segments long enough to bound the repeated warm-up, many enough to fill the device."""
    whole = Split(max(n_bars, 1), 0, n_bars)
    if warm is None or n_bars <= 0:
        return whole
    want = -(-TARGET_THREADS // max(n_cols, 1))  # segments per column that would fill the device
    seg = max(MIN_SEG, WARM_RATIO * warm, -(-n_bars // want))
    if seg >= n_bars:
        return whole
    return Split(seg, warm, n_bars)
