#!/usr/bin/env bash
# One device call (<= 600 s), most important first: gRPC vs HTTP timings (issue 17), every TA-Lib
# function's GPU form against the CPU backend (bench/device/indicators/gpu_talib_vs_cpu.py: no TA-Lib needed there),
# the gRPC tests, then the GPU cases of tests/kernels (modules that need TA-Lib or vectorbt skip).
#   carry [".whl", ".whl-grpc"]; results in $OUT (device tool) or ./gpu-out
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .whl/*.whl .whl-grpc/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PATH=/tmp/site/bin:$PATH
{ nvidia-smi -L; git log --oneline -1 2>/dev/null; nproc; } > "$OUT/device.txt" 2>&1; cat "$OUT/device.txt"
step() { local name=$1 t=$2; shift 2; local s=$SECONDS; timeout "$t" "$@" > "$OUT/$name.txt" 2>&1; echo "== $name rc=$? $((SECONDS-s)) s"; }
step grpc_bench_log_h100 ${T_GRPC_BENCH:-170} python3 bench/service/bench_grpc.py --requests "${REQUESTS:-1000}" --warmup 200 --out "$OUT/grpc_h100.json"
grep -E "^(devices|ComputeFeatures|Predict|targets)" "$OUT/grpc_bench_log_h100.txt" | cut -c1-300
ray stop --force >/dev/null 2>&1 || true
step talib_gpu_vs_cpu_log ${T_TALIB:-170} python3 bench/device/indicators/gpu_talib_vs_cpu.py --out "$OUT/talib_gpu_vs_cpu_h100.json"
tail -25 "$OUT/talib_gpu_vs_cpu_log.txt" | grep -v '^{' | cut -c1-300
[ "${T_GRPC_TESTS:-110}" -gt 0 ] && step grpc_pytest_h100 ${T_GRPC_TESTS:-110} python3 -m pytest tests/deployments/grpc_api/test_grpc.py -q -p no:cacheprovider -W ignore -x
tail -2 "$OUT/grpc_pytest_h100.txt"
ray stop --force >/dev/null 2>&1 || true
left=$(( ${TOTAL:-585} - SECONDS )); [ $left -gt 30 ] && step kernels_gpu_pytest_h100 $left python3 -m pytest tests/kernels -k gpu -q -p no:cacheprovider \
  --continue-on-collection-errors -rf --ignore=tests/kernels/indicators/talib
tail -15 "$OUT/kernels_gpu_pytest_h100.txt" 2>/dev/null | grep -E "passed|failed|^FAILED|^ERROR" | cut -c1-240
echo "total ${SECONDS} s"
