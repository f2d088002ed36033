"""gRPC vs HTTP round trips for small live requests, in one run on one machine.

Starts the service (local Ray, coordinator, Serve with the live application, direct ingress and
the gRPC proxy), trains a small Ridge model, then times, one request after the other:

- ComputeFeatures (RSI over the latest bar of `--symbols` symbols of the synthetic dataset) and
- Predict (one feature row)

over gRPC through Serve's gRPC proxy, over gRPC straight to the live replica (direct ingress, when
Serve gives the replica a gRPC port), and over HTTP through the proxy and through direct ingress.
Reports p50/p99 round trips per path and the gRPC-proxy target (issue 17: p50 <= 2 ms, measured
on the GPU machine). The command is recorded in the JSON.

    python bench/service/bench_grpc.py --out bench/results/grpc_cpu.json
    python bench/service/bench_grpc.py --requests 2000 --out $OUT/grpc_h100.json      # bench/device/service/gpu_grpc.sh
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from actors.settings import DataConfig, RayConfig, Settings  # noqa: E402
from bench.timing import cpu_model, write_report  # noqa: E402
from deployments.grpc_api.client import GrpcClient  # noqa: E402
from deployments.protos import common_pb2 as cm  # noqa: E402
from deployments.protos import ml_pb2 as ml  # noqa: E402
from deployments.protos import realtime_pb2 as rt  # noqa: E402
from deployments.service import free_port, start_service  # noqa: E402

TARGET_GRPC_PROXY_P50_MS = 2.0
FEATURES = [{"name": "rsi", "params": {"timeperiod": 14}}, {"name": "roc"}]


def percentiles(times_s: list[float]) -> dict[str, float]:
    ms = np.asarray(times_s) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90)),
            "p99_ms": float(np.percentile(ms, 99)), "mean_ms": float(ms.mean()), "n": int(ms.size)}


def timed(fn: Callable[[], Any], n: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return percentiles(out)


def grpc_direct_target(app_name: str, host: str, proxy_target: Optional[str]) -> Optional[str]:
    """The live replica's own gRPC port (Serve direct ingress), if Serve gives it one."""
    import ray  # noqa: PLC0415
    from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE  # noqa: PLC0415

    try:
        controller = ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
        groups = ray.get(controller.get_target_groups.remote(app_name), timeout=10)
    except Exception as exc:  # noqa: BLE001 - an alpha API; the other paths still run
        print(f"no direct gRPC target: {type(exc).__name__}: {exc}", flush=True)
        return None
    proxy_port = int(proxy_target.rsplit(":", 1)[1]) if proxy_target else None
    for group in groups:
        if str(getattr(group.protocol, "value", group.protocol)).upper() == "GRPC" and group.app_name == app_name:
            for target in group.targets:
                if target.port != proxy_port:
                    return f"{host}:{target.port}"
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--assets", type=int, default=20)
    ap.add_argument("--bars", type=int, default=500)
    ap.add_argument("--symbols", type=int, default=4, help="symbols of the ComputeFeatures request")
    ap.add_argument("--requests", type=int, default=500, help="timed requests per path and call")
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--num-cpus", type=int, default=None)
    args = ap.parse_args(argv)

    import httpx  # noqa: PLC0415

    settings = Settings(
        storage_dir=Path(tempfile.mkdtemp(prefix="rayquant-bench-grpc-")),
        data=DataConfig(synthetic_assets=args.assets, synthetic_bars=args.bars),
        ray=RayConfig(namespace="rayquant-bench-grpc"),
        coordinator={"cpu_workers": 1},
        serve={"port": free_port(), "grpc_port": 0, "replica_num_cpus": 0, "autoscaling": False},
    )
    report: dict[str, Any] = {
        "benchmark": "grpc",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "host": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                 "cpu_model": cpu_model(), "load_average_at_start": os.getloadavg()},
        "dtype": "float64",
        "config": vars(args),
    }
    t0 = time.perf_counter()
    service = start_service(settings, num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    report["startup_s"] = time.perf_counter() - t0
    try:
        symbols = [f"S{i:04d}" for i in range(args.symbols)]
        live_http = {"http_proxy": service.live_url or service.url,
                     "http_direct_ingress": service.live_direct_url or service.direct_url}
        host = service.grpc_target.rsplit(":", 1)[0]
        live_app = settings.serve.live_app_name if service.live_url else settings.serve.app_name
        grpc_paths = {"grpc_proxy": (service.grpc_target, live_app),
                      "grpc_direct_ingress": (grpc_direct_target(live_app, host, service.grpc_target), live_app)}
        report["paths"] = {**live_http, **{k: v[0] for k, v in grpc_paths.items()}}
        with httpx.Client(base_url=service.url, timeout=300) as http:
            devices = http.get("/v1/devices").json()
            report["devices"] = [{k: d.get(k) for k in ("worker_id", "kind", "label", "simulated")} for d in devices]
            trained = http.post("/v1/models", params={"wait": "true"}, json={
                "name": "bench_ridge", "model": "Ridge", "features": FEATURES, "horizon": 5}).json()
            assert trained["state"] == "succeeded", trained
            n_features = trained["record"]["n_features"]
        print("devices:", report["devices"], "| model features:", n_features, flush=True)
        row = [[0.1 * (i + 1) for i in range(n_features)]]
        feat_body = {"dataset": "synthetic", "symbols": symbols, "indicators": FEATURES[:1], "window": 1}
        feat_req = rt.FeaturesRequest(dataset="synthetic", symbols=symbols, window=1,
                                      indicators=[cm.Indicator(name="rsi", params={"timeperiod": 14})])
        pred_req = ml.PredictRequest(model_id="bench_ridge@1", rows=cm.Matrix(rows=1, cols=n_features,
                                                                              values=row[0]))
        results: dict[str, dict[str, Any]] = {"ComputeFeatures": {}, "Predict": {}}
        for name, url in live_http.items():
            if not url:
                continue
            with httpx.Client(base_url=url, timeout=60) as c:
                results["ComputeFeatures"][name] = timed(
                    lambda: c.post("/v1/features", json=feat_body).raise_for_status(), args.requests, args.warmup)
                results["Predict"][name] = timed(
                    lambda: c.post("/v1/models/bench_ridge@1/predict", json={"rows": row}).raise_for_status(),
                    args.requests, args.warmup)
        for name, (target, app) in grpc_paths.items():
            if not target:
                continue
            with GrpcClient(target, application=app, live_application=app) as g:
                md = g.metadata(live=True)
                results["ComputeFeatures"][name] = timed(
                    lambda: g.realtime.ComputeFeatures(feat_req, metadata=md, timeout=60), args.requests, args.warmup)
                results["Predict"][name] = timed(
                    lambda: g.models.Predict(pred_req, metadata=md, timeout=60), args.requests, args.warmup)
        report["results"] = results
        for call, paths in results.items():
            for name, r in paths.items():
                print(f"{call:16s} {name:20s} p50 {r['p50_ms']:7.3f} ms  p99 {r['p99_ms']:7.3f} ms", flush=True)
        report["targets"] = {
            f"{call}_grpc_proxy_p50_le_{TARGET_GRPC_PROXY_P50_MS:g}ms": {
                "value_ms": paths["grpc_proxy"]["p50_ms"], "bound_ms": TARGET_GRPC_PROXY_P50_MS,
                "met": paths["grpc_proxy"]["p50_ms"] <= TARGET_GRPC_PROXY_P50_MS}
            for call, paths in results.items() if "grpc_proxy" in paths}
    finally:
        service.stop()
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
