#!/usr/bin/env bash
# One device call: the CUDA C column kernels of kernels/indicators/talib/cuda/momentum.cu, volume.cu and
# statistic.cu (64 TA-Lib functions) on the GPU.
#   1. test_api_backends.py::test_gpu_matches_talib for those 64 names (the public GPU path vs TA-Lib;
#      functions with a fused / composed kernel take that path, other parameter values the column kernels);
#   2. bench/kernels/indicators/bench_talib_columns.py --check: gpu_columns.run itself vs TA-Lib (1e-9; default, varied and
#      every TA-Lib matype) and vs the Numba CPU backend (bit-identical expected), then the timings over
#      2520 x 5000 on the device, column kernel and public path, next to TA-Lib single-thread (target >= 100 x),
#      and the column kernels again at 32 and 64 threads per block (gpu_columns.BLOCK is 128: 40 blocks for
#      5000 columns leave most of an H100's 132 SMs idle).
# TA-Lib and Hypothesis come from .whl-k/ (see bench/device/gpu_verify_kernels.sh).
#   carry [".whl-k"]; results in $OUT (device tool) or ./gpu-out
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/k .whl-k/*.whl || exit 1
export PYTHONPATH=/tmp/k:$PWD PYTHONUNBUFFERED=1
{ nvidia-smi -L; git log --oneline -1 2>/dev/null; python3 -c "import cupy, numba, talib; print('cupy', cupy.__version__, 'numba', numba.__version__, 'talib', talib.__version__)"; } > "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"
GROUPS_=momentum,volume,statistic
IDS=$(python3 -c "
from kernels.indicators.talib import gpu_columns
g = set('$GROUPS_'.split(','))
print(' '.join(f'tests/kernels/indicators/talib/test_api_backends.py::test_gpu_matches_talib[{n}]'
               for n, (s, _) in sorted(gpu_columns.registry().items()) if s.group in g))")
echo "$IDS" | wc -w | xargs echo "public-path GPU tests:"
timeout ${T_TESTS:-120} python3 -m pytest $IDS -q -p no:cacheprovider -rf 2>&1 | tail -40 > "$OUT/gpu_matches_talib_pytest.txt"
echo "test_gpu_matches_talib (momentum, volume, statistic): $(tail -1 "$OUT/gpu_matches_talib_pytest.txt")"
grep -E "^(FAILED|ERROR)" "$OUT/gpu_matches_talib_pytest.txt" | head -20
# the check (compiles the Numba CPU modules on first use) and the timings run apart, each with its own limit
timeout ${T_CHECK:-220} python3 bench/kernels/indicators/bench_talib_columns.py --groups $GROUPS_ --check --no-bench \
    --out "$OUT/talib_columns_mvs_check.json" > "$OUT/talib_columns_mvs_check_log.txt" 2>&1
echo "check rc=$?"; grep -E "^(device|check)" "$OUT/talib_columns_mvs_check_log.txt"
timeout ${T_BENCH:-240} python3 bench/kernels/indicators/bench_talib_columns.py --groups $GROUPS_ --bars 2520 --assets 5000 \
    --talib-columns 1000 --repeat 5 --blocks 32,64 --out "$OUT/talib_columns_mvs.json" > "$OUT/talib_columns_mvs_log.txt" 2>&1
echo "bench rc=$?"
grep -E "^(device|block)" "$OUT/talib_columns_mvs_log.txt"
sed -n '/^function /,$p' "$OUT/talib_columns_mvs_log.txt"
