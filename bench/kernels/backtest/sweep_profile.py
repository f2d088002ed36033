"""Profile the GPU sweep kernels at 2520 x 500 x 10,000 (issue 2's throughput target).

For each large grid of bench_sweep.py (trend_following sma / ema, momentum,
mean_reversion, pairs), in one process on the same synthetic panel:

- `execute(plan)`: kernel + every asset and portfolio metric (the target's "full
  metric set"), timed with CUDA events (cupyx.profiler.benchmark);
- the kernel alone on the table path (window tables built per launch, included)
  and on the streaming path, and the table build alone;
- the metric epilogue alone (fused asset metrics + portfolio aggregates);
- the table and streaming paths' results compared (identical sums and counts);
- compile-time variants of the kernel (`--variants KEY:DEFINES;...`), each checked
  against the default build;
- sampled combinations (all assets) of `execute` against the CPU backend.

    python bench/kernels/backtest/sweep_profile.py --out bench/results/sweep_profile_h100.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bench.kernels.backtest.bench_sweep import LARGE_GRIDS, check_sample, device_name, gpu_summary, kernel_only  # noqa: E402
from kernels.backtest import Chunk  # noqa: E402
from kernels.backtest.sweep import (  # noqa: E402
    asset_metric_arrays,
    execute,
    plan_sweep,
    portfolio_metric_arrays,
)
from kernels.data import synthetic_panel  # noqa: E402

DEFAULT_VARIANTS = ("trend_sma:SWEEP_TMINB=3;trend_sma:SWEEP_TMINB=5;trend_sma:SWEEP_TPREF=2;trend_sma:SWEEP_REDUCE=2;"
                    "trend_ema:SWEEP_TPREF=2;"
                    "mean_reversion:SWEEP_TMINB=3;mean_reversion:SWEEP_TMINB=5;mean_reversion:SWEEP_TPREF=2;"
                    "pairs:SWEEP_TMINB=2;pairs:SWEEP_TMINB=4;pairs:SWEEP_TMINB=2,SWEEP_TPREF=2")


def kernel_attributes(plan) -> dict[str, Any]:
    """Registers and local memory (spills) of the kernels this plan launches."""
    from kernels.backtest import gpu  # noqa: PLC0415

    out = {}
    mod = gpu.module()
    for table in (False, True):
        if table and plan.grid.kind not in gpu.TABLE_KINDS:
            continue
        name = gpu.kernel_name(plan.grid.kind, plan.dtype, table)
        fn = mod.get_function(name)
        out[name] = {"num_regs": int(fn.num_regs), "local_size_bytes": int(fn.local_size_bytes)}
    return out


def profile_one(panel_host, dev, key: str, n_combos: int, fees: float, repeat: int, variants: list[str],
                check: bool) -> dict[str, Any]:
    import cupy as cp  # noqa: PLC0415
    from cupyx.profiler import benchmark  # noqa: PLC0415

    from kernels.backtest import gpu  # noqa: PLC0415

    name, grid = LARGE_GRIDS[key]
    dt = "float64"
    plan = plan_sweep(dev, name, grid, fees=fees, chunk=Chunk(range(0, n_combos), slice(None)), backend="gpu",
                      dtype=dt)
    cells = plan.n_cells
    row: dict[str, Any] = {"strategy": name, "grid": key, "dtype": dt, "cells": cells}
    t0 = time.perf_counter()
    arrays, port, _ = execute(plan)
    cp.cuda.Device().synchronize()
    row["first_execute_s"] = time.perf_counter() - t0

    def timed(label: str, fn, *args) -> dict[str, Any]:
        perf = gpu_summary(benchmark(fn, args, n_repeat=repeat, n_warmup=1))
        perf["cells_per_s"] = cells / (perf["gpu_median_ms"] / 1e3)
        row[label] = perf
        return perf

    timed("execute", execute, plan)
    paths = ["auto", "stream"] + (["table"] if plan.grid.kind in gpu.TABLE_KINDS else [])
    results = {}
    for path in paths:
        fn = kernel_only(plan, path=path)
        acc, sums = fn()
        results[path] = (acc.get(), sums.get())
        timed(f"kernel_{path}", fn)
        del acc, sums
    if "table" in results:
        (a, s), (b, t) = results["stream"], results["table"]
        counts = [0, 6, 7, 8, 9, 10]
        with np.errstate(all="ignore"):
            rel = np.abs(a - b) / np.maximum(np.abs(a), 1e-300)
        row["table_vs_stream"] = {"sums_equal": bool(np.array_equal(s, t)),
                                  "counts_equal": bool(np.array_equal(a[counts], b[counts])),
                                  "max_rel_diff": float(np.nanmax(np.where(np.isfinite(rel), rel, 0.0)))}
        tp = plan.tables or gpu.plan_tables(plan.grid.kind, plan.grid.ints[plan.combos.start:plan.combos.stop],
                                            plan.n_bars, plan.prep.sig.shape[1], plan.dtype, force=True)
        row["n_table_slots"] = tp.n_slots
        row["table_bytes"] = int(tp.n_slots * plan.prep.sig.size * plan.prep.sig.dtype.itemsize)
        perf = gpu_summary(benchmark(gpu.build_tables, (plan.prep.sig, plan.prep.first, tp), n_repeat=repeat,
                                     n_warmup=1))
        row["table_build"] = perf
    # the epilogue alone, on one kernel output
    acc0, sums0 = kernel_only(plan)()
    prep = plan.prep

    def epilogue() -> Any:
        am = asset_metric_arrays(cp, acc0, plan.bars_per_year)
        return portfolio_metric_arrays(cp, sums0, prep.active_count, prep.scale_exp, plan.bars_per_year,
                                       am["n_trades"], am["n_closed"], am["n_wins"], am["exposure"],
                                       am["turnover"])

    row["epilogue"] = gpu_summary(benchmark(epilogue, (), n_repeat=repeat, n_warmup=1))
    row["kernel_attributes"] = kernel_attributes(plan)
    base = results.get("table", results["stream"])
    for v in variants:
        k, _, defs = v.partition(":")
        if k != key:
            continue
        defines = tuple(x for x in defs.split(",") if x)
        fn = kernel_only(plan, defines)
        acc, sums = fn()
        same = bool(np.array_equal(sums.get(), base[1]) and np.allclose(acc.get(), base[0], rtol=1e-12,
                                                                         equal_nan=True))
        del acc, sums
        perf = timed(f"variant {defs}", fn)
        perf["same_result_as_base"] = same
    if check:
        starts = [0, n_combos // 2, n_combos - 4]
        row["check_vs_cpu"] = check_sample(panel_host, arrays, port, name, grid, dt, fees, plan.combos, starts)
    del arrays, port
    cp.get_default_memory_pool().free_all_blocks()
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--assets", type=int, default=500)
    ap.add_argument("--combos", type=int, default=10000)
    ap.add_argument("--strategies", default=",".join(LARGE_GRIDS))
    ap.add_argument("--fees", type=float, default=0.001)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)  # bench_sweep.py's large panel: seed + 1
    ap.add_argument("--variants", default=DEFAULT_VARIANTS, help="';'-separated KEY:DEFINE,DEFINE entries")
    ap.add_argument("--no-check", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    panel = synthetic_panel(args.assets, args.bars, seed=args.seed)
    dev = panel.to("gpu")
    results: dict[str, Any] = {
        "bench": "sweep_profile",
        "command": "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
        "device": device_name(), "bars": args.bars, "assets": args.assets, "combos": args.combos,
        "fees": args.fees, "runs": {},
    }
    print(f"sweep profile on {results['device']}: {args.bars} x {args.assets} x {args.combos}, float64", flush=True)
    variants = [v for v in args.variants.split(";") if v]
    for key in args.strategies.split(","):
        row = profile_one(panel, dev, key, args.combos, args.fees, args.repeat, variants, not args.no_check)
        results["runs"][key] = row
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
        parts = [f"{lab} {v['gpu_median_ms']:.2f} ms ({v['cells_per_s']:.3g}/s)" for lab, v in row.items()
                 if isinstance(v, dict) and "cells_per_s" in v]
        extra = [f"table build {row['table_build']['gpu_median_ms']:.2f} ms"] if "table_build" in row else []
        extra.append(f"epilogue {row['epilogue']['gpu_median_ms']:.2f} ms")
        if "table_vs_stream" in row:
            extra.append(f"table==stream {row['table_vs_stream']}")
        if "check_vs_cpu" in row:
            c = row["check_vs_cpu"]
            extra.append(f"cpu check {c['max_rel_diff_assets']:.1e}/{c['max_rel_diff_portfolio']:.1e} "
                         f"nan-eq {c['nan_pattern_equal']}")
        vs = [f"{lab}: same={v['same_result_as_base']}" for lab, v in row.items() if lab.startswith("variant")]
        print(f"{key}:\n  " + "\n  ".join(parts + extra + vs) + f"\n  {row['kernel_attributes']}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
