"""GPU-machine verification of gpu_hal in one command: the `gpu` tests, then the
benchmark twice (a cold CuPy kernel cache, then the same cache from disk in a new
process). Full outputs go to --out; a short summary is printed last.

    export PYTHONPATH=$PWD PYTHONUNBUFFERED=1; python3 bench/device/gpu_hal/gpu_hal_check.py --out "$OUT"
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def run(cmd: list[str], log: Path, env: dict[str, str], timeout: int) -> tuple[int, float]:
    t0 = time.perf_counter()
    with log.open("w") as f:
        try:
            rc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = 124
    return rc, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--bench-args", default="", help="extra arguments for bench_gpu_hal.py")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    summary: dict[str, object] = {}
    try:
        smi = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=60)
        (out / "nvidia-smi.txt").write_text(smi.stdout + smi.stderr)
    except (OSError, subprocess.TimeoutExpired) as exc:
        (out / "nvidia-smi.txt").write_text(f"nvidia-smi unavailable: {exc}")

    rc, dt = run([sys.executable, "-m", "pytest", "tests/gpu_hal", "-v", "-rs", "-p", "no:cacheprovider"],
                 out / "pytest_gpu_hal.txt", env, 240)
    tail = (out / "pytest_gpu_hal.txt").read_text().strip().splitlines()[-1:]
    summary["pytest"] = {"rc": rc, "seconds": round(dt, 1), "last_line": tail}

    cache = tempfile.mkdtemp(prefix="cupy_cache_")
    for label in ("cold_kernel_cache", "warm_disk_cache"):
        benv = {**env, "CUPY_CACHE_DIR": cache}
        cmd = [sys.executable, "bench/gpu_hal/bench_gpu_hal.py", "--out", str(out / f"bench_{label}.json"),
               *args.bench_args.split()]
        rc, dt = run(cmd, out / f"bench_{label}.txt", benv, 150)
        entry: dict[str, object] = {"rc": rc, "seconds": round(dt, 1), "command": " ".join(cmd[1:]),
                                    "CUPY_CACHE_DIR": "fresh temp dir" if label.startswith("cold") else "same dir"}
        p = out / f"bench_{label}.json"
        if p.exists():
            entry["summary"] = json.loads(p.read_text()).get("summary")
        summary[label] = entry
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
