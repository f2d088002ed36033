#!/usr/bin/env bash
# GPU-machine verification of issue 15's job data on workers and tail work stealing, one device call:
#  1. tests/actors/workers/test_job_data_gpu.py (GPU cases): the job's panel kept as CuPy arrays in the
#     tenant's pool, one upload per job, kept sweep plans (streaming and window-table paths) and kept
#     backtest panels equal to the uncached GPU path exactly, bytes back at the job's end;
#  2. the simulated-device tests of the same features (test_job_data.py, test_tail_stealing.py) on 16 cores;
#  3. bench_job_data.py: per-chunk time of a 2520 x 500 sweep (100,000-combination grid, 2,000 combinations
#     a chunk) on the GPU with the job's data kept between chunks and without, and identical results.
# Needs the wheelhouse in .whl/ (../shared/device/make-wheelhouse.sh pydantic-settings); run tool: carry
# [".whl"]. Results land in $OUT (device tool) or ./gpu-out; a short table is printed last.
#   RUN=run1 bash bench/device/service/gpu_job_data.sh
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
RUN=${RUN:-run1}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PATH=/tmp/site/bin:$PATH
{ nvidia-smi -L; git log --oneline -1 2>/dev/null; } > "$OUT/device.txt" 2>&1
timeout 240 python3 -m pytest tests/actors/workers/test_job_data_gpu.py -q -p no:cacheprovider -rs 2>&1 \
  | tail -30 > "$OUT/job_data_gpu_pytest_$RUN.txt"
echo "job data (GPU): $(tail -1 "$OUT/job_data_gpu_pytest_$RUN.txt")"
timeout 200 python3 -m pytest tests/actors/workers/test_job_data.py tests/actors/scheduling/test_tail_stealing.py \
  -q -p no:cacheprovider 2>&1 | tail -30 > "$OUT/job_data_sim_pytest_$RUN.txt"
echo "job data + stealing (simulated): $(tail -1 "$OUT/job_data_sim_pytest_$RUN.txt")"
timeout 300 python3 bench/service/bench_job_data.py --out "$OUT/job_data_h100_$RUN.json" \
  > "$OUT/job_data_bench_$RUN.log" 2>&1; echo "bench rc=$?"
tail -8 "$OUT/job_data_bench_$RUN.log"
grep -hE "^(FAILED|ERROR)" "$OUT"/job_data_*pytest_"$RUN".txt | head -20
