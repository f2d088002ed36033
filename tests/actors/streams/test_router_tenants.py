"""Streams per tenant (issue 12): the same id in two tenants is two streams, another
tenant's id is never revealed (no "already open"), and one tenant cannot take every slot."""
from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from actors.streams.registry import StreamError, StreamLimitReached, StreamNotFound
from tests.actors.streams.test_router import SEED_BARS, setup, ticks


def test_stream_ids_are_per_tenant():
    panel, _, router, workers, _ = setup()

    async def go():
        a = await router.open("synthetic", tenant="alice", stream_id="desk-1", symbols=[panel.symbols[0]])
        b = await router.open("synthetic", tenant="bob", stream_id="desk-1", symbols=[panel.symbols[1]])
        assert a["stream_id"] == b["stream_id"] == "desk-1" and a["symbols"] != b["symbols"]
        with pytest.raises(StreamError, match="already open"):  # only its own id is "already open"
            await router.open("synthetic", tenant="alice", stream_id="desk-1")
        assert router.status("desk-1", "alice")["symbols"] == [panel.symbols[0]]
        assert router.status("desk-1", "bob")["symbols"] == [panel.symbols[1]]
        with pytest.raises(StreamNotFound):
            router.status("desk-1", "carol")
        res = await router.push("desk-1", ticks(panel, SEED_BARS, cols=[1]), tenant="bob")
        assert res.result.rows == 1
        await router.close("desk-1", "alice")
        assert router.status("desk-1", "bob")["batches"] == 1  # bob's stream is untouched
        held = {sid for w in workers.values() for sid in w.target.worker.streams._streams}
        assert len(held) == 1 and "desk-1" not in held  # chosen ids never collide on a worker

    asyncio.run(go())


def test_one_tenant_cannot_take_every_slot():
    panel, _, router, _, _ = setup()
    router.config = replace(router.config, max_streams=4, max_streams_per_tenant=2)

    async def go():
        for _ in range(2):
            await router.open("synthetic", tenant="flood")
        with pytest.raises(StreamLimitReached, match="per-tenant"):
            await router.open("synthetic", tenant="flood")
        for _ in range(2):
            await router.open("synthetic", tenant="desk")  # others still get theirs
        with pytest.raises(StreamLimitReached, match="4 streams are open"):
            await router.open("synthetic", tenant="third")

    asyncio.run(go())
