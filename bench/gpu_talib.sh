#!/usr/bin/env bash
# GPU-machine check of the TA-Lib function set (kernels/indicators/talib): the talib tests
# (GPU cases included: every GPU function against TA-Lib, CPU rows again), then
# bench/bench_talib.py over 2520 x 5000 with the data on the device (target: each GPU
# function >= 100 x TA-Lib single-thread) and the CPU top 30 per core. Results in $OUT.
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
nvidia-smi -L | tee "$OUT/device.txt"
python3 -c "import talib, cupy, numba; print('talib', talib.__version__, 'cupy', cupy.__version__, 'numba', numba.__version__)" | tee "$OUT/versions.txt"
python3 -m pytest tests/kernels/talib -q -p no:cacheprovider 2>&1 | tee "$OUT/talib_pytest.txt" | tail -6
python3 bench/bench_talib.py --bars 2520 --assets 5000 --backend gpu,cpu --functions all --repeat 3 \
    --out "$OUT/talib_h100.json" > "$OUT/talib_bench_log.txt" 2>&1; echo "bench rc=$?"
tail -3 "$OUT/talib_bench_log.txt"
