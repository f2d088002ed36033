"""kernels.backtest.sweep: every row against `run` and the plain-loop reference,
chunking and exact merges, top-k ranking, grid errors, GPU/CPU parity, and the
CUDA source compiled for the host (emulated) against the Numba kernel."""
from __future__ import annotations

import ctypes
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kernels.backtest import METRICS, Chunk, SweepResult, merge_sweeps, plan_chunks, run, sweep
from kernels.backtest.grid import KIND, GridError, expand_grid
from kernels.backtest.sweep import SweepInputError, rank_top
from kernels.data import Panel, synthetic_panel, with_late_start
from kernels.strategies import StrategyError, UnknownStrategy
from tests.conftest import backend_dtype_grid, backends
from tests.kernels.reference import reference_backtest, reference_positions

RTOL, ATOL = 1e-9, 1e-13
FEES, SLIPPAGE = 0.0007, 0.0003

CASES = {
    "trend_sma": ("trend_following", {"fast": [3, 5, 10], "slow": [5, 20], "long_only": [True, False]}),
    "trend_ema": ("trend_following", {"fast": [4, 8], "slow": [12, 30], "ma": "ema", "long_only": False}),
    "trend_mixed": ("trend_following", {"ma": ["sma", "ema"], "fast": 6, "slow": [15, 16]}),
    "momentum": ("momentum", {"lookback": [5, 20], "threshold": [0.0, 0.02], "long_only": [False, True]}),
    "mean_reversion": ("mean_reversion", {"window": [10, 20], "entry_z": [1.0, 2.0], "exit_z": [0.0, 0.5],
                                          "long_only": [False, True]}),
    "pairs": ("pairs", {"window": [15, 30], "entry_z": [1.5, 2.0], "exit_z": [0.25, 1.5]}),
}


def _with_close(panel: Panel, close: np.ndarray) -> Panel:
    return Panel(panel.index, panel.symbols, panel.open, panel.high, panel.low, close, panel.volume)


@pytest.fixture(scope="module")
def panel() -> Panel:
    """7 assets (odd, for pairs) x 320 bars: two late starts, an interior gap, a delisting."""
    p = synthetic_panel(7, 320, seed=11)
    p = with_late_start(p, {p.symbols[1]: 30, p.symbols[4]: 200})
    close = np.array(p.close, copy=True)
    close[150:158, 2] = np.nan
    close[290:, 5] = np.nan
    return _with_close(p, close)


@pytest.fixture(scope="module")
def results(panel: Panel) -> dict[str, SweepResult]:
    return {
        key: sweep(panel, name, grid, fees=FEES, slippage=SLIPPAGE, top_k=5, backend="cpu")
        for key, (name, grid) in CASES.items()
    }


def _close(a, b, msg: str) -> None:
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=RTOL, atol=ATOL,
                               err_msg=msg)


# ------------------------------------------------------------------ against run / reference
@pytest.mark.parametrize("case", list(CASES))
def test_every_row_equals_run(panel: Panel, results: dict, case: str) -> None:
    name, _ = CASES[case]
    res = results[case]
    assert res.backend == "cpu" and res.complete and res.strategy == name
    assert list(res.asset_metrics.columns) == list(METRICS)
    assert list(res.portfolio_metrics.columns) == list(METRICS)
    assert res.asset_metrics.index.names == ["combo_id", "symbol"]
    assert len(res.asset_metrics) == len(res.params) * panel.n_assets
    for cid in res.params.index:
        r = run(panel, name, res.combo(cid), fees=FEES, slippage=SLIPPAGE, backend="cpu")
        _close(res.asset_metrics.loc[cid].to_numpy(), r.metrics.to_numpy()[:-1], f"{case} combo {cid} assets")
        _close(res.portfolio_metrics.loc[cid].to_numpy(), r.metrics.loc["portfolio"].to_numpy(),
               f"{case} combo {cid} portfolio")
    assert res.portfolio_metrics["n_trades"].sum() > 0


@pytest.mark.parametrize("case", list(CASES))
def test_rows_equal_reference(panel: Panel, results: dict, case: str) -> None:
    """First and last combination against the plain-loop reference."""
    name, _ = CASES[case]
    res = results[case]
    for cid in (res.params.index[0], res.params.index[-1]):
        params = res.combo(cid)
        pos = reference_positions(name, panel.close, **params)
        ref = reference_backtest(panel.close, pos, FEES, SLIPPAGE, 252)
        for j, m in enumerate(METRICS):
            _close(res.asset_metrics.loc[cid][m].to_numpy(), ref["asset_metrics"][m], f"{case} {cid} {m}")
            _close(res.portfolio_metrics.loc[cid, m], ref["portfolio_metrics"][m], f"{case} {cid} portfolio {m}")


def test_grid_order_and_dropped_combinations(panel: Panel, results: dict) -> None:
    res = results["trend_sma"]
    # fast [3, 5, 10] x slow [5, 20] x long_only [T, F]: (5, 5) and (10, 5) dropped
    assert res.n_dropped == 4
    expected = [(f, s, lo) for f in (3, 5, 10) for s in (5, 20) for lo in (True, False) if f < s]
    got = list(res.params[["fast", "slow", "long_only"]].itertuples(index=False, name=None))
    assert got == expected
    assert list(res.params.index) == list(range(len(expected)))
    assert (res.params["ma"] == "sma").all()  # defaults filled in
    mixed = results["trend_mixed"].params
    assert list(mixed["ma"]) == ["sma", "sma", "ema", "ema"] and list(mixed["slow"]) == [15, 16, 15, 16]


def test_top_k_ranking(results: dict) -> None:
    res = results["mean_reversion"]
    pm = res.portfolio_metrics
    top = res.top
    assert len(top) == 5 and list(top.columns) == [*res.params.columns, *METRICS]
    values = pm["sharpe"].to_numpy()
    order = sorted(pm.index, key=lambda i: (np.isnan(values[i]), -np.nan_to_num(values[i], nan=0.0), i))[:5]
    assert list(top.index) == order
    # ascending metric, NaN last, ties by lower id
    frame = pd.DataFrame({m: 0.0 for m in METRICS}, index=pd.RangeIndex(5, name="combo_id"))
    frame["max_drawdown"] = [0.2, np.nan, 0.1, 0.1, 0.3]
    frame["sharpe"] = [1.0, np.nan, 2.0, 2.0, -1.0]
    params = pd.DataFrame({"x": range(5)}, index=frame.index)
    assert list(rank_top(frame, params, "max_drawdown", 5).index) == [2, 3, 0, 4, 1]
    assert list(rank_top(frame, params, "sharpe", 3).index) == [2, 3, 0]
    assert len(rank_top(frame, params, "sharpe", 0)) == 0


# ------------------------------------------------------------------ chunks
def _assert_same(a: SweepResult, b: SweepResult) -> None:
    pd.testing.assert_frame_equal(a.params, b.params, check_exact=True)
    pd.testing.assert_frame_equal(a.asset_metrics, b.asset_metrics, check_exact=True)
    pd.testing.assert_frame_equal(a.portfolio_metrics, b.portfolio_metrics, check_exact=True)
    pd.testing.assert_frame_equal(a.top, b.top, check_exact=True)
    np.testing.assert_array_equal(a.state.portfolio_sums, b.state.portfolio_sums)


@pytest.mark.parametrize("case", ["trend_sma", "momentum", "mean_reversion", "pairs"])
def test_chunked_sweeps_merge_exactly(panel: Panel, results: dict, case: str) -> None:
    name, grid = CASES[case]
    full = results[case]
    n_c, n_a = len(full.params), panel.n_assets
    layouts = [
        plan_chunks(n_c, n_a, max_cells_per_chunk=3 * n_a * panel.n_bars, n_bars=panel.n_bars),
        [Chunk(range(0, n_c), range(0, 2)), Chunk(range(0, n_c), range(2, 6)), Chunk(slice(None), slice(6, None))],
        [Chunk(range(c0, c1), a) for c0, c1 in ((0, 1), (1, n_c)) for a in (range(0, 4), range(4, n_a))],
    ]
    for chunks in layouts:
        parts = [sweep(panel, name, grid, fees=FEES, slippage=SLIPPAGE, top_k=5, chunk=ch, backend="cpu")
                 for ch in chunks]
        random.Random(len(chunks)).shuffle(parts)
        merged = merge_sweeps(parts)
        assert merged.complete
        _assert_same(merged, full)


def test_partial_merges_and_chunk_rows(panel: Panel, results: dict) -> None:
    name, grid = CASES["momentum"]
    full = results["momentum"]
    part = sweep(panel, name, grid, fees=FEES, slippage=SLIPPAGE, chunk=Chunk(range(2, 5), range(1, 4)),
                 backend="cpu")
    assert not part.complete
    assert list(part.params.index) == [2, 3, 4]
    pd.testing.assert_frame_equal(part.asset_metrics, full.asset_metrics.loc[(slice(2, 4), list(panel.symbols[1:4])), :],
                                  check_exact=True)
    # merging two asset halves of some combinations gives those combinations' rows
    halves = [sweep(panel, name, grid, fees=FEES, slippage=SLIPPAGE, top_k=5, chunk=Chunk(range(2, 5), a),
                    backend="cpu") for a in (range(0, 3), range(3, 7))]
    merged = merge_sweeps(halves)
    pd.testing.assert_frame_equal(merged.portfolio_metrics, full.portfolio_metrics.loc[2:4], check_exact=True)


def test_plan_chunks_bounds() -> None:
    chunks = plan_chunks(10, 100, max_cells_per_chunk=3 * 100 * 50, n_bars=50)
    assert [c.combos for c in chunks] == [range(0, 3), range(3, 6), range(6, 9), range(9, 10)]
    assert all(c.assets == range(0, 100) for c in chunks)
    split = plan_chunks(2, 100, max_cells_per_chunk=40 * 50, n_bars=50)
    assert [(c.combos, c.assets) for c in split] == [
        (range(c, c + 1), range(a, min(a + 32, 100))) for c in range(2) for a in range(0, 100, 32)
    ]
    cells = sum(c.n_cells(2, 100, 50) for c in split)
    assert cells == 2 * 100 * 50
    with pytest.raises(SweepInputError, match="max_cells_per_chunk"):
        plan_chunks(1, 1, 0, 10)


def test_merge_rejects_mismatches(panel: Panel) -> None:
    name, grid = CASES["momentum"]
    a = sweep(panel, name, grid, chunk=Chunk(range(0, 2), range(0, 7)), backend="cpu")
    b = sweep(panel, name, grid, fees=0.001, chunk=Chunk(range(2, 4), range(0, 7)), backend="cpu")
    with pytest.raises(SweepInputError, match="fees"):
        merge_sweeps([a, b])
    with pytest.raises(SweepInputError, match="overlap"):
        merge_sweeps([a, a])
    c = sweep(panel, name, grid, chunk=Chunk(range(2, 4), range(0, 3)), backend="cpu")
    with pytest.raises(SweepInputError, match="same assets"):
        merge_sweeps([a, c])
    with pytest.raises(SweepInputError, match="at least one"):
        merge_sweeps([])


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("strategy", "grid", "error", "match"),
    [
        ("nope", {"fast": [1]}, UnknownStrategy, "unknown strategy"),
        ("trend_following", {"fats": [5]}, GridError, "unknown parameter"),
        ("trend_following", {"fast": [5, "x"]}, StrategyError, "must be an int"),
        ("trend_following", {"fast": [], "slow": [20]}, GridError, "no values"),
        ("trend_following", {"fast": [5], "slow": [400]}, GridError, "longer than the data"),
        ("trend_following", {"fast": [30, 40], "slow": [20]}, GridError, "no valid combination"),
        ("trend_following", {"ma": ["sma", "wma"]}, StrategyError, "must be one of"),
        ("momentum", {"lookback": [5], "top_k": [0, 2]}, GridError, "top_k"),
        ("mean_reversion", {"window": [1]}, StrategyError, ">= 2"),
        ("pairs", {"entry_z": [1.0], "exit_z": [1.0, 2.0]}, GridError, "no valid combination"),
    ],
)
def test_grid_errors(panel: Panel, strategy: str, grid: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        sweep(panel, strategy, grid, backend="cpu")


def test_argument_errors(panel: Panel) -> None:
    grid = {"lookback": [5, 10]}
    with pytest.raises(GridError, match="built-in strategy"):
        sweep(panel, lambda p: p.close, grid, backend="cpu")
    with pytest.raises(SweepInputError, match="rank_by"):
        sweep(panel, "momentum", grid, rank_by="alpha", backend="cpu")
    with pytest.raises(SweepInputError, match="top_k"):
        sweep(panel, "momentum", grid, top_k=-1, backend="cpu")
    with pytest.raises(SweepInputError, match="dtype"):
        sweep(panel, "momentum", grid, dtype=np.int32, backend="cpu")
    with pytest.raises(SweepInputError, match="fees"):
        sweep(panel, "momentum", grid, fees=-0.1, backend="cpu")
    with pytest.raises(SweepInputError, match="outside"):
        sweep(panel, "momentum", grid, chunk=Chunk(range(0, 5), range(0, 7)), backend="cpu")
    with pytest.raises(SweepInputError, match="pairs"):
        sweep(panel, "pairs", {"window": [10]}, chunk=Chunk(range(0, 1), range(1, 3)), backend="cpu")
    with pytest.raises(ValueError, match="backend"):
        sweep(panel, "momentum", grid, backend="tpu")


def test_array_input_and_dataframe_input(panel: Panel, results: dict) -> None:
    name, grid = CASES["momentum"]
    from_array = sweep(np.asarray(panel.close), name, grid, fees=FEES, slippage=SLIPPAGE, top_k=5, backend="cpu")
    np.testing.assert_array_equal(from_array.asset_metrics.to_numpy(), results["momentum"].asset_metrics.to_numpy())
    assert from_array.asset_metrics.index.get_level_values("symbol")[0] == "0"


# ------------------------------------------------------------------ float32
def test_float32_close_to_float64(panel: Panel, results: dict) -> None:
    """float32 signals: same rows, metrics within float32 rounding except where a
    position flips at a near-tie (a small fraction of rows)."""
    name, grid = CASES["trend_sma"]
    f32 = sweep(panel, name, grid, fees=FEES, slippage=SLIPPAGE, top_k=5, backend="cpu", dtype=np.float32)
    f64 = results["trend_sma"]
    a, b = f32.asset_metrics.to_numpy(), f64.asset_metrics.to_numpy()
    close = np.isclose(a, b, rtol=1e-4, atol=1e-6, equal_nan=True).all(axis=1)
    assert close.mean() > 0.9


# ------------------------------------------------------------------ GPU / CPU parity
@pytest.mark.parametrize(("backend", "dtype"), list(backend_dtype_grid((np.float64, np.float32))))
@pytest.mark.parametrize("case", list(CASES))
def test_backend_parity(panel: Panel, results: dict, backend: str, dtype, case: str) -> None:
    """GPU rows equal the CPU rows (1e-9 in float64; float32 signals are computed
    with the same float32 operations on both, so the same tolerance applies)."""
    name, grid = CASES[case]
    dev = sweep(panel, name, grid, fees=FEES, slippage=SLIPPAGE, top_k=5, backend=backend, dtype=dtype)
    cpu = results[case] if dtype == np.float64 else sweep(panel, name, grid, fees=FEES, slippage=SLIPPAGE, top_k=5,
                                                         backend="cpu", dtype=dtype)
    assert dev.backend == backend
    _close(dev.asset_metrics.to_numpy(), cpu.asset_metrics.to_numpy(), f"{case} assets")
    _close(dev.portfolio_metrics.to_numpy(), cpu.portfolio_metrics.to_numpy(), f"{case} portfolio")
    np.testing.assert_array_equal(dev.state.portfolio_sums, cpu.state.portfolio_sums)
    np.testing.assert_array_equal(dev.state.trade_counts, cpu.state.trade_counts)
    assert list(dev.top.index) == list(cpu.top.index)


@pytest.mark.parametrize("backend", list(backends()))
def test_gpu_chunks_merge_exactly(panel: Panel, backend: str) -> None:
    name, grid = CASES["pairs"]
    full = sweep(panel, name, grid, fees=FEES, slippage=SLIPPAGE, backend=backend)
    parts = [sweep(panel, name, grid, fees=FEES, slippage=SLIPPAGE, chunk=ch, backend=backend)
             for ch in (Chunk(range(0, 3), range(0, 4)), Chunk(range(0, 3), range(4, 7)),
                        Chunk(range(3, len(full.params)), slice(None)))]
    _assert_same(merge_sweeps(parts[::-1]), full)


@pytest.mark.gpu
def test_gpu_warmups_run_every_kernel() -> None:
    from kernels.backtest import gpu

    fns = gpu.warmups()
    assert len(fns) == 8  # each runs both paths of its kind and the fused metrics
    for fn in fns.values():
        fn()


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", ["trend_sma", "trend_mixed", "mean_reversion", "pairs"])
def test_gpu_table_and_stream_paths_agree(panel: Panel, case: str, dtype) -> None:
    """The table path (shared window tables) and the streaming kernel take the same
    positions: identical fixed-point sums and counts, accumulators to rounding."""
    import cupy as cp

    from kernels.backtest import gpu
    from kernels.backtest import sweep as S

    name, grid = CASES[case]
    dt = np.dtype(dtype)
    g = expand_grid(name, grid, panel.n_bars)
    prep = S._prepare(cp, cp.asarray(panel.close), range(panel.n_assets), g.kind, dt, FEES + SLIPPAGE)
    floats = cp.asarray(S.kernel_floats(g, range(g.n_combos), dt))
    out = {}
    for path in ("stream", "table"):
        acc, sums = gpu.launch(g.kind, prep.sig, prep.ra, prep.rb, prep.first, g.ints, floats, panel.n_assets,
                               FEES + SLIPPAGE, 2.0 ** prep.scale_exp, path=path)
        out[path] = (acc.get(), sums.get())
    covered = 2 * prep.sig.shape[1] if g.kind == KIND.PAIRS else panel.n_assets
    (a, s_), (b, t_) = out["stream"], out["table"]
    np.testing.assert_array_equal(s_, t_)
    np.testing.assert_array_equal(a[[0, 6, 7, 8, 9, 10]][:, :, :covered], b[[0, 6, 7, 8, 9, 10]][:, :, :covered])
    np.testing.assert_allclose(a[:, :, :covered], b[:, :, :covered], rtol=1e-12, atol=1e-15)


@pytest.mark.gpu
def test_gpu_fused_metrics_equal_numpy_formulas(panel: Panel, results: dict) -> None:
    """The fused epilogue kernels (asset metrics, portfolio aggregates) equal the
    NumPy formulas on the same accumulators and sums."""
    import cupy as cp

    from kernels.backtest import sweep as S

    for case in ("trend_sma", "pairs"):
        res = results[case]
        st = res.state
        g = expand_grid(CASES[case][0], CASES[case][1], panel.n_bars)
        prep = S._prepare(np, np.asarray(panel.close), range(panel.n_assets), g.kind, np.dtype(np.float64),
                          FEES + SLIPPAGE)
        acc, sums = S._run_cpu(g, range(g.n_combos), prep, panel.n_assets, np.dtype(np.float64), FEES + SLIPPAGE)
        host = S.asset_metric_arrays(np, acc, 252)
        dev = S.asset_metric_arrays(cp, cp.asarray(acc), 252)
        for m, v in host.items():
            _close(dev[m].get(), v, f"{case} asset {m}")
        args = (st.scale_exp, 252, host["n_trades"], host["n_closed"], host["n_wins"], host["exposure"],
                host["turnover"])
        ph = S.portfolio_metric_arrays(np, sums, st.active_count, *args)
        pd_ = S.portfolio_metric_arrays(cp, cp.asarray(sums), cp.asarray(st.active_count), args[0], args[1],
                                        *(cp.asarray(a) for a in args[2:]))
        _close(pd_.get(), ph, f"{case} portfolio")


# ------------------------------------------------------------------ the CUDA source on the host
_EMU_PRELUDE = r"""
#include <cmath>
#include <cstdlib>
#include <cstring>
#define SWEEP_EMULATE 1
#define SWEEP_DEV inline
#define __restrict__ __restrict
using std::isnan; using std::isfinite; using std::fabs; using std::fmin; using std::fma; using std::sqrt;
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline double __dsub_rn(double a, double b) { return a - b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline double __ddiv_rn(double a, double b) { return a / b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline double __dsqrt_rn(double a) { return std::sqrt(a); }
static inline float __fsqrt_rn(float a) { return std::sqrt(a); }
static inline long long double_bits(double x) { long long y; std::memcpy(&y, &x, 8); return y; }
static inline double bits_double(long long x) { double y; std::memcpy(&y, &x, 8); return y; }
"""
_EMU_DRIVER = r"""
struct HostSink {
    long long* out; long long P;
    int uniform_max(int v) const { return v; }
    void add(int t, long long q) { out[(long long)t * P] += q; }
};
template <typename T, int KIND>
static void run_all(const T* sig, const T* ra, const T* rb, const int* first, const int* ip, const T* fp,
                    int Tn, int U, int P, int n_assets, double fs, double scale, long long* psum, double* acc) {
    const long long plane = (long long)P * n_assets;
    for (int c = 0; c < P; ++c) {
        for (int u = 0; u < U; ++u) {
            HostSink sink{psum + c, P};
            Leg La, Lb;
            sweep_unit<T, KIND, HostSink>(sig, ra, rb, Tn, U, u, first[u], ip + c * N_INT, fp + c * N_FLT,
                                          fs, 2.0 * fs, scale, sink, La, Lb);
            double* out = acc + (long long)c * n_assets;
            if (KIND == K_PAIRS) { leg_write(out + 2 * u, plane, La); leg_write(out + 2 * u + 1, plane, Lb); }
            else leg_write(out + u, plane, La);
        }
    }
}
// The table path: window tables by table_column, then stream_tab per (combination, unit).
template <typename T, int KIND>
static void run_tab(const T* sig, const T* ra, const T* rb, const int* first, const int* wins, const int* kinds,
                    const T* fws, const T* kfs, const T* invs, int S, const int* slots, const int* ip, const T* fp,
                    int Tn, int U, int P, int n_assets, double fs, double scale, long long* psum, double* acc) {
    T* tab = new T[(size_t)S * Tn * U];
    for (int s = 0; s < S; ++s) {
        T* o = tab + (size_t)s * Tn * U;
        for (int u = 0; u < U; ++u) {
            const int f = first[u], k = kinds[s];
            if (k == TAB_SMA) table_column<T, TAB_SMA>(sig, Tn, U, u, f, wins[s], fws[s], kfs[s], invs[s], o);
            else if (k == TAB_EMA) table_column<T, TAB_EMA>(sig, Tn, U, u, f, wins[s], fws[s], kfs[s], invs[s], o);
            else table_column<T, TAB_Z>(sig, Tn, U, u, f, wins[s], fws[s], kfs[s], invs[s], o);
        }
    }
    const long long plane = (long long)P * n_assets;
    for (int c = 0; c < P; ++c) {
        for (int u = 0; u < U; ++u) {
            HostSink sink{psum + c, P};
            Leg La, Lb;
            stream_tab<T, KIND, HostSink>(tab, ra, rb, Tn, U, u, slots[2 * c], slots[2 * c + 1], ip + c * N_INT,
                                          fp + c * N_FLT, fs, 2.0 * fs, scale, sink, La, Lb);
            double* out = acc + (long long)c * n_assets;
            if (KIND == K_PAIRS) { leg_write(out + 2 * u, plane, La); leg_write(out + 2 * u + 1, plane, Lb); }
            else leg_write(out + u, plane, La);
        }
    }
    delete[] tab;
}
#define TAB_ENTRY(T, K) extern "C" void tab_##T##_##K(const T* s, const T* a, const T* b, const int* f, \
    const int* wins, const int* kinds, const T* fws, const T* kfs, const T* invs, int S, const int* slots, \
    const int* ip, const T* fp, int Tn, int U, int P, int na, double fs, double sc, long long* ps, double* acc) { \
    run_tab<T, K>(s, a, b, f, wins, kinds, fws, kfs, invs, S, slots, ip, fp, Tn, U, P, na, fs, sc, ps, acc); }
TAB_ENTRY(float, 0) TAB_ENTRY(float, 2) TAB_ENTRY(float, 3)
TAB_ENTRY(double, 0) TAB_ENTRY(double, 2) TAB_ENTRY(double, 3)
#define ENTRY(T, K) extern "C" void emu_##T##_##K(const T* s, const T* a, const T* b, const int* f, const int* ip, \
    const T* fp, int Tn, int U, int P, int na, double fs, double sc, long long* ps, double* acc) { \
    run_all<T, K>(s, a, b, f, ip, fp, Tn, U, P, na, fs, sc, ps, acc); }
ENTRY(float, 0) ENTRY(float, 1) ENTRY(float, 2) ENTRY(float, 3)
ENTRY(double, 0) ENTRY(double, 1) ENTRY(double, 2) ENTRY(double, 3)
"""


_EMU_BUILDS = {"default": (), "no_prefetch": ("SWEEP_PREFETCH=0",), "no_steady": ("SWEEP_STEADY=0",),
               "no_prescreen": ("SWEEP_FILTER=0", "SWEEP_ZFILTER=0")}


def _build_emulation(tmp_path_factory: pytest.TempPathFactory, defines: tuple[str, ...]) -> ctypes.CDLL:
    compiler = shutil.which("g++") or shutil.which("clang++")
    if compiler is None:
        pytest.skip("no C++ compiler to build the host emulation of the CUDA kernel")
    from kernels.backtest.gpu import SWEEP_SOURCE

    d = tmp_path_factory.mktemp("sweep_emu")
    src = Path(d) / "emu.cpp"
    src.write_text(_EMU_PRELUDE + SWEEP_SOURCE + _EMU_DRIVER)
    lib = Path(d) / "emu.so"
    flags = [f"-D{x}" for x in defines]
    subprocess.run([compiler, "-O1", "-std=c++17", "-ffp-contract=off", "-shared", "-fPIC", *flags, str(src), "-o",
                    str(lib)], check=True, capture_output=True, text=True)
    return ctypes.CDLL(str(lib))


@pytest.fixture(scope="module", params=list(_EMU_BUILDS))
def emulated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    """The CUDA source built for the host (per-thread code; the warp-level sink is
    replaced by a plain sum), in the default build and the loop variants."""
    return _build_emulation(tmp_path_factory, _EMU_BUILDS[request.param])


_TAB_BUILDS = {"default": (), "prefetch1": ("SWEEP_TPREF=1",), "prefetch2": ("SWEEP_TPREF=2",)}


@pytest.fixture(scope="module", params=list(_TAB_BUILDS))
def emulated_tab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    """Host builds for the table path: loads one or two bars ahead (the default picks per kind)."""
    return _build_emulation(tmp_path_factory, _TAB_BUILDS[request.param])


def _emulate(lib: ctypes.CDLL, g, prep, n_assets: int, dt: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Run the host build of the CUDA per-thread code over every (combination, unit)."""
    from kernels.backtest import sweep as S
    from kernels.backtest import sweep_cpu

    n_bars, n_units = prep.sig.shape
    n_combos = g.n_combos
    acc = np.zeros((sweep_cpu.N_ACC, n_combos, n_assets))
    sums = np.zeros((n_bars, n_combos), dtype=np.int64)
    ctype = ctypes.c_float if dt == np.float32 else ctypes.c_double
    fn = getattr(lib, f"emu_{'float' if dt == np.float32 else 'double'}_{g.kind}")
    arrays = [np.ascontiguousarray(a, dtype=dt) for a in (prep.sig, prep.ra, prep.rb)]
    first = np.ascontiguousarray(prep.first, dtype=np.int32)
    ints = np.ascontiguousarray(g.ints, dtype=np.int32)
    floats = S.kernel_floats(g, range(g.n_combos), dt)

    def ptr(a: np.ndarray, t) -> ctypes._Pointer:
        return a.ctypes.data_as(ctypes.POINTER(t))

    fn(ptr(arrays[0], ctype), ptr(arrays[1], ctype), ptr(arrays[2], ctype), ptr(first, ctypes.c_int),
       ptr(ints, ctypes.c_int), ptr(floats, ctype), ctypes.c_int(n_bars), ctypes.c_int(n_units),
       ctypes.c_int(n_combos), ctypes.c_int(n_assets), ctypes.c_double(FEES + SLIPPAGE),
       ctypes.c_double(2.0 ** prep.scale_exp), ptr(sums, ctypes.c_longlong), ptr(acc, ctypes.c_double))
    return acc, sums


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", ["trend_sma", "trend_mixed", "momentum", "mean_reversion", "pairs"])
def test_cuda_source_emulated_matches_numba(panel: Panel, emulated: ctypes.CDLL, case: str, dtype) -> None:
    """The CUDA kernel's per-thread code, compiled for the host, gives the Numba
    kernel's accumulators and the same fixed-point portfolio sums."""
    from kernels.backtest import sweep as S

    name, grid = CASES[case]
    dt = np.dtype(dtype)
    g = expand_grid(name, grid, panel.n_bars)
    xp_close = np.asarray(panel.close)
    prep = S._prepare(np, xp_close, range(panel.n_assets), g.kind, dt, FEES + SLIPPAGE)
    combos = range(g.n_combos)
    acc_nb, sums_nb = S._run_cpu(g, combos, prep, panel.n_assets, dt, FEES + SLIPPAGE)

    acc, sums = _emulate(emulated, g, prep, panel.n_assets, dt)
    n_units = prep.sig.shape[1]
    covered = 2 * n_units if g.kind == KIND.PAIRS else panel.n_assets
    exact = [0, 6, 7, 8, 9, 10]  # counts: identical
    np.testing.assert_array_equal(acc[exact][:, :, :covered], acc_nb[exact][:, :, :covered])
    np.testing.assert_allclose(acc[:, :, :covered], acc_nb[:, :, :covered], rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(sums, sums_nb)


@pytest.fixture(scope="module")
def tie_grids(panel: Panel) -> dict[str, tuple[str, dict]]:
    """Band thresholds equal to z-scores the data attains exactly (ties decide
    entries and exits), to exercise the exact fallback of the GPU's z pre-screen."""
    from tests.kernels.reference import _zscore

    close = np.asarray(panel.close)
    w = 12
    z_mr = _zscore(close, w)
    spread = np.log(close[:, 0:6:2]) - np.log(close[:, 1:6:2])
    z_pr = _zscore(spread, w)
    out = {}
    for key, z, name in (("ties_mr", z_mr, "mean_reversion"), ("ties_pairs", z_pr, "pairs")):
        vals = np.abs(z[np.isfinite(z)])
        vals = np.sort(vals[(vals > 0.2) & (vals < 2.5)])
        entry = [float(vals[len(vals) * 3 // 4]), float(vals[len(vals) // 2])]
        exit_ = [float(vals[len(vals) // 8]), 0.0]
        out[key] = (name, {"window": [w], "entry_z": entry, "exit_z": exit_})
    return out


@pytest.mark.parametrize("key", ["ties_mr", "ties_pairs"])
def test_band_ties_cpu_and_emulated(panel: Panel, emulated: ctypes.CDLL, tie_grids: dict, key: str) -> None:
    from kernels.backtest import sweep as S

    name, grid = tie_grids[key]
    res = sweep(panel, name, grid, fees=FEES, slippage=SLIPPAGE, backend="cpu")
    for cid in res.params.index:
        pos = reference_positions(name, panel.close, **res.combo(cid))
        ref = reference_backtest(panel.close, pos, FEES, SLIPPAGE, 252)
        for m in METRICS:
            _close(res.asset_metrics.loc[cid][m].to_numpy(), ref["asset_metrics"][m], f"{key} {cid} {m}")
    g = expand_grid(name, grid, panel.n_bars)
    prep = S._prepare(np, np.asarray(panel.close), range(panel.n_assets), g.kind, np.dtype(np.float64),
                      FEES + SLIPPAGE)
    acc_nb, sums_nb = S._run_cpu(g, range(g.n_combos), prep, panel.n_assets, np.dtype(np.float64), FEES + SLIPPAGE)
    acc, sums = _emulate(emulated, g, prep, panel.n_assets, np.dtype(np.float64))
    covered = 2 * prep.sig.shape[1] if g.kind == KIND.PAIRS else panel.n_assets
    np.testing.assert_array_equal(acc[[0, 6, 7, 8, 9, 10]][:, :, :covered], acc_nb[[0, 6, 7, 8, 9, 10]][:, :, :covered])
    np.testing.assert_array_equal(sums, sums_nb)


def _emulate_tables(lib: ctypes.CDLL, g, prep, n_assets: int, dt: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Run the host build of the table path (table_column + stream_tab) over every
    (combination, unit), with the slots the GPU launch would use."""
    from kernels.backtest import gpu
    from kernels.backtest import sweep as S
    from kernels.backtest import sweep_cpu

    n_bars, n_units = prep.sig.shape
    n_combos = g.n_combos
    acc = np.zeros((sweep_cpu.N_ACC, n_combos, n_assets))
    sums = np.zeros((n_bars, n_combos), dtype=np.int64)
    ctype = ctypes.c_float if dt == np.float32 else ctypes.c_double
    fn = getattr(lib, f"tab_{'float' if dt == np.float32 else 'double'}_{g.kind}")
    arrays = [np.ascontiguousarray(a, dtype=dt) for a in (prep.sig, prep.ra, prep.rb)]
    first = np.ascontiguousarray(prep.first, dtype=np.int32)
    ints = np.ascontiguousarray(g.ints, dtype=np.int32)
    floats = S.kernel_floats(g, range(g.n_combos), dt)
    windows, kinds, slots = gpu.table_slots(g.kind, ints)
    w = windows.astype(np.float64)
    per_slot = [np.ascontiguousarray(a.astype(dt)) for a in (w, 2.0 / (w + 1.0), 1.0 / w)]
    windows, kinds = np.ascontiguousarray(windows, dtype=np.int32), np.ascontiguousarray(kinds, dtype=np.int32)

    def ptr(a: np.ndarray, t) -> ctypes._Pointer:
        return a.ctypes.data_as(ctypes.POINTER(t))

    fn(ptr(arrays[0], ctype), ptr(arrays[1], ctype), ptr(arrays[2], ctype), ptr(first, ctypes.c_int),
       ptr(windows, ctypes.c_int), ptr(kinds, ctypes.c_int), *(ptr(a, ctype) for a in per_slot),
       ctypes.c_int(len(windows)), ptr(slots, ctypes.c_int), ptr(ints, ctypes.c_int), ptr(floats, ctype),
       ctypes.c_int(n_bars), ctypes.c_int(n_units), ctypes.c_int(n_combos), ctypes.c_int(n_assets),
       ctypes.c_double(FEES + SLIPPAGE), ctypes.c_double(2.0 ** prep.scale_exp), ptr(sums, ctypes.c_longlong),
       ptr(acc, ctypes.c_double))
    return acc, sums


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", ["trend_sma", "trend_ema", "trend_mixed", "mean_reversion", "pairs",
                                  "ties_mr", "ties_pairs"])
def test_cuda_table_path_emulated_matches_numba(panel: Panel, emulated_tab: ctypes.CDLL, tie_grids: dict,
                                                case: str, dtype) -> None:
    """The GPU's table path (per-window indicator tables shared by the combinations,
    then a thread per (combination, unit) reading them), compiled for the host, gives
    the Numba kernel's accumulators and the same fixed-point sums, threshold ties included."""
    from kernels.backtest import sweep as S

    name, grid = tie_grids[case] if case.startswith("ties") else CASES[case]
    dt = np.dtype(dtype)
    g = expand_grid(name, grid, panel.n_bars)
    prep = S._prepare(np, np.asarray(panel.close), range(panel.n_assets), g.kind, dt, FEES + SLIPPAGE)
    acc_nb, sums_nb = S._run_cpu(g, range(g.n_combos), prep, panel.n_assets, dt, FEES + SLIPPAGE)
    acc, sums = _emulate_tables(emulated_tab, g, prep, panel.n_assets, dt)
    covered = 2 * prep.sig.shape[1] if g.kind == KIND.PAIRS else panel.n_assets
    exact = [0, 6, 7, 8, 9, 10]
    np.testing.assert_array_equal(acc[exact][:, :, :covered], acc_nb[exact][:, :, :covered])
    np.testing.assert_allclose(acc[:, :, :covered], acc_nb[:, :, :covered], rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(sums, sums_nb)


def test_table_slots_share_windows() -> None:
    from kernels.backtest import gpu

    g = expand_grid("trend_following", {"ma": ["sma", "ema"], "fast": [3, 5], "slow": [5, 20]}, 100)
    windows, kinds, slots = gpu.table_slots(g.kind, g.ints)
    keys = list(zip(kinds.tolist(), windows.tolist()))
    assert len(set(keys)) == len(keys) == 6  # sma 3 5 20, ema 3 5 20
    for row, (fs, ss) in zip(g.ints, slots):
        tk = gpu.TAB_EMA if row[2] else gpu.TAB_SMA
        assert keys[fs] == (tk, row[0]) and keys[ss] == (tk, row[1])
    g = expand_grid("pairs", {"window": [10, 20], "entry_z": [1.0, 2.0]}, 100)
    windows, kinds, slots = gpu.table_slots(g.kind, g.ints)
    assert windows.tolist() == [10, 20] and (slots[:, 0] == slots[:, 1]).all()
    assert gpu.table_slots(KIND.MOMENTUM, expand_grid("momentum", {"lookback": [5]}, 100).ints) is None
    assert not gpu.use_tables(g.kind, g.ints, 100, 10, np.float64)  # small: streams
    assert gpu.tables_pay(g.kind, 25, 10_000, 2520, 500, np.float64)  # the benchmark's mean_reversion
    assert gpu.tables_pay(KIND.TREND, 200, 10_000, 2520, 500, np.float64)  # trend: 2 GB of tables
    assert not gpu.tables_pay(KIND.TREND, 200, 10_000, 2520, 500, np.float64, free_bytes=3 << 30)
    assert not gpu.tables_pay(KIND.TREND, 2000, 10_000, 2520, 500, np.float64)  # 20 GB
    assert not gpu.tables_pay(g.kind, 2, 10_000, 2**20, 2**12, np.float64)  # rows past 2^31
    assert not gpu.tables_pay(KIND.MOMENTUM, 1, 10_000, 2520, 500, np.float64)
