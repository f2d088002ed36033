"""The CUDA C column kernels (kernels/indicators/talib/cuda/*.cu) against TA-Lib single-thread.

For every function of the chosen column-kernel groups, default parameters, over a (bars x assets)
synthetic panel with the data already on the device, side by side in one run:
- TA-Lib, one thread, over ready-made contiguous columns (`--talib-columns` of them, scaled to all);
- `gpu_columns.run` (the column kernel itself: one thread per column, synchronised, best of
  `--repeat`), at each thread-block size of `--blocks` (gpu_columns.BLOCK), ratio to TA-Lib
  (target >= 100 x on an H100 at 2520 x 5000);
- the public API on CuPy inputs (`kernels.indicators.talib.<NAME>`: what a user gets, which may be
  a fused kernel instead of the column kernel).
The first call of a group compiles its module (NVRTC); that time is reported apart.

Usage: python bench/kernels/indicators/bench_cuda_columns.py --groups overlap,cycle [--functions A,B] --bars 2520 --assets 5000
       [--blocks 32,64,128] [--repeat 5] [--talib-columns 500] --out RESULT.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

import talib  # noqa: E402

from bench.kernels.indicators.bench_talib import _best, _inputs  # noqa: E402
from bench.timing import report_rows  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402
from kernels.indicators import talib as ta  # noqa: E402
from kernels.indicators.talib import gpu_columns  # noqa: E402
from kernels.indicators.talib.table import FUNCTIONS  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", default="overlap,cycle")
    ap.add_argument("--functions", default="", help="comma-separated names (default: every name of the groups)")
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--assets", type=int, default=5000)
    ap.add_argument("--blocks", default="32,64,128")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--talib-columns", type=int, default=500)
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    import cupy  # noqa: PLC0415

    sources = gpu_columns.sources()
    groups = [g for g in args.groups.split(",") if g in sources]
    names = [n for g in groups for n in sources[g].names]
    if args.functions:
        names = [n for n in args.functions.split(",") if n in gpu_columns.registry()]
    blocks = [int(b) for b in args.blocks.split(",")]
    default_block = gpu_columns.BLOCK

    panel = synthetic_panel(n_assets=args.assets, n_bars=args.bars, seed=0)
    data = {f: np.ascontiguousarray(getattr(panel, f), dtype=np.float64) for f in ("open", "high", "low", "close", "volume")}
    gdata = {k: cupy.asarray(v) for k, v in data.items()}
    sync = cupy.cuda.get_current_stream().synchronize
    dev = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    n_tl = min(args.talib_columns or args.assets, args.assets)

    compile_s = {}
    for g in {gpu_columns.registry()[n][0].group for n in names}:
        t0 = time.perf_counter()
        gpu_columns._function(g)  # noqa: SLF001 - the module build, timed on its own
        compile_s[g] = time.perf_counter() - t0
        print(json.dumps({"compile": g, "seconds": compile_s[g]}), flush=True)

    rows = []
    for name in names:
        fd = FUNCTIONS[name]
        arrays = _inputs(name, data)
        garrays = _inputs(name, gdata)
        cols = [[np.ascontiguousarray(a[:, j]) for j in range(n_tl)] for a in arrays]
        fn = getattr(talib, name)
        t_tl = _best(lambda: [fn(*[c[j] for c in cols]) for j in range(n_tl)], 3) * (args.assets / n_tl)
        row: dict[str, Any] = {"function": name, "group": gpu_columns.registry()[name][0].group, "talib_s": t_tl}
        n_out = len(fd.outputs)
        for b in blocks:
            gpu_columns.BLOCK = b
            try:
                gpu_columns.run(name, garrays, fd.defaults, n_out)
                t = _best(lambda: gpu_columns.run(name, garrays, fd.defaults, n_out), args.repeat, sync)
            finally:
                gpu_columns.BLOCK = default_block
            row[f"columns_s_block{b}"] = t
            row[f"columns_x_block{b}"] = t_tl / t
        best_b = max(blocks, key=lambda b: row[f"columns_x_block{b}"])
        row["best_block"] = best_b
        row["columns_x_best"] = row[f"columns_x_block{best_b}"]
        api = getattr(ta, name)
        api(*garrays)
        t = _best(lambda: api(*garrays), args.repeat, sync)
        row.update(api_s=t, api_x=t_tl / t)
        rows.append(row)
        print(json.dumps(row), flush=True)

    summary = {
        "bars": args.bars, "assets": args.assets, "device": dev["name"].decode(), "sms": dev["multiProcessorCount"],
        "talib_version": talib.__version__, "cupy_version": cupy.__version__, "dtype": "float64",
        "default_block": default_block, "compile_s": compile_s,
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "min_x_default_block": min((r[f"columns_x_block{default_block}"] for r in rows
                                    if f"columns_x_block{default_block}" in r), default=None),
        "min_x_best_block": min((r["columns_x_best"] for r in rows), default=None),
        "below_100x_default_block": [r["function"] for r in rows
                                     if r.get(f"columns_x_block{default_block}", 1e9) < 100],
        "rows": rows,
    }
    report_rows(summary, args.out)


if __name__ == "__main__":
    main()
