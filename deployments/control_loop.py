"""An event loop on a thread of its own for the replica's coordinator calls.

The HTTP server and the live routes share the replica's main event loop. A Ray
actor call costs that loop its submission (argument serialisation, the core
worker's bookkeeping) and the handling of its reply; a burst of research requests
(20 backtests arriving together) would queue a live request behind all of them.
Coordinator calls therefore run on this loop instead; the main loop only waits on
a future. The replica's short GIL switch interval keeps the main loop's turns short.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Awaitable, Callable, TypeVar

T = TypeVar("T")


class ControlLoop:
    """Runs coroutines on a daemon thread's event loop, awaited from any other loop."""

    def __init__(self, name: str = "coordinator-calls") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    async def run(self, make: Callable[[], Awaitable[T]]) -> T:
        """`await make()` on the control loop (cancelled there if the caller is cancelled)."""
        async def job() -> T:
            return await make()

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(job(), self._loop))

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


__all__ = ["ControlLoop"]
