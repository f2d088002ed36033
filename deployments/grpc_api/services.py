"""What Serve's proxy imports from us: the servicer functions of `gRPCOptions.grpc_servicer_functions`.

The first one also installs `WebSocketCloseFilter` on the proxy's Serve logger (the proxy process
imports these functions when it starts its gRPC server, and runs nothing else of ours): Ray 2.60's
HTTP proxy logs a WebSocket that the *client* closes normally (close code 1000/1001) as
"Request failed due to unexpected error." with a GeneratorExit traceback. The filter turns that
record into one INFO line; every other record passes unchanged.
"""
from __future__ import annotations

import logging
from typing import Any

SERVE_LOGGER = "ray.serve"
_UNEXPECTED = "Request failed due to unexpected error."


class WebSocketCloseFilter(logging.Filter):
    """The proxy's GeneratorExit "unexpected error" (a client's normal WebSocket close) as an INFO line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[0] if record.exc_info else None
        if record.getMessage() == _UNEXPECTED and exc is GeneratorExit:
            record.msg, record.args = "WebSocket closed by the client", ()
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
        return True


def install_proxy_log_filter() -> None:
    logger = logging.getLogger(SERVE_LOGGER)
    if not any(isinstance(f, WebSocketCloseFilter) for f in logger.filters):
        logger.addFilter(WebSocketCloseFilter())


def add_backtests_servicer(servicer: Any, server: Any) -> None:
    """rayquant.v1.Backtests on Serve's gRPC server (and the proxy's log filter, see the module docstring)."""
    from deployments.protos.backtest_pb2_grpc import add_BacktestsServicer_to_server  # noqa: PLC0415

    install_proxy_log_filter()
    add_BacktestsServicer_to_server(servicer, server)


__all__ = ["WebSocketCloseFilter", "add_backtests_servicer", "install_proxy_log_filter"]
