#!/usr/bin/env bash
# One device call (<= 600 s) for issue 14's GPU target: the GPU cases of tests/kernels/indicators (every
# TA-Lib function on the GPU against TA-Lib, degenerate data, NaN policies, the scans against their host
# build), then every GPU path of every function timed side by side with the public call and the gap
# check (bench_gpu_paths.py: which route is fastest, what the public call adds, each ratio to TA-Lib);
# issue 13: the wide from_signals on the GPU (signals read 8 bars at a time since this session), and
# last, its from_signals 1e6 x 8 on the host's cores with all 16 Numba threads and with 8 (one
# a column), to see why that host ran a column 4 x slower than a 2-core machine.
# carry [".whl-k"] (ta-lib, hypothesis); results in $OUT (device tool) or ./gpu-out
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"; TAG=${TAG:-gpu}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/k .whl-k/*.whl || exit 1
export PYTHONPATH=/tmp/k:$PWD PYTHONUNBUFFERED=1
{ nvidia-smi -L; nproc; python3 -c "import cupy, numba, talib; print('cupy', cupy.__version__, 'numba', numba.__version__, 'talib', talib.__version__)"; } > "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"
step() { local name=$1 t=$2; shift 2; local s=$SECONDS; timeout "$t" "$@" > "$OUT/$name.txt" 2>&1; echo "== $name rc=$? $((SECONDS-s))s"; }
step indicators_gpu_pytest_${TAG} ${T_TESTS:-200} python3 -m pytest tests/kernels/indicators \
  tests/kernels/backtest/test_from_signals.py -k gpu -q -p no:cacheprovider -rf --maxfail=40
grep -E "passed|failed|^FAILED|^ERROR" "$OUT/indicators_gpu_pytest_${TAG}.txt" | tail -25 | cut -c1-300
step from_signals_wide_${TAG} ${T_B:-50} python3 bench/kernels/backtest/bench_from_signals.py --mode wide --bars 2520 --cols 100000 \
  --orders 100 --backend gpu --out "$OUT/from_signals_wide_${TAG}.json"
grep -o "'kernel_device': {[^}]*}" "$OUT/from_signals_wide_${TAG}.txt" | cut -c1-300
step talib_gpu_paths_${TAG} ${T_PATHS:-220} python3 bench/kernels/indicators/bench_gpu_paths.py --bars 2520 --assets 5000 \
  --functions "${FUNCS:-all}" --talib-columns 300 --repeat 5 --out "$OUT/talib_gpu_paths_${TAG}.json"
tail -1 "$OUT/talib_gpu_paths_${TAG}.txt" | cut -c1-1500
for th in 16 8; do
  step from_signals_cpu_threads${th}_${TAG} ${T_CPU:-40} env NUMBA_NUM_THREADS=$th python3 bench/kernels/backtest/bench_from_signals.py \
    --mode signals --bars 1000000 --cols 8 --orders 1400 --backend cpu --repeat 9 --out "$OUT/from_signals_cpu_threads${th}_${TAG}.json"
  grep -o "'kernel': {[^}]*}" "$OUT/from_signals_cpu_threads${th}_${TAG}.txt" | cut -c1-300
done
echo "total ${SECONDS}s"
