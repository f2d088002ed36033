#!/usr/bin/env bash
# One device call (<= 600 s): the GPU forms of the 61 candlestick patterns (kernels/indicators/talib/cuda/pattern.cu).
#  1. tests/kernels/indicators/talib/test_api_backends.py, GPU cases of the patterns (every CDL* through CuPy against TA-Lib,
#     a late-starting column, default and varied penetration) and the refusal test;
#  2. tests/kernels/indicators/talib/cuda/test_cuda_columns.py for the patterns (host build with g++, nvcc -ptx) where those exist;
#  3. bench/kernels/indicators/bench_talib_patterns.py over 2520 x 5000, data on the device: TA-Lib single-thread vs the production
#     path and the kernel at launch variants U:BLOCK (RQ_PAT_U bars per register batch, threads per block), NVRTC
#     compile seconds per U, each variant checked equal to TA-Lib on 200 columns. Target: each >= 100 x TA-Lib.
#   carry [".whl-k"] (ta-lib, hypothesis); results in $OUT (device tool) or ./gpu-out
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/k .whl-k/*.whl || exit 1
export PYTHONPATH=/tmp/k:$PWD PYTHONUNBUFFERED=1
{ nvidia-smi -L; git log --oneline -1 2>/dev/null; nproc; python3 -c "import cupy, numba, talib; print('cupy', cupy.__version__, 'numba', numba.__version__, 'talib', talib.__version__)"; } > "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"
step() { local name=$1 t=$2; shift 2; local s=$SECONDS; timeout "$t" "$@" > "$OUT/$name.txt" 2>&1; echo "== $name rc=$? $((SECONDS-s))s"; }
step patterns_gpu_pytest ${T_TESTS:-200} python3 -m pytest tests/kernels/indicators/talib/test_api_backends.py -q -p no:cacheprovider -rfs -k "CDL or refuses"
tail -15 "$OUT/patterns_gpu_pytest.txt" | grep -E "passed|failed|^FAILED|^ERROR|SKIPPED" | cut -c1-240
step patterns_host_pytest ${T_HOST:-120} python3 -m pytest tests/kernels/indicators/talib/cuda/test_cuda_columns.py -q -p no:cacheprovider -rf -k "CDL or pattern"
tail -5 "$OUT/patterns_host_pytest.txt" | grep -E "passed|failed|skipped|^FAILED|^ERROR" | cut -c1-240
step patterns_bench ${T_BENCH:-260} python3 bench/kernels/indicators/bench_talib_patterns.py --bars 2520 --assets 5000 --repeat 5 \
    --talib-columns 500 --variants 8:128,4:128,8:32,1:128 --out "$OUT/talib_patterns_h100.json"
grep -E "^compiled" "$OUT/patterns_bench.txt"
tail -1 "$OUT/patterns_bench.txt" | cut -c1-1500
echo "total ${SECONDS}s"
