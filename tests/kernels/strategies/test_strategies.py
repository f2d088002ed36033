"""Strategies: built-ins against the plain-loop reference, no look-ahead, the
registry and parameter validation, user strategies, GPU/CPU parity."""
from __future__ import annotations

import numpy as np
import pytest

from kernels.backend import to_numpy
from kernels.data import Panel, synthetic_panel, with_late_start
from kernels.strategies import (
    ParamSpec,
    StrategyError,
    UnknownStrategy,
    band_state,
    get_strategy,
    list_strategies,
    per_asset,
    register,
    unregister,
    validate_params,
    validate_positions,
)
from kernels.strategies.builtin import band_state_nb
from tests.conftest import backends
from tests.kernels.reference import _band_state_machine, reference_positions

BUILTIN_CASES = [
    ("trend_following", {}),
    ("trend_following", {"fast": 5, "slow": 20, "long_only": False}),
    ("trend_following", {"fast": 3, "slow": 12, "ma": "ema", "long_only": False}),
    ("momentum", {}),
    ("momentum", {"lookback": 10, "threshold": 0.02, "long_only": True}),
    ("momentum", {"lookback": 5, "top_k": 2}),
    ("momentum", {"lookback": 15, "top_k": 3, "long_only": True}),
    ("mean_reversion", {}),
    ("mean_reversion", {"window": 12, "entry_z": 1.5, "exit_z": 0.0, "long_only": True}),
    ("pairs", {}),
    ("pairs", {"window": 25, "entry_z": 1.5, "exit_z": 0.25}),
]
CASE_IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in p.items()) or 'defaults'}" for n, p in BUILTIN_CASES]


def _panel(n_assets: int = 7, n_bars: int = 400, seed: int = 11) -> Panel:
    """Synthetic data with late starts, an interior NaN gap and an asset with no data."""
    panel = synthetic_panel(n_assets, n_bars, seed=seed)
    panel = with_late_start(panel, {panel.symbols[1]: 60, panel.symbols[4]: 250})
    close = np.array(panel.close, copy=True)
    close[150:160, 2] = np.nan
    close[:, 6] = np.nan
    return Panel(panel.index, panel.symbols, panel.open, panel.high, panel.low, close, panel.volume)


@pytest.fixture(scope="module")
def panel() -> Panel:
    return _panel()


@pytest.mark.parametrize(("name", "params"), BUILTIN_CASES, ids=CASE_IDS)
def test_builtin_matches_reference(panel: Panel, name: str, params: dict) -> None:
    spec = get_strategy(name)
    pos = spec.fn(panel, **validate_params(name, params))
    expected = reference_positions(name, panel.close, **params)
    assert pos.shape == panel.close.shape and pos.dtype == np.float64
    np.testing.assert_array_equal(pos, expected)
    assert np.all(pos[~np.isfinite(panel.close)] == 0)
    assert np.abs(pos).max() <= 1.0
    assert np.count_nonzero(pos) > 0  # the case exercises some positions


def test_momentum_top_k_ties_break_by_lower_column() -> None:
    n_bars, n = 30, 6
    close = np.full((n_bars, n), 100.0)
    close[20:, :] = 110.0  # every asset has the same look-back return from bar 20 on
    close[:, 5] = np.nan
    panel = _from_close(close)
    pos = get_strategy("momentum").fn(panel, lookback=5, threshold=0.0, long_only=False, top_k=2)
    np.testing.assert_array_equal(pos, reference_positions("momentum", close, lookback=5, top_k=2))
    # bar 22: all five valid tie; longs are columns 0, 1 and shorts columns 0, 1 too -> flat
    np.testing.assert_array_equal(pos[22], [0, 0, 0, 0, 0, 0])
    long_only = get_strategy("momentum").fn(panel, lookback=5, threshold=0.0, long_only=True, top_k=2)
    np.testing.assert_array_equal(long_only[22], [1, 1, 0, 0, 0, 0])


def _from_close(close: np.ndarray) -> Panel:
    import pandas as pd

    t, n = close.shape
    return Panel(
        index=pd.date_range("2020-01-01", periods=t, freq="D").to_numpy(),
        symbols=tuple(f"A{i}" for i in range(n)),
        open=close,
        high=close,
        low=close,
        close=close,
        volume=np.ones_like(close),
    )


@pytest.mark.parametrize(("name", "params"), BUILTIN_CASES, ids=CASE_IDS)
def test_no_look_ahead(panel: Panel, name: str, params: dict) -> None:
    """Perturbing prices after bar t never changes positions up to t."""
    fn = get_strategy(name).fn
    params = validate_params(name, params)
    base = fn(panel, **params)
    rng = np.random.default_rng(hash((name, tuple(params.items()))) % 2**32)
    n_bars = panel.n_bars
    for t in [0, 70, 151, 300, n_bars - 2, *rng.integers(0, n_bars - 1, size=4)]:
        close = np.array(panel.close, copy=True)
        shock = np.exp(rng.normal(0.0, 0.2, size=close[t + 1 :].shape))
        close[t + 1 :] *= shock
        close[t + 1 :][rng.random(close[t + 1 :].shape) < 0.02] = np.nan
        perturbed = Panel(panel.index, panel.symbols, panel.open, panel.high, panel.low, close, panel.volume)
        pos = fn(perturbed, **params)
        np.testing.assert_array_equal(pos[: t + 1], base[: t + 1], err_msg=f"{name} changed at or before bar {t}")


def test_band_state_matches_reference_machine() -> None:
    rng = np.random.default_rng(3)
    z = rng.normal(0, 1.5, size=(300, 4))
    z[rng.random(z.shape) < 0.05] = np.nan
    z[10, 0] = np.inf
    for entry, exit_, long_only in [(2.0, 0.5, False), (1.0, 0.0, True), (1.5, 1.4, False)]:
        out = band_state(z, entry, exit_, long_only)
        for i in range(z.shape[1]):
            np.testing.assert_array_equal(out[:, i], _band_state_machine(z[:, i], entry, exit_, long_only))
    assert band_state_nb is not None


# ------------------------------------------------------------------ registry
def test_builtins_registered() -> None:
    names = list_strategies()
    for name in ("trend_following", "momentum", "mean_reversion", "pairs"):
        assert name in names
        spec = get_strategy(name)
        assert spec.sweepable
        assert spec.describe()["name"] == name
    assert get_strategy("momentum").sweep_fixed == {"top_k": 0}


def test_unknown_strategy() -> None:
    with pytest.raises(UnknownStrategy, match="unknown strategy 'nope'.*trend_following"):
        get_strategy("nope")
    with pytest.raises(StrategyError):
        validate_params("nope", {})


def test_validate_params_fills_defaults() -> None:
    assert validate_params("trend_following", {"fast": 5}) == {"fast": 5, "slow": 50, "ma": "sma", "long_only": True}
    assert validate_params("mean_reversion", {"entry_z": 3}) == {
        "window": 20, "entry_z": 3.0, "exit_z": 0.5, "long_only": False
    }
    assert isinstance(validate_params("mean_reversion", {"entry_z": 3})["entry_z"], float)
    assert validate_params("trend_following", {"fast": np.int64(7)})["fast"] == 7


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("trend_following", {"fats": 5}, r"unknown parameter\(s\) \['fats'\]"),
        ("trend_following", {"fast": "10"}, "'fast' must be an int"),
        ("trend_following", {"fast": 2.5}, "'fast' must be an int"),
        ("trend_following", {"fast": True}, "'fast' must be an int"),
        ("trend_following", {"fast": 0}, "'fast' must be >= 1"),
        ("trend_following", {"fast": 60, "slow": 50}, "'fast' .* must be smaller than 'slow'"),
        ("trend_following", {"ma": "wma"}, "'ma' must be one of"),
        ("trend_following", {"long_only": 1}, "'long_only' must be a bool"),
        ("momentum", {"threshold": -0.1}, "'threshold' must be >= 0"),
        ("momentum", {"threshold": float("nan")}, "'threshold' must be finite"),
        ("momentum", {"top_k": -1}, "'top_k' must be >= 0"),
        ("mean_reversion", {"window": 1}, "'window' must be >= 2"),
        ("mean_reversion", {"entry_z": 1.0, "exit_z": 1.0}, "'exit_z' .* must be smaller than 'entry_z'"),
        ("mean_reversion", {"exit_z": -0.5}, "'exit_z' must be >= 0"),
        ("pairs", {"entry_z": "2"}, "'entry_z' must be a number"),
    ],
)
def test_validate_params_errors_name_the_parameter(name: str, params: dict, match: str) -> None:
    with pytest.raises(StrategyError, match=match):
        validate_params(name, params)


def test_window_longer_than_data() -> None:
    with pytest.raises(StrategyError, match="'slow' = 50 is longer than the data \\(40 bars\\)"):
        validate_params("trend_following", {}, n_bars=40)
    with pytest.raises(StrategyError, match="'lookback'"):
        validate_params("momentum", {"lookback": 41}, n_bars=40)
    assert validate_params("momentum", {"lookback": 40}, n_bars=40)["lookback"] == 40


def test_per_asset_flags() -> None:
    assert per_asset("trend_following")
    assert per_asset("mean_reversion")
    assert per_asset("momentum", {"top_k": 0})
    assert not per_asset("momentum", {"top_k": 3})
    assert not per_asset("pairs")
    assert not per_asset(lambda panel: panel.close * 0)


# ------------------------------------------------------------------ user strategies
def test_user_strategy_registered_and_validated(panel: Panel) -> None:
    @register("test_breakout", [ParamSpec("window", "int", 20, low=2, window=True)], per_asset=True)
    def breakout(p: Panel, window: int = 20) -> np.ndarray:
        """Long after a new rolling high (uses bars up to t only)."""
        c = p.close
        out = np.zeros_like(c)
        for t in range(window, c.shape[0]):
            with np.errstate(invalid="ignore"):
                out[t] = c[t] >= np.max(c[t - window : t + 1], axis=0)
        return out

    try:
        assert "test_breakout" in list_strategies()
        spec = get_strategy("test_breakout")
        assert spec.doc.startswith("Long after a new rolling high")
        assert validate_params("test_breakout", {}) == {"window": 20}
        with pytest.raises(StrategyError, match="'window' must be >= 2"):
            validate_params("test_breakout", {"window": 1})
        with pytest.raises(StrategyError, match="already registered"):
            register("test_breakout")(breakout)
        register("test_breakout", replace=True, per_asset=True)(breakout)
        pos = spec.fn(panel, window=10)
        validate_positions(pos, panel.close.shape, "test_breakout")
    finally:
        unregister("test_breakout")
    assert "test_breakout" not in list_strategies()


def test_plain_callable_accepts_any_params() -> None:
    def mine(panel: Panel, scale: float = 0.5) -> np.ndarray:
        return np.full(panel.close.shape, scale)

    assert validate_params(mine, {"scale": 0.25}) == {"scale": 0.25}


@pytest.mark.parametrize(
    ("positions", "match"),
    [
        (np.zeros((5, 2)), "shape \\(5, 2\\), expected \\(5, 3\\)"),
        (np.zeros(15), "shape"),
        (np.full((5, 3), np.nan), "non-finite"),
        (np.full((5, 3), 1.5), "outside \\[-1, 1\\]"),
        (np.full((5, 3), -2), "outside \\[-1, 1\\]"),
        (np.full((5, 3), "a"), "dtype"),
        ([[0.0] * 3] * 5, "shape"),
    ],
)
def test_validate_positions_errors(positions, match: str) -> None:
    with pytest.raises(StrategyError, match=match):
        validate_positions(positions, (5, 3), "mine")


# ------------------------------------------------------------------ GPU parity
@pytest.mark.parametrize("backend", list(backends()))
@pytest.mark.parametrize(("name", "params"), BUILTIN_CASES, ids=CASE_IDS)
def test_gpu_cpu_parity(panel: Panel, backend: str, name: str, params: dict) -> None:
    """Positions are the same on both backends (CuPy panel in, CuPy positions out)."""
    fn = get_strategy(name).fn
    params = validate_params(name, params)
    on_backend = panel.to(backend)
    pos = fn(on_backend, **params)
    assert type(pos) is type(on_backend.close)
    np.testing.assert_array_equal(to_numpy(pos), fn(panel, **params))


@pytest.mark.parametrize("backend", list(backends()))
def test_band_state_parity(backend: str) -> None:
    from kernels.backend import to_backend

    rng = np.random.default_rng(5)
    z = rng.normal(0, 1.5, size=(257, 129))
    z[rng.random(z.shape) < 0.03] = np.nan
    for dtype in (np.float64, np.float32):
        zz = z.astype(dtype)
        out = band_state(to_backend(zz, backend), 1.5, 0.25, False)
        assert out.dtype == dtype
        np.testing.assert_array_equal(to_numpy(out), band_state(zz, 1.5, 0.25, False))


@pytest.mark.parametrize("backend", list(backends()))
def test_float32_panel(backend: str) -> None:
    panel = synthetic_panel(6, 300, seed=2).to(backend, dtype=np.float32)
    for name, params in BUILTIN_CASES[::2]:
        pos = get_strategy(name).fn(panel, **validate_params(name, params))
        assert pos.dtype == np.float32 and pos.shape == (300, 6)
        host = to_numpy(pos)
        assert np.isin(host, (-1.0, 0.0, 1.0)).all()
