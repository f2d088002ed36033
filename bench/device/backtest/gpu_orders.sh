#!/usr/bin/env bash
# GPU-machine check of the orders engine (issue 13, parts 1, 2 and 4): the from_signals
# and orders-sweep tests with their GPU cases (GPU order records / sweep rows == CPU),
# then bench/kernels/backtest/bench_from_signals.py at the sizes:
#   - signals, 1,000,000 bars x 8 columns, ~1,400 orders per column, CPU backend on the
#     16 cores, vectorbt 1.2 beside it (bound: >= 2e9 bars/s);
#   - wide, 2520 bars x 100,000 columns, data on the device (bound: >= 5e10 bars/s);
#   - sweep, MA crossover (100 pairs) x 10 sl_stop x 10 tp_stop = 10,000 combinations over
#     500 assets x 2520 bars, float64, every metric (bound: >= 1e11 cells/s on an H100).
# Results land in $OUT (device tool) or ./gpu-out; a short table is printed last.
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
if ls .whl-bench/*.whl >/dev/null 2>&1; then  # peers (vectorbt) as in bench/device/gpu_all.sh
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/peers .whl-bench/*.whl
fi
export PYTHONPATH=$PWD:/tmp/peers PYTHONUNBUFFERED=1
nvidia-smi -L | tee "$OUT/device.txt"
python3 -m pytest tests/kernels/backtest/test_from_signals.py tests/kernels/backtest/test_orders_sweep.py -q -p no:cacheprovider -rs \
  2>&1 | tee "$OUT/orders_pytest.txt" | tail -8
python3 bench/kernels/backtest/bench_from_signals.py --mode signals --bars 1000000 --cols 8 --orders 1400 --backend cpu --peer \
  --out "$OUT/from_signals_cpu16.json" > "$OUT/from_signals_cpu16_log.txt" 2>&1; echo "signals cpu rc=$?"
python3 bench/kernels/backtest/bench_from_signals.py --mode signals --bars 1000000 --cols 8 --orders 1400 --backend gpu \
  --out "$OUT/from_signals_gpu_sparse.json" > "$OUT/from_signals_gpu_sparse_log.txt" 2>&1; echo "signals gpu rc=$?"
python3 bench/kernels/backtest/bench_from_signals.py --mode wide --bars 2520 --cols 100000 --orders 100 --backend gpu \
  --out "$OUT/from_signals_wide_gpu.json" > "$OUT/from_signals_wide_log.txt" 2>&1; echo "wide gpu rc=$?"
python3 bench/kernels/backtest/bench_from_signals.py --mode sweep --bars 2520 --assets 500 --ma-pairs 100 --sl 10 --tp 10 --backend gpu \
  --repeat 3 --out "$OUT/orders_sweep_gpu.json" > "$OUT/orders_sweep_log.txt" 2>&1; echo "sweep gpu rc=$?"
python3 bench/kernels/backtest/bench_from_signals.py --mode sweep --bars 2520 --assets 50 --ma-pairs 10 --sl 5 --tp 5 --backend cpu \
  --repeat 2 --out "$OUT/orders_sweep_cpu16.json" > "$OUT/orders_sweep_cpu_log.txt" 2>&1; echo "sweep cpu rc=$?"
for f in from_signals_cpu16_log from_signals_gpu_sparse_log from_signals_wide_log orders_sweep_log orders_sweep_cpu_log; do
  echo "== $f"; tail -3 "$OUT/$f.txt"
done
