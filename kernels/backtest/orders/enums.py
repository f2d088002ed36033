"""Enums and record dtypes of the orders engine (vectorbt's `portfolio/enums.py` layout).

Enums are NamedTuple constants so that kernels see plain ints; the record dtypes are
vectorbt's `order_dt` / `trade_dt` with one extra field each: `reason` on orders
(what triggered the order) and `exit_reason` on trades. Fields shared with vectorbt
have its names, types and meanings, so records can be compared field by field.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class SizeTypeT(NamedTuple):
    Amount: int = 0
    Value: int = 1
    Percent: int = 2
    TargetPercent: int = 3


SizeType = SizeTypeT()
SIZE_TYPES: dict[str, int] = {"amount": 0, "value": 1, "percent": 2, "targetpercent": 3}


class DirectionT(NamedTuple):
    LongOnly: int = 0
    ShortOnly: int = 1
    Both: int = 2


Direction = DirectionT()
DIRECTIONS: dict[str, int] = {"longonly": 0, "shortonly": 1, "both": 2}


class AccumulationModeT(NamedTuple):
    Disabled: int = 0
    Both: int = 1
    AddOnly: int = 2
    RemoveOnly: int = 3


AccumulationMode = AccumulationModeT()
ACCUMULATION_MODES: dict[str, int] = {"disabled": 0, "both": 1, "addonly": 2, "removeonly": 3}


class OrderSideT(NamedTuple):
    Buy: int = 0
    Sell: int = 1


OrderSide = OrderSideT()


class OrderReasonT(NamedTuple):
    """What made an order: a user signal, or one of the stops."""

    Signal: int = 0
    StopLoss: int = 1
    TrailingStop: int = 2
    TakeProfit: int = 3


OrderReason = OrderReasonT()
REASON_NAMES: tuple[str, ...] = ("signal", "stop_loss", "trailing_stop", "take_profit")


class TradeDirectionT(NamedTuple):
    Long: int = 0
    Short: int = 1


TradeDirection = TradeDirectionT()


class TradeStatusT(NamedTuple):
    Open: int = 0
    Closed: int = 1


TradeStatus = TradeStatusT()

# vectorbt's Portfolio defaults that from_signals does not expose (fixed here).
MIN_SIZE = 1e-8
REL_TOL = 1e-9
ABS_TOL = 1e-12

order_dt = np.dtype(
    [
        ("id", np.int64),
        ("col", np.int64),
        ("idx", np.int64),
        ("size", np.float64),
        ("price", np.float64),
        ("fees", np.float64),
        ("side", np.int64),
        ("reason", np.int64),
    ],
    align=True,
)

trade_dt = np.dtype(
    [
        ("id", np.int64),
        ("col", np.int64),
        ("size", np.float64),
        ("entry_idx", np.int64),
        ("entry_price", np.float64),
        ("entry_fees", np.float64),
        ("exit_idx", np.int64),
        ("exit_price", np.float64),
        ("exit_fees", np.float64),
        ("pnl", np.float64),
        ("return", np.float64),
        ("direction", np.int64),
        ("status", np.int64),
        ("parent_id", np.int64),
        ("exit_reason", np.int64),
    ],
    align=True,
)
