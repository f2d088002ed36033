"""Streaming indicators: the fused kernels equal the batch functions bar by bar, on both backends.

Every streamed output (`OUTPUTS`: EMA, RSI, MACD x3, ATR, OBV, SMA, rolling std, ROC)
is compared in every parity test.

CPU (Numba kernel): bit for bit against the batch indicators and the xp oracle.
GPU (CUDA kernel, skipped without a device): equal to the CPU to 1e-9 (compiled
without contracted multiply-adds, so expected bit-identical), with host ticks
(one packed transfer) and device ticks (validated on the device).
"""
from __future__ import annotations

import io
from typing import Any, Iterator

import numpy as np
import pytest

from kernels import indicators as ind
from kernels.backend import array_module, to_numpy
from kernels.data import synthetic_panel, with_late_start
from kernels.indicators import stream_cpu
from kernels.indicators.stream import (
    OUTPUTS,
    StreamConfig,
    StreamState,
    reference_seed,
    reference_update,
    restore,
    seed,
    snapshot,
    update,
    update_packed,
)
from tests.conftest import backends

FIELDS = ("high", "low", "close", "volume")
# CPU: the same float64 operations in the same order as the batch kernels (Numba does
# not contract multiply-adds): bit-identical. GPU: built with --fmad=false; the issue's
# bound is 1e-9.
RTOL = {"cpu": 0.0, "gpu": 1e-9}
SMALL = StreamConfig(
    ema_period=3, rsi_period=2, macd_fast=3, macd_slow=2, macd_signal=1,
    atr_period=1, sma_period=1, std_period=2, std_nbdev=2.0, roc_period=1,
)


def _placements() -> Iterator:
    """(backend, where the ticks live): host ticks on both backends, device ticks on the GPU."""
    for p in backends():
        (backend,) = p.values
        yield pytest.param(backend, "host", marks=p.marks, id=f"{backend}-host")
        if backend == "gpu":
            yield pytest.param(backend, "device", marks=p.marks, id="gpu-device")


PLACEMENTS = list(_placements())
BACKENDS = list(backends())


def _data(n_symbols: int = 8, n_bars: int = 400) -> dict[str, np.ndarray]:
    """Synthetic panel; symbol 2 starts at bar 50, symbol 5 at bar 160; a flat stretch on symbol 3."""
    panel = synthetic_panel(n_symbols, n_bars)
    panel = with_late_start(panel, {panel.symbols[2]: 50, panel.symbols[5]: min(160, n_bars - 1)})
    d = {f: np.array(getattr(panel, f), dtype=np.float64) for f in FIELDS}
    d["close"][200:215, 3] = d["close"][199, 3]  # flat: the rolling std re-anchors (flat rebuild)
    return d


def _batch(d: dict[str, np.ndarray], cfg: StreamConfig) -> dict[str, np.ndarray]:
    h, lo, c, v = (d[f] for f in FIELDS)
    m, s, hist = ind.macd(c, cfg.macd_fast, cfg.macd_slow, cfg.macd_signal)
    return {
        "ema": ind.ema(c, cfg.ema_period),
        "rsi": ind.rsi(c, cfg.rsi_period),
        "macd": m,
        "macdsignal": s,
        "macdhist": hist,
        "atr": ind.atr(h, lo, c, cfg.atr_period),
        "obv": ind.obv(c, v),
        "sma": ind.sma(c, cfg.sma_period),
        "rolling_std": ind.rolling_std(c, cfg.std_period, cfg.std_nbdev),
        "roc": ind.roc(c, cfg.roc_period),
    }


def _same(got: Any, want: np.ndarray, backend: str, msg: str = "") -> None:
    got = to_numpy(got)
    if RTOL[backend] == 0.0:
        np.testing.assert_array_equal(got, want, err_msg=msg)
    else:
        np.testing.assert_allclose(got, want, rtol=RTOL[backend], atol=0, equal_nan=True, err_msg=msg)


def _check(out: dict, batch: dict, t: np.ndarray | int, sym: np.ndarray, backend: str) -> None:
    assert set(out) == set(OUTPUTS)
    for name in OUTPUTS:
        _same(out[name], batch[name][t, sym], backend, name)


def _tick(d: dict, t: int | np.ndarray, sym: np.ndarray, xp: Any = np) -> dict:
    return {f: xp.asarray(d[f][t, sym]) for f in FIELDS}


def _state(backend: str, n: int, cfg: StreamConfig | None = None) -> StreamState:
    return StreamState.create(n, cfg, array_module(backend))


def _ticks_xp(backend: str, where: str) -> Any:
    return array_module(backend) if where == "device" else np


def _stream(state: StreamState, d: dict, t0: int, t1: int, batch: dict | None = None, backend: str = "cpu",
            xp: Any = np) -> list:
    """Feed bars t0..t1-1 (each symbol once it has data); the outputs per bar (host arrays)."""
    outs = []
    for t in range(t0, t1):
        sym = np.flatnonzero(~np.isnan(d["close"][t]))
        out = update(state, xp.asarray(sym), **_tick(d, t, sym, xp))
        if batch is not None:
            _check(out, batch, t, sym, backend)
        outs.append({k: to_numpy(v) for k, v in out.items()})
    return outs


# ------------------------------------------------------------------ batch parity
@pytest.mark.parametrize("backend, where", PLACEMENTS)
@pytest.mark.parametrize("cfg", [StreamConfig(), SMALL], ids=["default", "small"])
@pytest.mark.parametrize("k", [1, 40, 120])
def test_stream_equals_batch_every_bar(backend: str, where: str, cfg: StreamConfig, k: int) -> None:
    d = _data()
    batch = _batch(d, cfg)
    state = _state(backend, 8, cfg)
    last = seed(state, {f: d[f][:k] for f in FIELDS})
    _check(last, batch, k - 1, np.arange(8), backend)
    _stream(state, d, k, 400, batch, backend, _ticks_xp(backend, where))


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_whole_history_equals_last_row(backend: str) -> None:
    d = _data()
    batch = _batch(d, StreamConfig())
    state = _state(backend, 8)
    _check(seed(state, d), batch, 399, np.arange(8), backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_device_history(backend: str) -> None:
    """A history already in the state's array module (CuPy on the GPU) seeds the same."""
    xp = array_module(backend)
    d = _data()
    batch = _batch(d, SMALL)
    state = _state(backend, 8, SMALL)
    _check(seed(state, {f: xp.asarray(d[f][:300]) for f in FIELDS}), batch, 299, np.arange(8), backend)
    _stream(state, d, 300, 400, batch, backend)


@pytest.mark.parametrize("backend, where", PLACEMENTS)
def test_symbols_ticking_at_their_own_pace(backend: str, where: str) -> None:
    """Each call updates a random subset; every symbol follows its own bar sequence."""
    d = _data()
    cfg = SMALL
    batch = _batch(d, cfg)
    state = _state(backend, 8, cfg)
    xp = _ticks_xp(backend, where)
    seed(state, {f: d[f][:30] for f in FIELDS})
    nxt = np.full(8, 30)
    rng = np.random.default_rng(0)
    while (nxt < 400).any():
        live = np.flatnonzero(nxt < 400)
        sym = rng.permutation(live)[: rng.integers(1, live.size + 1)]
        t = nxt[sym]
        has = ~np.isnan(d["close"][t, sym])
        nxt[sym[~has]] += 1  # no data yet: skip the bar
        sym, t = sym[has], t[has]
        if sym.size:
            _check(update(state, xp.asarray(sym), **_tick(d, t, sym, xp)), batch, t, sym, backend)
            nxt[sym] += 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_large_batch_equals_batch(backend: str) -> None:
    """A batch above PARALLEL_MIN_TICKS (threaded where the pool is large enough), in shuffled symbol order."""
    n = stream_cpu.PARALLEL_MIN_TICKS + 150
    c = 50.0 + np.cumsum(np.random.default_rng(3).standard_normal((60, n)), axis=0)
    d = {"high": c + 0.5, "low": c - 0.5, "close": c, "volume": np.full_like(c, 100.0)}
    d["close"][:25, 7] = np.nan  # a late starter inside the batch
    cfg = SMALL
    batch = _batch(d, cfg)
    state = _state(backend, n, cfg)
    seed(state, {f: d[f][:20] for f in FIELDS})
    rng = np.random.default_rng(4)
    for t in range(20, 60):
        sym = rng.permutation(np.flatnonzero(~np.isnan(d["close"][t])))
        _check(update(state, sym, **_tick(d, t, sym)), batch, t, sym, backend)


def test_threaded_and_serial_cpu_kernels_agree() -> None:
    """update_nb (prange) and update_serial_nb give the same state and outputs, whichever `update` picks."""
    n = 300
    c = 50.0 + np.cumsum(np.random.default_rng(6).standard_normal((40, n)), axis=0)
    d = {"high": c + 0.5, "low": c - 0.5, "close": c, "volume": np.full_like(c, 100.0)}
    a, b = StreamState.create(n, SMALL), StreamState.create(n, SMALL)
    seed(a, {f: d[f][:10] for f in FIELDS})
    seed(b, {f: d[f][:10] for f in FIELDS})
    rng = np.random.default_rng(7)
    for t in range(10, 40):
        sym = rng.permutation(n)
        tick = [np.ascontiguousarray(d[f][t, sym]) for f in FIELDS]
        outs = []
        for st, kernel in ((a, stream_cpu.update_nb), (b, stream_cpu.update_serial_nb)):
            out = np.empty((len(OUTPUTS), n))
            kernel(st.values, st.counters, st.sma_buf, st.std_buf, st.roc_buf, sym, *tick, st.ip, st.dp, out)
            outs.append(out)
        np.testing.assert_array_equal(outs[0], outs[1])
    for name, arr in a.arrays.items():
        np.testing.assert_array_equal(arr, b.arrays[name])


# ------------------------------------------------------------ kernels vs xp oracle
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cfg", [StreamConfig(macd_fast=26, macd_slow=12),
                                 StreamConfig(std_period=3, sma_period=7, roc_period=23)],
                         ids=["macd-swapped", "windows"])
def test_kernel_equals_xp_oracle_with_interior_nan(backend: str, cfg: StreamConfig) -> None:
    """With nan_policy="propagate", interior NaN in a seed history go through the arithmetic as in the
    oracle; states agree too (the default policy, "skip": tests/kernels/indicators/test_nan_policy.py)."""
    d = _data(8, 260)
    rng = np.random.default_rng(5)
    for f in FIELDS:
        d[f][rng.random(d[f].shape) < 0.02] = np.nan
    ref = StreamState.create(8, cfg)
    got = _state(backend, 8, cfg)
    want = reference_seed(ref, {f: d[f][:200] for f in FIELDS})
    out = seed(got, {f: d[f][:200] for f in FIELDS}, nan_policy="propagate")
    for name in OUTPUTS:
        _same(out[name], to_numpy(want[name]), backend, name)
    for t in range(200, 260):
        sym = rng.permutation(8)[: rng.integers(1, 9)]
        sym = sym[np.isfinite(np.stack([d[f][t, sym] for f in FIELDS])).all(axis=0)]
        want = reference_update(ref, sym, **_tick(d, t, sym))
        out = update(got, sym, **_tick(d, t, sym))
        for name in OUTPUTS:
            _same(out[name], to_numpy(want[name]), backend, f"{name} at bar {t}")
    gs, rs = snapshot(got), snapshot(ref)
    for name in rs:
        _same(gs[name], rs[name], backend, name)


# ------------------------------------------------------------------ packed variant
@pytest.mark.parametrize("backend, where", PLACEMENTS)
def test_update_packed_equals_update(backend: str, where: str) -> None:
    d = _data()
    xp = _ticks_xp(backend, where)
    a, b = _state(backend, 8), _state(backend, 8)
    seed(a, {f: d[f][:100] for f in FIELDS})
    seed(b, {f: d[f][:100] for f in FIELDS})
    for t in range(100, 160):
        sym = np.flatnonzero(~np.isnan(d["close"][t]))[::-1].copy()
        ticks = np.stack([d[f][t, sym] for f in FIELDS])
        if t % 2:
            ticks = np.vstack([d["close"][t - 1, sym], ticks])  # (5, m): open first
        got = update_packed(a, xp.asarray(sym), xp.asarray(ticks), to_host=bool(t % 3))
        assert got.shape == (len(OUTPUTS), sym.size)
        assert isinstance(got, np.ndarray) == (bool(t % 3) or backend == "cpu")
        want = update(b, sym, **_tick(d, t, sym))
        for j, name in enumerate(OUTPUTS):
            np.testing.assert_array_equal(to_numpy(got[j]), to_numpy(want[name]), err_msg=name)


# ------------------------------------------------------------- snapshot / restore
@pytest.mark.parametrize("backend", BACKENDS)
def test_snapshot_restore_continues_exactly(backend: str) -> None:
    d = _data()
    xp = array_module(backend)
    a = _state(backend, 8)
    seed(a, {f: d[f][:60] for f in FIELDS})
    _stream(a, d, 60, 190)
    snap = snapshot(a)
    assert all(isinstance(x, np.ndarray) and x.dtype != object for x in snap.values())
    buf = io.BytesIO()
    np.savez(buf, **snap)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as z:
        b = restore({k: z[k] for k in z.files}, xp)
    assert b.config == a.config and b.on_gpu == (backend == "gpu")
    rest_a = _stream(a, d, 190, 400)
    rest_b = _stream(b, d, 190, 400)
    for oa, ob in zip(rest_a, rest_b):
        for name in OUTPUTS:
            np.testing.assert_array_equal(oa[name], ob[name])
    sa, sb = snapshot(a), snapshot(b)
    for name in sa:
        np.testing.assert_array_equal(sa[name], sb[name])


@pytest.mark.gpu
def test_snapshot_moves_between_backends() -> None:
    """A CPU stream resumed on the GPU and back (worker fallback) stays on the batch values."""
    import cupy  # noqa: PLC0415

    d = _data()
    batch = _batch(d, StreamConfig())
    cpu_state = StreamState.create(8)
    seed(cpu_state, {f: d[f][:120] for f in FIELDS})
    _stream(cpu_state, d, 120, 200, batch, "cpu")
    gpu_state = restore(snapshot(cpu_state), cupy)
    _stream(gpu_state, d, 200, 300, batch, "gpu")
    back = restore(snapshot(gpu_state), np)
    _stream(back, d, 300, 400, batch, "gpu")


def test_snapshot_is_a_copy_and_restore_checks() -> None:
    state = StreamState.create(3, SMALL)
    snap = snapshot(state)
    update(state, [0, 2], high=[2.0, 3.0], low=[1.0, 2.0], close=[1.5, 2.5], volume=[10.0, 0.0])
    assert (snap["k_close"] == -1).all()
    assert (state.arrays["k_close"] == [0, -1, 0]).all()
    assert restore(snap).config == SMALL
    with pytest.raises(ValueError, match="config.ema_period"):
        restore({k: v for k, v in snap.items() if k != "config.ema_period"})
    with pytest.raises(ValueError, match="lacks"):
        restore({k: v for k, v in snap.items() if k != "std_buf"})
    bad = dict(snap, sma_buf=np.zeros((3, 7)))
    with pytest.raises(ValueError, match="sma_buf"):
        restore(bad)
    with pytest.raises(ValueError, match=r"roc_buf has shape \(3, 4\), expected \(3, 1\)"):
        restore(dict(snap, roc_buf=np.zeros((3, 4))))


@pytest.mark.parametrize("drop", [("roc_buf", "config.roc_period"), ("roc_buf",), ("config.roc_period",)])
def test_restore_of_an_older_snapshot_format_raises(drop: tuple) -> None:
    """A snapshot taken before ROC was streamed has no ROC ring: a clear error, not a silent restart."""
    state = StreamState.create(3)
    seed(state, {f: v[:40, :3] for f, v in _data().items()})
    old = {k: v for k, v in snapshot(state).items() if k not in drop}
    with pytest.raises(ValueError, match=r"older snapshot format.*re-seed"):
        restore(old)


def test_state_from_named_arrays_round_trips() -> None:
    d = _data()
    a = StreamState.create(8, SMALL)
    seed(a, {f: d[f][:50] for f in FIELDS})
    b = StreamState(a.config, a.arrays)
    for name, arr in a.arrays.items():
        np.testing.assert_array_equal(b.arrays[name], arr)
    b.values[0, 0] += 1.0
    assert a.values[0, 0] != b.values[0, 0]  # packed copies, not views


# --------------------------------------------------------------------- validation
def _ok() -> dict:
    return {"high": [2.0, 3.0], "low": [1.0, 2.0], "close": [1.5, 2.5], "volume": [10.0, 5.0]}


BAD_TICKS = [
    ([0, 8], {}, "unknown symbol index 8"),
    ([-1, 0], {}, "unknown symbol index -1"),
    ([1, 1], {}, "more than once"),
    ([0.0, 1.0], {}, "integer"),
    ([[0, 1]], {}, "1-D"),
    ([0, 1], {"close": [np.nan, 1.0]}, r"close has NaN or inf values \(symbols \[0\]\)"),
    ([0, 1], {"high": [np.inf, 1.0]}, "high has NaN or inf"),
    ([0, 1], {"volume": [1.0, -np.inf]}, "volume has NaN or inf"),
    ([0, 1], {"open": [1.0, np.nan]}, "open has NaN or inf"),
    ([0, 1], {"low": [1.0]}, "low has shape"),
]


@pytest.mark.parametrize("backend, where", PLACEMENTS)
@pytest.mark.parametrize("symbols, change, match", BAD_TICKS)
def test_bad_ticks_raise_and_leave_state_unchanged(backend: str, where: str, symbols, change, match) -> None:
    xp = _ticks_xp(backend, where)
    state = _state(backend, 8, SMALL)
    seed(state, {f: v[:20] for f, v in _data().items()})
    update(state, [3], high=[5.0], low=[4.0], close=[4.5], volume=[1.0])  # marks symbol 3 in an earlier call
    before = snapshot(state)
    with pytest.raises(ValueError, match=match):
        update(state, xp.asarray(symbols), **{k: xp.asarray(v) for k, v in {**_ok(), **change}.items()},
               nan_policy="raise")
    after = snapshot(state)
    for name in before:
        np.testing.assert_array_equal(before[name], after[name])
    # the state still takes good ticks, including the symbols of the rejected batch
    out = update(state, xp.asarray([1, 0]), **{k: xp.asarray(v) for k, v in _ok().items()})
    assert np.isfinite(to_numpy(out["sma"])).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_update_packed_validation(backend: str) -> None:
    state = _state(backend, 4, SMALL)
    with pytest.raises(ValueError, match=r"ticks must be \(4, m\)"):
        update_packed(state, [0, 1], np.ones((3, 2)))
    with pytest.raises(ValueError, match="ticks must be"):
        update_packed(state, [0, 1], np.ones(4))
    with pytest.raises(ValueError, match="update_packed: open has NaN"):
        update_packed(state, [0, 1], np.array([[np.nan, 1.0]] + [[1.0, 1.0]] * 4), nan_policy="raise")
    with pytest.raises(ValueError, match="update_packed: unknown symbol index 4"):
        update_packed(state, [0, 4], np.ones((4, 2)))
    assert int(to_numpy(state.arrays["k_close"]).max()) == -1


@pytest.mark.parametrize("backend", BACKENDS)
def test_consecutive_batches_may_repeat_symbols(backend: str) -> None:
    """Repeats are checked within one call only (the marks carry a per-call stamp)."""
    state = _state(backend, 3, SMALL)
    for _ in range(5):
        update(state, [2, 0], high=[2.0, 3.0], low=[1.0, 2.0], close=[1.5, 2.5], volume=[1.0, 1.0])
    assert to_numpy(state.arrays["k_close"]).tolist() == [4, -1, 4]


def test_gpu_ticks_into_host_state_raise() -> None:
    class FakeCuPy:  # looks like a CuPy array to is_gpu_array
        __module__ = "cupy._core.core"
        __cuda_array_interface__: dict = {}

    state = StreamState.create(2)
    with pytest.raises(ValueError, match="host memory but the ticks are CuPy"):
        update(state, FakeCuPy(), **_ok())


def test_config_and_seed_validation() -> None:
    with pytest.raises(ValueError, match="rsi_period"):
        StreamConfig(rsi_period=1)
    with pytest.raises(ValueError, match="std_nbdev"):
        StreamConfig(std_nbdev=float("nan"))
    with pytest.raises(ValueError, match="roc_period"):
        StreamConfig(roc_period=0)
    with pytest.raises(ValueError, match="n_symbols"):
        StreamState.create(0)
    state = StreamState.create(8)
    d = _data()
    with pytest.raises(ValueError, match="no field 'volume'"):
        seed(state, {f: d[f] for f in ("high", "low", "close")})
    with pytest.raises(ValueError, match=r"close must be \(T, 8\)"):
        seed(state, {**d, "close": d["close"][:, :3]})


@pytest.mark.parametrize("backend, where", PLACEMENTS)
def test_empty_tick_batch(backend: str, where: str) -> None:
    xp = _ticks_xp(backend, where)
    state = _state(backend, 2)
    out = update(state, xp.asarray([], dtype=np.int64), high=xp.asarray([]), low=[], close=[], volume=[])
    assert all(o.shape == (0,) for o in out.values())
    assert update_packed(state, [], np.empty((4, 0)), to_host=True).shape == (len(OUTPUTS), 0)


@pytest.mark.parametrize("backend, where", PLACEMENTS)
@pytest.mark.parametrize("roc_period", [1, 3, 10])
def test_roc_zero_and_negative_prices(backend: str, where: str, roc_period: int) -> None:
    """ROC's 0-where-the-old-price-is-0 rule (+0.0 and -0.0), sign changes, and a late starter, bar by bar."""
    rng = np.random.default_rng(8)
    c = np.round(rng.standard_normal((120, 5)) * 2.0)  # many exact zeros and negative prices
    c[7::11, 1] = -0.0
    c[:30, 4] = np.nan  # starts at bar 30
    d = {"high": c + 1.0, "low": c - 1.0, "close": c, "volume": np.full_like(c, 10.0)}
    cfg = StreamConfig(roc_period=roc_period, sma_period=4)
    batch = _batch(d, cfg)
    assert (batch["roc"][~np.isnan(batch["roc"])] == 0.0).any()
    state = _state(backend, 5, cfg)
    _check(seed(state, {f: d[f][:5] for f in FIELDS}), batch, 4, np.arange(5), backend)
    _stream(state, d, 5, 120, batch, backend, _ticks_xp(backend, where))
    ref = StreamState.create(5, cfg)
    reference_seed(ref, d)
    np.testing.assert_array_equal(to_numpy(state.roc_buf), ref.roc_buf)


# ----------------------------------------------------------- rolling std re-anchoring
def test_var_rebuild_matches_cpu_kernel() -> None:
    """The oracle's vectorised rebuild equals cpu.var_rebuild_nb, including its flat-window re-anchor."""
    from kernels.indicators import cpu
    from kernels.indicators.stream import _var_rebuild

    rng = np.random.default_rng(1)
    w = rng.standard_normal((200, 5)) * 10 ** rng.uniform(-12, 2, (200, 1)) + 10 ** rng.uniform(0, 15, (200, 1))
    w[:3] = 7.25  # exactly flat windows
    inv = 1 / 5
    got = _var_rebuild(np, w, inv)
    ref = np.array([cpu.var_rebuild_nb(w[i], 4, 5, inv) for i in range(w.shape[0])])
    for j in range(5):
        np.testing.assert_array_equal(got[j], ref[:, j])
    # the flat branch (variance lost in the mean's rounding) was taken at least once
    shift_mean = ref[:, 1] != w[:, -1]
    assert (~shift_mean[3:]).any()


@pytest.mark.parametrize("backend", BACKENDS)
def test_near_flat_large_offset_stream(backend: str) -> None:
    """Tiny moves on a 1e9 level (rebuilds triggered by the 1e-6 peak rule) stay equal."""
    rng = np.random.default_rng(2)
    c = 1e9 + np.cumsum(rng.standard_normal((300, 4)) * 1e-6, 0)
    c[100:150] = 1e9
    d = {"high": c + 1.0, "low": c - 1.0, "close": c, "volume": np.ones_like(c)}
    cfg = StreamConfig(std_period=7)
    want = ind.rolling_std(c, 7, 1.0)
    state = _state(backend, 4, cfg)
    seed(state, {f: d[f][:10] for f in FIELDS})
    for t in range(10, 300):
        out = update(state, np.arange(4), **_tick(d, t, np.arange(4)))
        _same(out["rolling_std"], want[t], backend, f"bar {t}")


# --------------------------------------------------------------------------- GPU
@pytest.mark.gpu
def test_gpu_equals_cpu_on_a_long_stream() -> None:
    """Both kernels on the same 64-symbol stream: equal to 1e-9 (and expected bit for bit)."""
    import cupy  # noqa: PLC0415

    d = _data(64, 400)
    a, b = StreamState.create(64), StreamState.create(64, xp=cupy)
    for name, (x, y) in {"seed": (seed(a, {f: d[f][:50] for f in FIELDS}),
                                  seed(b, {f: d[f][:50] for f in FIELDS}))}.items():
        for o in OUTPUTS:
            _same(y[o], to_numpy(x[o]), "gpu", f"{name} {o}")
    n_equal = n_total = 0
    for t in range(50, 400):
        sym = np.flatnonzero(~np.isnan(d["close"][t]))
        ticks = np.stack([d[f][t, sym] for f in FIELDS])
        x = update_packed(a, sym, ticks)
        y = update_packed(b, sym, ticks, to_host=True)
        np.testing.assert_allclose(y, x, rtol=1e-9, atol=0, equal_nan=True)
        n_equal += int(((x == y) | (np.isnan(x) & np.isnan(y))).sum())
        n_total += x.size
    sa, sb = snapshot(a), snapshot(b)
    for name in sa:
        _same(sb[name], sa[name], "gpu", name)
    print(f"GPU vs CPU: {n_equal}/{n_total} outputs bit-identical")


@pytest.mark.gpu
def test_gpu_warmups_run() -> None:
    from kernels import prewarm  # noqa: PLC0415
    from kernels.indicators import stream_gpu  # noqa: PLC0415

    assert "kernels.indicators.stream_gpu" in prewarm.GPU_FAMILIES
    for fn in stream_gpu.warmups().values():
        fn()


def test_cpu_warmup_registered() -> None:
    from kernels import prewarm  # noqa: PLC0415

    warm = prewarm.cpu_warmups()
    assert "indicators.stream" in warm
    warm["indicators.stream"]()
