"""The price of the NaN policy: indicators on gappy data, "skip" (pack, compute, scatter) vs
"propagate" (the kernels alone), CPU and GPU, in one run; and on data without gaps,
where "skip" only adds the gap check (one pass over the inputs).

The eight-indicator set of bench_indicators.py (SMA20, SMA50, EMA12, RSI14, MACD,
BBANDS20, ATR14, OBV) through `compute`, over a (bars x assets) synthetic panel in
which a fraction `--gap` of the bars are missing (all fields NaN), plus the same
panel without gaps ("skip" then takes the kernels' own path: no packing). GPU times
with cupyx.profiler.benchmark (CUDA events), data on the device.

Usage: python bench/kernels/indicators/bench_nan_policy.py --bars 2520 --assets 5000 --gap 0.01 --out bench/results/nan_policy_h100.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from bench.timing import cpu_model, summary, wall_times  # noqa: E402
from kernels import indicators as ind  # noqa: E402
from kernels.backend import gpu_available  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402

SPECS: list = [("sma", {"timeperiod": 20}), ("sma", {"timeperiod": 50}), ("ema", {"timeperiod": 12}),
               ("rsi", {"timeperiod": 14}), ("macd", {}), ("bbands", {"timeperiod": 20}), ("atr", {"timeperiod": 14}),
               ("obv", {})]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--assets", type=int, default=1000)
    ap.add_argument("--gap", type=float, default=0.01, help="fraction of missing bars")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    panel = synthetic_panel(args.assets, args.bars, seed=0)
    clean = {f: np.asarray(getattr(panel, f)) for f in ("high", "low", "close", "volume")}
    missing = np.random.default_rng(1).random((args.bars, args.assets)) < args.gap
    gappy = {f: np.where(missing, np.nan, a) for f, a in clean.items()}
    report = {"bars": args.bars, "assets": args.assets, "gap": args.gap, "dtype": "float64", "cpu": cpu_model(),
              "specs": [s for s, _ in SPECS], "cpu_ms": {}, "gpu_ms": {}}
    print(f"{args.bars} x {args.assets}, {args.gap:.1%} missing bars, float64; CPU {report['cpu']}")
    for label, data, policy in (("clean_propagate", clean, "propagate"), ("clean_skip", clean, "skip"),
                                ("gappy_skip", gappy, "skip"), ("gappy_propagate", gappy, "propagate")):
        t = summary(wall_times(lambda: ind.compute(data, SPECS, nan_policy=policy), args.repeat))
        report["cpu_ms"][label] = t
        print(f"cpu {label:16s} {t['median_ms']:9.2f} ms")
    if gpu_available():
        import cupy as cp  # noqa: PLC0415
        from cupyx.profiler import benchmark  # noqa: PLC0415

        report["device"] = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
        print(f"device {report['device']}")
        for label, data, policy in (("clean_propagate", clean, "propagate"), ("clean_skip", clean, "skip"),
                                    ("gappy_skip", gappy, "skip"), ("gappy_propagate", gappy, "propagate")):
            dev = {f: cp.asarray(a) for f, a in data.items()}
            res = benchmark(ind.compute, (dev, SPECS), {"nan_policy": policy}, n_repeat=args.repeat * 4, n_warmup=2)
            ms = float(np.median(res.gpu_times[0]) * 1e3)
            report["gpu_ms"][label] = {"median_ms": ms, "cpu_side_ms": float(np.median(res.cpu_times) * 1e3)}
            print(f"gpu {label:16s} {ms:9.2f} ms")
    for side in ("cpu_ms", "gpu_ms"):
        r = report[side]
        if "gappy_skip" in r:
            r["skip_over_propagate"] = r["gappy_skip"]["median_ms"] / r["gappy_propagate"]["median_ms"]
            r["gap_check_overhead"] = r["clean_skip"]["median_ms"] / r["clean_propagate"]["median_ms"]
            print(f"{side[:3]} skip / propagate on gappy data: {r['skip_over_propagate']:.2f} x; "
                  f"on data without gaps (the check alone): {r['gap_check_overhead']:.2f} x")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({**report, "command": " ".join(["python", *sys.argv])}, fh, indent=2)


if __name__ == "__main__":
    main()
