"""End-to-end benchmark of streaming features (issue 7) through one Serve replica.

Starts the whole service in-process as `rayquant serve` does (local Ray, coordinator,
workers with their prewarm, one Serve replica), then over real WebSockets
(`websockets` asyncio client, one connection per stream):

  1. closed loop: `--streams` concurrent streams over `--symbols` symbols each; every
     stream sends a batch (one tick per symbol, msgpack binary by default), waits for
     its features, sends the next, for `--duration` s: ticks/s and batch latency
     (send -> features received) p50/p99;
  2. paced: the same streams send at a fixed total rate (`--rate` ticks/s, default the
     target 200,000) for `--duration` s without waiting for answers: achieved ticks/s and
     batch latency p50/p99 at that rate (targets: >= 200,000 ticks/s, p99 <= 10 ms);
  3. feature cache: `--cache-clients` HTTP clients each read `GET /v1/features`
     `--cache-requests` times, choosing among a few popular windows (Zipf) with 10 %
     one-off reads (the seed system's workload); the workers' hit ratio (target > 80 %).

    python bench/service/bench_stream_service.py --out bench/results/stream_service_h100.json
    python bench/service/bench_stream_service.py --streams 100 --symbols 100 --duration 5 --out /tmp/s.json

Needs the project, its dependencies (Ray with Serve; `websockets` and `msgpack` come with them).
"""
from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.timing import write_report  # noqa: E402

from actors.settings import DataConfig, RayConfig, Settings  # noqa: E402
from deployments.service import free_port, start_service  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402

TARGET_TICKS_PER_S = 200_000
TARGET_P99_MS = 10.0
TARGET_HIT_RATIO = 0.8


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else float("nan")


def summary(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1e3 for v in values_s]
    return {"n": len(ms), "p50_ms": pct(ms, 50), "p90_ms": pct(ms, 90), "p99_ms": pct(ms, 99),
            "max_ms": max(ms) if ms else float("nan"), "mean_ms": float(np.mean(ms)) if ms else float("nan")}


class Feed:
    """One stream's synthetic ticks: a random walk from the dataset's last close, one second apart."""

    def __init__(self, symbols: list[str], last_close: np.ndarray, start_s: int, seed: int, fmt: str) -> None:
        self.symbols = symbols
        self.close = np.array(last_close, dtype=np.float64)
        self.t = start_s
        self.rng = np.random.default_rng(seed)
        self.fmt = fmt
        self.seq = 0

    def next(self) -> tuple[int, Any]:
        import msgpack  # noqa: PLC0415

        n = len(self.symbols)
        self.t += 1
        self.seq += 1
        self.close = self.close * np.exp(0.001 * self.rng.standard_normal(n))
        high, low = self.close * 1.0005, self.close * 0.9995
        vol = self.rng.uniform(100, 1000, n).round()
        if self.fmt == "binary":
            t = np.full(n, self.t, dtype="<i8")
            return self.seq, msgpack.packb({"seq": self.seq, "symbol": self.symbols, "time": t.tobytes(),
                                            "high": high.tobytes(), "low": low.tobytes(),
                                            "close": self.close.tobytes(), "volume": vol.tobytes()})
        return self.seq, json.dumps({"seq": self.seq, "symbol": self.symbols, "time": [self.t] * n,
                                     "high": high.tolist(), "low": low.tolist(), "close": self.close.tolist(),
                                     "volume": vol.tolist()})


def decode(raw: Any) -> dict:
    if isinstance(raw, (bytes, bytearray)):
        import msgpack  # noqa: PLC0415

        return msgpack.unpackb(raw)
    return json.loads(raw)


async def open_streams(url: str, n: int, symbols: list[str], history: int | None, deflate: bool) -> list[Any]:
    from websockets.asyncio.client import connect  # noqa: PLC0415

    async def one() -> Any:
        # permessage-deflate off by default: price floats barely compress and zlib costs ~5 us per tick
        ws = await connect(url, open_timeout=300, max_size=None, ping_interval=None,
                           compression="deflate" if deflate else None)
        spec: dict[str, Any] = {"type": "open", "dataset": "synthetic", "symbols": symbols, "time_unit": "s"}
        if history:
            spec["history"] = history
        await ws.send(json.dumps(spec))
        msg = json.loads(await ws.recv())
        if msg.get("type") != "opened":
            raise RuntimeError(f"open failed: {msg}")
        return ws, msg

    out = []
    for k in range(0, n, 20):  # opens in waves (each seeds or restores a state on a worker)
        out += await asyncio.gather(*(one() for _ in range(min(20, n - k))))
    return out


async def closed_loop(conns: list, feeds: list[Feed], duration: float) -> dict[str, Any]:
    lat: list[float] = []
    server: list[float] = []
    ticks = [0]
    errors: list[str] = []
    stop = time.perf_counter() + duration

    async def run(ws: Any, feed: Feed) -> None:
        while time.perf_counter() < stop:
            _, frame = feed.next()
            t0 = time.perf_counter()
            await ws.send(frame)
            msg = decode(await ws.recv())
            lat.append(time.perf_counter() - t0)
            if msg.get("type") != "features":
                errors.append(str(msg)[:300])
            else:
                ticks[0] += int(msg["rows"])
                server.append(float(msg["server_ms"]) / 1e3)

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(run(ws, f) for ws, f in zip(conns, feeds)))
    elapsed = time.perf_counter() - t0
    return {"elapsed_s": elapsed, "ticks": ticks[0], "ticks_per_s": ticks[0] / elapsed, "batches": len(lat),
            "batch_latency": summary(lat), "in_replica_handler": summary(server), "errors": len(errors),
            "first_errors": errors[:3], "client_cpu_fraction": (time.process_time() - cpu0) / elapsed}


async def paced(conns: list, feeds: list[Feed], rate_ticks: float, duration: float) -> dict[str, Any]:
    n_streams = len(conns)
    per_batch = len(feeds[0].symbols)
    interval = n_streams * per_batch / rate_ticks  # seconds between two batches of one stream
    lat: list[float] = []
    server: list[float] = []
    ticks = [0]
    errors: list[str] = []
    late = [0]

    async def run(i: int, ws: Any, feed: Feed) -> None:
        sent: dict[int, float] = {}
        start = time.perf_counter() + interval * i / n_streams  # staggered
        n_batches = max(1, int(duration / interval))

        async def sender() -> None:
            for k in range(n_batches):
                delay = start + k * interval - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    late[0] += 1
                seq, frame = feed.next()
                sent[seq] = time.perf_counter()
                await ws.send(frame)

        async def receiver() -> None:
            for _ in range(n_batches):
                msg = decode(await ws.recv())
                now = time.perf_counter()
                if msg.get("type") != "features":
                    errors.append(str(msg)[:300])
                    continue
                lat.append(now - sent.pop(msg["seq"]))
                server.append(float(msg["server_ms"]) / 1e3)
                ticks[0] += int(msg["rows"])

        await asyncio.gather(sender(), receiver())

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(run(i, ws, f) for i, (ws, f) in enumerate(zip(conns, feeds))))
    elapsed = time.perf_counter() - t0
    return {"target_ticks_per_s": rate_ticks, "elapsed_s": elapsed, "ticks": ticks[0],
            "ticks_per_s": ticks[0] / elapsed, "batches": len(lat), "batch_interval_per_stream_ms": interval * 1e3,
            "batch_latency": summary(lat), "in_replica_handler": summary(server), "errors": len(errors),
            "first_errors": errors[:3], "late_sends": late[0], "client_cpu_fraction": (time.process_time() - cpu0) / elapsed}


def worker_status(coordinator: Any) -> dict[str, Any]:
    import ray  # noqa: PLC0415

    out = {}
    for d in ray.get(coordinator.devices.remote()):
        wid = d.get("worker_id")
        try:
            handle = ray.get(coordinator.worker_handle.remote(wid))
            st = ray.get(handle.status.remote(), timeout=60)
            out[wid] = {"feature_cache": st.get("feature_cache"), "streams": st.get("streams")}
        except Exception as exc:  # noqa: BLE001 - report what we can
            out[wid] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def cache_workload(host: str, port: int, symbols: list[str], clients: int, requests: int) -> dict[str, Any]:
    """Many clients reading a few popular feature windows (Zipf), 10 % one-off reads."""
    popular = []
    for i in range(3):
        for window in (1, 5, 20):
            syms = ",".join(symbols[i * 4: i * 4 + 4])
            popular.append(f"/v1/features?dataset=synthetic&indicator=rsi:timeperiod=14&indicator=ema:timeperiod=20"
                           f"&symbols={syms}&window={window}")
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def client(cid: int) -> None:
        rng = np.random.default_rng(cid)
        conn = http.client.HTTPConnection(host, port, timeout=300)
        for r in range(requests):
            if rng.random() < 0.1:
                path = (f"/v1/features?dataset=synthetic&indicator=sma:timeperiod={5 + cid}"
                        f"&symbols={symbols[(cid + r) % len(symbols)]}&window={1 + r}")
            else:
                path = popular[min(int(rng.zipf(1.6)) - 1, len(popular) - 1)]
            t0 = time.perf_counter()
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            with lock:
                lat.append(time.perf_counter() - t0)
                if resp.status != 200:
                    errors[0] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"clients": clients, "requests": clients * requests, "elapsed_s": time.perf_counter() - t0,
            "latency": summary(lat), "errors": errors[0], "popular_windows": len(popular)}


def cache_ratio(before: dict, after: dict) -> dict[str, Any]:
    hits = misses = 0
    for wid, a in after.items():
        fa = (a or {}).get("feature_cache") or {}
        fb = ((before.get(wid) or {}).get("feature_cache")) or {}
        hits += int(fa.get("hits", 0)) - int(fb.get("hits", 0))
        misses += int(fa.get("misses", 0)) - int(fb.get("misses", 0))
    total = hits + misses
    return {"hits": hits, "misses": misses, "hit_ratio": hits / total if total else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--assets", type=int, default=500, help="synthetic universe: assets")
    ap.add_argument("--bars", type=int, default=500, help="synthetic universe: bars (the streams' history)")
    ap.add_argument("--streams", type=int, default=100, help="concurrent streams (one WebSocket each)")
    ap.add_argument("--symbols", type=int, nargs="+", default=[500],
                    help="symbols per stream = ticks per batch (several values: one run each, same service)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of each load phase")
    ap.add_argument("--rate", type=float, default=TARGET_TICKS_PER_S, help="paced phase: total ticks/s")
    ap.add_argument("--format", choices=("binary", "json"), default="binary")
    ap.add_argument("--deflate", action="store_true", help="negotiate permessage-deflate (off by default)")
    ap.add_argument("--via", choices=("both", "direct", "proxy"), default="both",
                    help="WebSocket to the replica's own server (Serve direct ingress) and/or through the proxy")
    ap.add_argument("--cache-clients", type=int, default=16)
    ap.add_argument("--cache-requests", type=int, default=50)
    ap.add_argument("--cpu-workers", type=int, default=1)
    ap.add_argument("--num-cpus", type=int, default=None)
    ap.add_argument("--replica-cpus", type=float, default=1.0)
    args = ap.parse_args(argv)

    storage = Path(tempfile.mkdtemp(prefix="rayquant-stream-bench-"))
    port = free_port()
    settings = Settings(
        storage_dir=storage,
        data=DataConfig(synthetic_assets=args.assets, synthetic_bars=args.bars),
        ray=RayConfig(namespace="rayquant-stream-bench"),
        coordinator={"cpu_workers": args.cpu_workers, "result_cache_enabled": False},
        serve={"port": port, "replica_num_cpus": args.replica_cpus},
        streams={"max_ticks": max(args.symbols) * 4},
    )
    if max(args.symbols) > args.assets:
        ap.error("--symbols must be <= --assets")
    panel = synthetic_panel(args.assets, args.bars, seed=settings.data.synthetic_seed)
    start_s = int(panel.index[-1].astype("datetime64[s]").astype(np.int64))
    report: dict[str, Any] = {
        "benchmark": "stream_service",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "host": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                 "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None},
        "dtype": "float64",
        "config": vars(args),
    }
    t0 = time.perf_counter()
    service = start_service(settings, num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    report["startup_s"] = time.perf_counter() - t0
    urls = {"proxy": service.url.replace("http://", "ws://") + "/v1/stream"}
    direct = getattr(service, "direct_url", None)
    if direct:
        urls["direct"] = direct.replace("http://", "ws://").rstrip("/") + "/v1/stream"
    report["urls"] = urls
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request("GET", "/v1/devices")
        devices = json.loads(conn.getresponse().read())
        conn.close()
        report["devices"] = [{k: d.get(k) for k in ("worker_id", "kind", "label", "simulated", "backend")}
                             for d in devices]
        print("devices:", ", ".join(f"{d['worker_id']}={d['label']}{' (simulated)' if d['simulated'] else ''}"
                                    for d in report["devices"]), flush=True)

        async def ws_phases(via: str, n_symbols: int) -> dict[str, Any]:
            url = urls[via]
            run: dict[str, Any] = {"via": via, "symbols_per_stream": n_symbols, "streams": args.streams}
            symbols = list(panel.symbols[:n_symbols])
            last_close = panel.close[-1, :n_symbols]
            t = time.perf_counter()
            opened = await open_streams(url, args.streams, symbols, None, args.deflate)
            run["open_s"] = time.perf_counter() - t
            conns = [ws for ws, _ in opened]
            run["stream_workers"] = sorted({o["worker_id"] for _, o in opened})
            print(f"[{via}] opened {len(conns)} streams x {len(symbols)} symbols in {run['open_s']:.1f} s on "
                  f"{run['stream_workers']} ({args.format} frames)", flush=True)
            feeds = [Feed(symbols, last_close, start_s, seed=i, fmt=args.format) for i in range(len(conns))]
            await closed_loop(conns, feeds, min(2.0, args.duration))  # warm-up
            cl = await closed_loop(conns, feeds, args.duration)
            run["closed_loop"] = cl
            print(f"closed loop: {cl['ticks_per_s']:,.0f} ticks/s ({cl['batches']} batches), batch latency p50 "
                  f"{cl['batch_latency']['p50_ms']:.2f} ms p99 {cl['batch_latency']['p99_ms']:.2f} ms (in the replica's "
                  f"handler p50 {cl['in_replica_handler']['p50_ms']:.2f} ms), "
                  f"{cl['errors']} errors, client CPU {cl['client_cpu_fraction']:.0%}", flush=True)
            pc = await paced(conns, feeds, args.rate, args.duration)
            run["paced"] = pc
            print(f"paced at {args.rate:,.0f} ticks/s: achieved {pc['ticks_per_s']:,.0f} ticks/s, batch latency p50 "
                  f"{pc['batch_latency']['p50_ms']:.2f} ms p99 {pc['batch_latency']['p99_ms']:.2f} ms (handler p50 "
                  f"{pc['in_replica_handler']['p50_ms']:.2f} ms p99 {pc['in_replica_handler']['p99_ms']:.2f} ms), "
                  f"{pc['errors']} errors, {pc['late_sends']} late sends, client CPU "
                  f"{pc['client_cpu_fraction']:.0%}", flush=True)
            for ws in conns:
                await ws.send(json.dumps({"type": "close"}))
                await ws.close()
            return run

        vias = [v for v in (("direct", "proxy") if args.via == "both" else (args.via,)) if v in urls]
        report["runs"] = [asyncio.run(ws_phases(v, n)) for v in vias for n in args.symbols]
        before = worker_status(service.coordinator)
        cache = cache_workload("127.0.0.1", port, list(panel.symbols), args.cache_clients, args.cache_requests)
        after = worker_status(service.coordinator)
        cache["workers"] = cache_ratio(before, after)
        report["feature_cache"] = cache
        report["worker_status"] = after
        ratio = cache["workers"]["hit_ratio"]
        print(f"feature cache: {cache['requests']} GET /v1/features from {cache['clients']} clients, hit ratio "
              f"{ratio if ratio is None else f'{ratio:.1%}'}, latency p50 {cache['latency']['p50_ms']:.2f} ms "
              f"p99 {cache['latency']['p99_ms']:.2f} ms, {cache['errors']} errors", flush=True)

        first = report["runs"][0]  # the headline: the first --symbols value (direct ingress when there is one)
        best = max(first["closed_loop"]["ticks_per_s"], first["paced"]["ticks_per_s"])
        p99 = first["paced"]["batch_latency"]["p99_ms"]
        report["targets"] = {
            "ticks_per_s": {"target": TARGET_TICKS_PER_S, "measured": best, "met": best >= TARGET_TICKS_PER_S,
                            "symbols_per_stream": first["symbols_per_stream"], "via": first["via"]},
            "p99_batch_latency_ms_paced": {"target": TARGET_P99_MS, "measured": p99, "met": p99 <= TARGET_P99_MS,
                                           "at_ticks_per_s": first["paced"]["ticks_per_s"]},
            "concurrent_streams": {"target": 100, "measured": args.streams,
                                   "met": args.streams >= 100 and all(r["closed_loop"]["errors"] == 0
                                                                      and r["paced"]["errors"] == 0
                                                                      for r in report["runs"])},
            "feature_cache_hit_ratio": {"target": TARGET_HIT_RATIO, "measured": ratio,
                                        "met": ratio is not None and ratio > TARGET_HIT_RATIO},
        }
        if not any(d["kind"] == "gpu" and not d["simulated"] for d in report["devices"]):
            report["note"] = ("targets are for a GPU machine; here the workers are a simulated device and a CPU "
                              "worker, both on the CPU backend")
    finally:
        service.stop()
        shutil.rmtree(storage, ignore_errors=True)
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
