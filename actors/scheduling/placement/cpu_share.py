"""When a CPU worker should take a research chunk beside GPUs: only when it makes the job end sooner.

A job's chunks are sized for the GPUs (`target_chunk_ms` on the typical GPU), so a CPU
worker runs the same chunk many times longer: on one H100 a 2520 x 500 sweep chunk is
~30 ms on the device and seconds on 16 cores. Its chunk helps only if it ends before the
GPUs would have finished everything else the job still has pending; otherwise the job
waits for the CPU chunk (or for the GPU that steals it at the tail) and the CPU worker's
threads slow the GPUs' host side and the coordinator meanwhile. The rule, exact:

    a CPU worker takes a chunk of `chunk_cells` when its measured rate is unknown (it
    learns it on this chunk; tail stealing bounds the cost), when no GPU is available
    to the job (every eligible GPU runs other work), or when
        chunk_cells / cpu_rate <= other_pending_cells / sum(rates of the available GPUs).

Rates are the throughput model's cells/s per (job kind, worker class): device seconds,
so GPUs look at least as fast as they are and the rule errs towards leaving the chunk
to them. A GPU whose rate is not measured yet makes the rule let the CPU take it.
"""
from __future__ import annotations

from typing import Iterable, Optional


def cpu_chunk_helps(chunk_cells: int, cpu_rate: Optional[float], other_pending_cells: int,
                    gpu_rates: Iterable[Optional[float]]) -> bool:
    """Does a CPU worker's chunk of `chunk_cells` end before the available GPUs finish the rest?"""
    rates = list(gpu_rates)
    if cpu_rate is None or cpu_rate <= 0 or not rates or any(r is None or r <= 0 for r in rates):
        return True
    return chunk_cells / cpu_rate <= max(0, other_pending_cells) / sum(rates)  # type: ignore[arg-type]


def cpu_steal_helps(cpu_rate: Optional[float], holder_rate: Optional[float]) -> bool:
    """May a CPU worker start a second copy of a chunk running on a worker with `holder_rate`?

    Only when it is not known to be slower: a stolen copy pays off when it can end first.
    """
    return cpu_rate is None or holder_rate is None or cpu_rate >= holder_rate
