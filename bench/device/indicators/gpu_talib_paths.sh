#!/usr/bin/env bash
# One device call (<= 600 s) for issues 14 and 13: the GPU tests first (they compile every CUDA module, after
# which the paths bench times all 201 functions in ~35 s; before them it managed 4 in 70 s), then:
# - issue 14: every GPU path of every TA-Lib function timed side by side with the public call and the gap
#   check, each path's values compared with one thread per column (bench_gpu_paths.py: which route is
#   fastest and agrees, what the public call adds, each ratio to TA-Lib);
# - issue 13: the wide from_signals on the GPU (signal bitmaps; its phases), and from_signals
#   1e6 x 8 on the host's cores (signal bitmaps) with all 16 Numba threads, vectorbt beside it (from
#   .whl-bench when carried) (CPU8=1: and with 8); the stop/size orders sweep at the size
#   (2520 x 500 x 10,000 combinations) and where its time goes (profile_orders_sweep.py --backend gpu);
# (the GPU cases of tests/kernels/indicators, the scans and NaN policies first, and test_from_signals run
#   one line a test (-v), so that a run cut by its limit T_TESTS still says what passed and failed)
# carry [".whl-k"] (ta-lib, hypothesis) and [".whl-bench"] (vectorbt and what it imports that the machine
# lacks); results in $OUT (device tool) or ./gpu-out
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"; TAG=${TAG:-gpu}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/k .whl-k/*.whl || exit 1
PEER=""
if ls .whl-bench/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/peers .whl-bench/*.whl && PEER="--peer"
fi
export PYTHONPATH=/tmp/k:$PWD:/tmp/peers PYTHONUNBUFFERED=1
{ nvidia-smi -L; nproc; python3 -c "import cupy, numba, talib; print('cupy', cupy.__version__, 'numba', numba.__version__, 'talib', talib.__version__)"; } > "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"
step() {  # a limit of 0 s (or less) skips the step: T_PATHS=0 etc. fit the call into what is left
  local name=$1 t=$2; shift 2; local s=$SECONDS
  if [ "$t" -le 0 ]; then echo "== $name skipped"; return; fi
  timeout "$t" "$@" > "$OUT/$name.txt" 2>&1; echo "== $name rc=$? $((SECONDS-s))s"
}
step indicators_gpu_pytest_${TAG} ${T_TESTS:-230} python3 -m pytest tests/kernels/indicators/talib/cuda/test_scan.py \
  tests/kernels/indicators/talib/test_nan_policy_talib.py tests/kernels/indicators/test_nan_policy.py \
  tests/kernels/backtest/test_from_signals.py tests/kernels/indicators \
  -k gpu -v -p no:cacheprovider -rf --maxfail=40
grep -cE " PASSED" "$OUT/indicators_gpu_pytest_${TAG}.txt"; grep -E " FAILED|^FAILED|^ERROR|passed|failed" "$OUT/indicators_gpu_pytest_${TAG}.txt" | tail -25 | cut -c1-300
step talib_gpu_paths_${TAG} ${T_PATHS:-90} python3 bench/kernels/indicators/bench_gpu_paths.py --bars 2520 --assets 5000 \
  --functions "${FUNCS:-all}" --talib-columns 300 --repeat 5 --out "$OUT/talib_gpu_paths_${TAG}.json"
tail -1 "$OUT/talib_gpu_paths_${TAG}.txt" | cut -c1-1500
step from_signals_wide_${TAG} ${T_B:-50} python3 bench/kernels/backtest/bench_from_signals.py --mode wide --bars 2520 --cols 100000 \
  --orders 100 --backend gpu --out "$OUT/from_signals_wide_${TAG}.json"
grep -o "'kernel_device': {[^}]*}" "$OUT/from_signals_wide_${TAG}.txt" | cut -c1-300
for th in 16 ${CPU8:+8}; do
  peer=""; [ "$th" = 16 ] && peer=$PEER
  step from_signals_cpu_threads${th}_${TAG} ${T_CPU:-70} env NUMBA_NUM_THREADS=$th python3 bench/kernels/backtest/bench_from_signals.py \
    --mode signals --bars 1000000 --cols 8 --orders 1400 --backend cpu --repeat 9 $peer --out "$OUT/from_signals_cpu_threads${th}_${TAG}.json"
  grep -o "'kernel': {[^}]*}\|speedup[^,]*" "$OUT/from_signals_cpu_threads${th}_${TAG}.txt" | cut -c1-300
done
step orders_sweep_${TAG} ${T_SWEEP:-90} python3 bench/kernels/backtest/bench_from_signals.py --mode sweep --bars 2520 --assets 500 \
  --ma-pairs 100 --sl 10 --tp 10 --backend gpu --repeat 3 --out "$OUT/orders_sweep_${TAG}.json"
grep -o "'sweep': {[^}]*}" "$OUT/orders_sweep_${TAG}.txt" | cut -c1-300
step orders_sweep_profile_${TAG} ${T_PROF:-40} python3 bench/kernels/backtest/profile_orders_sweep.py --backend gpu
head -30 "$OUT/orders_sweep_profile_${TAG}.txt" | cut -c1-160
echo "total ${SECONDS}s"
