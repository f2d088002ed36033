"""The orders engine's signal bitmaps (`kernels.backtest.orders.cpu.signal_bits`): one bit per
(column, bar) with any signal, against NumPy's packbits, for both builders (8-column words and
any column count), and the simulation's skip-to-next-signal on them."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.backtest.orders import cpu


def _reference(entries, exits, short_entries, short_exits, ls_mode: bool) -> np.ndarray:
    any_sig = entries | exits | (short_entries | short_exits if ls_mode else False)
    n_bars, n_cols = any_sig.shape
    padded = np.zeros((-(-n_bars // 64) * 64, n_cols), dtype=bool)
    padded[:n_bars] = any_sig
    return np.ascontiguousarray(np.packbits(padded, axis=0, bitorder="little").T).view(np.uint64)


def _signals(n_bars: int, n_cols: int, p: float, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((n_bars, n_cols)) < p for _ in range(4)]


SHAPES = [(b, c) for b in (1, 7, 8, 63, 64, 65, 4095, 4096, 4097, 9000) for c in (1, 3, 8, 13, 16, 1030, 1032)
          if b * c <= 3_000_000]  # tasks split by bars (4,096) and by columns (1,024)


@pytest.mark.parametrize(("n_bars", "n_cols"), SHAPES)
@pytest.mark.parametrize("ls_mode", [False, True])
def test_bits_equal_packbits(n_bars: int, n_cols: int, ls_mode: bool) -> None:
    sig = _signals(n_bars, n_cols, 0.05, seed=n_bars * 7 + n_cols)
    bits = cpu.signal_bits(*sig, ls_mode)
    assert bits.dtype == np.uint64 and bits.shape == (n_cols, -(-n_bars // 64))
    np.testing.assert_array_equal(bits, _reference(*sig, ls_mode))


def test_bits_of_non_contiguous_signals() -> None:
    sig = [np.asfortranarray(a) for a in _signals(300, 16, 0.1, seed=5)]
    np.testing.assert_array_equal(cpu.signal_bits(*sig, True), _reference(*sig, True))
    sliced = [a[:, ::2] for a in _signals(300, 32, 0.1, seed=6)]  # 16 columns, strided
    np.testing.assert_array_equal(cpu.signal_bits(*sliced, False), _reference(*sliced, False))


@settings(max_examples=60, deadline=None)
@given(n_bars=st.integers(1, 700), n_cols=st.sampled_from([1, 2, 5, 8, 9, 16, 24]), p=st.sampled_from([0.0, 0.01, 0.3, 1.0]),
       ls_mode=st.booleans(), seed=st.integers(0, 2**16))
def test_bits_property(n_bars: int, n_cols: int, p: float, ls_mode: bool, seed: int) -> None:
    sig = _signals(n_bars, n_cols, p, seed)
    bits = cpu.signal_bits(*sig, ls_mode)
    np.testing.assert_array_equal(bits, _reference(*sig, ls_mode))
    counts = cpu.count_signal_bars_nb(bits, np.arange(n_cols), np.arange(n_cols) + 1)
    any_sig = sig[0] | sig[1] | ((sig[2] | sig[3]) if ls_mode else False)
    np.testing.assert_array_equal(counts, any_sig.sum(axis=0))


@settings(max_examples=60, deadline=None)
@given(n_bars=st.integers(1, 400), p=st.sampled_from([0.0, 0.005, 0.05, 0.5]), seed=st.integers(0, 2**16))
def test_next_signal_bar(n_bars: int, p: float, seed: int) -> None:
    e, x, _, _ = _signals(n_bars, 3, p, seed)
    bits = cpu.signal_bits(e, x, e, x, False)
    for col in range(3):
        hits = np.flatnonzero(e[:, col] | x[:, col])
        for i in range(0, n_bars + 1, max(1, n_bars // 37)):
            later = hits[hits >= i]
            assert cpu.next_signal_bar_nb(bits, col, i, n_bars) == (later[0] if len(later) else n_bars)
