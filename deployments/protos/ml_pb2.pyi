from deployments.protos import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TrainRequest(_message.Message):
    __slots__ = ("name", "model", "params", "features", "horizon", "task", "test_fraction", "dataset", "symbols", "priority", "wait", "timeout_s")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.Scalar
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.Scalar, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    HORIZON_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    TEST_FRACTION_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    name: str
    model: str
    params: _containers.MessageMap[str, _common_pb2.Scalar]
    features: _containers.RepeatedCompositeFieldContainer[_common_pb2.Indicator]
    horizon: int
    task: str
    test_fraction: float
    dataset: str
    symbols: _containers.RepeatedScalarFieldContainer[str]
    priority: str
    wait: bool
    timeout_s: float
    def __init__(self, name: _Optional[str] = ..., model: _Optional[str] = ..., params: _Optional[_Mapping[str, _common_pb2.Scalar]] = ..., features: _Optional[_Iterable[_Union[_common_pb2.Indicator, _Mapping]]] = ..., horizon: _Optional[int] = ..., task: _Optional[str] = ..., test_fraction: _Optional[float] = ..., dataset: _Optional[str] = ..., symbols: _Optional[_Iterable[str]] = ..., priority: _Optional[str] = ..., wait: _Optional[bool] = ..., timeout_s: _Optional[float] = ...) -> None: ...

class ModelRef(_message.Message):
    __slots__ = ("model_id",)
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    def __init__(self, model_id: _Optional[str] = ...) -> None: ...

class ModelRecord(_message.Message):
    __slots__ = ("id", "name", "version", "model", "task", "backend", "params", "feature_names", "n_features", "horizon", "metrics", "created_at", "sha256", "size_bytes", "n_train", "dataset")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.Scalar
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.Scalar, _Mapping]] = ...) -> None: ...
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    FEATURE_NAMES_FIELD_NUMBER: _ClassVar[int]
    N_FEATURES_FIELD_NUMBER: _ClassVar[int]
    HORIZON_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    N_TRAIN_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    version: int
    model: str
    task: str
    backend: str
    params: _containers.MessageMap[str, _common_pb2.Scalar]
    feature_names: _containers.RepeatedScalarFieldContainer[str]
    n_features: int
    horizon: int
    metrics: _containers.ScalarMap[str, float]
    created_at: str
    sha256: str
    size_bytes: int
    n_train: int
    dataset: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ..., model: _Optional[str] = ..., task: _Optional[str] = ..., backend: _Optional[str] = ..., params: _Optional[_Mapping[str, _common_pb2.Scalar]] = ..., feature_names: _Optional[_Iterable[str]] = ..., n_features: _Optional[int] = ..., horizon: _Optional[int] = ..., metrics: _Optional[_Mapping[str, float]] = ..., created_at: _Optional[str] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., n_train: _Optional[int] = ..., dataset: _Optional[str] = ...) -> None: ...

class TrainReply(_message.Message):
    __slots__ = ("job", "record")
    JOB_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    job: _common_pb2.Job
    record: ModelRecord
    def __init__(self, job: _Optional[_Union[_common_pb2.Job, _Mapping]] = ..., record: _Optional[_Union[ModelRecord, _Mapping]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelList(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelRecord]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelRecord, _Mapping]]] = ...) -> None: ...

class PredictRequest(_message.Message):
    __slots__ = ("model_id", "rows", "dataset", "symbols")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    rows: _common_pb2.Matrix
    dataset: str
    symbols: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, model_id: _Optional[str] = ..., rows: _Optional[_Union[_common_pb2.Matrix, _Mapping]] = ..., dataset: _Optional[str] = ..., symbols: _Optional[_Iterable[str]] = ...) -> None: ...

class PredictReply(_message.Message):
    __slots__ = ("predictions", "model", "version", "n_rows", "symbols", "timestamp")
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    N_ROWS_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    predictions: _containers.RepeatedScalarFieldContainer[float]
    model: str
    version: int
    n_rows: int
    symbols: _containers.RepeatedScalarFieldContainer[str]
    timestamp: str
    def __init__(self, predictions: _Optional[_Iterable[float]] = ..., model: _Optional[str] = ..., version: _Optional[int] = ..., n_rows: _Optional[int] = ..., symbols: _Optional[_Iterable[str]] = ..., timestamp: _Optional[str] = ...) -> None: ...
