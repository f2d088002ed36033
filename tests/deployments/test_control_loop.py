"""The replica's control loop: coordinator calls run on its own thread, results and errors come back."""
from __future__ import annotations

import asyncio
import threading

import pytest

from deployments.control_loop import ControlLoop


def test_runs_on_its_own_thread_and_returns_results_and_errors():
    control = ControlLoop()

    async def where() -> str:
        await asyncio.sleep(0)
        return threading.current_thread().name

    async def fails() -> None:
        raise KeyError("unknown job 'x'")

    async def main() -> str:
        name = await control.run(where)
        with pytest.raises(KeyError, match="unknown job"):
            await control.run(fails)
        return name

    try:
        assert asyncio.run(main()) == "coordinator-calls"
    finally:
        control.close()


def test_a_cancelled_caller_cancels_the_call():
    control = ControlLoop()
    started, cancelled = threading.Event(), threading.Event()

    async def slow() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def main() -> None:
        task = asyncio.ensure_future(control.run(slow))
        while not started.is_set():
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(main())
        assert cancelled.wait(5)
    finally:
        control.close()
