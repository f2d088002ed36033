"""Model benchmarks (issue 6): prediction through `POST /v1/models/{id}/predict`,
the packed-forest kernels against scikit-learn, and the fit the service runs.

1. fit: RandomForestRegressor (trees and depth from the CLI) on an (rows x 20)
   indicator dataset through a train job, vs. scikit-learn's fit on the same rows
   in this process.
2. kernels: scikit-learn's predict (one row, one request of --rows-per-request
   rows, the whole dataset) vs. `kernels.ml.forest` on the CPU (Numba) and, where
   CuPy sees a GPU, the CUDA kernel (device-resident rows, timed with
   `cupyx.profiler.benchmark`, and host-to-host); each result's largest
   difference from scikit-learn is recorded.
3. predict over HTTP, per replica (the service runs one): closed-loop clients,
   each in its own process (a spawn pool, so the clients' JSON encoding and
   sockets never share a GIL with each other or with this process), each sending
   requests of --rows-per-request rows for --seconds after a common start; for
   each body format (`rows`, `ndarray`), each client count and each address (the
   Serve proxy, and the replica's own direct-ingress address when the service
   has one): rows/s, p50/p99 latency, errors, mean X-Batch-Size.

    python bench/service/bench_models.py --clients 1,4,8 --rows-per-request 200,1000 \
        --out bench/results/models_cpu_2core_run2.json
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

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


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else float("nan")


def predict_body(X: np.ndarray, kind: str) -> bytes:
    """The JSON body of a predict request for rows X, as `rows`, `columns` or `ndarray`."""
    if kind == "rows":
        return json.dumps({"rows": X.tolist()}).encode()
    if kind == "columns":
        return json.dumps({"columns": X.T.tolist()}).encode()
    data = base64.b64encode(np.ascontiguousarray(X, dtype="<f8").tobytes()).decode()
    return json.dumps({"ndarray": {"shape": list(X.shape), "dtype": "float64", "data": data}}).encode()


def client_loop(host: str, port: int, path: str, body: bytes, start_at: float, seconds: float) -> dict[str, Any]:
    """One closed-loop client (run in its own process): latencies of the requests sent in the window."""
    conn = http.client.HTTPConnection(host, port, timeout=60)
    headers = {"Content-Type": "application/json"}
    lat: list[float] = []
    batches: list[int] = []
    app_ms: list[float] = []
    predict_ms: list[float] = []
    errors = 0
    while time.time() < start_at:
        time.sleep(0.001)
    stop = start_at + seconds
    while time.time() < stop:
        t = time.perf_counter()
        try:
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
            batch = int(resp.getheader("X-Batch-Size") or 0)
            for part in (resp.getheader("Server-Timing") or "").split(","):
                name, _, dur = part.strip().partition(";dur=")
                if name in ("app", "predict") and dur:
                    (app_ms if name == "app" else predict_ms).append(float(dur))
        except (http.client.HTTPException, OSError):
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=60)
            status, batch = 0, 0
        done = time.perf_counter()
        if status == 200:
            lat.append(done - t)
            batches.append(batch)
        else:
            errors += 1
    conn.close()
    return {"lat": lat, "batches": batches, "errors": errors, "app_ms": app_ms, "predict_ms": predict_ms}


def load_phase(pool: Any, url: str, path: str, body: bytes, rows: int, clients: int, seconds: float) -> dict:
    from urllib.parse import urlparse  # noqa: PLC0415

    parsed = urlparse(url)
    start_at = time.time() + 1.5  # every client process is up and connected by then
    futures = [pool.submit(client_loop, parsed.hostname, parsed.port, path, body, start_at, seconds)
               for _ in range(clients)]
    parts = [f.result() for f in futures]
    lat = [v * 1e3 for p in parts for v in p["lat"]]
    batches = [b for p in parts for b in p["batches"]]
    app_ms = [v for p in parts for v in p["app_ms"]]
    predict_ms = [v for p in parts for v in p["predict_ms"]]
    return {"clients": clients, "rows_per_request": rows, "requests": len(lat),
            "errors": sum(p["errors"] for p in parts), "rows_per_s": len(lat) * rows / seconds,
            "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "max_ms": max(lat) if lat else float("nan"),
            "mean_batch_size": float(np.mean(batches)) if batches else float("nan"),
            # Server-Timing: time in the route (app) and waiting for the batched kernel call (predict)
            "server_app_p50_ms": pct(app_ms, 50), "server_predict_p50_ms": pct(predict_ms, 50),
            "meets_target": bool(lat) and len(lat) * rows / seconds >= PREDICT_TARGET_ROWS_S
            and pct(lat, 99) <= PREDICT_TARGET_P99_MS}


def rate(fn: Callable[[], Any], rows: int, min_s: float = 1.0) -> float:
    """rows/s of fn() (after one warm-up call), repeated for at least min_s."""
    fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= min_s:
            return n * rows / dt


def kernel_section(ref: Any, X: np.ndarray, rows_per_request: int) -> dict[str, Any]:
    from kernels.backend import gpu_available  # noqa: PLC0415
    from kernels.ml import forest  # noqa: PLC0415

    out: dict[str, Any] = {}
    one, req = X[:1], X[:rows_per_request]
    ref.set_params(n_jobs=1)  # the serving setting (kernels.ml.models.PREDICT_N_JOBS)
    out["sklearn_single_rows_s"] = rate(lambda: ref.predict(one), 1)
    out["sklearn_request_rows_s"] = rate(lambda: ref.predict(req), len(req))
    ref.set_params(n_jobs=-1)
    out["sklearn_batch_rows_s"] = rate(lambda: ref.predict(X), len(X))
    ref.set_params(n_jobs=1)  # threads add the trees in any order: compare with the sequential sum
    want = ref.predict(X)
    t0 = time.perf_counter()
    packed = forest.pack_forest(ref)
    out["pack_s"] = time.perf_counter() - t0
    out["packed_nodes"], out["packed_bytes"] = packed.n_nodes, packed.nbytes
    forest.warmups(packed)
    out["cpu_single_rows_s"] = rate(lambda: forest.forest_predict(packed, one), 1)
    out["cpu_request_rows_s"] = rate(lambda: forest.forest_predict(packed, req, parallel=False), len(req))
    out["cpu_batch_serial_rows_s"] = rate(lambda: forest.forest_predict(packed, X, parallel=False), len(X))
    out["cpu_batch_parallel_rows_s"] = rate(lambda: forest.forest_predict(packed, X, parallel=True), len(X))
    out["cpu_max_abs_diff"] = float(np.abs(forest.forest_predict(packed, X) - want).max())
    out["cpu_bit_identical"] = bool(np.array_equal(forest.forest_predict(packed, X), want))
    if gpu_available():
        import cupy  # noqa: PLC0415
        from cupyx.profiler import benchmark  # noqa: PLC0415

        from kernels.ml.forest import gpu  # noqa: PLC0415

        out["gpu_name"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
        got = forest.forest_predict(packed, X, "gpu")
        out["gpu_max_abs_diff"] = float(np.abs(got - want).max())
        out["gpu_bit_identical"] = bool(np.array_equal(got, want))
        dev = gpu.to_device(packed)
        big = np.concatenate([X] * max(1, 1_000_000 // len(X)))
        for label, rows in (("request", req), ("dataset", X), ("1m", big)):
            xt = cupy.ascontiguousarray(cupy.asarray(rows, dtype=cupy.float32).T)
            res = cupy.empty((rows.shape[0], 1), dtype=cupy.float64)
            timing = benchmark(gpu.forest_sum, (dev, xt, res), n_repeat=20, n_warmup=3)
            gpu_s = float(np.mean(timing.gpu_times))
            out[f"gpu_kernel_{label}_rows"] = int(rows.shape[0])
            out[f"gpu_kernel_{label}_ms"] = gpu_s * 1e3
            out[f"gpu_kernel_{label}_rows_s"] = rows.shape[0] / gpu_s
        out["gpu_host_to_host_request_rows_s"] = rate(lambda: gpu.forest_raw(dev, req), len(req))
        out["gpu_host_to_host_dataset_rows_s"] = rate(lambda: gpu.forest_raw(dev, X), len(X))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assets", type=int, default=40)
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--depth", type=int, default=12)
    ap.add_argument("--clients", default="1,4,8", help="comma-separated client-process counts")
    ap.add_argument("--bodies", default="rows,ndarray", help="comma-separated body formats (rows, columns, ndarray)")
    ap.add_argument("--seconds", type=float, default=8.0, help="duration of each predict load phase")
    ap.add_argument("--rows-per-request", default="200", help="comma-separated rows in one predict request")
    ap.add_argument("--skip-http", action="store_true", help="kernels only")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    from actors.settings import DataConfig, RayConfig, Settings  # noqa: PLC0415
    from deployments.service import free_port, start_service  # noqa: PLC0415
    from kernels.data import synthetic_panel  # noqa: PLC0415
    from kernels.ml import build_dataset  # noqa: PLC0415

    panel = synthetic_panel(args.assets, args.bars, seed=0)
    data = build_dataset(panel, FEATURES, horizon=5, task="regression")
    params = {"n_estimators": args.trees, "max_depth": args.depth}
    out: dict = {"command": " ".join(sys.argv), "host": platform.machine(), "cpus": os.cpu_count(),
                 "load_average_at_start": os.getloadavg(),
                 "rows": int(data.n_rows), "features": int(data.n_features), "model": "RandomForestRegressor",
                 "params": params}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)

    from sklearn.ensemble import RandomForestRegressor  # noqa: PLC0415

    t0 = time.perf_counter()
    ref = RandomForestRegressor(**params, n_jobs=-1, random_state=0).fit(data.X, data.y)
    out["sklearn_fit_s"] = time.perf_counter() - t0
    sizes = [int(r) for r in args.rows_per_request.split(",")]
    out["kernels"] = kernel_section(ref, data.X, sizes[0])
    print("kernels:", json.dumps(out["kernels"]), flush=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=str))
    if args.skip_http:
        return 0

    import multiprocessing  # noqa: PLC0415
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415
    from urllib.parse import urlparse  # noqa: PLC0415

    from bench.service.bench_service import Http  # noqa: PLC0415

    clients = [int(c) for c in args.clients.split(",")]
    storage = Path(tempfile.mkdtemp(prefix="rq-models-"))
    settings = Settings(storage_dir=storage, data=DataConfig(synthetic_assets=args.assets, synthetic_bars=args.bars),
                        ray=RayConfig(namespace="rayquant-bench-models"), serve={"port": free_port()})
    out["serve"] = {"num_replicas": settings.serve.num_replicas, "max_ongoing_requests":
                    settings.serve.max_ongoing_requests, "replica_num_cpus": settings.serve.replica_num_cpus}
    service = start_service(settings, include_dashboard=False, log_to_driver=False)
    pool = ProcessPoolExecutor(max(clients), mp_context=multiprocessing.get_context("spawn"))
    try:
        parsed = urlparse(service.url)
        client = Http(parsed.hostname, parsed.port)
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
        out["service_fit"] = {"backend": record.get("backend"), "tier": body.get("tier"),
                              "metrics": record.get("metrics")}
        print(f"service: train job {out['service_fit_s']:.1f} s ({out['service_fit']})", flush=True)

        urls = {"proxy": service.url}
        if getattr(service, "direct_url", None):
            urls["direct"] = service.direct_url
        path = "/v1/models/rf/predict"
        X0 = data.X[:sizes[0]]
        for _ in range(5):  # model load + kernel compile happen here, not in the timed phases
            client.request("POST", path, {"rows": X0.tolist()})
        out["serve_floor_ms"] = {}  # GET /healthz one at a time: Serve's own cost per request
        for where, url in urls.items():
            parsed = urlparse(url)
            floor = Http(parsed.hostname, parsed.port)
            lat = []
            for _ in range(100):
                t = time.perf_counter()
                floor.request("GET", "/healthz")
                lat.append((time.perf_counter() - t) * 1e3)
            floor.close()
            out["serve_floor_ms"][where] = {"p50": pct(lat[10:], 50), "p99": pct(lat[10:], 99)}
        print("serve floor:", out["serve_floor_ms"], flush=True)
        list(pool.map(time.sleep, [0.0] * max(clients)))  # start the client processes
        out["predict_http"] = []
        for where, url in urls.items():
            for rows in sizes:
                X = data.X[np.random.default_rng(rows).integers(0, data.n_rows, rows)]
                for kind in args.bodies.split(","):
                    body_bytes = predict_body(X, kind)
                    for n in clients:
                        res = {"address": where, "body": kind, "body_bytes": len(body_bytes),
                               **load_phase(pool, url, path, body_bytes, len(X), n, args.seconds)}
                        out["predict_http"].append(res)
                        print("predict over HTTP:", json.dumps(res), flush=True)
                        Path(args.out).write_text(json.dumps(out, indent=2, default=str))
        best = [r for r in out["predict_http"] if r["meets_target"]]
        out["target"] = {"rows_per_s": PREDICT_TARGET_ROWS_S, "p99_ms": PREDICT_TARGET_P99_MS,
                         "met_by": [f"{r['address']}/{r['body']}/{r['rows_per_request']} rows/{r['clients']} clients"
                                    for r in best]}
        print("target met by:", out["target"]["met_by"] or "none", flush=True)
    finally:
        pool.shutdown(cancel_futures=True)
        service.stop()
    out["load_average_at_end"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
