"""kernels.backtest.runner (`run`): arrays and metrics against the plain-loop reference, merging
runs over asset chunks, input validation, GPU/CPU parity."""
from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest

from kernels.backend import BackendUnavailable, gpu_available, is_gpu_array, to_numpy
from kernels.backtest import METRICS, RunResult, run
from kernels.backtest import metrics as M
from kernels.backtest.engine import simulate
from kernels.backtest.runner import BacktestInputError, merge_runs
from kernels.data import DataValidationError, Panel, synthetic_panel, with_late_start
from kernels.strategies import StrategyError, UnknownStrategy
from tests.conftest import backends
from tests.kernels.reference import reference_backtest, reference_positions

RTOL, ATOL = 1e-9, 1e-13
FEES, SLIPPAGE = 0.0007, 0.0003

CASES = [
    ("trend_following", {"fast": 5, "slow": 20, "long_only": False}),
    ("trend_following", {"fast": 8, "slow": 30, "ma": "ema"}),
    ("momentum", {"lookback": 10, "threshold": 0.01}),
    ("momentum", {"lookback": 5, "top_k": 2}),
    ("mean_reversion", {"window": 15, "entry_z": 1.5, "exit_z": 0.25}),
    ("mean_reversion", {"window": 10, "entry_z": 1.0, "exit_z": 0.0, "long_only": True}),
    ("pairs", {"window": 30, "entry_z": 1.5}),
]
IDS = [f"{n}-{i}" for i, (n, _) in enumerate(CASES)]


def _with_close(panel: Panel, close: np.ndarray) -> Panel:
    return Panel(panel.index, panel.symbols, panel.open, panel.high, panel.low, close, panel.volume)


@pytest.fixture(scope="module")
def panel() -> Panel:
    """6 assets x 500 bars: two late starts, an interior gap, one delisting."""
    p = synthetic_panel(6, 500, seed=21)
    p = with_late_start(p, {p.symbols[1]: 40, p.symbols[3]: 330})
    close = np.array(p.close, copy=True)
    close[200:212, 2] = np.nan
    close[450:, 5] = np.nan
    return _with_close(p, close)


def _assert_matches_reference(res: RunResult, close: np.ndarray, positions: np.ndarray, fees: float,
                              slippage: float, bars_per_year: float = 252) -> None:
    ref = reference_backtest(close, positions, fees, slippage, bars_per_year)
    np.testing.assert_array_equal(res.positions, ref["positions"])
    for ours, theirs in [("returns", "net"), ("equity", "equity"), ("gross", "gross"), ("costs", "cost"),
                         ("portfolio_returns", "portfolio_net"), ("portfolio_equity", "portfolio_equity")]:
        np.testing.assert_allclose(getattr(res, ours), ref[theirs], rtol=RTOL, atol=ATOL, err_msg=ours)
    assert list(res.metrics.columns) == list(METRICS)
    assert list(res.metrics.index) == [*res.symbols, "portfolio"]
    for m in METRICS:
        np.testing.assert_allclose(res.metrics[m].to_numpy()[:-1], ref["asset_metrics"][m], rtol=RTOL, atol=ATOL,
                                   err_msg=m)
        np.testing.assert_allclose(res.metrics.loc["portfolio", m], ref["portfolio_metrics"][m], rtol=RTOL,
                                   atol=ATOL, err_msg=f"portfolio {m}")


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_builtin_run_matches_reference(panel: Panel, name: str, params: dict) -> None:
    res = run(panel, name, params, fees=FEES, slippage=SLIPPAGE, backend="cpu")
    assert res.backend == "cpu" and res.strategy == name
    assert isinstance(res.returns_array, np.ndarray) and res.returns_array.shape == panel.close.shape
    assert res.portfolio_returns_array.shape == (panel.n_bars,)
    expected_pos = reference_positions(name, panel.close, **params)
    _assert_matches_reference(res, panel.close, expected_pos, FEES, SLIPPAGE)
    assert res.metrics.loc["portfolio", "n_trades"] > 0


def test_user_callable_fractional_positions_match_reference(panel: Panel) -> None:
    """Fractional sizes, flips, re-sizing within a trade: the trade bookkeeping."""
    rng = np.random.default_rng(4)
    steps = rng.choice([-0.5, -0.25, 0.0, 0.25, 0.5], size=panel.close.shape, p=[0.05, 0.05, 0.8, 0.05, 0.05])
    target = np.clip(np.cumsum(steps, axis=0), -1.0, 1.0)

    def random_walk(p: Panel, scale: float = 1.0) -> np.ndarray:
        return target * scale

    res = run(panel, random_walk, {"scale": 0.8}, fees=0.001, slippage=0.0005, backend="cpu", bars_per_year=365)
    assert res.params == {"scale": 0.8} and res.strategy == "random_walk"
    _assert_matches_reference(res, panel.close, target * 0.8, 0.001, 0.0005, 365)
    assert res.metrics["n_trades"].iloc[:-1].sum() > 20


def test_zero_pnl_trades_are_not_wins() -> None:
    """Trades that gain exactly nothing (no fees, entry right before a gap) do not count as wins."""
    close = np.full((12, 2), 100.0)
    close[3:5, 0] = np.nan  # asset 0: enters at 2, forced flat by the gap at 3
    close[8:, 1] = 101.0
    pos = np.zeros((12, 2))
    pos[2, 0] = 1.0
    pos[6:10, 1] = 1.0  # asset 1: wins 1% (7 -> 8), closes at 10
    res = run(_panel_from(close), lambda p: pos, backend="cpu")
    _assert_matches_reference(res, close, pos, 0.0, 0.0)
    assert res.trade_counts.loc["A0", "n_closed"] == 1 and res.trade_counts.loc["A0", "n_wins"] == 0
    assert res.metrics.loc["A1", "win_rate"] == 1.0
    assert res.metrics.loc["portfolio", "win_rate"] == 0.5


def _panel_from(close: np.ndarray) -> Panel:
    t, n = close.shape
    return Panel(
        index=pd.date_range("2021-01-01", periods=t, freq="D").to_numpy(),
        symbols=tuple(f"A{i}" for i in range(n)),
        open=close, high=close, low=close, close=close, volume=np.ones_like(close),
    )


def test_asset_without_data_and_single_bar_edges() -> None:
    close = synthetic_panel(3, 60, seed=1).close.copy()
    close[:, 1] = np.nan
    close[:-1, 2] = np.nan  # one active bar
    res = run(_panel_from(close), "momentum", {"lookback": 3}, fees=0.001, backend="cpu")
    _assert_matches_reference(res, close, reference_positions("momentum", close, lookback=3), 0.001, 0.0)
    assert np.isnan(res.metrics.loc["A1", "cagr"]) and np.isnan(res.metrics.loc["A1", "exposure"])
    assert np.isnan(res.metrics.loc["A2", "ann_vol"])


def test_numpy_and_doubling_cummax_agree() -> None:
    """The CuPy path of cummax (log-step scan) equals NumPy's accumulate."""
    shim = types.SimpleNamespace(concatenate=np.concatenate, maximum=np.maximum)
    x = np.random.default_rng(0).normal(size=(37, 5)).cumsum(axis=0)
    np.testing.assert_array_equal(M.cummax(shim, x), np.maximum.accumulate(x, axis=0))


@pytest.mark.parametrize("backend", list(backends()))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_trade_kernel_matches_xp_oracle(backend: str, dtype) -> None:
    """The streaming trade-statistics kernel (Numba / CUDA) equals the vectorised xp form."""
    from kernels.backend import array_module, to_backend

    rng = np.random.default_rng(17)
    t_bars, k = 300, 9
    steps = rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0], size=(t_bars, k), p=[0.05, 0.05, 0.8, 0.05, 0.05])
    pos = np.clip(np.cumsum(steps, axis=0), -1, 1).astype(dtype)
    close = np.exp(np.cumsum(rng.normal(0, 0.02, size=(t_bars, k)), axis=0)).astype(dtype)
    close[rng.random(close.shape) < 0.03] = np.nan
    close[:, 0] = np.nan
    xp = array_module(backend)
    sim = simulate(xp, to_backend(close, backend), to_backend(pos, backend), 0.001, 0.0002)
    fast = M.trade_metrics(xp, sim.positions, sim.gross, sim.cost, sim.active)
    oracle = M.trade_metrics_xp(xp, sim.positions, sim.gross, sim.cost, sim.active)
    host = M.trade_metrics(np, *(to_numpy(a) for a in (sim.positions, sim.gross, sim.cost, sim.active)))
    assert set(fast) == set(oracle) == set(host)
    for key in fast:
        assert fast[key].dtype == oracle[key].dtype, key
        tol = 1e-6 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(to_numpy(fast[key]), to_numpy(oracle[key]), rtol=tol, err_msg=key)
        np.testing.assert_array_equal(to_numpy(fast[key]), host[key], err_msg=key)  # same streaming order
    assert to_numpy(oracle["n_closed"]).sum() > 20


@pytest.mark.parametrize("backend", list(backends()))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_max_drawdown_kernel_matches_xp_oracle(backend: str, dtype) -> None:
    from kernels.backend import array_module, to_backend

    rng = np.random.default_rng(2)
    eq = np.cumprod(1.0 + rng.normal(0.0005, 0.02, size=(500, 130)), axis=0).astype(dtype)
    eq[:, 0] = 1.0 + np.arange(500) * 1e-3  # never below its peak
    xp = array_module(backend)
    fast = M.max_drawdown(xp, to_backend(eq, backend))
    assert fast.dtype == dtype
    np.testing.assert_array_equal(to_numpy(fast), to_numpy(M.max_drawdown_xp(xp, to_backend(eq, backend))))
    np.testing.assert_array_equal(to_numpy(fast), M.max_drawdown_xp(np, eq))
    assert to_numpy(fast)[0] == 0.0


@pytest.mark.parametrize("backend", list(backends()))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_engine_kernel_matches_xp_oracle(backend: str, dtype) -> None:
    """The fused GPU engine kernel equals the vectorised engine bit for bit."""
    from kernels.backend import array_module, to_backend
    from kernels.backtest.engine import asset_returns, asset_returns_xp

    rng = np.random.default_rng(8)
    t_bars, k = 300, 9
    close = np.exp(np.cumsum(rng.normal(0, 0.02, size=(t_bars, k)), axis=0)) * 50
    close[rng.random(close.shape) < 0.05] = np.nan
    close[:40, 2] = np.nan
    pos = np.clip(np.cumsum(rng.choice([-1, -0.5, 0, 0.5, 1], size=(t_bars, k), p=[.05, .05, .8, .05, .05]), 0), -1, 1)
    xp = array_module(backend)
    c, p = to_backend(close.astype(dtype), backend), to_backend(pos.astype(dtype), backend)
    fast = asset_returns(xp, c, p, 0.001, 0.0002)
    oracle = asset_returns_xp(xp, c, p, 0.001, 0.0002)
    for name, a, b in zip(("positions", "active", "gross", "cost", "net"), fast, oracle):
        assert a.dtype == b.dtype and a.shape == b.shape, name
        if dtype == np.float64:
            np.testing.assert_array_equal(to_numpy(a), to_numpy(b), err_msg=name)
        else:  # CuPy may round `rate * x` through float64 for a Python-float rate
            np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=1e-6, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("backend", list(backends()))
def test_return_metrics_host_flag(backend: str) -> None:
    from kernels.backend import array_module, to_backend

    rng = np.random.default_rng(6)
    net = rng.normal(0, 0.01, size=(250, 5))
    active = rng.random((250, 5)) > 0.1
    active[:, 4] = False
    xp = array_module(backend)
    dev = M.return_metrics(xp, to_backend(net, backend), to_backend(active, backend), 252)
    host = M.return_metrics(xp, to_backend(net, backend), to_backend(active, backend), 252, host=True)
    for key in M.RETURN_METRICS:
        assert isinstance(host[key], np.ndarray), key
        np.testing.assert_allclose(host[key], to_numpy(dev[key]), rtol=1e-12, err_msg=key)


def test_metrics_are_shape_generic() -> None:
    """return_metrics / trade_metrics over K stacked columns equal K one-column calls."""
    rng = np.random.default_rng(9)
    net = rng.normal(0, 0.01, size=(200, 4))
    active = rng.random((200, 4)) > 0.1
    many = M.return_metrics(np, net, active, 252)
    for j in range(4):
        one = M.return_metrics(np, net[:, j : j + 1], active[:, j : j + 1], 252)
        for key in M.RETURN_METRICS:
            np.testing.assert_allclose(many[key][j], one[key][0], rtol=1e-12)
    pos = np.clip(np.cumsum(rng.choice([-1.0, 0.0, 1.0], size=(200, 4), p=[0.1, 0.8, 0.1]), axis=0), -1, 1)
    sim = simulate(np, np.exp(np.cumsum(net, axis=0)), pos, 0.001)
    t_all = M.trade_metrics_xp(np, sim.positions, sim.gross, sim.cost, sim.active)
    for j in range(4):
        t_one = M.trade_metrics_xp(np, sim.positions[:, [j]], sim.gross[:, [j]], sim.cost[:, [j]], sim.active[:, [j]])
        for key in ("n_trades", "n_closed", "n_wins", "turnover", "exposure"):
            assert t_all[key][j] == t_one[key][0]
    rows = M.portfolio_trade_metrics(np, *(np.stack([t_all[k]] * 3) for k in
                                          ("n_trades", "n_closed", "n_wins", "exposure", "turnover")))
    assert rows["n_trades"].shape == (3,) and rows["n_trades"][0] == t_all["n_trades"].sum()


# ------------------------------------------------------------------ merging chunks
@pytest.mark.parametrize(
    ("name", "params"),
    [CASES[0], CASES[1], CASES[2], CASES[4]],
    ids=["trend", "trend-ema", "momentum", "mean_reversion"],
)
def test_merge_runs_over_asset_chunks_equals_full_run(panel: Panel, name: str, params: dict) -> None:
    full = run(panel, name, params, fees=FEES, slippage=SLIPPAGE, backend="cpu")
    syms = panel.symbols
    chunks = [syms[:1], syms[1:4], syms[4:]]
    parts = [run(panel, name, params, fees=FEES, slippage=SLIPPAGE, backend="cpu", symbols=c) for c in chunks]
    merged = merge_runs(parts)
    pd.testing.assert_frame_equal(merged.metrics, full.metrics, check_exact=True)
    pd.testing.assert_frame_equal(merged.trade_counts, full.trade_counts, check_exact=True)
    for attr in ("positions", "returns", "equity", "portfolio_returns", "portfolio_equity", "active", "gross",
                 "costs"):
        np.testing.assert_array_equal(getattr(merged, attr), getattr(full, attr), err_msg=attr)
    assert merged.symbols == full.symbols and merged.params == full.params


def test_merge_runs_rejects_mismatches(panel: Panel) -> None:
    a = run(panel, "trend_following", {"fast": 5, "slow": 20}, backend="cpu", symbols=panel.symbols[:2])
    b = run(panel, "trend_following", {"fast": 6, "slow": 20}, backend="cpu", symbols=panel.symbols[2:])
    with pytest.raises(ValueError, match="different params"):
        merge_runs([a, b])
    with pytest.raises(ValueError, match="overlapping"):
        merge_runs([a, a])
    c = run(panel, "trend_following", {"fast": 5, "slow": 20}, fees=0.01, backend="cpu", symbols=panel.symbols[2:])
    with pytest.raises(ValueError, match="different fees"):
        merge_runs([a, c])
    with pytest.raises(ValueError):
        merge_runs([])


# ------------------------------------------------------------------ validation
def test_symbols_select_and_order(panel: Panel) -> None:
    res = run(panel, "trend_following", {"fast": 5, "slow": 20}, backend="cpu", symbols=[panel.symbols[4], panel.symbols[0]])
    assert res.symbols == (panel.symbols[4], panel.symbols[0])
    full = run(panel, "trend_following", {"fast": 5, "slow": 20}, backend="cpu")
    np.testing.assert_array_equal(res.returns_array[:, 0], full.returns_array[:, 4])
    with pytest.raises(BacktestInputError, match="unknown symbols"):
        run(panel, "trend_following", symbols=["NOPE"])
    with pytest.raises(BacktestInputError, match="unique"):
        run(panel, "trend_following", symbols=[panel.symbols[0]] * 2)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"fees": -0.001}, BacktestInputError, "fees must be >= 0"),
        ({"fees": 1.0}, BacktestInputError, "fees .* must be < 1"),
        ({"fees": float("nan")}, BacktestInputError, "fees must be a finite number"),
        ({"slippage": 2}, BacktestInputError, "slippage .* must be < 1"),
        ({"slippage": "0.1"}, BacktestInputError, "slippage must be a finite number"),
        ({"bars_per_year": 0}, BacktestInputError, "bars_per_year must be > 0"),
        ({"bars_per_year": -252}, BacktestInputError, "bars_per_year must be > 0"),
        ({"bars_per_year": float("inf")}, BacktestInputError, "bars_per_year must be a finite"),
        ({"backend": "tpu"}, ValueError, "backend must be one of"),
        ({"params": {"fast": 5, "slow": 600}}, StrategyError, "'slow' = 600 is longer than the data"),
        ({"params": {"fast": 30, "slow": 20}}, StrategyError, "'fast'"),
        ({"params": {"speed": 1}}, StrategyError, "unknown parameter"),
    ],
)
def test_input_validation(panel: Panel, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        run(panel, "trend_following", **kwargs)


def test_bad_data_and_strategy(panel: Panel) -> None:
    with pytest.raises(UnknownStrategy, match="unknown strategy 'nope'"):
        run(panel, "nope")
    with pytest.raises(StrategyError, match="must be a registered name or a callable"):
        run(panel, 42)
    with pytest.raises(BacktestInputError, match="Panel"):
        run("closes.csv", "trend_following")
    close = np.array(panel.close, copy=True)
    close[7, 3] = np.inf
    with pytest.raises(DataValidationError, match="infinite price.*bar 7, asset 3"):
        run(_with_close(panel, close), "trend_following")
    close = np.array(panel.close, copy=True)
    close[9, 2] = 0.0
    with pytest.raises(DataValidationError, match="non-positive price.*bar 9, asset 2"):
        run(_with_close(panel, close), "trend_following")
    close[9, 2] = -3.0
    with pytest.raises(DataValidationError, match="non-positive"):
        run(_with_close(panel, close), "trend_following")


@pytest.mark.parametrize(
    ("fn", "match"),
    [
        (lambda p: np.zeros((3, 3)), "shape"),
        (lambda p: np.full(p.close.shape, np.nan), "non-finite"),
        (lambda p: np.full(p.close.shape, 1.01), r"outside \[-1, 1\]"),
        (lambda p: None, "shape"),
    ],
)
def test_user_strategy_output_validated(panel: Panel, fn, match: str) -> None:
    with pytest.raises(StrategyError, match=match):
        run(panel, fn, backend="cpu")


@pytest.mark.skipif(gpu_available(), reason="a GPU is available here")
def test_explicit_gpu_without_device_raises(panel: Panel) -> None:
    with pytest.raises(BackendUnavailable):
        run(panel, "trend_following", backend="gpu")
    assert run(panel, "trend_following", backend="auto").backend == "cpu"


# ------------------------------------------------------------------ GPU parity
@pytest.mark.parametrize("backend", list(backends()))
@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_gpu_cpu_parity(panel: Panel, backend: str, name: str, params: dict) -> None:
    """NumPy panel on either backend -> NumPy out; CuPy panel -> CuPy out; same numbers."""
    cpu = run(panel, name, params, fees=FEES, slippage=SLIPPAGE, backend="cpu")
    host = run(panel, name, params, fees=FEES, slippage=SLIPPAGE, backend=backend)
    assert host.backend == backend and isinstance(host.returns_array, np.ndarray)
    dev = run(panel.to(backend), name, params, fees=FEES, slippage=SLIPPAGE, backend=backend)
    assert dev.backend == backend and is_gpu_array(dev.returns_array) == (backend == "gpu")
    for res in (host, dev):
        np.testing.assert_array_equal(to_numpy(res.positions), cpu.positions)
        for attr in ("returns", "equity", "portfolio_returns", "portfolio_equity"):
            np.testing.assert_allclose(to_numpy(getattr(res, attr)), getattr(cpu, attr), rtol=RTOL, atol=ATOL)
        pd.testing.assert_frame_equal(res.metrics, cpu.metrics, check_exact=False, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("backend", list(backends()))
def test_merge_runs_on_backend(panel: Panel, backend: str) -> None:
    on = panel.to(backend)
    full = run(on, "mean_reversion", {"window": 15}, backend=backend)
    parts = [run(on, "mean_reversion", {"window": 15}, backend=backend, symbols=s)
             for s in (panel.symbols[:2], panel.symbols[2:])]
    merged = merge_runs(parts)
    pd.testing.assert_frame_equal(merged.metrics, full.metrics, check_exact=True)
    np.testing.assert_array_equal(to_numpy(merged.portfolio_equity), to_numpy(full.portfolio_equity))


@pytest.mark.parametrize("backend", list(backends()))
def test_float32_run(panel: Panel, backend: str) -> None:
    res = run(panel.to(backend, dtype=np.float32), "trend_following", {"fast": 5, "slow": 20}, fees=FEES)
    assert res.returns_array.dtype == np.float32
    ref = run(panel, "trend_following", {"fast": 5, "slow": 20}, fees=FEES, backend="cpu")
    np.testing.assert_allclose(res.metrics["total_return"], ref.metrics["total_return"], rtol=1e-3, atol=1e-4)
