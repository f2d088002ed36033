"""The drop-in API: pandas round trips, validation, and the GPU backend against TA-Lib (GPU rows skip here)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kernels.indicators import talib as ta
from kernels.indicators.talib.gpu import GPU_FUNCTIONS
from kernels.indicators.talib.table import FUNCTIONS
from tests.kernels.indicators.talib.oracle import inputs_for, panel_data, reference, varied_params

DATA = panel_data(n_bars=300, n_assets=3)


def _frame(a: np.ndarray) -> pd.DataFrame:
    idx = pd.date_range("2020-01-01", periods=a.shape[0], freq="B", name="time")
    return pd.DataFrame(a, index=idx, columns=pd.Index(["AAA", "BBB", "CCC"], name="symbol"))


@pytest.mark.parametrize("name", ["RSI", "BBANDS", "ADX", "CDLDOJI", "MAXINDEX", "SMA"])
def test_pandas_round_trip_keeps_index_and_columns(name: str) -> None:
    fd = FUNCTIONS[name]
    if name == "CDLDOJI":
        pytest.skip("candlestick patterns have no kernel yet")
    arrays = inputs_for(fd, DATA)
    frames = [_frame(a) for a in arrays]
    got = getattr(ta, name)(*frames)
    want = getattr(ta, name)(*arrays)
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    for g, w in zip(got, want):
        assert isinstance(g, pd.DataFrame)
        pd.testing.assert_index_equal(g.index, frames[0].index)
        pd.testing.assert_index_equal(g.columns, frames[0].columns)
        np.testing.assert_array_equal(g.to_numpy(), w)
    # a Series in gives a Series with the same index and name
    s = [f["BBB"] for f in frames]
    r = getattr(ta, name)(*s)
    r = r[0] if isinstance(r, tuple) else r
    assert isinstance(r, pd.Series) and r.index.equals(frames[0].index) and r.name == "BBB"


def test_multi_output_is_a_named_tuple_with_talib_names() -> None:
    bb = ta.BBANDS(DATA["close"][:, 0], timeperiod=10)
    assert type(bb).__name__ == "BBANDSResult"
    assert bb._fields == ("upperband", "middleband", "lowerband")


def test_float32_in_float32_out_and_1d() -> None:
    x = DATA["close"][:, 0].astype(np.float32)
    r = ta.EMA(x, timeperiod=10)
    assert r.dtype == np.float32 and r.shape == x.shape


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ta.RSI(DATA["close"], timeperiod=1), "timeperiod must be in"),
        (lambda: ta.RSI(DATA["close"], timeperiod=2.5), "timeperiod must be an integer"),
        (lambda: ta.BBANDS(DATA["close"], nbdevup=float("nan")), "nbdevup must be a finite"),
        (lambda: ta.MA(DATA["close"], matype=14), "matype must be in"),
        (lambda: ta.ATR(DATA["high"], DATA["low"][:10], DATA["close"]), "low has shape"),
        (lambda: ta.call("SMA", [DATA["close"]], {"period": 3}), "unknown parameter"),
    ],
)
def test_validation_names_the_problem(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.gpu
@pytest.mark.parametrize("name", GPU_FUNCTIONS)
def test_gpu_matches_talib(name: str) -> None:
    import cupy

    fd = FUNCTIONS[name]
    late = {k: v.copy() for k, v in DATA.items()}
    for v in late.values():
        v[:40, 1] = np.nan
    for params in (fd.defaults, varied_params(fd)):
        if name == "MA":  # APO / PPO with other matypes fall back to the column kernels (cuda/include/po.cuh)
            params = dict(params, matype=1)
        arrays = inputs_for(fd, late)
        got = getattr(ta, name)(*[cupy.asarray(a) for a in arrays], **params)
        got = got if isinstance(got, tuple) else (got,)
        want = reference(fd, arrays, params)
        for g, w in zip(got, want):
            np.testing.assert_allclose(cupy.asnumpy(g), w, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=name)


@pytest.mark.gpu
def test_gpu_refuses_functions_without_a_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    import cupy

    from kernels.indicators.talib import gpu_columns
    from kernels.indicators.talib.gpu import GpuNotAvailable

    # CDLDOJI has a column kernel (cuda/pattern.cu); without it the GPU backend must refuse, not fall back
    full = gpu_columns.registry()
    assert "CDLDOJI" in full
    monkeypatch.setattr(gpu_columns, "registry", lambda: {k: v for k, v in full.items() if k != "CDLDOJI"})
    with pytest.raises(GpuNotAvailable, match="CDLDOJI"):
        ta.CDLDOJI(*[cupy.asarray(DATA[k]) for k in ("open", "high", "low", "close")])


def test_every_talib_function_has_a_gpu_form() -> None:
    import talib

    missing = [n for n in talib.get_functions() if n not in GPU_FUNCTIONS]
    assert not missing, f"{len(missing)} TA-Lib functions have no GPU form: {missing}"


def test_warm_up_and_the_function_list() -> None:
    import talib

    ta.warm_up()
    assert ta.get_functions() == list(talib.get_functions())
    assert sum(len(v) for v in ta.get_function_groups().values()) == 201
