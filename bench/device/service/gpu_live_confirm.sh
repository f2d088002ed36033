#!/usr/bin/env bash
# GPU-machine confirmation with the settings' defaults (live channel, live app, 0.1 ms GIL switch
# interval, frozen start-up heap, delayed pool trims): tests/gpu_hal (GPU cases), bench_coordinator.py with 100 worker kills (issue 4) and bench_service.py twice (issue 5,
# 20 bursts of 20 concurrent backtests under a 50 Hz feature stream). Needs .whl/ and .whl-http/.
#   RUN=run5 SERVICE_RUN=run7 bash bench/device/service/gpu_live_confirm.sh
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
RUN=${RUN:-run}; SERVICE_RUN=${SERVICE_RUN:-run}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .whl/*.whl .whl-http/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PATH=/tmp/site/bin:$PATH
nvidia-smi -L | tee "$OUT/device.txt"
timeout 120 python3 -m pytest tests/gpu_hal tests/actors/live/test_channel.py tests/actors/test_heap.py -q \
  -p no:cacheprovider 2>&1 | tee "$OUT/gpu_hal_pytest_$RUN.txt" | tail -2
timeout 240 python3 bench/service/bench_coordinator.py --assets 500 --bars 2520 --live-requests 300 --sweeps 24 --grid 100 \
  --kills 100 --kill-interval 0.3 --jobs 200 --out "$OUT/coordinator_h100_$RUN.json" > "$OUT/coordinator_log_$RUN.txt" 2>&1
echo "coordinator bench rc=$?"
grep -E "^(router idle|router saturated|fault|kills|targets)" "$OUT/coordinator_log_$RUN.txt" | cut -c1-420
for i in a b; do
  timeout 150 python3 bench/service/bench_service.py --requests 400 --load-rounds 20 --via direct \
    --out "$OUT/service_h100_$SERVICE_RUN$i.json" > "$OUT/service_log_$SERVICE_RUN$i.txt" 2>&1
  echo "service bench $i rc=$?"
  grep -E "^(features idle POST|load|targets)" "$OUT/service_log_$SERVICE_RUN$i.txt" | cut -c1-420
done
