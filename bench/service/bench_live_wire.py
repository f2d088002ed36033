"""The live channel's data-only encoding (msgpack, `actors.live.wire`) against the pickle it
replaced, on the messages live work sends: a features WorkItem and its FeatureBlock result
(window x symbols x labels float64), then a round trip over a real ChannelServer/ChannelClient
socket on loopback with an echo handler.

    python bench/service/bench_live_wire.py --symbols 50 --window 20 --labels 8 --repeat 2000 --out wire.json

Prints the host and sizes, per-message encode+decode medians (us) for pickle and wire, the
channel round-trip p50/p99 (us), and writes JSON.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import pickle
import platform
import statistics
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--symbols", type=int, default=50)
    ap.add_argument("--window", type=int, default=20)
    ap.add_argument("--labels", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=2000)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    from actors.config import LiveChannelConfig
    from actors.jobs.plans import ChunkSpec, FeatureBlock
    from actors.live import wire
    from actors.live.channel import ChannelClient, ChannelServer
    from actors.messages import WorkItem, WorkResult

    rng = np.random.default_rng(0)
    symbols = tuple(f"S{i:04d}" for i in range(args.symbols))
    item = WorkItem("live", "features", {"dataset": "synthetic", "symbols": list(symbols), "window": args.window,
                                         "indicators": [{"name": "rsi", "params": {"timeperiod": 14}}]},
                    ChunkSpec(0, (0, args.symbols)), 0, "live", "synthetic", "0123456789abcdef")
    block = FeatureBlock(np.arange(args.window).astype("datetime64[ns]"), symbols,
                         {f"f{k}": rng.standard_normal((args.window, args.symbols)) for k in range(args.labels)})
    result = WorkResult("live", 0, "gpu-0", "gpu:0", "gpu", False, 1e-4, block, {"feature_cache": "miss"})

    def median_us(fn) -> float:
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1e6

    report: dict = {"host": platform.node(), "cpu": platform.processor() or platform.machine(),
                    "python": platform.python_version(), "symbols": args.symbols, "window": args.window,
                    "labels": args.labels, "repeat": args.repeat, "dtype": "float64"}
    for name, msg in (("item", item), ("result", result)):
        report[name] = {
            "pickle_bytes": len(pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)),
            "wire_bytes": len(wire.encode(msg)),
            "pickle_us": median_us(lambda: pickle.loads(pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL))),
            "wire_us": median_us(lambda: wire.decode(wire.encode(msg))),
        }

    cfg = LiveChannelConfig()
    server = ChannelServer(lambda m: result, "127.0.0.1", cfg)
    client = ChannelClient(server.address, cfg)

    async def round_trips() -> list[float]:
        await client.call(item)  # connect
        out = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            await client.call(item)
            out.append(time.perf_counter() - t0)
        return out

    try:
        rt = sorted(asyncio.run(round_trips()))
    finally:
        server.close()
    report["channel_round_trip_us"] = {"p50": rt[len(rt) // 2] * 1e6, "p99": rt[int(len(rt) * 0.99)] * 1e6}
    print(f"host {report['host']} ({report['cpu']}), python {report['python']}; {args.symbols} symbols x "
          f"{args.window} bars x {args.labels} labels float64")
    for name in ("item", "result"):
        r = report[name]
        print(f"{name:6s} pickle {r['pickle_bytes']:7d} B {r['pickle_us']:8.1f} us | wire {r['wire_bytes']:7d} B "
              f"{r['wire_us']:8.1f} us (encode+decode, median)")
    print(f"channel round trip (item -> result, echo handler): p50 {report['channel_round_trip_us']['p50']:.1f} us, "
          f"p99 {report['channel_round_trip_us']['p99']:.1f} us")
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=2)


if __name__ == "__main__":
    main()
