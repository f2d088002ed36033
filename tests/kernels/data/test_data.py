"""kernels.data: the synthetic universe, panels, and long-form Parquet/CSV with validation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kernels.data import (
    DataValidationError,
    Panel,
    read_csv,
    read_parquet,
    synthetic_panel,
    with_late_start,
    write_parquet,
)


def test_synthetic_panel_is_deterministic_and_consistent():
    a, b = synthetic_panel(5, 300, seed=3), synthetic_panel(5, 300, seed=3)
    np.testing.assert_array_equal(a.close, b.close)
    assert not np.array_equal(a.close, synthetic_panel(5, 300, seed=4).close)
    assert a.close.shape == (300, 5) and len(a.index) == 300 and len(set(a.symbols)) == 5
    assert (a.high >= np.maximum(a.open, a.close)).all() and (a.low <= np.minimum(a.open, a.close)).all()
    assert (a.close > 0).all() and (a.volume >= 0).all()
    log_ret = np.diff(np.log(a.close), axis=0)
    assert 0.05 < log_ret.std() * np.sqrt(252) < 1.0  # annualised volatility of real-looking stocks


def test_parquet_and_csv_round_trip_exactly(tmp_path):
    panel = with_late_start(synthetic_panel(4, 120, seed=1), {"S0002": 30})
    write_parquet(panel, tmp_path / "p.parquet")
    panel.to_frame().to_csv(tmp_path / "p.csv", index=False)
    for loaded in (read_parquet(tmp_path / "p.parquet"), read_csv(tmp_path / "p.csv")):
        assert loaded.symbols == panel.symbols
        np.testing.assert_array_equal(loaded.close, panel.close)  # bit-exact, NaN where missing
        np.testing.assert_array_equal(loaded.index, panel.index)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda df: df.drop(columns=["close"]), "missing column"),
        (lambda df: df.assign(close=df["close"].astype(object).where(df.index != 7, "abc")), "'close' is not numeric at row 7"),
        (lambda df: df.assign(low=df["low"].where(df.index != 3, -1.0)), "'low' must be positive"),
        (lambda df: df.assign(open=df["open"].where(df.index != 5, np.inf)), "'open' is infinite at row 5"),
        (lambda df: pd.concat([df, df.iloc[[2]]], ignore_index=True), "duplicate (timestamp, symbol)"),
        (lambda df: df.assign(volume=df["volume"].where(df.index != 4, -5.0)), "'volume' must be non-negative"),
        (lambda df: df.iloc[0:0], "no rows"),
    ],
)
def test_bad_long_form_names_the_column_or_row(tmp_path, mutate, message):
    df = mutate(synthetic_panel(3, 20, seed=2).to_frame())
    with pytest.raises(DataValidationError, match=pytest.importorskip("re").escape(message)):
        Panel.from_frame(df)


def test_unreadable_files_are_validation_errors(tmp_path):
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataValidationError):
        read_parquet(tmp_path / "x.parquet")
    (tmp_path / "x.csv").write_bytes(b"")
    with pytest.raises(DataValidationError):
        read_csv(tmp_path / "x.csv")


def test_panel_shape_checks_and_select():
    p = synthetic_panel(4, 50)
    with pytest.raises(DataValidationError, match="shape"):
        Panel(index=p.index, symbols=p.symbols, open=p.open[:, :3], high=p.high, low=p.low, close=p.close,
              volume=p.volume)
    sub = p.select(["S0003", "S0001"], start=10, stop=20)
    assert sub.symbols == ("S0003", "S0001") and sub.close.shape == (10, 2)
    np.testing.assert_array_equal(sub.close[:, 0], p.close[10:20, 3])
    with pytest.raises(KeyError, match="unknown symbols"):
        p.select(["NOPE"])
