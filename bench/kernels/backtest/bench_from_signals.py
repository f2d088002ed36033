"""Benchmark: the orders engine (kernels.backtest.from_signals and its stop/size sweep)
vs vectorbt's Portfolio.from_signals, side by side in one run.

Modes (sizes as arguments):
- `signals` (default): `--bars` x `--cols` with about `--orders` orders per column
  (sparse random entries and exits, no stops): the case vectorbt PRO publishes.
  Timed: the kernel alone (`simulate` on prepared inputs: what the bars/s target is
  about) and `from_signals(...)` end to end (validation and broadcasting included);
  the peer is `vbt.Portfolio.from_signals` on the same arrays (records only, no
  value series in either). Target: CPU >= 2e9 bars/s on the 16-core GPU machine.
- `wide`: `--bars` x `--cols` (e.g. 2520 x 100,000) with the data on the device
  (`--backend gpu`). Target: >= 5e10 bars/s.
- `sweep`: MA crossover (`--ma-pairs` (fast, slow) pairs) x `--sl` stop-losses x
  `--tp` take-profits over `--assets` x `--bars`; cells = bars x assets x
  combinations, float64, every ORDER_METRIC. Target on one H100: >= 1e11 cells/s.
  `--groups K` (K groups of consecutive assets) with `--cash-sharing` times the
  cash-sharing sweep (one thread per (combination, group) on the GPU; no target).

Prints the device and dtype; writes JSON (`--out`).

    python bench/kernels/backtest/bench_from_signals.py --mode signals --bars 1000000 --cols 8 --orders 1400 --backend cpu --peer
    python bench/kernels/backtest/bench_from_signals.py --mode wide --bars 2520 --cols 100000 --backend gpu
    python bench/kernels/backtest/bench_from_signals.py --mode sweep --bars 2520 --assets 500 --ma-pairs 100 --sl 10 --tp 10 \\
        --backend gpu
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bench.timing import cpu_model, write_report  # noqa: E402


def device_name(backend: str) -> str:
    if backend == "cpu":
        return f"{cpu_model()} ({os.cpu_count()} cores)"
    import cupy as cp  # noqa: PLC0415

    return cp.cuda.runtime.getDeviceProperties(0)["name"].decode()


def sync(backend: str) -> None:
    if backend == "gpu":
        import cupy as cp  # noqa: PLC0415

        cp.cuda.Device().synchronize()


def timed(fn: Callable[[], Any], backend: str, repeat: int) -> dict[str, float]:
    t0 = time.perf_counter()
    fn()
    sync(backend)
    cold = time.perf_counter() - t0
    times, cpu = [], []
    for _ in range(repeat):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        sync(backend)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    # cpu_s: CPU seconds of this process (all threads): the cost on a shared, loaded machine
    return {"cold_s": cold, "best_s": min(times), "median_s": statistics.median(times), "cpu_s": min(cpu),
            "repeat": repeat}


def sparse_signals(bars: int, cols: int, orders: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random walk close and alternating entry/exit bars: about `orders` orders per column."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, (bars, cols)), axis=0))
    entries = np.zeros((bars, cols), dtype=bool)
    exits = np.zeros((bars, cols), dtype=bool)
    n_pairs = max(1, orders // 2)
    for j in range(cols):
        pts = np.sort(rng.choice(bars, size=min(bars, 2 * n_pairs), replace=False))
        entries[pts[0::2], j] = True
        exits[pts[1::2], j] = True
    return close, entries, exits


def bench_signals(args: argparse.Namespace) -> dict[str, Any]:
    from kernels.backtest import from_signals  # noqa: PLC0415
    from kernels.backtest.orders.api import prepare, simulate  # noqa: PLC0415

    close, entries, exits = sparse_signals(args.bars, args.cols, args.orders)
    if args.backend == "gpu":
        import cupy as cp  # noqa: PLC0415

        close_d, ent_d, ex_d = cp.asarray(close), cp.asarray(entries), cp.asarray(exits)
    else:
        close_d, ent_d, ex_d = close, entries, exits
    cells = args.bars * args.cols
    p = prepare(close_d, ent_d, ex_d, backend=args.backend)
    kernel = timed(lambda: simulate(p), args.backend, args.repeat)
    n_orders = len(simulate(p)[0])
    e2e = timed(lambda: from_signals(close_d, ent_d, ex_d, backend=args.backend), args.backend, args.repeat)
    out: dict[str, Any] = {
        "kernel": {**kernel, "bars_per_s": cells / kernel["best_s"], "bars_per_cpu_s": cells / kernel["cpu_s"]},
        "kernel_records_on": "host (order_dt records)",
        "from_signals": {**e2e, "bars_per_s": cells / e2e["best_s"]},
        "orders": n_orders,
        "orders_per_col": n_orders / args.cols,
    }
    if args.peer:
        try:
            import vectorbt as vbt  # noqa: PLC0415
        except ImportError:
            out["vectorbt"] = "not installed here"
        else:
            peer = timed(lambda: vbt.Portfolio.from_signals(close, entries, exits), "cpu", max(1, args.repeat // 2))
            pf = vbt.Portfolio.from_signals(close, entries, exits)
            ours = from_signals(close, entries, exits, backend="cpu").order_records
            same = len(ours) == len(pf.orders.records_arr) and bool(
                np.allclose(ours["price"], pf.orders.records_arr["price"], rtol=1e-9))
            out["vectorbt"] = {**peer, "bars_per_s": cells / peer["best_s"], "bars_per_cpu_s": cells / peer["cpu_s"],
                               "version": vbt.__version__,
                               "same_orders": same}
            out["speedup_kernel_vs_vectorbt"] = peer["best_s"] / kernel["best_s"]
            out["speedup_from_signals_vs_vectorbt"] = peer["best_s"] / e2e["best_s"]
    if args.backend == "gpu":  # data and records on the device: the simulation and the compaction, no host copy
        from kernels.backtest.orders import gpu  # noqa: PLC0415

        dev = timed(lambda: gpu.simulate_device(p), args.backend, args.repeat)
        out["kernel_device"] = {**dev, "bars_per_s": cells / dev["best_s"],
                                "note": "gpu.simulate_device: orders compacted on the device, not copied to the host"}
        out["kernel_device_phases_ms"] = device_phases(p)
    target = 5e10 if args.mode == "wide" else 2e9
    rate = out.get("kernel_device", out["kernel"])["bars_per_s"]
    out["targets"] = {"bars_per_s": {"bound": target, "value": rate, "met": rate >= target}}
    return out


def device_phases(p: Any) -> dict[str, float]:
    """GPU milliseconds (best of 5, CUDA events) of simulate_device's phases: the signal bitmap and
    counts, the from_signals kernel alone, the compaction of the records."""
    import cupy as cp  # noqa: PLC0415
    from cupyx.profiler import benchmark  # noqa: PLC0415

    from kernels.backtest.orders import gpu  # noqa: PLC0415

    args, out = gpu.launch_args(cp, p, gpu.launch_on_device)
    phases = {
        "signal_bitmap": lambda: gpu.signal_bitmap(cp, p, gpu.signals(cp, p), gpu.launch_on_device),
        "simulate_kernel": lambda: gpu.launch_on_device("simulate_from_signals", len(p.group_start), args),
        "compact": lambda: gpu.compact(cp, out),
    }
    return {name: float(np.min(benchmark(fn, n_repeat=5, n_warmup=1).gpu_times) * 1e3) for name, fn in phases.items()}


def ma_grid(pairs: int, bars: int) -> dict[str, list[int]]:
    n = max(1, int(round(pairs ** 0.5)))
    m = max(1, -(-pairs // n))
    fast = np.unique(np.linspace(3, 20, n).round().astype(int)).tolist()
    slow = np.unique(np.linspace(25, min(200, bars // 2), m).round().astype(int)).tolist()
    return {"fast": fast, "slow": slow}


def bench_sweep(args: argparse.Namespace) -> dict[str, Any]:
    from kernels.backtest import sweep  # noqa: PLC0415
    from kernels.data import synthetic_panel  # noqa: PLC0415

    panel = synthetic_panel(args.assets, args.bars, seed=7)
    if args.backend == "gpu":
        panel = panel.to("gpu")
    grid = {**ma_grid(args.ma_pairs, args.bars),
            "sl_stop": np.round(np.linspace(0.01, 0.10, args.sl), 4).tolist(),
            "tp_stop": np.round(np.linspace(0.02, 0.30, args.tp), 4).tolist()}
    holder: dict[str, Any] = {}

    groups = {}
    if args.groups:
        groups = {"group_by": [a * args.groups // args.assets for a in range(args.assets)],
                  "cash_sharing": bool(args.cash_sharing)}

    def call() -> None:
        holder["r"] = sweep(panel, "trend_following", grid, fees=0.001, backend=args.backend, init_cash=10_000.0,
                            **groups)

    t = timed(call, args.backend, args.repeat)
    n_combos = len(holder["r"].params)
    cells = args.bars * args.assets * n_combos
    out = {"sweep": {**t, "cells_per_s": cells / t["best_s"]}, "combinations": n_combos, "cells": cells,
           "grid_sizes": {k: len(v) for k, v in grid.items()},
           "groups": args.groups, "cash_sharing": bool(args.cash_sharing and args.groups)}
    out["targets"] = {"cells_per_s": {"bound": 1e11, "value": cells / t["best_s"], "met": cells / t["best_s"] >= 1e11}}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("signals", "wide", "sweep"), default="signals")
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--cols", type=int, default=8)
    ap.add_argument("--orders", type=int, default=1400, help="orders per column (signals/wide)")
    ap.add_argument("--assets", type=int, default=500)
    ap.add_argument("--ma-pairs", type=int, default=100)
    ap.add_argument("--sl", type=int, default=10)
    ap.add_argument("--tp", type=int, default=10)
    ap.add_argument("--groups", type=int, default=0, help="sweep mode: group the assets into this many groups")
    ap.add_argument("--cash-sharing", action="store_true", help="sweep mode with --groups: one cash per group")
    ap.add_argument("--backend", choices=("cpu", "gpu"), default="cpu")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--peer", action="store_true", help="time vectorbt beside (signals mode, CPU arrays)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    print(f"device: {device_name(args.backend)}; dtype: float64; mode {args.mode}; "
          f"numba threads {os.environ.get('NUMBA_NUM_THREADS', 'default')}", flush=True)
    body = bench_sweep(args) if args.mode == "sweep" else bench_signals(args)
    report = {"bench": "from_signals", "mode": args.mode, "device": device_name(args.backend),
              "backend": args.backend, "dtype": "float64", "python": platform.python_version(),
              "command": " ".join([Path(sys.executable).name, *sys.argv]), "args": vars(args), **body}
    print({k: v for k, v in body.items() if k != "targets"}, flush=True)
    if args.out:
        write_report(args.out, report)
    else:
        print("targets:", {k: v["met"] for k, v in body["targets"].items()})


if __name__ == "__main__":
    main()
