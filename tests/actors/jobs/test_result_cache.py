"""Result cache: stable content keys, hits and misses, LRU, reload from the journal (no Ray)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from actors.jobs.records import JobRecord, JobSpec, new_job_id
from actors.jobs.journal import InMemoryJobJournal
from actors.jobs.result_cache import ResultCache, cache_key
from gpu_hal.streams.priority import JobClass

PAYLOAD = {
    "dataset": "synthetic",
    "strategy": "trend_following",
    "grid": {"fast": [5, 10], "slow": [20, 50]},
    "costs": {"fees": 0.001, "slippage": 0.0005},
    "symbols": ["A", "B"],
    "top_k": 5,
}


def test_key_is_stable_and_dict_order_independent():
    k1 = cache_key(JobSpec("sweep", PAYLOAD), "v1", "c1")
    reordered = {k: PAYLOAD[k] for k in reversed(list(PAYLOAD))}
    reordered["grid"] = {"slow": [20, 50], "fast": [5, 10]}
    reordered["costs"] = {"slippage": 0.0005, "fees": 0.001}
    k2 = cache_key(JobSpec("sweep", reordered), "v1", "c1")
    assert k1 == k2 and len(k1) == 64 and int(k1, 16) >= 0
    # numpy inputs normalise to the same key
    np_payload = dict(PAYLOAD, grid={"fast": np.array([5, 10]), "slow": (20, 50)}, top_k=np.int64(5))
    assert cache_key(JobSpec("sweep", np_payload), "v1", "c1") == k1
    # A pinned value: the key format must not drift silently between releases.
    pinned = cache_key(JobSpec("backtest", {"params": {"lookback": 20}, "dataset": "synthetic"}), "d1", "c1")
    assert pinned == "417585d137067e68479ca589c957a41be739d865ae6f6d590dd38a98c77a9a50"


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p.update(strategy="momentum"),
        lambda p: p.update(grid={"fast": [5, 11], "slow": [20, 50]}),
        lambda p: p.update(costs={"fees": 0.002, "slippage": 0.0005}),
        lambda p: p.update(symbols=["B", "A"]),
        lambda p: p.update(top_k=6),
        lambda p: p.update(dataset="other"),
    ],
)
def test_key_changes_with_every_input(change):
    base = cache_key(JobSpec("sweep", PAYLOAD), "v1", "c1")
    p = {k: (dict(v) if isinstance(v, dict) else v) for k, v in PAYLOAD.items()}
    change(p)
    assert cache_key(JobSpec("sweep", p), "v1", "c1") != base


def test_key_depends_on_kind_and_versions():
    spec = JobSpec("sweep", PAYLOAD)
    base = cache_key(spec, "v1", "c1")
    assert cache_key(spec, "v2", "c1") != base
    assert cache_key(spec, "v1", "c2") != base
    assert cache_key(JobSpec("backtest", PAYLOAD), "v1", "c1") != base
    with pytest.raises(ValueError):
        cache_key(spec, "", "c1")
    with pytest.raises(TypeError):
        cache_key(PAYLOAD, "v1", "c1")  # type: ignore[arg-type]


def test_hits_and_misses():
    cache = ResultCache()
    key, job = "k" * 64, new_job_id()
    assert cache.get(key) is None
    cache.put(key, job)
    assert cache.get(key) == job and cache.get(key) == job
    assert cache.get("other") is None
    assert (cache.hits, cache.misses) == (2, 2)
    assert cache.stats() == {"hits": 2, "misses": 2, "size": 1, "hit_ratio": 0.5}
    assert cache.invalidate(key) is True and cache.invalidate(key) is False
    assert cache.get(key) is None and cache.misses == 3
    with pytest.raises(ValueError):
        cache.put(key, "../x")


def test_invalidate_job_and_clear():
    cache = ResultCache()
    job = new_job_id()
    cache.put("a", job)
    cache.put("b", job)
    cache.put("c", new_job_id())
    assert cache.invalidate_job(job) == 2 and len(cache) == 1 and "c" in cache
    cache.clear()
    assert len(cache) == 0


def test_lru_bound():
    cache = ResultCache(max_entries=2)
    ids = [new_job_id() for _ in range(3)]
    cache.put("a", ids[0])
    cache.put("b", ids[1])
    cache.get("a")  # a is now the most recent
    cache.put("c", ids[2])
    assert "a" in cache and "c" in cache and "b" not in cache


def test_disabled_cache():
    cache = ResultCache(enabled=False)
    cache.put("a", new_job_id())
    assert cache.get("a") is None and cache.stats()["misses"] == 0 and len(cache) == 0


def test_reload_from_journal_after_restart():
    journal = InMemoryJobJournal()
    spec = JobSpec("sweep", PAYLOAD)
    key = cache_key(spec, "v1", "c1")
    older = JobRecord.new(spec, JobClass.LOW, "t", now=1.0).transition("running", now=2.0)
    older = older.transition("succeeded", now=3.0, cache_key=key)
    newer = JobRecord.new(spec, JobClass.LOW, "t", now=4.0).transition("running", now=5.0)
    newer = newer.transition("succeeded", now=6.0, cache_key=key)
    served = JobRecord.new(spec, JobClass.LOW, "u", now=7.0).transition("succeeded", now=7.0, cache_key=key,
                                                                         cache_hit=True)
    failed = JobRecord.new(JobSpec("backtest", {"x": 1}), JobClass.LOW, "t", now=8.0).transition(
        "running", now=8.0).transition("failed", now=9.0, cache_key="f" * 64)
    uncached = JobRecord.new(JobSpec("backtest", {"x": 2}), JobClass.LOW, "t", now=8.0)
    for r in (newer, older, served, failed, uncached):
        journal.put(r)
    cache = ResultCache()
    assert cache.load(journal.list(states=["succeeded"], limit=None)) == 2
    assert cache.get(key) == newer.job_id  # the newest finished result wins, not the cache-hit record
    assert cache.get("f" * 64) is None and cache.stats()["hits"] == 1


def test_thread_safety():
    cache = ResultCache(max_entries=50)
    ids = [new_job_id() for _ in range(100)]

    def work(k: int) -> None:
        for i in range(200):
            key = f"k{(i + k) % 100}"
            if cache.get(key) is None:
                cache.put(key, ids[(i + k) % 100])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s = cache.stats()
    assert s["hits"] + s["misses"] == 800 and s["size"] <= 50
