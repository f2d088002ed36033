from deployments.protos import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BacktestRequest(_message.Message):
    __slots__ = ("strategy", "params", "dataset", "dataset_version", "symbols", "fees", "slippage", "bars_per_year", "priority", "wait", "timeout_s")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.Scalar
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.Scalar, _Mapping]] = ...) -> None: ...
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    FEES_FIELD_NUMBER: _ClassVar[int]
    SLIPPAGE_FIELD_NUMBER: _ClassVar[int]
    BARS_PER_YEAR_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    strategy: str
    params: _containers.MessageMap[str, _common_pb2.Scalar]
    dataset: str
    dataset_version: str
    symbols: _containers.RepeatedScalarFieldContainer[str]
    fees: float
    slippage: float
    bars_per_year: int
    priority: str
    wait: bool
    timeout_s: float
    def __init__(self, strategy: _Optional[str] = ..., params: _Optional[_Mapping[str, _common_pb2.Scalar]] = ..., dataset: _Optional[str] = ..., dataset_version: _Optional[str] = ..., symbols: _Optional[_Iterable[str]] = ..., fees: _Optional[float] = ..., slippage: _Optional[float] = ..., bars_per_year: _Optional[int] = ..., priority: _Optional[str] = ..., wait: _Optional[bool] = ..., timeout_s: _Optional[float] = ...) -> None: ...

class MetricsRow(_message.Message):
    __slots__ = ("symbol", "metrics")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    metrics: _common_pb2.Metrics
    def __init__(self, symbol: _Optional[str] = ..., metrics: _Optional[_Union[_common_pb2.Metrics, _Mapping]] = ...) -> None: ...

class BacktestResult(_message.Message):
    __slots__ = ("job_id", "strategy", "params", "backend", "fees", "slippage", "symbols", "metrics", "portfolio", "n_bars", "stride", "bar", "equity")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.Scalar
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.Scalar, _Mapping]] = ...) -> None: ...
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    FEES_FIELD_NUMBER: _ClassVar[int]
    SLIPPAGE_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    PORTFOLIO_FIELD_NUMBER: _ClassVar[int]
    N_BARS_FIELD_NUMBER: _ClassVar[int]
    STRIDE_FIELD_NUMBER: _ClassVar[int]
    BAR_FIELD_NUMBER: _ClassVar[int]
    EQUITY_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    strategy: str
    params: _containers.MessageMap[str, _common_pb2.Scalar]
    backend: str
    fees: float
    slippage: float
    symbols: _containers.RepeatedScalarFieldContainer[str]
    metrics: _containers.RepeatedCompositeFieldContainer[MetricsRow]
    portfolio: _common_pb2.Metrics
    n_bars: int
    stride: int
    bar: _containers.RepeatedScalarFieldContainer[int]
    equity: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, job_id: _Optional[str] = ..., strategy: _Optional[str] = ..., params: _Optional[_Mapping[str, _common_pb2.Scalar]] = ..., backend: _Optional[str] = ..., fees: _Optional[float] = ..., slippage: _Optional[float] = ..., symbols: _Optional[_Iterable[str]] = ..., metrics: _Optional[_Iterable[_Union[MetricsRow, _Mapping]]] = ..., portfolio: _Optional[_Union[_common_pb2.Metrics, _Mapping]] = ..., n_bars: _Optional[int] = ..., stride: _Optional[int] = ..., bar: _Optional[_Iterable[int]] = ..., equity: _Optional[_Iterable[float]] = ...) -> None: ...

class BacktestReply(_message.Message):
    __slots__ = ("job", "result")
    JOB_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    job: _common_pb2.Job
    result: BacktestResult
    def __init__(self, job: _Optional[_Union[_common_pb2.Job, _Mapping]] = ..., result: _Optional[_Union[BacktestResult, _Mapping]] = ...) -> None: ...

class SweepRequest(_message.Message):
    __slots__ = ("strategy", "grid", "top_k", "rank_by", "dataset", "dataset_version", "symbols", "fees", "slippage", "bars_per_year", "priority", "wait", "timeout_s", "engine", "size", "size_type", "init_cash", "fixed_fees", "sl_stop", "sl_trail", "tp_stop", "accumulate", "group_all", "group_labels", "cash_sharing")
    class GridEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.ScalarList
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.ScalarList, _Mapping]] = ...) -> None: ...
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    GRID_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    RANK_BY_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    FEES_FIELD_NUMBER: _ClassVar[int]
    SLIPPAGE_FIELD_NUMBER: _ClassVar[int]
    BARS_PER_YEAR_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SIZE_TYPE_FIELD_NUMBER: _ClassVar[int]
    INIT_CASH_FIELD_NUMBER: _ClassVar[int]
    FIXED_FEES_FIELD_NUMBER: _ClassVar[int]
    SL_STOP_FIELD_NUMBER: _ClassVar[int]
    SL_TRAIL_FIELD_NUMBER: _ClassVar[int]
    TP_STOP_FIELD_NUMBER: _ClassVar[int]
    ACCUMULATE_FIELD_NUMBER: _ClassVar[int]
    GROUP_ALL_FIELD_NUMBER: _ClassVar[int]
    GROUP_LABELS_FIELD_NUMBER: _ClassVar[int]
    CASH_SHARING_FIELD_NUMBER: _ClassVar[int]
    strategy: str
    grid: _containers.MessageMap[str, _common_pb2.ScalarList]
    top_k: int
    rank_by: str
    dataset: str
    dataset_version: str
    symbols: _containers.RepeatedScalarFieldContainer[str]
    fees: float
    slippage: float
    bars_per_year: int
    priority: str
    wait: bool
    timeout_s: float
    engine: str
    size: float
    size_type: str
    init_cash: float
    fixed_fees: float
    sl_stop: float
    sl_trail: bool
    tp_stop: float
    accumulate: bool
    group_all: bool
    group_labels: _containers.RepeatedScalarFieldContainer[str]
    cash_sharing: bool
    def __init__(self, strategy: _Optional[str] = ..., grid: _Optional[_Mapping[str, _common_pb2.ScalarList]] = ..., top_k: _Optional[int] = ..., rank_by: _Optional[str] = ..., dataset: _Optional[str] = ..., dataset_version: _Optional[str] = ..., symbols: _Optional[_Iterable[str]] = ..., fees: _Optional[float] = ..., slippage: _Optional[float] = ..., bars_per_year: _Optional[int] = ..., priority: _Optional[str] = ..., wait: _Optional[bool] = ..., timeout_s: _Optional[float] = ..., engine: _Optional[str] = ..., size: _Optional[float] = ..., size_type: _Optional[str] = ..., init_cash: _Optional[float] = ..., fixed_fees: _Optional[float] = ..., sl_stop: _Optional[float] = ..., sl_trail: _Optional[bool] = ..., tp_stop: _Optional[float] = ..., accumulate: _Optional[bool] = ..., group_all: _Optional[bool] = ..., group_labels: _Optional[_Iterable[str]] = ..., cash_sharing: _Optional[bool] = ...) -> None: ...

class SweepRow(_message.Message):
    __slots__ = ("combo_id", "params", "metrics")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.Scalar
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.Scalar, _Mapping]] = ...) -> None: ...
    COMBO_ID_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    combo_id: int
    params: _containers.MessageMap[str, _common_pb2.Scalar]
    metrics: _common_pb2.Metrics
    def __init__(self, combo_id: _Optional[int] = ..., params: _Optional[_Mapping[str, _common_pb2.Scalar]] = ..., metrics: _Optional[_Union[_common_pb2.Metrics, _Mapping]] = ...) -> None: ...

class GroupRow(_message.Message):
    __slots__ = ("combo_id", "group", "metrics")
    COMBO_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    combo_id: int
    group: str
    metrics: _common_pb2.Metrics
    def __init__(self, combo_id: _Optional[int] = ..., group: _Optional[str] = ..., metrics: _Optional[_Union[_common_pb2.Metrics, _Mapping]] = ...) -> None: ...

class SweepResult(_message.Message):
    __slots__ = ("job_id", "strategy", "rank_by", "top_k", "backend", "n_combinations", "n_dropped", "top", "combinations", "offset", "limit", "truncated", "groups")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    RANK_BY_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    N_COMBINATIONS_FIELD_NUMBER: _ClassVar[int]
    N_DROPPED_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    COMBINATIONS_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    strategy: str
    rank_by: str
    top_k: int
    backend: str
    n_combinations: int
    n_dropped: int
    top: _containers.RepeatedCompositeFieldContainer[SweepRow]
    combinations: _containers.RepeatedCompositeFieldContainer[SweepRow]
    offset: int
    limit: int
    truncated: bool
    groups: _containers.RepeatedCompositeFieldContainer[GroupRow]
    def __init__(self, job_id: _Optional[str] = ..., strategy: _Optional[str] = ..., rank_by: _Optional[str] = ..., top_k: _Optional[int] = ..., backend: _Optional[str] = ..., n_combinations: _Optional[int] = ..., n_dropped: _Optional[int] = ..., top: _Optional[_Iterable[_Union[SweepRow, _Mapping]]] = ..., combinations: _Optional[_Iterable[_Union[SweepRow, _Mapping]]] = ..., offset: _Optional[int] = ..., limit: _Optional[int] = ..., truncated: _Optional[bool] = ..., groups: _Optional[_Iterable[_Union[GroupRow, _Mapping]]] = ...) -> None: ...

class SweepReply(_message.Message):
    __slots__ = ("job", "result")
    JOB_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    job: _common_pb2.Job
    result: SweepResult
    def __init__(self, job: _Optional[_Union[_common_pb2.Job, _Mapping]] = ..., result: _Optional[_Union[SweepResult, _Mapping]] = ...) -> None: ...

class SweepResultRequest(_message.Message):
    __slots__ = ("job_id", "offset", "limit")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    offset: int
    limit: int
    def __init__(self, job_id: _Optional[str] = ..., offset: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("tenant", "state", "limit")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    state: str
    limit: int
    def __init__(self, tenant: _Optional[str] = ..., state: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class JobList(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[_common_pb2.Job]
    def __init__(self, jobs: _Optional[_Iterable[_Union[_common_pb2.Job, _Mapping]]] = ...) -> None: ...
