"""Benchmark: parameter sweeps — vectorbt vs kernels.backtest.sweep (CPU, GPU).

Side by side in one process on the same synthetic panel:

1. MA-crossover sweep, `--bars` x `--assets` x 100 combinations (fast 5..50 x slow
   60..150, long-only, fees):
   - vectorbt 1.2.0: `vbt.MA.run` with the 100 fast / slow windows,
     `Portfolio.from_signals(entries=fast above slow, exits=fast below slow)` and
     total return, Sharpe, max drawdown, trade count and win rate per column
     (warm: one call first so that Numba has compiled). vectorbt computes fewer
     metrics than we do and no portfolio per combination.
   - ours, CPU: `sweep(..., backend="cpu")` end to end (DataFrames included), and
     `execute(plan)` (kernel + every metric, arrays).
   - ours, GPU: `execute(plan)` on device inputs (kernel + every asset and
     portfolio metric), timed with `cupyx.profiler.benchmark` (CUDA events), the
     kernel alone, and `sweep(...)` end to end on a NumPy panel.
2. Large GPU sweeps, `--bars` x `--large-assets` x `--large-combos` for every
   built-in strategy (trend_following sma and ema, momentum, mean_reversion, pairs)
   in float64 and float32: cells/s = T * N * P / GPU time of `execute`, plus a
   check of sampled combinations (all assets) against the CPU backend.
3. `--variants`: the kernel alone under compile-time variants (see kernels/backtest/gpu.py:
   reduction, prefetch, blocks per SM, pre-screens, timing diagnostics) on some of the
   large sweeps, each checked against the default build.

    python bench/kernels/backtest/bench_sweep.py --out bench/results/sweep_cpu_2core.json --no-gpu
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from kernels.backend import gpu_available  # noqa: E402
from kernels.backtest import Chunk, sweep  # noqa: E402
from kernels.backtest.sweep import execute, kernel_floats, plan_sweep  # noqa: E402
from bench.timing import summary, wall_times  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402

SMALL_FAST = list(range(5, 55, 5))
SMALL_SLOW = list(range(60, 160, 10))
LARGE_GRIDS: dict[str, tuple[str, dict[str, Any]]] = {
    "trend_sma": ("trend_following", {"fast": list(range(2, 102)), "slow": list(range(105, 305, 2)),
                                      "long_only": False}),
    "trend_ema": ("trend_following", {"fast": list(range(2, 102)), "slow": list(range(105, 305, 2)),
                                      "ma": "ema", "long_only": False}),
    "momentum": ("momentum", {"lookback": list(range(1, 251)), "threshold": [i * 0.001 for i in range(40)]}),
    "mean_reversion": ("mean_reversion", {"window": list(range(5, 130, 5)),
                                          "entry_z": [round(1.0 + 0.1 * i, 2) for i in range(20)],
                                          "exit_z": [round(0.05 * i, 2) for i in range(20)]}),
    "pairs": ("pairs", {"window": list(range(5, 130, 5)), "entry_z": [round(1.0 + 0.1 * i, 2) for i in range(20)],
                        "exit_z": [round(0.05 * i, 2) for i in range(20)]}),
}




def gpu_summary(perf) -> dict[str, Any]:
    g = np.asarray(perf.gpu_times[0]) * 1e3
    c = np.asarray(perf.cpu_times) * 1e3
    return {"gpu_median_ms": float(np.median(g)), "gpu_min_ms": float(g.min()), "host_median_ms": float(np.median(c)),
            "n": int(g.size)}


def small_grid() -> dict[str, Any]:
    return {"fast": SMALL_FAST, "slow": SMALL_SLOW, "ma": "sma", "long_only": True}


# ------------------------------------------------------------------ vectorbt
def bench_vectorbt(close: np.ndarray, fees: float, repeat: int) -> dict[str, Any]:
    import pandas as pd  # noqa: PLC0415
    import vectorbt as vbt  # noqa: PLC0415

    df = pd.DataFrame(close)
    fast_w = [f for f in SMALL_FAST for s in SMALL_SLOW]
    slow_w = [s for f in SMALL_FAST for s in SMALL_SLOW]

    def with_metrics():
        f = vbt.MA.run(df, fast_w, short_name="fast")
        s = vbt.MA.run(df, slow_w, short_name="slow")
        pf = vbt.Portfolio.from_signals(df, f.ma_above(s), f.ma_below(s), fees=fees, freq="1D")
        return pf.total_return(), pf.sharpe_ratio(), pf.max_drawdown(), pf.trades.count(), pf.trades.win_rate()

    t0 = time.perf_counter()
    out = with_metrics()
    first = time.perf_counter() - t0
    times = wall_times(with_metrics, repeat, warmup=0)
    return {"version": vbt.__version__, "first_call_ms": first * 1e3, "warm": summary(times),
            "columns": int(out[0].shape[0]), "mean_total_return": float(np.nanmean(out[0].to_numpy()))}


# ------------------------------------------------------------------ ours
def bench_small_cpu(panel, fees: float, repeat: int) -> dict[str, Any]:
    grid = small_grid()
    t0 = time.perf_counter()
    res = sweep(panel, "trend_following", grid, fees=fees, backend="cpu")
    first = time.perf_counter() - t0
    plan = plan_sweep(panel, "trend_following", grid, fees=fees, backend="cpu")
    return {
        "first_call_ms": first * 1e3,
        "sweep_end_to_end": summary(wall_times(lambda: sweep(panel, "trend_following", grid, fees=fees,
                                                             backend="cpu"), repeat)),
        "execute": summary(wall_times(lambda: execute(plan), repeat)),
        "cells": plan.n_cells,
        "mean_total_return": float(res.asset_metrics["total_return"].mean()),
        "top_sharpe": float(res.top["sharpe"].iloc[0]),
        "_result": res,
    }


def device_name() -> str:
    import cupy as cp  # noqa: PLC0415

    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def kernel_only(plan, defines: tuple[str, ...] = (), warps: int | None = None,
                path: str = "auto") -> Callable[[], Any]:
    import cupy as cp  # noqa: PLC0415

    from kernels.backtest import gpu  # noqa: PLC0415

    g, prep = plan.grid, plan.prep
    ints = cp.asarray(g.ints[plan.combos.start:plan.combos.stop])
    floats = cp.asarray(kernel_floats(g, plan.combos, plan.dtype))
    fs = plan.fees + plan.slippage
    kw: dict[str, Any] = {"warps_per_block": warps} if warps else {}
    if path in ("auto", "table") and plan.tables is not None:
        kw["tables"] = plan.tables  # made by plan_sweep, as execute uses it
    return lambda: gpu.launch(g.kind, prep.sig, prep.ra, prep.rb, prep.first, ints, floats, len(plan.assets), fs,
                              2.0 ** prep.scale_exp, defines=defines, path=path, **kw)


def bench_small_gpu(panel, fees: float, repeat: int, cpu_result) -> dict[str, Any]:
    from cupyx.profiler import benchmark  # noqa: PLC0415

    grid = small_grid()
    dev = panel.to("gpu")
    plan = plan_sweep(dev, "trend_following", grid, fees=fees, backend="gpu")
    execute(plan)
    res = sweep(panel, "trend_following", grid, fees=fees, backend="gpu")
    diff = np.abs(res.asset_metrics.to_numpy() - cpu_result.asset_metrics.to_numpy())
    scale = np.maximum(np.abs(cpu_result.asset_metrics.to_numpy()), 1e-12)
    return {
        "device": device_name(),
        "execute": gpu_summary(benchmark(execute, (plan,), n_repeat=repeat, n_warmup=5)),
        "kernel": gpu_summary(benchmark(kernel_only(plan), (), n_repeat=repeat, n_warmup=5)),
        "sweep_end_to_end_numpy_panel": summary(wall_times(
            lambda: sweep(panel, "trend_following", grid, fees=fees, backend="gpu"), 10)),
        "max_rel_diff_vs_cpu": float(np.nanmax(np.where(np.isfinite(diff), diff / scale, 0.0))),
        "nan_pattern_equal_to_cpu": bool(np.array_equal(np.isnan(res.asset_metrics.to_numpy()),
                                                        np.isnan(cpu_result.asset_metrics.to_numpy()))),
    }


def check_sample(panel_host, dev_arrays, dev_port, name: str, grid: dict, dtype, fees: float, combos: range,
                 starts: list[int]) -> dict[str, Any]:
    """Sampled combinations (all assets) of a GPU execute against CPU sweeps."""
    from kernels.backtest.metrics import METRICS  # noqa: PLC0415

    worst_a = worst_p = 0.0
    nan_ok = True
    for s in starts:
        ch = range(combos.start + s, min(combos.start + s + 4, combos.stop))
        cpu = sweep(panel_host, name, grid, fees=fees, chunk=Chunk(ch, slice(None)), backend="cpu", dtype=dtype)
        a = np.stack([dev_arrays[m][s:s + len(ch)].get() for m in METRICS], axis=-1).reshape(-1, len(METRICS))
        b = cpu.asset_metrics.to_numpy()
        pa, pb = dev_port[s:s + len(ch)].get(), cpu.portfolio_metrics.to_numpy()
        nan_ok &= bool(np.array_equal(np.isnan(a), np.isnan(b)) and np.array_equal(np.isnan(pa), np.isnan(pb)))
        with np.errstate(all="ignore"):
            ra = np.abs(a - b) / np.maximum(np.abs(b), 1e-12)
            rp = np.abs(pa - pb) / np.maximum(np.abs(pb), 1e-12)
        worst_a = max(worst_a, float(np.nanmax(np.where(np.isfinite(ra), ra, 0.0))))
        worst_p = max(worst_p, float(np.nanmax(np.where(np.isfinite(rp), rp, 0.0))))
    return {"combos_checked": [combos.start + s for s in starts], "per_start": 4, "assets": "all",
            "max_rel_diff_assets": worst_a, "max_rel_diff_portfolio": worst_p, "nan_pattern_equal": nan_ok}


def bench_large(panel_host, strategies: list[str], dtypes: list[str], n_combos: int, fees: float,
                repeat: int, check: bool) -> dict[str, Any]:
    import cupy as cp  # noqa: PLC0415
    from cupyx.profiler import benchmark  # noqa: PLC0415

    dev = panel_host.to("gpu")
    out: dict[str, Any] = {}
    for key in strategies:
        name, grid = LARGE_GRIDS[key]
        for dt in dtypes:
            chunk = Chunk(range(0, n_combos), slice(None))
            plan = plan_sweep(dev, name, grid, fees=fees, chunk=chunk, backend="gpu", dtype=dt)
            arrays, port, _ = execute(plan)
            cp.cuda.Device().synchronize()
            perf = benchmark(execute, (plan,), n_repeat=repeat, n_warmup=1)
            kperf = benchmark(kernel_only(plan), (), n_repeat=repeat, n_warmup=1)
            row = {
                "strategy": name, "grid": key, "dtype": dt, "cells": plan.n_cells,
                "execute": gpu_summary(perf), "kernel": gpu_summary(kperf),
            }
            row["cells_per_s"] = plan.n_cells / (row["execute"]["gpu_median_ms"] / 1e3)
            row["kernel_cells_per_s"] = plan.n_cells / (row["kernel"]["gpu_median_ms"] / 1e3)
            if check:
                starts = [0, n_combos // 2, n_combos - 4]
                row["check_vs_cpu"] = check_sample(panel_host, arrays, port, name, grid, dt, fees, plan.combos,
                                                   starts)
            del arrays, port
            out[f"{key}-{dt}"] = row
            print(f"  {key:15s} {dt:8s} execute {row['execute']['gpu_median_ms']:9.2f} ms "
                  f"({row['cells_per_s']:.3g} cells/s), kernel {row['kernel']['gpu_median_ms']:9.2f} ms "
                  f"({row['kernel_cells_per_s']:.3g} cells/s)"
                  + (f", check max rel {row['check_vs_cpu']['max_rel_diff_assets']:.1e}/"
                     f"{row['check_vs_cpu']['max_rel_diff_portfolio']:.1e} nan-eq "
                     f"{row['check_vs_cpu']['nan_pattern_equal']}" if check else ""), flush=True)
            cp.get_default_memory_pool().free_all_blocks()
    return out


def bench_variants(panel_host, variants: list[str], keys: list[str], n_combos: int, fees: float,
                   repeat: int) -> dict[str, Any]:
    import cupy as cp  # noqa: PLC0415
    from cupyx.profiler import benchmark  # noqa: PLC0415

    dev = panel_host.to("gpu")
    out: dict[str, Any] = {}
    for key in keys:
        name, grid = LARGE_GRIDS[key]
        plan = plan_sweep(dev, name, grid, fees=fees, chunk=Chunk(range(0, n_combos), slice(None)), backend="gpu")
        base = None
        for v in ["base", *variants]:
            defines = () if v == "base" else tuple(x for x in v.split(",") if x)
            warps = None
            for d in defines:
                if d.startswith("SWEEP_WARPS="):
                    warps = int(d.split("=")[1])
            fn = kernel_only(plan, defines, warps)
            acc, sums = fn()
            if base is None:
                base = (acc.get(), sums.get())
                same = True
            else:
                same = bool(np.array_equal(sums.get(), base[1]) and np.allclose(acc.get(), base[0], rtol=1e-12,
                                                                                  equal_nan=True))
            perf = gpu_summary(benchmark(fn, (), n_repeat=repeat, n_warmup=1))
            perf["cells_per_s"] = plan.n_cells / (perf["gpu_median_ms"] / 1e3)
            perf["same_result_as_base"] = same
            out[f"{key}:{v}"] = perf
            print(f"  variant {key:15s} {v:30s} {perf['gpu_median_ms']:9.2f} ms ({perf['cells_per_s']:.3g} cells/s)"
                  f" same={same}", flush=True)
            del acc, sums
            cp.get_default_memory_pool().free_all_blocks()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--assets", type=int, default=100)
    ap.add_argument("--large-assets", type=int, default=500)
    ap.add_argument("--large-combos", type=int, default=10000)
    ap.add_argument("--strategies", default=",".join(LARGE_GRIDS), help=f"large sweeps, of {list(LARGE_GRIDS)}")
    ap.add_argument("--dtypes", default="float64,float32")
    ap.add_argument("--fees", type=float, default=0.001)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--gpu-repeat", type=int, default=50)
    ap.add_argument("--large-repeat", type=int, default=3)
    ap.add_argument("--variants", default="", help="';'-separated define sets, e.g. 'SWEEP_REDUCE=1;SWEEP_MINB=2'")
    ap.add_argument("--variant-strategies", default="trend_sma,mean_reversion,pairs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-vectorbt", action="store_true")
    ap.add_argument("--no-gpu", action="store_true")
    ap.add_argument("--no-large", action="store_true")
    ap.add_argument("--no-check", action="store_true", help="skip the CPU check of sampled large-sweep rows")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    has_gpu = gpu_available() and not args.no_gpu
    panel = synthetic_panel(args.assets, args.bars, seed=args.seed)
    import numba  # noqa: PLC0415

    print(f"sweep benchmark: {args.bars} bars x {args.assets} assets x {len(SMALL_FAST) * len(SMALL_SLOW)} "
          f"MA-crossover combinations, dtype float64, fees {args.fees}")
    print(f"host: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, numba threads "
          f"{numba.get_num_threads()}; GPU: {device_name() if has_gpu else 'none'}", flush=True)
    results: dict[str, Any] = {
        "bench": "sweep",
        "command": "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
        "bars": args.bars, "assets": args.assets, "combos": len(SMALL_FAST) * len(SMALL_SLOW),
        "grid": small_grid(), "fees": args.fees, "dtype": "float64", "cpu_count": os.cpu_count(),
        "numba_threads": numba.get_num_threads(), "python": platform.python_version(),
    }
    def save() -> None:  # after every section, so that a run cut short keeps what it measured
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")

    ours = bench_small_cpu(panel, args.fees, args.repeat)
    cpu_result = ours.pop("_result")
    results["ours_cpu"] = ours
    print(f"ours CPU: sweep {ours['sweep_end_to_end']['median_ms']:.1f} ms, execute "
          f"{ours['execute']['median_ms']:.1f} ms ({ours['cells'] / ours['execute']['median_ms'] * 1e3:.3g} cells/s)",
          flush=True)
    if not args.no_vectorbt:
        vb = bench_vectorbt(np.asarray(panel.close), args.fees, max(2, args.repeat // 2))
        results["vectorbt"] = vb
        vt = vb["warm"]["median_ms"]
        results["speedup_cpu_vs_vectorbt"] = vt / ours["sweep_end_to_end"]["median_ms"]
        results["speedup_cpu_execute_vs_vectorbt"] = vt / ours["execute"]["median_ms"]
        print(f"vectorbt {vb['version']}: {vt:.1f} ms warm -> CPU sweep {results['speedup_cpu_vs_vectorbt']:.1f}x "
              f"(execute {results['speedup_cpu_execute_vs_vectorbt']:.1f}x)", flush=True)
    save()
    if has_gpu:
        g = bench_small_gpu(panel, args.fees, args.gpu_repeat, cpu_result)
        results["ours_gpu"] = g
        print(f"ours GPU ({g['device']}): execute {g['execute']['gpu_median_ms']:.3f} ms GPU "
              f"({g['execute']['host_median_ms']:.3f} ms host), kernel {g['kernel']['gpu_median_ms']:.3f} ms, "
              f"sweep end to end {g['sweep_end_to_end_numpy_panel']['median_ms']:.1f} ms; max rel diff vs CPU "
              f"{g['max_rel_diff_vs_cpu']:.1e}", flush=True)
        if "vectorbt" in results:
            vt = results["vectorbt"]["warm"]["median_ms"]
            results["speedup_gpu_execute_vs_vectorbt"] = vt / g["execute"]["gpu_median_ms"]
            results["speedup_gpu_end_to_end_vs_vectorbt"] = vt / g["sweep_end_to_end_numpy_panel"]["median_ms"]
            print(f"  -> GPU execute {results['speedup_gpu_execute_vs_vectorbt']:.0f}x vectorbt, end to end "
                  f"{results['speedup_gpu_end_to_end_vs_vectorbt']:.0f}x", flush=True)
        save()
        big = synthetic_panel(args.large_assets, args.bars, seed=args.seed + 1)
        results["large"] = {"bars": args.bars, "assets": args.large_assets, "combos": args.large_combos,
                            "device": g["device"]}
        if not args.no_large:
            print(f"large sweeps: {args.bars} x {args.large_assets} x {args.large_combos}", flush=True)
            results["large"]["runs"] = bench_large(big, args.strategies.split(","), args.dtypes.split(","),
                                                   args.large_combos, args.fees, args.large_repeat,
                                                   not args.no_check)
            save()
        if args.variants:
            results["variants"] = bench_variants(big, args.variants.split(";"), args.variant_strategies.split(","),
                                                 args.large_combos, args.fees, args.large_repeat)
    save()
    if args.out:
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
