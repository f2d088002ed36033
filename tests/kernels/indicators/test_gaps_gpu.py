"""The fused GPU gap check (kernels/indicators/gaps_gpu.py) against the array-operation one."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.indicators import gaps

pytestmark = pytest.mark.gpu


@settings(max_examples=30, deadline=None)
@given(n_bars=st.integers(1, 300), n_cols=st.integers(1, 9), n_in=st.integers(1, 5), nan_rate=st.floats(0, 0.05),
       lead=st.integers(0, 320), seed=st.integers(0, 1000))
def test_gappy_columns_match_the_mask_definition(n_bars, n_cols, n_in, nan_rate, lead, seed) -> None:
    import cupy

    from kernels.indicators import gaps_gpu

    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=(n_bars, n_cols)) for _ in range(n_in)]
    for a in arrays:
        a[rng.random(a.shape) < nan_rate] = np.nan
        a[: min(lead, n_bars), 0] = np.nan  # a late start alone is not a gap
    valid = gaps.valid_mask(np, arrays)
    want = [gaps.has_gaps(np, valid[:, [j]]) for j in range(n_cols)]
    got = gaps_gpu.gappy_columns([cupy.asarray(a) for a in arrays]).get()
    assert got.tolist() == want
    assert gaps.inputs_have_gaps(cupy, [cupy.asarray(a) for a in arrays]) == any(want)
