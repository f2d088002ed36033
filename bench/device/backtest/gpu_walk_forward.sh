#!/usr/bin/env bash
# GPU-machine check of walk-forward and run(engine="orders") (issue 13, parts 3 and 5):
# the tests with their GPU cases (walk-forward CPU == GPU choices and equity; orders run
# CPU == GPU), then bench/kernels/backtest/bench_walk_forward.py at the size (10 folds x 10,000
# combinations x 500 assets x 2520 bars, bound: under 5 s end to end on one H100) and a
# small size with the vectorbt loop beside it. Results land in $OUT (device tool) or ./gpu-out.
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
if ls .whl-bench/*.whl >/dev/null 2>&1; then  # peers (vectorbt) as in bench/device/gpu_all.sh
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/peers .whl-bench/*.whl
fi
export PYTHONPATH=$PWD:/tmp/peers PYTHONUNBUFFERED=1
nvidia-smi -L | tee "$OUT/device.txt"
python3 -m pytest tests/kernels/backtest/test_walk_forward.py tests/kernels/backtest/test_run_orders.py tests/actors/jobs/test_walk_forward_jobs.py \
  -q -p no:cacheprovider -rs 2>&1 | tee "$OUT/walk_forward_pytest.txt" | tail -8
python3 bench/kernels/backtest/bench_walk_forward.py --folds 10 --combos 10000 --assets 500 --bars 2520 --backend gpu --repeat 3 \
  --out "$OUT/walk_forward_h100.json" > "$OUT/walk_forward_log.txt" 2>&1; echo "walk_forward rc=$?"
python3 bench/kernels/backtest/bench_walk_forward.py --folds 10 --combos 10000 --assets 500 --bars 2520 --backend gpu --repeat 3 \
  --warmup 0 --out "$OUT/walk_forward_h100_nowarmup.json" > "$OUT/walk_forward_nowarmup_log.txt" 2>&1; echo "nowarmup rc=$?"
python3 bench/kernels/backtest/bench_walk_forward.py --folds 4 --combos 64 --assets 50 --bars 1000 --backend gpu --repeat 3 --peer \
  --out "$OUT/walk_forward_small_h100.json" > "$OUT/walk_forward_small_log.txt" 2>&1; echo "small rc=$?"
tail -1 "$OUT/walk_forward_log.txt"; tail -1 "$OUT/walk_forward_nowarmup_log.txt"; tail -1 "$OUT/walk_forward_small_log.txt"
