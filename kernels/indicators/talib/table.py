"""The table of TA-Lib functions: one entry per name of `talib.get_functions()` (TA-Lib 0.8).

Each `FuncDef` gives a function's TA-Lib name, group, array inputs (TA-Lib's
argument names: `real`, `real0`/`real1`, `open`, `high`, `low`, `close`, `volume`,
`periods`), parameters with TA-Lib's defaults and valid ranges, outputs and
lookback (the number of leading bars without a value, as a Python expression of
the parameters; TA-Lib's `TA_<NAME>_Lookback`). The table drives the public
functions (`kernels.indicators.talib.<NAME>`), parameter validation
(`FuncDef.check`) and the names the HTTP features route accepts.

Integer outputs (candlestick patterns, MAXINDEX, HT_TRENDMODE, ...) are int32
with 0 in the lookback, as TA-Lib returns them; real outputs are NaN there.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Mapping

INF = math.inf

# TA-Lib's moving-average types (talib.MA_Type): the `matype` parameters take these.
MA_TYPES: dict[int, str] = {
    0: "SMA", 1: "EMA", 2: "WMA", 3: "DEMA", 4: "TEMA", 5: "TRIMA", 6: "KAMA", 7: "MAMA",
    8: "T3", 9: "HMA", 10: "IDENTITY", 11: "DEFAULT", 12: "ZLEMA", 13: "RMA",
}


def hma_lookback(p: int) -> int:
    return p - 1 + int(math.sqrt(p)) - 1


def ma_lookback(p: int, matype: int) -> int:
    """TA_MA_Lookback: leading bars without a value of MA(p, matype)."""
    if p <= 1:  # TA-Lib copies the input for period 1, whatever the type (MAMA included)
        return 0
    return {
        0: p - 1, 1: p - 1, 2: p - 1, 3: 2 * (p - 1), 4: 3 * (p - 1), 5: p - 1, 6: p, 7: 32,
        8: 6 * (p - 1), 9: hma_lookback(p), 10: 0, 11: p - 1, 12: p - 1 + (p - 1) // 2, 13: p - 1,
    }[matype]


@dataclass(frozen=True)
class ParamDef:
    """One parameter: "int" (lo..hi), "real" (finite, lo..hi) or "matype" (0..13)."""

    name: str
    default: Any
    kind: str
    lo: float
    hi: float

    def check(self, func: str, value: Any) -> Any:
        """The validated value; ValueError naming the function and the parameter."""
        if self.kind in ("int", "matype"):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value).is_integer():
                raise ValueError(f"{func}: {self.name} must be an integer in [{self.lo}, {self.hi}], got {value!r}")
            value = int(value)
        else:
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
                raise ValueError(f"{func}: {self.name} must be a finite number in [{self.lo}, {self.hi}], got {value!r}")
            value = float(value)
        if not self.lo <= value <= self.hi:
            raise ValueError(f"{func}: {self.name} must be in [{self.lo}, {self.hi}], got {value!r}")
        return value


def I(name: str, default: int, lo: int, hi: int = 100000) -> ParamDef:  # noqa: E743 - table shorthand
    return ParamDef(name, default, "int", lo, hi)


def R(name: str, default: float, lo: float, hi: float) -> ParamDef:
    return ParamDef(name, default, "real", lo, hi)


def M(name: str, default: int) -> ParamDef:
    return ParamDef(name, default, "matype", 0, 13)


# Parameter pairs (lo, hi) that TA-Lib refuses with TA_BAD_PARAM when lo > hi.
ORDERED_PARAMS: dict[str, tuple[tuple[str, str], ...]] = {"MAVP": (("minperiod", "maxperiod"),)}


@dataclass(frozen=True)
class FuncDef:
    """An entry of FUNCTIONS."""

    name: str
    group: str
    inputs: tuple[str, ...]
    params: tuple[ParamDef, ...]
    outputs: tuple[str, ...]
    lookback_expr: str
    integer: bool = False
    int_outputs: tuple[str, ...] = ()

    def is_int(self, output: str) -> bool:
        """True for an int32 output (0 where there is no value, as TA-Lib returns it)."""
        return self.integer or output in self.int_outputs

    @property
    def defaults(self) -> dict[str, Any]:
        return {q.name: q.default for q in self.params}

    def check(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """All parameters (defaults filled in), validated; ValueError naming the parameter."""
        names = [q.name for q in self.params]
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise ValueError(f"{self.name}: unknown parameter(s) {unknown}; parameters are {names}")
        values = {q.name: q.check(self.name, given.get(q.name, q.default)) for q in self.params}
        for lo, hi in ORDERED_PARAMS.get(self.name, ()):
            if values[lo] > values[hi]:
                raise ValueError(f"{self.name}: {lo} must not exceed {hi}, got {lo}={values[lo]!r} > {hi}={values[hi]!r}")
        return values

    def lookback(self, **params: Any) -> int:
        """TA-Lib's lookback for these parameters (defaults for the ones not given)."""
        values = self.check(params)
        return int(eval(self.lookback_expr, {"max": max, "ma_lookback": ma_lookback, "hma_lookback": hma_lookback}, values))  # noqa: S307 - expressions of this table only


F = FuncDef
GROUPS: tuple[str, ...] = (
    "overlap", "momentum", "volume", "volatility", "price", "cycle", "statistic",
    "math_transform", "math_operators", "pattern",
)

FUNCTIONS: dict[str, FuncDef] = {f.name: f for f in (
    # -- Cycle Indicators
    F("HT_DCPERIOD", "cycle", ('real',), (), ('real',), "32"),
    F("HT_DCPHASE", "cycle", ('real',), (), ('real',), "63"),
    F("HT_PHASOR", "cycle", ('real',), (), ('inphase', 'quadrature'), "32"),
    F("HT_SINE", "cycle", ('real',), (), ('sine', 'leadsine'), "63"),
    F("HT_TRENDMODE", "cycle", ('real',), (), ('integer',), "63", integer=True),
    # -- Math Operators
    F("ADD", "math_operators", ('real0', 'real1'), (), ('real',), "0"),
    F("CUMSUM", "math_operators", ('real',), (), ('real',), "0"),
    F("DIV", "math_operators", ('real0', 'real1'), (), ('real',), "0"),
    F("MAX", "math_operators", ('real',), (I("timeperiod", 30, 2),), ('real',), "timeperiod - 1"),
    F("MAXINDEX", "math_operators", ('real',), (I("timeperiod", 30, 2),), ('integer',), "timeperiod - 1", integer=True),
    F("MIN", "math_operators", ('real',), (I("timeperiod", 30, 2),), ('real',), "timeperiod - 1"),
    F("MININDEX", "math_operators", ('real',), (I("timeperiod", 30, 2),), ('integer',), "timeperiod - 1", integer=True),
    F("MINMAX", "math_operators", ('real',), (I("timeperiod", 30, 2),), ('min', 'max'), "timeperiod - 1"),
    F("MINMAXINDEX", "math_operators", ('real',), (I("timeperiod", 30, 2),), ('minidx', 'maxidx'), "timeperiod - 1", integer=True),
    F("MULT", "math_operators", ('real0', 'real1'), (), ('real',), "0"),
    F("SUB", "math_operators", ('real0', 'real1'), (), ('real',), "0"),
    F("SUM", "math_operators", ('real',), (I("timeperiod", 30, 2),), ('real',), "timeperiod - 1"),
    # -- Math Transform
    F("ACOS", "math_transform", ('real',), (), ('real',), "0"),
    F("ASIN", "math_transform", ('real',), (), ('real',), "0"),
    F("ATAN", "math_transform", ('real',), (), ('real',), "0"),
    F("CEIL", "math_transform", ('real',), (), ('real',), "0"),
    F("COS", "math_transform", ('real',), (), ('real',), "0"),
    F("COSH", "math_transform", ('real',), (), ('real',), "0"),
    F("EXP", "math_transform", ('real',), (), ('real',), "0"),
    F("FLOOR", "math_transform", ('real',), (), ('real',), "0"),
    F("LN", "math_transform", ('real',), (), ('real',), "0"),
    F("LOG10", "math_transform", ('real',), (), ('real',), "0"),
    F("SIN", "math_transform", ('real',), (), ('real',), "0"),
    F("SINH", "math_transform", ('real',), (), ('real',), "0"),
    F("SQRT", "math_transform", ('real',), (), ('real',), "0"),
    F("TAN", "math_transform", ('real',), (), ('real',), "0"),
    F("TANH", "math_transform", ('real',), (), ('real',), "0"),
    # -- Momentum Indicators
    F("AC", "momentum", ('high', 'low'), (I("fastperiod", 5, 2), I("slowperiod", 34, 2), I("signalperiod", 5, 2)), ('real',), "max(fastperiod, slowperiod) - 1 + signalperiod - 1"),
    F("ADX", "momentum", ('high', 'low', 'close'), (I("timeperiod", 14, 2),), ('real',), "2 * timeperiod - 1"),
    F("ADXR", "momentum", ('high', 'low', 'close'), (I("timeperiod", 14, 2),), ('real',), "3 * timeperiod - 2"),
    F("AO", "momentum", ('high', 'low'), (I("fastperiod", 5, 2), I("slowperiod", 34, 2)), ('real',), "max(fastperiod, slowperiod) - 1"),
    F("APO", "momentum", ('real',), (I("fastperiod", 12, 2), I("slowperiod", 26, 2), M("matype", 1)), ('real',), "ma_lookback(max(fastperiod, slowperiod), matype)"),
    F("AROON", "momentum", ('high', 'low'), (I("timeperiod", 14, 2),), ('aroondown', 'aroonup'), "timeperiod"),
    F("AROONOSC", "momentum", ('high', 'low'), (I("timeperiod", 14, 2),), ('real',), "timeperiod"),
    F("BOP", "momentum", ('open', 'high', 'low', 'close'), (), ('real',), "0"),
    F("CCI", "momentum", ('high', 'low', 'close'), (I("timeperiod", 14, 2),), ('real',), "timeperiod - 1"),
    F("CMO", "momentum", ('real',), (I("timeperiod", 14, 2),), ('real',), "timeperiod"),
    F("CMOU", "momentum", ('real',), (I("timeperiod", 14, 2),), ('real',), "timeperiod"),
    F("COPPOCK", "momentum", ('real',), (I("wmaperiod", 10, 1), I("roc1period", 11, 1), I("roc2period", 14, 1)), ('real',), "max(roc1period, roc2period) + wmaperiod - 1"),
    F("DPO", "momentum", ('real',), (I("timeperiod", 20, 2),), ('real',), "max(timeperiod - 1, timeperiod // 2 + 1)"),
    F("DX", "momentum", ('high', 'low', 'close'), (I("timeperiod", 14, 2),), ('real',), "timeperiod"),
    F("ER", "momentum", ('real',), (I("timeperiod", 10, 2),), ('real',), "timeperiod"),
    F("ERI", "momentum", ('high', 'low', 'close'), (I("timeperiod", 13, 1),), ('bullpower', 'bearpower'), "timeperiod - 1"),
    F("FOSC", "momentum", ('real',), (I("timeperiod", 5, 2),), ('real',), "timeperiod"),
    F("FRACTAL", "momentum", ('high', 'low'), (I("leftbars", 2, 1), I("rightbars", 2, 1)), ('swinghigh', 'swinglow'), "leftbars + rightbars", integer=True),
    F("IMI", "momentum", ('open', 'close'), (I("timeperiod", 14, 2),), ('real',), "timeperiod - 1"),
    F("KDJ", "momentum", ('high', 'low', 'close'), (I("fastk_period", 9, 1), I("slowk_period", 3, 1), M("slowk_matype", 13), I("slowd_period", 3, 1), M("slowd_matype", 13)), ('k', 'd', 'j'), "fastk_period - 1 + ma_lookback(slowk_period, slowk_matype) + ma_lookback(slowd_period, slowd_matype)"),
    F("MACD", "momentum", ('real',), (I("fastperiod", 12, 2), I("slowperiod", 26, 2), I("signalperiod", 9, 1)), ('macd', 'macdsignal', 'macdhist'), "max(fastperiod, slowperiod) - 1 + signalperiod - 1"),
    F("MACDEXT", "momentum", ('real',), (I("fastperiod", 12, 2), M("fastmatype", 0), I("slowperiod", 26, 2), M("slowmatype", 0), I("signalperiod", 9, 1), M("signalmatype", 0)), ('macd', 'macdsignal', 'macdhist'), "max(ma_lookback(fastperiod, fastmatype), ma_lookback(slowperiod, slowmatype)) + ma_lookback(signalperiod, signalmatype)"),
    F("MACDFIX", "momentum", ('real',), (I("signalperiod", 9, 1),), ('macd', 'macdsignal', 'macdhist'), "25 + signalperiod - 1"),
    F("MFI", "momentum", ('high', 'low', 'close', 'volume'), (I("timeperiod", 14, 2),), ('real',), "timeperiod"),
    F("MINUS_DI", "momentum", ('high', 'low', 'close'), (I("timeperiod", 14, 1),), ('real',), "timeperiod"),
    F("MINUS_DM", "momentum", ('high', 'low'), (I("timeperiod", 14, 1),), ('real',), "timeperiod - 1 if timeperiod > 1 else 1"),
    F("MOM", "momentum", ('real',), (I("timeperiod", 10, 1),), ('real',), "timeperiod"),
    F("PLUS_DI", "momentum", ('high', 'low', 'close'), (I("timeperiod", 14, 1),), ('real',), "timeperiod"),
    F("PLUS_DM", "momentum", ('high', 'low'), (I("timeperiod", 14, 1),), ('real',), "timeperiod - 1 if timeperiod > 1 else 1"),
    F("PPO", "momentum", ('real',), (I("fastperiod", 12, 2), I("slowperiod", 26, 2), M("matype", 1)), ('real',), "ma_lookback(max(fastperiod, slowperiod), matype)"),
    F("QSTICK", "momentum", ('open', 'close'), (I("timeperiod", 10, 1),), ('real',), "timeperiod - 1"),
    F("ROC", "momentum", ('real',), (I("timeperiod", 10, 1),), ('real',), "timeperiod"),
    F("ROCP", "momentum", ('real',), (I("timeperiod", 10, 1),), ('real',), "timeperiod"),
    F("ROCR", "momentum", ('real',), (I("timeperiod", 10, 1),), ('real',), "timeperiod"),
    F("ROCR100", "momentum", ('real',), (I("timeperiod", 10, 1),), ('real',), "timeperiod"),
    F("RSI", "momentum", ('real',), (I("timeperiod", 14, 2),), ('real',), "timeperiod"),
    F("SMI", "momentum", ('high', 'low', 'close'), (I("timeperiod", 13, 2), I("fastperiod", 2, 2), I("slowperiod", 25, 2), I("signalperiod", 9, 2)), ('smi', 'smisignal'), "timeperiod - 1 + fastperiod - 1 + slowperiod - 1 + signalperiod - 1"),
    F("STOCH", "momentum", ('high', 'low', 'close'), (I("fastk_period", 5, 1), I("slowk_period", 3, 1), M("slowk_matype", 0), I("slowd_period", 3, 1), M("slowd_matype", 0)), ('slowk', 'slowd'), "fastk_period - 1 + ma_lookback(slowk_period, slowk_matype) + ma_lookback(slowd_period, slowd_matype)"),
    F("STOCHF", "momentum", ('high', 'low', 'close'), (I("fastk_period", 5, 1), I("fastd_period", 3, 1), M("fastd_matype", 0)), ('fastk', 'fastd'), "fastk_period - 1 + ma_lookback(fastd_period, fastd_matype)"),
    F("STOCHRSI", "momentum", ('real',), (I("timeperiod", 14, 2), I("fastk_period", 5, 1), I("fastd_period", 3, 1), M("fastd_matype", 0)), ('fastk', 'fastd'), "timeperiod + fastk_period - 1 + ma_lookback(fastd_period, fastd_matype)"),
    F("TRIX", "momentum", ('real',), (I("timeperiod", 30, 1),), ('real',), "3 * (timeperiod - 1) + 1"),
    F("TSI", "momentum", ('real',), (I("firstperiod", 25, 2), I("secondperiod", 13, 2)), ('real',), "firstperiod + secondperiod - 1"),
    F("ULTOSC", "momentum", ('high', 'low', 'close'), (I("timeperiod1", 7, 1), I("timeperiod2", 14, 1), I("timeperiod3", 28, 1)), ('real',), "max(timeperiod1, timeperiod2, timeperiod3)"),
    F("VHF", "momentum", ('real',), (I("timeperiod", 28, 2),), ('real',), "timeperiod"),
    F("VORTEX", "momentum", ('high', 'low', 'close'), (I("timeperiod", 14, 1),), ('plusvi', 'minusvi'), "timeperiod"),
    F("WAD", "momentum", ('high', 'low', 'close'), (), ('real',), "0"),
    F("WILLR", "momentum", ('high', 'low', 'close'), (I("timeperiod", 14, 2),), ('real',), "timeperiod - 1"),
    # -- Overlap Studies
    F("ACCBANDS", "overlap", ('high', 'low', 'close'), (I("timeperiod", 20, 2),), ('upperband', 'middleband', 'lowerband'), "timeperiod - 1"),
    F("BBANDS", "overlap", ('real',), (I("timeperiod", 20, 2), R("nbdevup", 2.0, -INF, INF), R("nbdevdn", 2.0, -INF, INF), M("matype", 0)), ('upperband', 'middleband', 'lowerband'), "max(ma_lookback(timeperiod, matype), timeperiod - 1)"),
    F("DEMA", "overlap", ('real',), (I("timeperiod", 30, 1),), ('real',), "2 * (timeperiod - 1)"),
    F("DONCHIAN", "overlap", ('high', 'low'), (I("timeperiod", 20, 2),), ('upperband', 'middleband', 'lowerband'), "timeperiod - 1"),
    F("EMA", "overlap", ('real',), (I("timeperiod", 30, 1),), ('real',), "timeperiod - 1"),
    F("HMA", "overlap", ('real',), (I("timeperiod", 20, 1),), ('real',), "hma_lookback(timeperiod)"),
    F("HT_TRENDLINE", "overlap", ('real',), (), ('real',), "63"),
    F("KAMA", "overlap", ('real',), (I("timeperiod", 30, 1),), ('real',), "timeperiod if timeperiod > 1 else 0"),
    F("KC", "overlap", ('high', 'low', 'close'), (I("timeperiod", 20, 2), I("atrperiod", 10, 1), R("nbdev", 2.0, -INF, INF)), ('upperband', 'middleband', 'lowerband'), "max(timeperiod - 1, atrperiod)"),
    F("MA", "overlap", ('real',), (I("timeperiod", 30, 1), M("matype", 0)), ('real',), "ma_lookback(timeperiod, matype)"),
    F("MAMA", "overlap", ('real',), (R("fastlimit", 0.5, 0.01, 0.99), R("slowlimit", 0.05, 0.01, 0.99)), ('mama', 'fama'), "32"),
    F("MAVP", "overlap", ('real', 'periods'), (I("minperiod", 2, 1), I("maxperiod", 30, 2), M("matype", 0)), ('real',), "ma_lookback(maxperiod, matype)"),
    F("MIDPOINT", "overlap", ('real',), (I("timeperiod", 14, 2),), ('real',), "timeperiod - 1"),
    F("MIDPRICE", "overlap", ('high', 'low'), (I("timeperiod", 14, 2),), ('real',), "timeperiod - 1"),
    F("RMA", "overlap", ('real',), (I("timeperiod", 30, 1),), ('real',), "timeperiod - 1"),
    F("SAR", "overlap", ('high', 'low'), (R("acceleration", 0.02, 0.0, INF), R("maximum", 0.2, 0.0, INF)), ('real',), "1"),
    F("SAREXT", "overlap", ('high', 'low'), (R("startvalue", 0.0, -INF, INF), R("offsetonreverse", 0.0, 0.0, INF), R("accelerationinitlong", 0.02, 0.0, INF), R("accelerationlong", 0.02, 0.0, INF), R("accelerationmaxlong", 0.2, 0.0, INF), R("accelerationinitshort", 0.02, 0.0, INF), R("accelerationshort", 0.02, 0.0, INF), R("accelerationmaxshort", 0.2, 0.0, INF)), ('real',), "1"),
    F("SMA", "overlap", ('real',), (I("timeperiod", 30, 1),), ('real',), "timeperiod - 1"),
    F("SUPERTREND", "overlap", ('high', 'low', 'close'), (I("timeperiod", 10, 2), R("multiplier", 3.0, 0.0, INF)), ('supertrend', 'trend'), "timeperiod", int_outputs=("trend",)),
    F("T3", "overlap", ('real',), (I("timeperiod", 5, 1), R("vfactor", 0.7, 0.0, 1.0)), ('real',), "6 * (timeperiod - 1)"),
    F("TEMA", "overlap", ('real',), (I("timeperiod", 30, 1),), ('real',), "3 * (timeperiod - 1)"),
    F("TRIMA", "overlap", ('real',), (I("timeperiod", 30, 1),), ('real',), "timeperiod - 1"),
    F("VWMA", "overlap", ('real', 'volume'), (I("timeperiod", 30, 1),), ('real',), "timeperiod - 1"),
    F("WMA", "overlap", ('real',), (I("timeperiod", 30, 1),), ('real',), "timeperiod - 1"),
    F("ZLEMA", "overlap", ('real',), (I("timeperiod", 30, 1),), ('real',), "timeperiod - 1 + (timeperiod - 1) // 2"),
    # -- Pattern Recognition
    F("CDL2CROWS", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "12", integer=True),
    F("CDL3BLACKCROWS", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "13", integer=True),
    F("CDL3INSIDE", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "12", integer=True),
    F("CDL3LINESTRIKE", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "8", integer=True),
    F("CDL3OUTSIDE", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "3", integer=True),
    F("CDL3STARSINSOUTH", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "12", integer=True),
    F("CDL3WHITESOLDIERS", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "12", integer=True),
    F("CDLABANDONEDBABY", "pattern", ('open', 'high', 'low', 'close'), (R("penetration", 0.3, 0.0, INF),), ('integer',), "12", integer=True),
    F("CDLADVANCEBLOCK", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "12", integer=True),
    F("CDLBELTHOLD", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "10", integer=True),
    F("CDLBREAKAWAY", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "14", integer=True),
    F("CDLCLOSINGMARUBOZU", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "10", integer=True),
    F("CDLCONCEALBABYSWALL", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "13", integer=True),
    F("CDLCOUNTERATTACK", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "11", integer=True),
    F("CDLDARKCLOUDCOVER", "pattern", ('open', 'high', 'low', 'close'), (R("penetration", 0.5, 0.0, INF),), ('integer',), "11", integer=True),
    F("CDLDOJI", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "10", integer=True),
    F("CDLDOJISTAR", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "11", integer=True),
    F("CDLDRAGONFLYDOJI", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "10", integer=True),
    F("CDLENGULFING", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "2", integer=True),
    F("CDLEVENINGDOJISTAR", "pattern", ('open', 'high', 'low', 'close'), (R("penetration", 0.3, 0.0, INF),), ('integer',), "12", integer=True),
    F("CDLEVENINGSTAR", "pattern", ('open', 'high', 'low', 'close'), (R("penetration", 0.3, 0.0, INF),), ('integer',), "12", integer=True),
    F("CDLGAPSIDESIDEWHITE", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "7", integer=True),
    F("CDLGRAVESTONEDOJI", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "10", integer=True),
    F("CDLHAMMER", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "11", integer=True),
    F("CDLHANGINGMAN", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "11", integer=True),
    F("CDLHARAMI", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "11", integer=True),
    F("CDLHARAMICROSS", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "11", integer=True),
    F("CDLHIGHWAVE", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "10", integer=True),
    F("CDLHIKKAKE", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "5", integer=True),
    F("CDLHIKKAKEMOD", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "10", integer=True),
    F("CDLHOMINGPIGEON", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "11", integer=True),
    F("CDLIDENTICAL3CROWS", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "12", integer=True),
    F("CDLINNECK", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "11", integer=True),
    F("CDLINVERTEDHAMMER", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "11", integer=True),
    F("CDLKICKING", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "11", integer=True),
    F("CDLKICKINGBYLENGTH", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "11", integer=True),
    F("CDLLADDERBOTTOM", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "14", integer=True),
    F("CDLLONGLEGGEDDOJI", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "10", integer=True),
    F("CDLLONGLINE", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "10", integer=True),
    F("CDLMARUBOZU", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "10", integer=True),
    F("CDLMATCHINGLOW", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "6", integer=True),
    F("CDLMATHOLD", "pattern", ('open', 'high', 'low', 'close'), (R("penetration", 0.5, 0.0, INF),), ('integer',), "14", integer=True),
    F("CDLMORNINGDOJISTAR", "pattern", ('open', 'high', 'low', 'close'), (R("penetration", 0.3, 0.0, INF),), ('integer',), "12", integer=True),
    F("CDLMORNINGSTAR", "pattern", ('open', 'high', 'low', 'close'), (R("penetration", 0.3, 0.0, INF),), ('integer',), "12", integer=True),
    F("CDLONNECK", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "11", integer=True),
    F("CDLPIERCING", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "11", integer=True),
    F("CDLRICKSHAWMAN", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "10", integer=True),
    F("CDLRISEFALL3METHODS", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "14", integer=True),
    F("CDLSEPARATINGLINES", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "11", integer=True),
    F("CDLSHOOTINGSTAR", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "11", integer=True),
    F("CDLSHORTLINE", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "10", integer=True),
    F("CDLSPINNINGTOP", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "10", integer=True),
    F("CDLSTALLEDPATTERN", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "12", integer=True),
    F("CDLSTICKSANDWICH", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "7", integer=True),
    F("CDLTAKURI", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "10", integer=True),
    F("CDLTASUKIGAP", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "7", integer=True),
    F("CDLTHRUSTING", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "11", integer=True),
    F("CDLTRISTAR", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "12", integer=True),
    F("CDLUNIQUE3RIVER", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "12", integer=True),
    F("CDLUPSIDEGAP2CROWS", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "12", integer=True),
    F("CDLXSIDEGAP3METHODS", "pattern", ('open', 'high', 'low', 'close'), (), ('integer',), "2", integer=True),
    # -- Price Transform
    F("AVGDEV", "price", ('real',), (I("timeperiod", 14, 2),), ('real',), "timeperiod - 1"),
    F("AVGPRICE", "price", ('open', 'high', 'low', 'close'), (), ('real',), "0"),
    F("HA", "price", ('open', 'high', 'low', 'close'), (), ('haopen', 'hahigh', 'halow', 'haclose'), "0"),
    F("MEDPRICE", "price", ('high', 'low'), (), ('real',), "0"),
    F("TYPPRICE", "price", ('high', 'low', 'close'), (), ('real',), "0"),
    F("WCLPRICE", "price", ('high', 'low', 'close'), (), ('real',), "0"),
    # -- Statistic Functions
    F("BETA", "statistic", ('real0', 'real1'), (I("timeperiod", 5, 1),), ('real',), "timeperiod"),
    F("CORREL", "statistic", ('real0', 'real1'), (I("timeperiod", 30, 1),), ('real',), "timeperiod - 1"),
    F("LINEARREG", "statistic", ('real',), (I("timeperiod", 14, 2),), ('real',), "timeperiod - 1"),
    F("LINEARREG_ANGLE", "statistic", ('real',), (I("timeperiod", 14, 2),), ('real',), "timeperiod - 1"),
    F("LINEARREG_INTERCEPT", "statistic", ('real',), (I("timeperiod", 14, 2),), ('real',), "timeperiod - 1"),
    F("LINEARREG_SLOPE", "statistic", ('real',), (I("timeperiod", 14, 2),), ('real',), "timeperiod - 1"),
    F("PERCENTILE", "statistic", ('real',), (I("timeperiod", 30, 2, 10000), R("percentile", 50.0, 0.0, 100.0)), ('real',), "timeperiod - 1"),
    F("PERCENTRANK", "statistic", ('real',), (I("timeperiod", 100, 2),), ('real',), "timeperiod"),
    F("STDDEV", "statistic", ('real',), (I("timeperiod", 5, 2), R("nbdev", 1.0, -INF, INF)), ('real',), "timeperiod - 1"),
    F("TSF", "statistic", ('real',), (I("timeperiod", 14, 2),), ('real',), "timeperiod - 1"),
    F("VAR", "statistic", ('real',), (I("timeperiod", 5, 1), R("nbdev", 1.0, -INF, INF)), ('real',), "timeperiod - 1"),
    # -- Volatility Indicators
    F("ADR", "volatility", ('high', 'low'), (I("timeperiod", 14, 1),), ('real',), "timeperiod - 1"),
    F("ATR", "volatility", ('high', 'low', 'close'), (I("timeperiod", 14, 1),), ('real',), "timeperiod"),
    F("CVI", "volatility", ('high', 'low'), (I("timeperiod", 10, 2), I("rocperiod", 10, 1)), ('real',), "timeperiod - 1 + rocperiod"),
    F("MASSI", "volatility", ('high', 'low'), (I("fastperiod", 9, 2), I("slowperiod", 25, 2)), ('real',), "2 * (fastperiod - 1) + slowperiod - 1"),
    F("NATR", "volatility", ('high', 'low', 'close'), (I("timeperiod", 14, 1),), ('real',), "timeperiod"),
    F("RVI", "volatility", ('real',), (I("timeperiod", 14, 1), I("stddevperiod", 10, 2)), ('real',), "stddevperiod - 1 + timeperiod - 1"),
    F("TRANGE", "volatility", ('high', 'low', 'close'), (), ('real',), "1"),
    # -- Volume Indicators
    F("AD", "volume", ('high', 'low', 'close', 'volume'), (), ('real',), "0"),
    F("ADOSC", "volume", ('high', 'low', 'close', 'volume'), (I("fastperiod", 3, 2), I("slowperiod", 10, 2)), ('real',), "max(fastperiod, slowperiod) - 1"),
    F("CMF", "volume", ('high', 'low', 'close', 'volume'), (I("timeperiod", 20, 2),), ('real',), "timeperiod - 1"),
    F("EFI", "volume", ('close', 'volume'), (I("timeperiod", 13, 1),), ('real',), "timeperiod"),
    F("MARKETFI", "volume", ('high', 'low', 'volume'), (), ('real',), "0"),
    F("NVI", "volume", ('close', 'volume'), (), ('real',), "0"),
    F("OBV", "volume", ('real', 'volume'), (), ('real',), "0"),
    F("PVI", "volume", ('close', 'volume'), (), ('real',), "0"),
    F("PVO", "volume", ('volume',), (I("fastperiod", 12, 2), I("slowperiod", 26, 2), M("matype", 1)), ('real',), "ma_lookback(max(fastperiod, slowperiod), matype)"),
    F("PVT", "volume", ('close', 'volume'), (), ('real',), "0"),
    F("RVOL", "volume", ('volume',), (I("timeperiod", 20, 1),), ('real',), "timeperiod"),
    F("VWAP", "volume", ('high', 'low', 'close', 'volume'), (), ('real',), "0"),
)}
