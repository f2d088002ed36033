"""A small Python client of the rayquant.v1 gRPC API (Serve's gRPC proxy, port ServeConfig.grpc_port).

    from deployments.grpc_api.client import GrpcClient
    from deployments.protos import backtest_pb2 as bt, common_pb2 as cm
    with GrpcClient("127.0.0.1:9000") as rq:
        reply = rq.backtests.IntegratedBacktest(bt.BacktestRequest(
            strategy="trend_following", params={"fast": cm.Scalar(integer=10), "slow": cm.Scalar(integer=50)},
            wait=True), metadata=rq.metadata())
        print(reply.result.portfolio.sharpe)

`metadata(live=...)` names the Serve application (`application`: Serve's proxy routes on it when
more than one runs; the live calls go to the live application, `rayquant-live`) and the API key
(`x-api-key`). `call(stub_method, request)` adds it for you; `error_info(exc)` reads the structured
details of a failed call (code, field, retry-after).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional

import grpc

from actors.settings import SERVE_APP_NAME, SERVE_LIVE_APP_NAME
from deployments.grpc_api.ingress import APPLICATION_METADATA, RETRY_AFTER_METADATA, STATUS_DETAILS_METADATA
from deployments.http.auth import API_KEY_METADATA
from deployments.protos import backtest_pb2_grpc, ml_pb2_grpc, operations_pb2_grpc, realtime_pb2_grpc

LIVE_METHODS = frozenset({"ComputeFeatures", "StreamMarketData", "ReplayMarketData", "Predict"})


@dataclass
class ErrorInfo:
    """What a failed call says: status, message, the HTTP error code, the field at fault, retry-after (s)."""

    status: grpc.StatusCode
    message: str
    reason: Optional[str] = None
    field: Optional[str] = None
    retry_after_s: Optional[float] = None


def error_info(exc: grpc.RpcError) -> ErrorInfo:
    """The structured error of a failed call (google.rpc.Status in `grpc-status-details-bin`)."""
    from google.rpc import error_details_pb2, status_pb2  # noqa: PLC0415

    info = ErrorInfo(status=exc.code(), message=exc.details() or "")
    for key, value in exc.trailing_metadata() or ():
        if key == RETRY_AFTER_METADATA:
            info.retry_after_s = float(value)
        elif key == STATUS_DETAILS_METADATA:
            rich = status_pb2.Status.FromString(value)
            for detail in rich.details:
                if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    ei = error_details_pb2.ErrorInfo()
                    detail.Unpack(ei)
                    info.reason = ei.reason
                    info.field = ei.metadata.get("field") or info.field
                elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                    ri = error_details_pb2.RetryInfo()
                    detail.Unpack(ri)
                    info.retry_after_s = ri.retry_delay.seconds + ri.retry_delay.nanos / 1e9
    return info


class GrpcClient:
    """Stubs of the four rayquant.v1 services and grpc.health.v1 on one channel, with the metadata."""

    def __init__(self, target: str, *, api_key: Optional[str] = None, application: Optional[str] = SERVE_APP_NAME,
                 live_application: Optional[str] = SERVE_LIVE_APP_NAME,
                 options: Iterable[tuple[str, Any]] = ()) -> None:
        self.target = target
        self.api_key = api_key
        self.application = application
        self.live_application = live_application or application
        self.channel = grpc.insecure_channel(target, options=list(options))
        self.backtests = backtest_pb2_grpc.BacktestsStub(self.channel)
        self.realtime = realtime_pb2_grpc.RealtimeStub(self.channel)
        self.models = ml_pb2_grpc.ModelsStub(self.channel)
        self.operations = operations_pb2_grpc.OperationsStub(self.channel)

    def metadata(self, live: bool = False, **extra: str) -> list[tuple[str, str]]:
        md: list[tuple[str, str]] = []
        app = self.live_application if live else self.application
        if app:
            md.append((APPLICATION_METADATA, app))
        if self.api_key:
            md.append((API_KEY_METADATA, self.api_key))
        md.extend(extra.items())
        return md

    def call(self, method: Any, request: Any, *, timeout: Optional[float] = None, **kwargs: Any) -> Any:
        """`method(request)` with this client's metadata (the live application for the live RPCs)."""
        name = getattr(method, "_method", b"")
        name = (name.decode() if isinstance(name, bytes) else str(name)).rsplit("/", 1)[-1]
        return method(request, metadata=self.metadata(live=name in LIVE_METHODS), timeout=timeout, **kwargs)

    def health(self, service: str = "", *, timeout: Optional[float] = 10.0) -> str:
        """grpc.health.v1 Check: SERVING, NOT_SERVING, ... (needs the grpcio-health-checking package)."""
        from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: PLC0415

        reply = health_pb2_grpc.HealthStub(self.channel).Check(health_pb2.HealthCheckRequest(service=service),
                                                                metadata=self.metadata(), timeout=timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "GrpcClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


__all__ = ["ErrorInfo", "GrpcClient", "LIVE_METHODS", "error_info"]
