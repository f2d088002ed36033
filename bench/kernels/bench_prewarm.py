"""Cold kernel compilation (empty CuPy cache): sequential vs. per-kernel modules
compiled in parallel threads. Each variant runs in a fresh process with its own
empty CUPY_CACHE_DIR.

    python bench/kernels/bench_prewarm.py --out bench/results/prewarm_h100.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

VARIANT = r"""
import os, sys, time, json
from concurrent.futures import ThreadPoolExecutor
sys.path.insert(0, os.getcwd())
mode, threads = sys.argv[1], int(sys.argv[2])
import cupy
cupy.zeros(1).sum()  # CUDA context outside the timing
from kernels import prewarm
from kernels.indicators import gpu as ind_gpu
if mode == "per_kernel":
    ind_gpu._single_module = lambda ctype, unroll=ind_gpu.SINGLE_UNROLL: None
    ind_gpu._function = lambda name, ctype, unroll, single: ind_gpu._module((name,)).get_function(name)
warmups = prewarm.gpu_warmups()
t0 = time.perf_counter()
if threads <= 1:
    for fn in warmups.values():
        fn()
else:
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda fn: fn(), warmups.values()))
cupy.cuda.Device().synchronize()
print(json.dumps({"mode": mode, "threads": threads, "kernels": len(warmups), "seconds": time.perf_counter() - t0}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    results = []
    for mode, threads in (("as_is", 1), ("as_is", 16), ("per_kernel", 1), ("per_kernel", 16)):
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "CUPY_CACHE_DIR": cache}
            proc = subprocess.run([sys.executable, "-c", VARIANT, mode, str(threads)], env=env,
                                  capture_output=True, text=True, timeout=300)
            line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-2000:]
            print(line, flush=True)
            try:
                results.append(json.loads(line))
            except json.JSONDecodeError:
                results.append({"mode": mode, "threads": threads, "error": line})
    with open(args.out, "w") as fh:
        json.dump({"command": " ".join(sys.argv), "results": results}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
