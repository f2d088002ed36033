#!/usr/bin/env bash
# GPU-machine check of the hardened live channel (issue 12): data-only msgpack frames instead of
# pickle, one asyncio loop instead of a thread per connection, auth timeout and connection caps.
#   1. tests/actors/live/test_channel.py (real sockets: 200 idle connections add no thread, half a
#      header closed within a second, pickle refused, exact round trips of work items and results);
#   2. bench_live_wire.py: pickle vs msgpack encode+decode of a features item/result, channel round trip;
#   3. bench_coordinator.py with a real GPU worker: LiveRouter overhead over the channel (compare with
#      bench/results/live_path_h100.md, run 7: p50 0.57 ms with the pickle channel) and worker kills.
# Needs .whl/ (Ray and its dependencies, msgpack included) like gpu_live_confirm.sh.
#   RUN=run1 bash bench/device/service/gpu_live_channel.sh
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
RUN=${RUN:-run}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .whl/*.whl $(ls .whl-http/*.whl 2>/dev/null) || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PATH=/tmp/site/bin:$PATH
nvidia-smi -L | tee "$OUT/device.txt"
timeout 180 python3 -m pytest tests/actors/live/test_channel.py -q -p no:cacheprovider 2>&1 \
  | tee "$OUT/live_channel_pytest_$RUN.txt" | tail -2
timeout 120 python3 bench/service/bench_live_wire.py --symbols 50 --window 20 --labels 8 --repeat 5000 \
  --out "$OUT/live_wire_$RUN.json" 2>&1 | tee "$OUT/live_wire_log_$RUN.txt"
timeout 300 python3 bench/service/bench_coordinator.py --assets 500 --bars 2520 --live-requests 300 --sweeps 8 --grid 50 \
  --kills 20 --kill-interval 0.3 --jobs 100 --out "$OUT/coordinator_channel_$RUN.json" \
  > "$OUT/coordinator_channel_log_$RUN.txt" 2>&1
echo "coordinator bench rc=$?"
grep -E "^(router idle|router saturated|fault|kills|targets)" "$OUT/coordinator_channel_log_$RUN.txt" | cut -c1-420
