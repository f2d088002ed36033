"""The `rayquant` command line: backtests and sweeps now, the service later.

    rayquant backtest --strategy trend_following --param fast=10 --param slow=50
    rayquant sweep --strategy trend_following --grid fast=5:50:5 --grid slow=60,120,200
    rayquant demo
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

log = logging.getLogger("rayquant.cli")


def parse_value(text: str) -> Any:
    """'10' -> 10, '0.5' -> 0.5, 'true' -> True, anything else stays a string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip()


def parse_assignment(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    name, value = text.split("=", 1)
    if not name.strip():
        raise argparse.ArgumentTypeError(f"empty parameter name in {text!r}")
    return name.strip(), value


def parse_grid_values(text: str) -> list[Any]:
    """'5,10,20' -> [5, 10, 20]; 'start:stop:step' -> an inclusive integer or float range."""
    if ":" in text:
        parts = [parse_value(p) for p in text.split(":")]
        if len(parts) != 3 or not all(isinstance(p, (int, float)) for p in parts) or parts[2] <= 0:
            raise argparse.ArgumentTypeError(f"range must be start:stop:step with step > 0, got {text!r}")
        start, stop, step = parts
        count = int(math.floor((stop - start) / step + 1e-9)) + 1
        values = [start + i * step for i in range(max(count, 0))]
        return [int(v) if all(isinstance(p, int) for p in parts) else float(v) for v in values]
    return [parse_value(v) for v in text.split(",") if v.strip()]


def load_panel(args: argparse.Namespace):
    """The panel named by --data, or the synthetic universe."""
    from kernels.data import read_csv, read_parquet, synthetic_panel  # noqa: PLC0415

    if args.data:
        path = Path(args.data)
        panel = read_csv(path) if path.suffix.lower() == ".csv" else read_parquet(path)
        if args.assets and args.assets < panel.n_assets:
            panel = panel.select(panel.symbols[: args.assets])
        return panel
    return synthetic_panel(args.assets, args.bars, seed=args.seed)


def _frame_to_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df.reset_index().replace({np.nan: None})
    return json.loads(out.to_json(orient="records", date_format="iso"))


def cmd_backtest(args: argparse.Namespace) -> int:
    from kernels.backtest import run  # noqa: PLC0415

    panel = load_panel(args)
    params = dict(args.param or [])
    params = {k: parse_value(v) for k, v in params.items()}
    started = time.perf_counter()
    result = run(panel, args.strategy, params, fees=args.fees, slippage=args.slippage, backend=args.backend)
    elapsed = time.perf_counter() - started
    if args.json:
        print(json.dumps({
            "strategy": args.strategy,
            "params": result.params,
            "backend": result.backend,
            "bars": panel.n_bars,
            "assets": panel.n_assets,
            "seconds": elapsed,
            "metrics": _frame_to_records(result.metrics),
        }, indent=2, default=str))
        return 0
    print(f"backtest {args.strategy} {result.params} on {panel.n_bars} bars x {panel.n_assets} assets "
          f"[backend={result.backend}, {elapsed * 1e3:.1f} ms]")
    shown = result.metrics if len(result.metrics) <= args.rows + 1 else pd.concat(
        [result.metrics.iloc[: args.rows], result.metrics.iloc[[-1]]])
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.float_format", "{:.4f}".format):
        print(shown.to_string())
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from tqdm import tqdm  # noqa: PLC0415

    from kernels.backtest import merge_sweeps, plan_chunks, sweep  # noqa: PLC0415

    panel = load_panel(args)
    grid = {name: parse_grid_values(values) for name, values in (args.grid or [])}
    if not grid:
        print("error: give at least one --grid NAME=VALUES", file=sys.stderr)
        return 2
    n_combos = int(np.prod([len(v) for v in grid.values()]))
    chunks = plan_chunks(n_combos, panel.n_assets, args.chunk_cells, panel.n_bars)
    started = time.perf_counter()
    parts = []
    kwargs = dict(fees=args.fees, slippage=args.slippage, top_k=args.top_k, rank_by=args.rank_by, backend=args.backend)
    for chunk in tqdm(chunks, desc="sweep", unit="chunk", disable=args.json or len(chunks) < 2, file=sys.stderr):
        parts.append(sweep(panel, args.strategy, grid, chunk=chunk, **kwargs))
    result = parts[0] if len(parts) == 1 else merge_sweeps(parts)
    elapsed = time.perf_counter() - started
    cells = n_combos * panel.n_assets * panel.n_bars
    if args.json:
        print(json.dumps({
            "strategy": args.strategy,
            "grid": grid,
            "backend": result.backend,
            "combinations": n_combos,
            "bars": panel.n_bars,
            "assets": panel.n_assets,
            "chunks": len(chunks),
            "seconds": elapsed,
            "cells_per_second": cells / elapsed if elapsed > 0 else None,
            "top": _frame_to_records(result.top),
        }, indent=2, default=str))
        return 0
    print(f"sweep {args.strategy}: {n_combos} combinations x {panel.n_assets} assets x {panel.n_bars} bars "
          f"in {len(chunks)} chunk(s) [backend={result.backend}, {elapsed:.2f} s, {cells / max(elapsed, 1e-9):.3g} cells/s]")
    print(f"top {len(result.top)} by portfolio {args.rank_by}:")
    with pd.option_context("display.width", 160, "display.max_columns", 30, "display.float_format", "{:.4f}".format):
        print(result.top.to_string())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Until the service lands: a backtest and a sweep on the synthetic universe."""
    common = ["--assets", str(args.assets), "--bars", str(args.bars), "--seed", str(args.seed), "--backend", args.backend]
    if args.data:
        common += ["--data", args.data]
    print("== backtest: trend following MA(10, 50) ==")
    rc = main(["backtest", "--strategy", "trend_following", "--param", "fast=10", "--param", "slow=50", "--rows", "8", *common])
    if rc:
        return rc
    print("\n== sweep: trend following, fast x slow ==")
    return main(["sweep", "--strategy", "trend_following", "--grid", "fast=5:30:5", "--grid", "slow=40:200:40", *common])


def _add_data_args(p: argparse.ArgumentParser, assets: int, bars: int) -> None:
    p.add_argument("--data", help="long-form Parquet or CSV file (timestamp, symbol, open, high, low, close, volume); default: synthetic universe")
    p.add_argument("--assets", type=int, default=assets, help="synthetic universe size (or first N symbols of --data)")
    p.add_argument("--bars", type=int, default=bars, help="synthetic universe length in bars")
    p.add_argument("--seed", type=int, default=0, help="synthetic universe seed")
    p.add_argument("--backend", choices=("cpu", "gpu", "auto"), default="auto")


def _add_cost_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strategy", default="trend_following", help="built-in or registered strategy name")
    p.add_argument("--fees", type=float, default=0.0005, help="fees, fraction of traded value")
    p.add_argument("--slippage", type=float, default=0.0005, help="slippage, fraction of traded value")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rayquant", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    bt = sub.add_parser("backtest", help="backtest one parameter set and print its metrics")
    _add_data_args(bt, assets=20, bars=1000)
    _add_cost_args(bt)
    bt.add_argument("--param", type=parse_assignment, action="append", metavar="NAME=VALUE")
    bt.add_argument("--rows", type=int, default=20, help="asset rows to print (the portfolio row is always shown)")
    bt.set_defaults(func=cmd_backtest)

    sw = sub.add_parser("sweep", help="run every combination of a parameter grid and print the top-k")
    _add_data_args(sw, assets=50, bars=2520)
    _add_cost_args(sw)
    sw.add_argument("--grid", type=parse_assignment, action="append", metavar="NAME=V1,V2|START:STOP:STEP")
    sw.add_argument("--top-k", type=int, default=10)
    sw.add_argument("--rank-by", default="sharpe")
    sw.add_argument("--chunk-cells", type=float, default=2e8, help="bound on bars x assets x combinations per chunk")
    sw.set_defaults(func=cmd_sweep)

    demo = sub.add_parser("demo", help="the main job on the embedded default")
    _add_data_args(demo, assets=50, bars=1260)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
