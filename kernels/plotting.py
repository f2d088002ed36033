"""Plots of backtest, sweep and walk-forward results, with time on the x-axis.

matplotlib by default (imported when a plot is drawn; the Agg backend works
headless), plotly with `backend="plotly"` where it is installed. Each function
returns the figure: a `matplotlib.figure.Figure` (draw into your own axes with
`ax=`) or a `plotly.graph_objects.Figure`. No Ray, no I/O: the caller saves or
shows the figure.

- `plot_run(result, symbol=None)`: equity over drawdown; the portfolio, or one
  symbol; entries (position opened or flipped) and exits (position closed)
  marked on the equity curve (for the portfolio: bars where any asset enters or
  exits). Also `RunResult.plot()`.
- `plot_heatmap(sweep, x, y, metric)`: a metric of the portfolio over two swept
  parameters (the best value over the other parameters). Also
  `SweepResult.heatmap(x, y, metric)`.
- `plot_walk_forward(result)` or `plot_walk_forward(oos_equity, folds)`: the
  stitched out-of-sample equity, each fold's test window shaded and labelled with
  its chosen parameters.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

BACKENDS = ("matplotlib", "plotly")
ASCENDING = frozenset({"max_drawdown", "ann_vol"})  # lower is better (as the sweep's ranking)


def _check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    if backend == "plotly":
        try:
            import plotly  # noqa: F401, PLC0415
        except ImportError as exc:
            raise ImportError("backend='plotly' needs plotly: pip install plotly") from exc
    return backend


def _pyplot() -> Any:
    import matplotlib  # noqa: PLC0415

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline") \
            and not _has_display():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def _has_display() -> bool:
    import os  # noqa: PLC0415

    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


# ------------------------------------------------------------------------ trades
def trade_marks(positions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(entries, exits): booleans (time x symbols). An entry is a bar where the position's
    sign becomes non-zero and differs from the bar before; an exit one where a non-zero
    sign ends (to flat or a flip): the trades of docs/backtest-semantics.md."""
    sign = np.sign(positions.fillna(0.0))
    prev = sign.shift(1, fill_value=0.0)
    changed = sign.ne(prev)
    return changed & sign.ne(0), changed & prev.ne(0)


# ------------------------------------------------------------------------ run
def plot_run(result: Any, symbol: str | None = None, backend: str = "matplotlib", ax: Any = None) -> Any:
    """Equity (top) and drawdown (bottom) of a RunResult over time, trades marked.

    `symbol` None: the equal-weight portfolio. `ax`: two matplotlib axes to draw into
    (equity, drawdown); a new figure otherwise.
    """
    backend = _check_backend(backend)
    if symbol is None:
        equity = result.portfolio_equity
        drawdown = result.drawdown["portfolio"]
        entries, exits = (m.any(axis=1) for m in trade_marks(result.positions))
        title = f"{result.strategy}: equal-weight portfolio"
    else:
        if symbol not in result.symbols:
            raise KeyError(f"unknown symbol {symbol!r}; the result has {list(result.symbols)[:10]}")
        equity = result.equity[symbol]
        drawdown = result.drawdown[symbol]
        entries, exits = (m[symbol] for m in trade_marks(result.positions))
        title = f"{result.strategy}: {symbol}"
    params = ", ".join(f"{k}={v}" for k, v in result.params.items())
    title = f"{title} ({params})" if params else title
    if backend == "plotly":
        return _run_plotly(equity, drawdown, entries, exits, title)
    plt = _pyplot()
    if ax is None:
        fig, (ax_eq, ax_dd) = plt.subplots(2, 1, sharex=True, figsize=(10, 6), height_ratios=(3, 1))
    else:
        ax_eq, ax_dd = ax
        fig = ax_eq.figure
    ax_eq.plot(equity.index, equity.to_numpy(), color="tab:blue", lw=1.2, label="equity")
    for mask, marker, color, label in ((entries, "^", "tab:green", "entry"), (exits, "v", "tab:red", "exit")):
        if mask.any():
            ax_eq.scatter(equity.index[mask.to_numpy()], equity.to_numpy()[mask.to_numpy()], marker=marker,
                          color=color, s=28, zorder=3, label=label)
    ax_eq.set_ylabel("equity")
    ax_eq.set_title(title)
    ax_eq.legend(loc="upper left")
    ax_eq.grid(alpha=0.3)
    ax_dd.fill_between(drawdown.index, -drawdown.to_numpy(), 0.0, color="tab:red", alpha=0.35)
    ax_dd.set_ylabel("drawdown")
    ax_dd.set_xlabel(equity.index.name or "time")
    ax_dd.grid(alpha=0.3)
    fig.autofmt_xdate()
    return fig


def _run_plotly(equity: pd.Series, drawdown: pd.Series, entries: pd.Series, exits: pd.Series, title: str) -> Any:
    import plotly.graph_objects as go  # noqa: PLC0415
    from plotly.subplots import make_subplots  # noqa: PLC0415

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25], vertical_spacing=0.04)
    fig.add_trace(go.Scatter(x=equity.index, y=equity.to_numpy(), name="equity", mode="lines"), row=1, col=1)
    for mask, symbol, color, label in ((entries, "triangle-up", "green", "entry"),
                                       (exits, "triangle-down", "red", "exit")):
        m = mask.to_numpy()
        fig.add_trace(go.Scatter(x=equity.index[m], y=equity.to_numpy()[m], name=label, mode="markers",
                                 marker={"symbol": symbol, "color": color, "size": 8}), row=1, col=1)
    fig.add_trace(go.Scatter(x=drawdown.index, y=-drawdown.to_numpy(), name="drawdown", fill="tozeroy",
                             line={"color": "red"}), row=2, col=1)
    fig.update_layout(title=title, height=550)
    fig.update_yaxes(title_text="equity", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", row=2, col=1)
    return fig


# ------------------------------------------------------------------------ sweep
def sweep_pivot(result: Any, x: str, y: str, metric: str | None = None) -> pd.DataFrame:
    """`metric` over parameters x (columns) and y (rows); where other parameters vary, the
    best value (highest, lowest for max_drawdown / ann_vol)."""
    metric = metric or result.rank_by
    table = result.params.join(result.portfolio_metrics, how="inner")
    for name, what in ((x, "x"), (y, "y")):
        if name not in result.params.columns:
            raise KeyError(f"{what}={name!r} is not a parameter of this sweep; parameters: {list(result.params.columns)}")
    if metric not in result.portfolio_metrics.columns:
        raise KeyError(f"unknown metric {metric!r}; metrics: {list(result.portfolio_metrics.columns)}")
    if x == y:
        raise ValueError("x and y must be different parameters")
    agg = "min" if metric in ASCENDING else "max"
    return table.pivot_table(index=y, columns=x, values=metric, aggfunc=agg).sort_index().sort_index(axis=1)


def plot_heatmap(result: Any, x: str, y: str, metric: str | None = None, backend: str = "matplotlib",
                 ax: Any = None) -> Any:
    """A heat map of a sweep's portfolio `metric` (default its rank_by) over parameters x and y."""
    backend = _check_backend(backend)
    metric = metric or result.rank_by
    grid = sweep_pivot(result, x, y, metric)
    title = f"{result.strategy}: {metric}"
    if backend == "plotly":
        import plotly.graph_objects as go  # noqa: PLC0415

        fig = go.Figure(go.Heatmap(z=grid.to_numpy(), x=[str(v) for v in grid.columns],
                                   y=[str(v) for v in grid.index], colorbar={"title": metric}))
        fig.update_layout(title=title, xaxis_title=x, yaxis_title=y)
        return fig
    plt = _pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 5))
    else:
        fig = ax.figure
    values = grid.to_numpy(dtype=float)
    image = ax.imshow(np.ma.masked_invalid(values), origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(grid.columns)), [str(v) for v in grid.columns])
    ax.set_yticks(range(len(grid.index)), [str(v) for v in grid.index])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title)
    if values.size <= 150:
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="white", fontsize=8)
    fig.colorbar(image, ax=ax, label=metric)
    return fig


# ------------------------------------------------------------------------ walk-forward
def plot_walk_forward(result: Any, folds: pd.DataFrame | None = None, backend: str = "matplotlib",
                      ax: Any = None) -> Any:
    """The stitched out-of-sample equity of a walk-forward, each fold's test window shaded.

    `result` is a WalkForwardResult (its `oos_equity`, `folds` and `params`), or the
    out-of-sample equity Series itself with `folds`: a DataFrame with `test_start` and
    `test_end` timestamps per fold (and, optionally, parameter columns to label them).
    """
    backend = _check_backend(backend)
    params = None
    if isinstance(result, pd.Series):
        if folds is None:
            raise ValueError("plot_walk_forward(oos_equity, folds): folds (test_start, test_end per fold) is required")
        equity = result
        title = "walk-forward: out-of-sample equity"
    else:
        equity = result.oos_equity
        folds = result.folds if folds is None else folds
        params = getattr(result, "params", None)
        title = f"{result.strategy}: walk-forward out-of-sample equity ({len(folds)} folds)"
    for col in ("test_start", "test_end"):
        if col not in folds.columns:
            raise KeyError(f"folds needs a {col!r} column, has {list(folds.columns)}")
    varying = [] if params is None or len(params) != len(folds) else \
        [c for c in params.columns if params[c].astype(str).nunique() > 1]
    labels = [" ".join([f"fold {folds.index[k]}"] + [f"{c}={params.iloc[k][c]}" for c in varying])
              for k in range(len(folds))]
    if backend == "plotly":
        import plotly.graph_objects as go  # noqa: PLC0415

        fig = go.Figure(go.Scatter(x=equity.index, y=equity.to_numpy(), name="out-of-sample equity", mode="lines"))
        for k, (start, end) in enumerate(zip(folds["test_start"], folds["test_end"])):
            fig.add_vrect(x0=start, x1=end, fillcolor="gray" if k % 2 else "lightblue", opacity=0.2, line_width=0,
                          annotation_text=labels[k], annotation_position="top left")
        fig.update_layout(title=title, yaxis_title="equity")
        return fig
    plt = _pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 4.5))
    else:
        fig = ax.figure
    ax.plot(equity.index, equity.to_numpy(), color="tab:blue", lw=1.2, label="out-of-sample equity")
    top = float(np.nanmax(equity.to_numpy())) if len(equity) else 1.0
    for k, (start, end) in enumerate(zip(folds["test_start"], folds["test_end"])):
        ax.axvspan(start, end, color="tab:gray" if k % 2 else "tab:cyan", alpha=0.15, lw=0)
        ax.text(start, top, labels[k], fontsize=7, va="top", rotation=90)
    ax.set_ylabel("equity")
    ax.set_xlabel(equity.index.name or "time")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.autofmt_xdate()
    return fig
