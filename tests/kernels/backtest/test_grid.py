"""Sweep grid expansion: the column-wise constraint (`valid_rows`) numbers exactly the combinations that
the row-wise `check` keeps, in itertools.product order, with the same dtypes and kernel encoding."""
from __future__ import annotations

import dataclasses
import itertools

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.backtest import grid as grid_module
from kernels.backtest.grid import GridError, expand_grid
from kernels.strategies import get_strategy


def rowwise(strategy: str, grid: dict, n_bars: int):
    """The same expansion with the strategy's row-wise check only (its `valid_rows` removed)."""
    spec = dataclasses.replace(get_strategy(strategy), valid_rows=None)
    original = grid_module.get_strategy
    grid_module.get_strategy = lambda name: spec
    try:
        return expand_grid(strategy, grid, n_bars)
    finally:
        grid_module.get_strategy = original


def reference_params(strategy: str, grid: dict) -> pd.DataFrame:
    """itertools.product over the grid, the row-wise check, one dict per kept row."""
    spec = get_strategy(strategy)
    defaults = {p.name: p.default for p in spec.params}
    rows = []
    for combo in itertools.product(*(list(v) if isinstance(v, list) else [v] for v in grid.values())):
        row = {**defaults, **dict(zip(grid, combo))}
        if spec.check is None or spec.check(row) is None:
            rows.append(row)
    out = pd.DataFrame(rows, columns=[p.name for p in spec.params])
    out.index = pd.RangeIndex(len(out), name="combo_id")
    return out


windows = st.lists(st.integers(2, 60), min_size=1, max_size=6, unique=True)
zs = st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0]), min_size=1, max_size=4, unique=True)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_column_constraint_equals_the_row_check(data):
    strategy = data.draw(st.sampled_from(["trend_following", "mean_reversion", "pairs"]))
    if strategy == "trend_following":
        grid = {"fast": data.draw(windows), "slow": data.draw(windows),
                "ma": data.draw(st.sampled_from([["sma"], ["ema", "sma"], "ema"]))}
    else:
        grid = {"window": data.draw(windows), "entry_z": data.draw(zs), "exit_z": data.draw(zs)}
    try:
        want = reference_params(strategy, grid)
    except Exception:  # noqa: BLE001 - compared below: both refuse
        want = None
    if want is None or want.empty:
        with pytest.raises(GridError, match="no valid combination"):
            expand_grid(strategy, grid, 100)
        return
    got = expand_grid(strategy, grid, 100)
    slow = rowwise(strategy, grid, 100)
    pd.testing.assert_frame_equal(got.params, slow.params)
    pd.testing.assert_frame_equal(got.params, want, check_dtype=False)  # product order, the kept rows
    assert got.n_dropped == slow.n_dropped == len(list(itertools.product(
        *(v if isinstance(v, list) else [v] for v in grid.values())))) - len(want)
    assert (got.ints == slow.ints).all() and (got.floats == slow.floats).all()


def test_no_valid_combination_names_the_first_problem():
    with pytest.raises(GridError, match=r"\(2 dropped\), e\.g\. parameter 'fast' \(50\) must be smaller than 'slow' \(10\)"):
        expand_grid("trend_following", {"fast": [50, 60], "slow": [10]}, 100)
