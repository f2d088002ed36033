"""Per-chunk time of one sweep job on one worker with its data kept between chunks, and without.

A real `Worker` (the GPU when there is one, else a simulated device) runs the first
`--chunks` chunks of a trend_following sweep job (`--bars` x `--assets`, a
`--fast` x `--slow` grid, `--combos` combinations per chunk) twice: with
`JobDataConfig(enabled=False)` (every chunk selects and uploads the panel, expands
the grid and prepares its inputs again, as before the cache) and with it on (the
first chunk does that once; the others find the panel on the device and the plan of
their asset range). Reports the first chunk and the median of the later ones, per
mode and repeat (wall and process CPU seconds), and checks that both modes give
identical partial results. Then (`--plan-repeat` rounds) what the kept plan's built
inputs save per chunk: the chunks of the first asset range on one `prepare_sweep` plan
that keeps them (CPU: the kernel's time-major inputs; GPU: the window tables of the
grid's windows, when they fit) against the same plan building them per run.

    python bench/service/bench_job_data.py --out bench/results/job_data_cpu_2core.json            # simulated device
    python bench/service/bench_job_data.py --out gpu-out/job_data_h100.json                        # on the GPU machine
    python bench/service/bench_job_data.py --fast 30 --slow 30 --combos 300 --out gpu-out/job_data_tables.json  # tables
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from actors.config import JobDataConfig  # noqa: E402
from actors.jobs.plans import plan_job  # noqa: E402
from actors.messages import WorkItem  # noqa: E402
from actors.workers.worker import Worker  # noqa: E402
from gpu_hal.config import GpuHalConfig, SimulationConfig  # noqa: E402
from gpu_hal.streams.priority import JobClass  # noqa: E402
from kernels.backend import gpu_available  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402


def run_mode(enabled: bool, config: GpuHalConfig, items: list[WorkItem], panel) -> tuple[list[float], list, dict]:
    w = Worker("gpu-0", "gpu", config, job_data=JobDataConfig(enabled=enabled))
    w.init_device()
    times, cpu, results = [], [], []
    for item in items:
        t0, c0 = time.perf_counter(), time.process_time()
        results.append(w.execute(item, panel).result)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)  # every thread of the process: steadier than wall time on a loaded box
    stats = w.status()["job_data"]
    stats["cpu_s"] = cpu
    w.end_job(items[0].job_id)
    w.shutdown()
    return times, results, stats


def plan_reuse(panel, payload: dict, items: list[WorkItem], backend: str, repeat: int) -> dict:
    """What keeping the built inputs in the plan saves per chunk: the job's chunks run on one
    `prepare_sweep` plan that keeps them (the CPU kernel's time-major inputs, the GPU's window
    tables of the grid) and on the same plan with nothing kept (each run builds its own, as the
    kept path did before), alternated, `repeat` rounds; medians of wall and process CPU seconds."""
    from dataclasses import replace  # noqa: PLC0415

    from kernels.backtest.sweep import prepare_sweep  # noqa: PLC0415

    assets = items[0].chunk.assets
    chunks = [range(*i.chunk.combos) for i in items if i.chunk.assets == assets]
    plan = prepare_sweep(panel, payload["strategy"], payload["grid"], fees=payload["fees"], assets=range(*assets),
                         backend=backend)
    fresh = replace(plan, keep=False, kept=type(plan.kept)())  # same prepared inputs, builds per run
    plan.run(chunks[0])  # builds what the plan keeps (not timed: the first chunk pays it either way)
    fresh.run(chunks[0])
    wall: dict[str, list[float]] = {"kept": [], "per_chunk": []}
    cpu: dict[str, list[float]] = {"kept": [], "per_chunk": []}
    for _ in range(repeat):
        for combos in chunks[1:]:
            for name, p in (("kept", plan), ("per_chunk", fresh)):
                t0, c0 = time.perf_counter(), time.process_time()
                p.run(combos)
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
    med = {k: statistics.median(v) for k, v in wall.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    print(f"plan reuse ({backend}): per later chunk {med['per_chunk'] * 1e3:.2f} ms building per run, "
          f"{med['kept'] * 1e3:.2f} ms kept (saved {(med['per_chunk'] - med['kept']) * 1e3:.2f} ms); process CPU "
          f"{med_cpu['per_chunk'] * 1e3:.2f} / {med_cpu['kept'] * 1e3:.2f} ms; builds {plan.builds}, "
          f"kept bytes {plan.nbytes - fresh.input_nbytes:,}", flush=True)
    return {"backend": backend, "chunks_timed": len(wall["kept"]), "median_s": med, "median_cpu_s": med_cpu,
            "saved_per_chunk_s": med["per_chunk"] - med["kept"],
            "saved_per_chunk_cpu_s": med_cpu["per_chunk"] - med_cpu["kept"],
            "builds": plan.builds, "kept_bytes": plan.nbytes - fresh.input_nbytes, "table_bytes": plan.table_nbytes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--assets", type=int, default=500)
    ap.add_argument("--fast", type=int, default=200, help="fast windows 2..fast+1")
    ap.add_argument("--slow", type=int, default=500, help="slow windows from fast+3, this many")
    ap.add_argument("--combos", type=int, default=2000, help="combinations per chunk")
    ap.add_argument("--chunks", type=int, default=12)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--simulate", action="store_true", help="a simulated device even where a GPU exists")
    ap.add_argument("--plan-repeat", type=int, default=5, help="rounds of the plan-reuse comparison (0: skip)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    real = gpu_available() and not args.simulate
    config = GpuHalConfig(simulation=SimulationConfig(mode="never" if real else "always", num_devices=1))
    panel = synthetic_panel(args.assets, args.bars, seed=0)
    grid = {"fast": list(range(2, args.fast + 2)), "slow": list(range(args.fast + 3, args.fast + 3 + args.slow))}
    payload = {"dataset": "synthetic", "strategy": "trend_following", "grid": grid, "fees": 0.001, "top_k": 10}
    chunks = plan_job("sweep", payload, args.bars, args.assets, args.bars * args.assets * args.combos)[:args.chunks]
    items = [WorkItem(job_id="bench", kind="sweep", payload=payload, chunk=c, job_class=int(JobClass.LOW),
                      tenant="bench", dataset="synthetic", dataset_version="v0") for c in chunks]
    runs = []
    for rep in range(args.repeat):
        for enabled in (False, True):
            times, results, stats = run_mode(enabled, config, items, panel)
            cpu = stats.pop("cpu_s")
            runs.append({"repeat": rep, "kept": enabled, "first_s": times[0],
                         "later_median_s": statistics.median(times[1:]) if len(times) > 1 else None,
                         "later_median_cpu_s": statistics.median(cpu[1:]) if len(cpu) > 1 else None,
                         "total_s": sum(times), "job_data": stats, "results": results})
            print(f"repeat {rep} kept={enabled!s:5s} first {times[0] * 1e3:8.1f} ms  later median "
                  f"{(runs[-1]['later_median_s'] or 0) * 1e3:8.1f} ms  total {sum(times):7.2f} s  "
                  f"uploads {stats['uploads']} hits {stats['hits']} plans built {stats['derived_builds']}", flush=True)
    base = [r for r in runs if not r["kept"]][-1]["results"]
    kept = [r for r in runs if r["kept"]][-1]["results"]
    for a, b in zip(base, kept):
        pd.testing.assert_frame_equal(a.asset_metrics, b.asset_metrics, check_exact=True)
        pd.testing.assert_frame_equal(a.portfolio_metrics, b.portfolio_metrics, check_exact=True)
    print("identical partial results with and without the cache: yes")
    for r in runs:
        del r["results"]
    later = {k: statistics.median(r["later_median_s"] for r in runs if r["kept"] is k) for k in (False, True)}
    later_cpu = {k: statistics.median(r["later_median_cpu_s"] for r in runs if r["kept"] is k) for k in (False, True)}
    out = {"command": " ".join(["python", *sys.argv]), "device": "gpu" if real else "simulated",
           "bars": args.bars, "assets": args.assets, "grid_combinations": args.fast * args.slow,
           "combos_per_chunk": args.combos, "chunks": len(items), "runs": runs,
           "later_chunk_median_s": {"uncached": later[False], "kept": later[True]},
           "later_chunk_median_cpu_s": {"uncached": later_cpu[False], "kept": later_cpu[True]},
           "load_average_1m": os.getloadavg()[0],
           "speedup_later_chunks": later[False] / later[True] if later[True] else None,
           "identical_results": True}
    if args.plan_repeat:
        out["plan_reuse"] = plan_reuse(panel, payload, items, "gpu" if real else "cpu", args.plan_repeat)
    print(f"later chunks: uncached {later[False] * 1e3:.1f} ms, kept {later[True] * 1e3:.1f} ms "
          f"({out['speedup_later_chunks']:.2f}x); process CPU {later_cpu[False] * 1e3:.1f} / "
          f"{later_cpu[True] * 1e3:.1f} ms")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
