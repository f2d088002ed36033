from deployments.protos import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Bars(_message.Message):
    __slots__ = ("timestamp", "symbol", "open", "high", "low", "close", "volume")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    timestamp: _containers.RepeatedScalarFieldContainer[str]
    symbol: _containers.RepeatedScalarFieldContainer[str]
    open: _containers.RepeatedScalarFieldContainer[float]
    high: _containers.RepeatedScalarFieldContainer[float]
    low: _containers.RepeatedScalarFieldContainer[float]
    close: _containers.RepeatedScalarFieldContainer[float]
    volume: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, timestamp: _Optional[_Iterable[str]] = ..., symbol: _Optional[_Iterable[str]] = ..., open: _Optional[_Iterable[float]] = ..., high: _Optional[_Iterable[float]] = ..., low: _Optional[_Iterable[float]] = ..., close: _Optional[_Iterable[float]] = ..., volume: _Optional[_Iterable[float]] = ...) -> None: ...

class FeaturesRequest(_message.Message):
    __slots__ = ("dataset", "dataset_version", "symbols", "bars", "indicators", "window", "priority")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    BARS_FIELD_NUMBER: _ClassVar[int]
    INDICATORS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    dataset_version: str
    symbols: _containers.RepeatedScalarFieldContainer[str]
    bars: Bars
    indicators: _containers.RepeatedCompositeFieldContainer[_common_pb2.Indicator]
    window: int
    priority: str
    def __init__(self, dataset: _Optional[str] = ..., dataset_version: _Optional[str] = ..., symbols: _Optional[_Iterable[str]] = ..., bars: _Optional[_Union[Bars, _Mapping]] = ..., indicators: _Optional[_Iterable[_Union[_common_pb2.Indicator, _Mapping]]] = ..., window: _Optional[int] = ..., priority: _Optional[str] = ...) -> None: ...

class FeaturesReply(_message.Message):
    __slots__ = ("source", "dataset", "dataset_version", "symbols", "timestamps", "features", "priority", "device", "backend", "simulated", "compute_ms")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.Matrix
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.Matrix, _Mapping]] = ...) -> None: ...
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMPS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    SIMULATED_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_MS_FIELD_NUMBER: _ClassVar[int]
    source: str
    dataset: str
    dataset_version: str
    symbols: _containers.RepeatedScalarFieldContainer[str]
    timestamps: _containers.RepeatedScalarFieldContainer[str]
    features: _containers.MessageMap[str, _common_pb2.Matrix]
    priority: str
    device: str
    backend: str
    simulated: bool
    compute_ms: float
    def __init__(self, source: _Optional[str] = ..., dataset: _Optional[str] = ..., dataset_version: _Optional[str] = ..., symbols: _Optional[_Iterable[str]] = ..., timestamps: _Optional[_Iterable[str]] = ..., features: _Optional[_Mapping[str, _common_pb2.Matrix]] = ..., priority: _Optional[str] = ..., device: _Optional[str] = ..., backend: _Optional[str] = ..., simulated: _Optional[bool] = ..., compute_ms: _Optional[float] = ...) -> None: ...

class StreamOpen(_message.Message):
    __slots__ = ("dataset", "dataset_version", "symbols", "indicators", "outputs", "history", "time_unit", "stream_id")
    class IndicatorsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    DATASET_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    INDICATORS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIT_FIELD_NUMBER: _ClassVar[int]
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    dataset_version: str
    symbols: _containers.RepeatedScalarFieldContainer[str]
    indicators: _containers.ScalarMap[str, float]
    outputs: _containers.RepeatedScalarFieldContainer[str]
    history: int
    time_unit: str
    stream_id: str
    def __init__(self, dataset: _Optional[str] = ..., dataset_version: _Optional[str] = ..., symbols: _Optional[_Iterable[str]] = ..., indicators: _Optional[_Mapping[str, float]] = ..., outputs: _Optional[_Iterable[str]] = ..., history: _Optional[int] = ..., time_unit: _Optional[str] = ..., stream_id: _Optional[str] = ...) -> None: ...

class TickBatch(_message.Message):
    __slots__ = ("symbol", "time", "open", "high", "low", "close", "volume")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    symbol: _containers.RepeatedScalarFieldContainer[str]
    time: _containers.RepeatedScalarFieldContainer[float]
    open: _containers.RepeatedScalarFieldContainer[float]
    high: _containers.RepeatedScalarFieldContainer[float]
    low: _containers.RepeatedScalarFieldContainer[float]
    close: _containers.RepeatedScalarFieldContainer[float]
    volume: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, symbol: _Optional[_Iterable[str]] = ..., time: _Optional[_Iterable[float]] = ..., open: _Optional[_Iterable[float]] = ..., high: _Optional[_Iterable[float]] = ..., low: _Optional[_Iterable[float]] = ..., close: _Optional[_Iterable[float]] = ..., volume: _Optional[_Iterable[float]] = ...) -> None: ...

class MarketDataIn(_message.Message):
    __slots__ = ("open", "ticks")
    OPEN_FIELD_NUMBER: _ClassVar[int]
    TICKS_FIELD_NUMBER: _ClassVar[int]
    open: StreamOpen
    ticks: TickBatch
    def __init__(self, open: _Optional[_Union[StreamOpen, _Mapping]] = ..., ticks: _Optional[_Union[TickBatch, _Mapping]] = ...) -> None: ...

class StreamInfo(_message.Message):
    __slots__ = ("stream_id", "dataset", "dataset_version", "symbols", "outputs", "worker_id", "tier")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    dataset: str
    dataset_version: str
    symbols: _containers.RepeatedScalarFieldContainer[str]
    outputs: _containers.RepeatedScalarFieldContainer[str]
    worker_id: str
    tier: str
    def __init__(self, stream_id: _Optional[str] = ..., dataset: _Optional[str] = ..., dataset_version: _Optional[str] = ..., symbols: _Optional[_Iterable[str]] = ..., outputs: _Optional[_Iterable[str]] = ..., worker_id: _Optional[str] = ..., tier: _Optional[str] = ...) -> None: ...

class TickFeatures(_message.Message):
    __slots__ = ("stream_id", "rows", "features", "worker_id", "tier", "recovered", "server_ms")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.Matrix
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.Matrix, _Mapping]] = ...) -> None: ...
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    RECOVERED_FIELD_NUMBER: _ClassVar[int]
    SERVER_MS_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    rows: int
    features: _containers.MessageMap[str, _common_pb2.Matrix]
    worker_id: str
    tier: str
    recovered: bool
    server_ms: float
    def __init__(self, stream_id: _Optional[str] = ..., rows: _Optional[int] = ..., features: _Optional[_Mapping[str, _common_pb2.Matrix]] = ..., worker_id: _Optional[str] = ..., tier: _Optional[str] = ..., recovered: _Optional[bool] = ..., server_ms: _Optional[float] = ...) -> None: ...

class MarketDataOut(_message.Message):
    __slots__ = ("opened", "features")
    OPENED_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    opened: StreamInfo
    features: TickFeatures
    def __init__(self, opened: _Optional[_Union[StreamInfo, _Mapping]] = ..., features: _Optional[_Union[TickFeatures, _Mapping]] = ...) -> None: ...

class MarketDataReplay(_message.Message):
    __slots__ = ("open", "batches")
    OPEN_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    open: StreamOpen
    batches: _containers.RepeatedCompositeFieldContainer[TickBatch]
    def __init__(self, open: _Optional[_Union[StreamOpen, _Mapping]] = ..., batches: _Optional[_Iterable[_Union[TickBatch, _Mapping]]] = ...) -> None: ...
