#!/usr/bin/env bash
# One device call for the service-level targets: gRPC vs HTTP (issue 17: tests + bench_grpc) and one
# memory truth under a mixed workload with memory pressure (issue 16: bench_memory_truth, SECONDS_SOAK).
#   carry [".whl", ".whl-grpc"]; results in $OUT (device tool) or ./gpu-out
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .whl/*.whl .whl-grpc/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PATH=/tmp/site/bin:$PATH
{ nvidia-smi -L; git log --oneline -1 2>/dev/null; } > "$OUT/device.txt" 2>&1
timeout $(( ${SECONDS_SOAK:-120} + 120 )) python3 bench/gpu_hal/bench_memory_truth.py --seconds "${SECONDS_SOAK:-120}" \
  --out "$OUT/memory_truth_h100.json" > "$OUT/memory_truth_log.txt" 2>&1; echo "memory truth rc=$?"
tail -22 "$OUT/memory_truth_log.txt"
timeout 240 python3 -m pytest tests/deployments/grpc_api/test_grpc.py -q -p no:cacheprovider -W ignore 2>&1 \
  | tail -15 > "$OUT/grpc_pytest.txt"; echo "grpc tests: $(tail -1 "$OUT/grpc_pytest.txt")"
timeout 200 python3 bench/service/bench_grpc.py --requests "${REQUESTS:-2000}" --warmup 200 --out "$OUT/grpc_h100.json" \
  > "$OUT/grpc_bench_log.txt" 2>&1; echo "grpc bench rc=$?"
grep -E "^(devices|ComputeFeatures|Predict|targets)" "$OUT/grpc_bench_log.txt" | cut -c1-300
