"""Candlestick patterns on the GPU (kernels/indicators/talib/cuda/pattern.cu) against TA-Lib single-thread.

For every pattern, over a (bars x assets) synthetic panel with the data on the device:
- TA-Lib, one thread, looping over ready-made contiguous columns (timed on --talib-columns columns,
  scaled to all), as bench/kernels/indicators/bench_talib.py times it;
- the production path, `kernels.indicators.talib.<NAME>` on CuPy arrays (column kernel + int32 output);
- the column kernel alone at several launch variants "U:BLOCK" (bars per register batch RQ_PAT_U --
  the heavy patterns take min(U, 4), RQ_PAT_U_HEAVY -- and threads per block; production: 8:128), each compiled by NVRTC into a fresh cache (compile seconds reported) and each
  checked against TA-Lib on the first --check-columns columns (must be equal).
GPU times are cupyx.profiler.benchmark's CUDA-event times (best of --repeat). Target: >= 100 x TA-Lib.

Usage: python bench/kernels/indicators/bench_talib_patterns.py --bars 2520 --assets 5000 [--patterns all|A,B]
       [--variants 8:128,4:128,8:32,1:128] [--repeat 5] --out bench/results/talib_patterns_h100.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any

os.environ.setdefault("CUPY_CACHE_DIR", tempfile.mkdtemp(prefix="cupy-patterns-"))  # honest compile times

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

import talib  # noqa: E402

from bench.timing import cpu_model, report_rows  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402
from kernels.indicators import talib as ta  # noqa: E402
from kernels.indicators.talib import gpu_columns  # noqa: E402
from kernels.indicators.talib.cpu.pattern import NAMES  # noqa: E402
from kernels.indicators.talib.table import FUNCTIONS  # noqa: E402

FIELDS = ("open", "high", "low", "close")


def _talib_seconds(name: str, data: dict[str, np.ndarray], n_cols: int, n_assets: int, repeat: int) -> float:
    fn = getattr(talib, name)
    cols = [[np.ascontiguousarray(data[f][:, j]) for f in FIELDS] for j in range(n_cols)]
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for c in cols:
            fn(*c)
        best = min(best, time.perf_counter() - t0)
    return best * n_assets / n_cols


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--assets", type=int, default=5000)
    ap.add_argument("--patterns", default="all")
    ap.add_argument("--variants", default="8:128,4:128,8:32,1:128", help="RQ_PAT_U:BLOCK, comma-separated")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--talib-columns", type=int, default=500)
    ap.add_argument("--check-columns", type=int, default=200)
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    import cupy  # noqa: PLC0415
    from cupyx.profiler import benchmark  # noqa: PLC0415

    names = list(NAMES) if args.patterns == "all" else args.patterns.split(",")
    variants = [tuple(int(x) for x in v.split(":")) for v in args.variants.split(",") if v]
    panel = synthetic_panel(n_assets=args.assets, n_bars=args.bars, seed=0)
    data = {f: np.ascontiguousarray(getattr(panel, f), dtype=np.float64) for f in FIELDS}
    gdata = [cupy.asarray(data[f]) for f in FIELDS]
    n_bars, n_cols = data["close"].shape
    n_check = min(args.check_columns, n_cols)
    src = gpu_columns.sources()["pattern"]
    text = src.path.read_text()

    functions: dict[tuple[int, int], Any] = {}
    compile_s: dict[str, float] = {}
    for u, block in variants:
        if u in {k[0] for k in functions}:
            fn = next(f for (uu, _), f in functions.items() if uu == u)
        else:
            t0 = time.perf_counter()
            module = cupy.RawModule(code=text, options=gpu_columns.NVRTC_OPTIONS + (f"-I{gpu_columns.INCLUDE_DIR}",
                                                                                    f"-DRQ_PAT_U={u}"))
            fn = module.get_function(src.entry)
            compile_s[f"U={u}"] = time.perf_counter() - t0
            print(f"compiled U={u} in {compile_s[f'U={u}']:.1f} s", flush=True)
        functions[(u, block)] = fn

    out = cupy.empty((1, n_bars, n_cols), dtype=cupy.float64)
    scratch = cupy.empty((1, n_bars, n_cols), dtype=cupy.float64)
    rows = []
    for name in names:
        fd = FUNCTIONS[name]
        job = gpu_columns.plan(name, 4, fd.defaults, 1)
        params = cupy.asarray(job.params)
        want = np.stack([getattr(talib, name)(*[np.ascontiguousarray(data[f][:, j]) for f in FIELDS])
                         for j in range(n_check)], axis=1)
        row: dict[str, Any] = {"function": name,
                               "talib_s": _talib_seconds(name, data, min(args.talib_columns, n_cols), n_cols,
                                                         args.repeat)}
        for (u, block), fn in functions.items():
            grid = ((n_cols + block - 1) // block,)
            call_args = (np.int32(job.code), *gdata, gdata[0], np.int32(4), params, out, np.int32(1), scratch,
                         np.int32(src.scratch), np.int32(n_bars), np.int64(n_cols))

            def launch(fn=fn, grid=grid, block=block, call_args=call_args) -> None:
                fn(grid, (block,), call_args)

            launch()
            got = cupy.asnumpy(out[0, :, :n_check])
            got = np.where(np.isnan(got), 0, got).astype(np.int32)
            r = benchmark(launch, (), n_repeat=args.repeat, n_warmup=1)
            t = float(np.min(r.gpu_times))
            row[f"U{u}_B{block}_s"] = t
            row[f"U{u}_B{block}_x"] = row["talib_s"] / t
            row[f"U{u}_B{block}_equal"] = bool(np.array_equal(got, want))
        api = getattr(ta, name)
        api(*gdata)
        r = benchmark(lambda: api(*gdata), (), n_repeat=args.repeat, n_warmup=1)
        row["api_gpu_s"] = float(np.min(r.gpu_times))
        row["api_gpu_x"] = row["talib_s"] / row["api_gpu_s"]
        rows.append(row)
        print(json.dumps(row), flush=True)

    keys = [f"U{u}_B{b}" for u, b in variants]
    summary = {
        "bars": n_bars, "assets": n_cols, "device": cupy.cuda.runtime.getDeviceProperties(0)["name"].decode(),
        "cpu": cpu_model(), "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "compile_s": compile_s,
        "min_x": {k: min(r[f"{k}_x"] for r in rows) for k in keys} | {"api": min(r["api_gpu_x"] for r in rows)},
        "slowest_ms": {k: 1e3 * max(r[f"{k}_s"] for r in rows) for k in keys},
        "all_equal_talib": {k: all(r[f"{k}_equal"] for r in rows) for k in keys},
        "below_100x_api": sorted(r["function"] for r in rows if r["api_gpu_x"] < 100),
        "rows": rows,
    }
    report_rows(summary, args.out)


if __name__ == "__main__":
    main()
