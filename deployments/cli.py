"""The `rayquant` command line: local backtests and sweeps, the HTTP service, the demo.

    rayquant backtest --strategy trend_following --param fast=10 --param slow=50
    rayquant sweep --strategy trend_following --grid fast=5:50:5 --grid slow=60,120,200
    rayquant walkforward --strategy trend_following --grid fast=5,10,20 --grid slow=50,100 --train 504 --test 126
    rayquant serve            # local Ray (or RAYQUANT_RAY__ADDRESS) + coordinator + HTTP API on 127.0.0.1:8000
    rayquant demo             # starts all of it, drives the HTTP API, prints the results, shuts down
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

log = logging.getLogger("rayquant.cli")


def parse_value(text: str) -> Any:
    """'10' -> 10, '0.5' -> 0.5, 'true' -> True, anything else stays a string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip()


def parse_assignment(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    name, value = text.split("=", 1)
    if not name.strip():
        raise argparse.ArgumentTypeError(f"empty parameter name in {text!r}")
    return name.strip(), value


def parse_grid_values(text: str) -> list[Any]:
    """'5,10,20' -> [5, 10, 20]; 'start:stop:step' -> an inclusive integer or float range."""
    if ":" in text:
        parts = [parse_value(p) for p in text.split(":")]
        if len(parts) != 3 or not all(isinstance(p, (int, float)) for p in parts) or parts[2] <= 0:
            raise argparse.ArgumentTypeError(f"range must be start:stop:step with step > 0, got {text!r}")
        start, stop, step = parts
        count = int(math.floor((stop - start) / step + 1e-9)) + 1
        values = [start + i * step for i in range(max(count, 0))]
        return [int(v) if all(isinstance(p, int) for p in parts) else float(v) for v in values]
    return [parse_value(v) for v in text.split(",") if v.strip()]


def positive_int(text: str) -> int:
    """'200000000', '2e8' or '2_000' -> an int > 0 (an argparse type: a float would break the chunk planner)."""
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if not math.isfinite(value) or value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(value)


RAY_AUTH_HINT = ("export RAY_AUTH_MODE=token and give the cluster's token in RAY_AUTH_TOKEN or ~/.ray/auth_token "
                 "(`ray get-auth-token` prints this machine's), then retry; Ray 2.60 turns token authentication on "
                 "by itself for a head started where ~/.ray/auth_token exists")
_AUTH_MARKERS = ("authenticationerror", "authentication required", "authentication token", "unauthorized",
                 "invalidauthtoken", "unauthenticated")


def explain_ray_error(exc: BaseException, address: str | None) -> str:
    """One line for a failure to reach Ray, saying what to do when token auth is the problem."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    cause = exc.__cause__ or exc.__context__
    chain = (text + " " + (f"{type(cause).__name__}: {cause}" if cause is not None else "")).lower()
    where = f"Ray at {address}" if address else "Ray"
    if any(marker in chain for marker in _AUTH_MARKERS):
        return f"cannot connect to {where}: the cluster requires token authentication: {RAY_AUTH_HINT}"
    first = text.split(". ")[0][:300]
    if "connection timeout" in chain or "failed to connect" in chain:
        return (f"cannot connect to {where}: {first}. Is the cluster up at that address? If it requires token "
                f"authentication: {RAY_AUTH_HINT}")
    return f"cannot connect to {where}: {first}"


def load_panel(args: argparse.Namespace):
    """The panel named by --data, or the synthetic universe."""
    from kernels.data import read_csv, read_parquet, synthetic_panel  # noqa: PLC0415

    if args.data:
        path = Path(args.data)
        if not path.is_file():
            raise ValueError(f"--data {args.data}: no such file")
        panel = read_csv(path) if path.suffix.lower() == ".csv" else read_parquet(path)
        if args.assets and args.assets < panel.n_assets:
            panel = panel.select(panel.symbols[: args.assets])
        return panel
    return synthetic_panel(args.assets, args.bars, seed=args.seed)


def _frame_to_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df.reset_index().replace({np.nan: None})
    return json.loads(out.to_json(orient="records", date_format="iso"))


def cmd_backtest(args: argparse.Namespace) -> int:
    from kernels.backtest import run  # noqa: PLC0415

    panel = load_panel(args)
    params = dict(args.param or [])
    params = {k: parse_value(v) for k, v in params.items()}
    started = time.perf_counter()
    result = run(panel, args.strategy, params, fees=args.fees, slippage=args.slippage, backend=args.backend,
                 **_order_args(args))
    elapsed = time.perf_counter() - started
    if args.json:
        print(json.dumps({
            "strategy": args.strategy,
            "params": result.params,
            "backend": result.backend,
            "bars": panel.n_bars,
            "assets": panel.n_assets,
            "seconds": elapsed,
            "metrics": _frame_to_records(result.metrics),
        }, indent=2, default=str))
        return 0
    print(f"backtest {args.strategy} {result.params} on {panel.n_bars} bars x {panel.n_assets} assets "
          f"[backend={result.backend}, {elapsed * 1e3:.1f} ms]")
    shown = result.metrics if len(result.metrics) <= args.rows + 1 else pd.concat(
        [result.metrics.iloc[: args.rows], result.metrics.iloc[[-1]]])
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.float_format", "{:.4f}".format):
        print(shown.to_string())
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from tqdm import tqdm  # noqa: PLC0415

    from kernels.backtest import merge_sweeps, plan_chunks, sweep  # noqa: PLC0415

    panel = load_panel(args)
    grid = {name: parse_grid_values(values) for name, values in (args.grid or [])}
    if not grid:
        print("error: give at least one --grid NAME=VALUES", file=sys.stderr)
        return 2
    from actors.jobs.plans import is_orders_sweep, sweep_combinations, sweep_grid, sweep_order_kwargs  # noqa: PLC0415
    from kernels.backtest.grid import expand_grid  # noqa: PLC0415

    kwargs = dict(fees=args.fees, slippage=args.slippage, top_k=args.top_k, rank_by=args.rank_by, backend=args.backend)
    payload = _sweep_order_payload(args, grid)
    started = time.perf_counter()
    parts = []
    if is_orders_sweep(payload):  # the orders sweep runs whole (fixed stops/sizes as one-value grid keys)
        n_combos = sweep_combinations(payload, panel.n_bars)[0]
        chunks: list[Any] = [None]
        parts.append(sweep(panel, args.strategy, sweep_grid(payload), **kwargs, **sweep_order_kwargs(payload)))
    else:
        # Chunks over the valid combinations (a grid may drop some, e.g. fast >= slow), not the raw product.
        n_combos = expand_grid(args.strategy, grid, panel.n_bars).n_combos
        chunks = plan_chunks(n_combos, panel.n_assets, args.chunk_cells, panel.n_bars)
        for chunk in tqdm(chunks, desc="sweep", unit="chunk", disable=args.json or len(chunks) < 2, file=sys.stderr):
            parts.append(sweep(panel, args.strategy, grid, chunk=chunk, **kwargs))
    result = parts[0] if len(parts) == 1 else merge_sweeps(parts)
    elapsed = time.perf_counter() - started
    cells = n_combos * panel.n_assets * panel.n_bars
    if args.json:
        print(json.dumps({
            "strategy": args.strategy,
            "grid": grid,
            "backend": result.backend,
            "combinations": n_combos,
            "bars": panel.n_bars,
            "assets": panel.n_assets,
            "chunks": len(chunks),
            "seconds": elapsed,
            "cells_per_second": cells / elapsed if elapsed > 0 else None,
            "top": _frame_to_records(result.top),
        }, indent=2, default=str))
        return 0
    print(f"sweep {args.strategy}: {n_combos} combinations x {panel.n_assets} assets x {panel.n_bars} bars "
          f"in {len(chunks)} chunk(s) [backend={result.backend}, {elapsed:.2f} s, {cells / max(elapsed, 1e-9):.3g} cells/s]")
    print(f"top {len(result.top)} by portfolio {args.rank_by}:")
    with pd.option_context("display.width", 160, "display.max_columns", 30, "display.float_format", "{:.4f}".format):
        print(result.top.to_string())
    return 0


def _service_settings(args: argparse.Namespace, **serve_overrides: Any):
    """Settings from the environment (RAYQUANT_*, RAYQUANT_CONFIG) with the command's flags on top."""
    import dataclasses  # noqa: PLC0415

    from actors.settings import load_settings  # noqa: PLC0415

    settings = load_settings()
    serve_cfg = dataclasses.replace(settings.serve, **{k: v for k, v in serve_overrides.items() if v is not None})
    update: dict[str, Any] = {"serve": serve_cfg}
    if getattr(args, "address", None):
        update["ray"] = dataclasses.replace(settings.ray, address=args.address)
    if getattr(args, "storage", None):
        update["storage_dir"] = Path(args.storage)
    return settings.model_copy(update=update)


def _quiet_ray_logs() -> None:
    import ray.serve  # noqa: F401, PLC0415 - configures its logger at import; set levels after

    for name in ("ray", "ray.serve", "ray.dashboard", "filelock", "httpx", "rayquant.service"):
        logging.getLogger(name).setLevel(logging.WARNING)


def cmd_serve(args: argparse.Namespace) -> int:
    """Start (or join) Ray, the coordinator and the HTTP app, then block until Ctrl-C / SIGTERM."""
    import signal  # noqa: PLC0415

    from deployments.service import start_service  # noqa: PLC0415

    verbose = bool(getattr(args, "verbose", False))
    if not verbose:  # Serve's per-request logs and route dumps stay in the log files (--verbose: here too)
        _quiet_ray_logs()
    settings = _service_settings(args, host=args.host, port=args.port)
    print(f"starting rayquant: Ray {'at ' + settings.ray.address if settings.ray.address else '(local)'}, "
          f"coordinator and HTTP API on {settings.serve.host}:{settings.serve.port} ...", flush=True)
    try:
        service = start_service(settings, num_cpus=args.num_cpus, include_dashboard=not args.no_dashboard,
                                log_to_driver=verbose)
    except (ConnectionError, RuntimeError) as exc:
        if not settings.ray.address:
            raise
        print(f"error: {explain_ray_error(exc, settings.ray.address)}", file=sys.stderr)
        return 1
    stop = {"now": False}

    def _stop(signum: int, _frame: Any) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"ready: {service.url}  (API docs {service.docs_url}"
          + (f", Ray dashboard {service.dashboard_url}" if service.dashboard_url else "") + "); Ctrl-C stops",
          flush=True)
    if service.live_url:
        print(f"live routes in their own replica: {service.live_entry}/v1 (also {service.live_url}/v1)", flush=True)
    if service.grpc_target:
        print(f"gRPC: {service.grpc_target} (rayquant.v1, grpc.health.v1, reflection; metadata application="
              f"{settings.serve.app_name})", flush=True)
    if service.log_dir and not verbose:
        print(f"logs: {service.log_dir} (rayquant --verbose serve shows them here)", flush=True)
    try:
        while not stop["now"]:
            time.sleep(0.5)
    finally:
        print("shutting down ...", flush=True)
        service.stop()
    return 0


def _table(records: list[dict[str, Any]], columns: Sequence[str] | None = None, index: str | None = None) -> str:
    df = pd.DataFrame.from_records(records)
    if columns is not None:
        df = df[[c for c in columns if c in df.columns]]
    if index is not None and index in df.columns:
        df = df.set_index(index)
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.float_format", "{:.4f}".format):
        return df.to_string()


def _check(resp: Any, what: str) -> Any:
    if resp.status_code >= 400:
        raise RuntimeError(f"{what}: HTTP {resp.status_code}: {resp.text[:500]}")
    return resp.json()


DEMO_METRICS = ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "n_trades", "win_rate", "exposure")


DEMO_TICKS = 5  # tick batches the demo pushes through a stream
DEMO_TICK_SEED = 7


def run_demo_requests(base_url: str, *, symbols: int = 5, dataset: str = "synthetic",
                      out: Any = sys.stdout, timeout_s: float = 300.0) -> dict[str, Any]:
    """Drive the HTTP API like a client: a backtest, a sweep and live features; print readable tables."""
    import httpx  # noqa: PLC0415

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    with httpx.Client(base_url=base_url, timeout=timeout_s) as http:
        devices = _check(http.get("/v1/devices"), "GET /v1/devices")
        say("== GET /v1/devices: the workers and their devices ==")
        say(_table([{**d, "health": d.get("health_state")} for d in devices],
                   ["worker_id", "kind", "label", "simulated", "backend", "health", "ready"], "worker_id"))

        say("\n== POST /v1/backtests?wait=true: trend following, MA(10, 50), fees 5 bp ==")
        body = {"dataset": dataset, "strategy": "trend_following", "params": {"fast": 10, "slow": 50},
                "fees": 0.0005, "slippage": 0.0005}
        t0 = time.perf_counter()
        bt = _check(http.post("/v1/backtests", params={"wait": "true"}, json=body), "POST /v1/backtests")
        if bt["state"] != "succeeded":
            raise RuntimeError(f"backtest {bt['job_id']} ended {bt['state']}: {bt.get('error')}")
        res = bt["result"]
        say(f"job {bt['job_id']} {bt['state']} on {bt['device']} (tier {bt['tier']}, backend {res['backend']}) "
            f"in {time.perf_counter() - t0:.2f} s")
        rows = res["metrics"]
        shown = rows[:8] + ([rows[-1]] if len(rows) > 8 else [])
        say(_table(shown, ["symbol", *DEMO_METRICS], "symbol"))
        curve = res["equity_curve"]
        say(f"portfolio equity: {curve['equity'][0]:.4f} -> {curve['equity'][-1]:.4f} over {curve['n_bars']} bars")

        say("\n== POST /v1/sweeps?wait=true: trend following, fast 5..30 x slow 40..200, top 5 by Sharpe ==")
        body = {"dataset": dataset, "strategy": "trend_following", "fees": 0.0005, "slippage": 0.0005,
                "grid": {"fast": [5, 10, 15, 20, 25, 30], "slow": [40, 80, 120, 160, 200]},
                "top_k": 5, "rank_by": "sharpe"}
        t0 = time.perf_counter()
        sw = _check(http.post("/v1/sweeps", params={"wait": "true"}, json=body), "POST /v1/sweeps")
        if sw["state"] != "succeeded":
            raise RuntimeError(f"sweep {sw['job_id']} ended {sw['state']}: {sw.get('error')}")
        sres = sw["result"]
        say(f"job {sw['job_id']} {sw['state']} on {sw['device']}: {sres['n_combinations']} combinations "
            f"in {time.perf_counter() - t0:.2f} s ({sw['progress']['chunks_total']} chunk(s))")
        say(_table(sres["top"], ["combo_id", "fast", "slow", "sharpe", "total_return", "max_drawdown", "n_trades"],
                   "combo_id"))

        datasets = _check(http.get("/v1/datasets"), "GET /v1/datasets")
        known = {d["name"]: d for d in datasets}
        syms = known[dataset]["symbols"][:symbols] if dataset in known else None
        say(f"\n== POST /v1/features (live, REALTIME): RSI(14), MACD, Bollinger(20) of {len(syms or [])} symbols, "
            "latest bar ==")
        body = {"dataset": dataset, "symbols": syms, "window": 1, "indicators": [
            {"name": "rsi", "params": {"timeperiod": 14}, "label": "rsi"},
            {"name": "macd"},
            {"name": "bbands", "params": {"timeperiod": 20}, "label": "bb20"},
            {"name": "sma", "params": {"timeperiod": 1}, "label": "close"},
        ]}
        t0 = time.perf_counter()
        ft = _check(http.post("/v1/features", json=body), "POST /v1/features")
        wall = time.perf_counter() - t0
        latest = [{"symbol": s, **{label: values[-1][j] for label, values in ft["features"].items()}}
                  for j, s in enumerate(ft["symbols"])]
        say(f"bar {ft['timestamps'][-1]}: computed on {ft['device']} in {ft['compute_ms']:.1f} ms "
            f"(round trip {wall * 1e3:.1f} ms, priority {ft['priority']})")
        say(_table(latest, ["symbol", "rsi", "macd.macd", "macd.macdsignal", "bb20.upperband", "bb20.lowerband"],
                   "symbol"))
        stream = _demo_stream(http, say, dataset, ft, latest)
        return {"backtest": bt, "sweep": sw, "features": ft, "devices": devices, "stream": stream}


def _demo_stream(http: Any, say: Any, dataset: str, ft: dict[str, Any], latest: list[dict[str, Any]]) -> dict:
    """Open a stream over the features' symbols and push a few ticks after the last bar (POST /v1/ticks)."""
    symbols = [row["symbol"] for row in latest]
    closes = np.array([row["close"] for row in latest], dtype=float)
    start = pd.Timestamp(ft["timestamps"][-1])
    say(f"\n== POST /v1/ticks: a live stream over {len(symbols)} symbols, {DEMO_TICKS} ticks after the last bar ==")
    rng = np.random.default_rng(DEMO_TICK_SEED)
    stream_id, answer = None, None
    t0 = time.perf_counter()
    for k in range(1, DEMO_TICKS + 1):
        closes = closes * np.exp(rng.normal(0.0, 0.01, closes.size))
        ticks = {"symbol": symbols, "time": [(start + pd.Timedelta(minutes=k)).isoformat()] * len(symbols),
                 "high": (closes * 1.002).tolist(), "low": (closes * 0.998).tolist(), "close": closes.tolist(),
                 "volume": [1e6] * len(symbols)}
        body = {"stream_id": stream_id, "ticks": ticks} if stream_id else \
            {"open": {"dataset": dataset, "symbols": symbols}, "ticks": ticks}
        answer = _check(http.post("/v1/ticks", json=body), "POST /v1/ticks")
        stream_id = answer["stream_id"]
    wall = time.perf_counter() - t0
    say(f"stream {stream_id} on {answer['worker_id']} (tier {answer['tier']}): {DEMO_TICKS} batches in "
        f"{wall * 1e3:.1f} ms; features after the last tick:")
    feats = answer["features"]
    say(_table([{"symbol": s, **{name: feats[name][j] for name in feats}} for j, s in enumerate(symbols)],
               ["symbol", "ema", "rsi", "macd", "atr", "sma", "roc"], "symbol"))
    _check(http.delete(f"/v1/streams/{stream_id}"), f"DELETE /v1/streams/{stream_id}")
    return answer


def _upload(base_url: str, path: Path, name: str) -> dict[str, Any]:
    import httpx  # noqa: PLC0415

    with httpx.Client(base_url=base_url, timeout=300) as http, path.open("rb") as fh:
        resp = http.post("/v1/datasets", data={"name": name}, files={"file": (path.name, fh)})
    return _check(resp, "POST /v1/datasets")


def cmd_prewarm(args: argparse.Namespace) -> int:
    """Compile every kernel once (GPU kernels into the persistent kernel cache, Numba's
    on-disk cache for the CPU), so that workers start warm; run it at deploy time."""
    from actors.settings import load_settings  # noqa: PLC0415
    from actors.workers.worker import use_kernel_cache  # noqa: PLC0415
    from gpu_hal.device import Device  # noqa: PLC0415
    from gpu_hal.realtime import RealtimePath, host_kernel_warmups  # noqa: PLC0415

    settings = load_settings()
    cache = use_kernel_cache(settings.kernel_cache_dir)
    report: dict[str, Any] = {"kernel_cache_dir": str(cache), "devices": [], "host": {}}
    for device in Device.open_all(settings.gpu):
        if device.simulated:
            continue
        with device:
            readiness = RealtimePath(device).start()
        report["devices"].append({"device": device.info.label, "kernels": len(readiness.kernel_times_s),
                                  "compile_s": readiness.compile_s, "errors": readiness.kernel_errors})
    started = time.perf_counter()
    warmups, errors = host_kernel_warmups()
    for name, fn in warmups.items():
        try:
            fn()
        except Exception as exc:  # report every failure, keep going
            errors[name] = f"{type(exc).__name__}: {exc}"
    report["host"] = {"kernels": len(warmups), "seconds": time.perf_counter() - started, "errors": errors}
    failed = bool(errors) or any(d["errors"] for d in report["devices"])
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        for d in report["devices"]:
            print(f"{d['device']}: {d['kernels']} GPU kernels in {d['compile_s']:.2f} s"
                  + (f", {len(d['errors'])} failed" if d["errors"] else ""))
        if not report["devices"]:
            print("no GPU here: GPU kernels not compiled")
        print(f"CPU: {report['host']['kernels']} warm-ups in {report['host']['seconds']:.2f} s"
              + (f", {len(errors)} failed: {errors}" if errors else ""))
        print(f"kernel cache: {cache}")
    return 1 if failed else 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The whole service on the embedded default, driven through its HTTP API, then shut down."""
    import dataclasses  # noqa: PLC0415
    import shutil  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    from deployments.service import free_port, port_is_free, start_service  # noqa: PLC0415

    if not args.verbose:  # Serve's per-request logs stay in the log files
        _quiet_ray_logs()
    storage = Path(args.storage) if args.storage else Path(tempfile.mkdtemp(prefix="rayquant-demo-"))
    settings = _service_settings(args)
    host = settings.serve.host
    port = args.port if args.port else free_port(host)
    if not port_is_free(host, port):
        port = free_port(host)
    data = dataclasses.replace(settings.data, synthetic_assets=args.assets, synthetic_bars=args.bars,
                               synthetic_seed=args.seed)
    settings = settings.model_copy(update={"storage_dir": storage, "data": data,
                                           "serve": dataclasses.replace(settings.serve, port=port)})
    print(f"rayquant demo: synthetic universe of {args.assets} assets x {args.bars} bars; "
          f"starting {'Ray at ' + settings.ray.address if settings.ray.address else 'a local Ray'}, "
          "the coordinator (workers prewarm their kernels) and Ray Serve ...", flush=True)
    t0 = time.perf_counter()
    service = None
    try:
        service = start_service(settings, num_cpus=args.num_cpus, include_dashboard=not args.no_dashboard,
                                log_to_driver=args.verbose)
        print(f"ready in {time.perf_counter() - t0:.1f} s", flush=True)
        print(f"  HTTP API:      {service.url}/v1", flush=True)
        print(f"  API docs:      {service.docs_url}", flush=True)
        if service.grpc_target:
            print(f"  gRPC:          {service.grpc_target} (rayquant.v1; metadata application={settings.serve.app_name})",
                  flush=True)
        if service.live_url:
            print(f"  live routes:   {service.live_entry}/v1 (features, streams, predict; replicas of their own)",
                  flush=True)
        print(f"  Ray dashboard: {service.dashboard_url or 'not running (--no-dashboard or not installed)'}\n",
              flush=True)
        dataset = "synthetic"
        if args.data:
            meta = _upload(service.url, Path(args.data), "uploaded")
            dataset = meta["name"]
            print(f"== POST /v1/datasets: {args.data} -> {meta['name']} version {meta['version']} "
                  f"({meta['n_bars']} bars x {meta['n_assets']} assets) ==\n", flush=True)
        run_demo_requests(service.url, dataset=dataset)
        print(f"\ndemo finished in {time.perf_counter() - t0:.1f} s; shutting down ...", flush=True)
    finally:
        if service is not None:
            service.stop()
        if not args.storage:
            shutil.rmtree(storage, ignore_errors=True)
    print("done", flush=True)
    return 0


def _order_args(args: argparse.Namespace) -> dict[str, Any]:
    """`engine` and the order options (`--order NAME=VALUE`) for `run` / `walk_forward`."""
    options = {k: parse_value(v) for k, v in (args.order or [])}
    if options and args.engine != "orders":
        raise ValueError(f"--order {sorted(options)[0]}: order options need --engine orders")
    return {"engine": args.engine, **options} if args.engine == "orders" else {}


def _sweep_order_payload(args: argparse.Namespace, grid: dict[str, Any]) -> dict[str, Any]:
    """`rayquant sweep`'s order options as a sweep job payload (`actors.jobs.plans` reads it as for HTTP)."""
    from kernels.backtest.orders.sweep import is_orders_grid  # noqa: PLC0415

    orders = args.engine == "orders" or is_orders_grid(grid)
    options = {k: parse_value(v) for k, v in (args.order or [])}
    if options and not orders:
        raise ValueError(f"--order {sorted(options)[0]}: order options need --engine orders")
    if "direction" in options:
        raise ValueError("--order direction: not a sweep option (the sweep kernel runs the strategy's long and short "
                         "signals as given)")
    if (args.group_by is not None or args.cash_sharing) and not orders:
        raise ValueError("--group-by/--cash-sharing need --engine orders (or order options in the grid)")
    if args.cash_sharing and args.group_by is None:
        raise ValueError("--cash-sharing needs --group-by")
    group_by: Any = None
    if args.group_by is not None:
        group_by = True if args.group_by.lower() == "true" else [g.strip() for g in args.group_by.split(",")]
    payload = {"strategy": args.strategy, "grid": grid, **({"engine": "orders"} if orders else {}), **options}
    if group_by is not None:
        payload.update(group_by=group_by, cash_sharing=bool(args.cash_sharing))
    return payload


def cmd_walkforward(args: argparse.Namespace) -> int:
    from kernels.backtest import walk_forward  # noqa: PLC0415

    panel = load_panel(args)
    grid = {name: parse_grid_values(values) for name, values in (args.grid or [])}
    if not grid:
        print("error: give at least one --grid NAME=VALUES", file=sys.stderr)
        return 2
    started = time.perf_counter()
    result = walk_forward(panel, args.strategy, grid, train=args.train, test=args.test, step=args.step,
                          rank_by=args.rank_by, anchored=args.anchored, fees=args.fees, slippage=args.slippage,
                          backend=args.backend, warmup=args.warmup, **_order_args(args))
    elapsed = time.perf_counter() - started
    if args.json:
        print(json.dumps({
            "strategy": args.strategy,
            "grid": grid,
            "backend": result.backend,
            "engine": result.engine,
            "train": result.train, "test": result.test, "step": result.step, "anchored": result.anchored,
            "bars": panel.n_bars,
            "assets": panel.n_assets,
            "seconds": elapsed,
            "folds": _frame_to_records(result.summary()),
            "oos_metrics": _frame_to_records(result.oos_metrics)[0],
        }, indent=2, default=str))
        return 0
    print(f"{result!r} on {panel.n_bars} bars x {panel.n_assets} assets [{elapsed:.2f} s]")
    with pd.option_context("display.width", 160, "display.max_columns", 30, "display.float_format", "{:.4f}".format):
        print(result.summary().to_string())
        print(result.oos_metrics.to_string())
    return 0


def _add_order_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=("returns", "orders"), default="returns",
                   help="returns model, or orders (cash, sizes, stops: docs/backtest-semantics.md)")
    p.add_argument("--order", type=parse_assignment, action="append", metavar="NAME=VALUE",
                   help="an order option with --engine orders: size, size_type, direction, init_cash, fixed_fees, "
                        "sl_stop, sl_trail, tp_stop, accumulate")


def _add_data_args(p: argparse.ArgumentParser, assets: int, bars: int) -> None:
    p.add_argument("--data", help="long-form Parquet or CSV file (timestamp, symbol, open, high, low, close, volume); default: synthetic universe")
    p.add_argument("--assets", type=int, default=assets, help="synthetic universe size (or first N symbols of --data)")
    p.add_argument("--bars", type=int, default=bars, help="synthetic universe length in bars")
    p.add_argument("--seed", type=int, default=0, help="synthetic universe seed")
    p.add_argument("--backend", choices=("cpu", "gpu", "auto"), default="auto")


def _add_cost_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strategy", default="trend_following", help="built-in or registered strategy name")
    p.add_argument("--fees", type=float, default=0.0005, help="fees, fraction of traded value")
    p.add_argument("--slippage", type=float, default=0.0005, help="slippage, fraction of traded value")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


class OneLineParser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (exit 2), as every other bad request."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="rayquant", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    bt = sub.add_parser("backtest", help="backtest one parameter set and print its metrics")
    _add_data_args(bt, assets=20, bars=1000)
    _add_cost_args(bt)
    bt.add_argument("--param", type=parse_assignment, action="append", metavar="NAME=VALUE")
    bt.add_argument("--rows", type=int, default=20, help="asset rows to print (the portfolio row is always shown)")
    _add_order_args(bt)
    bt.set_defaults(func=cmd_backtest)

    wf = sub.add_parser("walkforward", help="walk-forward optimisation: best combination in-sample, judged out-of-sample")
    _add_data_args(wf, assets=20, bars=2520)
    _add_cost_args(wf)
    wf.add_argument("--grid", type=parse_assignment, action="append", metavar="NAME=V1,V2|START:STOP:STEP")
    wf.add_argument("--train", type=positive_int, required=True, help="bars of each training window")
    wf.add_argument("--test", type=positive_int, required=True, help="bars of each test window")
    wf.add_argument("--step", type=positive_int, default=None, help="bars between folds (default: --test)")
    wf.add_argument("--anchored", action="store_true", help="training windows all start at the first bar")
    wf.add_argument("--warmup", type=int, default=0,
                    help="bars before each test window its backtest may read (indicator warm-up)")
    wf.add_argument("--rank-by", default="sharpe")
    _add_order_args(wf)
    wf.set_defaults(func=cmd_walkforward)

    sw = sub.add_parser("sweep", help="run every combination of a parameter grid and print the top-k")
    _add_data_args(sw, assets=50, bars=2520)
    _add_cost_args(sw)
    sw.add_argument("--grid", type=parse_assignment, action="append", metavar="NAME=V1,V2|START:STOP:STEP")
    sw.add_argument("--top-k", type=int, default=10)
    sw.add_argument("--rank-by", default="sharpe")
    sw.add_argument("--chunk-cells", type=positive_int, default=200_000_000, help="bound on bars x assets x combinations per chunk")
    _add_order_args(sw)
    sw.add_argument("--group-by", default=None, metavar="true|L1,L2,...",
                    help="orders engine: one group of every asset, or one group label per asset (rows per group)")
    sw.add_argument("--cash-sharing", action="store_true", help="orders engine: one cash balance per group")
    sw.set_defaults(func=cmd_sweep)

    srv = sub.add_parser("serve", help="start Ray (or join RAYQUANT_RAY__ADDRESS), the coordinator and the HTTP API")
    srv.add_argument("--host", default=None, help="listen address (default from settings: 127.0.0.1)")
    srv.add_argument("--port", type=int, default=None, help="HTTP port (default from settings: 8000)")
    srv.add_argument("--address", default=None, help="Ray cluster address (default: RAYQUANT_RAY__ADDRESS or local)")
    srv.add_argument("--storage", default=None, help="storage directory (journal, results, datasets)")
    srv.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
    srv.add_argument("--no-dashboard", action="store_true", help="do not start the Ray dashboard")
    srv.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                     help="also show Serve's and the replicas' logs here (default: only in the log files)")
    srv.set_defaults(func=cmd_serve)

    pw = sub.add_parser("prewarm", help="compile every kernel into the persistent caches (run at deploy time)")
    pw.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    pw.set_defaults(func=cmd_prewarm)

    demo = sub.add_parser("demo", help="start the service on the embedded default, drive its HTTP API, shut down")
    demo.add_argument("--data", help="long-form Parquet or CSV file to upload and use (default: synthetic universe)")
    demo.add_argument("--assets", type=int, default=50, help="synthetic universe size")
    demo.add_argument("--bars", type=int, default=1260, help="synthetic universe length in bars")
    demo.add_argument("--seed", type=int, default=0, help="synthetic universe seed")
    demo.add_argument("--port", type=int, default=8000, help="HTTP port (0 or busy: a free one)")
    demo.add_argument("--address", default=None, help="Ray cluster address (default: RAYQUANT_RAY__ADDRESS or local)")
    demo.add_argument("--storage", default=None, help="storage directory (default: a temporary one, removed after)")
    demo.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
    demo.add_argument("--no-dashboard", action="store_true", help="do not start the Ray dashboard")
    demo.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                      help="also show Serve's and the replicas' logs here")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (ValueError, KeyError, TypeError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `rayquant ... --json | head`: the reader left; no traceback
        return _reader_gone()


EXIT_USAGE = 2  # a bad request (argparse's own status for bad arguments)
EXIT_BROKEN_PIPE = 128 + 13  # as a process killed by SIGPIPE (what `yes | head` gives)


def _one_line(exc: BaseException) -> str:
    """An exception's message on one line (KeyError's repr quotes stripped)."""
    text = exc.args[0] if isinstance(exc, KeyError) and len(exc.args) == 1 else exc
    return " ".join(str(text).split())


def _reader_gone() -> int:
    """stdout's reader closed the pipe: point stdout at /dev/null so the interpreter's
    final flush does not raise again (the recipe of Python's signal module docs)."""
    import os  # noqa: PLC0415

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file descriptor (captured): nothing to redirect
        pass
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
