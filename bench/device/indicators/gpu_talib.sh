#!/usr/bin/env bash
# GPU-machine check of the TA-Lib function set (kernels/indicators/talib): the talib tests
# (GPU cases included: every GPU function against TA-Lib, CPU rows again), then
# bench/kernels/indicators/bench_talib.py over 2520 x 5000 with the data on the device (target: each GPU
# function >= 100 x TA-Lib single-thread) and the CPU top 30 per core. Results in $OUT.
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
nvidia-smi -L | tee "$OUT/device.txt"
python3 -c "import talib, cupy, numba; print('talib', talib.__version__, 'cupy', cupy.__version__, 'numba', numba.__version__)" | tee "$OUT/versions.txt"
python3 -m pytest tests/kernels/indicators/talib -q -p no:cacheprovider 2>&1 | tee "$OUT/talib_pytest.txt" | tail -6
# GPU: every function with a GPU form (TA-Lib timed on 1000 columns, scaled to 5000)
timeout 420 python3 bench/kernels/indicators/bench_talib.py --bars 2520 --assets 5000 --backend gpu --functions all --repeat 3 \
    --talib-columns 1000 --out "$OUT/talib_gpu_h100.json" > "$OUT/talib_gpu_log.txt" 2>&1; echo "gpu bench rc=$?"
tail -2 "$OUT/talib_gpu_log.txt"
# CPU: the widely used 30 on this host's cores
timeout 300 python3 bench/kernels/indicators/bench_talib.py --bars 2520 --assets 5000 --backend cpu --functions top30 --repeat 3 \
    --talib-columns 1000 --out "$OUT/talib_cpu_top30.json" > "$OUT/talib_cpu_log.txt" 2>&1; echo "cpu bench rc=$?"
tail -2 "$OUT/talib_cpu_log.txt"
