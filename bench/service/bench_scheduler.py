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

    python bench/service/bench_scheduler.py --out bench/results/scheduler_cpu_2core.json

On the GPU machine (`bench/device/service/gpu_scheduling.sh`), through Ray with real workers:

    python bench/service/bench_scheduler.py --sweep-cpu-workers 0 --out gpu_alone.json     # the GPU worker alone
    python bench/service/bench_scheduler.py --sweep-cpu-workers 1 --out gpu_and_cpu.json   # + a CPU worker (research on CPU)
    python bench/service/bench_scheduler.py --high-wait --out high_wait.json               # HIGH behind LOW sweeps

The sweep is 2520 bars x 500 assets x 100,000 combinations (trend_following, fast 2..401 x
slow 403..652, all valid); a warm-up sweep first teaches the throughput model, so the
timed job's chunks are sized for `target_chunk_ms`. HIGH wait: while LOW sweeps (12 by
default, queued behind each other) keep the GPU busy, HIGH backtests arrive one after another (each
once the one before it finished, at a random point of a LOW chunk); each one's wait is its `queued_s`
(submitted -> first chunk started, both on the coordinator's clock); target p99 <= 2 x
target_chunk_ms. Then the same HIGH jobs every `--high-every` s (open loop), reported too.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

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
    t0, cpu0 = time.perf_counter(), time.process_time()
    job_id = await c.submit("backtest", PAYLOAD, "LOW", "bench")
    status = await c.wait(job_id, 600)
    total, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    runs = await c.chunk_runs(job_id)
    assert status["state"] == "succeeded", status
    assert sorted(r["index"] for r in runs if not r["duplicate"]) == list(range(panel.n_assets))
    first = min(r["started"] for r in runs)
    last = max(r["finished"] for r in runs)
    await c.shutdown()
    return {"chunks": panel.n_assets, "workers": workers, "chunk_s": chunk_s, "mode": mode,
            "chunks_wall_s": last - first, "job_wall_s": total,
            "chunks_per_s": panel.n_assets / (last - first),
            # the box is shared: CPU seconds of this process (all its threads) over the job, beside wall time
            "cpu_s": cpu_s, "chunks_per_cpu_s": panel.n_assets / cpu_s if cpu_s > 0 else None,
            "workers_used": len({r["worker_id"] for r in runs})}


BIG_GRID = {"fast": list(range(2, 402)), "slow": list(range(403, 653))}  # 400 x 250 = 100,000, all fast < slow
WARM_GRID = {"fast": list(range(2, 42)), "slow": list(range(403, 453))}  # 2,000
HIGH_WAIT_FACTOR = 2.0  # p99 <= 2 x target_chunk_ms


def ray_coordinator(tmp: Path, cpu_workers: int, assets: int, bars: int):
    """A local Ray and the service's coordinator with its real workers (GPU, and CPU ones when asked)."""
    import ray  # noqa: PLC0415

    from actors.scheduling.coordinator_actor import get_or_create_coordinator  # noqa: PLC0415
    from actors.settings import DataConfig  # noqa: PLC0415

    ray.init(namespace="rayquant-bench-scheduler", include_dashboard=False)
    extra = {}
    if "tenants" in Settings.model_fields:  # HIGH is granted, not claimed: grant it to the bench's desk
        extra["tenants"] = {"tenants": {"desk": {"allowed_classes": ["HIGH", "NORMAL", "LOW", "IDLE"]}}}
    settings = Settings(storage_dir=tmp, data=DataConfig(synthetic_assets=assets, synthetic_bars=bars),
                        ray={"namespace": "rayquant-bench-scheduler"},
                        coordinator={"cpu_workers": cpu_workers, "research_on_cpu": cpu_workers > 0,
                                     "max_cells_per_chunk": 1 << 34}, **extra)
    coordinator = get_or_create_coordinator(settings)
    ray.get(coordinator.start.remote(), timeout=900)
    return ray, coordinator, settings


def sweep_payload(grid: dict) -> dict:
    return {"dataset": "synthetic", "strategy": "trend_following", "grid": grid, "fees": 0.0005, "top_k": 10}


def warm_up(ray, c, rounds: int = 5) -> list[int]:
    """Warm-up sweeps until the throughput model settles: the first ones run chunks sized by the prior,
    where call overhead hides the device's speed; each round's chunks are sized from the last one's
    rate, so the estimate grows geometrically. Returns the chunk count of each round."""
    counts = []
    for i in range(rounds):
        job = ray.get(c.submit.remote("sweep", {**sweep_payload(WARM_GRID), "fees": 0.0001 * (i + 1)}, "LOW", "bench"))
        st = ray.get(c.wait.remote(job, 900))
        counts.append(st["progress"]["chunks_total"])
        if len(counts) >= 2 and counts[-1] == counts[-2]:
            break
    print(f"warm-up sweeps' chunk counts: {counts}", flush=True)
    return counts


def gpu_sweep(args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        ray, c, settings = ray_coordinator(Path(tmp), args.sweep_cpu_workers, args.sweep_assets, args.sweep_bars)
        devices = ray.get(c.devices.remote())
        warm = warm_up(ray, c)
        t0 = time.perf_counter()
        job = ray.get(c.submit.remote("sweep", sweep_payload(BIG_GRID), "LOW", "bench"))
        status = ray.get(c.wait.remote(job, 1800))
        wall = time.perf_counter() - t0
        stats = ray.get(c.stats.remote())
        runs = ray.get(c.chunk_runs.remote(job))
        ray.shutdown()
    # Where the wall time went (coordinator clock): device seconds per worker, the chunks' calls, and the
    # tail after the last chunk (chunk saves still pending, the merge and the result's save).
    first, last = min(r["started"] for r in runs), max(r["finished"] for r in runs)
    split = {"chunks_span_s": last - first, "after_last_chunk_s": wall - (last - first),
             "device_s_by_worker": {w: sum(r["device_s"] for r in runs if r["worker_id"] == w)
                                    for w in sorted({r["worker_id"] for r in runs})},
             "call_s": sum(r["finished"] - r["started"] for r in runs), "duplicates": sum(r["duplicate"] for r in runs)}
    print(f"time split: {split}", flush=True)
    assert status["state"] == "succeeded", status
    cells = args.sweep_bars * args.sweep_assets * 100_000
    print(f"sweep {args.sweep_bars} x {args.sweep_assets} x 100000 with {args.sweep_cpu_workers} CPU worker(s): {wall:.2f} s, "
          f"{cells / wall:.3g} cells/s; workers {status['progress']['workers']}", flush=True)
    return {"command": " ".join([Path(sys.executable).name, *sys.argv]), "cpu": cpu_model(),
            "devices": [{k: d.get(k) for k in ("worker_id", "kind", "device")} for d in devices],
            "cpu_workers": args.sweep_cpu_workers, "warm_up_chunks": warm, "wall_s": wall, "cells_per_s": cells / wall,
            "status": status, "throughput": stats.get("throughput"), "steals": stats.get("steals"), "time_split": split}


def _percentiles(ms: list[float]) -> tuple[float, float]:
    xs = sorted(ms)
    return xs[len(xs) // 2], xs[min(len(xs) - 1, int(round(0.99 * (len(xs) - 1))))]


def high_wait(args) -> dict:
    """HIGH backtests while LOW sweeps hold the GPU, two ways.

    closed loop (the target): each HIGH job is submitted once the one before it has finished, after a
    random 0-`target_chunk_ms` pause (so it lands at a random point of a LOW chunk); its `queued_s` is
    then the preemption latency of issue 15 -- how long it waits for a device held by a LOW chunk.
    open loop (reported): HIGH jobs every `--high-every` s whatever happens; when a HIGH job's own run
    time exceeds that spacing the waits also hold the HIGH jobs before it (queueing, not preemption).
    """
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        ray, c, settings = ray_coordinator(Path(tmp), 0, args.sweep_assets, args.sweep_bars)
        target_ms = settings.coordinator.target_chunk_ms
        warm_up(ray, c)
        lows = [ray.get(c.submit.remote("sweep", {**sweep_payload(BIG_GRID), "fees": 0.0003 + 0.0001 * i}, "LOW",
                                        "research")) for i in range(args.low_sweeps)]  # the GPU stays busy
        time.sleep(2.0)

        def high(i: int, fees: float = 0.0005) -> str:  # a new payload each time: no result-cache hit
            payload = {"dataset": "synthetic", "strategy": "trend_following", "params": {"fast": 5 + i, "slow": 60},
                       "fees": fees}
            return ray.get(c.submit.remote("backtest", payload, "HIGH", "desk"))

        def timings(job: str) -> dict:
            st = ray.get(c.wait.remote(job, 600))
            assert st["state"] == "succeeded", st
            return st["timings"]

        closed = []
        for i in range(args.high_jobs):
            time.sleep(rng.uniform(0.0, target_ms / 1e3))
            closed.append(timings(high(i)))
        opened = []
        for i in range(args.high_jobs):
            opened.append(high(i, fees=0.0006))
            time.sleep(args.high_every)
        opened = [timings(job) for job in opened]
        low_states = [ray.get(c.status.remote(j))["state"] for j in lows]
        for j in lows:
            ray.get(c.cancel.remote(j))
        ray.shutdown()
    waits = [t["queued_s"] * 1e3 for t in closed]
    runs = [t["running_s"] * 1e3 for t in closed]
    p50, p99 = _percentiles(waits)
    o50, o99 = _percentiles([t["queued_s"] * 1e3 for t in opened])
    r50, _ = _percentiles(runs)
    print(f"HIGH wait behind LOW sweeps (closed loop): p50 {p50:.1f} ms, p99 {p99:.1f} ms (target {HIGH_WAIT_FACTOR} x "
          f"{target_ms:g} ms); HIGH run time p50 {r50:.1f} ms, in order {[round(r) for r in runs]}; open loop, one "
          f"HIGH job every {args.high_every:g} s: wait p50 {o50:.1f} ms, p99 {o99:.1f} ms; LOW jobs were {low_states}",
          flush=True)
    return {"command": " ".join([Path(sys.executable).name, *sys.argv]), "cpu": cpu_model(),
            "closed_loop": {"waits_ms_in_order": waits, "run_ms_in_order": runs, "p50_ms": p50, "p99_ms": p99},
            "open_loop": {"every_s": args.high_every, "waits_ms_in_order": [t["queued_s"] * 1e3 for t in opened],
                          "run_ms_in_order": [t["running_s"] * 1e3 for t in opened], "p50_ms": o50, "p99_ms": o99},
            "p50_ms": p50, "p99_ms": p99, "low_states_at_end": low_states,
            "targets": {"high_wait_p99": {"target": f"<= {HIGH_WAIT_FACTOR} x {target_ms:g} ms (closed loop)",
                                          "value": p99, "met": p99 <= HIGH_WAIT_FACTOR * target_ms}}}


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
    ap.add_argument("--sweep-cpu-workers", type=int, default=None,
                    help="GPU machine: time the 2520 x 500 x 100,000 sweep through Ray with this many CPU workers")
    ap.add_argument("--high-wait", action="store_true", help="GPU machine: HIGH job wait behind LOW sweeps")
    ap.add_argument("--high-jobs", type=int, default=40)
    ap.add_argument("--high-every", type=float, default=0.25, help="open loop: seconds between HIGH jobs")
    ap.add_argument("--low-sweeps", type=int, default=12, help="LOW sweeps queued behind each other (high-wait)")
    ap.add_argument("--sweep-assets", type=int, default=500)
    ap.add_argument("--sweep-bars", type=int, default=2520)
    args = ap.parse_args()
    if args.sweep_cpu_workers is not None:
        write_report(args.out, gpu_sweep(args))
        return
    if args.high_wait:
        write_report(args.out, high_wait(args))
        return

    panel = synthetic_panel(args.chunks, args.bars, seed=0)

    def run(workers: int, chunk_s: float, mode: str, chunks: int | None = None) -> dict:
        data = panel if chunks is None else synthetic_panel(chunks, args.bars, seed=0)
        with tempfile.TemporaryDirectory() as tmp:
            return asyncio.run(one_job(Path(tmp), data, workers, chunk_s, mode))

    run(args.noop_workers, 0.0, "loop", 64)  # warm-up (imports, first dataset load)
    dispatch = [run(args.noop_workers, 0.0, mode, args.dispatch_chunks) for mode in ("loop", "persisted")
                for _ in range(args.repeat)]
    for r in dispatch:
        print(f"no-op chunks ({r['mode']}, {r['workers']} workers): {r['chunks_per_s']:.0f} chunks/s wall, "
              f"{r['chunks_per_cpu_s']:.0f} per CPU-second", flush=True)
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
