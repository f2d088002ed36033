"""cuda/newer.cu (the TA-Lib 0.7/0.8 functions and BETA) against TA-Lib on degenerate data.

test_cuda_columns.py checks every column kernel on realistic and rough random data; these functions
also have answers of their own for degenerate windows (a flat window, a window of dojis, a zero price
or band sum), which such data never reaches: prices on a tick grid with runs of unchanged bars, flat
stretches (open = high = low = close), zeros and near-zero offsets do. Host build of the CUDA source
(cuda_host.py), as in test_cuda_columns.py.
"""
from __future__ import annotations

import numpy as np
import pytest

from kernels.indicators.talib import gpu_columns
from kernels.indicators.talib.table import FUNCTIONS
from tests.kernels.indicators.talib.cuda import cuda_host
from tests.kernels.indicators.talib.oracle import grid_data, inputs_for, panel_data, random_data, reference, varied_params

pytestmark = pytest.mark.skipif(cuda_host.CXX is None, reason="g++ is not installed")

NAMES = sorted(n for n, (src, _) in gpu_columns.registry().items() if src.group == "newer")


DATASETS = {"grid": grid_data(), "zeros": grid_data(seed=12, zeros=True), "tiny": grid_data(seed=13, tiny=True)}


def _lowest(name: str) -> dict:
    """Every period at the smallest value TA-Lib takes (MA types SMA, reals at their default)."""
    return {q.name: (int(q.lo) if q.kind == "int" else 0 if q.kind == "matype" else q.default)
            for q in FUNCTIONS[name].params}


def _check(name: str, arrays: list, params: dict, label: str) -> None:
    fd = FUNCTIONS[name]
    got = cuda_host.run(name, arrays, params, len(fd.outputs))
    want = reference(fd, arrays, params)
    for k, (g, w) in enumerate(zip(got, want)):
        if fd.is_int(fd.outputs[k]):
            g = np.where(np.isnan(g), 0, g).astype(np.int32)
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9, equal_nan=True,
                                   err_msg=f"{name} {fd.outputs[k]} on {label} data, {params}")


def test_every_function_of_the_group_is_covered() -> None:
    from kernels.indicators.talib.cpu.newer import NAMES as CPU_NAMES

    assert sorted(CPU_NAMES) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_degenerate_windows_match_talib(name: str) -> None:
    fd = FUNCTIONS[name]
    for label, data in DATASETS.items():
        arrays = inputs_for(fd, data)
        for params in (fd.defaults, _lowest(name)):
            _check(name, arrays, params, label)


@pytest.mark.parametrize("name", NAMES)
def test_bit_identical_to_talib_on_realistic_data(name: str) -> None:
    # newer.cu follows the installed TA-Lib 0.8.1's arithmetic (its fused EMA / Wilder steps, AO's and
    # FOSC's window sums, BETA's shifted returns, ...), so on ordinary data the outputs are its bits
    fd = FUNCTIONS[name]
    for label, data in (("panel", panel_data(n_bars=500, n_assets=3)), ("random", random_data(n_bars=500, n_assets=3))):
        arrays = inputs_for(fd, data)
        for params in (fd.defaults, varied_params(fd)):
            got = cuda_host.run(name, arrays, params, len(fd.outputs))
            want = reference(fd, arrays, params)
            for k, (g, w) in enumerate(zip(got, want)):
                if fd.is_int(fd.outputs[k]):
                    g = np.where(np.isnan(g), 0, g).astype(np.int32)
                np.testing.assert_array_equal(g, w, err_msg=f"{name} {fd.outputs[k]} on {label} data, {params}")


def test_kdj_default_matype_is_its_own_default() -> None:
    # TA-Lib 0.8: matype 11 (DEFAULT) means the function's default MA, RMA for KDJ (not SMA)
    arrays = inputs_for(FUNCTIONS["KDJ"], panel_data(n_bars=300, n_assets=2))
    for mt in (11, 13, 0):
        _check("KDJ", arrays, dict(fastk_period=9, slowk_period=3, slowk_matype=mt, slowd_period=3, slowd_matype=11),
               "panel")
