"""Where an orders sweep's time goes: the simulation kernel against the host-side metrics and tables.

    python bench/kernels/backtest/profile_orders_sweep.py --backend cpu --assets 500 --bars 2520

Runs `sweep(..., sl_stop, tp_stop)` over 4 x 3 MA pairs x 10 x 10 stops (1,200 combinations) under
cProfile and prints the cumulative times of the top functions. Measured on the 2-core CI-like box
(2026-12-07): 27.5 s, of which `sweep_apply_nb` (the simulation) 25.7 s and the metrics, tables
and signals ~1.3 s. The host side grows with the combinations (~1 s per 1,200 here, single-
threaded NumPy), so on the H100 it is the likely bulk of the 10,000-combination sweep's 6.2 s
(`orders_sweep_h100_run2.json`, process CPU time = wall time); run this with --backend gpu there
to see it.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from kernels.backtest import sweep  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--assets", type=int, default=500)
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--top", type=int, default=18)
    args = ap.parse_args()
    panel = synthetic_panel(args.assets, args.bars, seed=7)
    if args.backend == "gpu":
        panel = panel.to("gpu")
    grid = {"fast": [3, 8, 14, 20], "slow": [25, 60, 120],
            "sl_stop": np.round(np.linspace(0.01, 0.1, 10), 4).tolist(),
            "tp_stop": np.round(np.linspace(0.02, 0.3, 10), 4).tolist()}
    warm = {"fast": [3], "slow": [25], "sl_stop": [0.05], "tp_stop": [0.1]}
    sweep(panel, "trend_following", warm, fees=0.001, backend=args.backend, init_cash=10_000.0)  # compile
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    result = sweep(panel, "trend_following", grid, fees=0.001, backend=args.backend, init_cash=10_000.0)
    prof.disable()
    print(f"wall {time.perf_counter() - t0:.2f} s, {len(result.params)} combinations, backend {args.backend}")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
