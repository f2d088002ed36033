"""Strategies on the orders engine: entry/exit signals, and target positions turned into them.

A strategy may return target positions (T, N) in [-1, 1] (every built-in does) or
a `Signals` (boolean entries/exits, and optionally short entries/exits). The orders
engine needs signals, the returns engine positions; the two conversions here are
written once for NumPy and CuPy (the array module follows the arrays):

- `positions_to_signals(p)`: with `p[-1] = 0`, a long entry where `p[t] > 0` and
  `p[t-1] <= 0`, a long exit where `p[t] <= 0` and `p[t-1] > 0`, a short entry where
  `p[t] < 0` and `p[t-1] >= 0`, a short exit where `p[t] >= 0` and `p[t-1] < 0`
  (a flip from long to short is a long exit and a short entry on the same bar). Only
  the sign of a position is kept: the order size comes from the engine's `size`
  and `size_type`.
- `signals_to_positions(s)`: the state machine per column, from flat: an entry and
  its own exit on the same bar cancel, so do a long and a short entry; when long,
  a valid short entry reverses to short, else a long exit goes flat; symmetrically
  when short; when flat, a valid entry opens its side.

Semantics: docs/backtest-semantics.md ("Strategies on the orders engine").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from kernels.backend import get_array_module, is_gpu_array


@dataclass(frozen=True, eq=False)
class Signals:
    """Boolean (T, N) signals of a strategy for the orders engine (NumPy or CuPy).

    Argument names are those of `from_signals` (vectorbt's `Portfolio.from_signals`).
    `short_entries` / `short_exits` None: long-only signals.
    """

    entries: Any
    exits: Any
    short_entries: Any = None
    short_exits: Any = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.entries.shape)

    @property
    def has_short(self) -> bool:
        return self.short_entries is not None or self.short_exits is not None

    def as_kwargs(self) -> dict[str, Any]:
        """The signal arguments of `from_signals`."""
        out = {"entries": self.entries, "exits": self.exits}
        if self.has_short:
            out["short_entries"] = self.short_entries
            out["short_exits"] = self.short_exits
        return out


def positions_to_signals(positions: Any) -> Signals:
    """Entries/exits from target positions (T, N) (see the module docstring).

    The short signals are None when no position is negative."""
    xp = get_array_module(positions)
    p = positions
    prev = xp.zeros_like(p)
    prev[1:] = p[:-1]
    long_now, long_before = p > 0, prev > 0
    entries = long_now & ~long_before
    exits = ~long_now & long_before
    if not bool((p < 0).any()):
        return Signals(entries, exits)
    short_now, short_before = p < 0, prev < 0
    return Signals(entries, exits, short_now & ~short_before, ~short_now & short_before)


@njit(cache=True, nogil=True)
def signals_to_positions_nb(le, lx, se, sx, out):  # pragma: no cover - compiled
    """The signal state machine per column of (T, N) boolean signals, written into out."""
    n_bars, n_cols = le.shape
    for i in range(n_cols):
        state = 0
        for t in range(n_bars):
            long_ok = le[t, i] and not lx[t, i]
            short_ok = se[t, i] and not sx[t, i]
            if long_ok and short_ok:
                long_ok = False
                short_ok = False
            if state == 1:
                if short_ok:
                    state = -1
                elif lx[t, i]:
                    state = 0
            elif state == -1:
                if long_ok:
                    state = 1
                elif sx[t, i]:
                    state = 0
            elif long_ok:
                state = 1
            elif short_ok:
                state = -1
            out[t, i] = state
    return out


def signals_to_positions(signals: Signals, dtype: Any = np.float64) -> Any:
    """Target positions in {-1, 0, 1} (T, N) of `signals` (see the module docstring)."""
    on_gpu = is_gpu_array(signals.entries)
    host = [np.ascontiguousarray(_host(a) if a is not None else np.zeros(signals.shape, bool), dtype=bool)
            for a in (signals.entries, signals.exits, signals.short_entries, signals.short_exits)]
    out = signals_to_positions_nb(*host, np.empty(signals.shape, dtype=np.float64)).astype(dtype, copy=False)
    if on_gpu:
        import cupy as cp  # noqa: PLC0415

        return cp.asarray(out)
    return out


def _host(a: Any) -> np.ndarray:
    return a.get() if is_gpu_array(a) else np.asarray(a)


def strategy_signals(strategy: Any, panel: Any, **params: Any) -> Signals:
    """The entry/exit signals a strategy (registered name, spec or callable) emits on `panel`:
    its own `Signals`, or its target positions converted (`positions_to_signals`).
    `params` are validated and completed with the strategy's defaults."""
    from kernels.strategies.registry import as_spec, validate_params, validate_positions  # noqa: PLC0415

    spec = as_spec(strategy)
    params = validate_params(spec, params, n_bars=int(panel.close.shape[0]))
    out = spec.fn(panel, **params)
    shape = tuple(panel.close.shape)
    if isinstance(out, Signals):
        validate_signals(out, shape, spec.name)
        return out
    validate_positions(out, shape, spec.name)
    return positions_to_signals(out)


def validate_signals(signals: Signals, shape: tuple[int, int], name: str = "strategy") -> None:
    """Raise StrategyError unless every given signal is a boolean (T, N) array."""
    from kernels.strategies.registry import StrategyError  # noqa: PLC0415

    for field in ("entries", "exits", "short_entries", "short_exits"):
        a = getattr(signals, field)
        if a is None:
            if field in ("entries", "exits"):
                raise StrategyError(f"strategy {name!r} returned Signals without {field}")
            continue
        shp = tuple(getattr(a, "shape", ()))
        if shp != tuple(shape):
            raise StrategyError(f"strategy {name!r} returned {field} of shape {shp or None}, expected {tuple(shape)}")
        if getattr(getattr(a, "dtype", None), "kind", None) != "b":
            raise StrategyError(f"strategy {name!r} returned {field} of dtype {getattr(a, 'dtype', None)}, "
                                "expected bool")


__all__ = ["Signals", "positions_to_signals", "signals_to_positions", "strategy_signals", "validate_signals"]
