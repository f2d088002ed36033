"""A research job of your own: a coarse sweep, a fine sweep around its best cell, and a
final backtest of the winner, all through the cluster's coordinator.

    ray job submit --address http://head:8265 --working-dir . -- \\
        python examples/sweep_job.py --fast 5:50:5 --slow 60:240:20 --out /shared/results/refine

For single sweeps and backtests `python -m deployments.jobs` already does this with
progress output and a fixed file layout; this script shows the client API
(`actors.client.connect`) for multi-step work. Runs anywhere `connect()` does: in a
Ray job (RAY_ADDRESS), against RAYQUANT_RAY__ADDRESS, or on a local Ray it starts.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from deployments.cli import parse_grid_values


def refine(values: list[int], best: int, steps: int = 2) -> list[int]:
    """Integers around `best`, half a coarse step apart, inside the coarse range."""
    step = max(1, (values[1] - values[0]) // 2) if len(values) > 1 else 1
    lo, hi = min(values), max(values)
    return sorted({min(hi, max(lo, best + k * step)) for k in range(-steps, steps + 1)})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategy", default="trend_following")
    parser.add_argument("--fast", default="5:50:5", help="coarse fast-MA values (V1,V2 or START:STOP:STEP)")
    parser.add_argument("--slow", default="60:240:20", help="coarse slow-MA values")
    parser.add_argument("--fees", type=float, default=0.0005)
    parser.add_argument("--slippage", type=float, default=0.0005)
    parser.add_argument("--rank-by", default="sharpe")
    parser.add_argument("--out", type=Path, required=True, help="directory for the CSV files and summary.json")
    args = parser.parse_args(argv)

    from actors.client import connect  # noqa: PLC0415 - imports Ray

    rq = connect()
    costs = {"fees": args.fees, "slippage": args.slippage}
    coarse_grid = {"fast": parse_grid_values(args.fast), "slow": parse_grid_values(args.slow)}
    coarse = rq.sweep(args.strategy, coarse_grid, top_k=5, rank_by=args.rank_by, **costs)
    best = coarse.combo(int(coarse.top.index[0]))
    print(f"coarse: {len(coarse.params)} combinations, best {best}", flush=True)

    fine_grid = {name: refine(coarse_grid[name], int(best[name])) for name in ("fast", "slow")}
    fine = rq.sweep(args.strategy, fine_grid, top_k=5, rank_by=args.rank_by, **costs)
    winner = fine.combo(int(fine.top.index[0]))
    print(f"fine: {len(fine.params)} combinations, best {winner}", flush=True)

    final = rq.backtest(args.strategy, winner, **costs)
    args.out.mkdir(parents=True, exist_ok=True)
    coarse.top.to_csv(args.out / "coarse_top.csv")
    fine.top.to_csv(args.out / "fine_top.csv")
    final.metrics.to_csv(args.out / "final_metrics.csv")
    summary = {"coarse_best": best, "fine_grid": fine_grid, "winner": winner,
               "portfolio": {k: float(v) for k, v in final.portfolio.items()}}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"winner {winner}: {args.rank_by}={final.portfolio[args.rank_by]:.3f}; wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
