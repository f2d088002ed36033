from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Scalar(_message.Message):
    __slots__ = ("number", "integer", "text", "flag")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    INTEGER_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FLAG_FIELD_NUMBER: _ClassVar[int]
    number: float
    integer: int
    text: str
    flag: bool
    def __init__(self, number: _Optional[float] = ..., integer: _Optional[int] = ..., text: _Optional[str] = ..., flag: _Optional[bool] = ...) -> None: ...

class ScalarList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[Scalar]
    def __init__(self, values: _Optional[_Iterable[_Union[Scalar, _Mapping]]] = ...) -> None: ...

class Matrix(_message.Message):
    __slots__ = ("rows", "cols", "values")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    rows: int
    cols: int
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, rows: _Optional[int] = ..., cols: _Optional[int] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class JobRef(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("chunks_done", "chunks_total", "fraction")
    CHUNKS_DONE_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    chunks_done: int
    chunks_total: int
    fraction: float
    def __init__(self, chunks_done: _Optional[int] = ..., chunks_total: _Optional[int] = ..., fraction: _Optional[float] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("job_id", "kind", "priority", "tenant", "state", "submitted_at", "started_at", "finished_at", "progress", "device", "tier", "attempts", "cache_hit", "error")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    kind: str
    priority: str
    tenant: str
    state: str
    submitted_at: float
    started_at: float
    finished_at: float
    progress: Progress
    device: str
    tier: str
    attempts: int
    cache_hit: bool
    error: str
    def __init__(self, job_id: _Optional[str] = ..., kind: _Optional[str] = ..., priority: _Optional[str] = ..., tenant: _Optional[str] = ..., state: _Optional[str] = ..., submitted_at: _Optional[float] = ..., started_at: _Optional[float] = ..., finished_at: _Optional[float] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., device: _Optional[str] = ..., tier: _Optional[str] = ..., attempts: _Optional[int] = ..., cache_hit: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class Indicator(_message.Message):
    __slots__ = ("name", "params", "input", "label")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    name: str
    params: _containers.ScalarMap[str, float]
    input: str
    label: str
    def __init__(self, name: _Optional[str] = ..., params: _Optional[_Mapping[str, float]] = ..., input: _Optional[str] = ..., label: _Optional[str] = ...) -> None: ...

class Metrics(_message.Message):
    __slots__ = ("total_return", "cagr", "ann_vol", "sharpe", "sortino", "max_drawdown", "calmar", "n_trades", "win_rate", "exposure", "turnover", "extra")
    class ExtraEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    TOTAL_RETURN_FIELD_NUMBER: _ClassVar[int]
    CAGR_FIELD_NUMBER: _ClassVar[int]
    ANN_VOL_FIELD_NUMBER: _ClassVar[int]
    SHARPE_FIELD_NUMBER: _ClassVar[int]
    SORTINO_FIELD_NUMBER: _ClassVar[int]
    MAX_DRAWDOWN_FIELD_NUMBER: _ClassVar[int]
    CALMAR_FIELD_NUMBER: _ClassVar[int]
    N_TRADES_FIELD_NUMBER: _ClassVar[int]
    WIN_RATE_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    TURNOVER_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELD_NUMBER: _ClassVar[int]
    total_return: float
    cagr: float
    ann_vol: float
    sharpe: float
    sortino: float
    max_drawdown: float
    calmar: float
    n_trades: float
    win_rate: float
    exposure: float
    turnover: float
    extra: _containers.ScalarMap[str, float]
    def __init__(self, total_return: _Optional[float] = ..., cagr: _Optional[float] = ..., ann_vol: _Optional[float] = ..., sharpe: _Optional[float] = ..., sortino: _Optional[float] = ..., max_drawdown: _Optional[float] = ..., calmar: _Optional[float] = ..., n_trades: _Optional[float] = ..., win_rate: _Optional[float] = ..., exposure: _Optional[float] = ..., turnover: _Optional[float] = ..., extra: _Optional[_Mapping[str, float]] = ...) -> None: ...
