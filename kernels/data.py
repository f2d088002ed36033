"""Market data as a panel: (T bars, N assets) arrays of OHLCV with a time index.

Sources are long-form tables (timestamp, symbol, open, high, low, close, volume;
or close-only: timestamp, symbol, close), wide tables (a time column and one close
column per symbol) from Parquet or CSV, pandas objects (`Panel.from_close`,
`as_panel`), and a deterministic synthetic universe that needs no download.
Missing values are NaN; fields a source does not have are listed in
`Panel.missing` (their arrays are NaN) and whatever needs them refuses with an
error naming the field. Validation errors name the bad column or row.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from kernels.backend import get_array_module, is_gpu_array, to_backend

FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
LONG_COLUMNS: tuple[str, ...] = ("timestamp", "symbol", *FIELDS)
PRICE_FIELDS: tuple[str, ...] = ("open", "high", "low", "close")


class DataValidationError(ValueError):
    """Input market data is malformed; the message names the column or row."""


class MissingFieldError(DataValidationError):
    """The data has no such field (e.g. close-only data asked for high/low/volume)."""


@dataclass(frozen=True, eq=False)
class Panel:
    """OHLCV arrays of shape (T, N) sharing one time index and symbol list.

    Arrays are NumPy or CuPy (all the same kind); `index` and `symbols` stay on
    the host. `missing` names the fields the source did not have (close-only data:
    open, high, low, volume); their arrays are NaN and `field` / `require` refuse them.
    """

    index: np.ndarray
    symbols: tuple[str, ...]
    open: Any
    high: Any
    low: Any
    close: Any
    volume: Any
    missing: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        t, n = len(self.index), len(self.symbols)
        bad = [f for f in self.missing if f not in FIELDS or f == "close"]
        if bad:
            raise DataValidationError(f"missing fields must be among {FIELDS[:3] + FIELDS[4:]}, got {bad}")
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
        self.require(name)
        return getattr(self, name)

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields this panel has data for."""
        return tuple(f for f in FIELDS if f not in self.missing)

    def require(self, *names: str, who: str = "this computation") -> None:
        """Raise MissingFieldError naming the first of `names` the data does not have."""
        for name in names:
            if name in self.missing:
                raise MissingFieldError(
                    f"{who} needs {name!r}, but the data has no {name!r} column "
                    f"(it has {', '.join(self.fields)}): use OHLCV data"
                )

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
            missing=self.missing,
        )

    def to(self, backend: str, dtype: Any = None) -> "Panel":
        """The same panel with arrays on "cpu" (NumPy) or "gpu" (CuPy)."""
        return replace(self, **{f: to_backend(getattr(self, f), backend, dtype) for f in FIELDS})

    def to_frame(self) -> pd.DataFrame:
        """Long form: one row per (timestamp, symbol) with data (no columns for missing fields)."""
        host = self.to("cpu")
        t, n = self.n_bars, self.n_assets
        df = pd.DataFrame(
            {
                "timestamp": np.repeat(self.index, n),
                "symbol": np.tile(np.asarray(self.symbols, dtype=object), t),
                **{f: np.asarray(getattr(host, f)).reshape(-1) for f in self.fields},
            }
        )
        return df[np.isfinite(df["close"].to_numpy())].reset_index(drop=True)

    def close_frame(self) -> pd.DataFrame:
        """The closes as a wide host DataFrame: time index x symbol columns."""
        return pd.DataFrame(np.asarray(self.to("cpu").close), index=time_index(self.index),
                            columns=pd.Index(self.symbols, name="symbol"))

    @classmethod
    def from_close(cls, close: Any, symbols: Sequence[str] | None = None) -> "Panel":
        """A close-only panel from a wide DataFrame (time index x symbol columns), a Series
        (one symbol: its name) or a (T,) / (T, N) array (symbols "0", "1", ...; bar
        numbers as the index). Open, high, low and volume are missing (NaN).
        Closes must be numeric, positive or NaN (missing), never infinite."""
        return cls.from_fields({"close": close}, symbols=symbols)

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any], symbols: Sequence[str] | None = None) -> "Panel":
        """A panel from a mapping of field -> wide DataFrame / Series / array (close required;
        the other fields optional, missing when absent). pandas inputs must share the
        close's index and columns; rows are sorted by time."""
        unknown = sorted(set(fields) - set(FIELDS))
        if unknown:
            raise DataValidationError(f"unknown field(s) {unknown}; fields are {list(FIELDS)}")
        if "close" not in fields or fields["close"] is None:
            raise MissingFieldError("the data has no 'close': every computation needs closes")
        close = fields["close"]
        if is_gpu_array(close):
            return _device_panel(fields, symbols)
        ref = _as_frame(close, "close", symbols)
        index = _checked_index(ref.index)
        order = np.argsort(index, kind="stable")
        arrays, missing = {}, []
        for name in FIELDS:
            value = fields.get(name)
            if value is None:
                missing.append(name)
                arrays[name] = np.full(ref.shape, np.nan)
                continue
            frame = _as_frame(value, name, symbols)
            if frame.shape != ref.shape or (isinstance(value, (pd.Series, pd.DataFrame)) and isinstance(
                    close, (pd.Series, pd.DataFrame)) and not (frame.index.equals(ref.index)
                                                               and frame.columns.equals(ref.columns))):
                raise DataValidationError(f"field {name!r} must have the close's index and columns "
                                          f"(shape {ref.shape}), got shape {frame.shape}")
            arrays[name] = _checked_values(frame, name)[order]
        return cls(index=index[order], symbols=tuple(str(c) for c in ref.columns),
                   **{f: np.ascontiguousarray(a) for f, a in arrays.items()}, missing=tuple(missing))

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> "Panel":
        """Build a panel from a long-form table, validating it first.

        Close-only long data (timestamp, symbol, close, and any of open/high/low/volume)
        is accepted: the absent fields are missing (NaN)."""
        missing = tuple(f for f in FIELDS if f != "close" and f not in df.columns and "close" in df.columns)
        if missing:
            df = df.assign(**{f: np.nan for f in missing})
        validate_long_frame(df)
        df = df.assign(timestamp=pd.to_datetime(df["timestamp"], utc=False))
        wide = df.pivot(index="timestamp", columns="symbol", values=list(FIELDS)).sort_index()
        symbols = tuple(str(s) for s in wide["close"].columns)
        return cls(
            index=wide.index.to_numpy(dtype="datetime64[ns]"),
            symbols=symbols,
            **{f: np.ascontiguousarray(wide[f].to_numpy(dtype=np.float64)) for f in FIELDS},
            missing=missing,
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
    # Panels hold datetime64[ns]: a date past 2262 (or before 1677) would silently wrap around.
    outside = ((ts < pd.Timestamp.min.tz_localize(ts.dt.tz)) | (ts > pd.Timestamp.max.tz_localize(ts.dt.tz))).to_numpy()
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise DataValidationError(f"column 'timestamp' is out of range at row {row}: {ts.iloc[row]} "
                                  f"(supported: {pd.Timestamp.min.date()} to {pd.Timestamp.max.date()})")
    blank = (df["symbol"].isna() | (df["symbol"].astype(str).str.strip() == "")).to_numpy()
    if blank.any():
        raise DataValidationError(f"column 'symbol' is empty at row {int(np.flatnonzero(blank)[0])}")
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
    high, low = (pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64) for c in ("high", "low"))
    inverted = high < low  # False where either is NaN
    if inverted.any():
        row = int(np.flatnonzero(inverted)[0])
        raise DataValidationError(f"column 'high' is below column 'low' at row {row}: "
                                  f"{float(high[row])!r} < {float(low[row])!r}")
    dup = pd.DataFrame({"t": ts, "s": df["symbol"]}).duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataValidationError(
            f"duplicate (timestamp, symbol) at row {row}: ({ts.iloc[row]}, {df['symbol'].iloc[row]!r})"
        )


def read_parquet(path: str | Path) -> Panel:
    """Read a Parquet file into a Panel: long form (OHLCV or close-only) or wide (see `from_table`)."""
    import pyarrow.parquet as pq  # noqa: PLC0415

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DataValidationError(f"not a readable Parquet file: {exc}") from exc
    return from_table(table.to_pandas())


def read_csv(path: str | Path) -> Panel:
    """Read a CSV file into a Panel: long form (OHLCV or close-only) or wide (see `from_table`).

    Parsed by Arrow, whose float parsing is correctly rounded: the same bars as CSV
    and as Parquet give the same panel (and the same dataset version).
    """
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.csv as pacsv  # noqa: PLC0415

    try:
        # Symbols stay text: "00" and "0", or "1E5", must not become the same number.
        df = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={"symbol": pa.string()})).to_pandas()
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
        raise DataValidationError(f"not a readable CSV file: {exc}") from exc
    return from_table(df)


TIME_COLUMNS: tuple[str, ...] = ("timestamp", "date", "datetime", "time")


def from_table(df: pd.DataFrame) -> Panel:
    """A Panel from a table as read from a file.

    - Long form: a `symbol` column; `timestamp` and `close` required, open, high, low
      and volume optional (absent ones are missing).
    - Wide form (time x symbols, closes): no `symbol` column; the time column is the
      first of TIME_COLUMNS present (case-insensitive; else the table's index when it
      holds timestamps), every other column is one symbol's closes.
    """
    if "symbol" in df.columns:
        return Panel.from_frame(df)
    return Panel.from_close(wide_close_frame(df))


def wide_close_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A wide table's closes indexed by time (the time column parsed, the rest numeric)."""
    lower = {str(c).lower(): c for c in df.columns}
    time_col = next((lower[c] for c in TIME_COLUMNS if c in lower), None)
    if time_col is not None:
        df = df.set_index(time_col)
    elif not isinstance(df.index, pd.DatetimeIndex):
        raise DataValidationError(
            f"a table without a 'symbol' column is read as wide (time x symbols): it needs a time column "
            f"(one of {list(TIME_COLUMNS)}); got columns {[str(c) for c in df.columns][:10]}")
    if df.shape[1] == 0:
        raise DataValidationError("a wide table needs at least one symbol column besides the time column")
    fields = [str(c) for c in df.columns if str(c).lower() in FIELDS]
    if fields:
        raise DataValidationError(f"a wide table has one close column per symbol; columns {fields} look like OHLCV "
                                  f"fields: long form needs a 'symbol' column")
    return df


def time_index(index: Any) -> pd.Index:
    """A panel's index for pandas: a DatetimeIndex named "timestamp" (bar numbers: a RangeIndex "bar")."""
    idx = pd.Index(index)
    if isinstance(idx, pd.DatetimeIndex):
        return idx.rename("timestamp")
    return idx.rename("bar")


def _as_frame(value: Any, name: str, symbols: Sequence[str] | None) -> pd.DataFrame:
    """A field as a wide DataFrame (time x symbols)."""
    if isinstance(value, pd.Series):
        frame = value.to_frame(name=str(value.name) if value.name is not None else (symbols or ["0"])[0])
    elif isinstance(value, pd.DataFrame):
        frame = value
    else:
        arr = np.asarray(value)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise DataValidationError(f"{name} must be 1-D (T,) or 2-D (T, N), got shape {arr.shape}")
        frame = pd.DataFrame(arr, columns=[str(i) for i in range(arr.shape[1])])
    if symbols is not None:
        symbols = [str(s) for s in symbols]
        if len(symbols) != frame.shape[1]:
            raise DataValidationError(f"{len(symbols)} symbols given for {frame.shape[1]} {name} column(s)")
        frame = frame.set_axis(symbols, axis=1)
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataValidationError(f"{name} needs at least one bar and one symbol, got shape {frame.shape}")
    cols = [str(c) for c in frame.columns]
    if len(set(cols)) != len(cols):
        dup = sorted({c for c in cols if cols.count(c) > 1})
        raise DataValidationError(f"duplicate symbol column(s) {dup[:10]}")
    return frame


def _checked_index(index: pd.Index) -> np.ndarray:
    """Timestamps as datetime64[ns] (or bar numbers for a RangeIndex / integer index), unique."""
    if isinstance(index, pd.RangeIndex) or pd.api.types.is_integer_dtype(index.dtype):
        values = np.asarray(index, dtype=np.int64)
    else:
        try:
            values = pd.to_datetime(index).to_numpy(dtype="datetime64[ns]")
        except (ValueError, TypeError) as exc:
            raise DataValidationError(f"the time index is not a valid timestamp: {exc}") from exc
        if pd.isna(values).any():
            raise DataValidationError(f"the time index is empty at row {int(np.flatnonzero(pd.isna(values))[0])}")
    dup = pd.Index(values).duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        raise DataValidationError(f"duplicate timestamp at row {row}: {values[row]}")
    return values


def _checked_values(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A field's values as float64: numeric, finite or NaN, positive (prices) or >= 0 (volume)."""
    try:
        arr = frame.apply(pd.to_numeric, errors="raise").to_numpy(dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise DataValidationError(f"{name} is not numeric: {exc}") from exc
    for what, bad in (("infinite", np.isinf(arr)),
                      ("positive" if name != "volume" else "non-negative",
                       (arr <= 0 if name != "volume" else arr < 0) & ~np.isnan(arr))):
        if bad.any():
            t, i = (int(v) for v in np.argwhere(bad)[0])
            verb = "is" if what == "infinite" else "must be"
            raise DataValidationError(f"{name} {verb} {what} at row {t}, column {frame.columns[i]!r}: {arr[t, i]!r}")
    return arr


def _device_panel(fields: Mapping[str, Any], symbols: Sequence[str] | None) -> Panel:
    """A panel from CuPy arrays (bar numbers as the index): validated on the device by the consumers."""
    close = fields["close"]
    xp = get_array_module(close)
    if close.ndim == 1:
        close = close[:, None]
    n_bars, n = close.shape
    syms = tuple(str(s) for s in symbols) if symbols is not None else tuple(str(i) for i in range(n))
    arrays, missing = {}, []
    for name in FIELDS:
        value = fields.get(name)
        if value is None:
            missing.append(name)
            value = xp.full(close.shape, xp.nan, dtype=close.dtype)
        arrays[name] = xp.ascontiguousarray(value.reshape(close.shape) if value.ndim == 1 else value)
    return Panel(index=np.arange(n_bars), symbols=syms, **arrays, missing=tuple(missing))


def as_panel(data: Any, who: str = "data") -> Panel:
    """The one input normaliser of `run`, `sweep`, `from_signals`, `walk_forward`.

    Accepts a Panel (as is), a DataFrame of closes (time x symbols) or a Series (one
    symbol), a dict of field -> wide DataFrame (close required; open/high/low/volume
    optional), or a (T, N) NumPy / CuPy close array. Raises DataValidationError
    naming what is wrong.
    """
    if isinstance(data, Panel):
        return data
    if isinstance(data, Mapping):
        return Panel.from_fields(dict(data))
    if isinstance(data, (pd.DataFrame, pd.Series)) or getattr(data, "ndim", None) in (1, 2):
        return Panel.from_close(data)
    raise DataValidationError(
        f"{who}: data must be a kernels.data.Panel, a DataFrame of closes (time x symbols), a dict of OHLCV "
        f"DataFrames or a (T, N) close array, got {type(data).__name__}")


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
