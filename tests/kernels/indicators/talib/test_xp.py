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


def test_bar_local_functions_read_only_their_bar() -> None:
    # a NaN at one bar changes a BAR_LOCAL output at that bar only; a LAGGED one's at a later bar too
    for name in sorted(xp.FUNCS):
        fd = FUNCTIONS[name]
        arrays = [np.ascontiguousarray(a) for a in inputs_for(fd, panel_data(n_bars=60, n_assets=2))]
        before = xp.run(np, name, arrays, fd.defaults)[0]
        holed = [a.copy() for a in arrays]
        for a in holed:
            a[30, 0] = np.nan
        after = xp.run(np, name, holed, fd.defaults)[0]
        changed = set(np.flatnonzero(np.isnan(after[:, 0]) != np.isnan(before[:, 0])))
        assert (changed == {30}) == (name in xp.BAR_LOCAL), (name, changed)


def test_lagged_functions_have_time_segmented_column_kernels() -> None:
    from kernels.indicators.talib import gpu_columns, time_split  # noqa: PLC0415

    for name in xp.LAGGED:
        assert name in gpu_columns.registry() and name in time_split.WINDOW


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(xp.BAR_LOCAL))
def test_fused_gpu_kernel_equals_the_unfused_expression(name: str) -> None:
    import cupy  # noqa: PLC0415

    fd = FUNCTIONS[name]
    arrays = [cupy.asarray(a) for a in inputs_for(fd, DATA)]
    got = cupy.asnumpy(xp.fused(name)(*arrays))
    want = cupy.asnumpy(xp.FUNCS[name](cupy, *arrays)[0])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=name)
