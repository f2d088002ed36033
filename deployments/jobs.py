"""Batch backtests and sweeps as Ray Jobs: submit through the coordinator, wait, write files.

    ray job submit --address http://head:8265 --working-dir . -- \\
        python -m deployments.jobs sweep --strategy trend_following \\
            --grid fast=5:50:5 --grid slow=60,120,200 --top-k 20 --out /shared/results/ma-sweep

Inside `ray job submit` the driver finds its cluster through RAY_ADDRESS (set by
Ray); elsewhere it uses RAYQUANT_RAY__ADDRESS, or starts a local Ray. The job goes
through the coordinator (queued by priority, LOW by default, chunked, preemptible,
journaled) like every other job. Results land under --out (default
`<storage_dir>/outputs/<kind>-<job_id>/`):

    backtest: metrics.parquet/.csv (one row per symbol + "portfolio"),
              equity.parquet/.csv (equity curve per symbol + "portfolio"), summary.json
    sweep:    sweep.parquet/.csv (parameters + portfolio metrics per combination),
              top.parquet/.csv (the top-k), asset_metrics.parquet, summary.json

File names are fixed: no client string (strategy, symbols, parameters) becomes a
path. summary.json is written last (atomically), so its presence marks a complete
output. Exit status: 0 succeeded; 1 the job failed, was cancelled, timed out or was
not accepted (queue full); 2 invalid arguments (the coordinator's message is
printed); 130 interrupted (the driver asks the coordinator to cancel the job first;
`ray job stop` sends SIGTERM, handled the same way).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any, Sequence, TextIO

import numpy as np
import pandas as pd

from deployments.cli import OneLineParser, explain_ray_error, parse_assignment, parse_grid_values, parse_value

# Defaults of the batch entry point (the `rayquant` CLI charges the same costs).
DEFAULT_STRATEGY = "trend_following"
DEFAULT_FEES = 0.0005
DEFAULT_SLIPPAGE = 0.0005
DEFAULT_PRIORITY = "LOW"
DEFAULT_TENANT = "default"
DEFAULT_TOP_K = 10
DEFAULT_RANK_BY = "sharpe"
POLL_S = 0.5
HEARTBEAT_S = 30.0
OUTPUTS_DIR = "outputs"
SUMMARY_FILE = "summary.json"
PRIORITIES = ("REALTIME", "HIGH", "NORMAL", "LOW", "IDLE")

EXIT_OK, EXIT_JOB_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class JobFailed(RuntimeError):
    """The coordinator reports the job failed, was cancelled or did not finish in time."""

    def __init__(self, message: str, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


# ----------------------------------------------------------------------- request
def build_request(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """(kind, coordinator payload) from parsed arguments; raises ValueError on bad input."""
    symbols = _symbols(args.symbols)
    payload: dict[str, Any] = {
        "dataset": args.dataset,
        "strategy": args.strategy,
        "fees": args.fees,
        "slippage": args.slippage,
        "symbols": symbols,
    }
    if args.command == "backtest":
        params = {name: parse_value(value) for name, value in (args.param or [])}
        return "backtest", {**payload, "params": params}
    grid: dict[str, list[Any]] = {}
    for name, values in args.grid or []:
        if name in grid:
            raise ValueError(f"--grid {name} given twice")
        parsed = parse_grid_values(values)
        if not parsed:
            raise ValueError(f"--grid {name} has no values")
        grid[name] = parsed
    if not grid:
        raise ValueError("give at least one --grid NAME=V1,V2|START:STOP:STEP")
    if args.top_k < 1:
        raise ValueError(f"--top-k must be >= 1, got {args.top_k}")
    return "sweep", {**payload, "grid": grid, "top_k": args.top_k, "rank_by": args.rank_by}


def _symbols(given: list[str] | None) -> list[str] | None:
    """--symbols A,B --symbols C -> ['A', 'B', 'C'] (None: every symbol of the dataset)."""
    if not given:
        return None
    out = [s.strip() for chunk in given for s in chunk.split(",") if s.strip()]
    if not out:
        raise ValueError("--symbols names no symbol")
    if len(set(out)) != len(out):
        raise ValueError("--symbols names a symbol twice")
    return out


# ------------------------------------------------------------------------- paths
def output_dir(out: str | None, storage_dir: Path, kind: str, job_id: str) -> Path:
    """--out as given (the operator's choice), else `<storage>/outputs/<kind>-<job_id>`."""
    from actors.jobs.records import validate_job_id  # noqa: PLC0415

    if out:
        path = Path(out).expanduser().resolve()
    else:
        base = (Path(storage_dir).expanduser() / OUTPUTS_DIR).resolve()
        path = (base / f"{kind}-{validate_job_id(job_id)}").resolve()
        if path.parent != base:
            raise ValueError(f"output path {path} escapes {base}")
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {path} exists and is not a directory")
    return path


# ----------------------------------------------------------------------- waiting
def describe_status(status: dict[str, Any], elapsed_s: float) -> str:
    """One progress line: state, chunks, device and tier."""
    progress = status.get("progress") or {}
    done, total = progress.get("chunks_done"), progress.get("chunks_total")
    parts = [f"[{elapsed_s:7.1f}s] job {status['job_id']} {status['state']}"]
    if total:
        parts.append(f"{done}/{total} chunks ({100.0 * (progress.get('fraction') or 0.0):.0f}%)")
    if status.get("device"):
        parts.append(f"on {status['device']}")
    if status.get("tier") and status["tier"] != "primary":
        parts.append(f"tier {status['tier']}")
    if status.get("cache_hit"):
        parts.append("(cached result)")
    return " ".join(parts)


def wait_for(client: Any, job_id: str, poll_s: float = POLL_S, timeout_s: float | None = None,
             stream: TextIO | None = None) -> dict[str, Any]:
    """Poll the job until it is terminal, with one progress bar for the whole job (chunks done of
    total over every worker, state, workers, cells/s, ETA: `actors.client.JobProgress`)."""
    from actors.client import JobProgress  # noqa: PLC0415

    stream = stream or sys.stdout
    started = time.monotonic()
    bar = JobProgress(job_id, stream)
    try:
        while True:
            status = client.status(job_id)
            now = time.monotonic()
            bar.update(status)
            if status["state"] == "succeeded":
                return status
            if status["state"] in ("failed", "cancelled"):
                raise JobFailed(f"job {job_id} {status['state']}: {one_line(status.get('error'))}")
            if timeout_s is not None and now - started > timeout_s:
                raise JobFailed(f"job {job_id} still {status['state']} after {timeout_s:g} s", timed_out=True)
            time.sleep(poll_s)
    finally:
        bar.close()


# ----------------------------------------------------------------------- outputs
def _plain(value: Any) -> Any:
    """A JSON-able scalar: NumPy scalars unwrapped, NaN/inf as None (JSON has no NaN)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _row(series: pd.Series) -> dict[str, Any]:
    return {str(k): _plain(v) for k, v in series.items()}


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [_row(row) for _, row in df.reset_index().iterrows()]


def _write_table(df: pd.DataFrame, out: Path, stem: str, csv: bool = True) -> list[str]:
    flat = df.reset_index()
    flat.columns = [str(c) for c in flat.columns]
    flat.to_parquet(out / f"{stem}.parquet", index=False)
    names = [f"{stem}.parquet"]
    if csv:
        flat.to_csv(out / f"{stem}.csv", index=False, float_format="%.17g")
        names.append(f"{stem}.csv")
    return names


def _write_json_atomic(path: Path, value: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=2, default=str, allow_nan=False) + "\n")
    os.replace(tmp, path)


def write_backtest(result: Any, out: Path) -> tuple[list[str], dict[str, Any]]:
    """metrics and equity tables of a RunResult; returns (files, summary fields)."""
    metrics = result.metrics.copy()
    metrics.index.name = "symbol"
    files = _write_table(metrics, out, "metrics")
    equity = pd.DataFrame(np.asarray(result.equity), columns=list(result.symbols))
    equity["portfolio"] = np.asarray(result.portfolio_equity)
    equity.index.name = "bar"
    times = getattr(result.equity, "index", None)  # RunResult.equity is time-indexed
    if isinstance(times, pd.DatetimeIndex) and len(times) == len(equity):
        equity.insert(0, "timestamp", times)
    files += _write_table(equity, out, "equity")
    summary = {
        "strategy": result.strategy,
        "params": result.params,
        "backend": result.backend,
        "bars": int(equity.shape[0]),
        "assets": len(result.symbols),
        "portfolio": _row(result.metrics.loc["portfolio"]),
    }
    return files, summary


def write_sweep(result: Any, out: Path) -> tuple[list[str], dict[str, Any]]:
    """Per-combination table, top-k and asset metrics of a SweepResult."""
    table = result.params.join(result.portfolio_metrics, how="inner")
    table.index.name = "combo_id"
    files = _write_table(table, out, "sweep")
    top = result.top
    files += _write_table(top, out, "top")
    files += _write_table(result.asset_metrics, out, "asset_metrics", csv=False)
    summary = {
        "strategy": result.strategy,
        "backend": result.backend,
        "combinations": int(len(result.params)),
        "dropped": int(result.n_dropped),
        "rank_by": result.rank_by,
        "top_k": int(result.top_k),
        "top": _records(top),
    }
    return files, summary


def write_outputs(kind: str, result: Any, out: Path, status: dict[str, Any], request: dict[str, Any],
                  elapsed_s: float) -> Path:
    """Write the result's tables, then summary.json (last: it marks a complete output)."""
    out.mkdir(parents=True, exist_ok=True)
    writer = write_backtest if kind == "backtest" else write_sweep
    files, fields = writer(result, out)
    summary = {
        "kind": kind,
        "job_id": status["job_id"],
        "state": status["state"],
        "priority": status.get("priority"),
        "tenant": status.get("tenant"),
        "device": status.get("device"),
        "tier": status.get("tier"),
        "attempts": status.get("attempts"),
        "cache_hit": status.get("cache_hit"),
        "timings": status.get("timings"),
        "wall_s": elapsed_s,
        "request": request,
        **fields,
        "files": files,
    }
    path = out / SUMMARY_FILE
    _write_json_atomic(path, summary)
    return path


# -------------------------------------------------------------------------- main
def _raise_interrupt(signum: int, frame: Any) -> None:  # noqa: ARG001
    raise KeyboardInterrupt(f"signal {signum}")


def _cause(exc: BaseException) -> BaseException:
    """The user's error inside a RayTaskError (its message without the remote traceback)."""
    return getattr(exc, "cause", None) or exc


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MAX_ERROR_CHARS = 500


def one_line(error: Any) -> str:
    """An error (exception or text) as one line: the message, never a traceback or ANSI codes.

    For a traceback's text, its last line (`SomeError: message`); a KeyError's quotes dropped.
    """
    if isinstance(error, BaseException):
        error = _cause(error)
        error = error.args[0] if isinstance(error, KeyError) and len(error.args) == 1 else error
    text = _ANSI.sub("", str(error if error is not None else "")).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return "(no message)"
    if any(ln.startswith("Traceback (most recent call last)") for ln in lines):
        text = lines[-1]
    else:
        text = " ".join(lines)
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def run_job(args: argparse.Namespace, stream: TextIO | None = None) -> int:
    """Connect, submit, wait with progress, write outputs; returns the exit status."""
    stream = stream or sys.stdout
    from actors.client import connect  # noqa: PLC0415 - imports Ray
    from actors.scheduling.queues.job_queue import AdmissionRefused  # noqa: PLC0415

    try:
        kind, payload = build_request(args)
        if args.out:
            output_dir(args.out, Path("."), kind, "0" * 32)  # fail before connecting
    except (ValueError, argparse.ArgumentTypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from gpu_hal.errors import QuotaExceeded  # noqa: PLC0415

    try:
        client = connect(args.address)
    except Exception as exc:  # noqa: BLE001 - not reached: one line that says what to do
        print(f"error: {explain_ray_error(exc, args.address or os.environ.get('RAY_ADDRESS'))}", file=sys.stderr)
        return EXIT_JOB_FAILED
    if getattr(client, "attached", False):  # the running service's coordinator and workers (no private ones)
        print(f"attached to the running service (storage {client.settings.storage_dir})", file=stream, flush=True)
    started = time.monotonic()
    try:
        job_id = client.submit(kind, payload, args.priority, args.tenant)
    except (ValueError, KeyError, TypeError, QuotaExceeded, PermissionError) as exc:  # the request (and the
        # tenant's classes and key: ClassNotAllowed, Unauthenticated), checked before acceptance
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except AdmissionRefused as exc:  # the tenant's or the class's queue is full: try again later
        print(f"error: not accepted: {one_line(exc)}", file=sys.stderr)
        return EXIT_JOB_FAILED
    except Exception as exc:  # noqa: BLE001 - e.g. the coordinator died: one line, not a traceback
        print(f"error: not submitted: {type(_cause(exc)).__name__}: {one_line(exc)}", file=sys.stderr)
        return EXIT_JOB_FAILED
    print(f"submitted {kind} job {job_id} ({args.priority}, tenant {args.tenant})", file=stream, flush=True)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        status = wait_for(client, job_id, args.poll, args.timeout, stream)
        result = client.result(job_id)
    except KeyboardInterrupt:
        print(f"interrupted: cancelling job {job_id}", file=sys.stderr, flush=True)
        try:
            client.cancel(job_id)
        except Exception as exc:  # noqa: BLE001 - report, the exit status says the rest
            print(f"cancel failed: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except JobFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.timed_out:  # do not leave the job running for nobody
            client.cancel(job_id)
        return EXIT_JOB_FAILED
    finally:
        signal.signal(signal.SIGTERM, previous)
    out = output_dir(args.out, client.settings.storage_dir, kind, job_id)
    summary = write_outputs(kind, result, out, status, payload, time.monotonic() - started)
    if kind == "backtest":
        p = result.metrics.loc["portfolio"]
        print(f"portfolio: total_return={p['total_return']:.4f} sharpe={p['sharpe']:.3f} "
              f"max_drawdown={p['max_drawdown']:.4f}", file=stream)
    else:
        with pd.option_context("display.width", 160, "display.max_columns", 30, "display.float_format", "{:.4f}".format):
            print(f"top {len(result.top)} by portfolio {result.rank_by}:\n{result.top.to_string()}", file=stream)
    print(f"wrote {summary}", file=stream, flush=True)
    return EXIT_OK


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strategy", default=DEFAULT_STRATEGY, help="built-in or registered strategy name")
    p.add_argument("--dataset", default="synthetic", help="registered dataset name (default: the synthetic universe)")
    p.add_argument("--symbols", action="append", metavar="A,B,...", help="symbols to trade (default: all of the dataset)")
    p.add_argument("--fees", type=float, default=DEFAULT_FEES, help="fees, fraction of traded value")
    p.add_argument("--slippage", type=float, default=DEFAULT_SLIPPAGE, help="slippage, fraction of traded value")
    p.add_argument("--priority", type=str.upper, choices=PRIORITIES, default=DEFAULT_PRIORITY,
                   help="coordinator job class (research work is LOW)")
    p.add_argument("--tenant", default=DEFAULT_TENANT, help="tenant (quota and accounting)")
    p.add_argument("--out", help="output directory (default: <storage_dir>/outputs/<kind>-<job_id>)")
    p.add_argument("--address", help="Ray address (default: RAY_ADDRESS, set by `ray job submit`, or RAYQUANT_RAY__ADDRESS)")
    p.add_argument("--timeout", type=float, default=None, help="seconds to wait before cancelling the job")
    p.add_argument("--poll", type=float, default=POLL_S, help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m deployments.jobs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    bt = sub.add_parser("backtest", help="backtest one parameter set")
    _add_common(bt)
    bt.add_argument("--param", type=parse_assignment, action="append", metavar="NAME=VALUE")
    sw = sub.add_parser("sweep", help="every combination of a parameter grid, with the top-k")
    _add_common(sw)
    sw.add_argument("--grid", type=parse_assignment, action="append", metavar="NAME=V1,V2|START:STOP:STEP")
    sw.add_argument("--top-k", type=int, default=DEFAULT_TOP_K)
    sw.add_argument("--rank-by", default=DEFAULT_RANK_BY)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_job(args)


if __name__ == "__main__":
    sys.exit(main())
