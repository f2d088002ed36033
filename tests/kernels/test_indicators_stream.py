"""Streaming indicators: equal to the batch functions bar by bar, snapshot/restore, validation."""
from __future__ import annotations

import io

import numpy as np
import pytest

from kernels import indicators as ind
from kernels.data import synthetic_panel, with_late_start
from kernels.indicators.stream import OUTPUTS, StreamConfig, StreamState, restore, seed, snapshot, update

FIELDS = ("high", "low", "close", "volume")
# Measured on this machine: 0 (bit-identical). The bound leaves room for a platform
# whose compiler contracts the Numba kernels' multiply-adds differently.
RTOL = 1e-12
SMALL = StreamConfig(
    ema_period=3, rsi_period=2, macd_fast=3, macd_slow=2, macd_signal=1,
    atr_period=1, sma_period=1, std_period=2, std_nbdev=2.0,
)


def _data() -> dict[str, np.ndarray]:
    """8 x 400 synthetic panel; symbol 2 starts at bar 50, symbol 5 at bar 160; a flat stretch."""
    panel = synthetic_panel(8, 400)
    panel = with_late_start(panel, {panel.symbols[2]: 50, panel.symbols[5]: 160})
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
    }


def _check(out: dict, batch: dict, t: np.ndarray | int, sym: np.ndarray) -> None:
    assert set(out) == set(OUTPUTS)
    for name in OUTPUTS:
        np.testing.assert_allclose(out[name], batch[name][t, sym], rtol=RTOL, atol=0, equal_nan=True, err_msg=name)


def _tick(d: dict, t: int | np.ndarray, sym: np.ndarray) -> dict:
    return {f: d[f][t, sym] for f in FIELDS}


def _stream(state: StreamState, d: dict, t0: int, t1: int, batch: dict | None = None) -> list:
    """Feed bars t0..t1-1 (each symbol once it has data); the outputs per bar."""
    outs = []
    for t in range(t0, t1):
        sym = np.flatnonzero(~np.isnan(d["close"][t]))
        out = update(state, sym, **_tick(d, t, sym))
        if batch is not None:
            _check(out, batch, t, sym)
        outs.append(out)
    return outs


# ------------------------------------------------------------------ batch parity
@pytest.mark.parametrize("cfg", [StreamConfig(), SMALL], ids=["default", "small"])
@pytest.mark.parametrize("k", [1, 40, 120])
def test_stream_equals_batch_every_bar(cfg: StreamConfig, k: int) -> None:
    d = _data()
    batch = _batch(d, cfg)
    state = StreamState.create(8, cfg)
    last = seed(state, {f: d[f][:k] for f in FIELDS})
    _check(last, batch, k - 1, np.arange(8))
    _stream(state, d, k, 400, batch)


def test_seed_whole_history_equals_last_row() -> None:
    d = _data()
    batch = _batch(d, StreamConfig())
    state = StreamState.create(8)
    _check(seed(state, d), batch, 399, np.arange(8))


def test_symbols_ticking_at_their_own_pace() -> None:
    """Each call updates a random subset; every symbol follows its own bar sequence."""
    d = _data()
    cfg = SMALL
    batch = _batch(d, cfg)
    state = StreamState.create(8, cfg)
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
            _check(update(state, sym, **_tick(d, t, sym)), batch, t, sym)
            nxt[sym] += 1


# ------------------------------------------------------------- snapshot / restore
def test_snapshot_restore_continues_exactly() -> None:
    d = _data()
    a = StreamState.create(8)
    seed(a, {f: d[f][:60] for f in FIELDS})
    _stream(a, d, 60, 190)
    snap = snapshot(a)
    assert all(isinstance(x, np.ndarray) and x.dtype != object for x in snap.values())
    buf = io.BytesIO()
    np.savez(buf, **snap)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as z:
        b = restore({k: z[k] for k in z.files})
    assert b.config == a.config
    rest_a = _stream(a, d, 190, 400)
    rest_b = _stream(b, d, 190, 400)
    for oa, ob in zip(rest_a, rest_b):
        for name in OUTPUTS:
            np.testing.assert_array_equal(oa[name], ob[name])
    for name in a.arrays:
        np.testing.assert_array_equal(a.arrays[name], b.arrays[name])


def test_snapshot_is_a_copy_and_restore_checks() -> None:
    state = StreamState.create(3, SMALL)
    snap = snapshot(state)
    update(state, [0, 2], high=[2.0, 3.0], low=[1.0, 2.0], close=[1.5, 2.5], volume=[10.0, 0.0])
    assert (snap["k_close"] == -1).all()
    assert restore(snap).config == SMALL
    with pytest.raises(ValueError, match="config.ema_period"):
        restore({k: v for k, v in snap.items() if k != "config.ema_period"})
    with pytest.raises(ValueError, match="lacks"):
        restore({k: v for k, v in snap.items() if k != "std_buf"})
    bad = dict(snap, sma_buf=np.zeros((3, 7)))
    with pytest.raises(ValueError, match="sma_buf"):
        restore(bad)


# --------------------------------------------------------------------- validation
def _ok() -> dict:
    return {"high": [2.0, 3.0], "low": [1.0, 2.0], "close": [1.5, 2.5], "volume": [10.0, 5.0]}


@pytest.mark.parametrize(
    "symbols, change, match",
    [
        ([0, 8], {}, "unknown symbol index 8"),
        ([-1, 0], {}, "unknown symbol index -1"),
        ([1, 1], {}, "more than once"),
        ([0.0, 1.0], {}, "integer"),
        ([[0, 1]], {}, "1-D"),
        ([0, 1], {"close": [np.nan, 1.0]}, "close has NaN or inf"),
        ([0, 1], {"high": [np.inf, 1.0]}, "high has NaN or inf"),
        ([0, 1], {"volume": [1.0, -np.inf]}, "volume has NaN or inf"),
        ([0, 1], {"open": [1.0, np.nan]}, "open has NaN or inf"),
        ([0, 1], {"low": [1.0]}, "low has shape"),
    ],
)
def test_bad_ticks_raise_and_leave_state_unchanged(symbols, change, match) -> None:
    state = StreamState.create(8, SMALL)
    seed(state, {f: v[:20] for f, v in _data().items()})
    before = snapshot(state)
    with pytest.raises(ValueError, match=match):
        update(state, symbols, **{**_ok(), **change})
    after = snapshot(state)
    for name in before:
        np.testing.assert_array_equal(before[name], after[name])


def test_config_and_seed_validation() -> None:
    with pytest.raises(ValueError, match="rsi_period"):
        StreamConfig(rsi_period=1)
    with pytest.raises(ValueError, match="std_nbdev"):
        StreamConfig(std_nbdev=float("nan"))
    with pytest.raises(ValueError, match="n_symbols"):
        StreamState.create(0)
    state = StreamState.create(8)
    d = _data()
    with pytest.raises(ValueError, match="no field 'volume'"):
        seed(state, {f: d[f] for f in ("high", "low", "close")})
    with pytest.raises(ValueError, match=r"close must be \(T, 8\)"):
        seed(state, {**d, "close": d["close"][:, :3]})


def test_empty_tick_batch() -> None:
    state = StreamState.create(2)
    out = update(state, np.array([], dtype=np.int64), high=[], low=[], close=[], volume=[])
    assert all(o.shape == (0,) for o in out.values())


# ----------------------------------------------------------- rolling std re-anchoring
def test_var_rebuild_matches_cpu_kernel() -> None:
    """The vectorised rebuild equals cpu.var_rebuild_nb, including its flat-window re-anchor."""
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


def test_near_flat_large_offset_stream() -> None:
    """Tiny moves on a 1e9 level (rebuilds triggered by the 1e-6 peak rule) stay equal."""
    rng = np.random.default_rng(2)
    c = 1e9 + np.cumsum(rng.standard_normal((300, 4)) * 1e-6, 0)
    c[100:150] = 1e9
    d = {"high": c + 1.0, "low": c - 1.0, "close": c, "volume": np.ones_like(c)}
    cfg = StreamConfig(std_period=7)
    want = ind.rolling_std(c, 7, 1.0)
    state = StreamState.create(4, cfg)
    seed(state, {f: d[f][:10] for f in FIELDS})
    for t in range(10, 300):
        out = update(state, np.arange(4), **_tick(d, t, np.arange(4)))
        np.testing.assert_array_equal(out["rolling_std"], want[t])
