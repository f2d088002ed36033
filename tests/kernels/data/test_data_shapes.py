"""Close-only and wide data: Panel.from_close / from_fields, close-only long tables, wide
CSV / Parquet files, and clear errors naming the field an indicator needs but the data lacks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kernels import indicators as ind
from kernels.backtest import run, sweep
from kernels.data import (DataValidationError, MissingFieldError, Panel, as_panel, read_csv, read_parquet,
                          synthetic_panel)


@pytest.fixture(scope="module")
def full() -> Panel:
    return synthetic_panel(3, 80, seed=8)


def test_from_close_dataframe_series_and_array(full: Panel) -> None:
    closes = full.close_frame()
    p = Panel.from_close(closes)
    assert p.symbols == full.symbols and p.missing == ("open", "high", "low", "volume") and p.fields == ("close",)
    np.testing.assert_array_equal(p.close, full.close)
    np.testing.assert_array_equal(p.index, full.index)
    assert np.isnan(p.high).all()
    shuffled = Panel.from_close(closes.iloc[::-1])  # rows are sorted by time
    np.testing.assert_array_equal(shuffled.close, full.close)
    one = Panel.from_close(closes["S0001"])
    assert one.symbols == ("S0001",) and one.close.shape == (80, 1)
    arr = Panel.from_close(np.asarray(full.close), symbols=["a", "b", "c"])
    assert arr.symbols == ("a", "b", "c") and arr.index.tolist() == list(range(80))


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.assign(S0001=d["S0001"].where(d.index != d.index[5], -1.0)), "close must be positive at row 5"),
    (lambda d: d.assign(S0002=d["S0002"].where(d.index != d.index[9], np.inf)), "close is infinite at row 9"),
    (lambda d: pd.concat([d, d.iloc[[3]]]), "duplicate timestamp"),
    (lambda d: d.assign(S0000=d["S0000"].astype(object).where(d.index != d.index[2], "x")), "not numeric"),
    (lambda d: d.iloc[:0], "at least one bar"),
])
def test_from_close_validation(full: Panel, mutate, match: str) -> None:
    with pytest.raises(DataValidationError, match=match):
        Panel.from_close(mutate(full.close_frame()))


def test_close_only_long_table_round_trips(full: Panel, tmp_path) -> None:
    long = full.to_frame()[["timestamp", "symbol", "close"]]
    p = Panel.from_frame(long)
    assert p.missing == ("open", "high", "low", "volume")
    np.testing.assert_array_equal(p.close, full.close)
    assert list(p.to_frame().columns) == ["timestamp", "symbol", "close"]
    long.to_csv(tmp_path / "c.csv", index=False)
    long.to_parquet(tmp_path / "c.parquet", index=False)
    for q in (read_csv(tmp_path / "c.csv"), read_parquet(tmp_path / "c.parquet")):
        assert q.missing == p.missing
        np.testing.assert_array_equal(q.close, full.close)
    partial = Panel.from_frame(full.to_frame().drop(columns=["open"]))  # OHLC without open: only open missing
    assert partial.missing == ("open",)
    np.testing.assert_array_equal(partial.high, full.high)


def test_wide_csv_and_parquet(full: Panel, tmp_path) -> None:
    wide = full.close_frame().reset_index()
    wide.rename(columns={"timestamp": "Date"}).to_csv(tmp_path / "w.csv", index=False)
    full.close_frame().to_parquet(tmp_path / "w.parquet")  # the time index kept by pandas' metadata
    wide.to_parquet(tmp_path / "w2.parquet", index=False)
    for path in ("w.csv", "w.parquet", "w2.parquet"):
        p = (read_csv if path.endswith(".csv") else read_parquet)(tmp_path / path)
        assert p.symbols == full.symbols and p.missing == ("open", "high", "low", "volume"), path
        np.testing.assert_array_equal(p.close, full.close)
        np.testing.assert_array_equal(p.index, full.index)


def test_wide_tables_explain_what_they_need(full: Panel, tmp_path) -> None:
    full.close_frame().reset_index(drop=True).to_csv(tmp_path / "notime.csv", index=False)
    with pytest.raises(DataValidationError, match="needs a time column"):
        read_csv(tmp_path / "notime.csv")
    ohlc = full.to_frame().drop(columns=["symbol"]).iloc[:10]
    ohlc.to_csv(tmp_path / "ohlc.csv", index=False)
    with pytest.raises(DataValidationError, match="look like OHLCV fields"):
        read_csv(tmp_path / "ohlc.csv")


def test_close_only_data_refuses_what_needs_other_fields(full: Panel) -> None:
    p = Panel.from_close(full.close_frame())
    out = ind.compute(p, ["rsi", "macd", ("sma", {"timeperiod": 10})])  # close-only indicators work
    np.testing.assert_array_equal(out["rsi"], ind.rsi(np.asarray(full.close)))
    for spec, field in (("atr", "high"), ("obv", "volume"), ("stoch", "high"), ("vwap", "high"),
                        ({"name": "sma", "input": "volume"}, "volume")):
        with pytest.raises(MissingFieldError, match=f"needs '{field}'.*no '{field}' column"):
            ind.compute(p, [spec])
    with pytest.raises(MissingFieldError, match="'low'"):
        p.field("low")
    r = run(p, "trend_following", {"fast": 5, "slow": 20}, backend="cpu")  # close-only strategies run
    pd.testing.assert_frame_equal(r.metrics, run(full, "trend_following", {"fast": 5, "slow": 20},
                                                 backend="cpu").metrics)
    s = sweep(p, "mean_reversion", {"window": [10, 20]}, backend="cpu")
    assert len(s.portfolio_metrics) == 2


def test_from_fields_and_as_panel(full: Panel) -> None:
    frames = {f: pd.DataFrame(np.asarray(getattr(full, f)), index=pd.DatetimeIndex(full.index),
                              columns=list(full.symbols)) for f in ("high", "low", "close")}
    p = as_panel(frames)
    assert p.missing == ("open", "volume")
    np.testing.assert_array_equal(ind.compute(p, ["atr"])["atr"], ind.atr(full.high, full.low, full.close))
    with pytest.raises(MissingFieldError, match="'volume'"):
        ind.compute(p, ["obv"])
    with pytest.raises(MissingFieldError, match="no 'close'"):
        as_panel({"high": frames["high"]})
    with pytest.raises(DataValidationError, match="unknown field"):
        as_panel({"close": frames["close"], "adj_close": frames["close"]})
    with pytest.raises(DataValidationError, match="close's index and columns"):
        as_panel({"close": frames["close"], "high": frames["high"].iloc[:, :2]})
    with pytest.raises(DataValidationError, match="data must be"):
        as_panel("prices.csv")
    assert as_panel(full) is full
