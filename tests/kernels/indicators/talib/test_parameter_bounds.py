"""Every TA-Lib function at the edges of its parameter ranges (periods of 1 or 2, the smallest and
largest factors) against TA-Lib on the CPU backend, and every column kernel's CUDA source through its
host build (cuda_host.py): TA-Lib special-cases some of them (period 1 copies the input for every
moving-average type, MAMA and KAMA included; PLUS_DI / MINUS_DI(1) are dm / tr; NATR(1) is TRANGE)."""
from __future__ import annotations

import numpy as np
import pytest

from kernels.indicators import talib as ta
from kernels.indicators.talib import gpu_columns
from kernels.indicators.talib.gpu import GPU_FUNCTIONS
from kernels.indicators.talib.table import FUNCTIONS, FuncDef
from tests.kernels.indicators.talib.cuda import cuda_host
from tests.kernels.indicators.talib.oracle import inputs_for, panel_data, reference

DATA = panel_data(n_bars=300, n_assets=2)


def edge_params(fd: FuncDef) -> list[dict]:
    """The lower bound of every integer parameter (one set), then each matype at period 1 or 2."""
    low: dict = {}
    for q in fd.params:
        if q.kind == "int":
            low[q.name] = int(max(q.lo, 1 if "period" in q.name else q.lo))
        else:
            low[q.name] = q.default
    out = [dict(fd.defaults, **low)]
    if any(q.kind == "matype" for q in fd.params):
        for mt in range(14):
            out.append(dict(out[0], **{q.name: mt for q in fd.params if q.kind == "matype"}))
    return out


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_cpu_matches_talib_at_the_parameter_bounds(name: str) -> None:
    fd = FUNCTIONS[name]
    arrays = inputs_for(fd, DATA)
    for params in edge_params(fd):
        try:
            want = reference(fd, arrays, params)
        except Exception as exc:  # TA-Lib refuses the combination: so must we
            with pytest.raises((ValueError, Exception)):
                ta.call(name, arrays, params)
            continue
        got = ta.call(name, arrays, params)
        got = got if isinstance(got, tuple) else (got,)
        for k, (g, w) in enumerate(zip(got, want)):
            np.testing.assert_allclose(np.asarray(g, dtype=np.float64), np.asarray(w, dtype=np.float64), rtol=1e-9,
                                       atol=1e-9, equal_nan=True, err_msg=f"{name} {fd.outputs[k]} {params}")


@pytest.mark.skipif(cuda_host.CXX is None, reason="g++ is not installed")
@pytest.mark.parametrize("name", gpu_columns.functions())
def test_cuda_host_build_matches_talib_at_the_parameter_bounds(name: str) -> None:
    fd = FUNCTIONS[name]
    arrays = inputs_for(fd, DATA)
    for params in edge_params(fd):
        try:
            want = reference(fd, arrays, params)
        except Exception:  # TA-Lib refuses the combination (the CPU test checks that we refuse it too)
            continue
        got = cuda_host.run(name, arrays, params, len(fd.outputs))
        for k, (g, w) in enumerate(zip(got, want)):
            if fd.is_int(fd.outputs[k]):
                g = np.where(np.isnan(g), 0, g).astype(np.int32)
            np.testing.assert_allclose(g, np.asarray(w, dtype=np.float64), rtol=1e-9, atol=1e-9, equal_nan=True,
                                       err_msg=f"{name} {fd.outputs[k]} {params}")


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(GPU_FUNCTIONS))
def test_gpu_matches_talib_at_the_parameter_bounds(name: str) -> None:
    import cupy

    fd = FUNCTIONS[name]
    arrays = inputs_for(fd, DATA)
    for params in edge_params(fd):
        try:
            want = reference(fd, arrays, params)
        except Exception:  # TA-Lib refuses the combination (the CPU test checks that we refuse it too)
            continue
        got = ta.call(name, [cupy.asarray(a) for a in arrays], params)
        got = got if isinstance(got, tuple) else (got,)
        for k, (g, w) in enumerate(zip(got, want)):
            np.testing.assert_allclose(cupy.asnumpy(g).astype(np.float64), np.asarray(w, dtype=np.float64), rtol=1e-9,
                                       atol=1e-9, equal_nan=True, err_msg=f"{name} {fd.outputs[k]} {params}")
