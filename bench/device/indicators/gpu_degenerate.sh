#!/usr/bin/env bash
# GPU-machine check of issue 14's "exact to 1e-9 against TA-Lib" on degenerate data and at the
# parameter bounds, in one device call:
#   1. tests/kernels/indicators/talib/test_cpu_degenerate.py: every function on tick-grid data with flat
#      stretches, zero prices and closes 1e-9 off the grid (late-starting column), default and lowest
#      periods: the CPU backend (all 201), the g++ host build of the CUDA column kernels, and the GPU
#      backend through CuPy (test_gpu_matches_talib_on_degenerate_data, all 201);
#   2. tests/kernels/indicators/talib/test_parameter_bounds.py: the same three at the lowest periods and every
#      matype (test_gpu_matches_talib_at_the_parameter_bounds: PLUS_DI / MINUS_DI(1), NATR(1),
#      MA(1) for every matype, KAMA(1), DPO(2), ... on the GPU);
#   3. tests/kernels/indicators/talib/cuda/test_cuda_newer.py and test_cuda_columns.py (host builds, nvcc compile).
# Needs TA-Lib and Hypothesis from .whl-k/ (carry [".whl-k"]). Results in $OUT (device tool) or ./gpu-out.
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/k .whl-k/*.whl || exit 1
export PYTHONPATH=/tmp/k:$PWD PYTHONUNBUFFERED=1
{ nvidia-smi -L; git log --oneline -1 2>/dev/null; which g++ nvcc 2>&1;
  python3 -c "import cupy, numba, talib; print('cupy', cupy.__version__, 'numba', numba.__version__, 'talib', talib.__version__)"; } > "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"
for p in test_cpu_degenerate test_parameter_bounds cuda/test_cuda_newer cuda/test_cuda_columns; do
    f=${p#cuda/}
    timeout 420 python3 -m pytest "tests/kernels/indicators/talib/$p.py" -q -p no:cacheprovider -rfs --durations=5 2>&1 \
        | tail -60 > "$OUT/$f.txt"
    echo "$f: $(grep -E '(passed|failed|error)' "$OUT/$f.txt" | tail -1)"
    grep -E "^(FAILED|ERROR)" "$OUT/$f.txt" | head -20
done
python3 -m pytest tests/kernels/indicators/talib/test_cpu_degenerate.py tests/kernels/indicators/talib/test_parameter_bounds.py -q \
    -p no:cacheprovider -m gpu --co 2>&1 | tail -1 | sed 's/^/GPU tests collected: /'
