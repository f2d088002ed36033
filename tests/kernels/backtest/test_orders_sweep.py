"""Sweeps over order options (stops, trailing, sizing) on the orders engine: every
row equals `from_signals(...).stats()` for that combination (asset rows, and the
portfolio row = the assets' summed value); GPU rows equal CPU rows."""
from __future__ import annotations

import numpy as np
import pytest

from kernels.backtest import from_signals, sweep
from kernels.backtest.orders.api import OrdersInputError
from kernels.backtest.orders.result import ORDER_METRICS
from kernels.backtest.sweep import SweepInputError
from kernels.data import synthetic_panel, with_late_start
from kernels.strategies import get_strategy, positions_to_signals
from tests.conftest import backends

PANEL = with_late_start(synthetic_panel(5, 260, seed=4), {"S0002": 30})
GRID = {"fast": [5, 12], "slow": [12, 30], "sl_stop": [None, 0.03], "tp_stop": [0.06, None], "sl_trail": [False, True]}
OPTS = dict(fees=0.001, slippage=0.0005, fixed_fees=0.1, init_cash=1000.0)


def _nan_close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-9) -> None:
    np.testing.assert_allclose(a, b, rtol=rtol, atol=0, equal_nan=True)


def _reference(res, cid: int, panel=PANEL, strategy="trend_following", **opts):
    row = res.params.loc[cid].to_dict()
    order = {k: row.pop(k) for k in ("sl_stop", "tp_stop", "sl_trail", "size", "size_type") if k in row}
    for k in ("sl_stop", "tp_stop"):
        if k in order and np.isnan(order[k]):
            order[k] = None
    sig = positions_to_signals(get_strategy(strategy)(panel, **row))
    kw = dict(fees=opts.get("fees", 0.0), slippage=opts.get("slippage", 0.0), fixed_fees=opts.get("fixed_fees", 0.0),
              init_cash=opts.get("init_cash", 100.0), **order)
    assets = from_signals(panel, **sig.as_kwargs(), backend="cpu", **kw).stats()
    port = from_signals(panel, **sig.as_kwargs(), backend="cpu", group_by=True, **kw).stats()
    return assets, port


def test_rows_equal_from_signals() -> None:
    res = sweep(PANEL, "trend_following", GRID, top_k=5, backend="cpu", **OPTS)
    assert list(res.asset_metrics.columns) == list(ORDER_METRICS)
    assert len(res.params) == 3 * 8  # (5,12), (5,30), (12,30) x 8 order combinations
    # order options vary fastest
    assert list(res.params["sl_trail"].iloc[:2]) == [False, True]
    for cid in range(len(res.params)):
        assets, port = _reference(res, cid, **OPTS)
        _nan_close(res.asset_metrics.loc[cid].to_numpy(), assets.to_numpy())
        _nan_close(res.portfolio_metrics.loc[cid].to_numpy(), port.to_numpy()[0])
    assert res.top["sharpe"].is_monotonic_decreasing or res.top["sharpe"].isna().any()


def test_size_sweep_and_shorts() -> None:
    grid = {"fast": [5], "slow": [20], "size": [0.5, 1.0], "size_type": ["percent"], "tp_stop": [0.05]}
    res = sweep(PANEL, "trend_following", grid, backend="cpu", init_cash=500.0, fees=0.002)
    for cid in res.params.index:
        assets, port = _reference(res, cid, init_cash=500.0, fees=0.002)
        _nan_close(res.asset_metrics.loc[cid].to_numpy(), assets.to_numpy())
        _nan_close(res.portfolio_metrics.loc[cid].to_numpy(), port.to_numpy()[0])
    grid = {"fast": [5], "slow": [20], "long_only": [False], "size": [3.0, 10.0], "sl_stop": [0.04]}
    res = sweep(PANEL, "trend_following", grid, backend="cpu", engine="orders")
    assert (res.asset_metrics["n_trades"] > 0).any()
    for cid in res.params.index:
        assets, port = _reference(res, cid)
        _nan_close(res.asset_metrics.loc[cid].to_numpy(), assets.to_numpy())


def test_bad_order_grids() -> None:
    with pytest.raises(OrdersInputError, match="sl_stop"):
        sweep(PANEL, "trend_following", {"fast": [5], "slow": [20], "sl_stop": [-0.1]}, backend="cpu")
    with pytest.raises(OrdersInputError, match="sl_stop"):
        sweep(PANEL, "trend_following", {"fast": [5], "slow": [20], "sl_stop": [1.0]}, backend="cpu")
    with pytest.raises(OrdersInputError, match="size_type"):
        sweep(PANEL, "trend_following", {"fast": [5], "slow": [20], "size_type": ["shares"]}, backend="cpu")
    with pytest.raises(OrdersInputError, match="size"):
        sweep(PANEL, "trend_following", {"fast": [5], "slow": [20], "size": [0.0]}, backend="cpu")
    with pytest.raises(OrdersInputError, match="rank_by"):
        sweep(PANEL, "trend_following", {"fast": [5], "slow": [20], "tp_stop": [0.1]}, rank_by="nope",
              backend="cpu")
    with pytest.raises(SweepInputError, match="engine"):
        sweep(PANEL, "trend_following", {"fast": [5], "slow": [20]}, engine="ticks")
    with pytest.raises(SweepInputError, match="order options"):
        sweep(PANEL, "trend_following", {"fast": [5], "slow": [20]}, init_cash=10.0)


@pytest.mark.parametrize("backend", list(backends()))
def test_backend_rows_equal_cpu(backend) -> None:
    """GPU rows equal CPU rows (float64): the same step function on both backends."""
    ref = sweep(PANEL, "trend_following", GRID, backend="cpu", **OPTS)
    got = sweep(PANEL, "trend_following", GRID, backend=backend, **OPTS)
    assert got.backend == backend
    _nan_close(got.asset_metrics.to_numpy(), ref.asset_metrics.to_numpy(), rtol=1e-12)
    _nan_close(got.portfolio_metrics.to_numpy(), ref.portfolio_metrics.to_numpy(), rtol=1e-10)


# ------------------------------------------------------------------ groups and cash sharing
def _group_reference(res, cid: int, group_by, cash_sharing: bool, **opts):
    """from_signals(..., group_by, cash_sharing) for combination cid: its group stats and value."""
    row = res.params.loc[cid].to_dict()
    order = {k: row.pop(k) for k in ("sl_stop", "tp_stop", "sl_trail", "size", "size_type") if k in row}
    for k in ("sl_stop", "tp_stop"):
        if k in order and np.isnan(order[k]):
            order[k] = None
    sig = positions_to_signals(get_strategy("trend_following")(PANEL, **row))
    r = from_signals(PANEL, **sig.as_kwargs(), backend="cpu", group_by=group_by, cash_sharing=cash_sharing,
                     **opts, **order)
    return r.stats(), r.value_array.sum(axis=1), r.active_array.any(axis=1)


def _summed_value_metrics(value: np.ndarray, active: np.ndarray, init_total: float) -> dict:
    from kernels.backtest.metrics import return_metrics

    prev = np.concatenate([[init_total], value[:-1]])
    with np.errstate(all="ignore"):  # vectorbt's returns: the sign flipped after a negative value (a short's loss)
        r = (value - prev) / prev * np.where(prev < 0, -1.0, 1.0)
        r = np.where(prev == 0, np.where(value == 0, 0.0, np.sign(value) * np.inf), r)
    out = return_metrics(np, r[:, None], active[:, None], 252, equity=(value / init_total)[:, None])
    return {k: float(v[0]) for k, v in out.items()}


CS_CASES = {
    # stops x value sizes, two groups
    "stops_value": (dict(fast=[5, 12], slow=[30], sl_stop=[None, 0.03], tp_stop=[0.05], size=[50.0, 400.0],
                         size_type=["value"]), [0, 0, 1, 1, 1], dict(init_cash=500.0, fees=0.001, fixed_fees=0.5)),
    # percent sizes with a trailing stop, one group of every asset
    "percent_trail_one_group": (dict(fast=[5], slow=[20, 40], sl_stop=[0.04], sl_trail=[False, True],
                                     size=[0.3], size_type=["percent"]), True, dict(init_cash=1000.0, slippage=0.001)),
    # shorts (long_only False: reversals), amount sizes, string labels
    "shorts_amount": (dict(fast=[5], slow=[20], long_only=[False], size=[2.0, 8.0], tp_stop=[None, 0.08]),
                      ["x", "x", "x", "y", "y"], dict(init_cash=300.0, fees=0.002)),
}


@pytest.mark.parametrize("case", list(CS_CASES))
def test_cash_sharing_rows_equal_from_signals(case: str) -> None:
    """A row per (combination, group) equal to from_signals(cash_sharing=True, group_by=...) (vectorbt's
    default call sequence: the group's columns in order within a bar); the portfolio row is the summed
    value of the groups."""
    grid, group_by, opts = CS_CASES[case]
    res = sweep(PANEL, "trend_following", grid, backend="cpu", group_by=group_by, cash_sharing=True, **opts)
    labels = ["group"] if group_by is True else list(dict.fromkeys(group_by))
    assert res.asset_metrics.index.names == ["combo_id", "group"]
    assert list(res.asset_metrics.index.get_level_values("group")[:len(labels)]) == labels
    assert (res.asset_metrics["n_trades"] > 0).any()
    for cid in res.params.index:
        stats, value, active = _group_reference(res, cid, group_by, True, **opts)
        _nan_close(res.asset_metrics.loc[cid].to_numpy(), stats.to_numpy())
        port = _summed_value_metrics(value, active, opts["init_cash"] * len(labels))
        for k, v in port.items():
            _nan_close(np.array([res.portfolio_metrics.loc[cid, k]]), np.array([v]))
        if group_by is True:  # one group: the portfolio is that group
            _nan_close(res.portfolio_metrics.loc[cid].to_numpy(), stats.to_numpy()[0])


def test_group_by_without_cash_sharing_rows_equal_from_signals() -> None:
    grid = dict(fast=[5, 12], slow=[30], sl_stop=[None, 0.05], size=[3.0])
    labels = ["a", "a", "b", "b", "b"]
    res = sweep(PANEL, "trend_following", grid, backend="cpu", group_by=labels, **OPTS)
    plain = sweep(PANEL, "trend_following", grid, backend="cpu", **OPTS)
    _nan_close(res.portfolio_metrics.to_numpy(), plain.portfolio_metrics.to_numpy(), rtol=1e-12)
    for cid in res.params.index:
        stats, _, _ = _group_reference(res, cid, labels, False, **OPTS)
        _nan_close(res.asset_metrics.loc[cid].to_numpy(), stats.to_numpy())


@pytest.mark.parametrize("kwargs, field", [
    (dict(group_by=[0, 0, 1]), "group_by"),
    (dict(group_by=[0, 1, 0, 1, 1], cash_sharing=True), "group_by"),
    (dict(group_by="sector", cash_sharing=True), "group_by"),
    (dict(cash_sharing=True), "cash_sharing"),
    (dict(group_by=True, cash_sharing="yes"), "cash_sharing"),
])
def test_bad_groups_name_the_argument(kwargs: dict, field: str) -> None:
    with pytest.raises(OrdersInputError, match=field):
        sweep(PANEL, "trend_following", {"fast": [5], "slow": [20], "sl_stop": [0.05]}, backend="cpu", **kwargs)
    if "cash_sharing" not in kwargs:  # the returns engine has no groups
        with pytest.raises(SweepInputError, match="order options"):
            sweep(PANEL, "trend_following", {"fast": [5], "slow": [20]}, backend="cpu", **kwargs)


@pytest.mark.parametrize("backend", list(backends())[1:])  # the GPU (CPU vs CPU would compare nothing)
def test_backend_group_rows_equal_cpu(backend) -> None:
    """GPU group rows equal CPU rows: cash sharing (a thread per (combination, group)) and group_by
    without sharing (warps whose assets straddle two groups add lane by lane)."""
    grid, group_by, opts = CS_CASES["stops_value"]
    for kw in (dict(group_by=group_by, cash_sharing=True), dict(group_by=["a", "a", "b", "b", "b"])):
        ref = sweep(PANEL, "trend_following", grid, backend="cpu", **opts, **kw)
        got = sweep(PANEL, "trend_following", grid, backend=backend, **opts, **kw)
        assert got.backend == backend
        _nan_close(got.asset_metrics.to_numpy(), ref.asset_metrics.to_numpy(), rtol=1e-10)
        _nan_close(got.portfolio_metrics.to_numpy(), ref.portfolio_metrics.to_numpy(), rtol=1e-10)


# ------------------------------------------------------------------ the cash-sharing CUDA source on the host
_EMU_STUB = r"""
#include <barrier>
#include <cmath>
#include <mutex>
#include <thread>
#include <vector>
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__
struct D3 { unsigned x, y, z; };
static thread_local D3 blockIdx, threadIdx;
static D3 blockDim;
static std::mutex MU;
inline double atomicAdd(double* a, double v) { std::lock_guard<std::mutex> g(MU); double o = *a; *a += v; return o; }
// a warp = 32 host threads; an intrinsic = write, barrier, read, barrier (every lane must call it)
static std::barrier<>* BAR;
static double SH_D[32]; static long long SH_L[32]; static bool SH_B[32];
inline int lane_id() { return threadIdx.x & 31; }
inline double __shfl_down_sync(unsigned, double v, int off) {
    SH_D[lane_id()] = v; BAR->arrive_and_wait(); const int s = lane_id() + off; const double r = s < 32 ? SH_D[s] : v;
    BAR->arrive_and_wait(); return r; }
inline long long __shfl_sync(unsigned, long long v, int src) {
    SH_L[lane_id()] = v; BAR->arrive_and_wait(); const long long r = SH_L[src]; BAR->arrive_and_wait(); return r; }
inline bool __all_sync(unsigned, bool v) {
    SH_B[lane_id()] = v; BAR->arrive_and_wait(); bool r = true; for (int i = 0; i < 32; ++i) r = r && SH_B[i];
    BAR->arrive_and_wait(); return r; }
inline bool __any_sync(unsigned, bool v) {
    SH_B[lane_id()] = v; BAR->arrive_and_wait(); bool r = false; for (int i = 0; i < 32; ++i) r = r || SH_B[i];
    BAR->arrive_and_wait(); return r; }
inline double __longlong_as_double(unsigned long long x) { double d; __builtin_memcpy(&d, &x, 8); return d; }
using std::isnan; using std::isinf;
"""
_EMU_DRIVER = r"""
extern "C" void run_shared(const double* close, const double* o, const double* h, const double* l, int has_ohlc,
    const bool* le, const bool* lx, const bool* se, const bool* sx, const long long* strat_of, const double* size,
    const long long* stype, const double* sl, const bool* trail, const double* tp, double fees, double fixed_fees,
    double slippage, const double* init_cash, int accumulate, const long long* gs, const long long* ge,
    long long n_bars, long long n_assets, long long n_combos, long long n_groups, ColState* state, double* last_val,
    TradeState* trades, double* acc, double* pv, bool* pe) {
    blockDim.x = 1; threadIdx.x = 0;
    for (long long t = 0; t < n_combos * n_groups; ++t) {  // one "thread" after another
        blockIdx.x = (unsigned)t;
        orders_sweep_shared(close, o, h, l, has_ohlc, le, lx, se, sx, strat_of, size, stype, sl, trail, tp, fees,
                            fixed_fees, slippage, init_cash, accumulate, gs, ge, n_bars, n_assets, n_combos, n_groups,
                            state, last_val, trades, acc, pv, pe);
    }
}
extern "C" void run_warps(const double* close, const double* o, const double* h, const double* l, int has_ohlc,
    const bool* le, const bool* lx, const bool* se, const bool* sx, const long long* strat_of, const double* size,
    const long long* stype, const double* sl, const bool* trail, const double* tp, double fees, double fixed_fees,
    double slippage, double init_cash, int accumulate, long long n_bars, long long n_assets, long long n_combos,
    const long long* col_group, long long n_groups, double* acc, double* pv, bool* pe) {
    blockDim.x = 32;
    std::barrier<> bar(32);
    BAR = &bar;
    for (long long w = 0; w < n_combos * ((n_assets + 31) / 32); ++w) {  // one warp at a time
        std::vector<std::thread> lanes;
        for (int lane = 0; lane < 32; ++lane) lanes.emplace_back([=] {
            blockIdx.x = (unsigned)w; threadIdx.x = (unsigned)lane;
            orders_sweep(close, o, h, l, has_ohlc, le, lx, se, sx, strat_of, size, stype, sl, trail, tp, fees,
                         fixed_fees, slippage, init_cash, accumulate, n_bars, n_assets, n_combos, col_group, n_groups,
                         acc, pv, pe);
        });
        for (auto& x : lanes) x.join();
    }
}
"""


def _emulated(tmp_path):
    """orders/sweep_gpu.py's CUDA source compiled for the host (g++, C++20 threads for the warps)."""
    import ctypes
    import shutil
    import subprocess

    from kernels.backtest.orders.gpu import HEADER, STEP_SRC
    from kernels.backtest.orders.sweep_gpu import SWEEP_SRC

    if shutil.which("g++") is None:
        pytest.skip("needs g++")
    src = tmp_path / "sweep.cpp"
    src.write_text(_EMU_STUB + HEADER + STEP_SRC + SWEEP_SRC + _EMU_DRIVER)
    lib_path = tmp_path / "sweep.so"
    done = subprocess.run(["g++", "-std=c++20", "-O0", "-ffp-contract=off", "-pthread", "-shared", "-fPIC", "-o",
                           str(lib_path), str(src)], capture_output=True, text=True)
    if done.returncode and "barrier" in done.stderr:
        pytest.skip("needs a g++ with C++20 <barrier>")
    assert done.returncode == 0, done.stderr[-2000:]
    return ctypes.CDLL(str(lib_path))


def _signals(panel, combos):
    t, n = panel.close.shape
    sig = [np.zeros((len(combos), t, n), bool) for _ in range(4)]
    for s, c in enumerate(combos):
        sg = positions_to_signals(get_strategy("trend_following")(panel, **c))
        for k, a in enumerate((sg.entries, sg.exits, sg.short_entries, sg.short_exits)):
            sig[k][s] = a if a is not None else False
    return sig


@pytest.mark.slow
def test_cuda_sweep_kernels_emulated_match_numba(tmp_path) -> None:
    """orders/sweep_gpu.py's CUDA kernels compiled for the host equal the Numba kernels: the cash-sharing
    `orders_sweep_shared` (one thread after another) bit for bit (accumulators, summed value, exposure,
    the percent-reversal error; both accumulate modes), and `orders_sweep` (a warp as 32 threads) with
    groups whose assets straddle warps: accumulators bit for bit, group values to summation order."""
    import ctypes

    from kernels.backtest.orders import sweep_cpu
    from kernels.backtest.orders.sweep_gpu import STATE_BYTES, TRADE_BYTES

    lib = _emulated(tmp_path)
    ptr = lambda a: a.ctypes.data_as(ctypes.c_void_p)  # noqa: E731
    close = np.ascontiguousarray(PANEL.close, dtype=np.float64)
    t, n = close.shape
    ohlc = [np.ascontiguousarray(getattr(PANEL, f), dtype=np.float64) for f in ("open", "high", "low")]
    sig = _signals(PANEL, [dict(fast=5, slow=20, long_only=False), dict(fast=10, slow=30, long_only=True)])
    orders = [(50.0, 1, np.nan, False, 0.05), (400.0, 1, 0.03, True, np.nan), (0.3, 2, 0.04, False, 0.1),
              (8.0, 0, 0.02, False, np.nan)]  # (size, size type: amount 0 / value 1 / percent 2, sl, trail, tp)
    strat_of = np.repeat(np.arange(2), len(orders)).astype(np.int64)
    cols = list(zip(*(orders * 2)))
    size, sl, tp = (np.array(cols[j], dtype=np.float64) for j in (0, 2, 4))
    stype, trail = np.array(cols[1], dtype=np.int64), np.array(cols[3], dtype=bool)
    opts = (strat_of, size, stype, sl, trail, tp)
    gs, ge, inits = np.array([0, 2], np.int64), np.array([2, 5], np.int64), np.array([500.0, 800.0])
    p, g = len(strat_of), 2
    errors = []
    for acc_mode in (0, 1):
        acc, pv, pe = np.zeros((p, g, 17)), np.zeros((p, t)), np.zeros((p, t), bool)
        sweep_cpu.sweep_apply_nb(close, *ohlc, *sig, *opts, 0.001, 0.5, 0.0005, 0.0, acc_mode, gs, np.int64(1), True,
                                 gs, ge, inits, acc, pv, pe)
        acc2, pv2, pe2 = np.zeros((p, g, 17)), np.zeros((p, t)), np.zeros((p, t), bool)
        scratch = (np.zeros(p * n * STATE_BYTES, np.uint8), np.zeros(p * n), np.zeros(p * n * TRADE_BYTES, np.uint8))
        lib.run_shared(ptr(close), *(ptr(a) for a in ohlc), ctypes.c_int(1), *(ptr(a) for a in sig),
                       *(ptr(a) for a in opts), ctypes.c_double(0.001), ctypes.c_double(0.5), ctypes.c_double(0.0005),
                       ptr(inits), ctypes.c_int(acc_mode), ptr(gs), ptr(ge), ctypes.c_longlong(t), ctypes.c_longlong(n),
                       ctypes.c_longlong(p), ctypes.c_longlong(g), *(ptr(a) for a in scratch), ptr(acc2), ptr(pv2),
                       ptr(pe2))
        np.testing.assert_array_equal(acc2, acc)
        np.testing.assert_array_equal(pv2, pv)
        np.testing.assert_array_equal(pe2, pe)
        assert acc[..., 8].sum() > 100  # trades happened
        errors.append(acc[..., 16].max())
    assert errors == [1.0, 0.0]  # percent sizes reversing without accumulation: vectorbt's error, on both

    wide = with_late_start(synthetic_panel(40, 80, seed=3), {"S0005": 30})  # two warps per combination
    close = np.ascontiguousarray(wide.close, dtype=np.float64)
    t, n = close.shape
    ohlc = [np.ascontiguousarray(getattr(wide, f), dtype=np.float64) for f in ("open", "high", "low")]
    sig = _signals(wide, [dict(fast=5, slow=20, long_only=False)])
    opts = (np.zeros(2, np.int64), np.array([50.0, 8.0]), np.array([1, 0]), np.array([np.nan, 0.02]),
            np.array([False, True]), np.array([0.05, np.nan]))
    # 4 groups: both warps straddle groups (lane by lane); 2 groups: warp 1 is in one group (one warp sum)
    for group in (np.repeat(np.arange(4), [10, 15, 8, 7]).astype(np.int64), np.repeat(np.arange(2), [30, 10])):
        n_g = int(group.max()) + 1
        acc, pv, pe = np.zeros((2, n, 17)), np.zeros((2 * n_g, t)), np.zeros((2 * n_g, t), bool)
        none = np.zeros(0, np.int64)
        sweep_cpu.sweep_apply_nb(close, *ohlc, *sig, *opts, 0.001, 0.5, 0.0005, 1000.0, 0, group, np.int64(n_g), False,
                                 none, none, np.zeros(0), acc, pv, pe)
        acc2, pv2, pe2 = np.zeros_like(acc), np.zeros_like(pv), np.zeros_like(pe)
        lib.run_warps(ptr(close), *(ptr(a) for a in ohlc), ctypes.c_int(1), *(ptr(a) for a in sig),
                      *(ptr(a) for a in opts), ctypes.c_double(0.001), ctypes.c_double(0.5), ctypes.c_double(0.0005),
                      ctypes.c_double(1000.0), ctypes.c_int(0), ctypes.c_longlong(t), ctypes.c_longlong(n),
                      ctypes.c_longlong(2), ptr(group), ctypes.c_longlong(n_g), ptr(acc2), ptr(pv2), ptr(pe2))
        np.testing.assert_array_equal(acc2, acc)
        np.testing.assert_allclose(pv2, pv, rtol=1e-14)
        np.testing.assert_array_equal(pe2, pe)
        assert acc[..., 8].sum() > 20
