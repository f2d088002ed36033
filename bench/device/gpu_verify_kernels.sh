#!/usr/bin/env bash
# One device call: the GPU cases of every kernels/ and gpu_hal/ test (no Ray needed), with TA-Lib and
# Hypothesis from .whl-k/ (ta-lib, hypothesis, sortedcontainers, attrs wheels for Python 3.12).
#   carry [".whl-k"]; results in $OUT (device tool) or ./gpu-out
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/k .whl-k/*.whl || exit 1
export PYTHONPATH=/tmp/k:$PWD PYTHONUNBUFFERED=1
{ nvidia-smi -L; git log --oneline -1 2>/dev/null; python3 -c "import cupy, numba, talib; print('cupy', cupy.__version__, 'numba', numba.__version__, 'talib', talib.__version__)"; } > "$OUT/device.txt" 2>&1
timeout ${T_HAL:-150} python3 -m pytest tests/gpu_hal -q -p no:cacheprovider -rs 2>&1 | tail -30 > "$OUT/gpu_hal_pytest.txt"
echo "gpu_hal: $(tail -1 "$OUT/gpu_hal_pytest.txt")"
timeout ${T_KERNELS:-380} python3 -m pytest tests/kernels -k gpu -q -p no:cacheprovider -rf --timeout 300 2>&1 | tail -80 > "$OUT/kernels_gpu_pytest.txt"
echo "kernels (GPU cases): $(tail -1 "$OUT/kernels_gpu_pytest.txt")"
grep -E "^(FAILED|ERROR)" "$OUT/kernels_gpu_pytest.txt" | head -20
