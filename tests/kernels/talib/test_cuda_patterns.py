"""The candlestick pattern column kernels (kernels/indicators/talib/cuda/pattern.cu, host build) against TA-Lib
where test_cuda_columns.py does not look: columns of every length from 1 to 40 bars (the lookback edge, the
warm-up bars CDLHIKKAKE / CDLHIKKAKEMOD scan before it, a last register batch of any size) and interior
NaN bars (what nan_policy="propagate" hands the kernels: TA-Lib's own treatment of them)."""
from __future__ import annotations

import numpy as np
import pytest

from kernels.indicators.talib.cpu.pattern import NAMES
from kernels.indicators.talib.table import FUNCTIONS
from tests.kernels.talib import cuda_host
from tests.kernels.talib.oracle import candle_data, inputs_for, reference, varied_params

pytestmark = pytest.mark.skipif(cuda_host.CXX is None, reason="g++ is not installed")


def _short_columns() -> dict[str, np.ndarray]:
    d = candle_data(n_bars=40, n_assets=40, seed=5)
    for j in range(40):
        for v in d.values():
            v[:j, j] = np.nan  # column j has 40 - j bars
    return d


def _gappy() -> dict[str, np.ndarray]:
    d = candle_data(n_bars=600, n_assets=6, seed=7)
    rng = np.random.default_rng(1)
    for v in d.values():
        v[rng.integers(20, 600, 25), rng.integers(0, 6, 25)] = np.nan
    return d


DATASETS = {"short columns": _short_columns(), "interior NaN": _gappy()}


@pytest.mark.parametrize("name", NAMES)
def test_pattern_kernel_matches_talib_on_short_and_gappy_columns(name: str) -> None:
    fd = FUNCTIONS[name]
    for label, data in DATASETS.items():
        arrays = inputs_for(fd, data)
        for params in (fd.defaults, varied_params(fd)) if fd.params else (fd.defaults,):
            got = cuda_host.run(name, arrays, params, 1)[0]
            got = np.where(np.isnan(got), 0, got).astype(np.int32)
            np.testing.assert_array_equal(got, reference(fd, arrays, params)[0], err_msg=f"{name} on {label}, {params}")
