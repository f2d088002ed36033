"""Every GPU path of each TA-Lib function, timed side by side, to choose the route `talib.gpu.run` takes.

A function may run on the GPU several ways (kernels/indicators/talib/gpu.py): an affine scan or a
verified speculation over time segments (`gpu_scan`), the column kernel cut into time segments with
a warm-up (`time_split`), the column kernel with one thread per column, a shared or composed kernel
(`KERNELS`, `compose`), a fused elementwise kernel (`xp`). This times each path that exists for a
function (device time, host time and wall time with a sync, data already on the device, default
parameters; the best path and the ratios by wall time), the public call
`kernels.indicators.talib.<NAME>` (route, NaN-policy gap check, output conversion included) and the
gap check alone, next to TA-Lib single-thread on ready contiguous columns (bench_talib.talib_seconds,
on `--talib-columns` columns, scaled): which path is fastest, what the public
call adds, and each ratio to the >= 100 x target.

Usage: python bench/kernels/indicators/bench_gpu_paths.py --bars 2520 --assets 5000 [--functions all|A,B]
       [--talib-columns 500] [--repeat 5] --out bench/results/talib_gpu_paths_<machine>.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable

import numpy as np

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from bench.kernels.indicators.bench_talib import _best, _inputs, talib_seconds  # noqa: E402 - the ratio benchmark's
from bench.timing import report_rows  # noqa: E402
from kernels.backend import get_array_module  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402
from kernels.indicators import gaps_gpu  # noqa: E402
from kernels.indicators import talib as ta  # noqa: E402
from kernels.indicators.talib import compose, gpu, gpu_columns, gpu_scan, time_split  # noqa: E402
from kernels.indicators.talib import xp as xp_funcs  # noqa: E402
from kernels.indicators.talib.table import FUNCTIONS  # noqa: E402


DISAGREE_TOL = 1e-9  # a route's largest relative difference from one thread per column that still counts as equal


def _times(fn: Callable[[], Any], repeat: int) -> tuple[float, float, float]:
    """(GPU ms, host ms, wall ms with a sync) of one call, best of `repeat`: the device's work, the Python
    and launch work around it, and what a caller waits for."""
    import cupy  # noqa: PLC0415
    from cupyx.profiler import benchmark  # noqa: PLC0415

    fn()  # compile / warm the pools
    r = benchmark(fn, n_repeat=repeat, n_warmup=1)
    wall = _best(fn, repeat, cupy.cuda.get_current_stream().synchronize)
    return float(np.min(r.gpu_times) * 1e3), float(np.min(r.cpu_times) * 1e3), wall * 1e3


def paths(name: str, ins: list, values: dict) -> dict[str, Callable[[], Any]]:
    """path -> a call of that path, for every path `name` has on the GPU."""
    import cupy  # noqa: PLC0415

    fd = FUNCTIONS[name]
    n_bars, n_cols = (int(d) for d in ins[0].shape)
    out: dict[str, Callable[[], Any]] = {}
    if name in xp_funcs.FUNCS:
        out["xp"] = lambda: xp_funcs.run(cupy, name, ins, dict(values))
    if gpu_scan.covers(name, values):
        cut = gpu_scan.plan(name, n_bars, n_cols)
        out["scan"] = lambda: gpu_scan.run(name, ins, values, cut)
    if name in gpu_columns.registry():
        warm = time_split.warm_bars(name, values)
        if warm is not None and time_split.plan(n_bars, n_cols, warm).segments > 1:
            split = time_split.plan(n_bars, n_cols, warm)
            out["split"] = lambda: gpu_columns.run(name, ins, values, len(fd.outputs), cut=split)
        out["column"] = lambda: gpu_columns.run(name, ins, values, len(fd.outputs))
    if name in gpu.KERNELS:
        out["shared"] = lambda: gpu.KERNELS[name](ins, values)
    if name in compose.FUNCS and compose.supported(name, dict(values)):
        out["compose"] = lambda: compose.FUNCS[name](gpu._GpuPrimitives(), *ins, **values)
    return out


def _outputs(result: Any) -> list:
    return list(result) if isinstance(result, (list, tuple)) else [result]


def disagreement(result: Any, reference: Any) -> float:
    """The largest difference of `result` from `reference` relative to max(1, |reference|) over every
    output and bar (inf where one has a value and the other NaN): each route must give the reference
    route's values, so that choosing the fastest changes no result."""
    worst = 0.0
    for a, b in zip(_outputs(result), _outputs(reference), strict=True):
        xp = get_array_module(a, b)
        a, b = xp.asarray(a, dtype=xp.float64), xp.asarray(b, dtype=xp.float64)
        if a.shape != b.shape or bool(xp.any(xp.isnan(a) != xp.isnan(b))):
            return float("inf")
        both = ~xp.isnan(b)
        if bool(both.any()):
            worst = max(worst, float(xp.max(xp.abs(a[both] - b[both]) / xp.maximum(1.0, xp.abs(b[both])))))
    return worst


def main() -> None:
    import cupy  # noqa: PLC0415

    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--assets", type=int, default=5000)
    ap.add_argument("--functions", default="all")
    ap.add_argument("--talib-columns", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    names = list(gpu.GPU_FUNCTIONS) if args.functions == "all" else args.functions.split(",")
    panel = synthetic_panel(n_assets=args.assets, n_bars=args.bars, seed=0)
    fields = ("open", "high", "low", "close", "volume")
    host = {f: np.ascontiguousarray(getattr(panel, f), dtype=np.float64) for f in fields}
    dev = {k: cupy.asarray(v) for k, v in host.items()}

    rows = []
    for name in names:
        fd = FUNCTIONS[name]
        values = fd.check(fd.defaults)
        ins = _inputs(name, dev)
        talib_ms = talib_seconds(name, _inputs(name, host), args.talib_columns, args.repeat) * 1e3
        row: dict[str, Any] = {"function": name, "talib_ms": talib_ms}
        calls = dict(paths(name, ins, values), public=lambda: getattr(ta, name)(*ins),
                      gap_check=lambda: gaps_gpu.inputs_have_gaps(ins))
        reference = None
        for path in ("column", "public"):  # one thread per column where it exists: every route's reference
            if reference is None and path in calls:
                try:
                    reference = calls[path]()
                except Exception:  # noqa: BLE001 - reported below with its path
                    pass
        for path, call in calls.items():
            try:
                row[f"{path}_ms"], row[f"{path}_host_ms"], row[f"{path}_wall_ms"] = _times(call, args.repeat)
                if path != "gap_check" and reference is not None:
                    row[f"{path}_vs_column"] = disagreement(call(), reference)
            except Exception as e:  # noqa: BLE001 - a path that fails is reported, the others still timed
                row[f"{path}_error"] = f"{type(e).__name__}: {str(e)[:200]}"
        timed = {p: row[f"{p}_wall_ms"] for p in calls if p not in ("public", "gap_check") and f"{p}_wall_ms" in row
                 and row.get(f"{p}_vs_column", 0.0) <= DISAGREE_TOL}  # only routes that give the same values
        if timed:
            best = min(timed, key=timed.get)
            row.update(best_path=best, best_x=talib_ms / timed[best])
        row["public_x"] = talib_ms / row["public_wall_ms"] if "public_wall_ms" in row else 0.0
        rows.append(row)
        print(json.dumps(row), flush=True)
    device = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    summary = {"bars": args.bars, "assets": args.assets, "device": device,
               "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
               "public_below_100x": sorted(r["function"] for r in rows if r["public_x"] < 100),
               "best_below_100x": sorted(r["function"] for r in rows if r.get("best_x", 0) < 100),
               "routes_disagreeing": sorted(f"{r['function']}:{k[:-10]}={r[k]:.1e}" for r in rows for k in r
                                            if k.endswith("_vs_column") and not r[k] <= DISAGREE_TOL),
               "rows": rows}
    report_rows(summary, args.out)


if __name__ == "__main__":
    main()
