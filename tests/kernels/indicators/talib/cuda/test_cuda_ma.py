"""cuda/include/ma.cuh (every TA-Lib MA type) through the overlap group's host build, against TA-Lib.

test_cuda_columns.py tries one matype per function; here MA, MAVP and BBANDS run with every
matype 0..13, at periods that take the special paths (1, 2, 3, odd/even TRIMA, HMA's sqrt 1 and
2, T3's six stages), on realistic and rough data with a late-starting column and a column too
short for the lookback.
"""
from __future__ import annotations

import numpy as np
import pytest

from kernels.indicators.talib.table import FUNCTIONS, MA_TYPES, ma_lookback
from tests.kernels.indicators.talib.cuda import cuda_host
from tests.kernels.indicators.talib.oracle import inputs_for, panel_data, random_data, reference

needs_gxx = pytest.mark.skipif(cuda_host.CXX is None, reason="g++ is not installed")


def _data() -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for label, d in (("panel", panel_data(n_bars=300, n_assets=3)), ("random", random_data(n_bars=300, n_assets=3))):
        d = {k: v.copy() for k, v in d.items()}
        for v in d.values():
            v[:37, 1] = np.nan  # column 1 starts late
            v[:270, 2] = np.nan  # column 2 has 30 bars: shorter than most lookbacks
        out[label] = d
    return out


DATA = _data()


def _check(name: str, params: dict) -> None:
    fd = FUNCTIONS[name]
    for label, d in DATA.items():
        arrays = inputs_for(fd, d)
        got = cuda_host.run(name, arrays, params, len(fd.outputs))
        want = reference(fd, arrays, params)
        for k, (g, w) in enumerate(zip(got, want)):
            assert np.isnan(g).sum() == np.isnan(w).sum(), f"{name} {fd.outputs[k]} NaN count, {label}, {params}"
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9, equal_nan=True,
                                       err_msg=f"{name} {fd.outputs[k]} on {label} data, {params}")


@needs_gxx
@pytest.mark.parametrize("matype", sorted(MA_TYPES))
def test_ma_every_matype(matype: int) -> None:
    for period in (1, 2, 3, 4, 9, 10, 30):
        _check("MA", {"timeperiod": period, "matype": matype})


@needs_gxx
@pytest.mark.parametrize("matype", sorted(MA_TYPES))
def test_mavp_every_matype(matype: int) -> None:
    for minp, maxp in ((2, 30), (1, 12), (5, 5)):
        _check("MAVP", {"minperiod": minp, "maxperiod": maxp, "matype": matype})


@needs_gxx
@pytest.mark.parametrize("matype", sorted(MA_TYPES))
def test_bbands_every_matype(matype: int) -> None:
    for period, up, dn in ((5, 2.0, 2.0), (20, 1.5, 2.5), (2, 2.0, 1.0)):
        _check("BBANDS", {"timeperiod": period, "nbdevup": up, "nbdevdn": dn, "matype": matype})


@needs_gxx
@pytest.mark.parametrize("name", ["DEMA", "TEMA", "TRIMA", "KAMA", "T3", "HMA", "ZLEMA", "RMA", "SMA", "EMA", "WMA"])
def test_single_ma_functions_short_periods(name: str) -> None:
    for period in (1, 2, 3, 4, 5, 16, 17):
        params = {"timeperiod": period}
        if name == "T3":
            params["vfactor"] = 0.3
        _check(name, params)


def test_ht_sincos_table_is_libm() -> None:
    """cuda/include/cycle_sincos.cuh holds exactly math.sin / math.cos of ht_1d's phase angles."""
    import math
    import re

    from kernels.indicators.talib import gpu_columns

    text = (gpu_columns.INCLUDE_DIR / "cycle_sincos.cuh").read_text()
    tables = {}
    for name in ("rq_ht_sin", "rq_ht_cos"):
        body = re.search(rf"{name}\[1275\] = \{{(.*?)\}};", text, re.S).group(1)
        tables[name] = [float(v) for v in body.replace("\n", " ").split(",") if v.strip()]
    c = 2.0 * (4.0 * math.atan(1.0))
    angles = [(i * c) / dc for dc in range(1, 51) for i in range(dc)]
    assert tables["rq_ht_sin"] == [math.sin(a) for a in angles]
    assert tables["rq_ht_cos"] == [math.cos(a) for a in angles]


@needs_gxx
def test_host_build_equals_the_cpu_backend_bit_for_bit_on_gappy_data() -> None:
    """Interior NaN follow the same arithmetic on both backends (nan_policy="propagate"): the CUDA
    source and the Numba kernels of cpu/overlap.py and cpu/cycle.py give the same bits."""
    from kernels.indicators.talib import cpu as ta_cpu
    from kernels.indicators.talib import gpu_columns
    from tests.kernels.indicators.talib.oracle import varied_params

    d = random_data(n_bars=400, n_assets=4, seed=9)
    holes = np.random.default_rng(5).random(d["close"].shape) < 0.01
    for v in d.values():
        v[:50, 1] = np.nan
        v[holes] = np.nan
    src = gpu_columns.sources()
    for name in [n for g in ("overlap", "cycle") for n in src[g].names]:
        fd = FUNCTIONS[name]
        arrays = inputs_for(fd, d)
        for params in (fd.defaults, varied_params(fd)):
            got = cuda_host.run(name, arrays, params, len(fd.outputs))
            want = ta_cpu.run(name, arrays, params, len(fd.outputs))
            for k in range(len(got)):
                np.testing.assert_array_equal(got[k], want[k], err_msg=f"{name} {fd.outputs[k]}, {params}")


@needs_gxx
def test_ma_random_lengths_periods_and_matypes() -> None:
    """Columns a few bars either side of each MA's lookback (the early returns), any period, any matype."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=60, deadline=None, derandomize=True, database=None)
    @given(st.integers(1, 40), st.integers(0, 13), st.integers(0, 8), st.integers(0, 2**31 - 1))
    def check(period: int, matype: int, extra: int, seed: int) -> None:
        lb = ma_lookback(period, matype) if period > 1 else 0  # TA-Lib: 0 for period 1, MAMA too
        n = max(1, lb + extra - 3)
        rng = np.random.default_rng(seed)
        x = np.ascontiguousarray((100 + np.cumsum(rng.normal(0, 1, (n, 2)), axis=0)))
        x[: min(n, 2), 1] = np.nan  # a late start
        params = {"timeperiod": period, "matype": matype}
        got = cuda_host.run("MA", [x], params, 1)[0]
        want = reference(FUNCTIONS["MA"], [x], params)[0]
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=f"{params}, n={n}")

    check()


# ------------------------------------------------------------------ the same sources on the GPU
def _overlap_cycle_names() -> list[str]:
    from kernels.indicators.talib import gpu_columns

    src = gpu_columns.sources()
    return sorted(n for g in ("overlap", "cycle") if g in src for n in src[g].names)


def _gpu_run(name: str, arrays: list[np.ndarray], params: dict) -> list[np.ndarray]:
    import cupy

    from kernels.indicators.talib import gpu_columns

    got = gpu_columns.run(name, [cupy.asarray(a) for a in arrays], params, len(FUNCTIONS[name].outputs))
    return [cupy.asnumpy(g) for g in got]


def _transcendental(name: str, params: dict) -> bool:
    """Functions whose GPU value goes through atan (the Hilbert family, MAMA and matype 7)."""
    return FUNCTIONS[name].group == "cycle" or name == "MAMA" or params.get("matype") == 7


@pytest.mark.gpu
@pytest.mark.parametrize("name", _overlap_cycle_names())
def test_gpu_column_kernel_matches_talib_and_the_host_build(name: str) -> None:
    """gpu_columns.run itself (the API may route SMA & co. to the fused kernels first): TA-Lib to 1e-9,
    and the host build bit for bit where no transcendental function is involved."""
    from tests.kernels.indicators.talib.oracle import varied_params

    fd = FUNCTIONS[name]
    for label, d in DATA.items():
        arrays = inputs_for(fd, d)
        for params in (fd.defaults, varied_params(fd)):
            got = _gpu_run(name, arrays, params)
            want = reference(fd, arrays, params)
            # the host build where g++ is there (bit for bit, below)
            host = cuda_host.run(name, arrays, params, len(fd.outputs)) if cuda_host.CXX else [None] * len(got)
            for k, (g, w, h) in enumerate(zip(got, want, host)):
                msg = f"{name} {fd.outputs[k]} on {label} data, {params}"
                if fd.is_int(fd.outputs[k]):
                    g = np.where(np.isnan(g), 0, g).astype(np.int32)
                    h = None if h is None else np.where(np.isnan(h), 0, h).astype(np.int32)
                np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=msg)
                if h is not None and not _transcendental(name, params):
                    np.testing.assert_array_equal(g, h, err_msg=msg + " (GPU vs host build)")


@pytest.mark.gpu
@pytest.mark.parametrize("matype", sorted(MA_TYPES))
def test_gpu_every_matype(matype: int) -> None:
    for name, params in (("MA", {"timeperiod": 1, "matype": matype}), ("MA", {"timeperiod": 4, "matype": matype}),
                         ("MA", {"timeperiod": 30, "matype": matype}),
                         ("MAVP", {"minperiod": 1, "maxperiod": 12, "matype": matype}),
                         ("BBANDS", {"timeperiod": 20, "nbdevup": 1.5, "nbdevdn": 2.5, "matype": matype})):
        fd = FUNCTIONS[name]
        for label, d in DATA.items():
            arrays = inputs_for(fd, d)
            for k, (g, w) in enumerate(zip(_gpu_run(name, arrays, params), reference(fd, arrays, params))):
                np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9, equal_nan=True,
                                           err_msg=f"{name} {fd.outputs[k]} on {label} data, {params}")
