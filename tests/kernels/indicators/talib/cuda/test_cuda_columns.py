"""The CUDA C column kernels (kernels/indicators/talib/cuda/) against TA-Lib.

CI has no GPU: the same source is compiled for the host with g++ (cuda_host.py) and each function
is checked there, on realistic and rough data with a late-starting column, at the default and a
varied parameter set. nvcc (where installed) checks that every source also compiles for sm_90;
on the GPU machine tests/kernels/indicators/talib/test_api_backends.py::test_gpu_matches_talib runs the
same functions through CuPy.
"""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from kernels.indicators.talib import gpu_columns
from kernels.indicators.talib.table import FUNCTIONS
from tests.kernels.indicators.talib.cuda import cuda_host
from tests.kernels.indicators.talib.oracle import candle_data, inputs_for, panel_data, random_data, reference, varied_params

pytestmark = pytest.mark.skipif(cuda_host.CXX is None, reason="g++ is not installed")

DATASETS = {"panel": panel_data(n_bars=500, n_assets=3), "random": random_data(n_bars=500, n_assets=3),
            "candles": candle_data(n_bars=1500, n_assets=2)}


def _late(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {k: v.copy() for k, v in d.items()}
    for v in out.values():
        v[:37, 1] = np.nan  # column 1 starts late
    return out


@pytest.mark.parametrize("name", gpu_columns.functions())
def test_host_build_matches_talib(name: str) -> None:
    fd = FUNCTIONS[name]
    for label, data in DATASETS.items():
        if label == "candles" and fd.group != "pattern":
            continue
        arrays = inputs_for(fd, _late(data))
        for params in (fd.defaults, varied_params(fd)):
            got = cuda_host.run(name, arrays, params, len(fd.outputs))
            want = reference(fd, arrays, params)
            for k, (g, w) in enumerate(zip(got, want)):
                if fd.is_int(fd.outputs[k]):
                    g = np.where(np.isnan(g), 0, g).astype(np.int32)
                np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9, equal_nan=True,
                                           err_msg=f"{name} {fd.outputs[k]} on {label} data, {params}")


def test_every_source_declares_known_functions_once() -> None:
    seen: dict[str, str] = {}
    for group, src in gpu_columns.sources().items():
        assert src.scratch >= 0
        for name in src.names:
            assert name not in seen, f"{name} in both {seen.get(name)} and {group}"
            seen[name] = group
    assert "WILLR" in seen


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
@pytest.mark.parametrize("group", sorted(gpu_columns.sources()))
def test_source_compiles_for_the_gpu(group: str, tmp_path) -> None:
    """The text NVRTC gets (headers written in, no include path) compiles for sm_90."""
    src = gpu_columns.sources()[group]
    text = gpu_columns.expanded_source(src.path)
    assert '#include "' not in text
    (tmp_path / f"{group}.cu").write_text(text)
    r = subprocess.run(["nvcc", "-std=c++17", "--fmad=false", "-ptx", "-arch=sm_90", str(tmp_path / f"{group}.cu"),
                        "-o", str(tmp_path / f"{group}.ptx")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert src.entry in (tmp_path / f"{group}.ptx").read_text()
