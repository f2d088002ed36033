"""pandas in, pandas out: indicators keep index and columns (multi-output: named tuples),
run / sweep take DataFrames, dicts of OHLCV frames or Panels alike, and results expose
time- and symbol-indexed pandas with a short repr."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kernels import indicators as ind
from kernels.backend import to_numpy
from kernels.backtest import run, sweep
from kernels.data import Panel, synthetic_panel
from tests.conftest import backends


@pytest.fixture(scope="module")
def panel() -> Panel:
    return synthetic_panel(3, 250, seed=6)


def _frames(panel: Panel) -> dict[str, pd.DataFrame]:
    idx = pd.DatetimeIndex(panel.index, name="timestamp")
    return {f: pd.DataFrame(np.asarray(getattr(panel, f)), index=idx, columns=list(panel.symbols))
            for f in ("open", "high", "low", "close", "volume")}


@pytest.mark.parametrize("name", sorted(ind.INDICATORS))
def test_every_indicator_keeps_pandas_labels(panel: Panel, name: str) -> None:
    spec = ind.INDICATORS[name]
    frames = _frames(panel)
    arrays = [np.asarray(getattr(panel, f)) for f in spec.fields]
    want = spec.func(*arrays)
    got = spec.func(*[frames[f] for f in spec.fields])
    series = spec.func(*[frames[f]["S0001"].rename("S0001") for f in spec.fields])
    if len(spec.outputs) == 1:
        want, got, series = (want,), (got,), (series,)
    else:
        assert type(got).__name__ == f"{name.upper()}Result" and got._fields == spec.outputs
        assert isinstance(want, tuple) and not isinstance(want[0], pd.DataFrame)  # NumPy in, NumPy out
    for k, (w, g, s) in enumerate(zip(want, got, series)):
        assert isinstance(g, pd.DataFrame) and g.index.equals(frames["close"].index)
        assert list(g.columns) == list(panel.symbols)
        np.testing.assert_array_equal(g.to_numpy(), w, err_msg=f"{name}[{k}]")
        assert isinstance(s, pd.Series) and s.index.equals(frames["close"].index)
        np.testing.assert_array_equal(s.to_numpy(), w[:, 1])
        if len(spec.outputs) > 1:
            assert s.name == spec.outputs[k]
        else:
            assert s.name == "S0001"


def test_named_tuples_unpack_like_tuples(panel: Panel) -> None:
    c = np.asarray(panel.close)
    m, s, h = ind.macd(c)
    res = ind.macd(c)
    np.testing.assert_array_equal(res.macdsignal, s)
    np.testing.assert_array_equal(res[2], h)
    upper, middle, lower = ind.bbands(pd.Series(c[:, 0]))
    assert isinstance(middle, pd.Series) and middle.name == "middleband"


def test_pandas_inputs_must_agree(panel: Panel) -> None:
    f = _frames(panel)
    with pytest.raises(ValueError, match="share one index"):
        ind.atr(f["high"], f["low"].iloc[::-1], f["close"])


def test_compute_with_frames_and_an_ohlcv_frame(panel: Panel) -> None:
    f = _frames(panel)
    out = ind.compute(f, ["rsi", "macd", "atr"])
    ref = ind.compute(panel, ["rsi", "macd", "atr"])
    for key, value in out.items():
        assert isinstance(value, pd.DataFrame) and list(value.columns) == list(panel.symbols)
        np.testing.assert_array_equal(value.to_numpy(), ref[key])
    one = pd.DataFrame({k: v["S0002"] for k, v in f.items()})  # one asset, a column per field
    single = ind.compute(one, ["obv", ("sma", {"timeperiod": 10})])
    assert isinstance(single["obv"], pd.Series) and single["obv"].index.equals(one.index)
    np.testing.assert_array_equal(single["sma_10"].to_numpy(), ref_sma := ind.sma(np.asarray(panel.close)[:, 2], 10))
    assert np.isfinite(ref_sma[-1])


def test_run_takes_frames_dicts_and_panels(panel: Panel) -> None:
    f = _frames(panel)
    params = {"fast": 5, "slow": 30}
    base = run(panel, "trend_following", params, fees=0.001, backend="cpu")
    for data in (f["close"], f, {"close": f["close"]}, Panel.from_close(f["close"])):
        r = run(data, "trend_following", params, fees=0.001, backend="cpu")
        pd.testing.assert_frame_equal(r.metrics, base.metrics)
        pd.testing.assert_frame_equal(r.equity, base.equity)
    single = run(f["close"]["S0000"], "trend_following", params, backend="cpu")
    assert list(single.equity.columns) == ["S0000"]


def test_sweep_takes_frames_and_dicts(panel: Panel) -> None:
    f = _frames(panel)
    grid = {"fast": [5, 10], "slow": [30]}
    base = sweep(panel, "trend_following", grid, backend="cpu")
    for data in (f["close"], f):
        s = sweep(data, "trend_following", grid, backend="cpu")
        pd.testing.assert_frame_equal(s.portfolio_metrics, base.portfolio_metrics)
        pd.testing.assert_frame_equal(s.asset_metrics, base.asset_metrics)


def test_results_are_time_and_symbol_indexed_with_short_reprs(panel: Panel) -> None:
    r = run(panel, "mean_reversion", {"window": 20}, backend="cpu")
    idx = pd.DatetimeIndex(panel.index, name="timestamp")
    for frame in (r.positions, r.returns, r.equity, r.drawdown):
        assert frame.index.equals(idx) and list(frame.columns)[:3] == list(panel.symbols)
    assert r.portfolio_equity.index.equals(idx) and r.portfolio_equity.name == "portfolio"
    np.testing.assert_array_equal(r.returns.to_numpy(), r.returns_array)
    np.testing.assert_allclose(r.portfolio_equity.to_numpy(), np.cumprod(1 + r.portfolio_returns.to_numpy()),
                               rtol=1e-12)
    assert len(repr(r).splitlines()) < 15 and len(repr(r)) < 1000
    s = sweep(panel, "trend_following", {"fast": list(range(2, 30)), "slow": [40, 60, 80]}, backend="cpu")
    assert len(repr(s).splitlines()) < 15 and len(repr(s)) < 1000
    assert set(s.table.columns) >= {"fast", "slow", "sharpe"}


def test_run_result_stores_and_reloads_with_its_timestamps(panel: Panel) -> None:
    """The service's result store (actors.jobs.codecs) keeps the raw arrays and the time index."""
    codecs = pytest.importorskip("actors.jobs.codecs")
    r = run(panel, "trend_following", {"fast": 5, "slow": 30}, backend="cpu")
    back = codecs.decode(codecs.encode(r))
    pd.testing.assert_frame_equal(back.equity, r.equity)
    pd.testing.assert_series_equal(back.portfolio_equity, r.portfolio_equity)
    old_style = type(r)(**{**{k: getattr(r, k) for k in ("metrics", "backend", "params", "strategy", "symbols",
                                                        "active", "gross", "costs", "trade_counts", "fees",
                                                        "slippage", "bars_per_year")},
                           "positions": r.positions_array, "returns": r.returns_array, "equity": r.equity_array,
                           "portfolio_returns": r.portfolio_returns_array,
                           "portfolio_equity": r.portfolio_equity_array})
    np.testing.assert_array_equal(old_style.equity.to_numpy(), r.equity_array)  # raw arrays by the old names
    assert old_style.equity.index.name == "bar"  # no index: bar numbers


@pytest.mark.parametrize("backend", list(backends()))
def test_arrays_stay_arrays(panel: Panel, backend: str) -> None:
    from kernels.backend import array_module  # noqa: PLC0415

    xp = array_module(backend)
    c = xp.asarray(np.asarray(panel.close))
    out = ind.rsi(c)
    assert type(out) is type(c)
    m = ind.macd(c)
    assert type(m.macd) is type(c)
    r = run(panel.to(backend), "trend_following", {"fast": 5, "slow": 30}, backend=backend)
    assert type(r.positions_array) is type(c) and isinstance(r.positions, pd.DataFrame)
    np.testing.assert_array_equal(r.positions.to_numpy(), to_numpy(r.positions_array))


def test_job_output_tables_carry_timestamps(panel: Panel, tmp_path) -> None:
    """`rayquant` job outputs (deployments/jobs.py): the equity table has the bars' timestamps."""
    jobs = pytest.importorskip("deployments.jobs")
    r = run(panel, "trend_following", {"fast": 5, "slow": 30}, backend="cpu")
    jobs.write_backtest(r, tmp_path)
    table = pd.read_parquet(tmp_path / "equity.parquet")
    assert list(table.columns[:2]) == ["bar", "timestamp"]
    assert pd.DatetimeIndex(table["timestamp"]).equals(pd.DatetimeIndex(panel.index))
    np.testing.assert_array_equal(table["portfolio"].to_numpy(), r.portfolio_equity.to_numpy())
