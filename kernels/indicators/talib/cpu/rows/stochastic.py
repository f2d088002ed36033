"""Row kernels of the stochastic functions (see common.py for the contract). Being written: no functions yet."""
from __future__ import annotations

NAMES: tuple[str, ...] = ()
