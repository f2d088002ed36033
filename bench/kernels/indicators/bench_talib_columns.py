"""The CUDA C column kernels of kernels/indicators/talib/cuda/ on the GPU: checked, then timed.

For every function of the chosen group sources (`--groups`, default every `cuda/*.cu`):
- check (`--check`): `gpu_columns.run` on CuPy data against TA-Lib (rtol = atol = 1e-9; realistic and
  rough data, a late-starting column; default, varied and, for MA-type parameters, every TA-Lib
  matype 0-8) and against the Numba CPU backend (bit-identical count and largest difference; the
  data has an interior NaN too);
- bench: the column kernel alone (`gpu_columns.run`, CUDA-event GPU time from
  cupyx.profiler.benchmark) and the public GPU path (`kernels.indicators.talib.<NAME>` on CuPy
  arrays, which may take a fused kernel instead), over a (bars x assets) synthetic panel already
  on the device, default parameters, next to TA-Lib single-thread on ready contiguous columns
  (timed on `--talib-columns` columns and scaled): the ratio target is >= 100 x; the column kernels
  also at the block sizes of `--blocks` (threads = columns per block), to choose gpu_columns.BLOCK.

Usage: python bench/kernels/indicators/bench_talib_columns.py --groups momentum,volume,statistic --bars 2520 --assets 5000
       [--talib-columns 1000] [--repeat 5] [--blocks 32,64] [--check] --out bench/results/talib_columns_<machine>.json
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

from kernels.data import synthetic_panel  # noqa: E402
from kernels.indicators import talib as ta  # noqa: E402
from kernels.indicators.talib import cpu as ta_cpu  # noqa: E402
from kernels.indicators.talib import gpu_columns  # noqa: E402
from kernels.indicators.talib.table import FUNCTIONS  # noqa: E402


def _names(groups: list[str]) -> list[str]:
    reg = gpu_columns.registry()
    return [n for n in FUNCTIONS if n in reg and reg[n][0].group in groups]


def _param_sets(name: str) -> list[dict]:
    from tests.kernels.indicators.talib.oracle import varied_params  # noqa: PLC0415

    fd = FUNCTIONS[name]
    sets = [dict(fd.defaults), varied_params(fd)]
    mts = [q.name for q in fd.params if q.kind == "matype"]
    for m in range(9):
        if mts:
            sets.append(dict(fd.defaults, **{q: m for q in mts}))
    return sets


def check(names: list[str]) -> list[dict]:
    import cupy  # noqa: PLC0415

    from tests.kernels.indicators.talib.oracle import inputs_for, panel_data, random_data, reference  # noqa: PLC0415

    data = {"panel": panel_data(n_bars=600, n_assets=6), "random": random_data(n_bars=600, n_assets=6)}
    for d in data.values():
        for v in d.values():
            v[:37, 1] = np.nan  # a late start
    gappy = {k: {f: v.copy() for f, v in d.items()} for k, d in data.items()}
    for d in gappy.values():
        for v in d.values():
            v[300, 2] = np.nan  # an interior gap (CPU comparison only: TA-Lib's NaN arithmetic is the same code)
    rows = []
    for name in names:
        fd = FUNCTIONS[name]
        for params in _param_sets(name):
            row: dict[str, Any] = {"function": name, "params": params, "talib_ok": True, "max_abs_vs_talib": 0.0,
                                   "cpu_bit_identical": True, "max_abs_vs_cpu": 0.0}
            for label in data:
                arrays = inputs_for(fd, data[label])
                got = [cupy.asnumpy(g) for g in gpu_columns.run(name, [cupy.asarray(a) for a in arrays], params,
                                                                 len(fd.outputs))]
                want = reference(fd, arrays, params)
                for k, (g, w) in enumerate(zip(got, want)):
                    if fd.is_int(fd.outputs[k]):
                        g = np.where(np.isnan(g), 0, g).astype(np.int32)
                    ok = np.allclose(g, w, rtol=1e-9, atol=1e-9, equal_nan=True)
                    row["talib_ok"] &= bool(ok)
                    d = np.abs(np.asarray(g, float) - np.asarray(w, float))
                    if np.isfinite(d).any():
                        row["max_abs_vs_talib"] = max(row["max_abs_vs_talib"], float(np.nanmax(d)))
                garrays = inputs_for(fd, gappy[label])
                got = [cupy.asnumpy(g) for g in gpu_columns.run(name, [cupy.asarray(a) for a in garrays], params,
                                                                 len(fd.outputs))]
                want = ta_cpu.run(name, garrays, params, len(fd.outputs))
                for g, w in zip(got, want):
                    row["cpu_bit_identical"] &= bool(np.array_equal(g, w, equal_nan=True))
                    d = np.abs(g - w)
                    if np.isfinite(d).any():
                        row["max_abs_vs_cpu"] = max(row["max_abs_vs_cpu"], float(np.nanmax(d)))
            rows.append(row)
            if not row["talib_ok"] or not row["cpu_bit_identical"]:
                print(json.dumps(row), flush=True)
    return rows


def _talib_time(name: str, arrays: list[np.ndarray], n_tl: int, repeat: int) -> float:
    cols = [[np.ascontiguousarray(a[:, j]) for j in range(n_tl)] for a in arrays]
    fn = getattr(talib, name)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for j in range(n_tl):
            fn(*[c[j] for c in cols])
        best = min(best, time.perf_counter() - t0)
    return best * (arrays[0].shape[1] / n_tl)


def bench(names: list[str], bars: int, assets: int, n_tl: int, repeat: int, blocks: list[int]) -> list[dict]:
    import cupy  # noqa: PLC0415
    from cupyx.profiler import benchmark  # noqa: PLC0415

    from bench.kernels.indicators.bench_talib import _inputs  # noqa: PLC0415

    panel = synthetic_panel(n_assets=assets, n_bars=bars, seed=0)
    data = {f: np.ascontiguousarray(getattr(panel, f), dtype=np.float64) for f in ("open", "high", "low", "close", "volume")}
    gdata = {k: cupy.asarray(v) for k, v in data.items()}
    rows = []
    for name in names:
        fd = FUNCTIONS[name]
        arrays = _inputs(name, data)
        garrays = _inputs(name, gdata)
        params = dict(fd.defaults)
        t_tl = _talib_time(name, arrays, min(n_tl, assets), 3)
        col = benchmark(gpu_columns.run, (name, garrays, params, len(fd.outputs)), n_repeat=repeat, n_warmup=2)
        pub = benchmark(lambda: getattr(ta, name)(*garrays, **params), (), n_repeat=repeat, n_warmup=2)
        t_col = float(np.min(col.gpu_times[0]))
        t_pub = float(np.min(pub.gpu_times[0]))
        row = {"function": name, "group": gpu_columns.registry()[name][0].group, "talib_s": t_tl,
               "column_gpu_s": t_col, "column_x": t_tl / t_col, "public_gpu_s": t_pub, "public_x": t_tl / t_pub,
               "block": gpu_columns.BLOCK}
        default_block = gpu_columns.BLOCK
        try:  # the same column kernel at other block sizes (threads = columns per block)
            for blk in blocks:
                gpu_columns.BLOCK = blk
                r = benchmark(gpu_columns.run, (name, garrays, params, len(fd.outputs)), n_repeat=repeat, n_warmup=1)
                row[f"column_gpu_s_block{blk}"] = float(np.min(r.gpu_times[0]))
        finally:
            gpu_columns.BLOCK = default_block
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", default=",".join(sorted(gpu_columns.sources())))
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--assets", type=int, default=5000)
    ap.add_argument("--talib-columns", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--blocks", default="32,64", help="also time the column kernels with these block sizes")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--no-bench", action="store_true")
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    import cupy  # noqa: PLC0415

    dev = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
    dev = dev.decode() if isinstance(dev, bytes) else str(dev)
    print(f"device: {dev}, dtype float64", flush=True)
    names = _names([g for g in args.groups.split(",") if g])
    summary: dict[str, Any] = {"device": dev, "dtype": "float64", "bars": args.bars, "assets": args.assets,
                               "command": " ".join([os.path.basename(sys.executable), *sys.argv]), "functions": names}
    if args.check:
        rows = check(names)
        summary["check"] = rows
        summary["check_cases"] = len(rows)
        summary["check_talib_failures"] = [(r["function"], r["params"]) for r in rows if not r["talib_ok"]]
        summary["check_cpu_not_bit_identical"] = [(r["function"], r["params"], r["max_abs_vs_cpu"]) for r in rows
                                                  if not r["cpu_bit_identical"]]
        print(f"check: {len(rows)} cases, {len(summary['check_talib_failures'])} off TA-Lib by > 1e-9, "
              f"{len(summary['check_cpu_not_bit_identical'])} not bit-identical to the CPU backend", flush=True)
    if not args.no_bench:
        blocks = [int(b) for b in args.blocks.split(",") if b]
        rows = bench(names, args.bars, args.assets, args.talib_columns, args.repeat, blocks)
        summary["bench"] = rows
        summary["column_min_x"] = min((r["column_x"] for r in rows), default=None)
        summary["public_min_x"] = min((r["public_x"] for r in rows), default=None)
        summary["below_100x_column"] = sorted(r["function"] for r in rows if r["column_x"] < 100)
        summary["below_100x_public"] = sorted(r["function"] for r in rows if r["public_x"] < 100)
        print(f"{'function':20s} {'talib ms':>9s} {'column ms':>10s} {'x':>7s} {'public ms':>10s} {'x':>7s}")
        for r in rows:
            print(f"{r['function']:20s} {r['talib_s'] * 1e3:9.1f} {r['column_gpu_s'] * 1e3:10.3f} {r['column_x']:7.0f} "
                  f"{r['public_gpu_s'] * 1e3:10.3f} {r['public_x']:7.0f}")
        for blk in blocks:
            key = f"column_gpu_s_block{blk}"
            summary[f"column_min_x_block{blk}"] = min((r["talib_s"] / r[key] for r in rows), default=None)
            summary[f"below_100x_column_block{blk}"] = sorted(r["function"] for r in rows if r["talib_s"] / r[key] < 100)
            print(f"block {blk}: column kernels min {summary[f'column_min_x_block{blk}']:.0f} x TA-Lib, "
                  f"total {sum(r[key] for r in rows) * 1e3:.1f} ms vs {sum(r['column_gpu_s'] for r in rows) * 1e3:.1f} ms "
                  f"at block {gpu_columns.BLOCK}")
        print(json.dumps({k: summary[k] for k in ("column_min_x", "public_min_x", "below_100x_column",
                                                  "below_100x_public")}))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(summary, f, indent=1, default=str)


if __name__ == "__main__":
    main()
