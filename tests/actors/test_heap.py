"""freeze_long_lived: start-up objects leave the collector's generations; new garbage is still collected."""
from __future__ import annotations

import gc
import weakref

from actors.heap import freeze_long_lived


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_freeze_keeps_collecting_new_garbage():
    try:
        kept = [Node() for _ in range(100)]
        assert freeze_long_lived("test") >= len(kept) and gc.get_freeze_count() >= len(kept)
        probe = Node()
        ref = weakref.ref(probe)
        del probe
        gc.collect()
        assert ref() is None  # garbage made after the freeze is collected
    finally:
        gc.unfreeze()
