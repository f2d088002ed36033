"""kernels.backtest.walk_forward: fold layout (rolling, anchored), the in-sample choice
against `run` over every combination, out-of-sample metrics equal to `run` on the test
window, no leak between windows, the stitched equity, the fold merge, and errors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.backtest import METRICS, run, walk_forward
from kernels.backtest.metrics import RETURN_METRICS, return_metrics
from kernels.backtest.walk_forward import (
    Fold,
    WalkForwardInputError,
    WalkForwardResult,
    merge_folds,
    plan_folds,
    run_fold,
)
from kernels.data import Panel, synthetic_panel, with_late_start
from tests.kernels.backtest.test_sweep import _EMU_PRELUDE  # the CUDA intrinsics as host functions (one copy)
from kernels.strategies import StrategyError
from tests.conftest import backends

FEES = 0.0005
TREND_GRID = {"fast": [3, 5, 10], "slow": [20, 40], "long_only": [True, False]}
MR_GRID = {"window": [10, 20], "entry_z": [1.0, 2.0], "exit_z": [0.0, 0.5]}


def _with_close(panel: Panel, close: np.ndarray) -> Panel:
    return Panel(panel.index, panel.symbols, panel.open, panel.high, panel.low, close, panel.volume)


@pytest.fixture(scope="module")
def panel() -> Panel:
    """6 assets x 420 bars, one starting late (inside the second fold's training window).

    No interior gap: the indicators' gap policy is being changed (kernels/indicators/gaps.py),
    and until then `run` and the sweep kernel read a gap differently."""
    p = synthetic_panel(6, 420, seed=7)
    return with_late_start(p, {p.symbols[2]: 150})


@pytest.fixture(scope="module")
def rolling(panel: Panel) -> WalkForwardResult:
    return walk_forward(panel, "trend_following", TREND_GRID, train=150, test=60, fees=FEES, backend="cpu")


# ------------------------------------------------------------------ folds
def test_plan_folds_rolling_and_anchored() -> None:
    roll = plan_folds(420, train=150, test=60)
    assert [(f.train_start, f.train_stop, f.test_start, f.test_stop) for f in roll] == [
        (0, 150, 150, 210), (60, 210, 210, 270), (120, 270, 270, 330), (180, 330, 330, 390)]
    anch = plan_folds(420, train=150, test=60, anchored=True)
    assert [(f.train_start, f.train_stop) for f in anch] == [(0, 150), (0, 210), (0, 270), (0, 330)]
    assert [f.test_start for f in anch] == [f.test_start for f in roll]
    stepped = plan_folds(420, train=100, test=50, step=80)
    assert [(f.train_start, f.test_start, f.test_stop) for f in stepped] == [
        (0, 100, 150), (80, 180, 230), (160, 260, 310), (240, 340, 390)]
    assert plan_folds(210, train=150, test=60) == [Fold(0, 0, 150, 150, 210)]


@settings(max_examples=60, deadline=None)
@given(n_bars=st.integers(2, 400), train=st.integers(1, 200), test=st.integers(1, 100), extra=st.integers(0, 50),
       anchored=st.booleans())
def test_plan_folds_properties(n_bars: int, train: int, test: int, extra: int, anchored: bool) -> None:
    step = test + extra
    if train + test > n_bars:
        with pytest.raises(WalkForwardInputError, match="train \\+ test"):
            plan_folds(n_bars, train, test, step, anchored)
        return
    folds = plan_folds(n_bars, train, test, step, anchored)
    assert len(folds) == (n_bars - train - test) // step + 1
    for k, f in enumerate(folds):
        assert f.index == k
        assert f.train_stop == f.test_start  # training ends where testing starts: no overlap, no gap
        assert f.test_stop - f.test_start == test and f.test_stop <= n_bars
        assert f.train_start == 0 if anchored else f.train_stop - f.train_start == train
        if k:
            assert f.test_start >= folds[k - 1].test_stop  # test windows never overlap
    assert folds[-1].test_stop + step > n_bars  # as many folds as fit


@pytest.mark.parametrize("kwargs, field", [
    ({"train": 400, "test": 30}, "train \\+ test"),
    ({"train": 0, "test": 30}, "train"),
    ({"train": 100, "test": 2.5}, "test"),
    ({"train": 100, "test": 50, "step": 20}, "step"),
    ({"train": 100, "test": 50, "rank_by": "alpha"}, "rank_by"),
    ({"train": 100, "test": 50, "engine": "ticks"}, "engine"),
    ({"train": 100, "test": 50, "sl_stop": 0.1}, "engine='orders'"),
])
def test_bad_arguments_name_the_argument(panel: Panel, kwargs: dict, field: str) -> None:
    with pytest.raises(WalkForwardInputError, match=field):
        walk_forward(panel, "trend_following", TREND_GRID, backend="cpu", **kwargs)


def test_data_as_a_dataframe_of_closes(panel: Panel, rolling: WalkForwardResult) -> None:
    close = pd.DataFrame(np.asarray(panel.close), index=pd.DatetimeIndex(panel.index), columns=list(panel.symbols))
    res = walk_forward(close, "trend_following", TREND_GRID, train=150, test=60, fees=FEES, backend="cpu")
    pd.testing.assert_frame_equal(res.params, rolling.params)
    pd.testing.assert_frame_equal(res.oos, rolling.oos)
    with pytest.raises(ValueError, match="data"):
        walk_forward("prices.csv", "trend_following", TREND_GRID, train=100, test=50)


# ------------------------------------------------------------------ correctness
def _combos(grid: dict) -> list[dict]:
    import itertools

    names = list(grid)
    out = [dict(zip(names, v)) for v in itertools.product(*(grid[n] for n in names))]
    return [c for c in out if c.get("fast", 0) < c.get("slow", 1)]


def test_chosen_combination_is_the_in_sample_best(panel: Panel, rolling: WalkForwardResult) -> None:
    assert rolling.n_folds == 4
    for k, fold in rolling.folds.iterrows():
        train = panel.select(start=int(fold.first_train_bar), stop=int(fold.first_train_bar + fold.train_bars))
        scores = {}
        for combo in _combos(TREND_GRID):
            res = run(train, "trend_following", combo, fees=FEES, backend="cpu")
            scores[tuple(sorted(combo.items()))] = res.portfolio["sharpe"]
        best = max(scores.values())
        chosen = {name: rolling.params.loc[k, name] for name in TREND_GRID}
        chosen_score = scores[tuple(sorted(chosen.items()))]
        assert chosen_score == pytest.approx(best, rel=1e-9, abs=1e-12)
        assert rolling.in_sample.loc[k, "sharpe"] == pytest.approx(chosen_score, rel=1e-9, abs=1e-12)
        assert rolling.folds.loc[k, "n_combos"] == len(_combos(TREND_GRID))


@pytest.mark.parametrize("rank_by", ["total_return", "max_drawdown"])
def test_rank_by_picks_best_of_that_metric(panel: Panel, rank_by: str) -> None:
    res = walk_forward(panel, "mean_reversion", MR_GRID, train=200, test=100, rank_by=rank_by, backend="cpu")
    for k, fold in res.folds.iterrows():
        train = panel.select(start=int(fold.first_train_bar), stop=int(fold.first_train_bar + fold.train_bars))
        values = [run(train, "mean_reversion", c, backend="cpu").portfolio[rank_by] for c in _combos(MR_GRID)]
        target = min(values) if rank_by == "max_drawdown" else max(values)
        assert res.in_sample.loc[k, rank_by] == pytest.approx(target, rel=1e-9, abs=1e-12)


def test_out_of_sample_equals_run_on_the_test_window(panel: Panel, rolling: WalkForwardResult) -> None:
    for k, fold in rolling.folds.iterrows():
        params = {c: rolling.params.loc[k, c] for c in rolling.params.columns}
        params = {c: (v.item() if isinstance(v, np.generic) else v) for c, v in params.items()}
        start = int(fold.first_test_bar)
        test = panel.select(start=start, stop=start + int(fold.test_bars))
        ref = run(test, "trend_following", params, fees=FEES, backend="cpu")
        np.testing.assert_array_equal(rolling.out_of_sample.loc[k, list(METRICS)].to_numpy(dtype=float),
                                      ref.portfolio[list(METRICS)].to_numpy(dtype=float))
        np.testing.assert_array_equal(rolling.oos_returns[rolling.oos["fold"] == k].to_numpy(),
                                      ref.portfolio_returns)
        assert rolling.folds.loc[k, "test_start"] == pd.Timestamp(test.index[0])
        assert rolling.folds.loc[k, "test_end"] == pd.Timestamp(test.index[-1])


def test_stitched_equity_is_continuous(panel: Panel, rolling: WalkForwardResult) -> None:
    oos = rolling.oos
    assert oos.index.is_monotonic_increasing and oos.index.is_unique
    expected_index = np.concatenate([panel.index[150 + 60 * k: 210 + 60 * k] for k in range(4)])
    np.testing.assert_array_equal(oos.index.to_numpy(), expected_index)
    eq = oos["equity"].to_numpy()
    r = oos["returns"].to_numpy()
    # every bar, fold boundaries included, compounds on the previous bar's equity
    np.testing.assert_allclose(eq[1:], eq[:-1] * (1.0 + r[1:]), rtol=1e-12)
    assert eq[0] == pytest.approx(1.0 + r[0])
    # the stitched equity is the product of the folds' own equity curves
    product = 1.0
    for k in range(rolling.n_folds):
        product *= float(np.prod(1.0 + r[oos["fold"].to_numpy() == k]))
    assert eq[-1] == pytest.approx(product, rel=1e-12)
    metrics = return_metrics(np, r[:, None], np.ones((len(r), 1), bool), 252)
    assert rolling.oos_metrics.loc["oos", "total_return"] == pytest.approx(float(metrics["total_return"][0]))
    assert list(rolling.oos_metrics.columns) == list(RETURN_METRICS)


def test_no_leak_between_windows(panel: Panel) -> None:
    """Fold 1 (train 60..210, test 210..270): changing bars after the test window changes
    nothing; changing bars of the test window never changes the in-sample choice; changing
    bars of the training window changes the out-of-sample result only through the choice."""
    fold = plan_folds(panel.n_bars, train=150, test=60)[1]
    kw = dict(rank_by="sharpe", fees=FEES, backend="cpu")
    base = run_fold(panel, "trend_following", TREND_GRID, fold, **kw)
    rng = np.random.default_rng(3)
    close = np.asarray(panel.close)

    def perturbed(lo: int, hi: int) -> Panel:
        c = close.copy()
        c[lo:hi] *= np.exp(rng.normal(0.0, 0.05, size=c[lo:hi].shape))
        return _with_close(panel, c)

    after = run_fold(perturbed(fold.test_stop, panel.n_bars), "trend_following", TREND_GRID, fold, **kw)
    assert after.params == base.params
    pd.testing.assert_frame_equal(after.in_sample, base.in_sample)
    pd.testing.assert_frame_equal(after.out_of_sample, base.out_of_sample)
    before = run_fold(perturbed(0, fold.train_start), "trend_following", TREND_GRID, fold, **kw)
    pd.testing.assert_frame_equal(before.in_sample, base.in_sample)
    pd.testing.assert_frame_equal(before.out_of_sample, base.out_of_sample)

    in_test = run_fold(perturbed(fold.test_start, fold.test_stop), "trend_following", TREND_GRID, fold, **kw)
    assert in_test.params == base.params
    pd.testing.assert_frame_equal(in_test.in_sample, base.in_sample)

    changed = perturbed(fold.train_start, fold.train_stop)
    in_train = run_fold(changed, "trend_following", TREND_GRID, fold, **kw)
    test_window = panel.select(start=fold.test_start, stop=fold.test_stop)  # unchanged bars
    ref = run(test_window, "trend_following", in_train.params, fees=FEES, backend="cpu")
    np.testing.assert_array_equal(in_train.out_of_sample.iloc[0].to_numpy(dtype=float),
                                  ref.portfolio[list(METRICS)].to_numpy(dtype=float))


def test_anchored_windows_grow_from_bar_zero(panel: Panel) -> None:
    res = walk_forward(panel, "trend_following", TREND_GRID, train=150, test=60, anchored=True, fees=FEES,
                       backend="cpu")
    assert (res.folds["first_train_bar"] == 0).all()
    assert res.folds["train_bars"].tolist() == [150, 210, 270, 330]
    assert (res.folds["train_start"] == pd.Timestamp(panel.index[0])).all()
    k = 3
    train = panel.select(start=0, stop=330)
    best = max(run(train, "trend_following", c, fees=FEES, backend="cpu").portfolio["sharpe"]
               for c in _combos(TREND_GRID))
    assert res.in_sample.loc[k, "sharpe"] == pytest.approx(best, rel=1e-9)


def test_user_strategy_runs_combination_by_combination(panel: Panel) -> None:
    def band(p: Panel, level: float = 1.0) -> np.ndarray:
        c = np.asarray(p.close)
        with np.errstate(invalid="ignore"):
            ratio = c / c[:1]
        return np.where(np.isfinite(ratio) & (ratio > level), 1.0, 0.0)

    res = walk_forward(panel, band, {"level": [0.9, 1.0, 1.1]}, train=200, test=100, backend="cpu")
    assert res.n_folds == 2 and res.strategy == "band"
    for k, fold in res.folds.iterrows():
        train = panel.select(start=int(fold.first_train_bar), stop=int(fold.first_train_bar + fold.train_bars))
        values = [run(train, band, {"level": v}, backend="cpu").portfolio["sharpe"] for v in (0.9, 1.0, 1.1)]
        finite = [v for v in values if np.isfinite(v)]
        if finite:
            assert res.in_sample.loc[k, "sharpe"] == pytest.approx(max(finite), rel=1e-12)


def test_merge_folds_any_order_and_checks(panel: Panel) -> None:
    folds = plan_folds(panel.n_bars, train=150, test=60)
    parts = [run_fold(panel, "trend_following", TREND_GRID, f, fees=FEES, backend="cpu", train=150, test=60)
             for f in folds[:3]]
    merged = merge_folds(parts[::-1])
    assert merged.folds.index.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(merged.oos_equity.to_numpy(), np.cumprod(1 + merged.oos_returns.to_numpy()))
    with pytest.raises(WalkForwardInputError, match="folds must be"):
        merge_folds(parts[1:])
    assert "3 folds rolling" in repr(merged) and "oos sharpe" in repr(merged)
    assert list(merged.summary().columns[:4]) == ["fast", "slow", "ma", "long_only"]


@pytest.mark.parametrize("backend", list(backends()))
def test_backends_choose_the_same(panel: Panel, rolling: WalkForwardResult, backend: str) -> None:
    res = walk_forward(panel, "trend_following", TREND_GRID, train=150, test=60, fees=FEES, backend=backend)
    assert res.backend == backend
    pd.testing.assert_frame_equal(res.params, rolling.params)
    np.testing.assert_allclose(res.oos_equity.to_numpy(), rolling.oos_equity.to_numpy(), rtol=1e-9)


# ------------------------------------------------------------------ warm-up
def test_warmup_reads_past_bars_and_measures_the_test_window(panel: Panel) -> None:
    """warmup=60: each out-of-sample run starts 60 bars before its window (windows longer than the
    test window become possible); returns and metrics cover the test bars only."""
    grid = {"fast": [5, 10], "slow": [40, 80]}  # slow = 80 > test = 60: only possible with a warm-up
    with pytest.raises(StrategyError, match="longer than the data"):
        walk_forward(panel, "trend_following", grid, train=150, test=60, backend="cpu")
    res = walk_forward(panel, "trend_following", grid, train=150, test=60, warmup=60, fees=FEES, backend="cpu")
    assert res.warmup == 60 and "warmup=60" in repr(res)
    plain = walk_forward(panel, "trend_following", {"fast": [5, 10], "slow": [40]}, train=150, test=60, fees=FEES,
                         backend="cpu")
    assert len(res.oos) == len(plain.oos)  # the stitched series covers the same test bars
    for k, fold in res.folds.iterrows():
        params = {c: (v.item() if isinstance(v, np.generic) else v) for c, v in res.params.loc[k].items()}
        start = int(fold.first_test_bar)
        full = run(panel.select(start=start - 60, stop=start + 60), "trend_following", params, fees=FEES,
                   backend="cpu")
        r = res.oos_returns[res.oos["fold"] == k].to_numpy()
        np.testing.assert_array_equal(r, full.portfolio_returns_array[60:])
        oos = res.out_of_sample.loc[k]
        assert oos["total_return"] == pytest.approx(np.prod(1.0 + r) - 1.0, rel=1e-12)
        ref = return_metrics(np, r[:, None], np.ones((60, 1), bool), 252)
        assert oos["sharpe"] == pytest.approx(float(ref["sharpe"][0]), rel=1e-12, nan_ok=True)
        assert oos["max_drawdown"] == pytest.approx(float(ref["max_drawdown"][0]), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("kwargs, match", [
    ({"warmup": -1}, "warmup must be"),
    ({"warmup": 151}, "warmup \\(151\\) is longer"),
    ({"warmup": 10, "engine": "orders"}, "warmup needs engine='returns'"),
])
def test_bad_warmup(panel: Panel, kwargs: dict, match: str) -> None:
    with pytest.raises(WalkForwardInputError, match=match):
        walk_forward(panel, "trend_following", TREND_GRID, train=150, test=60, backend="cpu", **kwargs)


def test_warmup_never_reads_after_the_window(panel: Panel) -> None:
    fold = plan_folds(panel.n_bars, train=150, test=60)[1]
    base = run_fold(panel, "trend_following", TREND_GRID, fold, fees=FEES, backend="cpu", warmup=90)
    close = np.array(panel.close, copy=True)
    close[fold.test_stop:] *= 1.3
    after = run_fold(_with_close(panel, close), "trend_following", TREND_GRID, fold, fees=FEES, backend="cpu",
                     warmup=90)
    pd.testing.assert_frame_equal(after.out_of_sample, base.out_of_sample)
    np.testing.assert_array_equal(after.oos_returns, base.oos_returns)


# ------------------------------------------------------------------ one pass over all folds
def _count_calls(monkeypatch: pytest.MonkeyPatch, module, name: str) -> list:
    calls = []
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def _assert_same(a: WalkForwardResult, b: WalkForwardResult) -> None:
    for name in ("folds", "params", "in_sample", "out_of_sample", "oos", "oos_metrics"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)


@pytest.mark.parametrize("engine, anchored", [("returns", False), ("returns", True),
                                              pytest.param("orders", True, marks=pytest.mark.slow)])
def test_one_pass_equals_fold_by_fold(panel: Panel, monkeypatch: pytest.MonkeyPatch, engine: str,
                                      anchored: bool) -> None:
    """All folds' in-sample sweeps in one kernel launch (folds side by side; anchored folds of
    different lengths aligned on their last bar) equal the folds run one by one, and batches of
    folds too; the launches are counted."""
    from kernels.backtest import sweep_cpu
    from kernels.backtest.orders import sweep_cpu as orders_cpu

    module, name = (sweep_cpu, "sweep_nb") if engine == "returns" else (orders_cpu, "sweep_apply_nb")
    calls = _count_calls(monkeypatch, module, name)
    kw = dict(train=150, test=60, anchored=anchored, fees=FEES, backend="cpu", engine=engine)
    grid = TREND_GRID
    if engine == "orders":
        kw.update(sl_stop=0.05, init_cash=1000.0)
        grid = {"fast": [3, 10], "slow": [20, 40], "long_only": [True, False]}
    one = walk_forward(panel, "trend_following", grid, **kw)
    assert one.n_folds == 4 and len(calls) == 1
    by_fold = walk_forward(panel, "trend_following", grid, fold_batch=1, **kw)
    assert len(calls) == 1 + 4
    _assert_same(one, by_fold)
    if engine == "returns":  # batches of folds; a job's folds (run_fold with the walk-forward's windows)
        batches = walk_forward(panel, "trend_following", grid, fold_batch=3, **kw)
        assert len(calls) == 1 + 4 + 2
        _assert_same(one, batches)
        for f in plan_folds(panel.n_bars, train=150, test=60, anchored=anchored):
            part = run_fold(panel, "trend_following", TREND_GRID, f, fees=FEES, backend="cpu", train=150, test=60,
                            anchored=anchored)
            pd.testing.assert_frame_equal(part.in_sample, one.in_sample.loc[[f.index]], check_exact=True)
    with pytest.raises(WalkForwardInputError, match="fold_batch"):
        walk_forward(panel, "trend_following", grid, fold_batch=0, **kw)


@pytest.mark.parametrize("backend", list(backends())[1:])  # the GPU: folds side by side, 32 columns apart
def test_one_pass_on_the_gpu(panel: Panel, backend: str) -> None:
    for kw in (dict(anchored=True), dict(engine="orders", sl_stop=0.05)):
        ref = walk_forward(panel, "trend_following", TREND_GRID, train=150, test=60, fees=FEES, backend="cpu", **kw)
        one = walk_forward(panel, "trend_following", TREND_GRID, train=150, test=60, fees=FEES, backend=backend,
                           **kw)
        by_fold = walk_forward(panel, "trend_following", TREND_GRID, train=150, test=60, fees=FEES,
                               backend=backend, fold_batch=1, **kw)
        assert one.backend == backend
        pd.testing.assert_frame_equal(one.params, ref.params)
        pd.testing.assert_frame_equal(one.params, by_fold.params)
        np.testing.assert_allclose(one.in_sample.to_numpy(float), ref.in_sample.to_numpy(float), rtol=1e-9)
        np.testing.assert_allclose(one.in_sample.to_numpy(float), by_fold.in_sample.to_numpy(float), rtol=1e-12)
        np.testing.assert_allclose(one.oos_equity.to_numpy(), ref.oos_equity.to_numpy(), rtol=1e-9)


def test_pairs_sweep_per_fold_with_int_parameters(panel: Panel) -> None:
    """Pairs (not side by side: a sweep per fold); an all-numeric parameter row keeps its ints."""
    grid = {"window": [20, 40], "entry_z": [1.5, 2.0]}
    res = walk_forward(panel, "pairs", grid, train=150, test=120, backend="cpu")
    assert res.n_folds == 2 and isinstance(res.params.loc[0, "window"].item(), int)
    for k, fold in res.folds.iterrows():
        train = panel.select(start=int(fold.first_train_bar), stop=int(fold.first_train_bar + fold.train_bars))
        best = max(run(train, "pairs", {"window": w, "entry_z": z}, backend="cpu").portfolio["sharpe"]
                   for w in (20, 40) for z in (1.5, 2.0))
        assert res.in_sample.loc[k, "sharpe"] == pytest.approx(best, rel=1e-9)


def test_folds_32_columns_apart_as_on_the_gpu(panel: Panel) -> None:
    """The GPU's layout (fold k's assets from column 32 k, empty columns between) gives the same
    tables as folds packed side by side, on the CPU kernel."""
    from kernels.backtest.grid import expand_grid
    from kernels.backtest.walk_forward import _returns_pass, fold_scale_exp

    folds = plan_folds(panel.n_bars, train=150, test=60, anchored=True)
    g = expand_grid("trend_following", TREND_GRID, 150)
    scale = fold_scale_exp(np.asarray(panel.close), folds, FEES, 0.0)
    packed = _returns_pass(np.asarray(panel.close), folds, g, FEES, "cpu", 252, scale)
    apart = _returns_pass(np.asarray(panel.close), folds, g, FEES, "cpu", 252, scale, align=32)
    for a, b in zip(packed, apart):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ the grouped CUDA sweep kernel on the host
_KERNEL_STUB = r"""
#include <barrier>
#include <mutex>
#include <thread>
#include <vector>
#define SWEEP_WARPS 1
""" + _EMU_PRELUDE + r"""
#define __global__
#define __device__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(a, b)
struct D3 { unsigned x, y, z; };
static thread_local D3 blockIdx, threadIdx;
static D3 blockDim{32, 1, 1};
static std::mutex MU;
static std::barrier<>* BAR;  // a block is one warp: 32 host threads, a barrier per intrinsic
static long long SH_L[32]; static unsigned SH_U[32]; static int SH_I[32]; static long long TILES[16 * 33];
inline int lane_() { return threadIdx.x & 31; }
inline void __syncwarp() { BAR->arrive_and_wait(); }
inline unsigned long long atomicAdd(unsigned long long* a, unsigned long long v) {
    std::lock_guard<std::mutex> g(MU); auto o = *a; *a += v; return o; }
inline long long __shfl_down_sync(unsigned, long long v, int off) {
    SH_L[lane_()] = v; BAR->arrive_and_wait(); const int s = lane_() + off; const long long r = s < 32 ? SH_L[s] : v;
    BAR->arrive_and_wait(); return r; }
inline unsigned __reduce_add_sync(unsigned, unsigned v) {
    SH_U[lane_()] = v; BAR->arrive_and_wait(); unsigned r = 0; for (int i = 0; i < 32; ++i) r += SH_U[i];
    BAR->arrive_and_wait(); return r; }
inline int __reduce_add_sync(unsigned, int v) {
    SH_I[lane_()] = v; BAR->arrive_and_wait(); int r = 0; for (int i = 0; i < 32; ++i) r += SH_I[i];
    BAR->arrive_and_wait(); return r; }
inline int __reduce_max_sync(unsigned, int v) {
    SH_I[lane_()] = v; BAR->arrive_and_wait(); int r = SH_I[0]; for (int i = 1; i < 32; ++i) r = SH_I[i] > r ? SH_I[i] : r;
    BAR->arrive_and_wait(); return r; }
"""
_KERNEL_DRIVER = r"""
extern "C" void run_kernel(const double* sig, const double* ra, const double* rb, const int* first, const int* ip,
                           const double* fp, int Tn, int U, int P, double fs, double scale, int G, int GU,
                           unsigned long long* psum, double* acc) {
    std::barrier<> bar(32);
    BAR = &bar;
    for (unsigned bx = 0; bx < (unsigned)P; ++bx) for (unsigned by = 0; by < (unsigned)((U + 31) / 32); ++by) {
        std::vector<std::thread> lanes;
        for (unsigned lane = 0; lane < 32; ++lane) lanes.emplace_back([=] {
            blockIdx.x = bx; blockIdx.y = by; threadIdx.x = lane;
            sweep_kernel<double, 0>(sig, ra, rb, first, ip, fp, Tn, U, P, U, fs, 2.0 * fs, scale, G, GU, psum, acc);
        });
        for (auto& t : lanes) t.join();
    }
}
"""


@pytest.mark.slow
def test_cuda_sweep_kernel_groups_emulated(tmp_path) -> None:
    """The returns sweep's CUDA kernel (kernels/backtest/gpu.py: sweep_kernel with its warp sink,
    a block as 32 host threads) with groups=2 (two folds of 32 units side by side) sums each group
    apart, equal to the CPU kernel's blocks of 32 units; groups=1 sums everything as before."""
    import ctypes
    import shutil
    import subprocess

    from kernels.backtest import gpu
    from kernels.backtest import sweep as S
    from kernels.backtest import sweep_cpu
    from kernels.backtest.grid import expand_grid

    if shutil.which("g++") is None:
        pytest.skip("needs g++")
    src = gpu.SWEEP_SOURCE
    start = src.index("#ifndef SWEEP_EMULATE\n// Adds the warp's 32")
    kernels = src[start + len("#ifndef SWEEP_EMULATE\n"):src.rindex("#endif")]
    kernels = kernels.replace("__shared__ long long tiles[SWEEP_WARPS * 16 * 33];", "long long* tiles = TILES;")
    path = tmp_path / "kernel.cpp"
    path.write_text(_KERNEL_STUB + src[:start] + kernels + _KERNEL_DRIVER)
    lib_path = tmp_path / "kernel.so"
    done = subprocess.run(["g++", "-std=c++20", "-O0", "-ffp-contract=off", "-pthread", "-shared", "-fPIC", "-o",
                           str(lib_path), str(path)], capture_output=True, text=True)
    if done.returncode and "barrier" in done.stderr:
        pytest.skip("needs a g++ with C++20 <barrier>")
    assert done.returncode == 0, done.stderr[-2000:]
    lib = ctypes.CDLL(str(lib_path))

    wide = with_late_start(synthetic_panel(64, 120, seed=5), {"S0003": 40, "S0040": 20})
    g = expand_grid("trend_following", {"fast": [3, 5], "slow": [10, 20], "long_only": [True, False]}, 120)
    dt = np.dtype(np.float64)
    prep = S._prepare(np, np.asarray(wide.close, dtype=np.float64), range(64), g.kind, dt, FEES)
    floats = S.kernel_floats(g, range(g.n_combos), dt)
    p, t, u = g.n_combos, 120, 64
    scale = 2.0 ** prep.scale_exp
    acc_cpu, part = sweep_cpu.sweep_nb(g.kind, np.ascontiguousarray(prep.sig.T), np.ascontiguousarray(prep.ra.T),
                                       np.ascontiguousarray(prep.rb.T), prep.first.astype(np.int64),
                                       np.ascontiguousarray(g.ints), floats, sweep_cpu.consts_for(dt), FEES,
                                       2 * FEES, scale, u, 2)  # two blocks of 32 units: the two groups
    ptr = lambda a: a.ctypes.data_as(ctypes.c_void_p)  # noqa: E731
    arrays = [np.ascontiguousarray(a) for a in (prep.sig, prep.ra, prep.rb)]
    ints = np.ascontiguousarray(g.ints, dtype=np.int32)
    first = prep.first.astype(np.int32)
    for groups, group_units in ((1, 0x7FFFFFFF), (2, 32)):
        psum = np.zeros((p * groups, t), np.uint64)
        acc = np.zeros((11, p, u))
        lib.run_kernel(*(ptr(a) for a in arrays), ptr(first), ptr(ints), ptr(floats), t, u, p,
                       ctypes.c_double(FEES), ctypes.c_double(scale), groups, group_units, ptr(psum), ptr(acc))
        np.testing.assert_allclose(acc, acc_cpu, rtol=1e-12, atol=1e-15)  # sums of squares: last bits
        sums = psum.view(np.int64).reshape(p, groups, t)
        expected = part.sum(axis=0)[:, None] if groups == 1 else part.transpose(1, 0, 2)
        np.testing.assert_array_equal(sums, expected)
        assert np.count_nonzero(sums) > p * groups * t // 2
