#!/usr/bin/env bash
# One device call for issue 13's cash sharing in sweeps (part 4) and the one-pass walk-forward (part 5):
#   1. GPU tests: orders-sweep group rows == CPU (cash sharing: orders_sweep_shared; group_by: per-group rows),
#      walk-forward one pass on the GPU (gpu.launch(groups=F), folds 32 columns apart) == CPU and == fold by
#      fold, and the returns sweep's GPU cases (gpu.launch changed: groups=1 must be as before);
#   2. bench_walk_forward.py at the issue's size (10 folds x 10,000 combos x 500 assets x 2520 bars, bound:
#      under 5 s on one H100), with --per-fold (one launch per fold) timed beside it and the choices compared;
#   3. bench_from_signals.py --mode sweep with 50 cash-sharing groups (10,000 combinations x 500 assets).
#   carry [".whl-k"] (TA-Lib, Hypothesis wheels, see bench/device/gpu_verify_kernels.sh); results in $OUT or ./gpu-out
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/k .whl-k/*.whl || exit 1
export PYTHONPATH=/tmp/k:$PWD PYTHONUNBUFFERED=1
{ nvidia-smi -L; git log --oneline -1 2>/dev/null; } > "$OUT/device.txt" 2>&1
timeout ${T_TESTS:-240} python3 -m pytest tests/kernels/backtest/test_orders_sweep.py tests/kernels/backtest/test_walk_forward.py \
  -q -p no:cacheprovider -rs -k "gpu or backend or one_pass" 2>&1 | tail -30 > "$OUT/groups_folds_pytest.txt"
echo "orders sweep + walk-forward tests: $(tail -1 "$OUT/groups_folds_pytest.txt")"
timeout ${T_SWEEP:-200} python3 -m pytest tests/kernels/backtest/test_sweep.py -m gpu -q -p no:cacheprovider -rf 2>&1 \
  | tail -30 > "$OUT/sweep_gpu_pytest.txt"
echo "returns sweep GPU cases: $(tail -1 "$OUT/sweep_gpu_pytest.txt")"
grep -hE "^(FAILED|ERROR)" "$OUT/groups_folds_pytest.txt" "$OUT/sweep_gpu_pytest.txt" | head -20
timeout ${T_WF:-150} python3 bench/kernels/backtest/bench_walk_forward.py --folds 10 --combos 10000 --assets 500 --bars 2520 --backend gpu \
  --repeat 3 --per-fold --out "$OUT/walk_forward_one_pass_h100.json" > "$OUT/walk_forward_one_pass_log.txt" 2>&1
echo "walk_forward rc=$?: $(tail -1 "$OUT/walk_forward_one_pass_log.txt")"
grep -E '"(in_sample_launches|warm_best_s|one_pass_speedup|same_choices)"' "$OUT/walk_forward_one_pass_h100.json"
timeout ${T_CS:-120} python3 bench/kernels/backtest/bench_from_signals.py --mode sweep --bars 2520 --assets 500 --ma-pairs 100 --sl 10 \
  --tp 10 --groups 50 --cash-sharing --backend gpu --repeat 3 --out "$OUT/orders_sweep_cash_sharing_gpu.json" \
  > "$OUT/orders_sweep_cash_sharing_log.txt" 2>&1
echo "cash-sharing sweep rc=$?: $(tail -2 "$OUT/orders_sweep_cash_sharing_log.txt" | head -c 400)"
