"""Request and response models of the HTTP API (`/v1`).

Create shapes (`*Create`) are what clients send: strict, bounded, and checked
before anything reaches the coordinator, so that a mistake is a 422 naming the
field. Public shapes (`*Public`) are what the API returns. Limits that depend on
configuration (request bytes, grid size, priorities) are checked in the routes
with the `ServeConfig`; the bounds here are structural.
"""
from __future__ import annotations

import math
import re
from dataclasses import fields as _fields
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from actors.datasets import NAME_PATTERN as _DATASET_NAME
from actors.datasets import VERSION_PATTERN as _DATASET_VERSION
from kernels.backtest.metrics import METRICS
from kernels.data import FIELDS
from kernels.indicators import INDICATORS
from kernels.indicators.talib.table import FUNCTIONS as TALIB_FUNCTIONS
from kernels.indicators.stream import OUTPUTS as _STREAM_OUTPUTS
from kernels.indicators.stream import StreamConfig as _StreamConfig

# Structural bounds (configurable limits live in actors.settings.ServeConfig).
MAX_NAME_CHARS = 64
MAX_SYMBOL_CHARS = 64
MAX_PARAMS = 32
MAX_STREAM_FUNCTIONS = 64  # TA-Lib functions of one stream
MAX_GRID_VALUES = 10_000  # values of one grid parameter (the product is bounded by configuration)
MAX_TOP_K = 1_000
MAX_WINDOW = 1_000_000
MAX_INLINE_ROWS = 1_000_000
SYMBOL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}\Z")
LABEL_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}\Z")
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
STREAM_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")

Scalar = Union[bool, int, float, str]
JobStateName = Literal["queued", "running", "preempted", "succeeded", "failed", "cancelled"]
PriorityName = Literal["REALTIME", "HIGH", "NORMAL", "LOW", "IDLE"]


class _Strict(BaseModel):
    """Unknown fields are errors: a typo must not be silently ignored. Types are strict:
    `true` is not an int and `"5"` is not a number."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _check_scalar(where: str, value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} must be finite")
    if isinstance(value, str) and len(value) > MAX_NAME_CHARS:
        raise ValueError(f"{where} is longer than {MAX_NAME_CHARS} characters")
    return value


def _check_symbols(symbols: Optional[list[str]]) -> Optional[list[str]]:
    if symbols is None:
        return None
    if not symbols:
        raise ValueError("give at least one symbol, or leave symbols out for all of them")
    for i, s in enumerate(symbols):
        if not SYMBOL_PATTERN.match(s):
            raise ValueError(f"symbols[{i}] = {s[:80]!r} is not a valid symbol")
    if len(set(symbols)) != len(symbols):
        raise ValueError("symbols must be unique")
    return symbols


def _check_dataset(v: Optional[str]) -> Optional[str]:
    if v is not None and not _DATASET_NAME.match(v):
        raise ValueError("use 1-64 letters, digits, '_' or '-', starting with a letter")
    return v


def _check_version(v: Optional[str]) -> Optional[str]:
    if v is not None and not _DATASET_VERSION.match(v):
        raise ValueError("a dataset version is 16 lowercase hexadecimal characters")
    return v


def _check_stream_id(v: str) -> str:
    if not STREAM_ID_PATTERN.match(v):
        raise ValueError("a stream id is 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit")
    return v


# request field types with their checks (Optional[...] of them skips the check for None)
DatasetName = Annotated[str, AfterValidator(_check_dataset)]
DatasetVersion = Annotated[str, AfterValidator(_check_version)]
Symbols = Annotated[list[str], AfterValidator(_check_symbols)]
StreamId = Annotated[str, AfterValidator(_check_stream_id)]


def _normalise_priority(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    text = str(value).strip().upper()
    if text not in PriorityName.__args__:  # type: ignore[attr-defined]
        raise ValueError(f"unknown priority {value!r}; classes are {list(PriorityName.__args__)}")  # type: ignore[attr-defined]
    return text


# A job class by name, any case, normalised to upper case (None: the endpoint's default).
Priority = Annotated[Optional[str], AfterValidator(_normalise_priority)]


class _DataSelection(_Strict):
    """Which dataset (and version) and which of its symbols a request works on."""

    dataset: DatasetName = Field("synthetic", description="registered dataset name", max_length=MAX_NAME_CHARS)
    dataset_version: Optional[DatasetVersion] = Field(None,
                                                      description="content-hash version (default: the latest)")
    symbols: Optional[Symbols] = Field(None, description="symbols to use, in order (default: all)")


class _Costs(_Strict):
    fees: float = Field(0.0, ge=0.0, lt=1.0, description="fraction of traded value")
    slippage: float = Field(0.0, ge=0.0, lt=1.0, description="fraction of traded value")
    bars_per_year: int = Field(252, ge=1, le=1_000_000, description="annualisation of the metrics")


# ------------------------------------------------------------------------ jobs (create)
class _OrderOptions(_Strict):
    """`engine` and the orders engine's options (vectorbt's `from_signals` names; docs/backtest-semantics.md)."""

    engine: Literal["returns", "orders"] = Field("returns", description="returns model, or orders (cash, sizes, stops)")
    size: Optional[float] = Field(None, gt=0, description="order size (default: all the cash allows)")
    size_type: Optional[Literal["amount", "value", "percent", "targetpercent"]] = None
    direction: Optional[Literal["longonly", "shortonly", "both"]] = None
    init_cash: Optional[float] = Field(None, gt=0, le=1e15, description="initial cash per asset (default 100)")
    fixed_fees: Optional[float] = Field(None, ge=0, le=1e12, description="fixed fee per order")
    sl_stop: Optional[float] = Field(None, gt=0, le=100, description="stop-loss, a fraction of the entry price")
    sl_trail: Optional[bool] = Field(None, description="trailing stop-loss")
    tp_stop: Optional[float] = Field(None, gt=0, le=1000, description="take-profit, a fraction of the entry price")
    accumulate: Optional[bool] = None

    @field_validator("size", "size_type", "direction", "init_cash", "fixed_fees", "sl_stop", "sl_trail", "tp_stop",
                     "accumulate")
    @classmethod
    def _option(cls, v: Any, info: Any) -> Any:
        """Each option on its own field (so a 422 names it), with the options given before it
        (field order: size, size_type, direction, ..., sl_stop)."""
        from kernels.backtest.run_orders import ORDER_OPTIONS, check_order_options  # noqa: PLC0415

        if v is None:
            return v
        if info.data.get("engine") != "orders":
            raise ValueError("order options need engine 'orders'")
        earlier = {k: info.data[k] for k in ORDER_OPTIONS if info.data.get(k) is not None}
        check_order_options({**earlier, info.field_name: v})  # ValueError naming the option
        return v

    def order_payload(self, data: dict[str, Any]) -> dict[str, Any]:
        """`data` (a model_dump without None) without the default engine, so returns-engine payloads stay as before."""
        if data.get("engine") == "returns":
            data.pop("engine")
        return data


class BacktestCreate(_DataSelection, _Costs, _OrderOptions):
    """A backtest of one strategy with one parameter set (`engine` "orders": with the order options)."""

    strategy: str = Field(..., min_length=1, max_length=MAX_NAME_CHARS, examples=["trend_following"])
    params: dict[str, Scalar] = Field(default_factory=dict, examples=[{"fast": 10, "slow": 50}])
    priority: Priority = Field(None, description="job class (default LOW)")

    @field_validator("params")
    @classmethod
    def _params(cls, v: dict[str, Scalar]) -> dict[str, Scalar]:
        if len(v) > MAX_PARAMS:
            raise ValueError(f"at most {MAX_PARAMS} parameters")
        return {k: _check_scalar(k, x) for k, x in v.items()}

    def payload(self) -> dict[str, Any]:
        """The coordinator's job payload (strict JSON)."""
        return self.order_payload(self.model_dump(exclude={"priority"}, exclude_none=True))


MAX_GROUP_LABELS = 100_000  # group_by labels of a sweep (one per symbol)


def _grid_error(loc: tuple, value: Any, message: str) -> Exception:
    """A validation error located inside `grid` (422 field `grid.<name>.<i>`)."""
    from pydantic import ValidationError  # noqa: PLC0415
    from pydantic_core import InitErrorDetails, PydanticCustomError  # noqa: PLC0415

    return ValidationError.from_exception_data("grid", [InitErrorDetails(
        type=PydanticCustomError("value_error", "{message}", {"message": message}), loc=loc, input=value)])


class SweepCreate(_DataSelection, _Costs, _OrderOptions):
    """Every combination of a parameter grid, ranked by a portfolio metric.

    A grid naming an order option (sl_stop, tp_stop, sl_trail, size, size_type) or
    `engine` "orders" sweeps on the orders engine (`kernels.backtest.sweep`); the fixed
    order options are those of `POST /v1/backtests` (without `direction`: the sweep
    kernel runs the strategy's long and short signals as given), plus `group_by` and
    `cash_sharing` (rows per (combination, group))."""

    strategy: str = Field(..., min_length=1, max_length=MAX_NAME_CHARS, examples=["trend_following"])
    grid: dict[str, list[Scalar]] = Field(..., examples=[{"fast": [5, 10, 20], "slow": [50, 100, 200]}])
    group_by: Optional[Union[Literal[True], list[str]]] = Field(
        None, description="orders engine: true (one group of every symbol) or one group label per symbol")
    cash_sharing: Optional[bool] = Field(None, description="orders engine: one cash balance per group (needs group_by)")
    top_k: int = Field(10, ge=1, le=MAX_TOP_K)
    rank_by: str = Field("sharpe", description=f"one of {list(METRICS)}")
    priority: Priority = Field(None, description="job class (default LOW)")

    @field_validator("size", "size_type", "direction", "init_cash", "fixed_fees", "sl_stop", "sl_trail", "tp_stop",
                     "accumulate")
    @classmethod
    def _option(cls, v: Any, info: Any) -> Any:
        """As `_OrderOptions._option`, except that a percent `size_type` may take its sizes from the grid
        (checked there with the grid's sizes)."""
        from kernels.backtest.run_orders import ORDER_OPTIONS, check_order_options  # noqa: PLC0415

        if v is None:
            return v
        if info.data.get("engine") != "orders":
            raise ValueError("order options need engine 'orders'")
        options = {**{k: info.data[k] for k in ORDER_OPTIONS if info.data.get(k) is not None}, info.field_name: v}
        if options.get("size_type") in ("percent", "targetpercent") and "size" not in options:
            options["size"] = 1.0
        check_order_options(options)  # ValueError naming the option
        return v

    @field_validator("direction")
    @classmethod
    def _no_direction(cls, v: Any) -> Any:
        if v is not None:
            raise ValueError("direction is not a sweep option: the sweep kernel runs the strategy's long and short "
                             "signals as given")
        return v

    @field_validator("grid")
    @classmethod
    def _grid(cls, v: dict[str, list[Scalar]], info: Any) -> dict[str, list[Scalar]]:
        from kernels.backtest.orders.api import OrdersInputError  # noqa: PLC0415
        from kernels.backtest.orders.sweep import ORDER_GRID_KEYS, _check_order_value, split_grid  # noqa: PLC0415

        if not v:
            raise ValueError("give at least one parameter with at least one value")
        if len(v) > MAX_PARAMS:
            raise ValueError(f"at most {MAX_PARAMS} parameters")
        for name, values in v.items():
            if not values:
                raise ValueError(f"parameter {name!r} has no values")
            if len(values) > MAX_GRID_VALUES:
                raise ValueError(f"parameter {name!r} has more than {MAX_GRID_VALUES} values")
            for i, x in enumerate(values):
                _check_scalar(name, x)
                if name in ORDER_GRID_KEYS:
                    try:
                        _check_order_value(name, x)
                    except OrdersInputError as exc:
                        raise _grid_error((name, i), x, f"grid.{name}[{i}]: {exc}") from None
        fixed = {k: info.data[k] for k in ORDER_GRID_KEYS if info.data.get(k) is not None}
        for name in fixed:
            if name in v:
                raise _grid_error((name,), v[name], f"{name} is both swept (grid.{name}) and fixed; give one")
        if info.data.get("engine") == "orders" or any(k in ORDER_GRID_KEYS for k in v):
            try:
                split_grid({**v, **{k: [x] for k, x in fixed.items()}})  # sizes against size types
            except OrdersInputError as exc:
                raise ValueError(str(exc)) from None
        return v

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, v: Any, info: Any) -> Any:
        if v is None:
            return v
        if info.data.get("engine") != "orders" and not _orders_grid(info.data.get("grid")):
            raise ValueError("group_by needs the orders engine (engine 'orders', or order options in the grid)")
        if isinstance(v, list):
            if not v or len(v) > MAX_GROUP_LABELS:
                raise ValueError(f"give one group label per symbol (1 to {MAX_GROUP_LABELS} labels)")
            for i, label in enumerate(v):
                if not label or len(label) > MAX_NAME_CHARS:
                    raise ValueError(f"group_by[{i}]: a label is 1 to {MAX_NAME_CHARS} characters")
        return v

    @field_validator("cash_sharing")
    @classmethod
    def _cash_sharing(cls, v: Optional[bool], info: Any) -> Optional[bool]:
        if v and info.data.get("group_by") is None:
            raise ValueError("cash_sharing needs group_by (true, or one group label per symbol)")
        return v

    @field_validator("rank_by")
    @classmethod
    def _rank_by(cls, v: str, info: Any) -> str:
        from kernels.backtest.orders.result import ORDER_METRICS  # noqa: PLC0415

        orders = info.data.get("engine") == "orders" or _orders_grid(info.data.get("grid"))
        names = list(ORDER_METRICS) if orders else list(METRICS)
        if v not in names:
            raise ValueError(f"rank_by must be one of {names}")
        return v

    @property
    def n_combinations(self) -> int:
        return math.prod(len(v) for v in self.grid.values())

    def payload(self) -> dict[str, Any]:
        data = self.model_dump(exclude={"priority"}, exclude_none=True)
        if _orders_grid(data.get("grid")):
            data["engine"] = "orders"  # a grid of order options runs on the orders engine (as kernels.sweep)
        return self.order_payload(data)


def _orders_grid(grid: Any) -> bool:
    from kernels.backtest.orders.sweep import is_orders_grid  # noqa: PLC0415

    return isinstance(grid, dict) and is_orders_grid(grid)


class WalkForwardCreate(_DataSelection, _Costs, _OrderOptions):
    """Walk-forward optimisation: per fold, the grid's best combination in-sample, judged out-of-sample."""

    strategy: str = Field(..., min_length=1, max_length=MAX_NAME_CHARS, examples=["trend_following"])
    grid: dict[str, list[Scalar]] = Field(..., examples=[{"fast": [5, 10, 20], "slow": [50, 100]}])
    train: int = Field(..., ge=1, le=MAX_WINDOW, description="bars of each training window")
    test: int = Field(..., ge=1, le=MAX_WINDOW, description="bars of each test window")
    step: Optional[int] = Field(None, ge=1, le=MAX_WINDOW, description="bars between folds (default: test)")
    anchored: bool = Field(False, description="training windows all start at the first bar")
    warmup: int = Field(0, ge=0, le=MAX_WINDOW, description="bars before each test window its backtest may read "
                                                            "(indicator warm-up; returns engine)")
    rank_by: str = Field("sharpe", description=f"one of {list(METRICS)}")
    priority: Priority = Field(None, description="job class (default LOW)")

    @field_validator("grid")
    @classmethod
    def _grid(cls, v: dict[str, list[Scalar]]) -> dict[str, list[Scalar]]:
        if not v:
            raise ValueError("give at least one parameter with at least one value")
        if len(v) > MAX_PARAMS:
            raise ValueError(f"at most {MAX_PARAMS} parameters")
        for name, values in v.items():
            if not values:
                raise ValueError(f"parameter {name!r} has no values")
            if len(values) > MAX_GRID_VALUES:
                raise ValueError(f"parameter {name!r} has more than {MAX_GRID_VALUES} values")
            for x in values:
                _check_scalar(name, x)
        return v

    @field_validator("rank_by")
    @classmethod
    def _rank_by(cls, v: str) -> str:
        if v not in METRICS:
            raise ValueError(f"rank_by must be one of {list(METRICS)}")
        return v

    @field_validator("step")
    @classmethod
    def _step(cls, v: Optional[int], info: Any) -> Optional[int]:
        test = info.data.get("test")
        if v is not None and test is not None and v < test:
            raise ValueError(f"step ({v}) must be >= test ({test}): out-of-sample windows may not overlap")
        return v

    @property
    def n_combinations(self) -> int:
        return math.prod(len(v) for v in self.grid.values())

    def payload(self) -> dict[str, Any]:
        return self.order_payload(self.model_dump(exclude={"priority"}, exclude_none=True))


# ------------------------------------------------------------------------ features
class IndicatorSpec(_Strict):
    """One indicator: a name from the table, its parameters, optionally an input field and a label."""

    name: str = Field(..., examples=["rsi"], description=f"one of {sorted(INDICATORS)}")
    params: dict[str, Union[int, float]] = Field(default_factory=dict, examples=[{"timeperiod": 14}])
    input: Optional[Literal["open", "high", "low", "close", "volume"]] = None
    label: Optional[str] = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if v not in INDICATORS and v not in TALIB_FUNCTIONS:
            raise ValueError(f"unknown indicator {v[:80]!r}; known: {sorted(INDICATORS)} and the TA-Lib names "
                             "(kernels.indicators.talib, e.g. 'RSI', 'BBANDS')")
        return v

    @field_validator("params")
    @classmethod
    def _params(cls, v: dict[str, Union[int, float]]) -> dict[str, Union[int, float]]:
        if len(v) > MAX_PARAMS:
            raise ValueError(f"at most {MAX_PARAMS} parameters")
        return {k: _check_scalar(k, x) for k, x in v.items()}

    @field_validator("label")
    @classmethod
    def _label(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not LABEL_PATTERN.match(v):
            raise ValueError("a label is 1-64 letters, digits, '_', '.' or '-', starting with a letter")
        return v

    @model_validator(mode="after")
    def _known_params(self) -> "IndicatorSpec":
        if self.name in TALIB_FUNCTIONS:  # ranges from kernels.indicators.talib.table (ValueError names the param)
            TALIB_FUNCTIONS[self.name].check(self.params)
            return self
        names = [p.name for p in INDICATORS[self.name].params]
        unknown = sorted(set(self.params) - set(names))
        if unknown:
            raise ValueError(f"{self.name}: unknown parameter(s) {unknown}; parameters are {names}")
        return self


class InlineBars(_Strict):
    """OHLCV bars in long form, column by column (one entry per (timestamp, symbol) row).

    Timestamps are ISO-8601 strings or epoch seconds; missing prices are null.
    """

    timestamp: list[Union[str, int, float]]
    symbol: list[str]
    open: list[Optional[float]]
    high: list[Optional[float]]
    low: list[Optional[float]]
    close: list[Optional[float]]
    volume: list[Optional[float]]

    @model_validator(mode="after")
    def _lengths(self) -> "InlineBars":
        n = len(self.timestamp)
        if n == 0:
            raise ValueError("bars has no rows")
        if n > MAX_INLINE_ROWS:
            raise ValueError(f"bars has more than {MAX_INLINE_ROWS} rows")
        for col in ("symbol", *FIELDS):
            if len(getattr(self, col)) != n:
                raise ValueError(f"column {col!r} has {len(getattr(self, col))} rows, timestamp has {n}")
        return self

    def frame(self) -> Any:
        """A long-form pandas DataFrame (validated later by kernels.data)."""
        import numpy as np  # noqa: PLC0415
        import pandas as pd  # noqa: PLC0415

        ts = self.timestamp
        if all(isinstance(t, (int, float)) for t in ts):
            stamps = pd.to_datetime(np.asarray(ts, dtype=np.float64), unit="s")
        else:
            stamps = pd.to_datetime([str(t) for t in ts], utc=True).tz_convert(None)
        data: dict[str, Any] = {"timestamp": stamps, "symbol": self.symbol}
        for f in FIELDS:
            data[f] = np.asarray([np.nan if v is None else v for v in getattr(self, f)], dtype=np.float64)
        return pd.DataFrame(data)


class FeaturesCreate(_Strict):
    """Indicators over the last `window` bars of a dataset's symbols, or of bars sent inline."""

    dataset: Optional[DatasetName] = Field(None, max_length=MAX_NAME_CHARS,
                                           description="registered dataset (or give bars)")
    dataset_version: Optional[DatasetVersion] = None
    symbols: Optional[Symbols] = None
    bars: Optional[InlineBars] = Field(None, description="inline OHLCV bars instead of a dataset")
    indicators: list[IndicatorSpec] = Field(..., min_length=1)
    window: Optional[int] = Field(1, ge=1, le=MAX_WINDOW, description="bars returned (the latest); null: all")
    priority: Priority = Field(None, description="REALTIME (default) or HIGH")

    @model_validator(mode="after")
    def _source(self) -> "FeaturesCreate":
        if self.bars is not None and (self.dataset is not None or self.dataset_version is not None):
            raise ValueError("give either dataset or bars, not both")
        if self.bars is None and self.dataset is None:
            raise ValueError("give a dataset name or inline bars")
        return self

    def payload(self) -> dict[str, Any]:
        out = self.model_dump(exclude={"priority", "bars"}, exclude_none=True)
        out["indicators"] = [s.model_dump(exclude_none=True) for s in self.indicators]
        if self.window is None:
            out.pop("window", None)
        return out


# ------------------------------------------------------------------------ public shapes
class ErrorDetail(BaseModel):
    code: str = Field(..., examples=["validation_error"])
    message: str
    field: Optional[str] = Field(None, examples=["params.fast"])


class ErrorBody(BaseModel):
    """Every error response: `{"error": {"code", "message", "field"?}}`."""

    error: ErrorDetail


class WorkerShare(BaseModel):
    """One worker's part of a job: chunks it ran and its measured cells per second."""

    worker_id: str
    device: str
    chunks: int
    cells_per_s: Optional[float] = None


class Progress(BaseModel):
    """Chunks done of total, and how the job fans out over the cluster's workers (while the
    coordinator that ran it is up): workers, cells (bars x assets x combinations) per second
    of wall time, and an ETA in seconds."""

    chunks_done: int
    chunks_total: Optional[int]
    fraction: Optional[float]
    workers: list[WorkerShare] = Field(default_factory=list)
    cells_total: Optional[int] = None
    cells_done: Optional[int] = None
    cells_per_s: Optional[float] = None
    eta_s: Optional[float] = None
    stolen: int = 0  # chunks given a second copy at the job's tail (work stealing)
    duplicates: int = 0  # copies whose result was dropped (another copy finished first)


class Timings(BaseModel):
    queued_s: float
    running_s: Optional[float]
    total_s: float


class JobPublic(BaseModel):
    """A job's status: state, progress, where it runs (device) and on which fallback tier."""

    job_id: str
    kind: str
    priority: str
    tenant: str
    state: JobStateName
    submitted_at: float
    started_at: Optional[float] = None
    finished_at: Optional[float] = None
    progress: Progress
    device: Optional[str] = None
    tier: Optional[str] = None
    attempts: int = 0
    cache_hit: bool = False
    error: Optional[str] = Field(None, description="why the job failed: one short line (details in the service log)")
    error_code: Optional[str] = Field(None, description="what kind of failure: invalid_job, no_capacity, "
                                                        "quota_exceeded, recovery_failed or job_error")
    timings: Optional[Timings] = None
    links: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _public_error(self) -> "JobPublic":
        # Never a traceback, ANSI codes, pids, addresses, actor ids or paths in a response.
        if self.error is not None:
            from deployments.http.errors import public_job_error  # noqa: PLC0415

            code, self.error = public_job_error(self.error)
            self.error_code = self.error_code or code
        return self


class EquityCurve(BaseModel):
    """The portfolio's equity (starts at 1), every `stride`-th bar and always the last one;
    `time`: those bars' timestamps (ISO 8601), where the data has a time index."""

    n_bars: int
    stride: int
    bar: list[int]
    equity: list[Optional[float]]
    time: Optional[list[str]] = None


class BacktestResultPublic(BaseModel):
    """Metrics table (one record per symbol, then "portfolio") and the portfolio equity curve."""

    job_id: str
    strategy: str
    params: dict[str, Any]
    backend: str
    fees: float
    slippage: float
    symbols: list[str]
    metrics: list[dict[str, Any]]
    portfolio: dict[str, Any]
    equity_curve: EquityCurve
    engine: str = "returns"
    order_options: dict[str, Any] = Field(default_factory=dict, description="engine 'orders': the options as run")


class SweepResultPublic(BaseModel):
    """The top-k combinations and a page of every combination's portfolio metrics."""

    job_id: str
    strategy: str
    rank_by: str
    top_k: int
    backend: str
    n_combinations: int
    n_dropped: int
    top: list[dict[str, Any]]
    combinations: list[dict[str, Any]]
    offset: int
    limit: int
    truncated: bool
    groups: Optional[list[dict[str, Any]]] = Field(
        None, description="orders sweeps with group_by: the rows per (combo_id, group) of this page's combinations")


class WalkForwardResultPublic(BaseModel):
    """Per fold: windows, chosen parameters, in-sample `rank_by`, out-of-sample metrics; the stitched
    out-of-sample equity and its metrics."""

    job_id: str
    strategy: str
    rank_by: str
    engine: str
    backend: str
    train: int
    test: int
    step: int
    anchored: bool
    warmup: int = 0
    n_folds: int
    folds: list[dict[str, Any]]
    oos_metrics: dict[str, Any]
    equity_curve: EquityCurve


class BacktestPublic(JobPublic):
    """A backtest job; `result` is filled when the request waited (`?wait=true`) and it succeeded."""

    result: Optional[BacktestResultPublic] = None


class SweepPublic(JobPublic):
    result: Optional[SweepResultPublic] = None


class WalkForwardPublic(JobPublic):
    result: Optional[WalkForwardResultPublic] = None


class FeaturesPublic(BaseModel):
    """Indicator values: for each label a (bars x symbols) table, null where undefined."""

    source: Literal["dataset", "inline"]
    dataset: Optional[str] = None
    dataset_version: Optional[str] = None
    symbols: list[str]
    timestamps: list[str]
    features: dict[str, list[list[Optional[float]]]]
    priority: str
    device: str
    backend: str
    simulated: bool
    compute_ms: float


class DatasetPublic(BaseModel):
    name: str
    version: str
    n_bars: int
    n_assets: int
    start: str
    end: str
    symbols: list[str]
    symbols_truncated: bool
    created_at: float
    shared: bool = Field(True, description="shared read-only with every tenant (built in or published by an "
                                           "admin), or the caller's own")


class DevicePublic(BaseModel):
    """One worker's device: budget, use, health, simulated or not (from gpu_hal)."""

    worker_id: str
    kind: str
    label: Optional[str] = None
    simulated: bool = False
    backend: Optional[str] = None
    healthy: bool
    health_state: Optional[str] = None
    ready: Optional[bool] = None
    busy_job: Optional[str] = None
    executed: Optional[int] = None
    memory: Optional[dict[str, Any]] = None
    budget: Optional[dict[str, Any]] = None
    tenants: Optional[dict[str, Any]] = None
    error: Optional[str] = None


class HealthPublic(BaseModel):
    status: Literal["ok"]


class ReadyPublic(BaseModel):
    ready: bool
    workers: int
    workers_ready: int
    queue_depth: dict[str, int] = Field(default_factory=dict)
    reason: Optional[str] = None


# ------------------------------------------------------------------------ models
MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}\Z")  # as actors.models.registry.NAME_PATTERN
MAX_HORIZON = 10_000
TaskName = Literal["regression", "classification"]


class ModelCreate(_Strict):
    """Train a model on a dataset: indicator features, forward-return labels, held-out metrics."""

    name: str = Field(..., description="registry name; each training adds a version", examples=["momentum_rf"])
    model: str = Field(..., description="model type, e.g. Ridge or RandomForestRegressor", examples=["Ridge"])
    params: dict[str, Scalar] = Field(default_factory=dict, examples=[{"alpha": 1.0}])
    features: list[IndicatorSpec] = Field(..., min_length=1, description="indicator specs; every output is a feature")
    horizon: int = Field(1, ge=1, le=MAX_HORIZON, description="label: forward return over this many bars")
    task: Optional[TaskName] = Field(None, validate_default=True,
                                     description="regression or classification (default: the model's)")
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="the held-out (latest) share of the bars")
    dataset: DatasetName = Field("synthetic", description="registered dataset name", max_length=MAX_NAME_CHARS)
    symbols: Optional[Symbols] = Field(None, description="symbols to train on (default: all)")
    priority: Priority = Field(None, description="job class (default NORMAL)")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not MODEL_NAME_PATTERN.match(v):
            raise ValueError("use 1-64 letters, digits, '_' or '-', starting with a letter")
        return v

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        from kernels.ml import MODELS  # noqa: PLC0415

        if v not in MODELS:
            raise ValueError(f"unknown model {v[:80]!r}; models are {sorted(MODELS)}")
        return v

    @field_validator("params")
    @classmethod
    def _params(cls, v: dict[str, Scalar], info: Any) -> dict[str, Scalar]:
        from kernels.ml import check_params  # noqa: PLC0415

        if len(v) > MAX_PARAMS:
            raise ValueError(f"at most {MAX_PARAMS} parameters")
        v = {k: _check_scalar(k, x) for k, x in v.items()}
        model = info.data.get("model")
        if model is not None:
            check_params(model, v)  # InvalidParams is a ValueError: a 422 on "params"
        return v

    @field_validator("task")
    @classmethod
    def _task(cls, v: Optional[str], info: Any) -> Optional[str]:
        from kernels.ml import MODELS  # noqa: PLC0415

        model = info.data.get("model")
        if model is None:
            return v
        own = MODELS[model].task
        if v is not None and v != own:
            raise ValueError(f"{model} is a {own} model, not {v}")
        return own

    def payload(self) -> dict[str, Any]:
        """The coordinator's "train" job payload (strict JSON)."""
        out = self.model_dump(exclude={"priority", "features"}, exclude_none=True)
        out["features"] = [s.model_dump(exclude_none=True) for s in self.features]
        return out


PREDICT_DTYPES = ("float64", "float32")


class PredictArray(_Strict):
    """Feature rows as one binary array: base64 of the little-endian, row-major (C order) values."""

    shape: tuple[StrictInt, StrictInt] = Field(..., strict=False, description="(rows, features)", examples=[[2, 3]])
    dtype: Literal["float64", "float32"] = "float64"
    data: str = Field(..., description="base64 of rows x features little-endian values, row after row")


class PredictCreate(_Strict):
    """What to predict, exactly one of: feature rows (`rows`, or `columns` one list per feature, or
    `ndarray` binary), in the model's feature order, or a dataset's latest bar (`dataset`)."""

    rows: Optional[list[list[float]]] = Field(None, description="feature rows, in the model's feature order",
                                              examples=[[[0.1, 55.0, 1.2]]])
    columns: Optional[list[list[float]]] = Field(None, description="columnar rows: one list per feature, in "
                                                 "the model's feature order, each with one value per row")
    ndarray: Optional[PredictArray] = Field(None, description="rows as a base64 binary array (the fastest body)")
    dataset: Optional[DatasetName] = Field(None, description="features of this dataset's latest bar, computed here",
                                   max_length=MAX_NAME_CHARS)
    symbols: Optional[Symbols] = Field(None, description="with dataset: these symbols (default: all)")

    @model_validator(mode="after")
    def _source(self) -> "PredictCreate":
        given = [k for k in ("rows", "columns", "ndarray", "dataset") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of rows, columns, ndarray or dataset")
        if self.dataset is None and self.symbols is not None:
            raise ValueError("symbols go with dataset, not with rows")
        return self


class ModelPublic(BaseModel):
    """One stored model version: what it learned from, its held-out metrics, where it ran."""

    id: str = Field(..., examples=["momentum_rf@3"])
    name: str
    version: int
    model: str
    task: str
    backend: str
    params: dict[str, Any] = Field(default_factory=dict)
    feature_names: list[str] = Field(default_factory=list)
    n_features: int
    features: list[Any] = Field(default_factory=list)
    horizon: Optional[int] = None
    window: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict, description="held-out: r2/mse or accuracy/auc")
    library_versions: dict[str, str] = Field(default_factory=dict)
    created_at: str
    sha256: str
    size_bytes: int
    n_train: int = 0
    dataset: Optional[str] = None
    links: dict[str, str] = Field(default_factory=dict)


class ModelJobPublic(JobPublic):
    """A training job; `record` is filled when the request waited (`?wait=true`) and it succeeded."""

    record: Optional[ModelPublic] = None


class PredictionPublic(BaseModel):
    predictions: list[Optional[float]]
    model: str = Field(..., description="the model id asked for")
    version: int
    n_rows: int
    symbols: Optional[list[str]] = Field(None, description="with dataset: the symbol of each prediction")
    timestamp: Optional[str] = Field(None, description="with dataset: the bar the features are from")



# ------------------------------------------------------------------------ streams (live ticks)
STREAM_OUTPUTS: tuple[str, ...] = _STREAM_OUTPUTS
STREAM_PARAMS: tuple[str, ...] = tuple(f.name for f in _fields(_StreamConfig))
TimeUnit = Literal["s", "ms", "us", "ns"]


class StreamCreate(_DataSelection):
    """Open a stream: incremental indicators over a dataset's symbols, seeded from its history.

    `indicators` sets the streamed indicators' parameters (defaults: EMA 30, RSI 14,
    MACD 12/26/9, ATR 14, SMA 30, rolling std 5 x 1.0, ROC 10); `outputs` picks which values
    come back per tick. Tick times are numbers in `time_unit` since the epoch or
    ISO-8601 strings; each must be after the symbol's previous tick (the dataset's
    last bar at first).
    """

    type: Optional[Literal["open"]] = Field(None, description="WebSocket: the first message is an open message")
    dataset_version: Optional[DatasetVersion] = Field(None, description="must be the latest version when given")
    symbols: Optional[Symbols] = Field(None, description="symbols of the stream, in order (default: all)")
    indicators: dict[str, Union[int, float]] = Field(default_factory=dict, examples=[{"ema_period": 20}],
                                                     description=f"parameters: {list(STREAM_PARAMS)}")
    outputs: Optional[list[str]] = Field(None, description=f"values returned per tick (default all: "
                                                           f"{list(STREAM_OUTPUTS)})")
    history: Optional[int] = Field(None, ge=1, le=MAX_WINDOW, description="seed from the last N bars (default all)")
    time_unit: TimeUnit = Field("s", description="unit of numeric tick times since the epoch")
    stream_id: Optional[StreamId] = Field(None, description="client-chosen id (default: generated)")
    functions: Optional[list[IndicatorSpec]] = Field(
        None, max_length=MAX_STREAM_FUNCTIONS, examples=[[{"name": "RSI"}, {"name": "BBANDS", "params": {"timeperiod": 20}}]],
        description="TA-Lib functions by name (kernels.indicators.talib), parameters checked by its table; values "
                    "come back as their labels ('RSI', 'BBANDS_20.upperband'); with functions and no outputs, only "
                    "theirs")

    @field_validator("functions")
    @classmethod
    def _functions(cls, v: Optional[list[IndicatorSpec]]) -> Optional[list[IndicatorSpec]]:
        if v is None:
            return None
        for spec in v:
            if spec.name not in TALIB_FUNCTIONS:
                raise ValueError(f"{spec.name[:80]!r} is not a TA-Lib function name (e.g. 'RSI', 'BBANDS'); the "
                                 "built-in indicators are set with 'indicators'")
            if "periods" in TALIB_FUNCTIONS[spec.name].inputs:
                raise ValueError(f"{spec.name} needs a 'periods' array, which is not a tick field")
        return v

    @field_validator("indicators")
    @classmethod
    def _params(cls, v: dict[str, Union[int, float]]) -> dict[str, Union[int, float]]:
        unknown = sorted(set(v) - set(STREAM_PARAMS))
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown}; parameters are {list(STREAM_PARAMS)}")
        return {k: _check_scalar(k, x) for k, x in v.items()}

    @field_validator("outputs")
    @classmethod
    def _outputs(cls, v: Optional[list[str]]) -> Optional[list[str]]:
        if v is None:
            return None
        if not v:
            raise ValueError("give at least one output, or leave outputs out for all of them")
        unknown = [o for o in v if o not in STREAM_OUTPUTS]
        if unknown:
            raise ValueError(f"unknown output(s) {unknown[:10]}; outputs are {list(STREAM_OUTPUTS)}")
        if len(set(v)) != len(v):
            raise ValueError("outputs must be unique")
        return v


class TickColumns(_Strict):
    """A tick batch column by column (row i is symbol[i] at time[i]); `open` is optional."""

    symbol: list[str]
    time: list[Union[int, float, str]]
    open: Optional[list[float]] = None
    high: list[float]
    low: list[float]
    close: list[float]
    volume: list[float]

    def columns(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class TickRow(_Strict):
    symbol: str
    time: Union[int, float, str]
    open: Optional[float] = None
    high: float
    low: float
    close: float
    volume: float


class TicksCreate(_Strict):
    """Ticks for a stream: its id (from POST /v1/streams), or `open` to open one on first use."""

    stream_id: Optional[StreamId] = Field(None, description="an open stream's id")
    open: Optional[StreamCreate] = Field(None, description="open a stream first (when stream_id is not given, "
                                                           "or not open yet)")
    ticks: Union[TickColumns, list[TickRow]] = Field(..., description="columns, or a list of row objects")

    @model_validator(mode="after")
    def _target(self) -> "TicksCreate":
        if self.stream_id is None and self.open is None:
            raise ValueError("give stream_id, or open to open a stream on first use")
        return self

    def columns(self) -> dict[str, Any]:
        if isinstance(self.ticks, TickColumns):
            return self.ticks.columns()
        rows = [r.model_dump() for r in self.ticks]
        cols: dict[str, Any] = {c: [r[c] for r in rows] for c in ("symbol", "time", "high", "low", "close", "volume")}
        if any(r["open"] is not None for r in rows):
            cols["open"] = [float("nan") if r["open"] is None else r["open"] for r in rows]
        return cols


class StreamPublic(BaseModel):
    """A stream as the replica's router sees it."""

    stream_id: str
    dataset: str
    dataset_version: str
    symbols: list[str]
    outputs: list[str]
    config: dict[str, Union[int, float]]
    time_unit: str
    worker_id: str
    tier: str
    batches: int
    ticks: int
    batches_since_snapshot: int
    recoveries: int
    idle_s: float
    device: Optional[str] = None
    backend: Optional[str] = None
    closed: bool = False


class TicksPublic(BaseModel):
    """The values after each tick, row-aligned with the batch sent (null where undefined yet)."""

    stream_id: str
    rows: int
    features: dict[str, list[Optional[float]]]
    worker_id: str
    tier: str
    recovered: bool
    opened: bool = False
    server_ms: float


__all__ = [
    "BacktestCreate",
    "BacktestPublic",
    "BacktestResultPublic",
    "DatasetPublic",
    "DevicePublic",
    "EquityCurve",
    "ErrorBody",
    "ErrorDetail",
    "FeaturesCreate",
    "FeaturesPublic",
    "HealthPublic",
    "IndicatorSpec",
    "InlineBars",
    "JobPublic",
    "ModelCreate",
    "ModelJobPublic",
    "ModelPublic",
    "PredictArray",
    "PredictCreate",
    "PredictionPublic",
    "ReadyPublic",
    "SweepCreate",
    "SweepPublic",
    "StreamCreate",
    "StreamPublic",
    "SweepResultPublic",
    "TickColumns",
    "TickRow",
    "TicksCreate",
    "TicksPublic",
]


# ------------------------------------------------------------------ tenants (quotas, usage)
_CLASS_NAMES = Literal["REALTIME", "HIGH", "NORMAL", "LOW", "IDLE"]


class QuotaUpdate(BaseModel):
    """A change of a tenant's quota (PUT /v1/admin/tenants/{tenant}): only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    memory_bytes: Optional[StrictInt] = Field(None, ge=0, description="pool bytes per device (null: the device default)")
    memory_fraction: Optional[float] = Field(None, gt=0, le=1, description="per device, of its budget")
    weight: Optional[float] = Field(None, gt=0, le=1e6, description="share of device time within a class")
    allowed_classes: Optional[list[_CLASS_NAMES]] = Field(None, min_length=1)
    max_running_jobs: Optional[StrictInt] = Field(None, ge=0)
    max_queued_jobs: Optional[StrictInt] = Field(None, ge=0)
    max_sweep_combinations: Optional[StrictInt] = Field(None, ge=0)

    @field_validator("allowed_classes", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return [c.upper() if isinstance(c, str) else c for c in v] if isinstance(v, list) else v


class QuotaPublic(BaseModel):
    tenant: str
    memory_bytes: Optional[int]
    memory_fraction: Optional[float]
    weight: float
    allowed_classes: list[str]
    max_running_jobs: Optional[int]
    max_queued_jobs: Optional[int]
    max_sweep_combinations: Optional[int]


class DeviceMemoryUse(BaseModel):
    current_bytes: int
    peak_bytes: int
    limit_bytes: int


class TenantUsagePublic(BaseModel):
    tenant: str
    device_seconds: dict[str, float]
    chunks: dict[str, int]
    jobs: dict[str, int]
    refusals: dict[str, int]
    memory: dict[str, DeviceMemoryUse]
    current_bytes: int
    peak_bytes: int
