"""The worker's stream registry (Ray-free): batch parity, rejected batches, snapshots, eviction."""
from __future__ import annotations

import numpy as np
import pytest

from actors.settings import StreamsConfig
from actors.streams.registry import (
    StreamError,
    StreamLimitReached,
    StreamNotFound,
    StreamRegistry,
    StreamSpec,
    TickBatch,
    parse_times,
)
from kernels import indicators as ind
from kernels.data import synthetic_panel
from kernels.indicators.stream import OUTPUTS, StreamConfig

N, T, SEED_BARS = 6, 260, 200
CFG = StreamConfig(ema_period=10, sma_period=8, std_period=5)


@pytest.fixture(scope="module")
def panel():
    return synthetic_panel(N, T, seed=3)


@pytest.fixture(scope="module")
def batch(panel):
    c, h, lo, v = panel.close, panel.high, panel.low, panel.volume
    m, s, hist = ind.macd(c, CFG.macd_fast, CFG.macd_slow, CFG.macd_signal)
    return {"ema": ind.ema(c, CFG.ema_period), "rsi": ind.rsi(c, CFG.rsi_period), "macd": m, "macdsignal": s,
            "macdhist": hist, "atr": ind.atr(h, lo, c, CFG.atr_period), "obv": ind.obv(c, v),
            "sma": ind.sma(c, CFG.sma_period), "rolling_std": ind.rolling_std(c, CFG.std_period, CFG.std_nbdev),
            "roc": ind.roc(c, CFG.roc_period)}


def history(panel):
    return panel.select(stop=SEED_BARS)


def spec(stream_id="s1", symbols=None, **kw) -> StreamSpec:
    config = {"ema_period": CFG.ema_period, "sma_period": CFG.sma_period, "std_period": CFG.std_period}
    return StreamSpec.build(stream_id, "synthetic", "v1", symbols, config, **kw)


def ticks(panel, bars, cols=None, order=None) -> TickBatch:
    """Ticks of bars x symbols (cols: symbol positions), rows in `order` (a permutation) if given."""
    cols = list(range(N)) if cols is None else list(cols)
    rows = [(t, j) for t in bars for j in cols]
    if order is not None:
        rows = [rows[i] for i in order]
    return TickBatch.from_columns({
        "symbol": [panel.symbols[j] for _, j in rows],
        "time": [int(panel.index[t].astype("datetime64[ns]").astype(np.int64)) for t, _ in rows],
        **{f: [float(getattr(panel, f)[t, j]) for t, j in rows] for f in ("open", "high", "low", "close", "volume")},
    })


def check(result, batch, bars, cols=None, order=None):
    cols = list(range(N)) if cols is None else list(cols)
    rows = [(t, j) for t in bars for j in cols]
    if order is not None:
        rows = [rows[i] for i in order]
    assert set(result.features) <= set(OUTPUTS)
    for name in set(result.features) & set(batch):
        want = np.array([batch[name][t, j] for t, j in rows])
        np.testing.assert_allclose(result.features[name], want, rtol=1e-12, atol=0, equal_nan=True, err_msg=name)


def test_stream_equals_batch_indicators(panel, batch):
    reg = StreamRegistry()
    status = reg.open(spec(), history(panel))
    assert status["symbols"] == list(panel.symbols) and status["batches"] == 0
    for t in range(SEED_BARS, SEED_BARS + 20):
        check(reg.push("s1", ticks(panel, [t])), batch, [t])
    # several ticks of a symbol in one batch, rows shuffled: applied in time order per symbol
    order = np.random.default_rng(0).permutation(3 * N)
    res = reg.push("s1", ticks(panel, [220, 221, 222], order=order))
    assert res.sub_batches == 3
    check(res, batch, [220, 221, 222], order=order)
    # a subset of symbols per batch
    check(reg.push("s1", ticks(panel, [223], cols=[1, 4])), batch, [223], cols=[1, 4])
    check(reg.push("s1", ticks(panel, [223], cols=[0, 2, 3, 5])), batch, [223], cols=[0, 2, 3, 5])
    assert reg.status("s1")["ticks"] == 20 * N + 3 * N + N


def test_symbol_subset_and_history_window(panel):
    reg = StreamRegistry()
    syms = [panel.symbols[4], panel.symbols[1]]
    reg.open(spec("sub", syms), history(panel))
    res = reg.push("sub", ticks(panel, [SEED_BARS], cols=[1, 4]))
    want = ind.rsi(panel.close[: SEED_BARS + 1, [1, 4]], CFG.rsi_period)[-1]
    np.testing.assert_allclose(res.features["rsi"], want, rtol=1e-12)
    reg.open(spec("short", history=50, outputs=["ema"]), history(panel))
    res = reg.push("short", ticks(panel, [SEED_BARS]))
    assert set(res.features) == {"ema"}
    want = ind.ema(panel.close[SEED_BARS - 50: SEED_BARS + 1], CFG.ema_period)[-1]
    np.testing.assert_allclose(res.features["ema"], want, rtol=1e-12)


@pytest.mark.parametrize("case", ["unknown", "stale", "equal_time", "duplicate", "nan"])
def test_rejected_batches_leave_state_unchanged(panel, batch, case):
    reg = StreamRegistry()
    reg.open(spec(), history(panel))
    reg.open(spec("other"), history(panel))
    good = ticks(panel, [SEED_BARS])
    reg.push("s1", good)
    before = reg.snapshot("s1")
    nxt = ticks(panel, [SEED_BARS + 1, SEED_BARS + 2])
    cols = {f: list(getattr(nxt, f)) for f in ("time", "open", "high", "low", "close", "volume")}
    cols["symbol"] = list(nxt.symbol)
    needle = {"unknown": "unknown symbol", "stale": "out-of-order", "equal_time": "duplicate tick",  # issue 12
              "duplicate": "duplicate tick", "nan": "not a finite number"}[case]
    if case == "unknown":
        cols["symbol"][7] = "NOPE"
    elif case == "stale":
        cols["time"][9] = int(good.time[3]) - 1
    elif case == "equal_time":
        cols["time"][9] = int(good.time[3])
    elif case == "duplicate":
        cols["time"][N + 2] = cols["time"][2]  # symbol 2 twice at bar SEED_BARS + 1
    else:
        cols["close"][5] = float("nan")
    with pytest.raises(StreamError, match=needle) as err:
        reg.push("s1", TickBatch.from_columns(cols))
    assert "row" in str(err.value)
    after = reg.snapshot("s1")
    assert after.batches == before.batches
    np.testing.assert_array_equal(after.last_time, before.last_time)
    for name, arr in before.arrays.items():
        np.testing.assert_array_equal(after.arrays[name], arr, err_msg=name)
    # the stream (and the other one) go on as if the bad batch had never been sent
    check(reg.push("s1", nxt), batch, [SEED_BARS + 1, SEED_BARS + 2])
    check(reg.push("other", ticks(panel, [SEED_BARS])), batch, [SEED_BARS])
    assert reg.stats()["rejected"] == 1


def test_snapshot_restore_continues_without_drift(panel, batch):
    reg = StreamRegistry()
    reg.open(spec(), history(panel))
    reg.push("s1", ticks(panel, [SEED_BARS, SEED_BARS + 1]))
    snap = reg.push("s1", ticks(panel, [SEED_BARS + 2]), want_snapshot=True).snapshot
    assert snap is not None and snap.batches == 2 and snap.nbytes > 0
    other = StreamRegistry()  # another worker
    assert other.restore(snap)["batches"] == 2
    for t in range(SEED_BARS + 3, SEED_BARS + 10):
        a, b = reg.push("s1", ticks(panel, [t])), other.push("s1", ticks(panel, [t]))
        check(b, batch, [t])
        for name in OUTPUTS:
            np.testing.assert_array_equal(a.features[name], b.features[name])
    with pytest.raises(StreamError, match="out-of-order"):  # the last times came along
        other.push("s1", ticks(panel, [SEED_BARS + 5]))


def test_seed_cache_gives_the_same_state(panel, batch):
    reg = StreamRegistry(StreamsConfig(seed_cache=2))
    reg.open(spec("a"), history(panel))
    reg.open(spec("b"), history(panel))
    assert reg.stats()["seed_hits"] == 1
    check(reg.push("b", ticks(panel, [SEED_BARS])), batch, [SEED_BARS])
    check(reg.push("a", ticks(panel, [SEED_BARS])), batch, [SEED_BARS])


def test_close_idle_eviction_and_limit(panel):
    now = [0.0]
    reg = StreamRegistry(StreamsConfig(max_streams=2, idle_timeout_s=10, evict_interval_s=1), clock=lambda: now[0])
    reg.open(spec("a"), history(panel))
    reg.open(spec("b"), history(panel))
    with pytest.raises(StreamLimitReached):
        reg.open(spec("c"), history(panel))
    now[0] = 8.0
    reg.push("a", ticks(panel, [SEED_BARS]))
    now[0] = 12.0  # b idle for 12 s, a for 4 s
    reg.open(spec("c"), history(panel))  # makes room by evicting b
    assert "b" not in reg and "a" in reg and "c" in reg
    with pytest.raises(StreamNotFound):
        reg.push("b", ticks(panel, [SEED_BARS]))
    assert reg.close("a")["closed"] and "a" not in reg
    with pytest.raises(StreamNotFound):
        reg.close("a")
    now[0] = 30.0
    with pytest.raises(StreamNotFound):
        reg.push("c", ticks(panel, [SEED_BARS]))
    assert reg.stats()["evicted"] == 2 and len(reg) == 0


def test_fault_mid_batch_drops_the_stream(panel):
    calls = {"n": 0}

    def faulty(fn, *args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("CUDA error (injected)")
        return fn(*args)

    reg = StreamRegistry(StreamsConfig(seed_cache=0), run=faulty)
    reg.open(spec(), history(panel))  # call 1
    reg.push("s1", ticks(panel, [SEED_BARS]))  # call 2
    with pytest.raises(RuntimeError):
        reg.push("s1", ticks(panel, [SEED_BARS + 1]))
    assert "s1" not in reg and reg.stats()["dropped"] == 1


def test_tick_parsing_errors_name_the_problem():
    with pytest.raises(StreamError, match="missing columns"):
        TickBatch.from_columns({"symbol": ["A"], "time": [1]})
    with pytest.raises(StreamError, match="close has 1 values but symbol has 2"):
        TickBatch.from_columns({"symbol": ["A", "B"], "time": [1, 2], "high": [1, 1], "low": [1, 1], "close": [1],
                                "volume": [1, 1]})
    with pytest.raises(StreamError, match=r"row 1: 'x'"):
        TickBatch.from_columns({"symbol": ["A", "B"], "time": [1, 2], "high": [1, "x"], "low": [1, 1],
                                "close": [1, 1], "volume": [1, 1]})
    with pytest.raises(StreamError, match="row 0: missing field 'close'"):
        TickBatch.from_rows([{"symbol": "A", "time": 1, "high": 1, "low": 1, "volume": 1}])
    rows = TickBatch.from_rows([{"symbol": "A", "time": "2024-01-02T10:00:00Z", "open": 1, "high": 2, "low": 0.5,
                                 "close": 1.5, "volume": 10}])
    assert rows.time[0] == np.datetime64("2024-01-02T10:00:00", "ns").astype(np.int64)
    np.testing.assert_array_equal(parse_times([1, 2], "ms", 2), [1_000_000, 2_000_000])
    with pytest.raises(StreamError, match="time_unit"):
        parse_times([1], "h", 1)


@pytest.mark.gpu
def test_gpu_registry_equals_batch_and_moves_to_the_cpu(panel, batch):
    """State in device memory (CuPy): same numbers; its snapshot continues on a host registry."""
    import cupy  # noqa: PLC0415

    reg = StreamRegistry(xp=cupy)
    reg.open(spec(), history(panel).to("gpu"))  # the realtime path's preloaded copy
    assert reg._get("s1").state.on_gpu
    for t in range(SEED_BARS, SEED_BARS + 5):
        check(reg.push("s1", ticks(panel, [t])), batch, [t])
    order = np.random.default_rng(1).permutation(2 * N)
    check(reg.push("s1", ticks(panel, [SEED_BARS + 5, SEED_BARS + 6], order=order)), batch,
          [SEED_BARS + 5, SEED_BARS + 6], order=order)
    host = StreamRegistry()
    host.restore(reg.snapshot("s1"))
    for t in range(SEED_BARS + 7, SEED_BARS + 10):
        check(host.push("s1", ticks(panel, [t])), batch, [t])
        check(reg.push("s1", ticks(panel, [t])), batch, [t])
