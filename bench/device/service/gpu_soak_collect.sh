#!/usr/bin/env bash
# Device call B of two: waits for the memory-truth soak that bench/device/service/gpu_service_then_soak.sh started
# detached and copies its results to $OUT. If the soak did not survive the end of call A, it runs
# the soak here in the foreground instead, as long as one call allows (SECONDS_SOAK, default 560).
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
pid=$(cat /tmp/soak/pid 2>/dev/null || echo "")
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  echo "soak $pid still running at $(date -u +%T); waiting"
  while kill -0 "$pid" 2>/dev/null; do sleep 2; done
  cp /tmp/soak/* "$OUT/" 2>/dev/null
elif ls /tmp/soak/memory_truth_*_600s.json >/dev/null 2>&1; then
  echo "soak already finished"; cp /tmp/soak/* "$OUT/"
else
  echo "no detached soak found (pid '${pid}'): running it here for ${SECONDS_SOAK:-560} s"
  export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
  nvidia-smi -L > "$OUT/device.txt" 2>&1
  timeout 590 python3 bench/gpu_hal/bench_memory_truth.py --seconds "${SECONDS_SOAK:-560}" \
    --out "$OUT/memory_truth_h100_${SECONDS_SOAK:-560}s.json" > "$OUT/log.txt" 2>&1; echo "soak rc=$?"
fi
tail -25 "$OUT/log.txt"
