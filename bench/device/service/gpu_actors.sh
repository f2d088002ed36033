#!/usr/bin/env bash
# GPU-machine verification of the actors layer (issue 4) and the HTTP service (issue 5):
# the actors tests, bench_coordinator.py with a real GPU worker, then bench_service.py
# (Serve: direct ingress and proxy; 20 concurrent backtests + a feature stream).
# Needs the Ray wheelhouse in .whl/ (../shared/device/make-wheelhouse.sh pydantic-settings
# python-multipart) and, for the service, httpx/httpcore in .whl-http/ (run tool: carry
# [".whl", ".whl-http"]). Results land in $OUT (device tool) or ./gpu-out.
#   RUN=run3 SERVICE_RUN=run2 bash bench/device/service/gpu_actors.sh
set -uo pipefail
OUT=${OUT:-./gpu-out}; mkdir -p "$OUT"
RUN=${RUN:-run}; SERVICE_RUN=${SERVICE_RUN:-run}
KILLS=${KILLS:-100}; JOBS=${JOBS:-200}; REQUESTS=${REQUESTS:-500}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .whl/*.whl $(ls .whl-http/*.whl 2>/dev/null) || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PATH=/tmp/site/bin:$PATH
nvidia-smi -L | tee "$OUT/device.txt"
timeout 150 python3 -m pytest tests/actors -q -p no:cacheprovider 2>&1 | tee "$OUT/actors_pytest.txt" | tail -3
timeout 230 python3 bench/service/bench_coordinator.py --assets 500 --bars 2520 --live-requests 300 --sweeps 24 --grid 100 \
  --kills "$KILLS" --kill-interval 0.3 --jobs "$JOBS" --out "$OUT/coordinator_h100_$RUN.json" > "$OUT/coordinator_log.txt" 2>&1
echo "coordinator bench rc=$?"
grep -E "^(workers|live|router|fault|kills|targets)" "$OUT/coordinator_log.txt" | cut -c1-400
if ls .whl-http/*.whl > /dev/null 2>&1; then
  timeout 200 python3 bench/service/bench_service.py --requests "$REQUESTS" --out "$OUT/service_h100_$SERVICE_RUN.json" \
    > "$OUT/service_log.txt" 2>&1
  echo "service bench rc=$?"
  grep -E "^(devices|features|direct|layers|load|targets)" "$OUT/service_log.txt" | cut -c1-400
fi
