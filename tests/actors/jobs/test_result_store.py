"""Result store: Arrow/.npy/JSON round trips (Parquet of older stores read), atomic commits, safe paths (no Ray)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from actors.jobs.records import InvalidJobId, new_job_id
from actors.jobs.result_store import InvalidResult, ResultNotFound, ResultStore


@pytest.fixture
def store(tmp_path: Path) -> ResultStore:
    return ResultStore(tmp_path / "storage")


def sample() -> dict:
    idx = pd.date_range("2020-01-01", periods=5, freq="D", name="time")
    combos = pd.MultiIndex.from_product([[5, 10], [20, 50]], names=["fast", "slow"])
    return {
        "metrics": pd.DataFrame(
            {"sharpe": [0.1, np.nan, 0.3, -0.2], "trades": np.arange(4, dtype=np.int64), "symbol": list("abcd")},
            index=combos,
        ),
        "equity": pd.Series(np.linspace(1.0, 1.2, 5), index=idx, name="portfolio"),
        "unnamed": pd.Series([1, 2, 3]),
        "returns": np.arange(12, dtype=np.float32).reshape(3, 4),
        "records": np.zeros(3, dtype=[("col", np.int32), ("pnl", np.float64)]),
        "summary": {"total_return": 0.2, "sharpe": float("nan"), "symbols": ["a", "b"], "n": np.int64(3)},
        "top_k": [[5, 20], [10, 50]],
        "note": "ok",
    }


def check_equal(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    pd.testing.assert_frame_equal(got["metrics"], want["metrics"])
    pd.testing.assert_series_equal(got["equity"], want["equity"], check_freq=False)
    pd.testing.assert_series_equal(got["unnamed"], want["unnamed"])
    np.testing.assert_array_equal(got["returns"], want["returns"])
    assert got["returns"].dtype == np.float32
    assert got["records"].dtype == want["records"].dtype
    assert got["summary"]["total_return"] == 0.2 and np.isnan(got["summary"]["sharpe"])
    assert got["summary"]["n"] == 3 and got["summary"]["symbols"] == ["a", "b"]
    assert got["top_k"] == [[5, 20], [10, 50]] and got["note"] == "ok"


def test_result_round_trip(store: ResultStore):
    job = new_job_id()
    assert not store.has_result(job)
    path = store.save_result(job, sample())
    assert Path(path) == store.job_dir(job) / "result.json" and store.has_result(job)
    check_equal(store.load_result(job), sample())


def test_chunk_round_trip_and_listing(store: ResultStore):
    job = new_job_id()
    assert store.chunk_indices(job) == []
    for i in (3, 0, 1):
        p = store.save_chunk(job, i, {"part": np.full(2, i), "meta": {"index": i}})
        assert Path(p).name == f"{i:08d}.json"
    assert store.chunk_indices(job) == [0, 1, 3]
    assert store.has_chunk(job, 1) and not store.has_chunk(job, 2)
    got = store.load_chunk(job, 3)
    np.testing.assert_array_equal(got["part"], [3, 3])
    assert got["meta"] == {"index": 3}
    with pytest.raises(ResultNotFound):
        store.load_chunk(job, 2)
    store.delete_chunks(job)
    assert store.chunk_indices(job) == []


def test_missing_result(store: ResultStore):
    with pytest.raises(ResultNotFound):
        store.load_result(new_job_id())
    assert issubclass(ResultNotFound, KeyError)


@pytest.mark.parametrize("bad", ["../x", "..", "", "a/b", "/etc/passwd", "ABCDEF" * 6, "0" * 31, None, 7])
def test_bad_job_ids_never_become_paths(store: ResultStore, bad):
    for call in (
        lambda: store.save_result(bad, {"x": 1}),
        lambda: store.load_result(bad),
        lambda: store.save_chunk(bad, 0, {"x": 1}),
        lambda: store.load_chunk(bad, 0),
        lambda: store.delete(bad),
        lambda: store.has_result(bad),
    ):
        with pytest.raises(InvalidJobId):
            call()
    assert list((store.root / "jobs").iterdir()) == []


@pytest.mark.parametrize("name", ["../x", "a.b", "", "x" * 65, "a/b", ".hidden", 3])
def test_bad_names_are_refused(store: ResultStore, name):
    with pytest.raises(InvalidResult):
        store.save_result(new_job_id(), {name: 1})


def test_bad_values_are_refused_and_leave_nothing(store: ResultStore):
    job = new_job_id()
    for values in (
        {"obj": np.array([{"a": 1}], dtype=object)},
        {"thing": object()},
        {"frame": pd.DataFrame({"x": [object()]})},  # Parquet cannot hold arbitrary objects
        ["not", "a", "mapping"],
    ):
        with pytest.raises(InvalidResult):
            store.save_result(job, values)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.save_chunk(job, -1, {"x": 1})
    assert not store.has_result(job)
    leftovers = list(store.job_dir(job).iterdir()) if store.job_dir(job).exists() else []
    assert leftovers == []


def test_overwrite_is_atomic_and_cleans_the_old_version(store: ResultStore):
    job = new_job_id()
    store.save_result(job, {"a": np.arange(3), "v": 1})
    store.save_result(job, {"b": np.arange(4), "v": 2})
    got = store.load_result(job)
    assert set(got) == {"b", "v"} and got["v"] == 2
    entries = sorted(p.name for p in store.job_dir(job).iterdir())
    assert len(entries) == 2 and entries[0].startswith("result.") and entries[1] == "result.json"
    assert not any(p.name.startswith(".") for p in store.job_dir(job).iterdir())  # no temp files left


def test_failed_write_keeps_the_previous_result(store: ResultStore, monkeypatch):
    job = new_job_id()
    store.save_result(job, {"v": 1, "arr": np.arange(3)})

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        store.save_result(job, {"v": 2, "arr": np.arange(5)})
    monkeypatch.undo()
    got = store.load_result(job)
    assert got["v"] == 1 and len(got["arr"]) == 3
    names = [p.name for p in store.job_dir(job).iterdir()]
    assert len(names) == 2 and not any(n.startswith(".") for n in names)  # new version and temp removed


def test_readers_only_follow_the_manifest(store: ResultStore):
    job = new_job_id()
    store.save_result(job, {"v": 1})
    # A half-written version directory (a crash before the manifest swap) is ignored.
    (store.job_dir(job) / ("result." + "f" * 32)).mkdir()
    assert store.load_result(job) == {"v": 1}


def test_damaged_manifest_is_an_error_not_a_path(store: ResultStore):
    job = new_job_id()
    store.save_result(job, {"arr": np.arange(3)})
    manifest_path = store.job_dir(job) / "result.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["version"] = "../../../etc"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(InvalidResult):
        store.load_result(job)
    manifest_path.write_text("{broken")
    with pytest.raises(InvalidResult):
        store.load_result(job)


def test_missing_data_file_is_reported(store: ResultStore):
    job = new_job_id()
    store.save_result(job, {"arr": np.arange(3)})
    version_dir = next(p for p in store.job_dir(job).iterdir() if p.is_dir())
    (version_dir / "arr.npy").unlink()
    with pytest.raises(InvalidResult, match="missing a data file"):
        store.load_result(job)


def test_delete(store: ResultStore):
    job = new_job_id()
    store.save_result(job, {"v": 1})
    store.save_chunk(job, 0, {"v": 0})
    assert store.delete(job) is True
    assert not store.job_dir(job).exists() and store.delete(job) is False


def test_frames_with_non_string_columns_round_trip(store: ResultStore):
    job = new_job_id()
    ints = pd.DataFrame({1: [1.0], 2: [2.0]})
    multi = pd.DataFrame([[1.0, 2.0]], columns=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)]))
    store.save_result(job, {"ints": ints, "multi": multi})
    got = store.load_result(job)
    pd.testing.assert_frame_equal(got["ints"], ints)
    pd.testing.assert_frame_equal(got["multi"], multi)


def test_without_fsync(tmp_path: Path):
    store = ResultStore(tmp_path, fsync=False)
    job = new_job_id()
    store.save_result(job, {"df": pd.DataFrame({"x": [1.0, 2.0]})})
    pd.testing.assert_frame_equal(store.load_result(job)["df"], pd.DataFrame({"x": [1.0, 2.0]}))


def test_frames_are_arrow_files_and_older_parquet_stores_still_load(store: ResultStore):
    job = new_job_id()
    store.save_result(job, sample())
    manifest_path = store.job_dir(job) / "result.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["items"]["metrics"]["file"] == "metrics.arrow"
    assert manifest["items"]["equity"]["file"] == "equity.arrow"
    # A store written before Arrow: the same manifest naming Parquet files.
    version_dir = store.job_dir(job) / f"result.{manifest['version']}"
    for name in ("metrics", "equity", "unnamed"):
        (version_dir / f"{name}.arrow").unlink()
        frame = sample()[name]
        frame = frame.to_frame("value") if isinstance(frame, pd.Series) else frame
        frame.to_parquet(version_dir / f"{name}.parquet", engine="pyarrow")
        manifest["items"][name]["file"] = f"{name}.parquet"
    manifest_path.write_text(json.dumps(manifest))
    check_equal(store.load_result(job), sample())
    manifest["items"]["metrics"]["file"] = "other.arrow"  # a file of another name is damage, not a path
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(InvalidResult, match="damaged entry"):
        store.load_result(job)


@pytest.mark.parametrize("chunk_fsync", [False, True])
def test_chunk_partials_are_flushed_only_when_asked_final_results_always(tmp_path: Path, monkeypatch, chunk_fsync):
    store = ResultStore(tmp_path, chunk_fsync=chunk_fsync)
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    job = new_job_id()
    store.save_chunk(job, 0, sample())
    assert bool(calls) == chunk_fsync
    check_equal(store.load_chunk(job, 0), sample())
    calls.clear()
    store.save_result(job, sample())
    assert len(calls) >= len(sample())  # every data file, the directories and the manifest
