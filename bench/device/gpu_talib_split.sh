#!/usr/bin/env bash
# One device call (<= 600 s) for issue 14's GPU target after the time-segmented column kernels:
# the GPU cases of tests/kernels/indicators (every TA-Lib function on the GPU against TA-Lib, the
# NaN policies, the fused gap check), then all TA-Lib functions over 2520 x 5000 against TA-Lib
# single-thread; the wide from_signals bench with the orders left on the device (issue 13). carry [".whl-k"] (ta-lib, hypothesis); results in $OUT (device tool) or ./gpu-out
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"; TAG=${TAG:-gpu}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/k .whl-k/*.whl || exit 1
export PYTHONPATH=/tmp/k:$PWD PYTHONUNBUFFERED=1
{ nvidia-smi -L; git log --oneline -1 2>/dev/null; nproc; python3 -c "import cupy, numba, talib; print('cupy', cupy.__version__, 'numba', numba.__version__, 'talib', talib.__version__)"; } > "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"
step() { local name=$1 t=$2; shift 2; local s=$SECONDS; timeout "$t" "$@" > "$OUT/$name.txt" 2>&1; echo "== $name rc=$? $((SECONDS-s))s"; }
step talib_gpu_split_${TAG} ${T_TALIB:-300} python3 bench/kernels/indicators/bench_talib.py --bars 2520 --assets 5000 --backend gpu --functions "${FUNCS:-all}" --repeat 3 --talib-columns 500 --out "$OUT/talib_gpu_split_${TAG}.json"
tail -4 "$OUT/talib_gpu_split_${TAG}.txt" | cut -c1-400
step from_signals_wide_${TAG} ${T_B:-90} python3 bench/kernels/backtest/bench_from_signals.py --mode wide --bars 2520 --cols 100000 --orders 100 --backend gpu --out "$OUT/from_signals_wide_${TAG}_device_records.json"
tail -3 "$OUT/from_signals_wide_${TAG}.txt" | cut -c1-400
step from_signals_cpu16_${TAG} ${T_CPU:-45} python3 bench/kernels/backtest/bench_from_signals.py --mode signals --bars 1000000 --cols 8 --orders 1400 --backend cpu --repeat 5 --out "$OUT/from_signals_cpu16_${TAG}.json"
tail -2 "$OUT/from_signals_cpu16_${TAG}.txt" | cut -c1-400
step indicators_gpu_pytest_${TAG} ${T_TESTS:-200} python3 -m pytest tests/kernels/indicators tests/kernels/backtest/test_from_signals.py -k gpu -q -p no:cacheprovider -rf
tail -30 "$OUT/indicators_gpu_pytest_${TAG}.txt" | grep -E "passed|failed|^FAILED|^ERROR" | cut -c1-300
echo "total ${SECONDS}s"
