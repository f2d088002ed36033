"""TA-Lib function set benchmark: TA-Lib (single thread) vs our CPU backend vs our GPU backend.

Every function of `kernels.indicators.talib` that has a kernel on the backend timed,
default parameters, over a (bars x assets) synthetic panel, side by side in one run:
- TA-Lib, one thread, looping over ready-made contiguous columns (its best case, "talib_s"),
  and from the (T, N) panel (columns copied out, (T, N) outputs written: "talib_panel_s");
- our CPU backend on the (T, N) NumPy panel (Numba threads; also reported per core:
  TA-Lib time / (our time x threads), the ">= TA-Lib single-thread per core" target);
- our GPU backend with the data already on the device (CuPy; synchronised, best of
  `--repeat`), ratio to TA-Lib single-thread (target >= 100 x).
On a shared, loaded machine wall time x threads overstates our CPU use (threads wait for a
core): each row also has the process CPU seconds of both sides ("talib_cpu_s", "cpu_cpu_s")
and their ratio "cpu_x_per_cpu_second"; `--cpu-threads 1` times our backend on one thread.
The load average at start and end is recorded.

Usage: python bench/kernels/indicators/bench_talib.py --bars 2520 --assets 5000 [--backend cpu,gpu] [--functions top30|all|A,B]
       [--repeat 3] [--cpu-threads N] --out bench/results/talib_<machine>.json
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from typing import Any, Callable

import numpy as np

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

import talib  # noqa: E402

from bench.timing import cpu_model, report_rows  # noqa: E402
from kernels.backend import gpu_available  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402
from kernels.indicators import talib as ta  # noqa: E402
from kernels.indicators.talib import cpu as ta_cpu  # noqa: E402
from kernels.indicators.talib.gpu import GPU_FUNCTIONS  # noqa: E402
from kernels.indicators.talib.table import FUNCTIONS  # noqa: E402

# The widely used 30 (CPU target: >= TA-Lib single-thread per core).
TOP30 = (
    "SMA", "EMA", "WMA", "DEMA", "TEMA", "KAMA", "BBANDS", "MACD", "RSI", "STOCH", "STOCHF", "STOCHRSI",
    "ADX", "ADXR", "PLUS_DI", "MINUS_DI", "CCI", "MFI", "WILLR", "ROC", "MOM", "ATR", "NATR", "TRANGE",
    "OBV", "AD", "ADOSC", "STDDEV", "AROON", "LINEARREG",
)


def _best(fn: Callable[[], Any], repeat: int, sync: Callable[[], None] = lambda: None) -> float:
    best = float("inf")
    for _ in range(repeat):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def _cpu_seconds() -> float:
    """CPU seconds of this process (every thread): on a shared, loaded machine the fair 'per core' measure."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _best_cpu(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        c0 = _cpu_seconds()
        fn()
        best = min(best, _cpu_seconds() - c0)
    return best


def _inputs(name: str, data: dict) -> list:
    out = []
    for i in FUNCTIONS[name].inputs:
        if i in data:
            out.append(data[i])
        elif i == "periods":
            out.append(np.full_like(data["close"], 10.0))
        elif i == "real1":
            out.append(data["low"])
        elif i == "real0":
            out.append(data["high"])
        else:
            out.append(data["close"] / (data["close"].max() * 1.01) if FUNCTIONS[name].group == "math_transform" else data["close"])
    return out


def talib_seconds(name: str, arrays: list, n_tl: int, repeat: int) -> float:
    """TA-Lib single-thread on `name`'s (T, N) input `arrays`, default parameters: best of `repeat` over
    the first `n_tl` columns, ready contiguous, scaled to all N columns."""
    fn = getattr(talib, name)
    cols = [[np.ascontiguousarray(a[:, j]) for j in range(n_tl)] for a in arrays]
    return _best(lambda: [fn(*[c[j] for c in cols]) for j in range(n_tl)], repeat) * (arrays[0].shape[1] / n_tl)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--assets", type=int, default=5000)
    ap.add_argument("--backend", default="cpu,gpu")
    ap.add_argument("--functions", default="all")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--talib-columns", type=int, default=0,
                    help="time TA-Lib on this many columns and scale to all (0: every column)")
    ap.add_argument("--cpu-threads", type=int, default=0, help="Numba threads for our CPU backend (0: all)")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    if args.cpu_threads:
        __import__("numba").set_num_threads(args.cpu_threads)
    load_start = os.getloadavg()

    backends = [b for b in args.backend.split(",") if b]
    if "gpu" in backends and not gpu_available():
        print("no GPU here: skipping the GPU backend")
        backends.remove("gpu")
    if args.functions == "top30":
        names = list(TOP30)
    elif args.functions == "all":
        names = list(FUNCTIONS)
    else:
        names = args.functions.split(",")

    panel = synthetic_panel(n_assets=args.assets, n_bars=args.bars, seed=0)
    data = {f: np.ascontiguousarray(getattr(panel, f), dtype=np.float64) for f in ("open", "high", "low", "close", "volume")}
    threads = int(__import__("numba").get_num_threads())  # after --cpu-threads
    n_tl = args.talib_columns or args.assets
    rows = []
    gpu_data = None
    if "gpu" in backends:
        import cupy  # noqa: PLC0415

        gpu_data = {k: cupy.asarray(v) for k, v in data.items()}
        gsync = cupy.cuda.get_current_stream().synchronize
    for name in names:
        if not (("cpu" in backends and name in ta_cpu.registry()) or (gpu_data is not None and name in GPU_FUNCTIONS)):
            continue  # nothing of ours to time for this function on the chosen backends
        row: dict[str, Any] = {"function": name}
        arrays = _inputs(name, data)
        cols = [[np.ascontiguousarray(a[:, j]) for j in range(n_tl)] for a in arrays]
        fn = getattr(talib, name)
        t_tl = talib_seconds(name, arrays, n_tl, args.repeat)
        row["talib_s"] = t_tl
        row["talib_cpu_s"] = _best_cpu(lambda: [fn(*[c[j] for c in cols]) for j in range(n_tl)], args.repeat) * (
            args.assets / n_tl)

        def talib_panel() -> None:
            # TA-Lib from the (T, N) panel, as a user of that layout would run it: columns out, (T, N) outputs in
            outs = None
            for j in range(n_tl):
                r = fn(*[np.ascontiguousarray(a[:, j]) for a in arrays])
                r = r if isinstance(r, tuple) else (r,)
                if outs is None:
                    outs = [np.empty((a.shape[0], n_tl)) for a in r]
                for o, v in zip(outs, r):
                    o[:, j] = v

        row["talib_panel_s"] = _best(talib_panel, args.repeat) * (args.assets / n_tl)
        if "cpu" in backends and name in ta_cpu.registry():
            ours = getattr(ta, name)
            ours(*arrays)  # compile / load the Numba cache
            t = _best(lambda: ours(*arrays), args.repeat)
            row.update(cpu_s=t, cpu_threads=threads, cpu_x=t_tl / t, cpu_x_per_core=t_tl / (t * threads),
                       cpu_x_per_core_vs_panel=row["talib_panel_s"] / (t * threads))
            tc = _best_cpu(lambda: ours(*arrays), args.repeat)  # CPU seconds of all our threads
            row.update(cpu_cpu_s=tc, cpu_x_per_cpu_second=row["talib_cpu_s"] / tc)
        if gpu_data is not None and name in GPU_FUNCTIONS:
            garrays = _inputs(name, gpu_data)
            ours = getattr(ta, name)
            ours(*garrays)
            t = _best(lambda: ours(*garrays), args.repeat, gsync)
            row.update(gpu_s=t, gpu_x=t_tl / t)
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary = {
        "bars": args.bars, "assets": args.assets, "cpu": cpu_model(), "threads": threads,
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "cpu_top30_min_x_per_core_vs_panel": min((r["cpu_x_per_core_vs_panel"] for r in rows
                                                  if r["function"] in TOP30 and "cpu_x_per_core_vs_panel" in r), default=None),
        "cpu_top30_min_x_per_core": min((r["cpu_x_per_core"] for r in rows if r["function"] in TOP30 and "cpu_x_per_core" in r), default=None),
        "cpu_top30_min_x_per_cpu_second": min((r["cpu_x_per_cpu_second"] for r in rows
                                               if r["function"] in TOP30 and "cpu_x_per_cpu_second" in r), default=None),
        "gpu_min_x": min((r["gpu_x"] for r in rows if "gpu_x" in r), default=None),
        "load_avg_start": load_start, "load_avg_end": os.getloadavg(), "logical_cpus": os.cpu_count(),
        "rows": rows,
    }
    report_rows(summary, args.out)


if __name__ == "__main__":
    main()
