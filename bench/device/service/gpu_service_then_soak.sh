#!/usr/bin/env bash
# Device call A of two (issues 16 and 17): the gRPC tests and gRPC-vs-HTTP timings on the GPU machine,
# then the 10-minute memory-truth soak started DETACHED (it outlives this call; a call is at most
# 600 s), so that it runs alone on the device. Call B (bench/device/service/gpu_soak_collect.sh), made right after
# while the machine is still warm, waits for the soak and collects its results.
#   carry [".whl", ".whl-grpc"]; results in $OUT (device tool) or ./gpu-out
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .whl/*.whl .whl-grpc/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PATH=/tmp/site/bin:$PATH
{ nvidia-smi -L; git log --oneline -1 2>/dev/null; nproc; } > "$OUT/device.txt" 2>&1; cat "$OUT/device.txt"
s=$SECONDS
timeout 200 python3 -m pytest tests/deployments/grpc_api/test_grpc.py -q -p no:cacheprovider -W ignore 2>&1 \
  | tail -15 > "$OUT/grpc_pytest_h100.txt"; echo "grpc tests ($((SECONDS-s)) s): $(tail -1 "$OUT/grpc_pytest_h100.txt")"
s=$SECONDS
timeout 200 python3 bench/service/bench_grpc.py --requests "${REQUESTS:-2000}" --warmup 200 --out "$OUT/grpc_h100.json" \
  > "$OUT/grpc_bench_log_h100.txt" 2>&1; echo "grpc bench rc=$? ($((SECONDS-s)) s)"
grep -E "^(devices|ComputeFeatures|Predict|targets)" "$OUT/grpc_bench_log_h100.txt" | cut -c1-300
ray stop --force >/dev/null 2>&1 || true   # nothing of the service may share the device with the soak
mkdir -p /tmp/soak
setsid nohup python3 bench/gpu_hal/bench_memory_truth.py --seconds "${SECONDS_SOAK:-600}" \
  --out /tmp/soak/memory_truth_h100_600s.json > /tmp/soak/log.txt 2>&1 < /dev/null &
echo $! > /tmp/soak/pid; echo "soak started, pid $(cat /tmp/soak/pid), at $(date -u +%T)"
sleep 5; tail -3 /tmp/soak/log.txt
