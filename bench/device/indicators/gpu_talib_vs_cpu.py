"""Every TA-Lib function with a GPU form, GPU backend against the CPU backend, on the GPU machine.

The CPU backend is checked against TA-Lib in CI (tests/kernels/indicators/talib); this compares the GPU
backend with it where TA-Lib is not installed: realistic OHLCV (kernels.data.synthetic_panel) with
a late-starting column and an interior gap, default and varied parameters, every output
(rtol/atol 1e-9, integer outputs exactly). Also times each function over a large panel with the
data on the device (the first call, which compiles, is reported apart).

    python3 bench/device/indicators/gpu_talib_vs_cpu.py --out talib_gpu_vs_cpu.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from kernels.data import synthetic_panel  # noqa: E402
from kernels.indicators import talib as ta  # noqa: E402
from kernels.indicators.talib.gpu import GPU_FUNCTIONS  # noqa: E402
from kernels.indicators.talib.table import FUNCTIONS  # noqa: E402
from tests.kernels.indicators.talib.oracle import inputs_for as inputs, varied_params as varied  # noqa: E402 - no TA-Lib needed


def data(n_bars: int, n_assets: int, seed: int) -> dict[str, np.ndarray]:
    p = synthetic_panel(n_assets=n_assets, n_bars=n_bars, seed=seed)
    d = {f: np.ascontiguousarray(getattr(p, f), dtype=np.float64) for f in ("open", "high", "low", "close", "volume")}
    for v in d.values():
        v[:41, 1 % n_assets] = np.nan  # a late-starting column
    return d


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=600)
    ap.add_argument("--assets", type=int, default=64)
    ap.add_argument("--speed-bars", type=int, default=2520)
    ap.add_argument("--speed-assets", type=int, default=5000)
    ap.add_argument("--out", default="talib_gpu_vs_cpu.json")
    args = ap.parse_args()
    import cupy  # noqa: PLC0415

    small = data(args.bars, args.assets, 0)
    big = data(args.speed_bars, args.speed_assets, 1)
    rows, failures = [], []
    for name in GPU_FUNCTIONS:
        fd = FUNCTIONS[name]
        row: dict = {"name": name, "group": fd.group}
        try:
            for label, params in (("defaults", dict(fd.defaults)), ("varied", varied(fd))):
                arrays = inputs(fd, small)
                want = ta.call(name, arrays, params)
                t0 = time.perf_counter()
                got = ta.call(name, [cupy.asarray(a) for a in arrays], params)
                cupy.cuda.Device().synchronize()
                row.setdefault("first_call_s", time.perf_counter() - t0)
                want = want if isinstance(want, tuple) else (want,)
                got = got if isinstance(got, tuple) else (got,)
                for k, (g, w) in enumerate(zip(got, want)):
                    g = cupy.asnumpy(g)
                    if fd.is_int(fd.outputs[k]):
                        ok = np.array_equal(g, w)
                    else:
                        ok = np.allclose(g, w, rtol=1e-9, atol=1e-9, equal_nan=True)
                    if not ok:
                        diff = np.abs(np.asarray(g, float) - np.asarray(w, float))
                        failures.append(f"{name} {fd.outputs[k]} {label}: max diff {np.nanmax(diff):.3g}, "
                                        f"NaN {int(np.isnan(np.asarray(g, float)).sum())} vs {int(np.isnan(np.asarray(w, float)).sum())}")
                        row["ok"] = False
            row.setdefault("ok", True)
            arrays = inputs(fd, big)
            dev = [cupy.asarray(a) for a in arrays]
            ta.call(name, dev, dict(fd.defaults))
            cupy.cuda.Device().synchronize()
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                ta.call(name, dev, dict(fd.defaults))
                cupy.cuda.Device().synchronize()
                times.append(time.perf_counter() - t0)
            row["gpu_ms"] = 1e3 * min(times)
            t0 = time.perf_counter()
            ta.call(name, [np.ascontiguousarray(a[:, :100]) for a in arrays], dict(fd.defaults))
            row["cpu_ms_100_columns"] = 1e3 * (time.perf_counter() - t0)
        except Exception as exc:  # record and go on: one broken kernel must not hide the others
            row["ok"] = False
            row["error"] = f"{type(exc).__name__}: {exc}"[:500]
            failures.append(f"{name}: {row['error']}")
            traceback.print_exc()
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary = {"command": "python3 " + " ".join(sys.argv), "device": cupy.cuda.runtime.getDeviceProperties(0)["name"].decode(),
               "functions": len(rows), "ok": sum(bool(r.get("ok")) for r in rows), "failures": failures, "rows": rows}
    Path(args.out).write_text(json.dumps(summary, indent=1))
    print(f"GPU vs CPU: {summary['ok']} of {summary['functions']} functions equal; failures: {len(failures)}")
    for f in failures[:40]:
        print("  ", f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
