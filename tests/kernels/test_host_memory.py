"""kernels.host_memory: freed output-sized blocks are reused instead of faulted in again."""
from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = r"""
import resource, sys
import numpy as np
from kernels import host_memory
took = host_memory.configure(host_memory.HostMemoryConfig(keep_freed_mib=int(sys.argv[1])))
a = np.ones((2520, 1000, 3)); del a  # a MACD-sized output (60 MB), written and freed
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
b = np.empty((2520, 1000, 3)); b.fill(1.0)
print(int(took), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(keep_mib: int) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(keep_mib)], capture_output=True, text=True, check=True)
    took, faults = out.stdout.split()
    return int(took), int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_kept_memory_is_reused_without_page_faults() -> None:
    took, kept = _faults(1024)
    assert took == 1
    _, default = _faults(0)
    assert default > 100  # malloc's default: the 60 MB come back as fresh pages, faulted in again
    assert kept < default / 10


def test_zero_leaves_malloc_alone() -> None:
    assert _faults(0)[0] == 0


def test_service_settings_carry_the_host_memory_config(monkeypatch) -> None:
    from actors.settings import Settings
    from kernels.host_memory import HostMemoryConfig

    assert Settings().host_memory == HostMemoryConfig()
    monkeypatch.setenv("RAYQUANT_HOST_MEMORY__KEEP_FREED_MIB", "0")
    assert Settings().host_memory.keep_freed_mib == 0
