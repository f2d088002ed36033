"""Tenant namespaces of datasets and models, the bounded dataset cache, the tenant in
the result cache key (issue 12): one tenant never reads, lists or replaces another's data."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from actors.datasets import (DatasetNameTaken, DatasetNotFound, DatasetStore, InvalidDatasetName, panel_bytes,
                             public_name)
from actors.jobs.records import JobSpec
from actors.jobs.result_cache import cache_key
from actors.models.registry import InvalidModelName, ModelNotFound, ModelRegistry, owner_of, scoped_name
from kernels.data import synthetic_panel

BUILTIN = synthetic_panel(4, 120, seed=1)
ALICE = synthetic_panel(3, 80, seed=2)
BOB = synthetic_panel(3, 80, seed=3)


def store(tmp_path, **kw) -> DatasetStore:
    return DatasetStore(tmp_path, {"synthetic": lambda: BUILTIN}, **kw)


def test_a_tenant_sees_and_reads_only_its_own_and_shared(tmp_path):
    ds = store(tmp_path)
    a = ds.register("prices", ALICE, owner="alice")
    b = ds.register("prices", BOB, owner="bob")  # the same name in another namespace
    assert a.version != b.version and a.to_public()["name"] == "prices" and not a.to_public()["shared"]
    assert ds.load(ds.resolve("alice", "prices"))[0].version == a.version
    assert ds.load(ds.resolve("bob", "prices"))[0].version == b.version
    with pytest.raises(DatasetNotFound, match="unknown dataset 'prices'"):
        ds.resolve("carol", "prices")  # another tenant's dataset is unknown, never revealed
    assert ds.resolve("carol", "synthetic") == "synthetic"
    assert [m.to_public()["name"] for m in ds.list("alice")] == ["synthetic", "prices"]
    assert [m.to_public()["name"] for m in ds.list("carol")] == ["synthetic"]
    assert all(m.to_public()["shared"] for m in ds.list("carol"))


def test_names_cannot_be_taken_over(tmp_path):
    ds = store(tmp_path)
    before = ds.load("synthetic")[0].version
    with pytest.raises(DatasetNameTaken, match="built in"):
        ds.register("synthetic", ALICE, owner="alice")
    with pytest.raises(DatasetNameTaken, match="built in"):
        ds.register("synthetic", ALICE)  # not even as a publisher
    ds.register("published", BOB)  # shared (an admin, the Ray client)
    with pytest.raises(DatasetNameTaken, match="shared"):
        ds.register("published", ALICE, owner="alice")
    assert ds.load("synthetic")[0].version == before
    assert ds.resolve("alice", "published") == "published"
    with pytest.raises(InvalidDatasetName):
        ds.resolve("alice", "bob~prices")  # clients give plain names only
    with pytest.raises(InvalidDatasetName):
        ds.register("trail\n", ALICE, owner="alice")


def test_default_tenant_is_the_shared_namespace_and_old_files_stay_readable(tmp_path):
    legacy = store(tmp_path)
    old = legacy.register("mine", ALICE)  # stored as before namespaces: <root>/datasets/mine/
    meta_file = tmp_path / "datasets" / "mine" / f"{old.version}.json"
    raw = json.loads(meta_file.read_text())
    assert raw["name"] == "mine"
    ds = store(tmp_path)  # a restart
    assert ds.resolve("default", "mine") == "mine" and ds.resolve("alice", "mine") == "mine"
    np.testing.assert_array_equal(ds.load("mine")[1].close, legacy.load("mine")[1].close)
    assert ds.register("mine", BOB, owner="default").name == "mine"  # the default tenant publishes


def test_dataset_cache_is_an_lru_bounded_in_bytes(tmp_path):
    one = panel_bytes(ALICE)
    ds = store(tmp_path, max_cache_bytes=2 * one + one // 2)
    for i in range(4):
        ds.register(f"d{i}", synthetic_panel(3, 80, seed=10 + i), owner="alice")
    stats = ds.cache_stats()
    assert stats["panels"] == 2 and stats["bytes"] <= stats["max_bytes"]
    meta, panel = ds.load("alice~d0")  # evicted: read back from disk, then cached again
    assert meta.name == "alice~d0" and public_name(meta.name) == "d0" and panel.n_assets == 3
    assert ds.cache_stats()["panels"] == 2
    ds.load("alice~d3")
    ds.register("d4", synthetic_panel(3, 80, seed=20), owner="alice")
    assert ("alice~d3", ds.latest("alice~d3").version) in ds._panels  # recently used survives
    tiny = store(tmp_path, max_cache_bytes=10)
    assert tiny.load("alice~d1")[1].n_bars == 80 and tiny.cache_stats()["panels"] == 0


def test_models_are_scoped_per_tenant(tmp_path):
    reg = ModelRegistry(tmp_path)
    assert scoped_name("alice", "m1") == "alice~m1" and scoped_name("default", "m1") == "m1"
    assert owner_of("alice~m1") == "alice" and owner_of("m1") is None
    with pytest.raises(InvalidModelName):
        scoped_name("alice", "bob~m1")
    with pytest.raises(InvalidModelName):
        scoped_name("alice", "m1\n")
    (tmp_path / "models").mkdir(exist_ok=True)
    with pytest.raises(ModelNotFound):
        reg.resolve("alice", "m1")
    d = reg._name_dir("alice~m1")
    assert d == tmp_path / "tenant-models" / "alice" / "m1" and os.path.commonpath([d, tmp_path]) == str(tmp_path)


def test_result_cache_key_includes_the_tenant():
    spec = JobSpec("backtest", {"dataset": "synthetic", "strategy": "trend_following"})
    assert cache_key(spec, "v1", "c1", tenant="alice") != cache_key(spec, "v1", "c1", tenant="bob")
    assert cache_key(spec, "v1", "c1", tenant="alice") == cache_key(spec, "v1", "c1", tenant="alice")
