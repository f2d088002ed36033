#!/usr/bin/env bash
# GPU-machine check of orders-engine sweeps as jobs (issue 13, POST /v1/sweeps with order options):
# the job-level tests with their GPU cases (a GPU worker's chunk equals the CPU one), the kernel's
# orders-sweep tests, then one sweep job's chunk (execute_chunk, as a worker runs it) timed on
# the GPU and on the CPU: 2520 bars x 500 assets x 1,000 combinations (MA x sl_stop x tp_stop),
# without groups and with 50 cash-sharing groups. Needs the Ray wheelhouse in .whl/ (pydantic for
# deployments.http.schemas; run tool: carry [".whl"]). Results land in $OUT (device tool) or ./gpu-out.
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi -L | tee "$OUT/device.txt"
timeout 300 python3 -m pytest tests/actors/jobs/test_sweep_order_plans.py tests/kernels/backtest/test_orders_sweep.py -q \
  -p no:cacheprovider -rs 2>&1 | tee "$OUT/sweep_order_pytest.txt" | tail -4
timeout 240 python3 - "$OUT/sweep_order_job.json" <<'PY' 2>&1 | tee "$OUT/sweep_order_job_log.txt"
import json, os, sys, time
import numpy as np
from actors.jobs.plans import execute_chunk, plan_job, validate_against_panel
from kernels.data import synthetic_panel

T, N = int(os.environ.get("BARS", 2520)), int(os.environ.get("ASSETS", 500))  # smaller for a dry run
BACKENDS = os.environ.get("BACKENDS", "gpu cpu").split()  # BACKENDS="cpu cpu": a dry run without a GPU
panel = synthetic_panel(N, T, seed=0)
grid = {"fast": [5, 10, 15, 20, 25], "slow": [50, 100], "sl_stop": list(np.round(np.linspace(0.02, 0.2, 10), 4)),
        "tp_stop": list(np.round(np.linspace(0.05, 0.5, 10), 4))}
cases = {"no_groups": {}, "cash_sharing_groups_of_10": {"group_by": [f"g{i // 10}" for i in range(N)],
                                                     "cash_sharing": True}}
out = {"command": "bash bench/device/backtest/gpu_sweep_order_options.sh", "bars": T, "assets": N, "cases": {}}
for name, extra in cases.items():
    payload = {"strategy": "trend_following", "grid": grid, "engine": "orders", "init_cash": 10000.0,
               "fees": 0.0005, "top_k": 10, **extra}
    facts = validate_against_panel("sweep", payload, panel)
    chunk = plan_job("sweep", payload, T, N, 1e9)[0]
    row = {"combinations": facts["n_combinations"]}
    res = {}
    for key, backend in zip(("gpu", "cpu"), BACKENDS):
        t0 = time.perf_counter()
        res[key] = execute_chunk("sweep", payload, panel, chunk, backend)  # first call: compile included
        t1 = time.perf_counter()
        execute_chunk("sweep", payload, panel, chunk, backend)
        t2 = time.perf_counter()
        cells = facts["n_combinations"] * N * T
        row[key] = {"backend": res[key].backend, "first_s": t1 - t0, "warm_s": t2 - t1, "cells_per_s": cells / (t2 - t1)}
    a, b = res["gpu"].asset_metrics.to_numpy(), res["cpu"].asset_metrics.to_numpy()
    with np.errstate(invalid="ignore"):  # inf - inf where both are inf (profit_factor without a loss)
        row["max_rel_diff_gpu_cpu"] = float(np.nanmax(np.abs(a - b) / np.maximum(np.abs(b), 1e-300),
                                                      initial=0.0, where=np.isfinite(b)))
    row["nan_pattern_equal"] = bool((np.isnan(a) == np.isnan(b)).all())
    out["cases"][name] = row
    print(name, json.dumps(row))
json.dump(out, open(sys.argv[1], "w"), indent=2)
PY
echo "job timing rc=$?"
