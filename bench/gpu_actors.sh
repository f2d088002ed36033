#!/usr/bin/env bash
# GPU-machine verification of the actors layer (issue 4): the actors tests, then
# bench_coordinator.py with a real GPU worker. Needs the Ray wheelhouse in .whl/
# (../shared/device/make-wheelhouse.sh pydantic-settings python-multipart).
# Results land in $OUT (device tool) or ./gpu-out.
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi -L | tee "$OUT/device.txt"
python3 -m pytest tests/actors -q -p no:cacheprovider 2>&1 | tee "$OUT/actors_pytest.txt" | tail -3
python3 bench/bench_coordinator.py --assets 500 --bars 2520 --live-requests 300 --sweeps 24 --grid 100 \
  --kills 100 --kill-interval 0.3 --jobs 200 --out "$OUT/coordinator_h100.json" > "$OUT/coordinator_log.txt" 2>&1
echo "bench rc=$?"
grep -E "^(workers|live|router|fault|kills)" "$OUT/coordinator_log.txt"
