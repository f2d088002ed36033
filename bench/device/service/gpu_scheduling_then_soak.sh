#!/usr/bin/env bash
# Device call A of two (issues 15 and 16), carry [".whl"]:
#  1. HIGH backtests behind LOW sweeps on the GPU: closed-loop wait p99 <= 2 x target_chunk_ms (issue 15);
#  2. the 2520 x 500 x 100,000 sweep with the GPU worker alone, then GPU + one CPU worker (issue 15:
#     "together no slower than the GPU alone");
#  3. then the 10-minute memory-truth soak (issue 16) started DETACHED, alone on the device; call B,
#     bench/device/service/gpu_soak_collect.sh, made right after while the machine is warm, collects it.
# SKIP_SCHED=1 skips steps 1-2 (only starts the soak). Results land in $OUT (device tool) or ./gpu-out.
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"; TAG=${TAG:-gpu}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PATH=/tmp/site/bin:$PATH
{ nvidia-smi -L; git log --oneline -1 2>/dev/null; nproc; } > "$OUT/device.txt" 2>&1; cat "$OUT/device.txt"
if [ "${SKIP_SCHED:-0}" != 1 ]; then  # SKIP_SCHED=1: only start the soak (steps 1-2 ran in an earlier call)
s=$SECONDS
timeout "${T_HIGH:-200}" python3 bench/service/bench_scheduler.py --high-wait --high-jobs "${HIGH_JOBS:-30}" \
  --low-sweeps "${LOW_SWEEPS:-6}" --out "$OUT/high_wait_closed_${TAG}.json" > "$OUT/high_wait_closed_${TAG}_log.txt" 2>&1
echo "high wait rc=$? ($((SECONDS-s)) s)"; grep "HIGH wait" "$OUT/high_wait_closed_${TAG}_log.txt" | cut -c1-400
ray stop --force >/dev/null 2>&1 || true
for n in 0 1; do
  s=$SECONDS
  timeout "${T_SWEEP:-150}" python3 bench/service/bench_scheduler.py --sweep-cpu-workers $n \
    --out "$OUT/sweep_gpu_cpu${n}_${TAG}.json" > "$OUT/sweep_gpu_cpu${n}_${TAG}_log.txt" 2>&1
  echo "sweep with $n CPU worker(s) rc=$? ($((SECONDS-s)) s)"; grep "^sweep " "$OUT/sweep_gpu_cpu${n}_${TAG}_log.txt" | cut -c1-300
  ray stop --force >/dev/null 2>&1 || true
done
fi
[ "${NO_SOAK:-0}" = 1 ] && { echo "soak not started (NO_SOAK=1)"; exit 0; }
mkdir -p /tmp/soak
setsid nohup python3 bench/gpu_hal/bench_memory_truth.py --seconds "${SECONDS_SOAK:-600}" \
  --out /tmp/soak/memory_truth_${TAG}_600s.json > /tmp/soak/log.txt 2>&1 < /dev/null &
echo $! > /tmp/soak/pid; echo "soak started, pid $(cat /tmp/soak/pid), at $(date -u +%T)"
sleep "${SOAK_HOLD:-5}"; tail -3 /tmp/soak/log.txt
