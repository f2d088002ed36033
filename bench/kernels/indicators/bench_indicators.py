"""Indicators benchmark: TA-Lib (single thread) vs our CPU backend vs our GPU backend.

Eight indicators over a (bars x assets) synthetic panel: SMA20, SMA50, EMA12,
RSI14, MACD(12,26,9), BBANDS(20), ATR14, OBV. Side by side in one run:

- TA-Lib, one thread, looping over the columns. "talib_contiguous" hands it
  ready-made contiguous columns and keeps its per-column outputs (its best case);
  "talib_panel" starts from the (T, N) panel and writes (T, N) outputs, as a user
  of the panel layout would.
- our CPU backend (`kernels.indicators.compute` on NumPy arrays, Numba threads),
  also reported per core;
- our GPU backend with the data already on the device, timed with
  `cupyx.profiler.benchmark` (CUDA events): the fused `compute` (one kernel for the
  eight), the eight separate calls, and unroll / block-size variants of the fused
  kernel.

Usage: python bench/kernels/indicators/bench_indicators.py --bars 2520 --assets 5000 [--threads 1,2,4,8,16] --out bench/results/indicators_h100.json

The CPU target is "TA-Lib single-thread per core": TA-Lib on one thread divided by
(our time at P threads x P), reported for every P timed (P = 1 is the 1-thread ratio).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable

import numpy as np

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from bench.timing import cpu_model  # noqa: E402
from kernels import indicators as ind  # noqa: E402
from kernels.backend import gpu_available  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402

SPECS: list = [
    ("sma", {"timeperiod": 20}),
    ("sma", {"timeperiod": 50}),
    ("ema", {"timeperiod": 12}),
    ("rsi", {"timeperiod": 14}),
    ("macd", {}),
    ("bbands", {"timeperiod": 20}),
    ("atr", {"timeperiod": 14}),
    ("obv", {}),
]
N_OUTPUTS = 12  # macd and bbands give three each


def _best(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _talib_calls(talib: Any, c: Any, h: Any, l: Any, v: Any) -> list[tuple[str, Callable[[], Any]]]:
    return [
        ("sma_20", lambda: talib.SMA(c, timeperiod=20)),
        ("sma_50", lambda: talib.SMA(c, timeperiod=50)),
        ("ema_12", lambda: talib.EMA(c, timeperiod=12)),
        ("rsi_14", lambda: talib.RSI(c, timeperiod=14)),
        ("macd", lambda: talib.MACD(c, 12, 26, 9)),
        ("bbands_20", lambda: talib.BBANDS(c, timeperiod=20)),
        ("atr_14", lambda: talib.ATR(h, l, c, timeperiod=14)),
        ("obv", lambda: talib.OBV(c, v)),
    ]


def bench_talib(panel: Any, repeat: int) -> dict:
    """TA-Lib single thread over every column, per indicator, in two layouts."""
    import talib  # noqa: PLC0415

    n = panel.n_assets
    cols = {f: np.ascontiguousarray(np.asarray(getattr(panel, f)).T) for f in ("close", "high", "low", "volume")}
    per: dict[str, float] = {}
    names = [name for name, _ in _talib_calls(talib, *(cols[f][0] for f in ("close", "high", "low", "volume")))]
    for k, name in enumerate(names):

        def loop(k: int = k) -> None:
            for j in range(n):
                _talib_calls(talib, cols["close"][j], cols["high"][j], cols["low"][j], cols["volume"][j])[k][1]()

        per[name] = _best(loop, repeat)
    contiguous = sum(per.values())

    c, h, l, v = (np.asarray(getattr(panel, f)) for f in ("close", "high", "low", "volume"))

    def panel_loop() -> None:
        outs = [np.empty_like(c) for _ in range(N_OUTPUTS)]
        for j in range(n):
            res: list = []
            for _, call in _talib_calls(talib, c[:, j], h[:, j], l[:, j], v[:, j]):
                r = call()
                res += list(r) if isinstance(r, tuple) else [r]
            for o, r in zip(outs, res):
                o[:, j] = r

    return {
        "talib_contiguous_s": contiguous,
        "talib_contiguous_per_indicator_s": per,
        "talib_panel_s": _best(panel_loop, max(1, repeat - 1)),
        "talib_version": getattr(talib, "__version__", "?"),
        "talib_c_version": str(getattr(talib, "__ta_version__", "?")),
    }


def bench_cpu(panel: Any, repeat: int, threads: list[int] | None = None) -> dict:
    """Our CPU backend: compute() of the eight, and each indicator alone, then over `threads` thread counts."""
    import numba  # noqa: PLC0415

    data = {f: np.asarray(getattr(panel, f)) for f in ("close", "high", "low", "volume")}
    small = {f: a[:64, :3] for f, a in data.items()}
    ind.compute(small, SPECS)  # compile
    per = {}
    for spec in SPECS:
        ind.compute(small, [spec])
        label = spec[0] + "".join(f"_{v}" for v in spec[1].values())
        per[label] = _best(lambda spec=spec: ind.compute(data, [spec]), repeat)
    total = _best(lambda: ind.compute(data, SPECS), repeat)
    n_max = numba.get_num_threads()
    scaling = {}
    for th in sorted({min(t, n_max) for t in (threads or [1, 2, 4, 8, n_max])}):
        numba.set_num_threads(th)
        scaling[str(th)] = _best(lambda: ind.compute(data, SPECS), repeat if th == 1 else max(2, repeat // 2))
    numba.set_num_threads(n_max)
    # the same at all threads without splitting the specs over the workers (columns only)
    from kernels.indicators import cpu  # noqa: PLC0415

    wide = cpu.WIDE_COLUMNS
    cpu.WIDE_COLUMNS = 1
    try:
        no_split = _best(lambda: ind.compute(data, SPECS), max(2, repeat // 2))
    finally:
        cpu.WIDE_COLUMNS = wide
    # what allocating the 12 outputs costs (first touch of fresh pages) vs writing them again
    t0 = time.perf_counter()
    outs = np.empty((N_OUTPUTS,) + data["close"].shape)
    outs.fill(0.0)
    t1 = time.perf_counter()
    outs.fill(1.0)
    t2 = time.perf_counter()
    del outs
    return {
        "cpu_threads": n_max,
        "cpu_s": total,
        "cpu_per_indicator_s": per,
        "cpu_thread_scaling_s": scaling,
        "cpu_s_columns_only_split": no_split,
        "cpu_plan_at_all_threads": [int(v) if i != 1 else [int(g) for g in v] for i, v in enumerate(
            cpu.plan(data["close"].shape[1], [cpu.KERNEL_IDS[s[0]] for s in SPECS], n_max))],
        "outputs_first_touch_fill_s": t1 - t0,
        "outputs_second_fill_s": t2 - t1,
    }


def bench_gpu(panel: Any, repeat: int, variants: bool) -> dict:
    """Our GPU backend, data on the device, CUDA-event timing."""
    import cupy  # noqa: PLC0415
    from cupyx.profiler import benchmark  # noqa: PLC0415

    from kernels.indicators import gpu  # noqa: PLC0415

    dev = {f: cupy.asarray(np.asarray(getattr(panel, f))) for f in ("close", "high", "low", "volume")}
    props = cupy.cuda.runtime.getDeviceProperties(0)

    def timed(fn: Callable[[], Any], n_repeat: int = repeat) -> dict:
        fn()  # compile outside the timing
        r = benchmark(fn, (), n_repeat=n_repeat, n_warmup=2)
        g = r.gpu_times[0]
        return {"gpu_mean_s": float(g.mean()), "gpu_min_s": float(g.min()), "cpu_mean_s": float(r.cpu_times.mean())}

    out: dict[str, Any] = {
        "gpu_name": props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"]),
        "gpu_sms": int(props["multiProcessorCount"]),
        "cupy_version": cupy.__version__,
    }
    out["gpu_fused"] = timed(lambda: ind.compute(dev, SPECS))
    c, h, l, v = dev["close"], dev["high"], dev["low"], dev["volume"]

    def separate() -> None:
        ind.sma(c, 20), ind.sma(c, 50), ind.ema(c, 12), ind.rsi(c, 14), ind.macd(c)
        ind.bbands(c, 20), ind.atr(h, l, c, 14), ind.obv(c, v)

    out["gpu_separate"] = timed(separate)
    if variants:
        fields = [dev["high"], dev["low"], dev["close"], dev["volume"]]
        items = [("sma", (2,), (20,)), ("sma", (2,), (50,)), ("ema", (2,), (12,)), ("rsi", (2,), (14,)),
                 ("macd", (2,), (12, 26, 9)), ("bbands", (2,), (20, 2.0, 2.0)), ("atr", (0, 1, 2), (14,)),
                 ("obv", (2, 3), ())]
        grid = {}
        for split in (False, True):
            for unroll in (2, 4, 8):
                for block in (64, 128):
                    key = f"{'split' if split else 'fused'}_u{unroll}_b{block}"
                    try:
                        grid[key] = timed(
                            lambda u=unroll, b=block, s=split: gpu.run_fused(fields, items, unroll=u, block=b, split=s),
                            n_repeat=max(5, repeat // 2),
                        )
                    except Exception as exc:  # a variant that fails to compile is recorded, not fatal
                        grid[key] = {"error": repr(exc)[:300]}
        out["gpu_fused_variants"] = grid
        out["gpu_default_mode"] = "split" if gpu.use_split(panel.n_assets, len(items)) else "fused"
    # parity spot check against the CPU backend on a slice
    sub = {f: a[:, :256] for f, a in dev.items()}
    g = ind.compute(sub, SPECS)
    cpu_res = ind.compute({f: cupy.asnumpy(a) for f, a in sub.items()}, SPECS)
    worst = 0.0
    for key, a in g.items():
        a_np, b = cupy.asnumpy(a), cpu_res[key]
        if not np.array_equal(np.isnan(a_np), np.isnan(b)):
            worst = float("inf")
            break
        m = ~np.isnan(b)
        if m.any():
            worst = max(worst, float(np.max(np.abs(a_np[m] - b[m]) / np.maximum(np.abs(b[m]), 1e-300))))
    out["gpu_vs_cpu_max_rel_diff"] = worst
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--assets", type=int, default=5000)
    ap.add_argument("--dtype", choices=("float64",), default="float64")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=None, help="write the JSON result here")
    ap.add_argument("--skip-talib", action="store_true")
    ap.add_argument("--skip-cpu", action="store_true")
    ap.add_argument("--skip-gpu", action="store_true")
    ap.add_argument("--no-variants", action="store_true", help="skip the unroll/block grid on the GPU")
    ap.add_argument("--threads", default=None,
                    help="comma-separated CPU thread counts to time (default 1,2,4,8 and all of Numba's threads)")
    args = ap.parse_args(argv)

    panel = synthetic_panel(args.assets, args.bars, seed=0)
    cpu_name = cpu_model()
    have_gpu = gpu_available() and not args.skip_gpu
    result: dict[str, Any] = {
        "command": "python " + " ".join([os.path.relpath(__file__)] + (argv if argv is not None else sys.argv[1:])),
        "bars": args.bars,
        "assets": args.assets,
        "dtype": args.dtype,
        "indicators": ["SMA20", "SMA50", "EMA12", "RSI14", "MACD(12,26,9)", "BBANDS(20)", "ATR14", "OBV"],
        "cpu_model": cpu_name,
        "cpu_count": os.cpu_count(),
    }
    print(f"indicators benchmark: {args.bars} bars x {args.assets} assets, dtype {args.dtype}")
    print(f"CPU: {cpu_name} ({os.cpu_count()} logical cores)")
    if not args.skip_talib:
        result.update(bench_talib(panel, args.repeat))
        print(f"TA-Lib 1 thread: {result['talib_contiguous_s'] * 1e3:.1f} ms (contiguous columns), "
              f"{result['talib_panel_s'] * 1e3:.1f} ms (from/to the (T, N) panel)")
    if not args.skip_cpu:
        threads = [int(v) for v in args.threads.split(",")] if args.threads else None
        result.update(bench_cpu(panel, args.repeat, threads))
        print(f"CPU backend ({result['cpu_threads']} threads): {result['cpu_s'] * 1e3:.1f} ms")
    if have_gpu:
        result.update(bench_gpu(panel, max(args.repeat, 10), not args.no_variants))
        print(f"GPU: {result['gpu_name']}: fused {result['gpu_fused']['gpu_mean_s'] * 1e3:.3f} ms, "
              f"separate {result['gpu_separate']['gpu_mean_s'] * 1e3:.3f} ms "
              f"(max rel diff vs CPU {result['gpu_vs_cpu_max_rel_diff']:.1e})")
    else:
        print("GPU: none (CuPy or a CUDA device missing); GPU part skipped")
    # ratios (TA-Lib best case, contiguous columns, is the reference)
    if "talib_contiguous_s" in result:
        ref = result["talib_contiguous_s"]
        if "cpu_s" in result:
            # Target (issue 2): CPU backend >= TA-Lib single-thread per core, i.e.
            # talib_1thread / (ours_at_P_threads * P) >= 1 (P = 1: the 1-thread ratio).
            scaling = result["cpu_thread_scaling_s"]
            per_core = {th: ref / (s * int(th)) for th, s in scaling.items()}
            result["cpu_speedup_vs_talib"] = ref / result["cpu_s"]
            result["cpu_per_core_ratio_vs_talib"] = ref / (result["cpu_s"] * result["cpu_threads"])
            result["cpu_per_core_ratio_vs_talib_by_threads"] = per_core
            result["cpu_per_core_ratio_vs_talib_panel"] = result["talib_panel_s"] / (result["cpu_s"] * result["cpu_threads"])
            if "1" in scaling:
                result["cpu_1thread_s"] = scaling["1"]
                result["cpu_1thread_ratio_vs_talib"] = ref / scaling["1"]
                print(f"CPU 1 thread: {scaling['1'] * 1e3:.1f} ms vs TA-Lib 1 thread {ref * 1e3:.1f} ms: "
                      f"ratio {result['cpu_1thread_ratio_vs_talib']:.2f} (target >= 1)")
            print("CPU per core (TA-Lib 1 thread / (ours x threads), target >= 1): "
                  + ", ".join(f"{th} thr {s * 1e3:.1f} ms -> {per_core[th]:.2f}" for th, s in scaling.items()))
            print(f"CPU speed-up vs TA-Lib at {result['cpu_threads']} threads: {result['cpu_speedup_vs_talib']:.2f}x total")
        if have_gpu:
            result["gpu_fused_speedup_vs_talib"] = ref / result["gpu_fused"]["gpu_mean_s"]
            result["gpu_separate_speedup_vs_talib"] = ref / result["gpu_separate"]["gpu_mean_s"]
            variants = {k: v["gpu_mean_s"] for k, v in result.get("gpu_fused_variants", {}).items() if "gpu_mean_s" in v}
            if variants:
                best = min(variants, key=variants.get)
                result["gpu_best_variant"] = best
                result["gpu_best_variant_speedup_vs_talib"] = ref / variants[best]
                print("GPU variants (ms): " + ", ".join(f"{k} {v * 1e3:.2f}" for k, v in sorted(variants.items())))
            print(f"GPU speed-up vs TA-Lib: fused {result['gpu_fused_speedup_vs_talib']:.0f}x, "
                  f"separate {result['gpu_separate_speedup_vs_talib']:.0f}x (target >= 100)")
        if have_gpu:
            moved = (4 + N_OUTPUTS) * args.bars * args.assets * 8
            result["gpu_fused_effective_GBps"] = moved / result["gpu_fused"]["gpu_mean_s"] / 1e9
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=2, sort_keys=True)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
