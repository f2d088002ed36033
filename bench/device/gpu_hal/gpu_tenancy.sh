#!/usr/bin/env bash
# GPU-machine check of one memory truth and memory pressure (issue: tenants and device resources):
# the gpu_hal tests with real CuPy pools (the budget charged at allocation), then the mixed-workload
# soak (zero drift, REALTIME p99 under pressure vs idle, HIGH getting memory held by LOW work).
#   SECONDS_SOAK=600 bash bench/device/gpu_hal/gpu_tenancy.sh      (results in $OUT)
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
export PYTHONPATH=${PYTHONPATH:-$PWD} PYTHONUNBUFFERED=1
nvidia-smi -L | tee "$OUT/device.txt"
timeout 300 python3 -m pytest tests/gpu_hal -q -p no:cacheprovider -rs 2>&1 | tee "$OUT/tenancy_gpu_hal_pytest.txt" | tail -4
timeout $(( ${SECONDS_SOAK:-120} + 240 )) python3 bench/gpu_hal/bench_memory_truth.py --seconds "${SECONDS_SOAK:-120}" \
  --out "$OUT/memory_truth.json" 2>&1 | tail -40 | tee "$OUT/memory_truth_log.txt"
