"""kernels.backtest.metrics' result tables: metric-major stacks and the DataFrames built on them."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kernels.backtest.metrics import METRICS, metrics_by_name, metrics_frame


@pytest.fixture
def values():
    rng = np.random.default_rng(5)
    return {m: rng.normal(size=(3, 4)) for m in METRICS}


def test_metrics_by_name_is_metric_major(values):
    table = metrics_by_name(np, values)
    assert table.shape == (len(METRICS), 3, 4) and table.dtype == np.float64
    for k, m in enumerate(METRICS):
        np.testing.assert_array_equal(table[k], values[m])


def test_metrics_frame_rows_are_cells_and_columns_are_metrics_without_a_copy(values):
    table = metrics_by_name(np, values)
    index = pd.MultiIndex.from_product([range(3), list("abcd")], names=["combo_id", "symbol"])
    frame = metrics_frame(table, index)
    assert list(frame.columns) == list(METRICS) and frame.index.equals(index)
    for m in METRICS:  # row (p, a) holds values[m][p, a]
        np.testing.assert_array_equal(frame[m].to_numpy(), values[m].reshape(-1))
    assert np.shares_memory(frame.to_numpy(), table)  # pandas' one float block is the table itself


def test_metrics_frame_takes_a_strided_table(values):
    """A (P, G, M) table moved to metric-major (a non-contiguous view) gives the same frame."""
    row_major = np.stack([values[m] for m in METRICS], axis=-1)
    frame = metrics_frame(np.moveaxis(row_major, -1, 0), pd.RangeIndex(12))
    np.testing.assert_array_equal(frame.to_numpy(), row_major.reshape(12, len(METRICS)))
