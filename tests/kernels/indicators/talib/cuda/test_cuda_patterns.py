"""The candlestick pattern column kernels (kernels/indicators/talib/cuda/pattern.cu, host build) against TA-Lib
where test_cuda_columns.py does not look: columns of every length from 1 to 40 bars (the lookback edge, the
warm-up bars CDLHIKKAKE / CDLHIKKAKEMOD scan before it, a last register batch of any size) and interior
NaN bars (what nan_policy="propagate" hands the kernels: TA-Lib's own treatment of them)."""
from __future__ import annotations

import numpy as np
import pytest

from kernels.indicators.talib.cpu.pattern import NAMES
from kernels.indicators.talib.table import FUNCTIONS
from tests.kernels.indicators.talib.cuda import cuda_host
from tests.kernels.indicators.talib.oracle import candle_data, inputs_for, reference, varied_params

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


# Hand-made (open, high, low, close) bars, after 20 quiet bars, for the patterns that the test data of
# test_cuda_columns.py never draws (candle_data() almost never does).
RARE = {
    "CDLCONCEALBABYSWALL": [(100, 100, 97, 97), (97, 97, 94, 94), (93, 95, 91.5, 92), (95.5, 96, 90, 91)],
    "CDLINNECK": [(101, 101.5, 96.5, 97), (96, 97.5, 95.5, 97.1)],
    "CDL3STARSINSOUTH": [(104, 104, 95, 100), (101, 101.5, 98, 99), (99.5, 99.5, 99.2, 99.2)],
    "CDLABANDONEDBABY": [(100, 104.5, 99.5, 104), (105.1, 105.5, 105.0, 105.2), (104, 104.2, 100.5, 101)],
    "CDLBREAKAWAY": [(104, 104.5, 99.5, 100), (99, 99.2, 97.5, 98), (97.8, 98, 96.5, 97), (96.8, 97, 95.5, 96),
                     (96.2, 99.6, 96, 99.5)],
    "CDLMATHOLD": [(100, 104.2, 99.8, 104), (105.5, 105.7, 104.9, 105), (104.5, 104.7, 103.6, 103.8),
                   (104.2, 104.3, 103.4, 103.6), (103.7, 106.6, 103.6, 106.5)],
}


def _rare_panel() -> list[np.ndarray]:
    cols = [np.array([(100.0, 102.0, 99.0, 101.0)] * 20 + bars) for bars in RARE.values()]  # (o, h, l, c) rows
    n = max(len(c) for c in cols)
    panel = np.full((4, n, len(cols)), np.nan)
    for j, c in enumerate(cols):
        panel[:, n - len(c):, j] = c.T  # shorter columns start late; every pattern ends on the last bar
    return [panel[k] for k in range(4)]


@pytest.mark.parametrize("name", sorted(RARE))
def test_rare_pattern_fires_and_matches_talib(name: str) -> None:
    fd = FUNCTIONS[name]
    arrays = _rare_panel()
    got = cuda_host.run(name, arrays, fd.defaults, 1)[0]
    got = np.where(np.isnan(got), 0, got).astype(np.int32)
    want = reference(fd, arrays, fd.defaults)[0]
    np.testing.assert_array_equal(got, want)
    assert want[-1, list(RARE).index(name)] != 0, f"{name} does not fire on its bars"
