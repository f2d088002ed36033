#!/usr/bin/env bash
# One device call (<= 600 s): the GPU cases of the kernels/ and gpu_hal/ tests, then the GPU
# benchmarks of issues 13 and 14 (from_signals wide, orders sweep, walk-forward, TA-Lib GPU forms).
# Every step has its own timeout so that one slow step cannot eat the others' time.
#   carry [".whl-k"] (ta-lib, hypothesis); results in $OUT (device tool) or ./gpu-out
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/k .whl-k/*.whl || exit 1
export PYTHONPATH=/tmp/k:$PWD PYTHONUNBUFFERED=1
{ nvidia-smi -L; git log --oneline -1 2>/dev/null; nproc; python3 -c "import cupy, numba, talib; print('cupy', cupy.__version__, 'numba', numba.__version__, 'talib', talib.__version__)"; } > "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"
step() { local name=$1 t=$2; shift 2; local s=$SECONDS; timeout "$t" "$@" > "$OUT/$name.txt" 2>&1; echo "== $name rc=$? $((SECONDS-s))s"; }
step gpu_hal_pytest ${T_HAL:-70} python3 -m pytest tests/gpu_hal -q -p no:cacheprovider -x -rf
tail -3 "$OUT/gpu_hal_pytest.txt"
step kernels_gpu_pytest ${T_KERNELS:-230} python3 -m pytest tests/kernels -k gpu -q -p no:cacheprovider -rf
tail -25 "$OUT/kernels_gpu_pytest.txt" | grep -E "passed|failed|^FAILED|^ERROR" | cut -c1-240
step from_signals_wide ${T_B:-60} python3 bench/kernels/backtest/bench_from_signals.py --mode wide --bars 2520 --cols 100000 --orders 100 --backend gpu --out "$OUT/from_signals_wide_gpu.json"
tail -3 "$OUT/from_signals_wide.txt" | cut -c1-300
step orders_sweep ${T_B:-60} python3 bench/kernels/backtest/bench_from_signals.py --mode sweep --bars 2520 --assets 500 --ma-pairs 100 --sl 10 --tp 10 --backend gpu --repeat 3 --out "$OUT/orders_sweep_gpu.json"
tail -3 "$OUT/orders_sweep.txt" | cut -c1-300
step walk_forward ${T_B:-60} python3 bench/kernels/backtest/bench_walk_forward.py --folds 10 --combos 10000 --assets 500 --bars 2520 --backend gpu --repeat 3 --out "$OUT/walk_forward_h100.json"
tail -3 "$OUT/walk_forward.txt" | cut -c1-300
step talib_gpu ${T_TALIB:-100} python3 bench/kernels/indicators/bench_talib.py --bars 2520 --assets 5000 --backend gpu --functions all --repeat 3 --talib-columns 500 --out "$OUT/talib_gpu_h100.json"
tail -4 "$OUT/talib_gpu.txt" | cut -c1-300
echo "total ${SECONDS}s"
