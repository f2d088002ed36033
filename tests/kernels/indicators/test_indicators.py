"""Indicators: equal to TA-Lib (values and NaN positions), CPU/GPU parity, validation."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from kernels import indicators as ind
from kernels.indicators import xp as oracle
from kernels.backend import to_numpy
from kernels.data import synthetic_panel, with_late_start
from tests.conftest import RTOL, backend_dtype_grid, backends

talib = pytest.importorskip("talib")

FIELDS = ("high", "low", "close", "volume")


# ------------------------------------------------------------------------- data
def _panel_data() -> dict[str, np.ndarray]:
    """Real-looking panel with one late-starting column and one whose tail is too short."""
    panel = synthetic_panel(5, 260, seed=3)
    panel = with_late_start(panel, {panel.symbols[1]: 37, panel.symbols[3]: 250})
    return {f: np.asarray(getattr(panel, f)) for f in FIELDS}


def _random_data() -> dict[str, np.ndarray]:
    """Unstructured data: random walks of different scales, ties, zero volumes."""
    rng = np.random.default_rng(11)
    t, n = 180, 4
    close = np.abs(rng.standard_normal((t, n)).cumsum(0)) + rng.uniform(0.5, 50.0, n)
    close[60:64, 2] = close[59, 2]  # flat stretch: zero ranges and zero gains/losses
    spread = rng.uniform(0.0, 1.0, (t, n))
    high = close + spread
    low = close - rng.uniform(0.0, 1.0, (t, n)) * np.minimum(close, 1.0) * 0.5
    volume = rng.integers(0, 1000, (t, n)).astype(np.float64)
    volume[100:120, 1] = 0.0  # zero-volume windows for VWAP
    close[:15, 3] = np.nan  # late start in every field
    high[:15, 3] = np.nan
    low[:15, 3] = np.nan
    volume[:15, 3] = np.nan
    return {"high": high, "low": low, "close": close, "volume": volume}


DATASETS = {"panel": _panel_data, "random": _random_data}


# --------------------------------------------------------------- TA-Lib reference
def _talib_cols(fn: Callable, arrays: list[np.ndarray], **kw: Any) -> list[np.ndarray]:
    """Run a TA-Lib function column by column; a list of 2-D outputs."""
    per_col = [fn(*[np.ascontiguousarray(a[:, j]) for a in arrays], **kw) for j in range(arrays[0].shape[1])]
    if isinstance(per_col[0], tuple):
        return [np.stack([o[k] for o in per_col], axis=1) for k in range(len(per_col[0]))]
    return [np.stack(per_col, axis=1)]


def _zscore_ref(x: np.ndarray, timeperiod: int) -> np.ndarray:
    mean = talib.SMA(x, timeperiod=timeperiod)
    std = talib.STDDEV(x, timeperiod=timeperiod, nbdev=1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(std > 0, (x - mean) / std, np.nan)


def _vwap_ref(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray, timeperiod: int) -> np.ndarray:
    """Window sums computed directly (no running sums) over the tail after the first valid bar."""
    out = np.full(close.shape, np.nan)
    valid = ~(np.isnan(high) | np.isnan(low) | np.isnan(close) | np.isnan(volume))
    if not valid.any():
        return out
    s = int(np.argmax(valid))
    pv = (high + low + close) / 3.0 * volume
    for t in range(s + timeperiod - 1, len(close)):
        w = slice(t - timeperiod + 1, t + 1)
        if np.any(volume[w] != 0):
            out[t] = pv[w].sum() / volume[w].sum()
    return out


# (name, our function, reference per column, input fields, params)
CASES: list[tuple[str, Callable, Callable, tuple[str, ...], dict]] = [
    ("sma", ind.sma, talib.SMA, ("close",), {"timeperiod": 20}),
    ("sma1", ind.sma, talib.SMA, ("close",), {"timeperiod": 1}),
    ("ema", ind.ema, talib.EMA, ("close",), {"timeperiod": 12}),
    ("wma", ind.wma, talib.WMA, ("close",), {"timeperiod": 9}),
    ("rsi", ind.rsi, talib.RSI, ("close",), {"timeperiod": 14}),
    ("macd", ind.macd, talib.MACD, ("close",), {}),
    ("macd_swapped", ind.macd, talib.MACD, ("close",), {"fastperiod": 10, "slowperiod": 5, "signalperiod": 1}),
    ("bbands", ind.bbands, talib.BBANDS, ("close",), {"timeperiod": 20}),
    ("bbands_asym", ind.bbands, talib.BBANDS, ("close",), {"timeperiod": 7, "nbdevup": 1.0, "nbdevdn": 2.5}),
    ("atr", ind.atr, talib.ATR, ("high", "low", "close"), {"timeperiod": 14}),
    ("atr1", ind.atr, talib.ATR, ("high", "low", "close"), {"timeperiod": 1}),
    ("stoch", ind.stoch, talib.STOCH, ("high", "low", "close"), {}),
    ("stoch_long", ind.stoch, talib.STOCH, ("high", "low", "close"),
     {"fastk_period": 14, "slowk_period": 1, "slowd_period": 5}),
    ("obv", ind.obv, talib.OBV, ("close", "volume"), {}),
    ("roc", ind.roc, talib.ROC, ("close",), {"timeperiod": 10}),
    ("rolling_std", ind.rolling_std, lambda x, timeperiod, nbdev: talib.STDDEV(x, timeperiod=timeperiod, nbdev=nbdev),
     ("close",), {"timeperiod": 5, "nbdev": 1.5}),
    ("zscore", ind.zscore, _zscore_ref, ("close",), {"timeperiod": 20}),
    ("vwap", ind.vwap, _vwap_ref, ("high", "low", "close", "volume"), {"timeperiod": 14}),
]
CASE_IDS = [c[0] for c in CASES]


def _as_list(out: Any) -> list:
    return list(out) if isinstance(out, tuple) else [out]


def _to(backend: str, a: np.ndarray, dtype: Any = np.float64) -> Any:
    if backend == "gpu":
        import cupy  # noqa: PLC0415

        return cupy.asarray(a, dtype=dtype)
    return np.asarray(a, dtype=dtype)


def _assert_equal_nan_close(ours: np.ndarray, ref: np.ndarray, rtol: float, what: str) -> None:
    assert ours.shape == ref.shape, what
    nan_ours, nan_ref = np.isnan(ours), np.isnan(ref)
    assert np.array_equal(nan_ours, nan_ref), f"{what}: NaN positions differ at {np.argwhere(nan_ours != nan_ref)[:5]}"
    np.testing.assert_allclose(ours[~nan_ours], ref[~nan_ref], rtol=rtol, atol=1e-12, err_msg=what)


# ------------------------------------------------------------------ vs TA-Lib
@pytest.mark.parametrize("backend", list(backends()))
@pytest.mark.parametrize("dataset", sorted(DATASETS))
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_matches_talib_2d_and_1d(case: tuple, dataset: str, backend: str) -> None:
    name, fn, ref_fn, fields, params = case
    data = DATASETS[dataset]()
    arrays = [data[f] for f in fields]
    refs = _talib_cols(ref_fn, arrays, **params)
    outs = _as_list(fn(*[_to(backend, a) for a in arrays], **params))
    assert len(outs) == len(refs)
    for k, (o, r) in enumerate(zip(outs, refs)):
        o_np = to_numpy(o)
        assert o_np.dtype == np.float64
        _assert_equal_nan_close(o_np, r, RTOL[np.float64], f"{name}[{k}] 2-D {dataset}")
    # 1-D: the late-starting column
    cols = [_to(backend, a[:, 1]) for a in arrays]
    outs1 = _as_list(fn(*cols, **params))
    for k, (o, r) in enumerate(zip(outs1, refs)):
        assert o.shape == (arrays[0].shape[0],)
        _assert_equal_nan_close(to_numpy(o), r[:, 1], RTOL[np.float64], f"{name}[{k}] 1-D {dataset}")


@pytest.mark.parametrize("backend", list(backends()))
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_interior_nan_like_talib(case: tuple, backend: str) -> None:
    """With nan_policy="propagate", a gap inside the data gives NaN (or TA-Lib's value) exactly
    where TA-Lib does (the default policy, "skip": tests/kernels/indicators/test_nan_policy.py)."""
    name, fn, ref_fn, fields, params = case
    data = _random_data()
    arrays = [data[f][:, :2].copy() for f in fields]
    arrays[-1][70, 0] = np.nan  # a gap in the last input of column 0
    arrays[0][90, 1] = np.nan  # and in the first input of column 1
    refs = _talib_cols(ref_fn, arrays, **params)
    outs = _as_list(fn(*[_to(backend, a) for a in arrays], nan_policy="propagate", **params))
    for k, (o, r) in enumerate(zip(outs, refs)):
        _assert_equal_nan_close(to_numpy(o), r, RTOL[np.float64], f"{name}[{k}] interior NaN")


# ------------------------------------------------------------- backend parity
@pytest.mark.parametrize("backend,dtype", list(backend_dtype_grid((np.float64, np.float32))))
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_backend_parity_and_dtype(case: tuple, backend: str, dtype: Any) -> None:
    """Each backend equals the CPU backend on the same dtype (RTOL per dtype), and float32 tracks float64."""
    name, fn, _, fields, params = case
    data = _panel_data()
    arrays = [data[f] for f in fields]
    same_dtype = [np.asarray(o) for o in _as_list(fn(*[a.astype(dtype) for a in arrays], **params))]
    reference = [np.asarray(o) for o in _as_list(fn(*arrays, **params))]
    outs = _as_list(fn(*[_to(backend, a, dtype) for a in arrays], **params))
    for k, (o, e, r) in enumerate(zip(outs, same_dtype, reference)):
        o_np = to_numpy(o)
        assert o_np.dtype == np.dtype(dtype), f"{name}[{k}] dtype"
        assert np.array_equal(np.isnan(o_np), np.isnan(e)), f"{name}[{k}] NaN positions"
        np.testing.assert_allclose(o_np, e, rtol=RTOL[dtype], atol=1e-12, equal_nan=True, err_msg=f"{name}[{k}] {backend}")
        # float32 inputs are rounded before the computation: compare on that scale
        np.testing.assert_allclose(o_np, r, rtol=5e-3, atol=1e-2, equal_nan=True, err_msg=f"{name}[{k}] vs float64")


# ------------------------------------------------------------------ validation
def test_bad_inputs_raise_clear_errors() -> None:
    x = np.linspace(1.0, 2.0, 50)
    with pytest.raises(ValueError, match="timeperiod must be >= 1"):
        ind.sma(x, timeperiod=0)
    with pytest.raises(ValueError, match="timeperiod must be >= 2"):
        ind.rsi(x, timeperiod=1)
    with pytest.raises(ValueError, match="timeperiod must be >= 2"):
        ind.rolling_std(x, timeperiod=1)
    with pytest.raises(ValueError, match="fastperiod must be >= 2"):
        ind.macd(x, fastperiod=1)
    with pytest.raises(ValueError, match="timeperiod must be an integer"):
        ind.ema(x, timeperiod=2.5)
    with pytest.raises(ValueError, match=r"timeperiod=51 is longer than the data \(50 bars\)"):
        ind.sma(x, timeperiod=51)
    with pytest.raises(ValueError, match="slowperiod=60 is longer than the data"):
        ind.macd(x, slowperiod=60)
    with pytest.raises(ValueError, match=r"x must be 1-D \(T,\) or 2-D \(T, N\)"):
        ind.sma(np.ones((4, 3, 2)), timeperiod=2)
    with pytest.raises(ValueError, match=r"low has shape \(49,\) but high has shape \(50,\)"):
        ind.atr(x, x[:-1], x)
    with pytest.raises(ValueError, match=r"volume has shape \(50, 2\) but close has shape \(50,\)"):
        ind.obv(x, np.ones((50, 2)))
    with pytest.raises(ValueError, match="real numeric array"):
        ind.sma(x.astype(complex), timeperiod=3)
    with pytest.raises(ValueError, match="nbdevup must be a finite number"):
        ind.bbands(x, nbdevup=float("nan"))
    with pytest.raises(ValueError, match="no bars"):
        ind.sma(np.array([]), timeperiod=1)


def test_all_nan_column_and_int_input() -> None:
    x = np.full((30, 2), np.nan)
    x[:, 1] = np.arange(30)
    out = ind.sma(x, timeperiod=5)
    assert np.isnan(out[:, 0]).all()
    np.testing.assert_allclose(out[4:, 1], talib.SMA(np.arange(30.0), 5)[4:])
    out_int = ind.sma(np.arange(30), timeperiod=5)
    assert out_int.dtype == np.float64


# -------------------------------------------------------------- table + compute
def test_indicators_table_is_consistent() -> None:
    data = _panel_data()
    for name, spec in ind.INDICATORS.items():
        assert getattr(ind, name) is spec.func
        out = spec.func(*[data[f] for f in spec.fields])
        outs = out if isinstance(out, tuple) else (out,)
        assert len(outs) == len(spec.outputs), name
        assert all(o.shape == data["close"].shape for o in outs)


@pytest.mark.parametrize("backend", list(backends()))
def test_compute_matches_the_functions(backend: str) -> None:
    """compute() (one fused kernel on the GPU) equals the individual calls."""
    data = _panel_data()
    arrays = {f: _to(backend, a) for f, a in data.items()}
    specs = [
        ("sma", {"timeperiod": 20}),
        ("sma", {"timeperiod": 50}),
        ("ema", {"timeperiod": 12}),
        "rsi",
        "macd",
        ("bbands", {"timeperiod": 20}),
        "atr",
        "obv",
        "stoch",
        {"name": "sma", "params": {"timeperiod": 5}, "input": "volume"},
        {"name": "zscore", "label": "z"},
        "vwap",
        ("rolling_std", {"timeperiod": 10, "nbdev": 2.0}),
        "roc",
        "wma",
    ]
    got = ind.compute(arrays, specs)
    c, h, l, v = data["close"], data["high"], data["low"], data["volume"]
    expected = {
        "sma_20": ind.sma(c, 20),
        "sma_50": ind.sma(c, 50),
        "ema_12": ind.ema(c, 12),
        "rsi": ind.rsi(c),
        "bbands_20.middleband": ind.bbands(c, 20)[1],
        "bbands_20.lowerband": ind.bbands(c, 20)[2],
        "macd.macdhist": ind.macd(c)[2],
        "atr": ind.atr(h, l, c),
        "obv": ind.obv(c, v),
        "stoch.slowd": ind.stoch(h, l, c)[1],
        "sma_5_volume": ind.sma(v, 5),
        "z": ind.zscore(c),
        "vwap": ind.vwap(h, l, c, v),
        "rolling_std_10_2": ind.rolling_std(c, 10, 2.0),
        "roc": ind.roc(c),
        "wma": ind.wma(c),
    }
    assert len(got) == 15 + 2 + 2 + 1  # multi-output indicators contribute one key per output
    for key, e in expected.items():
        g = to_numpy(got[key])
        assert np.array_equal(np.isnan(g), np.isnan(e)), key
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12, err_msg=key)


def test_compute_rejects_bad_specs() -> None:
    data = _panel_data()
    with pytest.raises(ValueError, match="unknown indicator 'nope'"):
        ind.compute(data, ["nope"])
    with pytest.raises(ValueError, match="duplicate labels"):
        ind.compute(data, ["rsi", ("rsi", {})])
    with pytest.raises(ValueError, match=r"rsi: unknown parameter\(s\) \['period'\]"):
        ind.compute(data, [("rsi", {"period": 3})])
    with pytest.raises(ValueError, match="no field 'open'"):
        ind.compute({"close": data["close"]}, [{"name": "sma", "input": "open"}])
    with pytest.raises(ValueError, match="timeperiod=999 is longer than the data"):
        ind.compute(data, [("sma", {"timeperiod": 999})])


# ------------------------------------------------------------------ GPU extras
@pytest.mark.gpu
@pytest.mark.parametrize("unroll,block,split", [(1, 32, False), (4, 64, True), (8, 128, False), (16, 32, True)])
def test_gpu_unroll_block_and_split_variants_are_identical(unroll: int, block: int, split: bool) -> None:
    import cupy  # noqa: PLC0415

    from kernels.indicators import gpu  # noqa: PLC0415

    data = _panel_data()
    fields = [cupy.asarray(data[f]) for f in FIELDS]
    items = [("sma", (2,), (20,)), ("bbands", (2,), (20, 2.0, 2.0)), ("atr", (0, 1, 2), (14,)),
             ("stoch", (0, 1, 2), (5, 3, 3)), ("vwap", (0, 1, 2, 3), (14,)), ("macd", (2,), (12, 26, 9))]
    base = gpu.run_fused(fields, items, split=not split)
    other = gpu.run_fused(fields, items, unroll=unroll, block=block, split=split)
    for a, b in zip(base, other):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


@pytest.mark.gpu
def test_gpu_warmups_run() -> None:
    from kernels.indicators import gpu  # noqa: PLC0415

    warm = gpu.warmups()
    assert {"sma_float64", "stoch_float32"} <= set(warm)
    for fn in warm.values():
        fn()


# ------------------------------------------------------------------ xp oracle
ORACLE: list[tuple[str, Callable, Callable, tuple[str, ...], tuple]] = [
    ("sma", ind.sma, oracle.sma, ("close",), (20,)),
    ("ema", ind.ema, oracle.ema, ("close",), (12,)),
    ("wma", ind.wma, oracle.wma, ("close",), (9,)),
    ("rsi", ind.rsi, oracle.rsi, ("close",), (14,)),
    ("macd", ind.macd, oracle.macd, ("close",), (12, 26, 9)),
    ("bbands", ind.bbands, oracle.bbands, ("close",), (20, 2.0, 1.5)),
    ("atr", ind.atr, oracle.atr, ("high", "low", "close"), (14,)),
    ("stoch", ind.stoch, oracle.stoch, ("high", "low", "close"), (5, 3, 3)),
    ("obv", ind.obv, oracle.obv, ("close", "volume"), ()),
    ("roc", ind.roc, oracle.roc, ("close",), (10,)),
    ("rolling_std", ind.rolling_std, oracle.rolling_std, ("close",), (10, 2.0)),
    ("zscore", ind.zscore, oracle.zscore, ("close",), (20,)),
    ("vwap", ind.vwap, oracle.vwap, ("high", "low", "close", "volume"), (14,)),
]


@pytest.mark.parametrize("backend", list(backends()))
@pytest.mark.parametrize("case", ORACLE, ids=[c[0] for c in ORACLE])
def test_kernels_match_the_xp_oracle(case: tuple, backend: str) -> None:
    """Each hand-written kernel equals the array-expression oracle run with the same xp."""
    name, fn, ref_fn, fields, params = case
    panel = synthetic_panel(4, 200, seed=7)
    xp = np if backend == "cpu" else pytest.importorskip("cupy")
    arrays = [_to(backend, np.asarray(getattr(panel, f))) for f in fields]
    outs = _as_list(fn(*arrays, *params))
    refs = _as_list(ref_fn(xp, *arrays, *params))
    for k, (o, r) in enumerate(zip(outs, refs)):
        o_np, r_np = to_numpy(o), to_numpy(r)
        scale = np.nanmax(np.abs(r_np))
        assert np.array_equal(np.isnan(o_np), np.isnan(r_np)), f"{name}[{k}] NaN positions vs oracle"
        np.testing.assert_allclose(o_np, r_np, rtol=1e-9, atol=1e-12 * scale, equal_nan=True, err_msg=name)


# ------------------------------------------------------- CPU row path vs 1-D kernels
ROW_SPECS: list[tuple[str, tuple[int, ...], tuple]] = [
    ("sma", (2,), (20,)),
    ("sma", (3,), (1,)),
    ("ema", (2,), (12,)),
    ("ema", (2,), (1,)),
    ("rsi", (2,), (14,)),
    ("rsi", (2,), (2,)),
    ("macd", (2,), (12, 26, 9)),
    ("macd", (2,), (10, 5, 1)),
    ("bbands", (2,), (20, 2.0, 1.5)),
    ("bbands", (2,), (2, 1.0, 1.0)),
    ("atr", (0, 1, 2), (14,)),
    ("atr", (0, 1, 2), (1,)),
    ("obv", (2, 3), ()),
    ("stoch", (0, 1, 2), (5, 3, 3)),
    ("roc", (2,), (10,)),
    ("stddev", (2,), (7, 1.5)),
    ("wma", (2,), (9,)),
    ("zscore", (2,), (20,)),
    ("vwap", (0, 1, 2, 3), (14,)),
]


def _row_path_data() -> list[np.ndarray]:
    """(high, low, close, volume) with every case the row kernels special-case.

    Runs of equal start bars wide enough for the row path (on time, late in every
    field, high late only: per-spec starts differ within a run), staggered late
    starts (narrow runs: gathered), interior NaN, ties and flat stretches, near-flat
    prices on a large level next to ordinary ones (TA-Lib's VAR reseed for some
    columns of a run only), an all-NaN column and a tail shorter than the warm-ups.
    """
    rng = np.random.default_rng(5)
    t, n = 330, 75
    close = 50.0 * np.exp(np.cumsum(rng.standard_normal((t, n)) * 0.01, 0))
    close[:, 50:62:2] = 1e9 + np.cumsum(rng.standard_normal((t, 6)) * 1e-6, 0)
    close[100:160, 52] = 1e9  # exactly flat
    close[40:47, 3] = close[39, 3]  # ties: zero gains, losses and ranges
    high = close + rng.uniform(0.0, 1.0, (t, n))
    low = close - rng.uniform(0.0, 1.0, (t, n))
    high[50:60, 53] = low[50:60, 53] = close[50:60, 53]
    volume = rng.integers(0, 1000, (t, n)).astype(np.float64)
    volume[70:90, 5] = 0.0
    arrays = [high, low, close, volume]
    for a in arrays:
        a[:45, 20:32] = np.nan  # a late run of 12 columns
        for j, s in zip(range(32, 37), (3, 7, 11, 30, 31)):  # staggered starts: narrow runs
            a[:s, j] = np.nan
        a[:, 70] = np.nan  # no data at all
        a[:300, 71] = np.nan  # a tail shorter than the MACD warm-up
    high[:5, 37:50] = np.nan  # ATR starts later than SMA in this run
    volume[:9, 40:50] = np.nan  # and OBV later still, for part of it
    close[120, 60] = np.nan  # interior NaN
    high[200, 61] = np.nan
    volume[150, 62] = np.nan
    return [np.ascontiguousarray(a) for a in arrays]


def _specs_arrays(items: list) -> tuple:
    from kernels.indicators import cpu  # noqa: PLC0415

    k = len(items)
    kinds = np.array([cpu.KERNEL_IDS[kn] for kn, _, _ in items], dtype=np.int64)
    slots = np.zeros((k, 4), dtype=np.int64)
    iparams = np.zeros((k, 3), dtype=np.int64)
    dparams = np.zeros((k, 2))
    for i, (_, sl, params) in enumerate(items):
        slots[i, : len(sl)] = sl
        ints = [v for v in params if isinstance(v, int)]
        reals = [v for v in params if isinstance(v, float)]
        iparams[i, : len(ints)] = ints
        dparams[i, : len(reals)] = reals
    return kinds, slots, iparams, dparams


def test_cpu_row_path_is_bit_identical_to_the_1d_kernels() -> None:
    """The fused CPU driver (row kernels, gathered narrow runs) equals the 1-D kernels column by column.

    Run with several sub-block widths, time tiles, column ranges and spec groups
    so that runs are cut at sub-block and range boundaries.
    """
    from kernels.indicators import cpu  # noqa: PLC0415

    fields = _row_path_data()
    t, n = fields[0].shape
    kinds, slots, iparams, dparams = _specs_arrays(ROW_SPECS)
    n_out = sum(cpu.N_OUTPUTS[kd] for kd in kinds)
    offsets = np.cumsum([0] + [cpu.N_OUTPUTS[kd] for kd in kinds])
    want = np.empty((n_out, t, n))
    cols = np.stack([np.ascontiguousarray(a.T) for a in fields], axis=1)  # (n, field, t)
    buf = np.empty((n_out, t))
    scratch = np.empty((2, t))
    for j in range(n):
        for i in range(len(kinds)):
            cpu._dispatch_1d_nb(kinds[i], cols[j], slots[i], iparams[i], dparams[i], buf, offsets[i], scratch)
        want[:, :, j] = buf
    padded = tuple(fields) + (fields[0],)
    one = np.zeros(len(kinds), dtype=np.int64)
    for row_block, tile, chunks, groups, n_groups in (
        (cpu.ROW_BLOCK, cpu.TILE, 1, one, 1),
        (24, 1, 2, one, 1),
        (13, 7, 3, *cpu.plan(n, kinds, 8)[1:]),
        (75, 330, 1, np.arange(len(kinds)) % 3, 3),
    ):
        got = np.full((n_out, t, n), -1.0)
        cpu.compute_nb(padded, 4, kinds, slots, iparams, dparams, got, chunks, groups, n_groups, row_block, tile)
        for q in range(n_out):
            np.testing.assert_array_equal(got[q], want[q], err_msg=f"output {q}, block {row_block}, tile {tile}")
    # the VAR reseed ran on the near-flat columns (and only on part of the run)
    assert np.isnan(want[offsets[8]][:, 52]).sum() < t


def test_cpu_plan_splits_specs_only_with_many_workers() -> None:
    from kernels.indicators import cpu  # noqa: PLC0415

    kinds = [cpu.KERNEL_IDS[k] for k in ("sma", "sma", "ema", "rsi", "macd", "bbands", "atr", "obv")]
    assert cpu.plan(5000, kinds, 1)[0] == 1 and cpu.plan(5000, kinds, 1)[2] == 1
    chunks, groups, n_groups = cpu.plan(5000, kinds, 16)
    assert (chunks, n_groups) == (4, 4) and sorted(set(groups.tolist())) == [0, 1, 2, 3]
    assert cpu.plan(100_000, kinds, 16)[0::2] == (16, 1)  # wide enough ranges: no split
