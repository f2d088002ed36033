"""Shared test configuration: backend x dtype grid and automatic GPU skips."""
from __future__ import annotations

import os
from typing import Iterator

import numpy as np
import pytest

from kernels.backend import gpu_available

# Numba compiles into __pycache__; keep threads modest on 2-core CI machines.
os.environ.setdefault("NUMBA_NUM_THREADS", str(max(1, min(4, os.cpu_count() or 1))))

NO_GPU_REASON = "needs CuPy and a CUDA device (none here); run on the GPU machine via bench/device/gpu_all.sh"

# Hypothesis: no per-example deadline anywhere (2 shared cores make timings meaningless); on CI (CI set, or
# HYPOTHESIS_PROFILE=ci) a moderate example count for tests that do not pin their own. Tests that pin
# max_examples / stateful_step_count with @settings (e.g. gpu_hal's 100 x 100 = 10,000-step memory-truth
# machine) keep them: a decorator's settings override the profile's.
try:
    from hypothesis import HealthCheck, settings as hypothesis_settings

    hypothesis_settings.register_profile("dev", deadline=None)
    hypothesis_settings.register_profile("ci", deadline=None, max_examples=50, print_blob=True,
                                         suppress_health_check=[HealthCheck.too_slow])
    hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE")
                                     or ("ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "dev"))
except ImportError:  # hypothesis is a dev extra; its tests importorskip it
    pass

# The xdist group of the Ray modules that start a private cluster (free ports, own temp dir): they can run
# beside the worker that holds the shared Ray/Serve session.
OWN_CLUSTER = pytest.mark.xdist_group("own_ray_cluster")
# The modules that compare with vectorbt: its from_signals simulators (vectorbt/portfolio/nb.py) are @njit
# without cache=True, so every process that runs them compiles them again; on one worker that is once.
VECTORBT = pytest.mark.xdist_group("vectorbt")

# Relative tolerances by dtype for cross-backend and oracle comparisons.
RTOL = {np.float64: 1e-9, np.float32: 1e-4}


def backend_dtype_grid(dtypes: tuple = (np.float64,)) -> Iterator:
    """(backend, dtype) pairs for parametrised tests; GPU cases carry the gpu mark."""
    for backend in ("cpu", "gpu"):
        for dtype in dtypes:
            marks = [pytest.mark.gpu] if backend == "gpu" else []
            yield pytest.param(backend, dtype, marks=marks, id=f"{backend}-{np.dtype(dtype).name}")


def backends() -> Iterator:
    """The two backends as parameters; the GPU one carries the gpu mark."""
    yield pytest.param("cpu", id="cpu")
    yield pytest.param("gpu", marks=[pytest.mark.gpu], id="gpu")


def pytest_itemcollected(item: pytest.Item) -> None:
    # Under pytest-xdist (`./run test` runs two workers with --dist loadgroup) the tests that start Ray (the
    # `ray` mark) go to one worker, where they share the session's Ray and Serve (tests/deployments/conftest.py);
    # modules that start a private cluster on free ports name their own group (OWN_CLUSTER) and may run on
    # the other worker. Marked as each item is collected, before xdist's pytest_collection_modifyitems reads it.
    if item.get_closest_marker("ray") is not None and item.get_closest_marker("xdist_group") is None:
        item.add_marker(pytest.mark.xdist_group("ray"))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Under --dist loadgroup, refuse to run when xdist did not group the Ray tests (two workers would each
    start Ray): pytest 9.2 no longer reads the Item._nodeid that pytest-xdist 3.8 suffixes with the group."""
    if getattr(session.config.option, "loadgroup", False):
        loose = [i.nodeid for i in session.items if i.get_closest_marker("ray") and "@" not in i.nodeid]
        if loose:
            raise pytest.UsageError(f"--dist loadgroup did not group {len(loose)} ray tests (e.g. {loose[0]}): "
                                    "check the pytest / pytest-xdist versions pinned in pyproject.toml")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if gpu_available():
        return
    skip_gpu = pytest.mark.skip(reason=NO_GPU_REASON)
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
