"""Benchmark: walk-forward optimisation end to end — kernels.backtest.walk_forward vs a vectorbt loop.

`--folds` folds x `--combos` MA-crossover combinations (fast x slow x sma/ema x
long_only, every slow window within the out-of-sample window plus `--warmup`) x
`--assets` x `--bars` (synthetic panel, NumPy on the host: the GPU run includes the
transfers). Rolling windows: `--train` bars (default half the bars), test = (bars -
train) // folds, step = test. Timed: `walk_forward(...)` end to end (the in-sample
sweeps of every fold, the chosen combination's out-of-sample backtest, the stitched
result), cold (first call: kernel compilation) and warm (best and median of
`--repeat`). `cells` = sum over folds of train bars x assets x combinations. The
in-sample sweeps of all folds are one kernel launch where they fit in memory
(`in_sample_launches` counts them); `--per-fold` also times one launch per fold
(`fold_batch=1`) and checks that it chooses the same.

The peer (`--peer`, only while folds x combos x assets x bars <= `--peer-max-cells`):
the walk-forward a vectorbt 1.2 user writes — per fold `vbt.MA.run` for every
(fast, slow) pair on the training bars, `Portfolio.from_signals` (entries: fast
crossing above slow, exits: below) grouped by combination, best Sharpe, then the
chosen pair out-of-sample. Its semantics differ from ours (orders vs returns model),
so only its time is reported.

    python bench/kernels/backtest/bench_walk_forward.py --folds 10 --combos 10000 --assets 500 --bars 2520 --backend gpu \\
        --out bench/results/walk_forward_h100.json
    python bench/kernels/backtest/bench_walk_forward.py --folds 4 --combos 64 --assets 20 --bars 1000 --backend cpu --peer
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bench.timing import cpu_model  # noqa: E402


def make_grid(combos: int, max_window: int) -> dict[str, list]:
    """About `combos` (at least) trend-following combinations, every fast < every slow <= max_window."""
    pairs = max(1, math.ceil(combos / 4))
    n_slow = max(1, math.ceil(math.sqrt(pairs)))
    n_fast = max(1, math.ceil(pairs / n_slow))
    lo = max(3, max_window // 2 + 1)
    if max_window - lo + 1 < n_slow or lo - 2 < n_fast:
        raise SystemExit(f"--combos {combos}: the windows do not fit {max_window} bars; raise --warmup or --test")
    slow = np.unique(np.linspace(lo, max_window, n_slow).round().astype(int)).tolist()
    fast = np.unique(np.linspace(2, lo - 1, n_fast).round().astype(int)).tolist()
    return {"fast": fast, "slow": slow, "ma": ["sma", "ema"], "long_only": [True, False]}


def device_name(backend: str) -> str:
    if backend == "cpu":
        return cpu_model()
    import cupy as cp  # noqa: PLC0415

    return cp.cuda.runtime.getDeviceProperties(0)["name"].decode()


def sync(backend: str) -> None:
    if backend == "gpu":
        import cupy as cp  # noqa: PLC0415

        cp.cuda.Device().synchronize()


def count_launches(backend: str) -> list:
    """Wrap the returns sweep's kernel entry of `backend` so that each launch is counted."""
    if backend == "gpu":
        from kernels.backtest import gpu as module  # noqa: PLC0415
        name = "launch"
    else:
        from kernels.backtest import sweep_cpu as module  # noqa: PLC0415
        name = "sweep_nb"
    calls: list = []
    real = getattr(module, name)

    def counted(*a: Any, **k: Any) -> Any:
        calls.append(1)
        return real(*a, **k)

    setattr(module, name, counted)
    return calls


def bench_ours(panel: Any, grid: dict, args: argparse.Namespace, test: int,
               fold_batch: int | None = None) -> dict[str, Any]:
    from kernels.backtest import walk_forward  # noqa: PLC0415

    launches = count_launches(args.backend)

    def call() -> Any:
        out = walk_forward(panel, "trend_following", grid, train=args.train, test=test, fees=args.fees,
                           backend=args.backend, warmup=args.warmup, fold_batch=fold_batch)
        sync(args.backend)
        return out

    t0 = time.perf_counter()
    result = call()
    cold = time.perf_counter() - t0
    n_launches = len(launches)
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    n_combos = int(result.folds["n_combos"].iloc[0])
    cells = int((result.folds["train_bars"] * panel.n_assets * n_combos).sum())
    best = min(times) if times else cold
    return {
        "backend": result.backend,
        "fold_batch": fold_batch,
        "in_sample_launches": n_launches,
        "n_folds": result.n_folds,
        "n_combos": n_combos,
        "cells": cells,
        "cold_s": cold,
        "warm_best_s": best,
        "warm_median_s": statistics.median(times) if times else cold,
        "cells_per_s": cells / best,
        "oos_total_return": float(result.oos_metrics.loc["oos", "total_return"]),
        "chosen": result.params[["fast", "slow", "ma", "long_only"]].to_dict(orient="records"),
    }


def bench_vectorbt(panel: Any, grid: dict, args: argparse.Namespace, test: int) -> dict[str, Any]:
    import pandas as pd  # noqa: PLC0415
    import vectorbt as vbt  # noqa: PLC0415

    from kernels.backtest.walk_forward import plan_folds  # noqa: PLC0415

    close = pd.DataFrame(np.asarray(panel.close), index=pd.DatetimeIndex(panel.index), columns=list(panel.symbols))
    pairs = [(f, s) for f in grid["fast"] for s in grid["slow"] if f < s]
    folds = plan_folds(panel.n_bars, args.train, test)

    def crossings(c: np.ndarray, fast_w: list[int], slow_w: list[int]) -> tuple[np.ndarray, np.ndarray]:
        fast = vbt.MA.run(c, fast_w).ma.to_numpy()
        slow = vbt.MA.run(c, slow_w).ma.to_numpy()
        with np.errstate(invalid="ignore"):
            above = fast > slow
            below = fast < slow
        prev_above = np.vstack([np.zeros((1, above.shape[1]), bool), above[:-1]])
        prev_below = np.vstack([np.zeros((1, below.shape[1]), bool), below[:-1]])
        return above & ~prev_above, below & ~prev_below

    def run_fold(train: pd.DataFrame, oos: pd.DataFrame) -> tuple[int, int]:
        n = train.shape[1]
        entries, exits = crossings(train.to_numpy(), [p[0] for p in pairs], [p[1] for p in pairs])
        pf = vbt.Portfolio.from_signals(np.tile(train.to_numpy(), len(pairs)), entries, exits, fees=args.fees,
                                        freq="1D", group_by=np.repeat(np.arange(len(pairs)), n))
        best = pairs[int(np.nanargmax(np.asarray(pf.sharpe_ratio(), dtype=float)))]
        entries, exits = crossings(oos.to_numpy(), [best[0]], [best[1]])
        vbt.Portfolio.from_signals(oos.to_numpy(), entries, exits, fees=args.fees, freq="1D").total_return()
        return best

    def call() -> None:
        for f in folds:
            run_fold(close.iloc[f.train_start:f.train_stop], close.iloc[f.test_start - args.warmup:f.test_stop])

    t0 = time.perf_counter()
    call()
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    call()
    warm = time.perf_counter() - t0
    return {"vectorbt": vbt.__version__, "pairs": len(pairs), "note": "sma crossover only (ma and long_only are not "
            "swept: len(pairs) combinations, not n_combos)", "cold_s": cold, "warm_s": warm}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--combos", type=int, default=10_000)
    ap.add_argument("--assets", type=int, default=500)
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--train", type=int, default=None, help="training bars (default: half the bars)")
    ap.add_argument("--warmup", type=int, default=None, help="out-of-sample warm-up bars (default: the train bars, "
                                                             "at most 200)")
    ap.add_argument("--fees", type=float, default=0.0005)
    ap.add_argument("--backend", choices=("cpu", "gpu", "auto"), default="auto")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--target-s", type=float, default=5.0, help="the issue's bound for the warm run")
    ap.add_argument("--per-fold", action="store_true", help="also time the folds' sweeps one launch per fold "
                                                           "(fold_batch=1; the result must be the same)")
    ap.add_argument("--peer", action="store_true", help="also time the vectorbt loop (small sizes only)")
    ap.add_argument("--peer-max-cells", type=float, default=2e8)
    ap.add_argument("--out", default=None, help="write the JSON report here too")
    args = ap.parse_args(argv)

    from kernels.backend import resolve_backend  # noqa: PLC0415
    from kernels.data import synthetic_panel  # noqa: PLC0415

    args.backend = resolve_backend(args.backend)
    args.train = args.train or args.bars // 2
    test = (args.bars - args.train) // args.folds
    if test < 1:
        raise SystemExit("--folds: no bars left for the test windows")
    args.warmup = min(args.train, 200) if args.warmup is None else args.warmup
    grid = make_grid(args.combos, min(args.train, test + args.warmup, 200))
    panel = synthetic_panel(args.assets, args.bars, seed=args.seed)

    report: dict[str, Any] = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "device": device_name(args.backend),
        "python": platform.python_version(),
        "sizes": {"folds": args.folds, "combos_requested": args.combos, "assets": args.assets, "bars": args.bars,
                  "train": args.train, "test": test, "warmup": args.warmup},
        "grid": {k: (v if len(v) <= 4 else f"{len(v)} values {v[0]}..{v[-1]}") for k, v in grid.items()},
        "ours": bench_ours(panel, grid, args, test),
    }
    ours = report["ours"]
    if args.per_fold:
        report["per_fold"] = bench_ours(panel, grid, args, test, fold_batch=1)
        report["one_pass_speedup"] = report["per_fold"]["warm_best_s"] / ours["warm_best_s"]
        report["same_choices"] = report["per_fold"]["chosen"] == ours["chosen"]
    report["target"] = {"bound_s": args.target_s, "warm_best_s": ours["warm_best_s"],
                        "met": ours["warm_best_s"] < args.target_s}
    if args.peer:
        total = args.folds * ours["n_combos"] * args.assets * args.bars
        if total <= args.peer_max_cells:
            report["vectorbt"] = bench_vectorbt(panel, grid, args, test)
            report["speedup_vs_vectorbt"] = report["vectorbt"]["warm_s"] / ours["warm_best_s"]
        else:
            report["vectorbt"] = {"skipped": f"{total:.3g} cells > --peer-max-cells {args.peer_max_cells:.3g}"}
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(f"walk-forward {ours['n_folds']} folds x {ours['n_combos']} combos x {args.assets} assets x {args.bars} "
          f"bars [{ours['backend']}]: warm {ours['warm_best_s']:.3f} s (bound {args.target_s} s: "
          f"{'met' if report['target']['met'] else 'NOT met'}), cold {ours['cold_s']:.3f} s, "
          f"{ours['cells_per_s']:.3g} cells/s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
