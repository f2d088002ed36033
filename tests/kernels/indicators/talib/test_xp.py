"""The shared xp (NumPy / CuPy) implementations, run with NumPy, against TA-Lib (late starts included)."""
from __future__ import annotations

import numpy as np
import pytest

from kernels.indicators.talib import xp
from kernels.indicators.talib.table import FUNCTIONS
from tests.kernels.indicators.talib.oracle import inputs_for, panel_data, reference, varied_params

DATA = panel_data(n_bars=200, n_assets=3)
for _v in DATA.values():
    _v[:30, 2] = np.nan


@pytest.mark.parametrize("name", sorted(xp.FUNCS))
def test_xp_with_numpy_matches_talib(name: str) -> None:
    fd = FUNCTIONS[name]
    for params in (fd.defaults, varied_params(fd)):
        arrays = inputs_for(fd, DATA)
        got = xp.run(np, name, [np.ascontiguousarray(a) for a in arrays], params)
        for g, w in zip(got, reference(fd, arrays, params)):
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=name)


class _CpuPrimitives:
    """The CPU kernels as the primitives of kernels.indicators.talib.compose (the GPU uses CUDA ones)."""

    xp = np

    @staticmethod
    def ema(x, p):
        from kernels.indicators import talib as ta

        return ta.EMA(x, timeperiod=p)

    @staticmethod
    def sma(x, p):
        from kernels.indicators import talib as ta

        return ta.SMA(x, timeperiod=p)

    @staticmethod
    def atr(h, lo, c, p):
        from kernels.indicators import talib as ta

        return ta.ATR(h, lo, c, timeperiod=p)


@pytest.mark.parametrize("name", sorted(__import__("kernels.indicators.talib.compose", fromlist=["FUNCS"]).FUNCS))
def test_compositions_match_talib(name: str) -> None:
    from kernels.indicators.talib import compose

    fd = FUNCTIONS[name]
    for params in (fd.defaults, varied_params(fd), {**fd.defaults, **({"matype": 0} if "matype" in fd.defaults else {})}):
        if not compose.supported(name, params):
            continue
        arrays = [np.ascontiguousarray(a) for a in inputs_for(fd, DATA)]
        with np.errstate(all="ignore"):
            got = compose.FUNCS[name](_CpuPrimitives, *arrays, **params)
        for g, w in zip(got, reference(fd, arrays, params)):
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=f"{name} {params}")
