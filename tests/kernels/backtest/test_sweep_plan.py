"""A prepared sweep (`prepare_sweep` -> `SweepPlan`, `plan.run(combos)`): every chunk run on one
plan equals `sweep` on that chunk exactly, and what the plan keeps over its assets (the CPU
kernel's time-major inputs; on the GPU the window tables of the whole grid) is built once and
reused by every later chunk, with its bytes counted."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kernels.backtest import sweep as S
from kernels.backtest.sweep import Chunk, SweepInputError, merge_sweeps, prepare_sweep, sweep
from kernels.data import Panel, synthetic_panel

FEES, SLIPPAGE = 0.0007, 0.0003
CASES = {
    "trend_sma": ("trend_following", {"fast": [3, 5, 10], "slow": [8, 20], "long_only": [True, False]}),
    "trend_mixed": ("trend_following", {"ma": ["sma", "ema"], "fast": [4, 6], "slow": [15, 16]}),
    "momentum": ("momentum", {"lookback": [5, 20], "threshold": [0.0, 0.02]}),
    "mean_reversion": ("mean_reversion", {"window": [10, 20], "entry_z": [1.0, 2.0], "exit_z": [0.0, 0.5]}),
    "pairs": ("pairs", {"window": [15, 30], "entry_z": [1.5, 2.0], "exit_z": [0.25, 1.5]}),
}


@pytest.fixture(scope="module")
def panel() -> Panel:
    """7 assets (odd, for pairs) x 240 bars: a late start and an interior gap (a unit that leaves
    the fused kernel for sweep_gaps)."""
    p = synthetic_panel(7, 240, seed=23)
    close = np.array(p.close, copy=True)
    close[:40, 1] = np.nan
    close[120:125, 2] = np.nan
    return Panel(p.index, p.symbols, p.open, p.high, p.low, close, p.volume)


def assert_same(got, ref) -> None:
    for name in ("params", "asset_metrics", "portfolio_metrics", "top"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(ref, name), check_exact=True)
    for name in ("portfolio_sums", "active_count", "trade_counts"):
        np.testing.assert_array_equal(getattr(got.state, name), getattr(ref.state, name))
    for name in ("combos", "assets", "scale_exp", "n_combos_total", "symbols_all", "dtype"):
        assert getattr(got.state, name) == getattr(ref.state, name)
    assert (got.backend, got.strategy, got.rank_by, got.top_k, got.n_dropped) == \
        (ref.backend, ref.strategy, ref.rank_by, ref.top_k, ref.n_dropped)


def _chunks(n: int, step: int) -> list[range]:
    return [range(c, min(c + step, n)) for c in range(0, n, step)]


@pytest.mark.parametrize("case,dtype", [*((c, np.float64) for c in CASES), ("trend_mixed", np.float32),
                                        ("mean_reversion", np.float32)])
def test_plan_chunks_equal_sweep_on_each_chunk_and_build_inputs_once(panel, monkeypatch, case, dtype) -> None:
    name, grid = CASES[case]
    builds = []
    real = S.time_major_inputs
    monkeypatch.setattr(S, "time_major_inputs", lambda prep: builds.append(1) or real(prep))
    assets = range(0, 6) if case == "pairs" else range(1, 6)  # pairs: even bounds
    plan = prepare_sweep(panel, name, grid, fees=FEES, slippage=SLIPPAGE, assets=assets, backend="cpu", dtype=dtype)
    assert plan.keep and plan.builds == {"inputs": 0, "tables": 0}
    chunks = _chunks(plan.grid.n_combos, max(1, plan.grid.n_combos // 3))
    assert len(chunks) >= 3
    parts = []
    for i, combos in enumerate(chunks):
        before = len(builds)
        got = plan.run(combos, top_k=2, rank_by="sortino")
        assert len(builds) - before == (1 if i == 0 else 0)  # built by the first chunk, reused by the others
        before = len(builds)
        ref = sweep(panel, name, grid, fees=FEES, slippage=SLIPPAGE, top_k=2, rank_by="sortino",
                    chunk=Chunk(combos, assets), backend="cpu", dtype=dtype)
        assert len(builds) - before == 1  # sweep() builds its own every time
        assert_same(got, ref)
        parts.append(got)
    assert plan.builds == {"inputs": 1, "tables": 0}
    whole = sweep(panel, name, grid, fees=FEES, slippage=SLIPPAGE, top_k=2, rank_by="sortino",
                  chunk=Chunk(slice(None), assets), backend="cpu", dtype=dtype)
    assert_same(merge_sweeps(parts), whole)
    assert_same(plan.run(top_k=2, rank_by="sortino"), whole)  # the whole plan in one run


def test_plan_bytes_and_views_share_what_is_kept(panel) -> None:
    name, grid = CASES["mean_reversion"]
    plan = prepare_sweep(panel, name, grid, backend="cpu")
    p = plan.prep
    prepared = sum(a.nbytes for a in (p.sig, p.ra, p.first, p.active_count)) + (0 if p.rb is p.ra else p.rb.nbytes)
    assert plan.nbytes == plan.input_nbytes == prepared and plan.table_nbytes == 0
    view = plan.select(slice(2, 5))
    assert view.combos == range(2, 5) and view.kept is plan.kept and plan.select(range(plan.grid.n_combos)) is plan
    assert plan.warm(range(0, 2)) is plan and plan.builds["inputs"] == 1
    sig_t, ra_t, rb_t, first = plan.kept.inputs
    assert rb_t is ra_t and sig_t.shape == (panel.n_assets, panel.n_bars) and first.dtype == np.int64
    assert plan.nbytes == prepared + sig_t.nbytes + ra_t.nbytes + first.nbytes
    view.run()
    assert plan.builds["inputs"] == 1  # the view runs on its parent's inputs
    plain = S.plan_sweep(panel, name, grid, backend="cpu")  # what sweep() runs: nothing kept
    plain.run(range(0, 2))
    assert not plain.keep and plain.builds["inputs"] == 0 and plain.kept.inputs is None
    off = prepare_sweep(panel, name, grid, backend="cpu", keep=False)  # e.g. a plan a cache will not keep
    assert off.warm(range(0, 2)) is off and off.nbytes == prepared
    assert_same(off.run(range(0, 2)), plan.run(range(0, 2)))
    assert off.builds == {"inputs": 0, "tables": 0} and off.kept.inputs is None


def test_plan_refuses_bad_ranges(panel) -> None:
    name, grid = CASES["trend_sma"]
    plan = prepare_sweep(panel, name, grid, backend="cpu")
    n = plan.grid.n_combos
    for bad in (range(0, n + 1), range(3, 3), range(0, 4, 2), [0, 1]):
        with pytest.raises(SweepInputError):
            plan.run(bad)
    with pytest.raises(SweepInputError, match="top_k"):
        plan.run(range(0, 2), top_k=-1)
    with pytest.raises(SweepInputError, match="pairs"):
        prepare_sweep(panel, "pairs", CASES["pairs"][1], assets=range(1, 5), backend="cpu")


def _numpy_cupy(monkeypatch, free: int = 8 << 30) -> None:
    """A NumPy stand-in for CuPy, enough for the host side of the table path (no kernel runs)."""
    import sys
    import types

    fake = types.ModuleType("cupy")
    fake.asarray = np.asarray
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(memGetInfo=lambda: (free, 2 * free)),
                                      memory=types.SimpleNamespace(OutOfMemoryError=MemoryError))
    fake.get_default_memory_pool = lambda: types.SimpleNamespace(free_bytes=lambda: 0)
    monkeypatch.setitem(sys.modules, "cupy", fake)


@pytest.mark.parametrize("case", ["trend_mixed", "trend_sma", "pairs", "momentum"])
def test_kept_grid_tables_give_each_chunk_its_own_windows(panel, monkeypatch, case) -> None:
    """The GPU path's bookkeeping on the host (NumPy for CuPy, table builds recorded, no kernel):
    the grid's tables are built once per plan; every chunk's combinations read, through their
    slots, the tables of exactly the windows (and SMA / EMA / z kinds) they read in `sweep`'s own
    per-chunk tables; the launch order covers each combination once; a grid whose tables do not
    fit gives each chunk its own tables; momentum streams."""
    from dataclasses import replace

    from kernels.backtest import gpu

    _numpy_cupy(monkeypatch)
    monkeypatch.setattr(gpu, "TABLE_MIN_CELLS", 0)
    built = []

    def build(sig, first, tp, defines=()):
        built.append(tp)
        return np.zeros((tp.n_slots, *sig.shape), sig.dtype)

    monkeypatch.setattr(gpu, "build_tables", build)
    name, grid = CASES[case]
    plan = replace(prepare_sweep(panel, name, grid, backend="cpu"), backend="gpu")  # host arrays for device ones
    g = plan.grid
    for k, combos in enumerate(_chunks(g.n_combos, 3)):
        tables, tab, path = S._launch_tables(plan.select(combos))
        if case == "momentum":
            assert (tables, tab, path) == (None, None, "stream")
            continue
        windows, kinds, slots = gpu.table_slots(g.kind, g.ints[combos.start:combos.stop])  # sweep()'s own
        got = tables.windows[tables.slots], tables.kinds[tables.slots]
        np.testing.assert_array_equal(got[0], windows[slots])
        np.testing.assert_array_equal(got[1], kinds[slots])
        np.testing.assert_array_equal(tables.fws, tables.windows.astype(np.float64))
        assert sorted(tables.order.tolist()) == list(range(len(combos)))
        assert tab is not None and tab.shape[0] == tables.n_slots == len(gpu.table_slots(g.kind, g.ints)[0])
        assert len(built) == 1 and built[0].n_slots == tables.n_slots  # built by the first chunk only
    assert plan.builds["tables"] == (0 if case == "momentum" else 1)
    if case == "momentum":
        return
    monkeypatch.setattr(gpu, "TABLE_MAX_BYTES", 1)  # a new plan whose grid's tables do not fit
    small = replace(prepare_sweep(panel, name, grid, backend="cpu"), backend="gpu")
    monkeypatch.setattr(gpu, "tables_pay", lambda *a, **k: True)  # the chunk's own still take the table path
    tables, tab, path = S._launch_tables(small.select(range(0, 2)))
    windows, kinds, slots = gpu.table_slots(g.kind, g.ints[0:2])
    assert tab is None and small.kept.tables is False and small.table_nbytes == 0
    np.testing.assert_array_equal(tables.windows, windows)
    np.testing.assert_array_equal(tables.slots, slots)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", ["trend_sma", "trend_mixed", "mean_reversion", "pairs", "momentum"])
def test_gpu_plan_chunks_equal_sweep_and_build_the_window_tables_once(monkeypatch, case, dtype) -> None:
    """On the GPU with the table path on for small sweeps: the kept plan builds the tables of the
    grid's windows once (sweep() builds its chunk's tables every time) and gives sweep()'s numbers
    on every chunk; momentum streams (no tables)."""
    from kernels.backtest import gpu

    monkeypatch.setattr(gpu, "TABLE_MIN_CELLS", 0)
    builds = []
    real = gpu.build_tables
    monkeypatch.setattr(gpu, "build_tables", lambda *a, **k: builds.append(a[2].n_slots) or real(*a, **k))
    p = synthetic_panel(70, 400, seed=29)
    name, grid = CASES[case]
    plan = prepare_sweep(p, name, grid, fees=FEES, slippage=SLIPPAGE, backend="gpu", dtype=dtype)
    chunks = _chunks(plan.grid.n_combos, 3)
    tables = case != "momentum"
    n_slots = len(gpu.table_slots(plan.grid.kind, plan.grid.ints)[0]) if tables else 0
    parts = []
    for i, combos in enumerate(chunks):
        before = len(builds)
        got = plan.run(combos, top_k=2)
        assert len(builds) - before == (1 if tables and i == 0 else 0)  # the grid's tables, once
        before = len(builds)
        ref = sweep(p, name, grid, fees=FEES, slippage=SLIPPAGE, top_k=2, chunk=Chunk(combos, slice(None)),
                    backend="gpu", dtype=dtype)
        assert len(builds) - before == (1 if tables else 0)  # sweep(): its chunk's tables, every time
        assert got.backend == "gpu"
        assert_same(got, ref)
        parts.append(got)
    assert builds[:1] == ([n_slots] if tables else [])
    assert plan.builds["tables"] == (1 if tables else 0)
    n_units = plan.prep.sig.shape[1]
    assert plan.table_nbytes == n_slots * p.n_bars * n_units * np.dtype(dtype).itemsize
    assert plan.nbytes == plan.input_nbytes + plan.table_nbytes
    whole = sweep(p, name, grid, fees=FEES, slippage=SLIPPAGE, top_k=2, backend="gpu", dtype=dtype)
    pd.testing.assert_frame_equal(merge_sweeps(parts).asset_metrics, whole.asset_metrics, check_exact=True)


@pytest.mark.gpu
def test_gpu_plan_whose_grid_tables_do_not_fit_builds_per_chunk(monkeypatch) -> None:
    from kernels.backtest import gpu

    monkeypatch.setattr(gpu, "TABLE_MIN_CELLS", 0)
    p = synthetic_panel(40, 300, seed=31)
    name, grid = CASES["trend_sma"]
    plan = prepare_sweep(p, name, grid, backend="gpu")
    # Room for the 3 windows of combinations 0..2 (fast 3, slow 8 and 20), not for the grid's 5.
    monkeypatch.setattr(gpu, "TABLE_MAX_BYTES", gpu.table_bytes(4, p.n_bars, p.n_assets, np.float64))
    builds = []
    real = gpu.build_tables
    monkeypatch.setattr(gpu, "build_tables", lambda *a, **k: builds.append(a[2].n_slots) or real(*a, **k))
    got = plan.run(range(0, 3))
    assert builds == [3] and plan.kept.tables is False and plan.builds["tables"] == 0 and plan.table_nbytes == 0
    assert_same(got, sweep(p, name, grid, chunk=Chunk(range(0, 3), slice(None)), backend="gpu"))
