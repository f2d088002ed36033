#!/usr/bin/env bash
# One device call (<= 600 s) for issue 14's GPU target: the GPU cases of tests/kernels/indicators (every
# TA-Lib function on the GPU against TA-Lib, degenerate data, NaN policies, the scans against their host
# build), then every GPU path of every function timed side by side with the public call and the gap
# check (bench_gpu_paths.py: which route is fastest, what the public call adds, each ratio to TA-Lib).
# carry [".whl-k"] (ta-lib, hypothesis); results in $OUT (device tool) or ./gpu-out
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"; TAG=${TAG:-gpu}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/k .whl-k/*.whl || exit 1
export PYTHONPATH=/tmp/k:$PWD PYTHONUNBUFFERED=1
{ nvidia-smi -L; nproc; python3 -c "import cupy, numba, talib; print('cupy', cupy.__version__, 'numba', numba.__version__, 'talib', talib.__version__)"; } > "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"
step() { local name=$1 t=$2; shift 2; local s=$SECONDS; timeout "$t" "$@" > "$OUT/$name.txt" 2>&1; echo "== $name rc=$? $((SECONDS-s))s"; }
step indicators_gpu_pytest_${TAG} ${T_TESTS:-240} python3 -m pytest tests/kernels/indicators -k gpu -q -p no:cacheprovider -rf --maxfail=40
grep -E "passed|failed|^FAILED|^ERROR" "$OUT/indicators_gpu_pytest_${TAG}.txt" | tail -25 | cut -c1-300
step talib_gpu_paths_${TAG} ${T_PATHS:-320} python3 bench/kernels/indicators/bench_gpu_paths.py --bars 2520 --assets 5000 \
  --functions "${FUNCS:-all}" --talib-columns 300 --repeat 5 --out "$OUT/talib_gpu_paths_${TAG}.json"
tail -1 "$OUT/talib_gpu_paths_${TAG}.txt" | cut -c1-1500
echo "total ${SECONDS}s"
