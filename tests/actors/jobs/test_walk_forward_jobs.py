"""Walk-forward and orders-engine jobs without Ray: submit-time checks, one chunk per fold,
chunks merged equal to `walk_forward`, results (and chunk partials) through the result store."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from actors.jobs import codecs
from actors.jobs.plans import JobSpecError, execute_chunk, merge_partials, plan_job, validate_against_panel
from actors.jobs.records import JobKind, JobSpec
from actors.jobs.result_store import ResultStore
from kernels.backtest import walk_forward
from kernels.data import synthetic_panel

PANEL = synthetic_panel(5, 360, seed=4)
WF = {"dataset": "synthetic", "strategy": "trend_following", "grid": {"fast": [3, 5, 8], "slow": [20, 40]},
      "train": 120, "test": 60, "fees": 0.001}


def test_walk_forward_is_a_job_kind():
    spec = JobSpec("walk_forward", WF)
    assert spec.kind is JobKind.WALK_FORWARD


def test_one_chunk_per_fold_merged_equals_walk_forward():
    facts = validate_against_panel("walk_forward", WF, PANEL)
    assert facts["n_folds"] == 4 and facts["n_combinations"] == 6
    chunks = plan_job("walk_forward", WF, PANEL.n_bars, PANEL.n_assets, 1e9)
    assert [c.index for c in chunks] == [0, 1, 2, 3]
    assert all(c.assets == (0, PANEL.n_assets) and c.combos == (0, 6) for c in chunks)
    parts = [execute_chunk("walk_forward", WF, PANEL, c, "cpu") for c in chunks[::-1]]  # any order
    merged = merge_partials("walk_forward", parts)
    direct = walk_forward(PANEL, "trend_following", WF["grid"], train=120, test=60, fees=0.001, backend="cpu")
    pd.testing.assert_frame_equal(merged.params, direct.params)
    pd.testing.assert_frame_equal(merged.out_of_sample, direct.out_of_sample)
    pd.testing.assert_frame_equal(merged.oos, direct.oos)
    one = merge_partials("walk_forward", parts[-1:])  # a single fold still becomes a walk-forward result
    assert one.n_folds == 1


@pytest.mark.parametrize("change, match", [
    ({"train": 300, "test": 100}, r"^train \+ test = 300 \+ 100 = 400 bars exceed the data \(360 bars\)"),
    ({"step": 10}, r"^step \(10\) must be >= test"),
    ({"test": 0}, "^test must be a positive int"),
    ({"rank_by": "luck"}, "rank_by"),
    ({"grid": {"fast": [3], "slow": [200]}}, r"'slow' = 200 is longer than the data \(60 bars\)"),
    ({"engine": "orders", "sl_stop": -0.1}, "^sl_stop is a fraction of the entry price and must be a finite number > 0"),
    ({"engine": "ticks"}, "engine"),
])
def test_bad_walk_forwards_are_refused_at_submit(change, match):
    with pytest.raises(ValueError, match=match):
        validate_against_panel("walk_forward", {**WF, **change}, PANEL)


@pytest.mark.parametrize("change, match", [
    ({"engine": "orders", "size_type": "lots"}, "^size_type must be one of"),
    ({"engine": "orders", "sl_stop": 1.5}, "^sl_stop 1.5 >= 1 can never trigger"),
    ({"engine": "orders", "init_cash": 0}, "^init_cash must be"),
    ({"engine": "orders", "tp_stop": True}, "^tp_stop must be a number"),
])
def test_bad_order_options_are_refused_at_submit(change, match):
    payload = {"dataset": "synthetic", "strategy": "trend_following", "params": {"fast": 5, "slow": 20}, **change}
    with pytest.raises(JobSpecError, match=match):
        validate_against_panel("backtest", payload, PANEL)


def test_orders_backtest_is_one_chunk():
    payload = {"strategy": "trend_following", "engine": "orders", "sl_stop": 0.05}
    assert len(plan_job("backtest", payload, PANEL.n_bars, PANEL.n_assets, PANEL.n_bars)) == 1
    assert len(plan_job("backtest", {"strategy": "trend_following"}, PANEL.n_bars, PANEL.n_assets,
                        PANEL.n_bars)) == PANEL.n_assets


def test_results_and_partials_round_trip_the_store(tmp_path):
    store = ResultStore(tmp_path, fsync=False)
    chunks = plan_job("walk_forward", WF, PANEL.n_bars, PANEL.n_assets, 1e9)
    part = execute_chunk("walk_forward", WF, PANEL, chunks[1], "cpu")
    store.save_chunk("a" * 32, 1, codecs.encode(part))
    back = codecs.decode(store.load_chunk("a" * 32, 1))
    assert back.fold == 1 and back.params == part.params and back.bounds == part.bounds
    np.testing.assert_array_equal(back.oos_returns, part.oos_returns)
    result = merge_partials("walk_forward", [execute_chunk("walk_forward", WF, PANEL, c, "cpu") for c in chunks])
    store.save_result("b" * 32, codecs.encode(result))
    loaded = codecs.decode(store.load_result("b" * 32))
    for name in ("folds", "params", "in_sample", "out_of_sample", "oos", "oos_metrics"):
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(result, name), check_freq=False)
    assert repr(loaded) == repr(result)


def test_warmup_passes_through_the_job():
    payload = {**WF, "grid": {"fast": [3, 5], "slow": [80]}, "warmup": 60}  # slow 80 > test 60: fits with warm-up
    assert validate_against_panel("walk_forward", payload, PANEL)["n_combinations"] == 2
    with pytest.raises(ValueError, match="'slow' = 80 is longer than the data"):
        validate_against_panel("walk_forward", {**payload, "warmup": 0}, PANEL)
    with pytest.raises(JobSpecError, match=r"^warmup \(200\) is longer"):
        validate_against_panel("walk_forward", {**payload, "warmup": 200}, PANEL)
    chunks = plan_job("walk_forward", payload, PANEL.n_bars, PANEL.n_assets, 1e9)
    merged = merge_partials("walk_forward", [execute_chunk("walk_forward", payload, PANEL, c, "cpu") for c in chunks])
    direct = walk_forward(PANEL, "trend_following", payload["grid"], train=120, test=60, fees=0.001, warmup=60,
                          backend="cpu")
    assert merged.warmup == 60
    pd.testing.assert_frame_equal(merged.out_of_sample, direct.out_of_sample)
