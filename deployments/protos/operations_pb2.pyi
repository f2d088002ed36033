from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListDevicesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Device(_message.Message):
    __slots__ = ("worker_id", "kind", "label", "simulated", "backend", "healthy", "health_state", "ready", "busy_job", "executed", "memory", "budget", "error")
    class MemoryEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class BudgetEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SIMULATED_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    HEALTH_STATE_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    BUSY_JOB_FIELD_NUMBER: _ClassVar[int]
    EXECUTED_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    kind: str
    label: str
    simulated: bool
    backend: str
    healthy: bool
    health_state: str
    ready: bool
    busy_job: str
    executed: int
    memory: _containers.ScalarMap[str, float]
    budget: _containers.ScalarMap[str, float]
    error: str
    def __init__(self, worker_id: _Optional[str] = ..., kind: _Optional[str] = ..., label: _Optional[str] = ..., simulated: _Optional[bool] = ..., backend: _Optional[str] = ..., healthy: _Optional[bool] = ..., health_state: _Optional[str] = ..., ready: _Optional[bool] = ..., busy_job: _Optional[str] = ..., executed: _Optional[int] = ..., memory: _Optional[_Mapping[str, float]] = ..., budget: _Optional[_Mapping[str, float]] = ..., error: _Optional[str] = ...) -> None: ...

class DeviceList(_message.Message):
    __slots__ = ("devices",)
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    devices: _containers.RepeatedCompositeFieldContainer[Device]
    def __init__(self, devices: _Optional[_Iterable[_Union[Device, _Mapping]]] = ...) -> None: ...

class ListDatasetsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Dataset(_message.Message):
    __slots__ = ("name", "version", "n_bars", "n_assets", "start", "end", "symbols", "symbols_truncated", "created_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    N_BARS_FIELD_NUMBER: _ClassVar[int]
    N_ASSETS_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    n_bars: int
    n_assets: int
    start: str
    end: str
    symbols: _containers.RepeatedScalarFieldContainer[str]
    symbols_truncated: bool
    created_at: float
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., n_bars: _Optional[int] = ..., n_assets: _Optional[int] = ..., start: _Optional[str] = ..., end: _Optional[str] = ..., symbols: _Optional[_Iterable[str]] = ..., symbols_truncated: _Optional[bool] = ..., created_at: _Optional[float] = ...) -> None: ...

class DatasetList(_message.Message):
    __slots__ = ("datasets",)
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    datasets: _containers.RepeatedCompositeFieldContainer[Dataset]
    def __init__(self, datasets: _Optional[_Iterable[_Union[Dataset, _Mapping]]] = ...) -> None: ...

class ReadyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReadyReply(_message.Message):
    __slots__ = ("ready", "workers", "workers_ready", "queue_depth", "reason")
    class QueueDepthEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    READY_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    WORKERS_READY_FIELD_NUMBER: _ClassVar[int]
    QUEUE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ready: bool
    workers: int
    workers_ready: int
    queue_depth: _containers.ScalarMap[str, int]
    reason: str
    def __init__(self, ready: _Optional[bool] = ..., workers: _Optional[int] = ..., workers_ready: _Optional[int] = ..., queue_depth: _Optional[_Mapping[str, int]] = ..., reason: _Optional[str] = ...) -> None: ...
