#!/usr/bin/env bash
# GPU-machine check of the live path (issues 4 and 5) in one device call: the live-channel and
# Ray-service tests, bench_coordinator.py (LiveRouter overhead by channel and by actor call, live
# p99 under LOW sweeps, fault -> next tier, a few worker kills) and bench_service.py (Serve direct
# ingress; 5 bursts of 20 concurrent backtests + features at 50 Hz). Needs .whl/ and .whl-http/
# (run tool: carry [".whl", ".whl-http"]).   RUN=run4 SERVICE_RUN=run5 bash bench/gpu_live_path.sh
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
RUN=${RUN:-run}; SERVICE_RUN=${SERVICE_RUN:-run}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .whl/*.whl .whl-http/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PATH=/tmp/site/bin:$PATH
nvidia-smi -L | tee "$OUT/device.txt"
timeout 120 python3 -m pytest tests/actors/test_live_channel.py tests/actors/test_ray_service.py \
  tests/deployments/test_control_loop.py -q -p no:cacheprovider 2>&1 | tee "$OUT/live_path_pytest_$RUN.txt" | tail -2
timeout 200 python3 bench/bench_coordinator.py --assets 500 --bars 2520 --live-requests 300 --sweeps 24 --grid 100 \
  --kills 10 --kill-interval 0.3 --jobs 20 --out "$OUT/coordinator_h100_$RUN.json" > "$OUT/coordinator_log_$RUN.txt" 2>&1
echo "coordinator bench rc=$?"
grep -E "^(workers|live|router|fault|kills|targets)" "$OUT/coordinator_log_$RUN.txt" | cut -c1-500
timeout 240 python3 bench/bench_service.py --requests 400 --load-rounds 5 --via direct \
  --out "$OUT/service_h100_$SERVICE_RUN.json" > "$OUT/service_log_$SERVICE_RUN.txt" 2>&1
echo "service bench rc=$?"
grep -E "^(devices|features|direct|layers|load|targets)" "$OUT/service_log_$SERVICE_RUN.txt" | cut -c1-500
