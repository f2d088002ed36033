#!/usr/bin/env bash
# GPU-machine verification of issue 14 deliverables 1-4: the NaN policy (batch, sweep
# fallback, streams) on the GPU backend, pandas in/out with CuPy, close-only data,
# then the cost of nan_policy="skip" on gappy data (bench/kernels/indicators/bench_nan_policy.py).
# Results land in $OUT (device tool) or ./gpu-out. No Ray, no vectorbt needed;
# matplotlib/plotly are optional there (the plotting tests skip without them).
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
nvidia-smi -L | tee "$OUT/device.txt"
python3 -m pytest tests/kernels/indicators/test_nan_policy.py tests/kernels/test_pandas_io.py tests/kernels/data/test_data_shapes.py \
    tests/kernels/test_plotting.py tests/kernels/indicators/test_indicators.py tests/kernels/indicators/test_indicators_stream.py \
    tests/kernels/backtest/test_sweep.py tests/kernels/backtest/test_backtest_runner.py tests/kernels/strategies/test_strategies.py \
    -q -p no:cacheprovider -rs 2>&1 | tee "$OUT/ergonomics_pytest.txt" | tail -6
python3 bench/kernels/indicators/bench_nan_policy.py --bars 2520 --assets 5000 --gap 0.01 --out "$OUT/nan_policy_h100.json" \
    > "$OUT/nan_policy_log.txt" 2>&1; echo "nan_policy bench rc=$?"
tail -12 "$OUT/nan_policy_log.txt"
