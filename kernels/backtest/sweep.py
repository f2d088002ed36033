"""Parameter sweeps: every combination of a grid over every asset, in one fused kernel.

`sweep(data, strategy, grid, ...)` runs a built-in strategy for each combination of
`grid` (see `kernels.backtest.grid`: Cartesian product, last name fastest, ids from
0, combinations breaking fast < slow or exit_z < entry_z dropped) over each asset,
and returns a `SweepResult`: per (combination, asset) metrics, per combination
portfolio metrics, and the `top_k` combinations by `rank_by`. Every row equals
`kernels.backtest.run` for that combination (docs/backtest-semantics.md).

The work is one streaming kernel per chunk, Numba on the CPU (`sweep_cpu.py`) and
CUDA on the GPU (`gpu.py`), with no T x N x P intermediate. A sweep can be cut into
chunks (`Chunk`: a range of combinations x a range of assets; `plan_chunks` makes
chunks of bounded work so that a coordinator can preempt between them), and
`merge_sweeps` merges chunk results into exactly the unchunked result: per-asset
rows are independent of the chunking, and the portfolio is rebuilt from per-bar
sums of the net returns kept as 64-bit fixed-point integers (scale 2^e, e chosen
from a bound on |r| over the whole panel), whose sums do not depend on their order.
"""
from __future__ import annotations

import math
import numbers
import sys
import threading
import types
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from kernels.backend import array_module, resolve_backend, to_numpy
from kernels.backtest.grid import KIND, GridError, SweepGrid, expand_grid
from kernels.data import Panel, as_panel

ACC_FIELDS: tuple[str, ...] = (
    "n_active", "equity", "max_drawdown", "sum_r", "sum_r2", "sum_down2",
    "n_exposed", "turnover", "n_trades", "n_closed", "n_wins",
)
N_ACC = len(ACC_FIELDS)
# Lower is better for these ranking metrics; every other metric ranks high first.
ASCENDING_METRICS: frozenset[str] = frozenset({"max_drawdown", "ann_vol"})
ASSET_ALIGN = 32  # plan_chunks splits assets at multiples of a warp (even: pairs stay whole)
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class SweepInputError(ValueError):
    """A `sweep` argument (other than the grid) is invalid; the message names it."""


# ------------------------------------------------------------------------ chunks
@dataclass(frozen=True)
class Chunk:
    """A block of a sweep: combination ids x asset positions (ranges or slices, step 1)."""

    combos: range | slice
    assets: range | slice

    def resolve(self, n_combos: int, n_assets: int) -> tuple[range, range]:
        """Concrete (combos, assets) ranges, checked against the sweep's sizes."""
        return _as_range(self.combos, n_combos, "combos"), _as_range(self.assets, n_assets, "assets")

    def n_cells(self, n_combos: int, n_assets: int, n_bars: int) -> int:
        combos, assets = self.resolve(n_combos, n_assets)
        return len(combos) * len(assets) * n_bars


def _as_range(r: range | slice, n: int, name: str) -> range:
    if isinstance(r, slice):
        start, stop, step = r.indices(n)
        r = range(start, stop, step)
    if not isinstance(r, range):
        raise SweepInputError(f"chunk {name} must be a range or a slice, got {type(r).__name__}")
    if r.step != 1:
        raise SweepInputError(f"chunk {name} must have step 1, got {r}")
    if len(r) == 0:
        raise SweepInputError(f"chunk {name} is empty: {r}")
    if r.start < 0 or r.stop > n:
        raise SweepInputError(f"chunk {name} {r} is outside 0..{n}")
    return r


def plan_chunks(n_combos: int, n_assets: int, max_cells_per_chunk: int, n_bars: int) -> list[Chunk]:
    """Cut a sweep into chunks of at most `max_cells_per_chunk` cells (bars x assets x
    combinations), combination-major.

    Chunks take all assets and as many combinations as fit; when one combination
    over all assets does not fit, assets are split at multiples of 32 (so pairs are
    never cut), one combination per chunk, and such a chunk may exceed the bound
    when even 32 assets do not fit.
    """
    for name, v in (("n_combos", n_combos), ("n_assets", n_assets), ("max_cells_per_chunk", max_cells_per_chunk),
                     ("n_bars", n_bars)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise SweepInputError(f"{name} must be a positive int, got {v!r}")
    per_combo = n_assets * n_bars
    if per_combo <= max_cells_per_chunk:
        step = max_cells_per_chunk // per_combo
        return [Chunk(range(c, min(c + step, n_combos)), range(0, n_assets)) for c in range(0, n_combos, step)]
    width = max(ASSET_ALIGN, (max_cells_per_chunk // n_bars) // ASSET_ALIGN * ASSET_ALIGN)
    return [
        Chunk(range(c, c + 1), range(a, min(a + width, n_assets)))
        for c in range(n_combos)
        for a in range(0, n_assets, width)
    ]


# ------------------------------------------------------------------------ results
@dataclass(frozen=True, eq=False)
class SweepState:
    """What `merge_sweeps` needs beyond the tables (host arrays).

    `portfolio_sums` (T, P) int64: per bar and combination, the sum over this
    chunk's assets of the net returns of active assets, in units of 2^-scale_exp;
    `active_count` (T,): the chunk's assets with data at each bar; `trade_counts`
    (P, n_assets, 2) int64: closed trades and winning closed trades.
    """

    combos: range
    assets: range
    portfolio_sums: np.ndarray
    active_count: np.ndarray
    trade_counts: np.ndarray
    scale_exp: int
    n_combos_total: int
    symbols_all: tuple[str, ...]
    n_bars: int
    dtype: str
    fees: float
    slippage: float
    bars_per_year: float


@dataclass(frozen=True, eq=False)
class SweepResult:
    """The outcome of `sweep` (or of one chunk of it, or of `merge_sweeps`).

    - `params`: DataFrame indexed by combo_id, one column per strategy parameter.
    - `asset_metrics`: DataFrame indexed by (combo_id, symbol), columns METRICS.
    - `portfolio_metrics`: DataFrame indexed by combo_id, columns METRICS: the
      equal-weight portfolio of this result's assets (all assets once complete).
    - `top`: the `top_k` combinations by `rank_by` (best first; NaN last; ties by
      lower id), their parameters and portfolio metrics.
    - `backend`: "cpu" or "gpu" ("cpu+gpu" for a merge of both).
    - `n_dropped`: grid combinations dropped as invalid (not numbered).
    """

    params: pd.DataFrame
    asset_metrics: pd.DataFrame
    portfolio_metrics: pd.DataFrame
    top: pd.DataFrame
    backend: str
    strategy: str
    rank_by: str
    top_k: int
    n_dropped: int
    state: SweepState

    def combo(self, combo_id: int) -> dict[str, Any]:
        """One combination's parameters as plain Python values (ready for `run`)."""
        values = ((c, self.params[c].loc[combo_id]) for c in self.params.columns)
        return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in values}

    @property
    def complete(self) -> bool:
        """True when this result covers every combination and every asset."""
        s = self.state
        return len(s.combos) == s.n_combos_total and len(s.assets) == len(s.symbols_all)

    @property
    def table(self) -> pd.DataFrame:
        """Every combination: its parameters and portfolio metrics (indexed by combo_id)."""
        return self.params.join(self.portfolio_metrics, how="inner")

    def pivot(self, x: str, y: str, metric: str | None = None) -> pd.DataFrame:
        """`metric` (default `rank_by`) of the portfolio over two parameters: rows y, columns x
        (the best value where other parameters vary)."""
        from kernels.plotting import sweep_pivot  # noqa: PLC0415

        return sweep_pivot(self, x, y, metric)

    def heatmap(self, x: str, y: str, metric: str | None = None, backend: str = "matplotlib", ax: Any = None) -> Any:
        """A heat map of `metric` (default `rank_by`) over parameters x and y (see `kernels.plotting`)."""
        from kernels.plotting import plot_heatmap  # noqa: PLC0415 - matplotlib / plotly on use

        return plot_heatmap(self, x, y, metric=metric, backend=backend, ax=ax)

    def __repr__(self) -> str:
        s = self.state
        grid = ", ".join(f"{c}={sorted(self.params[c].unique().tolist())!r}" for c in self.params.columns
                         if self.params[c].nunique() > 1)
        lines = [f"SweepResult({self.strategy!r}, {len(self.params)} combinations x {len(s.assets)} assets "
                 f"x {s.n_bars} bars, backend={self.backend!r}{'' if self.complete else ', partial'})"]
        if grid:
            lines.append(f"  grid: {grid if len(grid) < 200 else grid[:197] + '...'}")
        if len(self.top):
            best = self.top.iloc[0]
            params = ", ".join(f"{c}={self.combo(int(self.top.index[0]))[c]!r}" for c in self.params.columns)
            lines.append(f"  best by {self.rank_by}: combo {self.top.index[0]} ({params}): "
                         f"{self.rank_by}={best[self.rank_by]:.4g}, total_return={best['total_return']:.4g}")
        lines.append("  .top, .table, .portfolio_metrics, .asset_metrics, .heatmap(x, y, metric)")
        return "\n".join(lines)


# ------------------------------------------------------------------------ validation
def _check_rate(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise SweepInputError(f"{name} must be a finite number, got {value!r}")
    if not 0.0 <= float(value) < 1.0:
        raise SweepInputError(f"{name} is a fraction of traded value and must be in [0, 1), got {value!r}")
    return float(value)


def _check_args(top_k: Any, rank_by: Any, dtype: Any, bars_per_year: Any) -> tuple[int, str, np.dtype, float]:
    from kernels.backtest.metrics import METRICS  # noqa: PLC0415

    if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 0:
        raise SweepInputError(f"top_k must be an int >= 0, got {top_k!r}")
    if rank_by not in METRICS:
        raise SweepInputError(f"rank_by must be one of {list(METRICS)}, got {rank_by!r}")
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise SweepInputError(f"dtype must be float32 or float64, got {dtype!r}") from exc
    if dt not in DTYPES:
        raise SweepInputError(f"dtype must be float32 or float64, got {dt}")
    if isinstance(bars_per_year, bool) or not isinstance(bars_per_year, numbers.Real) \
            or not math.isfinite(float(bars_per_year)) or bars_per_year <= 0:
        raise SweepInputError(f"bars_per_year must be a finite number > 0, got {bars_per_year!r}")
    return int(top_k), str(rank_by), dt, bars_per_year


def _close_and_symbols(data: Any) -> tuple[Any, tuple[str, ...]]:
    if isinstance(data, (pd.DataFrame, pd.Series, Mapping)):  # the one input normaliser (kernels.data)
        data = as_panel(data, "sweep")
    if isinstance(data, Panel):
        return data.close, tuple(data.symbols)
    if getattr(data, "ndim", None) == 2:
        return data, tuple(str(i) for i in range(data.shape[1]))
    raise SweepInputError(f"data must be a Panel, a (T, N) close array or a DataFrame, got {type(data).__name__}")


# ------------------------------------------------------------------------ preparation
@dataclass(frozen=True)
class _Prepared:
    sig: Any  # (T, U) close or spread, NaN where missing
    ra: Any  # (T, U) simple returns of the (first) leg, NaN = no data
    rb: Any  # (T, U) second leg (pairs) or ra
    first: Any  # (U,) first finite bar of sig
    active_count: Any  # (T,) int64 over the chunk's assets
    odd_active: Any  # number of active bars of the odd last asset of pairs, or None
    scale_exp: int
    gap_units: Any = None  # (units, host close, ra, rb) of units with interior gaps (sweep_gaps), or None


def simple_returns(xp: ModuleType, close: Any) -> Any:
    """c[t] / c[t-1] - 1 with the activity encoded: NaN where c[t] is missing, 0 where
    c[t] exists but c[t-1] does not (and at bar 0)."""
    fin = xp.isfinite(close)
    out = xp.empty(close.shape, dtype=close.dtype)
    one, zero, nan = (close.dtype.type(v) for v in (1, 0, np.nan))  # typed: no promotion on either backend
    with np.errstate(all="ignore"):
        change = close[1:] / close[:-1] - one
    out[1:] = xp.where(fin[1:], xp.where(fin[:-1], change, zero), nan)
    out[:1] = xp.where(fin[:1], zero, nan)
    return out


def scale_exponent(max_abs_return: float, n_assets: int) -> int:
    """The fixed-point exponent e: |r| * 2^e < 2^50 per asset (the warp reduction's
    and the rounding trick's range) and the sum over all assets < 2^62."""
    if not max_abs_return > 0:
        return 60
    _, ex = math.frexp(max_abs_return)
    _, ex_n = math.frexp(max_abs_return * n_assets)
    return int(min(50 - ex, 62 - ex_n, 60))


def _first_valid(xp: ModuleType, finite: Any) -> Any:
    n_bars = finite.shape[0]
    return xp.where(finite.any(axis=0), finite.argmax(axis=0), n_bars).astype(np.int32)


def _prepare(xp: ModuleType, close: Any, assets: range, kind: int, dtype: np.dtype, fs: float) -> _Prepared:
    c_all = close.astype(dtype, copy=False)
    ret_all = simple_returns(xp, c_all)
    with np.errstate(all="ignore"):
        finite_ret = xp.where(xp.isfinite(ret_all), xp.abs(ret_all), 0)
    max_r = float(finite_ret.max()) if finite_ret.size else 0.0
    scale_exp = scale_exponent(max_r + 2.0 * fs, close.shape[1])
    a0, a1 = assets.start, assets.stop
    cc = xp.ascontiguousarray(c_all[:, a0:a1])
    ret = xp.ascontiguousarray(ret_all[:, a0:a1])
    fin = xp.isfinite(cc)
    count = fin.sum(axis=1).astype(np.int64)
    if kind != KIND.PAIRS:
        sig = cc
        gap = _take_gap_units(xp, kind, cc, cc, ret, ret)
        if gap is not None:  # blank the gap units in a copy: cc may be the caller's array
            sig = cc.copy()
            sig[:, xp.asarray(gap[0])] = np.nan
            fin = xp.isfinite(sig)
        return _Prepared(sig, ret, ret, _first_valid(xp, fin), count, None, scale_exp, gap)
    n_assets = a1 - a0
    u = n_assets // 2
    # The log spread is computed on the host in float64 (as the reference does), so
    # that both backends read identical spreads.
    host = to_numpy(close[:, a0:a0 + 2 * u]).astype(np.float64, copy=False)
    with np.errstate(all="ignore"):
        spread = np.log(host[:, 0::2]) - np.log(host[:, 1::2])
    spread[~np.isfinite(spread)] = np.nan
    sig = xp.asarray(np.ascontiguousarray(spread.astype(dtype)))
    ra = xp.ascontiguousarray(ret[:, 0:2 * u:2])
    rb = xp.ascontiguousarray(ret[:, 1:2 * u:2])
    gap = _take_gap_units(xp, kind, sig, host, ra, rb)
    if gap is not None:
        sig[:, xp.asarray(gap[0])] = np.nan
    first = _first_valid(xp, xp.isfinite(sig))
    odd = fin[:, n_assets - 1].sum() if n_assets % 2 else None
    return _Prepared(sig, ra, rb, first, count, odd, scale_exp, gap)


def _take_gap_units(xp: ModuleType, kind: int, sig: Any, close: Any, ra: Any, rb: Any) -> Any:
    """Units whose signal has an interior gap leave the kernel for `sweep_gaps` (their
    returns are blanked to NaN here and their signal by the caller, so the kernel adds
    nothing for them); what the fallback needs, on the host, or None when there are none."""
    from kernels.backtest import sweep_gaps  # noqa: PLC0415

    if kind not in sweep_gaps.NEEDS_FALLBACK:
        return None
    units = sweep_gaps.interior_gaps(xp, sig)
    if units.size == 0:
        return None
    kept = (units, to_numpy(close).astype(np.float64), to_numpy(ra).astype(np.float64),
            to_numpy(rb).astype(np.float64))
    idx = xp.asarray(units)
    ra[:, idx] = np.nan
    rb[:, idx] = np.nan
    return kept


# ------------------------------------------------------------------------ kernels
def kernel_floats(g: SweepGrid, combos: range, dtype: np.dtype) -> np.ndarray:
    """The float parameter rows of `combos` in the kernel dtype.

    For the band kinds, slots 4..7 carry entry_z^2 (1 + 20u), entry_z^2 (1 - 20u),
    exit_z^2 (1 + 20u), exit_z^2 (1 - 20u) with u the dtype's unit roundoff: the
    bounds of the GPU's exact z pre-screen (the CPU kernel does not read them).
    """
    dtype = np.dtype(dtype)
    rows = g.floats[combos.start:combos.stop].astype(dtype)
    if g.kind in (KIND.MEAN_REVERSION, KIND.PAIRS):
        u = float(np.finfo(dtype).eps) / 2.0
        for slot, col in ((4, 0), (6, 1)):
            a2 = rows[:, col].astype(np.float64) ** 2
            rows[:, slot] = (a2 * (1.0 + 20.0 * u)).astype(dtype)
            rows[:, slot + 1] = (a2 * (1.0 - 20.0 * u)).astype(dtype)
    return np.ascontiguousarray(rows)


def time_major_inputs(prep: _Prepared) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The CPU kernel's inputs: sig, ra, rb time-contiguous (U, T) and first (U,) int64 (rb is
    ra where they are the same array)."""
    ra_t = np.ascontiguousarray(prep.ra.T)
    rb_t = ra_t if prep.rb is prep.ra else np.ascontiguousarray(prep.rb.T)
    return np.ascontiguousarray(prep.sig.T), ra_t, rb_t, prep.first.astype(np.int64)


def _run_cpu(g: SweepGrid, combos: range, prep: _Prepared, n_assets: int, dtype: np.dtype,
             fs: float, inputs: tuple[np.ndarray, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    import numba  # noqa: PLC0415

    from kernels.backtest import sweep_cpu  # noqa: PLC0415 - compiles on first use

    ints = np.ascontiguousarray(g.ints[combos.start:combos.stop])
    floats = kernel_floats(g, combos, dtype)
    n_units = prep.sig.shape[1]
    n_combos = len(combos)
    jobs = 4 * numba.get_num_threads()
    n_blocks = max(1, min(n_units, -(-jobs // n_combos))) if n_units else 1
    sig_t, ra_t, rb_t, first = time_major_inputs(prep) if inputs is None else inputs
    acc, part = sweep_cpu.sweep_nb(
        g.kind,
        sig_t,
        ra_t,
        rb_t,
        first,
        ints,
        floats,
        sweep_cpu.consts_for(dtype),
        fs,
        2.0 * fs,
        2.0 ** prep.scale_exp,
        n_assets,
        n_blocks,
    )
    return acc, np.ascontiguousarray(part.sum(axis=0).T)


def _run_gpu(g: SweepGrid, combos: range, prep: _Prepared, n_assets: int, dtype: np.dtype,
             fs: float, tables: Any = None, tab: Any = None, path: str = "auto") -> tuple[Any, Any]:
    import cupy as cp  # noqa: PLC0415

    from kernels.backtest import gpu  # noqa: PLC0415

    ints = cp.asarray(g.ints[combos.start:combos.stop])
    floats = cp.asarray(kernel_floats(g, combos, dtype))
    return gpu.launch(g.kind, prep.sig, prep.ra, prep.rb, prep.first, ints, floats, n_assets, fs,
                      2.0 ** prep.scale_exp, path=path, tables=tables, tab=tab)


def _fill_flat_asset(xp: ModuleType, acc: Any, column: int, n_active: Any) -> None:
    """Accumulators of an asset that never trades (the odd last asset of pairs)."""
    acc[:, :, column] = 0.0
    acc[0, :, column] = n_active
    acc[1, :, column] = 1.0


# ------------------------------------------------------------------------ metrics
def asset_metric_arrays(xp: ModuleType, acc: Any, bars_per_year: float) -> dict[str, Any]:
    """METRICS (and n_closed, n_wins) per (combination, asset) from the kernels'
    accumulators acc (N_ACC, P, N) (see ACC_FIELDS). On the GPU one fused kernel
    (`gpu.asset_metrics`) evaluates these formulas."""
    n, equity, mdd, s1, s2, d2, exposed, turnover, n_trades, n_closed, n_wins = (acc[i] for i in range(N_ACC))
    if xp is not np:
        from kernels.backtest import gpu  # noqa: PLC0415

        out = gpu.asset_metrics(acc, bars_per_year)
        out.update({"max_drawdown": mdd, "n_trades": n_trades, "turnover": turnover, "n_closed": n_closed,
                    "n_wins": n_wins})
        return out
    sqrt_b = float(np.sqrt(bars_per_year))
    with np.errstate(all="ignore"):
        mean = s1 / n
        var = (s2 - s1 * mean) / (n - 1.0)
        std = xp.sqrt(xp.maximum(var, 0.0))
        down = xp.sqrt(d2 / n)
        cagr = xp.where(equity <= 0, -1.0, xp.abs(equity) ** (bars_per_year / n) - 1.0)
        cagr = xp.where(n == 0, xp.nan, cagr)
        out = {
            "total_return": equity - 1.0,
            "cagr": cagr,
            "ann_vol": xp.where(n < 2, xp.nan, std * sqrt_b),
            "sharpe": xp.where((n < 2) | ~(std > 0), xp.nan, mean / std * sqrt_b),
            "sortino": xp.where((n < 1) | ~(down > 0), xp.nan, mean / down * sqrt_b),
            "max_drawdown": mdd,
            "calmar": xp.where(~(mdd > 0), xp.nan, cagr / mdd),
            "n_trades": n_trades,
            "win_rate": xp.where(n_closed == 0, xp.nan, n_wins / n_closed),
            "exposure": xp.where(n == 0, xp.nan, exposed / n),
            "turnover": turnover,
        }
    out["n_closed"] = n_closed
    out["n_wins"] = n_wins
    return out


def portfolio_metric_arrays(xp: ModuleType, sums: Any, active_count: Any, scale_exp: int, bars_per_year: float,
                            n_trades: Any, n_closed: Any, n_wins: Any, exposure: Any, turnover: Any) -> Any:
    """(P, len(METRICS)) float64 portfolio metrics (on xp) from the fixed-point per-bar
    sums (T, P), the active counts (T,) and the per-asset trade values (P, N)."""
    from kernels.backtest import metrics as M  # noqa: PLC0415

    if xp is not np:  # one thread per combination streams the sums (no (T, P) temporaries)
        from kernels.backtest import gpu  # noqa: PLC0415

        values = M.finish_return_metrics(xp, gpu.portfolio_aggregates(sums, active_count, scale_exp), bars_per_year)
    else:
        total = sums.astype(np.float64) * (2.0 ** -scale_exp)
        has = active_count > 0
        with np.errstate(all="ignore"):
            net = xp.where(has[:, None], total / xp.maximum(active_count, 1)[:, None].astype(np.float64), 0.0)
        values = M.return_metrics(xp, net, has[:, None], bars_per_year)
    values.update(M.portfolio_trade_metrics(xp, n_trades=n_trades, n_closed=n_closed, n_wins=n_wins,
                                            exposure=exposure, turnover=turnover))
    n_combos = sums.shape[1]
    return xp.stack([xp.broadcast_to(xp.asarray(values[m], dtype=np.float64), (n_combos,)) for m in M.METRICS],
                    axis=-1)


def rank_top(portfolio: pd.DataFrame, params: pd.DataFrame, rank_by: str, top_k: int) -> pd.DataFrame:
    """The top_k rows by `rank_by` (high first, low first for ASCENDING_METRICS),
    NaN last, ties by lower combo_id; parameters then metrics."""
    values = portfolio[rank_by].to_numpy(dtype=np.float64)
    ids = portfolio.index.to_numpy()
    key = values if rank_by in ASCENDING_METRICS else -values
    order = np.lexsort((ids, key, np.isnan(values)))[:top_k]
    chosen = ids[order]
    return pd.concat([params.loc[chosen], portfolio.loc[chosen]], axis=1)


# ------------------------------------------------------------------------ public API
class _Kept:
    """What a prepared plan keeps between its runs, shared by the chunk views of `SweepPlan.select`:
    the CPU kernel's time-major inputs, and on the GPU the window tables of every window of the
    grid (one (S, T, U) device array; None until a run takes the table path, False where they
    would not fit). `builds` counts what was built."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inputs: tuple[np.ndarray, ...] | None = None
        self.tables: Any = None  # (gpu.TablePlan of the grid, its host slots (P_grid, 2), tab (S, T, U)) or False
        self.builds = {"inputs": 0, "tables": 0}


@dataclass(frozen=True, eq=False)
class SweepPlan:
    """A validated sweep (or chunk) with its inputs prepared on the backend's device.

    Built by `plan_sweep` (one chunk, what `sweep` runs) or `prepare_sweep` (every combination
    of one asset range, kept for chunk after chunk: `plan.run(combos)`). A kept plan (`keep`)
    also keeps what its runs build over its assets (`_Kept`), so that later chunks reuse it.
    """

    grid: SweepGrid
    combos: range
    assets: range
    prep: _Prepared
    backend: str
    dtype: np.dtype
    fees: float
    slippage: float
    bars_per_year: float
    symbols: tuple[str, ...]
    n_bars: int
    tables: Any = None  # GPU: the window-table plan of the launch (gpu.TablePlan), None: decided at the launch
    keep: bool = False
    kept: _Kept = field(default_factory=_Kept, repr=False)

    @property
    def n_cells(self) -> int:
        """Bars x assets x combinations of this plan."""
        return self.n_bars * len(self.assets) * len(self.combos)

    @property
    def input_nbytes(self) -> int:
        """Bytes of the prepared inputs (on the plan's device) and of the kept time-major inputs."""
        p = self.prep
        return _array_bytes(p.sig, p.ra, p.rb, p.first, p.active_count, self.kept.inputs)

    @property
    def table_nbytes(self) -> int:
        """Bytes of the kept window tables (GPU; 0 until built, and on the CPU)."""
        kept = self.kept.tables
        return int(kept[2].nbytes) if kept else 0

    @property
    def nbytes(self) -> int:
        """Everything this plan holds: what a cache of plans charges to its memory budget."""
        return self.input_nbytes + self.table_nbytes

    @property
    def builds(self) -> dict[str, int]:
        """How often a run built the kept inputs / window tables (once each at most)."""
        return dict(self.kept.builds)

    def select(self, combos: range | slice) -> SweepPlan:
        """The plan of a range of combination ids (step 1) over the same prepared inputs."""
        r = _as_range(combos, self.grid.n_combos, "combos")
        return self if r == self.combos else replace(self, combos=r, tables=None)

    def warm(self, combos: range | slice | None = None) -> SweepPlan:
        """Build now what a run of `combos` (default this plan's) would build and keep (so that
        `nbytes` counts it); returns self."""
        plan = self if combos is None else self.select(combos)
        if plan.keep:
            if plan.backend == "gpu":
                _launch_tables(plan)
            else:
                _cpu_inputs(plan)
        return self

    def run(self, combos: range | slice | None = None, top_k: int = 10, rank_by: str = "sharpe") -> SweepResult:
        """Run the combinations `combos` (default this plan's) over the plan's assets: the
        SweepResult of `sweep(..., chunk=Chunk(combos, assets))`, exactly."""
        from kernels.backtest.metrics import metrics_by_name  # noqa: PLC0415

        top_k, rank_by, _, _ = _check_args(top_k, rank_by, np.float64, 1)
        plan = self if combos is None else self.select(combos)
        arrays, port, sums = execute(plan)
        xp = array_module(plan.backend)
        table = metrics_by_name(xp, arrays)  # (M, P, N)
        counts = to_numpy(xp.stack([arrays["n_closed"], arrays["n_wins"]], axis=-1)).astype(np.int64)
        state = SweepState(
            combos=plan.combos,
            assets=plan.assets,
            portfolio_sums=to_numpy(sums),
            active_count=to_numpy(plan.prep.active_count),
            trade_counts=counts,
            scale_exp=plan.prep.scale_exp,
            n_combos_total=plan.grid.n_combos,
            symbols_all=plan.symbols,
            n_bars=plan.n_bars,
            dtype=plan.dtype.name,
            fees=plan.fees,
            slippage=plan.slippage,
            bars_per_year=plan.bars_per_year,
        )
        params = plan.grid.params.iloc[plan.combos.start:plan.combos.stop]
        return _build(params, table, to_numpy(port), state, plan.backend, plan.grid.strategy, rank_by, top_k,
                      plan.grid.n_dropped)


def _array_bytes(*values: Any) -> int:
    """Bytes of the distinct arrays among `values` (tuples searched; rb may be ra)."""
    seen: dict[int, int] = {}
    stack = list(values)
    while stack:
        v = stack.pop()
        if isinstance(v, (tuple, list)):
            stack.extend(v)
        elif hasattr(v, "nbytes") and hasattr(v, "shape"):
            seen[id(v)] = int(v.nbytes)
    return sum(seen.values())


def _cpu_inputs(plan: SweepPlan) -> tuple[np.ndarray, ...] | None:
    """The time-major inputs of a kept plan (built by its first run), None: built per run."""
    if not plan.keep:
        return None
    kept = plan.kept
    with kept.lock:
        if kept.inputs is None:
            kept.inputs = time_major_inputs(plan.prep)
            kept.builds["inputs"] += 1
        return kept.inputs


def _launch_tables(plan: SweepPlan) -> tuple[Any, Any, str]:
    """(table plan, prebuilt tables or None, path) of a GPU run. The choice between the table
    and the streaming path is `sweep`'s for the same chunk (`gpu.plan_tables`); a kept plan
    then takes its combinations' slots in the tables of the whole grid, built by its first
    table run (when they fit as `plan_tables` bounds one launch's), instead of building them."""
    from kernels.backtest import gpu  # noqa: PLC0415

    if plan.tables is not None:
        return plan.tables, None, "auto"
    combos, n_units = plan.combos, plan.prep.sig.shape[1]
    wanted = gpu.tables_wanted(plan.grid.kind, plan.grid.ints[combos.start:combos.stop], plan.n_bars, n_units,
                               plan.dtype)
    if wanted is None:
        return None, None, "stream"
    kept = plan.kept
    with kept.lock:
        if plan.keep and kept.tables is None:
            kept.tables = False  # unless the grid's tables fit: then each run builds its own, as `sweep` does
            windows, kinds, slots = gpu.table_slots(plan.grid.kind, plan.grid.ints)
            if gpu.table_bytes(len(windows), plan.n_bars, n_units, plan.dtype) <= _table_room(gpu):
                import cupy as cp  # noqa: PLC0415

                grid_plan = gpu.table_plan(windows, kinds, slots, plan.dtype)
                try:
                    tab = gpu.build_tables(plan.prep.sig, plan.prep.first, grid_plan)
                except cp.cuda.memory.OutOfMemoryError:  # e.g. past the caller's pool limit
                    tab = None
                if tab is not None:
                    kept.tables = (grid_plan, slots, tab)
                    kept.builds["tables"] += 1
        grid = kept.tables if plan.keep else None
    if not grid:
        return gpu.table_plan(*wanted, plan.dtype), None, "auto"
    grid_plan, slots, tab = grid
    return gpu.with_slots(grid_plan, slots[combos.start:combos.stop]), tab, "auto"


def _table_room(gpu: ModuleType) -> int:
    """Bytes the window tables of one plan may take: `gpu.plan_tables`' bound of one launch."""
    import cupy as cp  # noqa: PLC0415

    free = cp.cuda.runtime.memGetInfo()[0] + cp.get_default_memory_pool().free_bytes()
    return min(gpu.TABLE_MAX_BYTES, free // 2)


def plan_sweep(
    data: Panel | Any,
    strategy: str,
    grid: Mapping[str, Any],
    fees: float = 0.0,
    slippage: float = 0.0,
    chunk: Chunk | None = None,
    backend: str = "auto",
    dtype: Any = np.float64,
    bars_per_year: float = 252,
    keep: bool = False,
) -> SweepPlan:
    """Validate a sweep's arguments and prepare its kernel inputs (see `sweep`; `keep`: see
    `prepare_sweep`)."""
    from kernels.backtest.runner import check_close  # noqa: PLC0415

    close, symbols = _close_and_symbols(data)
    fees = _check_rate("fees", fees)
    slippage = _check_rate("slippage", slippage)
    _, _, dt, bars_per_year = _check_args(0, "sharpe", dtype, bars_per_year)
    ran = resolve_backend(backend, close)
    xp = array_module(ran)
    close = xp.asarray(close)
    if close.dtype.kind != "f":
        close = close.astype(np.float64)
    check_close(xp, close)
    n_bars, n_all = close.shape
    g = expand_grid(strategy, grid, n_bars)
    if chunk is None:
        chunk = Chunk(range(g.n_combos), range(n_all))
    if not isinstance(chunk, Chunk):
        raise SweepInputError(f"chunk must be a Chunk, got {type(chunk).__name__}")
    combos, assets = chunk.resolve(g.n_combos, n_all)
    if g.kind == KIND.PAIRS and (assets.start % 2 or (assets.stop % 2 and assets.stop != n_all)):
        raise SweepInputError(f"pairs sweeps need asset chunks that keep pairs whole (even bounds), got {assets}")
    prep = _prepare(xp, close, assets, g.kind, dt, fees + slippage)
    tables = None
    if ran == "gpu" and not keep:  # host work first, so that the device does not wait (a kept plan: per run)
        from kernels.backtest import gpu  # noqa: PLC0415

        tables = gpu.plan_tables(g.kind, g.ints[combos.start:combos.stop], n_bars, prep.sig.shape[1], dt)
    return SweepPlan(g, combos, assets, prep, ran, dt, fees, slippage, bars_per_year, symbols, n_bars, tables, keep)


def prepare_sweep(
    data: Panel | Any,
    strategy: str,
    grid: Mapping[str, Any],
    fees: float = 0.0,
    slippage: float = 0.0,
    assets: range | slice | None = None,
    backend: str = "auto",
    dtype: Any = np.float64,
    bars_per_year: float = 252,
    keep: bool = True,
) -> SweepPlan:
    """A sweep prepared once for chunk after chunk of its combinations over one asset range
    (default all; for pairs even bounds, or the last asset): the grid expanded, the kernel
    inputs of those assets on the backend's device. `plan.run(combos, top_k, rank_by)` equals
    `sweep(data, strategy, grid, ..., chunk=Chunk(combos, assets))` exactly (the same code).
    The plan keeps what its runs build over its assets: the CPU kernel's time-major inputs, and
    on the GPU the window tables (the per-window SMA / EMA / z-score tables of the table path)
    of every window of the grid, built by the first run that takes the table path, when they fit;
    `plan.nbytes` is what it holds, `plan.builds` counts what it built, `plan.warm(combos)`
    builds it ahead (`keep=False`: nothing is kept, each run builds its own as `sweep` does).
    A plan holds device memory until it is dropped.

        >>> import numpy as np
        >>> from kernels.backtest.sweep import prepare_sweep, sweep
        >>> close = np.cumprod(1 + np.random.default_rng(0).normal(0, 0.01, (300, 4)), axis=0)
        >>> plan = prepare_sweep(close, "trend_following", {"fast": [5, 10], "slow": [20, 50, 80]}, backend="cpu")
        >>> part = plan.run(range(3, 6), top_k=2)  # then range(0, 3), ... on the same plan
        >>> ref = sweep(close, "trend_following", {"fast": [5, 10], "slow": [20, 50, 80]},
        ...             chunk=Chunk(range(3, 6), slice(None)), top_k=2, backend="cpu")
        >>> part.asset_metrics.equals(ref.asset_metrics), plan.builds
        (True, {'inputs': 1, 'tables': 0})
    """
    chunk = Chunk(slice(None), slice(None) if assets is None else assets)
    plan = plan_sweep(data, strategy, grid, fees, slippage, chunk, backend, dtype, bars_per_year, keep=True)
    return plan if keep else replace(plan, keep=False)  # either way each run plans its own tables


def execute(plan: SweepPlan) -> tuple[dict[str, Any], Any, Any]:
    """Run the fused kernel of a plan and compute every metric on its device.

    Returns (asset metric arrays (P, N) by name, including n_closed and n_wins;
    portfolio metrics (P, len(METRICS)); fixed-point per-bar sums (T, P)), all on
    the plan's backend (CuPy arrays on the GPU).
    """
    xp = array_module(plan.backend)
    n_assets = len(plan.assets)
    fs = plan.fees + plan.slippage
    if plan.backend == "gpu":
        tables, tab, path = _launch_tables(plan)
        acc, sums = _run_gpu(plan.grid, plan.combos, plan.prep, n_assets, plan.dtype, fs, tables, tab, path)
    else:
        acc, sums = _run_cpu(plan.grid, plan.combos, plan.prep, n_assets, plan.dtype, fs, _cpu_inputs(plan))
    if plan.prep.odd_active is not None:
        _fill_flat_asset(xp, acc, n_assets - 1, plan.prep.odd_active)
    if plan.prep.gap_units is not None:
        from kernels.backtest import sweep_gaps  # noqa: PLC0415

        units, close, ra, rb = plan.prep.gap_units
        acc_g, sums_g, cols = sweep_gaps.fallback(
            plan.grid.strategy, plan.grid.kind, plan.grid.params.iloc[plan.combos.start:plan.combos.stop], close,
            ra, rb, units, fs, 2.0 ** plan.prep.scale_exp, plan.n_bars)
        acc[:, :, xp.asarray(cols)] = xp.asarray(acc_g)
        sums = sums + xp.asarray(sums_g)
    arrays = asset_metric_arrays(xp, acc, plan.bars_per_year)
    port = portfolio_metric_arrays(xp, sums, plan.prep.active_count, plan.prep.scale_exp, plan.bars_per_year,
                                   arrays["n_trades"], arrays["n_closed"], arrays["n_wins"], arrays["exposure"],
                                   arrays["turnover"])
    return arrays, port, sums


def sweep(
    data: Panel | Any,
    strategy: str,
    grid: Mapping[str, Any],
    fees: float = 0.0,
    slippage: float = 0.0,
    top_k: int = 10,
    rank_by: str = "sharpe",
    chunk: Chunk | None = None,
    backend: str = "auto",
    dtype: Any = np.float64,
    bars_per_year: float = 252,
    engine: str = "returns",
    **order_options: Any,
) -> SweepResult:
    """Backtest every combination of `grid` for a built-in strategy over every asset.

    A grid that names an order option (sl_stop, tp_stop, sl_trail, size, size_type),
    or `engine="orders"`, runs on the orders engine (`kernels.backtest.orders.sweep`:
    metric columns ORDER_METRICS; `order_options` init_cash, fixed_fees, accumulate, and
    group_by / cash_sharing: rows per (combination, group), see docs/backtest-semantics.md).

    `data` is a Panel (or a (T, N) close array / DataFrame). `chunk` restricts the
    work to a block of combination ids x asset positions (for pairs, an asset
    range must start at an even position and end at an even position or at the
    last asset). `dtype` float32 computes the signals in float32 (accumulators stay
    float64). Raises GridError for bad grids, SweepInputError for other arguments,
    DataValidationError for bad prices, BackendUnavailable for an unavailable
    explicit backend.
    """
    from kernels.backtest.orders.sweep import is_orders_grid, orders_sweep  # noqa: PLC0415

    if engine not in ("returns", "orders"):
        raise SweepInputError(f"engine must be 'returns' or 'orders', got {engine!r}")
    if engine == "orders" or (isinstance(grid, Mapping) and is_orders_grid(grid)):
        if chunk is not None or np.dtype(dtype) != np.float64:
            raise SweepInputError("orders-engine sweeps run whole and in float64 (no chunk, dtype float64)")
        return orders_sweep(data, strategy, grid, fees=fees, slippage=slippage, top_k=top_k, rank_by=rank_by,
                            backend=backend, bars_per_year=bars_per_year, **order_options)
    if order_options:
        raise SweepInputError(f"order options {sorted(order_options)} need engine='orders'")
    top_k, rank_by, _, _ = _check_args(top_k, rank_by, np.float64, 1)  # before the preparation
    plan = plan_sweep(data, strategy, grid, fees, slippage, chunk, backend, dtype, bars_per_year)
    return plan.run(top_k=top_k, rank_by=rank_by)


def _build(params: pd.DataFrame, table: np.ndarray, port: np.ndarray, state: SweepState, backend: str,
           strategy: str, rank_by: str, top_k: int, n_dropped: int) -> SweepResult:
    """`table`: the per-asset metrics, metric-major (M, P, N)."""
    from kernels.backtest.metrics import METRICS, metrics_frame  # noqa: PLC0415

    ids = params.index.to_numpy()
    syms = [state.symbols_all[i] for i in state.assets]
    n_combos, n_assets = len(ids), len(syms)
    # Rows are combos x assets in order: build the index from its levels (no string factorising).
    index = pd.MultiIndex(levels=[pd.Index(ids), pd.Index(syms)],
                          codes=[np.repeat(np.arange(n_combos), n_assets), np.tile(np.arange(n_assets), n_combos)],
                          names=["combo_id", "symbol"], verify_integrity=False)
    asset_metrics = metrics_frame(table, index)
    portfolio = pd.DataFrame(port, index=pd.Index(ids, name="combo_id"), columns=list(METRICS))
    return SweepResult(
        params=params,
        asset_metrics=asset_metrics,
        portfolio_metrics=portfolio,
        top=rank_top(portfolio, params, rank_by, top_k),
        backend=backend,
        strategy=strategy,
        rank_by=rank_by,
        top_k=top_k,
        n_dropped=n_dropped,
        state=state,
    )


def merge_sweeps(results: Sequence[SweepResult]) -> SweepResult:
    """Merge chunk results of one sweep into the result over their union.

    The chunks must come from the same sweep (data, strategy, grid, costs, dtype),
    must not overlap, and every combination must cover the same assets. The
    result equals the unchunked sweep exactly (per-asset rows are copied; the
    portfolio is rebuilt from the integer per-bar sums with the same code, on the
    GPU when every part ran there).
    """
    from kernels.backtest.metrics import METRICS  # noqa: PLC0415

    results = list(results)
    if not results:
        raise SweepInputError("merge_sweeps needs at least one result")
    if not all(isinstance(r, SweepResult) for r in results):
        raise SweepInputError("merge_sweeps takes SweepResult objects")
    head = results[0]
    s0 = head.state
    for r in results[1:]:
        s = r.state
        for attr in ("scale_exp", "n_combos_total", "symbols_all", "n_bars", "dtype", "fees", "slippage",
                     "bars_per_year"):
            if getattr(s, attr) != getattr(s0, attr):
                raise SweepInputError(f"cannot merge sweeps with different {attr}")
        for attr in ("strategy", "rank_by", "top_k"):
            if getattr(r, attr) != getattr(head, attr):
                raise SweepInputError(f"cannot merge sweeps with different {attr}: "
                                      f"{getattr(head, attr)!r} != {getattr(r, attr)!r}")
        if list(r.params.columns) != list(head.params.columns):
            raise SweepInputError("cannot merge sweeps with different parameters")

    combos, assets = _tiled_rectangle([(r.state.combos, r.state.assets) for r in results])
    n_c, n_a, n_m = len(combos), len(assets), len(METRICS)

    table = np.empty((n_m, n_c, n_a))  # metric-major, as _build takes it
    counts = np.empty((n_c, n_a, 2), dtype=np.int64)
    sums = np.zeros((s0.n_bars, n_c), dtype=np.int64)
    params_parts = []
    for r in results:
        s = r.state
        ci = slice(s.combos.start - combos.start, s.combos.stop - combos.start)
        ai = slice(s.assets.start - assets.start, s.assets.stop - assets.start)
        table[:, ci, ai] = r.asset_metrics.to_numpy().T.reshape(n_m, len(s.combos), len(s.assets))
        counts[ci, ai] = s.trade_counts
        sums[:, ci] += s.portfolio_sums
        params_parts.append(r.params)
    # The asset ranges of any one combination partition the merged assets.
    active_count = np.zeros(s0.n_bars, dtype=np.int64)
    for r in results:
        if combos.start in r.state.combos:
            active_count += r.state.active_count
    params = pd.concat(params_parts)
    params = params[~params.index.duplicated()].sort_index()

    backends = sorted({r.backend for r in results})
    backend = "+".join(backends)
    xp = np
    if backends == ["gpu"]:
        try:
            xp = array_module(resolve_backend("gpu"))
        except Exception:  # no device here: merge on the host (equal to rounding)
            xp = np
    col = {m: j for j, m in enumerate(METRICS)}

    def dev(a: np.ndarray) -> Any:
        return xp.asarray(np.ascontiguousarray(a))

    if all(r.state.assets == assets for r in results):
        # Chunks of whole combinations (every asset): each chunk's portfolio rows were computed from the same
        # sums with the same code (on its worker's device), so they are kept instead of recomputed.
        port = np.concatenate([r.portfolio_metrics.to_numpy(dtype=np.float64) for r in
                               sorted(results, key=lambda r: r.state.combos.start)])
    else:
        port = to_numpy(portfolio_metric_arrays(
            xp, dev(sums), dev(active_count), s0.scale_exp, s0.bars_per_year,
            dev(table[col["n_trades"]]), dev(counts[:, :, 0].astype(np.float64)),
            dev(counts[:, :, 1].astype(np.float64)),
            dev(table[col["exposure"]]), dev(table[col["turnover"]]),
        ))
    state = SweepState(
        combos=combos, assets=assets, portfolio_sums=sums, active_count=active_count, trade_counts=counts,
        scale_exp=s0.scale_exp, n_combos_total=s0.n_combos_total, symbols_all=s0.symbols_all, n_bars=s0.n_bars,
        dtype=s0.dtype, fees=s0.fees, slippage=s0.slippage, bars_per_year=s0.bars_per_year,
    )
    return _build(params, table, port, state, backend, head.strategy, head.rank_by, head.top_k, head.n_dropped)


def _tiled_rectangle(parts: Sequence[tuple[range, range]]) -> tuple[range, range]:
    """The (combinations, assets) ranges that `parts` tile exactly, else SweepInputError naming the
    defect. Interval arithmetic on the parts' boundaries (no per-combination sets: 10^5 combinations
    x 500 assets merge without a Python loop over them)."""
    parts = [(c, a) for c, a in parts if len(c) and len(a)]
    if not parts:
        raise SweepInputError("merge_sweeps needs chunks with combinations and assets")
    cb = np.unique([b for c, _ in parts for b in (c.start, c.stop)])
    ab = np.unique([b for _, a in parts for b in (a.start, a.stop)])
    cover = np.zeros((len(cb) - 1, len(ab) - 1), dtype=np.int64)
    for c, a in parts:
        cover[np.searchsorted(cb, c.start):np.searchsorted(cb, c.stop),
              np.searchsorted(ab, a.start):np.searchsorted(ab, a.stop)] += 1
    if (cover > 1).any():
        row = int(np.argwhere(cover > 1)[0][0])
        raise SweepInputError(f"chunks overlap: combination {int(cb[row])} has an asset in two chunks")
    rows = cover.any(axis=1)
    if (cover[rows] == 0).any():
        raise SweepInputError("every combination must cover the same assets to merge")
    if not cover[rows].all(axis=0).all():
        raise SweepInputError("the merged assets must form one contiguous range")
    if not rows.all():
        raise SweepInputError("the merged combinations must form one contiguous range")
    return range(int(cb[0]), int(cb[-1])), range(int(ab[0]), int(ab[-1]))


__all__ = [
    "ACC_FIELDS",
    "Chunk",
    "SweepInputError",
    "SweepResult",
    "SweepState",
    "GridError",
    "execute",
    "merge_sweeps",
    "plan_chunks",
    "plan_sweep",
    "prepare_sweep",
    "SweepPlan",
    "sweep",
]


class _CallableModule(types.ModuleType):
    """Importing this submodule binds `kernels.backtest.sweep` to the module, which
    shadows the package's lazy export of the function `sweep`; a callable module
    keeps `from kernels.backtest import sweep; sweep(...)` working in any import order."""

    def __call__(self, *args: Any, **kwargs: Any) -> SweepResult:
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
