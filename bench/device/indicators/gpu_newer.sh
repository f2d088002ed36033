#!/usr/bin/env bash
# GPU-machine check of kernels/indicators/talib/cuda/newer.cu (the 24 functions of cpu/newer.py:
# AO AC QSTICK DPO ER IMI VHF VORTEX WAD COPPOCK TSI ERI FOSC HA ACCBANDS KC PERCENTRANK KDJ CMOU
# FRACTAL SUPERTREND SMI RVI BETA), in one device call:
#   1. tests/kernels/indicators/talib/test_api_backends.py::test_gpu_matches_talib for those 24 names (CuPy, the
#      NVRTC build of newer.cu, against TA-Lib on panel data with a late-starting column, default and
#      varied parameters);
#   2. the NVRTC build against the g++ host build of the same source (what CI checks against TA-Lib)
#      on realistic and on tick-grid data with flat stretches and zero prices: the bits should be the
#      same (both compiled without contracted multiply-adds, fma() where TA-Lib fuses); prints the largest
#      difference per function, and how many GPU outputs are TA-Lib's bits exactly on the panel data;
#   3. bench/kernels/indicators/bench_talib.py over 2520 x 5000 with the data on the device, the 24 functions at default
#      parameters: GPU time and ratio to TA-Lib single-thread (target >= 100 x).
# Needs TA-Lib and Hypothesis from .whl-k/ (carry [".whl-k"]). Results in $OUT (device tool) or ./gpu-out.
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/k .whl-k/*.whl || exit 1
export PYTHONPATH=/tmp/k:$PWD PYTHONUNBUFFERED=1
NAMES="AO AC QSTICK DPO ER IMI VHF VORTEX WAD COPPOCK TSI ERI FOSC HA ACCBANDS KC PERCENTRANK KDJ CMOU FRACTAL SUPERTREND SMI RVI BETA"
{ nvidia-smi -L; git log --oneline -1 2>/dev/null; which g++ nvcc 2>&1;
  python3 -c "import cupy, numba, talib; print('cupy', cupy.__version__, 'numba', numba.__version__, 'talib', talib.__version__)"; } > "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"

# 1. the GPU rows of the API test
ids=""; for n in $NAMES; do ids="$ids tests/kernels/indicators/talib/test_api_backends.py::test_gpu_matches_talib[$n]"; done
timeout 300 python3 -m pytest $ids -q -p no:cacheprovider -rf 2>&1 | tail -40 > "$OUT/newer_gpu_pytest.txt"
echo "test_gpu_matches_talib (24 names): $(tail -1 "$OUT/newer_gpu_pytest.txt")"
grep -E "^(FAILED|ERROR)" "$OUT/newer_gpu_pytest.txt" | head -20

# 2. NVRTC build == g++ host build, bit for bit
timeout 200 python3 - > "$OUT/newer_gpu_vs_host.txt" 2>&1 <<'EOF'
import json
import numpy as np
import cupy
from kernels.indicators.talib import gpu_columns
from kernels.indicators.talib.table import FUNCTIONS
from tests.kernels.indicators.talib.cuda import cuda_host
from tests.kernels.indicators.talib.oracle import inputs_for, panel_data, reference, varied_params

def grid_data(n=1500, m=64, seed=11):
    """Prices on a 0.25 tick grid, runs of unchanged bars, flat (o = h = l = c) stretches and zeros."""
    rng = np.random.default_rng(seed)
    c = np.abs(5 + np.cumsum(rng.choice([-1.0, 0.0, 0.0, 0.0, 1.0], (n, m)), axis=0) * 0.25) + 0.25
    o = np.where(rng.random((n, m)) < 0.5, c, np.roll(c, 1, axis=0))
    h = np.maximum(o, c) + rng.choice([0.0, 0.0, 0.25], (n, m))
    lo = np.maximum(np.minimum(o, c) - rng.choice([0.0, 0.0, 0.25], (n, m)), 0.0)
    flat = rng.random((n, m)) < 0.02
    for _ in range(30):
        flat |= np.roll(flat, 1, axis=0) & (rng.random((n, m)) < 0.9)
    for a in (o, h, lo):
        a[flat] = c[flat]
    z = rng.random((n, m)) < 0.01
    for a in (o, h, lo, c):
        a[z] = 0.0
    return {"open": o, "high": h, "low": lo, "close": c, "volume": np.round(rng.uniform(1e3, 1e5, (n, m)))}

names = [n for n in gpu_columns.functions() if gpu_columns.registry()[n][0].group == "newer"]
datasets = {"panel": panel_data(n_bars=2520, n_assets=64), "grid": grid_data()}
for d in datasets.values():
    for v in d.values():
        v[:37, 1] = np.nan  # a late-starting column
worst = {}
talib_bits = {}  # on the panel data: GPU outputs bit-identical to TA-Lib's / all
for name in names:
    fd = FUNCTIONS[name]
    w = 0.0
    same = total = 0
    for label, data in datasets.items():
        arrays = inputs_for(fd, data)
        for params in (fd.defaults, varied_params(fd)):
            host = cuda_host.run(name, arrays, params, len(fd.outputs))
            dev = gpu_columns.run(name, [cupy.asarray(a) for a in arrays], params, len(fd.outputs))
            want = reference(fd, arrays, params) if label == "panel" else None
            for k, (h, g) in enumerate(zip(host, dev)):
                g = cupy.asnumpy(g)
                same_nan = bool(np.array_equal(np.isnan(h), np.isnan(g)))
                diff = float(np.nanmax(np.abs(h - g))) if np.isfinite(h).any() else 0.0
                w = max(w, diff if same_nan else float("inf"))
                if want is not None:
                    gi = np.where(np.isnan(g), 0, g).astype(np.int32) if fd.is_int(fd.outputs[k]) else g
                    ok = (gi == want[k]) | (np.isnan(np.asarray(want[k], dtype=float)) & np.isnan(g))
                    same += int(ok.sum())
                    total += ok.size
    worst[name] = w
    talib_bits[name] = f"{same}/{total}"
    print(f"{name:12s} max |gpu - host| = {w:.3g}   bit-identical to TA-Lib (panel): {same}/{total}")
print(json.dumps({"identical": sorted(n for n, v in worst.items() if v == 0.0),
                  "different": {n: v for n, v in worst.items() if v != 0.0},
                  "not_bit_identical_to_talib": {n: v for n, v in talib_bits.items() if v.split("/")[0] != v.split("/")[1]}}))
EOF
echo "NVRTC vs g++ host build: $(tail -1 "$OUT/newer_gpu_vs_host.txt")"

# 3. the benchmark (TA-Lib timed on 1000 columns, scaled to 5000)
timeout 400 python3 bench/kernels/indicators/bench_talib.py --bars 2520 --assets 5000 --backend gpu --functions "${NAMES// /,}" \
    --repeat 5 --talib-columns 1000 --out "$OUT/talib_newer_gpu.json" > "$OUT/talib_newer_gpu_log.txt" 2>&1
echo "bench rc=$?"
python3 - <<'EOF'
import json, os
p = os.path.join(os.environ.get("OUT", "./gpu-out"), "talib_newer_gpu.json")
try:
    d = json.load(open(p))
except Exception as e:  # noqa: BLE001
    print("no bench results:", e)
    raise SystemExit(0)
print(f"{'function':12s} {'talib ms':>9s} {'gpu ms':>8s} {'x':>7s}")
for r in d["rows"]:
    if "gpu_s" in r:
        print(f"{r['function']:12s} {r['talib_s'] * 1e3:9.1f} {r['gpu_s'] * 1e3:8.3f} {r['gpu_x']:7.1f}")
print("min x:", d.get("gpu_min_x"))
EOF
