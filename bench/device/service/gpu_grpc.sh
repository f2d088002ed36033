#!/usr/bin/env bash
# GPU-machine run of issue 17's gRPC work: tests/deployments/grpc_api/test_grpc.py (every RPC through Serve's
# gRPC proxy on a local Ray with the machine's GPU worker; the stub-regeneration test skips without
# grpcio-tools) and bench/service/bench_grpc.py (small Predict and ComputeFeatures, p50/p99: gRPC through
# the proxy and straight to the live replica vs HTTP through the proxy and direct ingress; target
# gRPC-proxy p50 <= 2 ms). Needs the Ray wheelhouse in .whl/ and .whl-grpc/ (grpcio-health-checking
# 1.84.0, fastapi-offline, httpx, httpcore, sniffio; made with
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux2014_x86_64 --platform any -d .whl-grpc grpcio-health-checking==1.84.0 \
#     fastapi-offline==1.7.7 httpx httpcore sniffio
# ); run tool: carry [".whl", ".whl-grpc"]. Results land in $OUT (device tool) or ./gpu-out.
#   RUN=run1 bash bench/device/service/gpu_grpc.sh
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
RUN=${RUN:-run}; REQUESTS=${REQUESTS:-2000}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .whl/*.whl .whl-grpc/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PATH=/tmp/site/bin:$PATH
nvidia-smi -L | tee "$OUT/device.txt"
python3 -c "import grpc, google.protobuf; print('grpcio', grpc.__version__, 'protobuf', google.protobuf.__version__)" \
  | tee "$OUT/grpc_versions_$RUN.txt"
timeout 300 python3 -m pytest tests/deployments/grpc_api/test_grpc.py -q -p no:cacheprovider -W ignore 2>&1 \
  | tee "$OUT/grpc_pytest_$RUN.txt" | tail -3
timeout 280 python3 bench/service/bench_grpc.py --requests "$REQUESTS" --warmup 200 --out "$OUT/grpc_h100_$RUN.json" \
  > "$OUT/grpc_bench_log_$RUN.txt" 2>&1
echo "grpc bench rc=$?"
grep -E "^(devices|ComputeFeatures|Predict|targets)" "$OUT/grpc_bench_log_$RUN.txt" | cut -c1-300
