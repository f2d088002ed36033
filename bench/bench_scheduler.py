"""Chunk scheduler benchmarks (issue 15 targets), the real `Coordinator` in-process.

1. dispatch rate: chunks per second the coordinator hands out, collects and persists with
   workers that return at once (no-op chunks; target >= 5,000 chunks/s, enough for 250
   GPUs at 50 ms chunks);
2. scheduling overhead at scale: 64 workers whose chunks take a fixed 50 ms (a
   benchmark-only device that sleeps instead of computing, so that 2 cores do not
   distort it) run a 1,280-chunk job; ideal 1,280 x 50 ms / 64 = 1.0 s, target <= 1.1 s.

Two modes. "loop": the scheduling loop alone (a chunk's result is kept in memory, as
the coordinator does, but not written; the job is marked done without merging) --
what the targets are about. "persisted": every chunk result (a real one-asset backtest
result) written to the result store and journaled (SQLite) as the service does, off the
event loop; the merge of the parts is left out (it is the kernels' cost, measured by
bench_backtest/bench_sweep). The rate is chunks / (last chunk's end - first chunk's start).

    python bench/bench_scheduler.py --out bench/results/scheduler_cpu_2core.json
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors.datasets import DatasetStore  # noqa: E402
from actors.jobs.journal import InMemoryJobJournal, SqliteJobJournal  # noqa: E402
from actors.jobs.plans import ChunkSpec, execute_chunk  # noqa: E402
from actors.messages import WorkItem, WorkResult  # noqa: E402
from actors.jobs.records import JobState  # noqa: E402
from actors.scheduling.coordinator import Coordinator  # noqa: E402
from actors.settings import Settings  # noqa: E402
from bench.timing import cpu_model, write_report  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402

DISPATCH_TARGET = 5_000.0  # chunks/s
SCALE_SLACK = 1.1  # x the ideal time
PAYLOAD = {"dataset": "bench", "strategy": "trend_following", "params": {"fast": 3, "slow": 8}, "fees": 0.001}


class SleepClient:
    """A benchmark-only worker: each chunk takes `chunk_s` (asyncio sleep), then returns its precomputed result."""

    def __init__(self, worker_id: str, results: list, chunk_s: float) -> None:
        self.worker_id = worker_id
        self.results = results
        self.chunk_s = chunk_s

    async def execute(self, item: WorkItem, panel) -> WorkResult:
        if self.chunk_s:
            await asyncio.sleep(self.chunk_s)
        return WorkResult(item.job_id, item.chunk.index, self.worker_id, "bench", "cpu", True,
                          self.chunk_s, self.results[item.chunk.index])

    async def describe(self) -> dict:
        return {"worker_id": self.worker_id, "kind": "gpu", "index": 0, "healthy": True, "free_bytes": 1 << 30,
                "simulated": True}

    async def status(self) -> dict:
        return {"worker_id": self.worker_id}


class SleepExecutor:
    def __init__(self, n: int, results: list, chunk_s: float) -> None:
        self.clients = [SleepClient(f"bench-{i}", results, chunk_s) for i in range(n)]

    async def start_workers(self) -> list[SleepClient]:
        return list(self.clients)

    def share(self, panel):
        return panel


class LoopOnly(Coordinator):
    """The coordinator with chunk results kept in memory only and no merge (mode "loop")."""

    async def _save_chunk(self, job, index, result) -> None:
        job.partials[index] = result

    async def _complete(self, job) -> None:
        self._finish(job, JobState.SUCCEEDED, result_path=job.record.job_id)


class NoMerge(Coordinator):
    """The coordinator as in the service, without the final merge (mode "persisted")."""

    async def _complete(self, job) -> None:
        self._finish(job, JobState.SUCCEEDED, result_path=job.record.job_id)


async def one_job(tmp: Path, panel, workers: int, chunk_s: float, mode: str) -> dict:
    settings = Settings(storage_dir=tmp)
    cfg = replace(settings.coordinator_config(), max_cells_per_chunk=panel.n_bars, view_refresh_s=3600.0)
    if mode == "loop":
        cls, journal, results = LoopOnly, InMemoryJobJournal(), [None] * panel.n_assets
    else:
        one = execute_chunk("backtest", PAYLOAD, panel, ChunkSpec(0, (0, 1)), "cpu")  # a real chunk's result
        cls, journal, results = NoMerge, SqliteJobJournal(tmp / "jobs.sqlite3"), [one] * panel.n_assets
    c = cls(cfg, SleepExecutor(workers, results, chunk_s), DatasetStore(tmp, {"bench": lambda: panel}),
            journal=journal)
    await c.start()
    t0 = time.perf_counter()
    job_id = await c.submit("backtest", PAYLOAD, "LOW", "bench")
    status = await c.wait(job_id, 600)
    total = time.perf_counter() - t0
    runs = await c.chunk_runs(job_id)
    assert status["state"] == "succeeded", status
    assert sorted(r["index"] for r in runs if not r["duplicate"]) == list(range(panel.n_assets))
    first = min(r["started"] for r in runs)
    last = max(r["finished"] for r in runs)
    await c.shutdown()
    return {"chunks": panel.n_assets, "workers": workers, "chunk_s": chunk_s, "mode": mode,
            "chunks_wall_s": last - first, "job_wall_s": total,
            "chunks_per_s": panel.n_assets / (last - first),
            "workers_used": len({r["worker_id"] for r in runs})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=1280)
    ap.add_argument("--bars", type=int, default=40)
    ap.add_argument("--noop-workers", type=int, default=16)
    ap.add_argument("--dispatch-chunks", type=int, default=5000)
    ap.add_argument("--scale-workers", type=int, default=64)
    ap.add_argument("--chunk-ms", type=float, default=50.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default="bench/results/scheduler_cpu_2core.json")
    args = ap.parse_args()

    panel = synthetic_panel(args.chunks, args.bars, seed=0)

    def run(workers: int, chunk_s: float, mode: str, chunks: int | None = None) -> dict:
        data = panel if chunks is None else synthetic_panel(chunks, args.bars, seed=0)
        with tempfile.TemporaryDirectory() as tmp:
            return asyncio.run(one_job(Path(tmp), data, workers, chunk_s, mode))

    run(args.noop_workers, 0.0, "loop", 64)  # warm-up (imports, first dataset load)
    dispatch = [run(args.noop_workers, 0.0, mode, args.dispatch_chunks) for mode in ("loop", "persisted")
                for _ in range(args.repeat)]
    for r in dispatch:
        print(f"no-op chunks ({r['mode']}, {r['workers']} workers): {r['chunks_per_s']:.0f} chunks/s", flush=True)
    ideal = args.chunks * args.chunk_ms / 1e3 / args.scale_workers
    scale = [run(args.scale_workers, args.chunk_ms / 1e3, mode) for mode in ("loop", "persisted")
             for _ in range(args.repeat)]
    for r in scale:
        print(f"{args.scale_workers} workers x {args.chunk_ms:g} ms ({r['mode']}): last chunk after "
              f"{r['chunks_wall_s']:.3f} s (ideal {ideal:.3f} s), job {r['job_wall_s']:.3f} s", flush=True)
    best_loop = max(r["chunks_per_s"] for r in dispatch if r["mode"] == "loop")
    best_scale = min(r["chunks_wall_s"] for r in scale if r["mode"] == "loop")
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "cpu": cpu_model(),
        "what": "the real Coordinator in one asyncio loop, workers in-process (no Ray actor calls); targets on "
                "mode 'loop' (scheduling alone), mode 'persisted' writes every chunk file and journal row as the "
                "service does; no final merge in either",
        "dispatch": dispatch,
        "scale": scale,
        "ideal_s": ideal,
        "targets": {
            "dispatch_rate": {"target": f">= {DISPATCH_TARGET:g} chunks/s (mode loop, best of {args.repeat})",
                              "value": best_loop, "met": best_loop >= DISPATCH_TARGET},
            "scale_64x50ms": {"target": f"<= {SCALE_SLACK} x {ideal:.3f} s to the last chunk (mode loop, best of "
                                        f"{args.repeat})",
                              "value": best_scale, "met": best_scale <= SCALE_SLACK * ideal},
        },
    }
    write_report(args.out, report)


if __name__ == "__main__":
    main()
