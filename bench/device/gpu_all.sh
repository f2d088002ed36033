#!/usr/bin/env bash
# GPU-machine verification of kernels/ and gpu_hal/: every test (GPU cases included),
# then the kernel benchmarks against their peers (TA-Lib, vectorbt from .whl-bench/).
# Results land in $OUT (device tool) or ./gpu-out. Ray is not needed here; the
# actors layer has its own script (bench/device/service/gpu_actors.sh).
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/peers .whl-bench/*.whl || exit 1
export PYTHONPATH=$PWD:/tmp/peers PYTHONUNBUFFERED=1
nvidia-smi -L | tee "$OUT/device.txt"
python3 -m pytest tests/kernels tests/gpu_hal -q -p no:cacheprovider 2>&1 | tee "$OUT/kernels_pytest.txt" | tail -4
python3 bench/kernels/backtest/bench_sweep.py --out "$OUT/sweep_h100.json" > "$OUT/sweep_log.txt" 2>&1; echo "sweep rc=$?"
python3 bench/kernels/indicators/bench_indicators.py --no-variants --out "$OUT/indicators_h100.json" > "$OUT/indicators_log.txt" 2>&1; echo "indicators rc=$?"
python3 bench/kernels/backtest/bench_backtest.py --out "$OUT/backtest_h100.json" > "$OUT/backtest_log.txt" 2>&1; echo "backtest rc=$?"
tail -25 "$OUT/sweep_log.txt"; tail -12 "$OUT/indicators_log.txt"; tail -12 "$OUT/backtest_log.txt"
