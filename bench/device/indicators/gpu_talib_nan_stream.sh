#!/usr/bin/env bash
# GPU-machine check of issue 14's NaN policy, streams and prewarm for the TA-Lib functions (one device call):
# - tests/kernels/indicators/talib/test_nan_policy_talib.py with its GPU rows (CuPy inputs follow nan_policy "skip" /
#   max_gap through the same gaps.gather/scatter as the CPU: equal to TA-Lib on the valid values);
# - tests/actors/streams/test_talib_streams.py with its GPU rows (a GPU worker's stream registry seeded from a
#   device panel; the worker prewarm on a real GPU runs gpu_columns.warm_up(): seconds printed);
# - the cold-start cost of the worker's TA-Lib prewarm: CPU (Numba, cold cache dir) and GPU (NVRTC, cold CuPy
#   cache dir), then warm (second process, same caches).
#   carry [".whl-k"] (ta-lib, hypothesis wheels for Python 3.12); results in $OUT (device tool) or ./gpu-out
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/k .whl-k/*.whl || exit 1
export PYTHONPATH=/tmp/k:$PWD PYTHONUNBUFFERED=1
{ nvidia-smi -L; git log --oneline -1 2>/dev/null; python3 -c "import cupy, numba, talib; print('cupy', cupy.__version__, 'numba', numba.__version__, 'talib', talib.__version__)"; } > "$OUT/device.txt" 2>&1
timeout ${T_NAN:-240} python3 -m pytest tests/kernels/indicators/talib/test_nan_policy_talib.py -q -p no:cacheprovider -rfs 2>&1 \
    | tail -40 > "$OUT/nan_policy_pytest.txt"
echo "nan policy: $(tail -1 "$OUT/nan_policy_pytest.txt")"
timeout ${T_STREAM:-240} python3 -m pytest tests/actors/streams/test_talib_streams.py -q -s -p no:cacheprovider -rfs 2>&1 \
    | tail -40 > "$OUT/talib_streams_pytest.txt"
echo "streams: $(tail -1 "$OUT/talib_streams_pytest.txt")"
grep -E "TA-Lib prewarm on the GPU worker" "$OUT/talib_streams_pytest.txt"
# cold start of the prewarm (fresh Numba and CuPy caches), then warm (a second process)
rm -rf /tmp/cold-numba /tmp/cold-cupy; mkdir -p /tmp/cold-numba /tmp/cold-cupy
for run in cold warm; do
  NUMBA_CACHE_DIR=/tmp/cold-numba CUPY_CACHE_DIR=/tmp/cold-cupy timeout ${T_COLD:-300} python3 - <<'PY' > "$OUT/prewarm_$run.txt" 2>&1
import time, json
t = time.perf_counter()
from actors.settings import StreamsConfig
from actors.workers.worker import Worker
w = Worker("g0", "gpu", streams=StreamsConfig(talib_prewarm="full")); w.init_device()
t1 = time.perf_counter()
out = w._warm_talib("full")
print(json.dumps({"import_and_init_s": t1 - t, **out}))
w.shutdown()
PY
  echo "prewarm $run: $(tail -1 "$OUT/prewarm_$run.txt")"
done
