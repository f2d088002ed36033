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
from tests.kernels.talib import cuda_host
from tests.kernels.talib.oracle import inputs_for, panel_data, random_data, reference, varied_params

pytestmark = pytest.mark.skipif(cuda_host.CXX is None, reason="g++ is not installed")

NAMES = sorted(n for n, (src, _) in gpu_columns.registry().items() if src.group == "newer")


def grid_data(n_bars: int = 400, n_assets: int = 3, seed: int = 11, zeros: bool = False,
              tiny: bool = False) -> dict[str, np.ndarray]:
    """Prices on a 0.25 tick grid: many unchanged bars and dojis, flat stretches of up to ~30 bars;
    optionally bars at price 0 and closes 1e-9 off the grid. Column 1 starts late."""
    rng = np.random.default_rng(seed)
    shape = (n_bars, n_assets)
    c = np.abs(5 + np.cumsum(rng.choice([-1.0, 0.0, 0.0, 0.0, 1.0], shape), axis=0) * 0.25) + 0.25
    o = np.where(rng.random(shape) < 0.5, c, np.roll(c, 1, axis=0))
    h = np.maximum(o, c) + rng.choice([0.0, 0.0, 0.25], shape)
    lo = np.maximum(np.minimum(o, c) - rng.choice([0.0, 0.0, 0.25], shape), 0.0)
    flat = rng.random(shape) < 0.02
    for _ in range(30):
        flat |= np.roll(flat, 1, axis=0) & (rng.random(shape) < 0.9)
    for a in (o, h, lo):
        a[flat] = c[flat]
    if zeros:
        z = rng.random(shape) < 0.03
        for a in (o, h, lo, c):
            a[z] = 0.0
    if tiny:
        t = rng.random(shape) < 0.05
        c[t] += 1e-9
    out = {"open": o, "high": h, "low": lo, "close": c, "volume": np.round(rng.uniform(1e3, 1e5, shape))}
    for v in out.values():
        v[:23, 1] = np.nan
    return out


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
