"""Market data as a panel: (T bars, N assets) arrays of OHLCV with a time index.

Sources are long-form tables (timestamp, symbol, open, high, low, close, volume)
from Parquet or CSV, and a deterministic synthetic universe that needs no download.
Missing values are NaN. Validation errors name the bad column or row.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from kernels.backend import is_gpu_array, to_backend

FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
LONG_COLUMNS: tuple[str, ...] = ("timestamp", "symbol", *FIELDS)
PRICE_FIELDS: tuple[str, ...] = ("open", "high", "low", "close")


class DataValidationError(ValueError):
    """Input market data is malformed; the message names the column or row."""


@dataclass(frozen=True, eq=False)
class Panel:
    """OHLCV arrays of shape (T, N) sharing one time index and symbol list.

    Arrays are NumPy or CuPy (all the same kind); `index` and `symbols` stay on
    the host.
    """

    index: np.ndarray
    symbols: tuple[str, ...]
    open: Any
    high: Any
    low: Any
    close: Any
    volume: Any

    def __post_init__(self) -> None:
        t, n = len(self.index), len(self.symbols)
        if len(set(self.symbols)) != n:
            raise DataValidationError("symbols must be unique")
        for name in FIELDS:
            arr = getattr(self, name)
            if getattr(arr, "ndim", None) != 2 or tuple(arr.shape) != (t, n):
                raise DataValidationError(
                    f"column {name!r} must have shape (T={t}, N={n}), got {getattr(arr, 'shape', None)}"
                )

    @property
    def n_bars(self) -> int:
        return len(self.index)

    @property
    def n_assets(self) -> int:
        return len(self.symbols)

    @property
    def nbytes(self) -> int:
        return sum(int(getattr(self, f).nbytes) for f in FIELDS)

    def field(self, name: str) -> Any:
        if name not in FIELDS:
            raise KeyError(f"unknown field {name!r}; fields are {FIELDS}")
        return getattr(self, name)

    def select(self, symbols: Sequence[str] | None = None, start: int = 0, stop: int | None = None) -> "Panel":
        """A sub-panel of the given symbols (in that order) and bar range."""
        cols: Any = slice(None)
        syms = self.symbols
        if symbols is not None:
            pos = {s: i for i, s in enumerate(self.symbols)}
            missing = [s for s in symbols if s not in pos]
            if missing:
                raise KeyError(f"unknown symbols: {missing[:10]}")
            cols = [pos[s] for s in symbols]
            syms = tuple(symbols)
        rows = slice(start, stop)
        return Panel(
            index=self.index[rows],
            symbols=tuple(syms),
            **{f: getattr(self, f)[rows][:, cols] for f in FIELDS},
        )

    def to(self, backend: str, dtype: Any = None) -> "Panel":
        """The same panel with arrays on "cpu" (NumPy) or "gpu" (CuPy)."""
        return replace(self, **{f: to_backend(getattr(self, f), backend, dtype) for f in FIELDS})

    def to_frame(self) -> pd.DataFrame:
        """Long form: one row per (timestamp, symbol) with data."""
        host = self.to("cpu")
        t, n = self.n_bars, self.n_assets
        df = pd.DataFrame(
            {
                "timestamp": np.repeat(self.index, n),
                "symbol": np.tile(np.asarray(self.symbols, dtype=object), t),
                **{f: np.asarray(getattr(host, f)).reshape(-1) for f in FIELDS},
            }
        )
        return df[np.isfinite(df["close"].to_numpy())].reset_index(drop=True)

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> "Panel":
        """Build a panel from a long-form table, validating it first."""
        validate_long_frame(df)
        df = df.assign(timestamp=pd.to_datetime(df["timestamp"], utc=False))
        wide = df.pivot(index="timestamp", columns="symbol", values=list(FIELDS)).sort_index()
        symbols = tuple(str(s) for s in wide["close"].columns)
        return cls(
            index=wide.index.to_numpy(dtype="datetime64[ns]"),
            symbols=symbols,
            **{f: np.ascontiguousarray(wide[f].to_numpy(dtype=np.float64)) for f in FIELDS},
        )


def validate_long_frame(df: pd.DataFrame) -> None:
    """Raise DataValidationError naming the first bad column or row."""
    missing = [c for c in LONG_COLUMNS if c not in df.columns]
    if missing:
        raise DataValidationError(f"missing column(s) {missing}; expected {list(LONG_COLUMNS)}")
    if len(df) == 0:
        raise DataValidationError("no rows")
    try:
        ts = pd.to_datetime(df["timestamp"])
    except (ValueError, TypeError) as exc:
        raise DataValidationError(f"column 'timestamp' is not a valid timestamp: {exc}") from exc
    if ts.isna().any():
        raise DataValidationError(f"column 'timestamp' is empty at row {int(np.flatnonzero(ts.isna())[0])}")
    if df["symbol"].isna().any():
        raise DataValidationError(f"column 'symbol' is empty at row {int(np.flatnonzero(df['symbol'].isna())[0])}")
    for col in FIELDS:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() & df[col].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataValidationError(f"column {col!r} is not numeric at row {row}: {df[col].iloc[row]!r}")
        arr = values.to_numpy(dtype=np.float64)
        if np.isinf(arr).any():
            raise DataValidationError(f"column {col!r} is infinite at row {int(np.flatnonzero(np.isinf(arr))[0])}")
        floor_bad = arr <= 0 if col in PRICE_FIELDS else arr < 0
        if np.any(floor_bad & ~np.isnan(arr)):
            row = int(np.flatnonzero(floor_bad & ~np.isnan(arr))[0])
            kind = "positive" if col in PRICE_FIELDS else "non-negative"
            raise DataValidationError(f"column {col!r} must be {kind}, got {arr[row]!r} at row {row}")
    dup = pd.DataFrame({"t": ts, "s": df["symbol"]}).duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataValidationError(
            f"duplicate (timestamp, symbol) at row {row}: ({ts.iloc[row]}, {df['symbol'].iloc[row]!r})"
        )


def read_parquet(path: str | Path) -> Panel:
    """Read a long-form Parquet file into a Panel."""
    import pyarrow.parquet as pq  # noqa: PLC0415

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DataValidationError(f"not a readable Parquet file: {exc}") from exc
    return Panel.from_frame(table.to_pandas())


def read_csv(path: str | Path) -> Panel:
    """Read a long-form CSV file into a Panel.

    Parsed by Arrow, whose float parsing is correctly rounded: the same bars as CSV
    and as Parquet give the same panel (and the same dataset version).
    """
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.csv as pacsv  # noqa: PLC0415

    try:
        df = pacsv.read_csv(path).to_pandas()
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
        raise DataValidationError(f"not a readable CSV file: {exc}") from exc
    return Panel.from_frame(df)


def write_parquet(panel: Panel, path: str | Path) -> None:
    """Write a Panel as long-form Parquet."""
    panel.to_frame().to_parquet(path, index=False)


@dataclass(frozen=True)
class RegimeParams:
    """Volatility regimes of the synthetic universe (annualised, per bar switch odds)."""

    calm_vol: float = 0.15
    stressed_vol: float = 0.45
    p_enter_stress: float = 0.01
    p_leave_stress: float = 0.05
    drift_mean: float = 0.06
    drift_std: float = 0.10
    bars_per_year: int = 252


def synthetic_panel(
    n_assets: int,
    n_bars: int,
    seed: int = 0,
    start: str = "2010-01-04",
    freq: str = "B",
    regimes: RegimeParams = RegimeParams(),
    backend: str = "cpu",
) -> Panel:
    """A deterministic universe: geometric Brownian motion with volatility regimes.

    Each asset switches between a calm and a stressed volatility regime (a
    two-state Markov chain); bars carry consistent OHLC and volume. The same
    arguments always give the same panel.
    """
    if n_assets < 1 or n_bars < 2:
        raise ValueError(f"need n_assets >= 1 and n_bars >= 2, got {n_assets} x {n_bars}")
    rng = np.random.default_rng(seed)
    bpy = regimes.bars_per_year
    u = rng.random((n_bars, n_assets))
    stressed = np.zeros((n_bars, n_assets), dtype=bool)
    state = rng.random(n_assets) < regimes.p_enter_stress / (regimes.p_enter_stress + regimes.p_leave_stress)
    for t in range(n_bars):
        flip = np.where(state, u[t] < regimes.p_leave_stress, u[t] < regimes.p_enter_stress)
        state = state ^ flip
        stressed[t] = state
    vol = np.where(stressed, regimes.stressed_vol, regimes.calm_vol) / np.sqrt(bpy)
    drift = rng.normal(regimes.drift_mean, regimes.drift_std, n_assets) / bpy
    log_ret = drift - 0.5 * vol**2 + vol * rng.standard_normal((n_bars, n_assets))
    start_price = np.exp(rng.uniform(np.log(10.0), np.log(500.0), n_assets))
    close = start_price * np.exp(np.cumsum(log_ret, axis=0))
    prev_close = np.vstack([start_price[None, :], close[:-1]])
    open_ = prev_close * np.exp(0.25 * vol * rng.standard_normal((n_bars, n_assets)))
    wick = 0.5 * vol * np.abs(rng.standard_normal((2, n_bars, n_assets)))
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    base_volume = rng.uniform(1e5, 1e7, n_assets)
    volume = np.round(base_volume * np.exp(0.3 * rng.standard_normal((n_bars, n_assets))) * (1 + 20 * np.abs(log_ret)))
    index = pd.date_range(start=start, periods=n_bars, freq=freq).to_numpy(dtype="datetime64[ns]")
    width = max(4, len(str(n_assets - 1)))
    panel = Panel(
        index=index,
        symbols=tuple(f"S{i:0{width}d}" for i in range(n_assets)),
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
    )
    return panel if backend == "cpu" else panel.to(backend)


def with_late_start(panel: Panel, starts: dict[str, int]) -> Panel:
    """A copy where each named symbol has no data (NaN) before its start bar."""
    host = panel.to("cpu")
    arrays = {f: np.array(getattr(host, f), copy=True) for f in FIELDS}
    pos = {s: i for i, s in enumerate(panel.symbols)}
    for sym, start in starts.items():
        for f in FIELDS:
            arrays[f][:start, pos[sym]] = np.nan
    out = replace(host, **arrays)
    return out.to("gpu") if is_gpu_array(panel.close) else out
