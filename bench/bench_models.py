"""Model benchmarks (issue 6): prediction through `POST /v1/models/{id}/predict`,
and the fit the service runs, side by side with scikit-learn called directly.

1. fit: RandomForestRegressor (trees and depth from the CLI) on an (rows x 20)
   indicator dataset through a train job, vs. scikit-learn's fit on the same rows
   in this process.
2. predict: N client threads each sending requests of a few rows over HTTP (Serve
   batches them across requests in the replica): rows/s per replica and p50/p99
   latency; vs. scikit-learn predicting one row per call and one big batch.

    python bench/bench_models.py --out bench/results/models_cpu_2core.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.settings import DataConfig, RayConfig, Settings  # noqa: E402
from bench.bench_service import Http, pct  # noqa: E402
from deployments.service import free_port, start_service  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402
from kernels.ml import build_dataset  # noqa: E402

# 20 indicator features (the seed system's model width)
FEATURES = (
    [{"name": "rsi", "params": {"timeperiod": p}} for p in (7, 14, 21, 28)]
    + [{"name": "roc", "params": {"timeperiod": p}} for p in (1, 5, 10, 20)]
    + [{"name": "zscore", "params": {"timeperiod": p}} for p in (10, 20, 40, 60)]
    + [{"name": "rolling_std", "params": {"timeperiod": p}} for p in (5, 10, 20, 40)]
    + [{"name": "atr", "params": {"timeperiod": p}} for p in (7, 14)]
    + [{"name": "obv"}, {"name": "wma", "params": {"timeperiod": 10}}]
)
PREDICT_TARGET_ROWS_S = 20_000
PREDICT_TARGET_P99_MS = 20.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assets", type=int, default=40)
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--depth", type=int, default=12)
    ap.add_argument("--clients", type=int, default=32, help="concurrent HTTP clients")
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of the predict load")
    ap.add_argument("--rows-per-request", type=int, default=200, help="feature rows in one predict request (a universe)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    panel = synthetic_panel(args.assets, args.bars, seed=0)
    data = build_dataset(panel, FEATURES, horizon=5, task="regression")
    params = {"n_estimators": args.trees, "max_depth": args.depth}
    out: dict = {"command": " ".join(sys.argv), "host": platform.machine(), "cpus": os.cpu_count(),
                 "rows": int(data.n_rows), "features": int(data.n_features), "model": "RandomForestRegressor",
                 "params": params}

    from sklearn.ensemble import RandomForestRegressor  # noqa: PLC0415

    t0 = time.perf_counter()
    ref = RandomForestRegressor(**params, n_jobs=-1, random_state=0).fit(data.X, data.y)
    out["sklearn_fit_s"] = time.perf_counter() - t0
    one = data.X[:1]
    ref.set_params(n_jobs=1)  # one row at a time: no thread pool to wake per call
    t0 = time.perf_counter()
    n_single = 50
    for _ in range(n_single):
        ref.predict(one)
    out["sklearn_single_rows_s"] = n_single / (time.perf_counter() - t0)
    ref.set_params(n_jobs=-1)
    t0 = time.perf_counter()
    ref.predict(data.X)
    out["sklearn_batch_rows_s"] = data.n_rows / (time.perf_counter() - t0)
    print(f"sklearn: fit {out['sklearn_fit_s']:.1f} s, predict {out['sklearn_single_rows_s']:.0f} single rows/s, "
          f"{out['sklearn_batch_rows_s']:.0f} rows/s in one batch", flush=True)

    storage = Path(tempfile.mkdtemp(prefix="rq-models-"))
    settings = Settings(storage_dir=storage, data=DataConfig(synthetic_assets=args.assets, synthetic_bars=args.bars),
                        ray=RayConfig(namespace="rayquant-bench-models"), serve={"port": free_port()})
    service = start_service(settings, include_dashboard=False, log_to_driver=False)
    try:
        from urllib.parse import urlparse  # noqa: PLC0415

        parsed = urlparse(service.url)
        host, port = parsed.hostname, parsed.port
        client = Http(host, port)
        t0 = time.perf_counter()
        status, body = client.request("POST", "/v1/models", {
            "name": "rf", "model": "RandomForestRegressor", "params": params, "dataset": "synthetic",
            "features": FEATURES, "horizon": 5, "task": "regression"})
        if status not in (200, 201, 202):
            raise SystemExit(f"training refused: {status} {body}")
        while body.get("state") not in ("succeeded", "failed", "cancelled"):
            time.sleep(0.5)
            status, body = client.request("GET", f"/v1/models/jobs/{body['job_id']}")
        out["service_fit_s"] = time.perf_counter() - t0
        if body["state"] != "succeeded":
            raise SystemExit(f"training failed: {body}")
        record = body.get("record") or {}
        out["service_fit"] = {"backend": record.get("backend"), "tier": body.get("tier"), "metrics": record.get("metrics")}
        print(f"service: train job {out['service_fit_s']:.1f} s ({out['service_fit']})", flush=True)

        lat: list[float] = []
        errors = [0]
        stop = time.monotonic() + args.seconds
        lock = threading.Lock()

        def worker() -> None:
            http = Http(host, port)
            pick = np.random.default_rng(threading.get_ident() % 2**32).integers(0, data.n_rows, args.rows_per_request)
            rows = data.X[pick].tolist()
            mine = []
            while time.monotonic() < stop:
                t = time.perf_counter()
                code, _ = http.request("POST", "/v1/models/rf/predict", {"rows": rows})
                mine.append(time.perf_counter() - t)
                if code != 200:
                    with lock:
                        errors[0] += 1
            with lock:
                lat.extend(mine)
            http.close()

        threads = [threading.Thread(target=worker) for _ in range(args.clients)]
        t0 = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - t0
        ms = [v * 1e3 for v in lat]
        out["predict_http"] = {"clients": args.clients, "rows_per_request": args.rows_per_request,
                               "requests": len(lat), "errors": errors[0],
                               "rows_per_s": len(lat) * args.rows_per_request / elapsed, "p50_ms": pct(ms, 50), "p99_ms": pct(ms, 99),
                               "target_rows_per_s": PREDICT_TARGET_ROWS_S, "target_p99_ms": PREDICT_TARGET_P99_MS}
        print("predict over HTTP:", out["predict_http"], flush=True)
    finally:
        service.stop()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
