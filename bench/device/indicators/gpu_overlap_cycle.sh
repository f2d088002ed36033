#!/usr/bin/env bash
# One device call: the CUDA C column kernels of the overlap studies and the cycle family
# (kernels/indicators/talib/cuda/overlap.cu, cycle.cu, ma.cuh, cycle_core.cuh) on the GPU.
#   1. tests/kernels/indicators/talib/cuda/test_cuda_ma.py: every overlap/cycle function through gpu_columns.run
#      against TA-Lib (1e-9) and bit for bit against the g++ host build where g++ is there (not for
#      atan-based outputs); MA / MAVP / BBANDS with every matype 0..13 on the GPU.
#   2. tests/kernels/indicators/talib/test_api_backends.py::test_gpu_matches_talib for those names (the API
#      route: fused kernels first, the column kernels for the parameters they refuse).
#   3. bench/kernels/indicators/bench_cuda_columns.py: each function over 2520 x 5000 with the data on the device vs
#      TA-Lib single-thread (target >= 100 x), at thread blocks of 32 / 64 / 128 columns, and the
#      module compile (NVRTC) time.
#   carry [".whl-k"] (ta-lib, hypothesis wheels for Python 3.12); results in $OUT (device tool) or ./gpu-out
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/k .whl-k/*.whl || exit 1
export PYTHONPATH=/tmp/k:$PWD PYTHONUNBUFFERED=1
{ nvidia-smi -L; git log --oneline -1 2>/dev/null; nproc; which g++ || echo "no g++ (host-build comparisons skip)";
  python3 -c "import cupy, numba, talib; print('cupy', cupy.__version__, 'numba', numba.__version__, 'talib', talib.__version__)"; } > "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"
step() { local name=$1 t=$2; shift 2; local s=$SECONDS; timeout "$t" "$@" > "$OUT/$name.txt" 2>&1; echo "== $name rc=$? $((SECONDS-s))s"; }
step cuda_ma_pytest ${T_TESTS:-240} python3 -m pytest tests/kernels/indicators/talib/cuda/test_cuda_ma.py -q -p no:cacheprovider -rfs
tail -30 "$OUT/cuda_ma_pytest.txt" | grep -E "passed|failed|^FAILED|^ERROR|SKIPPED" | cut -c1-300
IDS=""
for n in SMA EMA WMA DEMA TEMA TRIMA KAMA T3 HMA ZLEMA RMA MA BBANDS MIDPOINT MIDPRICE DONCHIAN MAVP VWMA SAR SAREXT \
         HT_DCPERIOD HT_PHASOR HT_DCPHASE HT_SINE HT_TRENDLINE HT_TRENDMODE MAMA; do
    IDS="$IDS tests/kernels/indicators/talib/test_api_backends.py::test_gpu_matches_talib[$n]"
done
step api_gpu_pytest ${T_TESTS:-240} python3 -m pytest $IDS -q -p no:cacheprovider -rf
tail -30 "$OUT/api_gpu_pytest.txt" | grep -E "passed|failed|^FAILED|^ERROR" | cut -c1-300
step bench_columns ${T_BENCH:-300} python3 bench/kernels/indicators/bench_cuda_columns.py --groups overlap,cycle --bars 2520 --assets 5000 \
    --blocks 32,64,128 --repeat 5 --talib-columns 500 --out "$OUT/cuda_columns_overlap_cycle_h100.json"
python3 - "$OUT/cuda_columns_overlap_cycle_h100.json" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    sys.exit(f"no bench result: {e}")
print(d["device"], d["bars"], "x", d["assets"], "compile_s", {k: round(v, 1) for k, v in d["compile_s"].items()})
print(f"{'function':14s} {'talib ms':>9s} {'b32 x':>8s} {'b64 x':>8s} {'b128 x':>8s} {'api x':>8s}")
for r in d["rows"]:
    print(f"{r['function']:14s} {r['talib_s'] * 1e3:9.1f} " + " ".join(
        f"{r.get(f'columns_x_block{b}', float('nan')):8.0f}" for b in (32, 64, 128)) + f" {r['api_x']:8.0f}")
print("min x (block", d["default_block"], "):", d["min_x_default_block"], " min x (best block):", d["min_x_best_block"])
print("below 100 x at the default block:", d["below_100x_default_block"])
PY
echo "total ${SECONDS}s"
