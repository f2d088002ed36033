#!/usr/bin/env bash
# GPU-machine check of the live application (issue 5): the live-app HTTP test, then bench_service.py
# three ways -- live app (default settings), live app with a 0.1 ms GIL switch interval in the worker
# and replica processes, and no live app (features share the main replica with the backtests) -- each
# with 20 bursts of 20 concurrent backtests under a 50 Hz feature stream. Needs .whl/ and .whl-http/
# (run tool: carry [".whl", ".whl-http"]).   RUN=run6 bash bench/device/service/gpu_live_app.sh
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
RUN=${RUN:-run}; ROUNDS=${ROUNDS:-20}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .whl/*.whl .whl-http/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PATH=/tmp/site/bin:$PATH
nvidia-smi -L | tee "$OUT/device.txt"
timeout 120 python3 -m pytest tests/deployments/http/test_http_api.py -k "live_application or features" -q \
  -p no:cacheprovider 2>&1 | tee "$OUT/live_app_pytest_$RUN.txt" | tail -2
for variant in "" "_gil100us --gil-switch-interval 0.0001" "_no_live_app --no-live-app"; do
  suffix=${variant%% *}; extra=${variant#"$suffix"}
  timeout 150 python3 bench/service/bench_service.py --requests 400 --load-rounds "$ROUNDS" --via direct $extra \
    --out "$OUT/service_h100_$RUN$suffix.json" > "$OUT/service_log_$RUN$suffix.txt" 2>&1
  echo "service bench$suffix rc=$?"
  grep -E "^(features idle POST|load|targets)" "$OUT/service_log_$RUN$suffix.txt" | cut -c1-420
done
