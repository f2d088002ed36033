"""Benchmark: one backtest (MA crossover) — vectorbt vs kernels.backtest.run (CPU, GPU).

The seed system's backtest: MA(fast) / MA(slow) crossover on a synthetic close
panel (bars x assets), fees on turnover, per-asset and portfolio metrics. Side by
side in one process on the same data:

- vectorbt 1.2.0: entries/exits from MA crossovers, `Portfolio.from_signals`, and
  the metrics we also report (total return, Sharpe, Sortino, max drawdown, trade
  count, win rate). Warm timings (one call first, so Numba has compiled).
- ours, backend="cpu": `run(panel, "trend_following", ...)` with a NumPy panel.
- ours, GPU (where CuPy sees a device): the panel already on the device, timed with
  `cupyx.profiler.benchmark` (CUDA-event GPU time and host time).

    python bench/kernels/backtest/bench_backtest.py --bars 1000 --assets 100 --out bench/results/backtest_cpu.json
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from kernels.backend import gpu_available  # noqa: E402
from kernels.backtest import run  # noqa: E402
from bench.timing import summary, wall_times  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402




def bench_vectorbt(close: np.ndarray, fast: int, slow: int, fees: float, repeat: int) -> dict[str, Any]:
    import pandas as pd  # noqa: PLC0415
    import vectorbt as vbt  # noqa: PLC0415

    df = pd.DataFrame(close)

    def portfolio():
        f = vbt.MA.run(df, fast, short_name="fast")
        s = vbt.MA.run(df, slow, short_name="slow")
        entries = f.ma_crossed_above(s)
        exits = f.ma_crossed_below(s)
        return vbt.Portfolio.from_signals(df, entries, exits, fees=fees, freq="1D")

    def with_metrics():
        pf = portfolio()
        return (
            pf.total_return(),
            pf.sharpe_ratio(),
            pf.sortino_ratio(),
            pf.max_drawdown(),
            pf.trades.count(),
            pf.trades.win_rate(),
        )

    portfolio_t = wall_times(portfolio, repeat)
    metrics_t = wall_times(with_metrics, repeat)
    tr = with_metrics()[0]
    return {
        "version": vbt.__version__,
        "portfolio_only": summary(portfolio_t),
        "with_metrics": summary(metrics_t),
        "mean_total_return": float(np.nanmean(np.asarray(tr))),
    }


def bench_ours_cpu(panel, params: dict, fees: float, repeat: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    res = run(panel, "trend_following", params, fees=fees, backend="cpu")
    first = time.perf_counter() - t0
    times = wall_times(lambda: run(panel, "trend_following", params, fees=fees, backend="cpu"), repeat)
    return {
        "first_call_ms": first * 1e3,
        "warm": summary(times),
        "mean_total_return": float(res.metrics["total_return"].iloc[:-1].mean()),
        "portfolio_sharpe": float(res.metrics.loc["portfolio", "sharpe"]),
    }


def bench_ours_gpu(panel, params: dict, fees: float, repeat: int) -> dict[str, Any]:
    import cupy as cp  # noqa: PLC0415
    from cupyx.profiler import benchmark  # noqa: PLC0415

    dev = panel.to("gpu")
    t0 = time.perf_counter()
    res = run(dev, "trend_following", params, fees=fees, backend="gpu")
    cp.cuda.Stream.null.synchronize()
    first = time.perf_counter() - t0
    perf = benchmark(run, (dev, "trend_following", params), kwargs={"fees": fees, "backend": "gpu"},
                     n_repeat=repeat, n_warmup=5)
    gpu_ms = perf.gpu_times[0] * 1e3
    cpu_ms = perf.cpu_times * 1e3
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    host = run(panel, "trend_following", params, fees=fees, backend="gpu")  # NumPy panel in, copied over
    try:
        breakdown = gpu_breakdown(dev, params, fees, repeat)
    except Exception as exc:  # keep the headline numbers if the breakdown fails
        breakdown = {"error": repr(exc)}
    return {
        "device": name,
        "cupy": cp.__version__,
        "first_call_ms": first * 1e3,
        "gpu_time": {"median_ms": float(np.median(gpu_ms)), "min_ms": float(gpu_ms.min()),
                     "mean_ms": float(gpu_ms.mean()), "n": int(gpu_ms.size)},
        "host_time": {"median_ms": float(np.median(cpu_ms)), "min_ms": float(cpu_ms.min()),
                      "mean_ms": float(cpu_ms.mean()), "n": int(cpu_ms.size)},
        "numpy_panel_end_to_end": summary(
            wall_times(lambda: run(panel, "trend_following", params, fees=fees, backend="gpu"), 10)),
        "stages_gpu_median_ms": breakdown,
        "mean_total_return": float(res.metrics["total_return"].iloc[:-1].mean()),
        "max_abs_diff_vs_numpy_panel": float(np.max(np.abs(res.metrics.to_numpy() - host.metrics.to_numpy())
                                                    , where=np.isfinite(host.metrics.to_numpy()), initial=0.0)),
    }


def gpu_breakdown(dev, params: dict, fees: float, repeat: int) -> dict[str, float]:
    """GPU (CUDA-event) and host time of each stage of `run`, called as `run` calls them."""
    import cupy as cp  # noqa: PLC0415
    from cupyx.profiler import benchmark  # noqa: PLC0415

    from kernels.backtest.engine import simulate  # noqa: PLC0415
    from kernels.strategies import get_strategy  # noqa: PLC0415

    mod = importlib.import_module("kernels.backtest.runner")
    fn = get_strategy("trend_following").fn
    pos = fn(dev, **params)
    sim = simulate(cp, dev.close, pos, fees, 0.0)
    table, counts = mod._asset_metrics(cp, sim.positions, sim.gross, sim.cost, sim.net, sim.equity, sim.active, 252)
    stages = {
        "check_close": lambda: mod.check_close(cp, dev.close),
        "positions": lambda: fn(dev, **params),
        "simulate": lambda: simulate(cp, dev.close, pos, fees, 0.0),
        "asset_metrics": lambda: mod._asset_metrics(cp, sim.positions, sim.gross, sim.cost, sim.net, sim.equity,
                                                    sim.active, 252),
        "portfolio_row": lambda: mod._portfolio_row(cp, sim.portfolio_net, sim.portfolio_active,
                                                    sim.portfolio_equity, table, counts, 252),
    }
    out = {}
    for name, f in stages.items():
        perf = benchmark(f, (), n_repeat=max(20, repeat // 4), n_warmup=3)
        out[name] = float(np.median(perf.gpu_times[0]) * 1e3)
        out[name + "_host"] = float(np.median(perf.cpu_times) * 1e3)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bars", type=int, default=1000)
    ap.add_argument("--assets", type=int, default=100)
    ap.add_argument("--fast", type=int, default=10)
    ap.add_argument("--slow", type=int, default=50)
    ap.add_argument("--fees", type=float, default=0.001)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--gpu-repeat", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-vectorbt", action="store_true", help="skip the vectorbt peer")
    ap.add_argument("--no-gpu", action="store_true", help="skip the GPU run even if a device is present")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)

    panel = synthetic_panel(args.assets, args.bars, seed=args.seed)
    params = {"fast": args.fast, "slow": args.slow, "ma": "sma", "long_only": True}
    has_gpu = gpu_available() and not args.no_gpu
    dtype = str(panel.close.dtype)
    print(f"backtest MA({args.fast})/MA({args.slow}) crossover, {args.bars} bars x {args.assets} assets, "
          f"dtype {dtype}, fees {args.fees}")
    print(f"host: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"GPU: {'yes' if has_gpu else 'none'}")
    results: dict[str, Any] = {
        "bench": "backtest",
        "command": "".join(f"{k}={os.environ[k]} " for k in ("NUMBA_NUM_THREADS",) if k in os.environ)
        + "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
        "bars": args.bars,
        "assets": args.assets,
        "params": params,
        "fees": args.fees,
        "dtype": dtype,
        "cpu_count": os.cpu_count(),
        "numba_threads": int(os.environ.get("NUMBA_NUM_THREADS", "0")) or None,
        "python": platform.python_version(),
        "load_average_at_start": list(os.getloadavg()),
    }
    ours = bench_ours_cpu(panel, params, args.fees, args.repeat)
    results["ours_cpu"] = ours
    print(f"ours cpu     : {ours['warm']['median_ms']:8.2f} ms median (first call {ours['first_call_ms']:.0f} ms)")
    if not args.no_vectorbt:
        vbt = bench_vectorbt(np.asarray(panel.close), args.fast, args.slow, args.fees, args.repeat)
        results["vectorbt"] = vbt
        print(f"vectorbt     : {vbt['portfolio_only']['median_ms']:8.2f} ms median (signals + from_signals), "
              f"{vbt['with_metrics']['median_ms']:.2f} ms with metrics")
        ratio = vbt["with_metrics"]["median_ms"] / ours["warm"]["median_ms"]
        ratio_pf = vbt["portfolio_only"]["median_ms"] / ours["warm"]["median_ms"]
        results["ratio_vectorbt_over_ours_cpu"] = {"with_metrics": ratio, "portfolio_only": ratio_pf}
        print(f"ratio        : vectorbt / ours cpu = {ratio:.2f}x (with metrics), {ratio_pf:.2f}x (portfolio only)")
    if has_gpu:
        gpu = bench_ours_gpu(panel, params, args.fees, args.gpu_repeat)
        results["ours_gpu"] = gpu
        print(f"ours gpu     : {gpu['gpu_time']['median_ms']:8.3f} ms GPU time median, "
              f"{gpu['host_time']['median_ms']:.3f} ms host time ({gpu['device']}, data on the device)")
        print(f"ours gpu, NumPy panel in/out: {gpu['numpy_panel_end_to_end']['median_ms']:.2f} ms")
        stages = gpu["stages_gpu_median_ms"]
        print("ours gpu stages (GPU ms / host ms): " + (stages.get("error") or ", ".join(
            f"{k} {v:.3f}/{stages[k + '_host']:.3f}" for k, v in stages.items() if not k.endswith("_host"))))
        results["ratio_ours_cpu_over_gpu"] = ours["warm"]["median_ms"] / gpu["gpu_time"]["median_ms"]
        if "vectorbt" in results:
            results["ratio_vectorbt_over_ours_gpu"] = (
                results["vectorbt"]["with_metrics"]["median_ms"] / gpu["gpu_time"]["median_ms"])
            print(f"ratio        : vectorbt / ours gpu = {results['ratio_vectorbt_over_ours_gpu']:.1f}x")
        results["target_gpu_le_5ms"] = gpu["gpu_time"]["median_ms"] <= 5.0
    if "vectorbt" in results:
        results["target_cpu_faster_than_vectorbt"] = results["ratio_vectorbt_over_ours_cpu"]["with_metrics"] > 1.0
    results["load_average_at_end"] = list(os.getloadavg())
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
