"""The workers' live feature cache: LRU bounds, keys with the dataset version, the worker path."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from actors.workers.feature_cache import FeatureCache, feature_key, nbytes_of
from actors.messages import WorkItem
from actors.jobs.plans import ChunkSpec, FeatureBlock
from actors.settings import StreamsConfig
from actors.workers.worker import Worker
from gpu_hal.streams.priority import JobClass
from kernels.data import synthetic_panel
from kernels.indicators import rsi

PAYLOAD = {"dataset": "synthetic", "window": 3, "indicators": [{"name": "rsi", "params": {"timeperiod": 14}}]}


def block(n: int = 10) -> FeatureBlock:
    return FeatureBlock(index=np.arange(n).astype("datetime64[D]").astype("datetime64[ns]"), symbols=("A",),
                        values={"x": np.ones((n, 1))})


def test_lru_by_entries_and_bytes():
    cache = FeatureCache(max_entries=2, max_bytes=10_000)
    cache.put(("a",), block())
    cache.put(("b",), block())
    assert cache.get(("a",)) is not None  # a is now the most recent
    cache.put(("c",), block())
    assert cache.get(("b",)) is None and cache.get(("a",)) is not None and cache.get(("c",)) is not None
    stats = cache.stats()
    assert stats["entries"] == 2 and stats["evictions"] == 1 and stats["hits"] == 3 and stats["misses"] == 1
    assert stats["hit_ratio"] == pytest.approx(0.75)
    size = nbytes_of(block())
    small = FeatureCache(max_entries=100, max_bytes=2 * size)
    for k in range(5):
        small.put((k,), block())
    assert len(small) == 2 and small.stats()["bytes"] == 2 * size
    assert not small.put(("huge",), block(10_000))  # over the byte bound alone: not kept
    assert not FeatureCache(0, 0).enabled


def test_cached_arrays_are_read_only_and_thread_safe():
    cache = FeatureCache(max_entries=8, max_bytes=1 << 20)
    value, hit = cache.get_or_compute(("k",), block)
    assert not hit and not value.values["x"].flags.writeable
    errors = []

    def reader(i: int) -> None:
        try:
            for j in range(200):
                cache.get_or_compute((i % 4, j % 16), block)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(cache) <= 8
    stats = cache.stats()
    assert stats["hits"] + stats["misses"] == 8 * 200 + 1


def test_key_has_the_dataset_version_and_what_the_result_depends_on():
    k1 = feature_key("d", "v1", PAYLOAD)
    assert k1 == feature_key("d", "v1", {**PAYLOAD, "priority": "HIGH"})  # not part of the result
    assert k1 != feature_key("d", "v2", PAYLOAD)
    assert k1 != feature_key("d", "v1", {**PAYLOAD, "window": 4})
    assert k1 != feature_key("d", "v1", {**PAYLOAD, "symbols": ["S0000"]})
    assert k1 != feature_key("d", "v1", {**PAYLOAD, "indicators": [{"name": "rsi", "params": {"timeperiod": 7}}]})


def test_worker_features_hit_the_cache_and_report_it():
    panel = synthetic_panel(5, 120, seed=1)
    worker = Worker("cpu-t", "cpu", streams=StreamsConfig(feature_cache_max_entries=4))
    item = WorkItem("live", "features", PAYLOAD, ChunkSpec(0, (0, 5)), int(JobClass.REALTIME), "live",
                    "synthetic", "v1")
    first = worker.execute(item, panel)
    second = worker.execute(item, panel)
    want = rsi(panel.close, 14)[-3:]
    for res in (first, second):
        np.testing.assert_allclose(res.result["rsi_14"].to_numpy(), want, rtol=1e-12)
    assert first.timings["feature_cache"] == "miss" and second.timings["feature_cache"] == "hit"
    newer = worker.execute(WorkItem("live", "features", PAYLOAD, ChunkSpec(0, (0, 5)), int(JobClass.REALTIME),
                                    "live", "synthetic", "v2"), panel)
    assert newer.timings["feature_cache"] == "miss"  # a new dataset version is a new key
    cache = worker.status()["feature_cache"]
    assert cache["hits"] == 1 and cache["misses"] == 2 and cache["entries"] == 2
    assert worker.metrics.counts["feature_cache_hit"] == 1
    with pytest.raises(Exception):  # errors are not cached
        worker.execute(WorkItem("live", "features", {**PAYLOAD, "indicators": [{"name": "bogus"}]},
                                ChunkSpec(0, (0, 5)), int(JobClass.REALTIME), "live", "synthetic", "v1"), panel)
    assert worker.status()["feature_cache"]["entries"] == 2


def test_seed_like_workload_hit_ratio_over_80_percent():
    """Many clients reading a few popular windows (plus a tail of one-off reads)."""
    panel = synthetic_panel(8, 200, seed=2)
    worker = Worker("cpu-t", "cpu")
    rng = np.random.default_rng(0)
    popular = [{**PAYLOAD, "symbols": list(panel.symbols[i: i + 3]), "window": w} for i in range(3) for w in (1, 5)]
    for r in range(300):
        if rng.random() < 0.1:
            payload = {**PAYLOAD, "window": int(rng.integers(10, 100)) + r}  # one-off
        else:
            payload = popular[min(int(rng.zipf(1.5)) - 1, len(popular) - 1)]
        worker.execute(WorkItem("live", "features", payload, ChunkSpec(0, (0, 8)), int(JobClass.REALTIME), "live",
                                "synthetic", "v1"), panel)
    assert worker.feature_cache.stats()["hit_ratio"] > 0.8
