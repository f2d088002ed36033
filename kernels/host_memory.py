"""Host memory for the CPU kernels: keep freed blocks instead of handing them back to the OS.

A (2520, 1000) indicator output is 20 MB per plane. glibc's malloc serves blocks that
large with a fresh `mmap` and returns them with `munmap` on free, so every call pays the
kernel's page faults and zeroing of its whole output again (4-7 ms for MACD's 60 MB on a
2-core VM: as much as the computation). Raising malloc's mmap threshold and trim
threshold (`mallopt`) lets the next call reuse the pages the previous one freed:
MACD over 2520 x 1000 with two threads 10.2 -> 4.2 ms. The cost is that up to
`keep_freed_mib` of freed memory stays with the process.

Applied once per process on the first CPU TA-Lib call (`ensure`), or explicitly with
`configure`; `HostMemoryConfig(keep_freed_mib=0)` leaves malloc as it is. Only glibc
(Linux) has `mallopt`; elsewhere this does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MiB = 1 << 20


@dataclass(frozen=True)
class HostMemoryConfig:
    """`keep_freed_mib`: freed memory the process may keep for reuse (0: malloc's defaults);
    blocks up to half of it come from the reusable heap instead of a fresh mmap."""

    keep_freed_mib: int = 1024


_applied: HostMemoryConfig | None = None


def configure(config: HostMemoryConfig = HostMemoryConfig()) -> bool:
    """Apply `config` to this process's malloc; True when glibc took it."""
    global _applied
    _applied = config
    if config.keep_freed_mib <= 0:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        log.debug("no mallopt here: host memory left to the allocator's defaults")
        return False
    keep = int(config.keep_freed_mib) * MiB
    ok = bool(mallopt(M_MMAP_THRESHOLD, keep // 2)) and bool(mallopt(M_TRIM_THRESHOLD, keep))
    log.debug("mallopt mmap threshold %d MiB, trim threshold %d MiB: %s", keep // 2 // MiB, keep // MiB, ok)
    return ok


def ensure() -> None:
    """`configure()` with the defaults unless this process configured host memory already."""
    if _applied is None:
        configure()
