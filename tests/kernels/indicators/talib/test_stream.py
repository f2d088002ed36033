"""Streaming forms: fed bar by bar they give the batch functions' values (late starts included)."""
from __future__ import annotations

import numpy as np
import pytest

from kernels.indicators import talib as ta
from kernels.indicators.talib.stream import STREAMABLE, TalibStream
from kernels.indicators.talib.table import FUNCTIONS
from tests.kernels.indicators.talib.oracle import inputs_for, panel_data

DATA = panel_data(n_bars=160, n_assets=3)
for _v in DATA.values():
    _v[:25, 1] = np.nan  # symbol 1 starts late


def _params(name: str) -> list[dict]:
    fd = FUNCTIONS[name]
    small = {q.name: (max(q.lo, min(q.default, 9)) if q.kind == "int" else q.default) for q in fd.params}
    return [fd.defaults, small]


@pytest.mark.parametrize("name", sorted(STREAMABLE))
def test_stream_equals_batch(name: str) -> None:
    fd = FUNCTIONS[name]
    arrays = inputs_for(fd, DATA)
    for params in _params(name):
        batch = getattr(ta, name)(*arrays, **params)
        batch = batch if isinstance(batch, tuple) else (batch,)
        st = TalibStream(name, 3, **params)
        seeded = st.seed(**{n: a[:100] for n, a in zip(fd.inputs, arrays)})
        seeded = seeded if isinstance(seeded, tuple) else (seeded,)
        ticks = []
        for t in range(100, arrays[0].shape[0]):
            r = st.update(**{n: a[t] for n, a in zip(fd.inputs, arrays)})
            ticks.append(np.stack(r) if isinstance(r, tuple) else r[None])
        streamed = np.concatenate([np.stack(seeded), np.stack(ticks, axis=1)], axis=1)
        for k, b in enumerate(batch):
            np.testing.assert_allclose(streamed[k], b, rtol=1e-12, atol=1e-12, equal_nan=True,
                                       err_msg=f"{name}.{fd.outputs[k]} {params}")


def test_snapshot_restore_continues_identically() -> None:
    c = DATA["close"]
    a = TalibStream("RSI", 3, timeperiod=5)
    a.seed(real=c[:60])
    b = TalibStream.restore(a.snapshot())
    for t in range(60, 80):
        np.testing.assert_array_equal(a.update(real=c[t]), b.update(real=c[t]))


def test_stream_validation() -> None:
    with pytest.raises(ValueError, match="no streaming form"):
        TalibStream("SMA", 2)
    with pytest.raises(ValueError, match="matype 0"):
        TalibStream("STOCH", 2, slowk_matype=1)
    with pytest.raises(ValueError, match="timeperiod must be in"):
        TalibStream("RSI", 2, timeperiod=1)
