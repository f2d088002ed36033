#!/usr/bin/env bash
# GPU-machine verification of chunk-level scheduling (issue 15), one device call:
#  1. the scheduling tests (tests/actors/scheduling: the small parts, the coordinator's chunk scheduling,
#     fan-out, elastic membership, lost workers, stealing, HIGH within one chunk) on a quiet 16-core box;
#  2. bench_scheduler.py's CPU-side targets (dispatch rate >= 5,000 no-op chunks/s; 64 sleeping workers x
#     50 ms finish 1,280 chunks within 1.1 x 1.0 s), which a busy 2-core box cannot show;
#  3. the 2520 x 500 x 100,000 sweep through Ray with the GPU worker alone, then GPU + a CPU worker
#     (research on the CPU): target "together no slower than the GPU alone";
#  4. HIGH backtests arriving while two LOW sweeps hold the GPU: p99 wait <= 2 x target_chunk_ms.
# Needs the Ray wheelhouse in .whl/ (../shared/device/make-wheelhouse.sh pydantic-settings); run tool:
# carry [".whl"]. Results land in $OUT (device tool) or ./gpu-out; a table is printed last.
#   RUN=run1 bash bench/device/service/gpu_scheduling.sh
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
RUN=${RUN:-run1}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PATH=/tmp/site/bin:$PATH
nvidia-smi -L | tee "$OUT/device.txt"
timeout 240 python3 -m pytest tests/actors/scheduling -q -p no:cacheprovider 2>&1 \
  | tee "$OUT/scheduling_pytest_$RUN.txt" | tail -3
timeout 240 python3 bench/service/bench_scheduler.py --repeat 3 --out "$OUT/scheduler_cpu16_$RUN.json" \
  > "$OUT/scheduler_cpu16_$RUN.log" 2>&1; echo "scheduler bench rc=$?"
timeout 420 python3 bench/service/bench_scheduler.py --sweep-cpu-workers 0 --out "$OUT/sweep_gpu_alone_$RUN.json" \
  > "$OUT/sweep_gpu_alone_$RUN.log" 2>&1; echo "sweep (GPU alone) rc=$?"
timeout 420 python3 bench/service/bench_scheduler.py --sweep-cpu-workers 1 --out "$OUT/sweep_gpu_cpu_$RUN.json" \
  > "$OUT/sweep_gpu_cpu_$RUN.log" 2>&1; echo "sweep (GPU + CPU) rc=$?"
timeout 300 python3 bench/service/bench_scheduler.py --high-wait --out "$OUT/high_wait_$RUN.json" \
  > "$OUT/high_wait_$RUN.log" 2>&1; echo "high wait rc=$?"
python3 - "$OUT" "$RUN" <<'PY'
import json, sys
from pathlib import Path
out, run = Path(sys.argv[1]), sys.argv[2]
def load(name):
    p = out / f"{name}_{run}.json"
    return json.loads(p.read_text()) if p.is_file() else None
s = load("scheduler_cpu16")
if s:
    for k, t in s["targets"].items():
        print(f"{k:16s} value {t['value']:.4g}  target {t['target']}  met {t['met']}")
alone, both = load("sweep_gpu_alone"), load("sweep_gpu_cpu")
if alone and both:
    print(f"sweep 2520x500x100k: GPU alone {alone['wall_s']:.2f} s, GPU+CPU {both['wall_s']:.2f} s "
          f"-> no slower: {both['wall_s'] <= alone['wall_s'] * 1.02} (2 % noise allowed)")
h = load("high_wait")
if h:
    t = h["targets"]["high_wait_p99"]
    print(f"HIGH wait p50 {h['p50_ms']:.1f} ms p99 {h['p99_ms']:.1f} ms  target {t['target']}  met {t['met']}")
PY
