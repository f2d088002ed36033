#!/usr/bin/env bash
# GPU-machine verification of the prepared sweep plan (kernels.backtest.sweep.prepare_sweep, issue 15:
# a sweep's per-window tables device-resident between consecutive chunks), one device call:
#  1. tests/kernels/backtest/test_sweep_plan.py (GPU cases: every chunk on a kept plan equals sweep() on that chunk
#     exactly, the grid's window tables built once per plan vs every chunk in sweep(), nbytes, the per-chunk
#     fallback when the grid's tables do not fit), plus the GPU and host-emulated cases of test_sweep.py and
#     test_walk_forward.py (gpu.launch took tab=; the groups= path must not move);
#  2. the job data tests on the real device (test_job_data_gpu.py, and test_job_data.py whose GPU case counts
#     the window-table builds of a job's chunks on a worker: one, vs one per chunk uncached);
#  3. bench_job_data.py twice: the default 2520 x 500 job (100,000 combinations, 2,000 a chunk: the streaming
#     kernel, the grid's tables would not fit), and a table-path job (1,600 combinations, 250 a chunk, 80
#     windows: 0.8 GB of tables kept) -- per-chunk wall / process seconds, kept vs per-run table builds.
# Needs the wheelhouse in .whl/ (pydantic-settings, hypothesis, ...); run tool: carry [".whl"].
# Results land in $OUT (device tool) or ./gpu-out; a short summary is printed last.
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PATH=/tmp/site/bin:$PATH
{ nvidia-smi -L; git log --oneline -1 2>/dev/null; } > "$OUT/device.txt" 2>&1
timeout 300 python3 -m pytest tests/kernels/backtest/test_sweep_plan.py tests/kernels/backtest/test_sweep.py tests/kernels/backtest/test_walk_forward.py \
  -k "gpu or emulated or plan" -q -p no:cacheprovider -rs 2>&1 | tail -40 > "$OUT/sweep_plan_pytest.txt"
echo "kernels (sweep plan, sweep, walk-forward GPU cases): $(tail -1 "$OUT/sweep_plan_pytest.txt")"
timeout 240 python3 -m pytest tests/actors/workers/test_job_data.py tests/actors/workers/test_job_data_gpu.py -m "not ray" \
  -q -p no:cacheprovider -rs 2>&1 | tail -30 > "$OUT/sweep_plan_job_data_pytest.txt"
echo "job data (GPU worker): $(tail -1 "$OUT/sweep_plan_job_data_pytest.txt")"
timeout 300 python3 bench/service/bench_job_data.py --out "$OUT/job_data_stream_h100.json" > "$OUT/job_data_stream.log" 2>&1
echo "bench (streaming job) rc=$?"; tail -3 "$OUT/job_data_stream.log"
timeout 300 python3 bench/service/bench_job_data.py --fast 40 --slow 40 --combos 250 --chunks 7 --plan-repeat 10 \
  --out "$OUT/job_data_tables_h100.json" > "$OUT/job_data_tables.log" 2>&1
echo "bench (table-path job) rc=$?"; tail -3 "$OUT/job_data_tables.log"
grep -hE "^(FAILED|ERROR)" "$OUT"/sweep_plan*_pytest.txt | head -20
