"""One memory truth under a mixed workload, and REALTIME latency under memory pressure.

On one device (a real GPU when CuPy sees one, else a simulated device):
1. idle: a REALTIME tenant computes an indicator over a preloaded panel, alone -> idle p50/p99;
2. mixed, for --seconds: LOW tenants allocate and free random blocks inside requests
   (kernels on them), with injected faults and cancellations, a HIGH tenant asks for
   memory the LOW tenants hold (the reclaim path), and the REALTIME tenant keeps
   computing -> its p99 under pressure; every --check-every seconds all threads stop at
   a safe point and the budget is compared with what the pools hold (drift);
3. everything released: the budget must be back at the prewarmed floors.

    python3 bench/gpu_hal/bench_memory_truth.py --seconds 120 --out memory_truth.json

Prints the device and dtype, writes JSON with the command.
"""
from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from gpu_hal.config import DeviceConfig, FaultConfig, GpuHalConfig, SimulationConfig  # noqa: E402
from gpu_hal.device import Device  # noqa: E402
from gpu_hal.errors import Cancelled, DeviceFault, DevicePressure, QuotaExceeded  # noqa: E402
from gpu_hal.streams.priority import JobClass  # noqa: E402
from kernels.backend import gpu_available  # noqa: E402
from kernels.data import synthetic_panel  # noqa: E402

MiB = 1 << 20


def _expected(dev: Device) -> tuple[int, dict[str, dict[str, int]]]:
    total, by_tenant = 0, {}
    for tenant in dev.pools.tenants():
        ctx = dev.pools.get(tenant)
        f = dev.budget.owner_figures(tenant)
        figures = {"floor": ctx.floor_bytes, "reserved": f["reserved"], "pool_total": ctx.pool.total_bytes(),
                   "budget_pool": f["pool"], "charged": f["charged"]}
        by_tenant[tenant] = figures
        total += max(figures["floor"], figures["reserved"], figures["pool_total"])
    return total, by_tenant


def truth(dev: Device, detail: dict | None = None) -> tuple[int, int]:
    """(budget charged, what the pools say it must be), at a quiescent point.

    The workload's threads are paused, but the device's idle trimmer (a pool idle for
    `trim_idle_after_s` gives its cached blocks back) and the pressure monitor are not:
    a snapshot is taken only when the pools' figures and the budget read the same
    before and after (a trim in between is read again), so a drift is the accounting's,
    not the reading's. `detail` gets the per-tenant figures and the retries."""
    gc.collect()
    for attempt in range(100):
        before, _ = _expected(dev)
        charged = dev.budget.charged
        total, by_tenant = _expected(dev)
        if before == total and charged == dev.budget.charged:
            break
        time.sleep(0.001)
    if detail is not None:
        detail.update({"tenants": by_tenant, "retries": attempt})
    return charged, total


class Pause:
    """Workers call `point()` between steps; `hold()` stops them all there."""

    def __init__(self, n: int) -> None:
        self.n, self.stopped, self.cv, self.want = n, 0, threading.Condition(), False

    def point(self) -> None:
        with self.cv:
            if not self.want:
                return
            self.stopped += 1
            self.cv.notify_all()
            self.cv.wait_for(lambda: not self.want)
            self.stopped -= 1

    def hold(self, alive: callable) -> None:
        with self.cv:
            self.want = True
            self.cv.wait_for(lambda: self.stopped >= alive(), timeout=30)

    def release(self) -> None:
        with self.cv:
            self.want = False
            self.cv.notify_all()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--check-every", type=float, default=1.0)
    ap.add_argument("--assets", type=int, default=500)
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--sim-memory-gib", type=float, default=8.0, help="simulated device size (no GPU)")
    ap.add_argument("--out", default="memory_truth.json")
    args = ap.parse_args()

    real = gpu_available()
    cfg = GpuHalConfig(device=DeviceConfig(prewarm_pool_bytes=64 * MiB, trim_idle_after_s=1.0, host_warmups=False),
                       simulation=SimulationConfig(mode="never" if real else "always", num_devices=1,
                                                   memory_bytes=int(args.sim_memory_gib * (1 << 30))),
                       faults=FaultConfig(enabled=True))
    dev = Device.open_all(cfg)[0]
    budget = dev.budget.budget
    print(f"device: {dev.info.label} simulated={dev.simulated} budget={budget / 2**30:.1f} GiB dtype=float64", flush=True)
    from gpu_hal.realtime import RealtimePath  # noqa: PLC0415
    from kernels.indicators import sma  # noqa: PLC0415

    rt = RealtimePath(dev, warmups=lambda: ({}, {}))
    rt.start([("live", JobClass.REALTIME)], {"bench": synthetic_panel(args.assets, args.bars, seed=1)})
    live = dev.get_context("live")
    close = rt.dataset("bench").close

    def live_once() -> float:
        t0 = time.perf_counter()
        with live.reserve(0) as req:
            out = req.run(sma, close, 20)
            if real:
                req.stream.synchronize()
        del out
        return (time.perf_counter() - t0) * 1000

    for _ in range(20):
        live_once()
    idle = [live_once() for _ in range(300)]

    lows = [dev.create_context(f"res-{i}", JobClass.LOW, limit_bytes=int(budget * 0.6)) for i in range(2)]
    high = dev.create_context("desk", JobClass.HIGH, limit_bytes=int(budget * 0.5))
    stop = threading.Event()
    alive = [0]
    lock = threading.Lock()
    pause = Pause(0)
    counts: dict[str, int] = {}
    reclaim_ms: list[float] = []
    pressured: list[float] = []

    def count(key: str) -> None:
        with lock:
            counts[key] = counts.get(key, 0) + 1

    def low_worker(ctx: Any, seed: int) -> None:
        """A research chunk per request: several kernels over blocks it allocates, all of them
        freed when the request ends (as a worker's chunk does), faults and cancellations mixed in."""
        rng = random.Random(seed)
        try:
            while not stop.is_set():
                pause.point()
                try:
                    with ctx.reserve(rng.randint(0, 64) * MiB) as req:
                        held = []
                        for _ in range(rng.randint(1, 6)):
                            n = rng.randint(1, max(2, int(budget * 0.08) // 8))
                            a = req.run(ctx.empty, (n,), np.float64)  # from the tenant's pool (charged)
                            a[:1024] = 1.0
                            req.run(lambda: float(a[:1024].sum()))
                            held.append(a)
                            if rng.random() < 0.03:
                                dev.faults.fail_next_kernel(ctx.tenant)
                                req.run(lambda: None)
                            if rng.random() < 0.03:
                                req.cancel()
                                req.run(lambda: None)
                            time.sleep(0.002)
                        del held, a
                    count("low_ok")
                except (QuotaExceeded, DeviceFault, Cancelled) as exc:
                    count(type(exc).__name__)
                    if isinstance(exc, DevicePressure):  # shed: the scheduler would place it elsewhere or later
                        time.sleep(0.01)
        finally:
            with lock:
                alive[0] -= 1

    def high_worker() -> None:
        rng = random.Random(7)
        try:
            while not stop.is_set():
                pause.point()
                time.sleep(0.2)
                n = int(budget * rng.uniform(0.2, 0.4))
                t0 = time.perf_counter()
                try:
                    with high.reserve(n) as req:
                        a = req.run(high.empty, (n // 8,), np.float64)
                        reclaim_ms.append((time.perf_counter() - t0) * 1000)  # the memory is there
                        a[:1024] = 0.0
                        del a
                    count("high_ok")
                except (QuotaExceeded, DeviceFault) as exc:
                    count(f"high_{type(exc).__name__}")
        finally:
            with lock:
                alive[0] -= 1

    def live_worker() -> None:
        try:
            while not stop.is_set():
                pause.point()
                pressured.append(live_once())
                time.sleep(0.002)
        finally:
            with lock:
                alive[0] -= 1

    threads = [threading.Thread(target=low_worker, args=(c, i)) for i, c in enumerate(lows)]
    threads += [threading.Thread(target=high_worker), threading.Thread(target=live_worker)]
    alive[0] = len(threads)
    for th in threads:
        th.start()
    drifts: list[int] = []
    drift_events: list[dict] = []
    levels: dict[str, int] = {}
    t_end = time.monotonic() + args.seconds
    while time.monotonic() < t_end:
        time.sleep(args.check_every)
        levels[dev.pressure.level.name] = levels.get(dev.pressure.level.name, 0) + 1
        pause.hold(lambda: alive[0])
        detail: dict = {}
        charged, expected = truth(dev, detail)
        drifts.append(charged - expected)
        if charged != expected and len(drift_events) < 20:  # what the accounting said, for the diagnosis
            drift_events.append({"at_s": round(args.seconds - (t_end - time.monotonic()), 3), "charged": charged,
                                 "expected": expected, "level": dev.pressure.level.name, "counts": dict(counts),
                                 **detail})
        pause.release()
    stop.set()
    for th in threads:
        th.join(60)
    for ctx in [*lows, high, live]:
        ctx.trim_if_idle()
    charged, expected = truth(dev)
    floors = sum(dev.pools.get(t).floor_bytes for t in dev.pools.tenants())
    status = dev.status()
    result = {
        "command": "python3 " + " ".join(sys.argv),
        "device": dev.info.label, "simulated": dev.simulated, "budget_bytes": budget,
        "seconds": args.seconds, "drift_checks": len(drifts), "max_abs_drift_bytes": max(map(abs, drifts), default=0),
        "nonzero_drift_checks": sum(1 for d in drifts if d), "drift_events": drift_events,
        "end_charged_bytes": charged, "end_expected_bytes": expected,
        "end_preloaded_and_floor_bytes": floors + sum(rt.datasets().values()),
        "pressure_samples": levels, "pressure": status["pressure"],
        "realtime_idle_ms": {"p50": float(np.percentile(idle, 50)), "p99": float(np.percentile(idle, 99))},
        "realtime_under_pressure_ms": {"p50": float(np.percentile(pressured, 50)),
                                       "p99": float(np.percentile(pressured, 99)), "n": len(pressured)},
        "high_reserve_to_memory_ms": {"p50": float(np.percentile(reclaim_ms, 50)) if reclaim_ms else None,
                                      "p99": float(np.percentile(reclaim_ms, 99)) if reclaim_ms else None,
                                      "max": max(reclaim_ms, default=None), "n": len(reclaim_ms)},
        "reclaim_decision_s": status["pressure"].get("reclaims") and dev.pressure_responder.last_reclaim_s,
        "counts": counts,
        "tenants": {t: {k: v for k, v in c.items() if k in ("oom", "shed", "preempted", "faults", "cancelled", "refused")}
                    for t, c in status["tenants"].items()},
    }
    rt.close()
    dev.close()
    result["targets"] = {
        "zero_drift": result["max_abs_drift_bytes"] == 0 and charged == expected,
        "realtime_p99_within_idle_plus_10ms": result["realtime_under_pressure_ms"]["p99"]
        <= result["realtime_idle_ms"]["p99"] + 10.0,
        "high_gets_memory_p99_under_100ms": bool(reclaim_ms) and float(np.percentile(reclaim_ms, 99)) < 100.0,
    }
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))
    print(json.dumps({k: result[k] for k in ("drift_checks", "max_abs_drift_bytes", "realtime_idle_ms",
                                             "realtime_under_pressure_ms", "high_reserve_to_memory_ms",
                                             "pressure_samples", "targets")}, indent=1, default=str))


if __name__ == "__main__":
    main()
