"""Benchmark: building a sweep's per-asset metrics DataFrame (combinations x assets rows, one column per metric).

The step after the kernels in `sweep(...)` on either engine. Before: a row-major (P, N, M) table that
pandas copies and transposes into its column blocks. Now: a metric-major (M, P, N) table
(`metrics.metrics_by_name`) that the frame shares (`metrics.metrics_frame`).

    python bench/kernels/backtest/bench_result_tables.py --combos 10000 --assets 500 \\
        --out bench/results/result_tables_cpu_2core.json
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bench.timing import cpu_model, summary, wall_times, write_report  # noqa: E402
from kernels.backtest.orders.result import ORDER_METRICS  # noqa: E402
from kernels.backtest.metrics import metrics_by_name, metrics_frame  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--combos", type=int, default=10_000)
    ap.add_argument("--assets", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    p, n, names = args.combos, args.assets, list(ORDER_METRICS)
    rng = np.random.default_rng(0)
    values = {m: rng.random((p, n)) for m in names}
    index = pd.MultiIndex(levels=[pd.RangeIndex(p), pd.Index([f"S{j}" for j in range(n)])],
                          codes=[np.repeat(np.arange(p), n), np.tile(np.arange(n), p)],
                          names=["combo_id", "symbol"], verify_integrity=False)

    def row_major() -> pd.DataFrame:
        table = np.stack([values[m] for m in names], axis=-1)  # (P, N, M), as before
        return pd.DataFrame(table.reshape(p * n, len(names)), index=index, columns=names)

    def metric_major() -> pd.DataFrame:
        return metrics_frame(metrics_by_name(np, values, names), index, names)

    pd.testing.assert_frame_equal(row_major(), metric_major())
    before = summary(wall_times(row_major, args.repeat))
    after = summary(wall_times(metric_major, args.repeat))
    report = {
        "bench": "result_tables", "command": " ".join(sys.argv), "cpu": cpu_model(), "cores": os.cpu_count(),
        "python": platform.python_version(), "pandas": pd.__version__, "rows": p * n, "metrics": len(names),
        "row_major": before, "metric_major": after, "speedup": before["median_ms"] / after["median_ms"],
    }
    print({k: report[k] for k in ("rows", "speedup")}, before["median_ms"], after["median_ms"])
    if args.out:
        write_report(args.out, report)


if __name__ == "__main__":
    main()
