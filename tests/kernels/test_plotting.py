"""kernels.plotting: every plot renders (Agg PNG, not blank), plotly figures have traces,
trade marks are the trades of docs/backtest-semantics.md, heat maps pivot the sweep table."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from kernels import plotting  # noqa: E402
from kernels.backtest import run, sweep  # noqa: E402
from kernels.backtest.walk_forward import walk_forward  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402


@pytest.fixture(scope="module")
def panel():
    return synthetic_panel(4, 500, seed=2)


@pytest.fixture(scope="module")
def result(panel):
    return run(panel, "trend_following", {"fast": 10, "slow": 40, "long_only": False}, fees=0.001)


@pytest.fixture(scope="module")
def swept(panel):
    return sweep(panel, "trend_following", {"fast": [5, 10, 20], "slow": [30, 60], "ma": ["sma", "ema"]})


@pytest.fixture(scope="module")
def wf(panel):
    return walk_forward(panel, "trend_following", {"fast": [5, 10], "slow": [30, 60]}, train=200, test=100)


def _pixels(fig) -> np.ndarray:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)
    plt.close(fig)
    buf.seek(0)
    img = plt.imread(buf)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    return img


def _not_blank(fig) -> None:
    img = _pixels(fig)
    assert float(img[..., :3].std()) > 0.05, "the figure is (nearly) blank"


def test_run_plot_portfolio_and_symbol(result) -> None:
    _not_blank(result.plot())
    _not_blank(result.plot("S0002"))
    fig, axes = plt.subplots(2, 1)
    assert result.plot(ax=axes) is fig
    _not_blank(fig)
    with pytest.raises(KeyError, match="unknown symbol"):
        result.plot("NOPE")


def test_run_plot_has_time_axis_and_trade_markers(result) -> None:
    fig = result.plot("S0001")
    ax_eq, ax_dd = fig.axes[:2]
    line = ax_eq.get_lines()[0]
    assert np.issubdtype(np.asarray(result.equity.index).dtype, np.datetime64)
    assert len(line.get_xdata()) == len(result.equity)
    entries, exits = plotting.trade_marks(result.positions)
    markers = [c for c in ax_eq.collections]  # scatter: entries then exits
    assert len(markers) == 2
    assert len(markers[0].get_offsets()) == int(entries["S0001"].sum())
    assert len(markers[1].get_offsets()) == int(exits["S0001"].sum())
    plt.close(fig)


def test_trade_marks_count_the_trades(result) -> None:
    entries, exits = plotting.trade_marks(result.positions)
    for sym in result.symbols:
        assert int(entries[sym].sum()) == int(result.metrics.loc[sym, "n_trades"])
    counts = result.trade_counts
    for sym in result.symbols:
        assert int(exits[sym].sum()) == int(counts.loc[sym, "n_closed"])


def test_heatmap(swept) -> None:
    _not_blank(swept.heatmap("fast", "slow"))
    _not_blank(swept.heatmap("slow", "fast", metric="max_drawdown"))
    grid = swept.pivot("fast", "slow", "sharpe")
    table = swept.table
    assert list(grid.columns) == [5, 10, 20] and list(grid.index) == [30, 60]
    for f in (5, 10, 20):
        for s in (30, 60):
            rows = table[(table["fast"] == f) & (table["slow"] == s)]
            assert grid.loc[s, f] == rows["sharpe"].max()  # best over the ma values
    dd = swept.pivot("fast", "slow", "max_drawdown")
    assert dd.loc[30, 5] == table[(table["fast"] == 5) & (table["slow"] == 30)]["max_drawdown"].min()
    with pytest.raises(KeyError, match="not a parameter"):
        swept.heatmap("fast", "window")
    with pytest.raises(KeyError, match="unknown metric"):
        swept.heatmap("fast", "slow", metric="alpha")


def test_walk_forward_plot(wf) -> None:
    _not_blank(plotting.plot_walk_forward(wf))
    _not_blank(wf.plot())
    _not_blank(plotting.plot_walk_forward(wf.oos_equity, wf.folds))
    with pytest.raises(ValueError, match="folds"):
        plotting.plot_walk_forward(wf.oos_equity)


def test_unknown_backend(result) -> None:
    with pytest.raises(ValueError, match="backend"):
        result.plot(backend="bokeh")


def test_plotly_figures_have_traces(result, swept, wf) -> None:
    pytest.importorskip("plotly")
    fig = result.plot(backend="plotly")
    names = [t.name for t in fig.data]
    assert names == ["equity", "entry", "exit", "drawdown"]
    assert len(fig.data[0].x) == len(result.portfolio_equity)
    hm = swept.heatmap("fast", "slow", backend="plotly")
    assert len(hm.data) == 1 and np.asarray(hm.data[0].z).shape == (2, 3)
    w = plotting.plot_walk_forward(wf, backend="plotly")
    assert len(w.data) == 1 and len(w.layout.shapes) == len(wf.folds)


def test_result_pandas_views_and_repr(panel, result) -> None:
    idx = pd.DatetimeIndex(panel.index, name="timestamp")
    for frame in (result.equity, result.returns, result.positions):
        assert frame.index.equals(idx) and list(frame.columns) == list(panel.symbols)
    np.testing.assert_array_equal(result.equity.to_numpy(), result.equity_array)
    assert result.portfolio_equity.index.equals(idx)
    dd = result.drawdown
    assert list(dd.columns) == [*panel.symbols, "portfolio"]
    np.testing.assert_allclose(dd.max().to_numpy(), result.metrics["max_drawdown"].to_numpy(), rtol=1e-12)
    assert len(repr(result).splitlines()) < 15
