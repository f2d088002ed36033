"""Streaming-indicator kernels: symbol-updates/s for tick batches (issue 7).

A state of S symbols is seeded from a (history x S) panel, then fed tick batches
of all S symbols (one tick each, symbols in a fresh random order per batch). Each
batch updates the 8 streamed indicators (EMA, RSI, MACD, ATR, OBV, SMA, rolling
std, ROC; 10 outputs). Reported per mode: milliseconds per batch and symbol-updates/s
(S / seconds per batch).

CPU (Numba): the public `update_packed` (host validation + kernel), the dict API
`update`, the kernel alone (as the API dispatches it, forced threaded over the
symbols, forced on one thread), and `seed`. On an oversubscribed machine the
threaded kernel waits for its slowest thread (see `stream_cpu.PARALLEL_MIN_THREADS`).
GPU (CuPy), timed with `cupyx.profiler.benchmark`:
- `gpu_kernel`: the kernel alone, ticks already on the device (CUDA-event time);
- `gpu_device_ticks`: `update_packed` with device ticks (validation kernel, update
  kernel, one sync for the verdict), outputs left on the device;
- `gpu_host_to_host`: `update_packed(..., to_host=True)` with host ticks, the GPU
  worker's path: host validation, one host-to-device copy of the packed batch, the
  kernel, one device-to-host copy of the (10, S) outputs (wall time per call);
- `gpu_host_ticks_dict`: `update` with host ticks, outputs left on the device;
- `gpu_seed`; and the GPU outputs against the CPU's on the same stream.

Usage: python bench/kernels/indicators/bench_stream_kernel.py --symbols 5000 --out bench/results/stream_kernel_h100.json
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

from bench.timing import cpu_model, summary, wall_times  # noqa: E402
from kernels.backend import gpu_available  # noqa: E402
from kernels.indicators import stream, stream_cpu  # noqa: E402

INDICATORS = ["EMA30", "RSI14", "MACD(12,26,9)", "ATR14", "OBV", "SMA30", "STDDEV(5)", "ROC10"]


def make_data(n_symbols: int, n_hist: int, n_batches: int, seed: int = 0) -> tuple[dict, np.ndarray, np.ndarray]:
    """History (n_hist, S) per field; tick batches (B, 4, S) in the order of sym (B, S)."""
    rng = np.random.default_rng(seed)
    n = n_hist + n_batches
    close = 100.0 * np.exp(np.cumsum(rng.standard_normal((n, n_symbols)) * 0.01, axis=0))
    spread = np.abs(rng.standard_normal((n, n_symbols))) * 0.005 * close
    high, low = close + spread, close - spread
    volume = rng.integers(100, 10_000, (n, n_symbols)).astype(np.float64)
    hist = {"high": high[:n_hist], "low": low[:n_hist], "close": close[:n_hist], "volume": volume[:n_hist]}
    sym = np.stack([rng.permutation(n_symbols) for _ in range(n_batches)])
    ticks = np.empty((n_batches, 4, n_symbols))
    for b in range(n_batches):
        t = n_hist + b
        for j, f in enumerate((high, low, close, volume)):
            ticks[b, j] = f[t, sym[b]]
    return hist, sym, ticks


def _rate(n_symbols: int, seconds: float) -> float:
    return n_symbols / seconds if seconds > 0 else float("inf")


def _cycle(n: int) -> Callable[[], int]:
    i = [-1]

    def nxt() -> int:
        i[0] = (i[0] + 1) % n
        return i[0]

    return nxt


def bench_cpu(hist: dict, sym: np.ndarray, ticks: np.ndarray, repeat: int) -> dict:
    """The Numba kernels on all threads: public API, kernel alone, seed."""
    import numba  # noqa: PLC0415

    n_batches, _, n = ticks.shape
    res: dict[str, Any] = {"cpu_threads": int(numba.get_num_threads())}
    state = stream.StreamState.create(n)
    seed_times = wall_times(lambda: stream.seed(state, hist), repeat=3, warmup=1)
    res["cpu_seed"] = summary(seed_times)
    res["cpu_seed"]["bar_updates_per_s"] = hist["close"].size / (res["cpu_seed"]["median_ms"] / 1e3)

    nxt = _cycle(n_batches)

    def packed_api() -> None:
        b = nxt()
        stream.update_packed(state, sym[b], ticks[b])

    t = summary(wall_times(packed_api, repeat))
    res["cpu_update_packed"] = {**t, "symbol_updates_per_s": _rate(n, t["median_ms"] / 1e3)}

    def dict_api() -> None:
        b = nxt()
        stream.update(state, sym[b], high=ticks[b, 0], low=ticks[b, 1], close=ticks[b, 2], volume=ticks[b, 3])

    t = summary(wall_times(dict_api, repeat))
    res["cpu_update_dict"] = {**t, "symbol_updates_per_s": _rate(n, t["median_ms"] / 1e3)}

    out = np.empty((len(stream.OUTPUTS), n))

    # The kernel alone: the dispatching entry point, the threaded one and the one-thread one.
    for key, fn in (("cpu_kernel", stream_cpu.update), ("cpu_kernel_threaded", stream_cpu.update_nb),
                    ("cpu_kernel_1thread", stream_cpu.update_serial_nb)):
        def kernel(fn=fn) -> None:
            b = nxt()
            h, lo, c, v = ticks[b]
            fn(state.values, state.counters, state.sma_buf, state.std_buf, state.roc_buf, sym[b],
               h, lo, c, v, state.ip, state.dp, out)

        t = summary(wall_times(kernel, repeat))
        res[key] = {**t, "symbol_updates_per_s": _rate(n, t["median_ms"] / 1e3)}
    return res


def bench_gpu(hist: dict, sym: np.ndarray, ticks: np.ndarray, repeat: int) -> dict:
    """The CUDA kernel: alone, with device ticks, host to host, dict API, seed; parity with the CPU."""
    import cupy  # noqa: PLC0415
    from cupyx.profiler import benchmark  # noqa: PLC0415

    from kernels.indicators import stream_gpu  # noqa: PLC0415

    n_batches, _, n = ticks.shape
    props = cupy.cuda.runtime.getDeviceProperties(0)
    res: dict[str, Any] = {
        "gpu_name": props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"]),
        "cupy_version": cupy.__version__,
    }

    def timed(fn: Callable[[], Any], n_repeat: int = repeat) -> dict:
        fn()  # compile outside the timing
        r = benchmark(fn, (), n_repeat=n_repeat, n_warmup=5)
        g = r.gpu_times[0]
        wall = float(np.median(r.cpu_times))
        gpu = float(np.median(g))
        return {"gpu_median_ms": gpu * 1e3, "gpu_min_ms": float(g.min()) * 1e3, "wall_median_ms": wall * 1e3,
                "symbol_updates_per_s_gpu_time": _rate(n, gpu), "symbol_updates_per_s_wall": _rate(n, max(wall, gpu))}

    state = stream.StreamState.create(n, xp=cupy)
    dev_hist = {f: cupy.asarray(a) for f, a in hist.items()}
    n_hist = int(hist["close"].shape[0])
    seed_t = timed(lambda: stream.seed(state, dev_hist), n_repeat=10)
    res["gpu_seed"] = {k: v for k, v in seed_t.items() if not k.startswith("symbol_updates")}
    res["gpu_seed"]["bar_updates_per_s"] = n_hist * n / (seed_t["gpu_median_ms"] / 1e3)

    # ticks on the device, packed as the host path packs them (row 0: index bits)
    packed = np.empty((n_batches, 5, n))
    packed[:, 0].view(np.int64)[...] = sym
    packed[:, 1:] = ticks
    dev_packed = cupy.asarray(packed)
    dev_sym = cupy.asarray(sym)
    dev_ticks = cupy.asarray(ticks)
    out = cupy.empty((len(stream.OUTPUTS), n))
    d = state._device()
    nxt = _cycle(n_batches)

    def kernel() -> None:
        s, h, lo, c, v = dev_packed[nxt()]
        stream_gpu.advance(state.values, state.counters, state.sma_buf, state.std_buf, state.roc_buf, s,
                           h, lo, c, v, 1, out, d["ip"], d["dp"], d["err"])

    res["gpu_kernel"] = timed(kernel)

    def device_ticks() -> None:
        b = nxt()
        stream.update_packed(state, dev_sym[b], dev_ticks[b])

    res["gpu_device_ticks"] = timed(device_ticks)

    def host_to_host() -> None:
        b = nxt()
        stream.update_packed(state, sym[b], ticks[b], to_host=True)

    res["gpu_host_to_host"] = timed(host_to_host)

    def host_dict() -> None:
        b = nxt()
        stream.update(state, sym[b], high=ticks[b, 0], low=ticks[b, 1], close=ticks[b, 2], volume=ticks[b, 3])

    res["gpu_host_ticks_dict"] = timed(host_dict)

    # parity: the same seed and stream on both backends
    cpu_state = stream.StreamState.create(n)
    gpu_state = stream.StreamState.create(n, xp=cupy)
    a = np.stack(list(stream.seed(cpu_state, hist).values()))
    g = cupy.stack(list(stream.seed(gpu_state, dev_hist).values())).get()
    outs_c, outs_g = [a], [g]
    for b in range(n_batches):
        outs_c.append(stream.update_packed(cpu_state, sym[b], ticks[b]))
        outs_g.append(stream.update_packed(gpu_state, sym[b], ticks[b], to_host=True))
    c_all, g_all = np.stack(outs_c), np.stack(outs_g)
    same = (c_all == g_all) | (np.isnan(c_all) & np.isnan(g_all))
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.abs(g_all - c_all) / np.maximum(np.abs(c_all), 1e-300)
    res["gpu_vs_cpu"] = {
        "values": int(same.size),
        "bit_identical": int(same.sum()),
        "max_rel_diff": float(np.nanmax(np.where(same, 0.0, rel))),
        "not_bit_identical_by_output": {name: int((~same[:, j]).sum()) for j, name in enumerate(stream.OUTPUTS)},
        "batches": n_batches,
    }
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=5000, help="symbols per tick batch (= state size)")
    ap.add_argument("--history", type=int, default=2520, help="bars of history to seed from")
    ap.add_argument("--batches", type=int, default=64, help="distinct tick batches (cycled while timing)")
    ap.add_argument("--repeat", type=int, default=200, help="timed batches per mode")
    ap.add_argument("--out", default=None, help="write the JSON result here")
    ap.add_argument("--skip-cpu", action="store_true")
    ap.add_argument("--skip-gpu", action="store_true")
    args = ap.parse_args(argv)

    cpu_name = cpu_model()
    t0 = time.perf_counter()
    hist, sym, ticks = make_data(args.symbols, args.history, args.batches)
    result: dict[str, Any] = {
        "command": "python " + " ".join([os.path.relpath(__file__)] + (argv if argv is not None else sys.argv[1:])),
        "symbols_per_batch": args.symbols,
        "history_bars": args.history,
        "dtype": "float64",
        "indicators": INDICATORS,
        "n_outputs": len(stream.OUTPUTS),
        "symbol_order": "random permutation per batch",
        "cpu_model": cpu_name,
        "cpu_count": os.cpu_count(),
        "target_symbol_updates_per_s": 10_000_000,
    }
    print(f"stream kernel benchmark: batches of {args.symbols} symbols x {len(INDICATORS)} indicators "
          f"({len(stream.OUTPUTS)} outputs), seeded from {args.history} bars; data {time.perf_counter() - t0:.1f} s")
    print(f"CPU: {cpu_name} ({os.cpu_count()} logical cores)")
    if not args.skip_cpu:
        result.update(bench_cpu(hist, sym, ticks, args.repeat))
        for k in ("cpu_update_packed", "cpu_update_dict", "cpu_kernel", "cpu_kernel_threaded", "cpu_kernel_1thread"):
            r = result[k]
            rate = r["symbol_updates_per_s"] / 1e6
            print(f"  {k:22s} {r['median_ms']:8.3f} ms/batch  {rate:8.2f} M symbol-updates/s")
        print(f"  cpu_seed ({args.history} x {args.symbols}) {result['cpu_seed']['median_ms']:.1f} ms "
              f"({result['cpu_seed']['bar_updates_per_s'] / 1e6:.0f} M bar-updates/s, {result['cpu_threads']} threads)")
    if gpu_available() and not args.skip_gpu:
        result.update(bench_gpu(hist, sym, ticks, args.repeat))
        print(f"GPU: {result['gpu_name']}")
        for k in ("gpu_kernel", "gpu_device_ticks", "gpu_host_to_host", "gpu_host_ticks_dict"):
            r = result[k]
            print(f"  {k:22s} gpu {r['gpu_median_ms']:8.3f} ms  wall {r['wall_median_ms']:8.3f} ms  "
                  f"{r['symbol_updates_per_s_wall'] / 1e6:8.2f} M symbol-updates/s (slower of the two)")
        r = result["gpu_seed"]
        print(f"  gpu_seed ({args.history} x {args.symbols}) {r['gpu_median_ms']:.2f} ms "
              f"({r['bar_updates_per_s'] / 1e9:.2f} G bar-updates/s)")
        p = result["gpu_vs_cpu"]
        print(f"  GPU vs CPU: {p['bit_identical']}/{p['values']} values bit-identical, "
              f"max rel diff {p['max_rel_diff']:.1e}")
    else:
        print("GPU: none (CuPy or a CUDA device missing); GPU part skipped")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=2)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
