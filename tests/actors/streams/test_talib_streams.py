"""TA-Lib functions by name in the service's streams (kernels.indicators.talib.stream.FunctionSet,
StreamSpec.functions): every form -- O(1) streaming, carried cumulative, bounded recompute window --
equals the batch function over the history and every tick since; snapshots continue exactly;
bad names and parameters are StreamErrors naming the field. Also the worker's TA-Lib prewarm."""
from __future__ import annotations

import numpy as np
import pytest

from actors.settings import StreamsConfig
from actors.streams.registry import StreamError, StreamRegistry, StreamSpec, TickBatch
from actors.workers.worker import Worker
from kernels.data import synthetic_panel
from kernels.indicators import talib as ta
from kernels.indicators.talib.stream import FunctionSet, function_specs, stream_mode
from kernels.indicators.talib.table import FUNCTIONS

N, T, SEED = 4, 260, 200
FIELD = {"real": "close", "real0": "high", "real1": "low"}
# one per form and kind: O(1) (single and multi-output), carried, windowed (fixed window, recursive,
# a pattern, a multi-output one, an index one, one on another input field)
NAMES = ["RSI", "STOCH", "ADX", "CUMSUM", "NVI", "VWAP", "SMA", "MACD", "CDLENGULFING", "BBANDS", "MINMAXINDEX",
         "HT_DCPERIOD", "AROON"]


@pytest.fixture(scope="module")
def panel():
    return synthetic_panel(N, T, seed=3)


def batch_last(panel, name: str, params: dict, stop: int) -> list[np.ndarray]:
    """The batch function over bars 0..stop-1 of every symbol: its row stop-1, per output."""
    fd = FUNCTIONS[name]
    res = ta.call(name, [getattr(panel, FIELD.get(i, i))[:stop] for i in fd.inputs], params)
    res = res if isinstance(res, tuple) else (res,)
    return [np.asarray(r, dtype=np.float64)[stop - 1] for r in res]


@pytest.fixture
def one_thread():
    """The many small batch calls of the oracle on the calling thread (no thread-pool launch each)."""
    import numba

    n = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(n)


def test_every_form_equals_the_batch_function(one_thread):
    """A history longer than every window (so the windowed functions drop bars), ticks that reach only
    some symbols, a snapshot/restore in the middle."""
    long = synthetic_panel(N, 1560, seed=4)
    seed_bars = 1500
    specs = function_specs([*NAMES, {"name": "EMA", "params": {"timeperiod": 10}, "input": "high"}])
    assert {stream_mode(n) for n, *_ in specs} == {"o1", "carry", "window"}
    fs = FunctionSet(specs, N, window=64)
    assert max(e.get("w", 0) for e in fs.entries) < seed_bars
    fs.seed({f: getattr(long, f)[:seed_bars] for f in fs.fields})
    seen = [list(range(seed_bars)) for _ in range(N)]
    for t in range(seed_bars, long.n_bars):
        rows = np.array([3, 1]) if t % 3 == 0 else np.arange(N)
        out = fs.update(rows, {f: getattr(long, f)[t, rows] for f in fs.fields})
        for s in rows:
            seen[s].append(t)
        if t == seed_bars + 20:
            fs = FunctionSet.restore(fs.snapshot())  # a restored set continues exactly
        if t not in (seed_bars + 1, seed_bars + 21, seed_bars + 45, long.n_bars - 1):
            continue
        for name, params, field, label in specs:
            fd = FUNCTIONS[name]
            for r, s in enumerate(rows):
                bars = np.array(seen[s])
                arrays = [getattr(long, field if (field and i == "real") else FIELD.get(i, i))[bars, s]
                          for i in fd.inputs]
                want = ta.call(name, arrays, dict(params))
                want = want if isinstance(want, tuple) else (want,)
                for k, o in enumerate(fd.outputs):
                    got = out[f"{label}.{o}" if len(fd.outputs) > 1 else label][r]
                    np.testing.assert_allclose(got, float(want[k][-1]), rtol=1e-9, atol=1e-9,
                                               err_msg=f"{label}.{o} at bar {t}, symbol {s}")
    assert all(np.isfinite(v).all() for k, v in out.items() if not k.startswith("CDL"))


def ticks(panel, t: int, cols=None, **override) -> TickBatch:
    cols = list(range(N)) if cols is None else cols
    cols_map = {f: [float(getattr(panel, f)[t, j]) for j in cols] for f in ("open", "high", "low", "close", "volume")}
    cols_map.update(override)
    return TickBatch.from_columns({"symbol": [panel.symbols[j] for j in cols],
                                   "time": [int(panel.index[t].astype("datetime64[ns]").astype(np.int64))] * len(cols),
                                   **cols_map})


def test_registry_streams_functions_with_snapshots_and_the_seed_cache(panel, one_thread):
    history = panel.select(stop=SEED)
    reg = StreamRegistry(StreamsConfig(seed_cache=4, talib_window=64))
    fns = ["RSI", {"name": "BBANDS", "params": {"timeperiod": 20}}, {"name": "CDLDOJI", "label": "doji"}]
    st = reg.open(StreamSpec.build("a", "synthetic", "v1", functions=fns), history)
    assert st["outputs"] == ["RSI", "BBANDS_20.upperband", "BBANDS_20.middleband", "BBANDS_20.lowerband", "doji"]
    reg.open(StreamSpec.build("b", "synthetic", "v1", functions=fns, outputs=["ema"]), history)  # from the seed cache
    assert reg.counts["seed_hits"] == 1
    for t in range(SEED, SEED + 6):
        a = reg.push("a", ticks(panel, t), want_snapshot=(t == SEED + 2)).features
        b = reg.push("b", ticks(panel, t)).features
        assert set(a) == {"RSI", "BBANDS_20.upperband", "BBANDS_20.middleband", "BBANDS_20.lowerband", "doji"}
        assert set(b) == set(a) | {"ema"}
        np.testing.assert_allclose(a["RSI"], batch_last(panel, "RSI", {}, t + 1)[0], rtol=1e-9)
        up = batch_last(panel, "BBANDS", {"timeperiod": 20}, t + 1)[0]
        np.testing.assert_allclose(a["BBANDS_20.upperband"], up, rtol=1e-9)
        np.testing.assert_array_equal(a["doji"], batch_last(panel, "CDLDOJI", {}, t + 1)[0])
        np.testing.assert_array_equal(a["RSI"], b["RSI"])
        if t == SEED + 2:
            snap = reg.snapshot("a")
    # a restored stream (another worker) continues from the snapshot exactly
    other = StreamRegistry(StreamsConfig(seed_cache=0, talib_window=64))
    other.restore(snap)
    for t in range(SEED + 3, SEED + 6):
        got = other.push("a", ticks(panel, t)).features
        np.testing.assert_allclose(got["BBANDS_20.lowerband"], batch_last(panel, "BBANDS", {"timeperiod": 20}, t + 1)[2],
                                   rtol=1e-9)
    # the functions read open: a tick without it is refused, naming the field
    with pytest.raises(StreamError, match="open must be a positive number"):
        reg.push("a", ticks(panel, SEED + 6, open=[float("nan")] * N))


@pytest.mark.parametrize("functions, match", [
    (["NOPE"], "functions: unknown TA-Lib function 'NOPE'"),
    ([{"name": "RSI", "params": {"timeperiod": 1}}], "functions: RSI: timeperiod must be in"),
    ([{"name": "RSI", "params": {"period": 5}}], r"functions: RSI: unknown parameter\(s\) \['period'\]"),
    (["MAVP"], "functions: MAVP needs a 'periods' array"),
    ([{"name": "ADX", "input": "high"}], "functions: ADX: 'input' picks"),
    (["RSI", "RSI"], "functions: output 'RSI' is given twice"),
])
def test_bad_function_specs_are_stream_errors_naming_the_field(functions, match):
    with pytest.raises(StreamError, match=match):
        StreamSpec.build("x", "synthetic", "v1", functions=functions)


def test_worker_prewarm_warms_the_talib_kernels():
    w = Worker("w-talib", "cpu", streams=StreamsConfig(talib_prewarm="cpu"))
    out = w._warm_talib("cpu")
    assert out["errors"] == {} and out["cpu_s"] >= 0 and "gpu_s" not in out  # no GPU here
    assert w._warm_talib("off") == {"mode": "off", "errors": {}}
    with pytest.raises(ValueError, match="talib_prewarm"):
        StreamsConfig(talib_prewarm="some")


@pytest.mark.gpu
def test_gpu_registry_streams_functions_from_a_device_panel(panel):
    """A GPU worker's registry: the dataset in device memory (CuPy), the functions' state on the host;
    same numbers, and the snapshot continues on a host registry."""
    import cupy  # noqa: PLC0415

    history = panel.select(stop=SEED)
    reg = StreamRegistry(StreamsConfig(seed_cache=0, talib_window=64), xp=cupy)
    reg.open(StreamSpec.build("g", "synthetic", "v1", functions=["ADX", "CDLENGULFING", "MACD"]), history.to("gpu"))
    for t in range(SEED, SEED + 3):
        got = reg.push("g", ticks(panel, t)).features
        np.testing.assert_allclose(got["ADX"], batch_last(panel, "ADX", {}, t + 1)[0], rtol=1e-9)
        np.testing.assert_allclose(got["MACD.macdsignal"], batch_last(panel, "MACD", {}, t + 1)[1], rtol=1e-9)
        np.testing.assert_array_equal(got["CDLENGULFING"], batch_last(panel, "CDLENGULFING", {}, t + 1)[0])
    host = StreamRegistry(StreamsConfig(seed_cache=0, talib_window=64))
    host.restore(reg.snapshot("g"))
    got = host.push("g", ticks(panel, SEED + 3)).features
    np.testing.assert_allclose(got["ADX"], batch_last(panel, "ADX", {}, SEED + 4)[0], rtol=1e-9)


@pytest.mark.gpu
def test_gpu_worker_prewarm_compiles_the_cuda_column_modules():
    w = Worker("g-talib", "gpu", streams=StreamsConfig(talib_prewarm="full"))
    w.init_device()
    try:
        out = w._warm_talib("full")
        print("TA-Lib prewarm on the GPU worker:", out)
        assert out["errors"] == {} and out["cpu_s"] >= 0 and out["gpu_s"] >= 0
    finally:
        w.shutdown()


def test_carried_and_windowed_functions_skip_bars_missing_in_the_history(one_thread):
    """The seed history's last bars missing for a symbol (a halt): the next tick continues from its last
    valid bar, as the batch function with nan_policy "skip"."""
    hist = synthetic_panel(2, 120, seed=9)
    arrays = {f: np.array(getattr(hist, f), copy=True) for f in ("open", "high", "low", "close", "volume")}
    for a in arrays.values():
        a[95:100, 0] = np.nan  # symbol 0 misses the history's last five bars
    specs = function_specs(["CUMSUM", "PVT", "NVI", "VWAP", "RSI", "SMA"])
    fs = FunctionSet(specs, 2, window=64)
    fs.seed({f: arrays[f][:100] for f in fs.fields})
    out = fs.update(np.arange(2), {f: arrays[f][100] for f in fs.fields})
    for name, params, _, label in specs:
        fd = FUNCTIONS[name]
        want = ta.call(name, [arrays[FIELD.get(i, i)][:101] for i in fd.inputs], dict(params))
        np.testing.assert_allclose(out[label], np.asarray(want, dtype=np.float64)[100], rtol=1e-9, err_msg=label)


@pytest.mark.parametrize("name", ["STOCHRSI", "STOCHF", "STOCH"])
def test_stochastics_on_a_nearly_flat_series_equal_the_batch_bit_for_bit(name, one_thread):
    """Steps of 1e-9 on 100: fast %K turns the RSI's (or the prices') last bits into whole points, so the
    stream needs the batch's RSI rounding and its flat-window rule (0 where HH - LL <= 1e-14 (|HH| + |LL|))."""
    rng = np.random.default_rng(7)
    close = 100.0 + np.cumsum(rng.standard_normal((200, 3)) * 1e-9, axis=0)
    fields = {"close": close, "high": close + 1e-9 * rng.random((200, 3)), "low": close - 1e-9 * rng.random((200, 3))}
    fd = FUNCTIONS[name]
    fs = FunctionSet(function_specs([name]), 3, window=64)
    seed = 60
    fs.seed({f: v[:seed] for f, v in fields.items() if f in fs.fields})
    for t in range(seed, 200):
        out = fs.update(np.arange(3), {f: v[t] for f, v in fields.items() if f in fs.fields})
        for s in range(3):
            want = ta.call(name, [fields[FIELD.get(i, i)][: t + 1, s] for i in fd.inputs], {})
            for k, o in enumerate(fd.outputs):
                np.testing.assert_array_equal(out[f"{name}.{o}"][s], want[k][-1], err_msg=f"{name}.{o} bar {t}")
