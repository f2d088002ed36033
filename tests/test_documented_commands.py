"""Every shell and Python block of README.md and docs/*.md runs as documented.

Blocks are found generically (fenced ```bash/sh/shell/console and ```python/py), so a
block added to the docs is run here without touching this file. Each runs in its own
process, in a scratch directory (which holds the files the examples name, such as
`bars.parquet`), against one shared service started here the way the README says:
a Ray head (`ray start --head`, private: free ports, its own temp dir and token) and
`rayquant serve` joined to it (RAYQUANT_RAY__ADDRESS), with a storage directory of
its own. Two mechanical rewrites make the documented text run here:

- `./run` becomes the repository's `run` script (blocks run outside the checkout);
- the documented default address `localhost:8000` / `127.0.0.1:8000` becomes the
  shared service's port (a free one).

Python blocks run as scripts with this interpreter; `connect()` finds the shared
service's cluster through RAYQUANT_RAY__ADDRESS, as a job script on a cluster would.

A block is marked by an HTML comment on the line before its fence:

    <!-- test: needs-cluster REASON -->   a multi-node/cloud/Kubernetes cluster, or fixed ports
    <!-- test: needs-gpu REASON -->       a CUDA device
    <!-- test: skip REASON -->            cannot run inside the suite (e.g. `./run test` itself)
    <!-- test: embedded -->               runs on the embedded default (its own local Ray),
                                          not against the shared service (`./run demo`)

Marked needs-* and skip blocks are reported as skipped with their reason. Every other
block must exit 0 with no traceback and no `{"error": ...}` body in its output; the
demo's output (README's first command, `./run demo`, exactly as documented: its own
local Ray, the default universe) is checked for its URLs and tables, and that its jobs
went through the coordinator (a job id and `succeeded` for the backtest and the sweep).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = {"bash", "sh", "shell", "console"}
PYTHON = {"python", "py", "python3"}
MARKER = re.compile(r"<!--\s*test:\s*(?P<kind>[a-z-]+)\s*(?P<reason>.*?)\s*-->")
SKIPPING = {"needs-cluster", "needs-gpu", "skip"}
KINDS = SKIPPING | {"embedded"}
DEFAULT_ADDRESS = re.compile(r"(?:localhost|127\.0\.0\.1):8000\b")
RUN_SCRIPT = re.compile(r"(?<![\w/.])\./run\b")
BLOCK_TIMEOUT_S = 420
SERVICE_TIMEOUT_S = 300
DEMO_TABLE_NEEDLES = (
    # the URLs, then devices, backtest metrics, sweep top-k, live features and the stream: headers and rows
    "API docs:", "/docs", "Ray dashboard:", "GET /v1/devices", "worker_id", "simulated",
    "POST /v1/backtests?wait=true", "symbol", "total_return", "sharpe", "max_drawdown", "portfolio",
    "portfolio equity:", "POST /v1/sweeps?wait=true", "combo_id", "fast", "slow", "POST /v1/features", "rsi",
    "macd.macd", "bb20.upperband", "POST /v1/ticks", "ema", "atr", "roc", "demo finished", "done",
)


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    code: str
    marker: str | None
    reason: str

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def extract_blocks(path: Path) -> list[Block]:
    """The fenced shell and Python blocks of a markdown file, with their markers."""
    lines = path.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        fence = re.match(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)", lines[i])
        if not fence:
            i += 1
            continue
        indent, ticks, lang = fence.group(1), fence.group(2), fence.group(3).lower()
        start, body, i = i, [], i + 1
        while i < len(lines) and not lines[i].strip().startswith(ticks):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        if lang not in SHELL | PYTHON:
            continue
        prev = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        m = MARKER.search(prev)
        blocks.append(Block(path, start + 1, "python" if lang in PYTHON else "bash", "\n".join(body) + "\n",
                            m.group("kind") if m else None, m.group("reason") if m else ""))
    return blocks


ALL_BLOCKS = [b for doc in DOCS for b in extract_blocks(doc)]


# ---------------------------------------------------------------- extraction (fast)
def test_blocks_are_found_and_markers_are_valid():
    assert len(ALL_BLOCKS) >= 10, [b.id for b in ALL_BLOCKS]
    for block in ALL_BLOCKS:
        if block.marker is not None:
            assert block.marker in KINDS, f"{block.id}: unknown marker 'test: {block.marker}' (use one of {KINDS})"
            if block.marker in SKIPPING:
                assert block.reason, f"{block.id}: 'test: {block.marker}' needs a reason"
    ran = [b for b in ALL_BLOCKS if b.marker not in SKIPPING]
    assert len(ran) >= 2 * len(ALL_BLOCKS) // 3 - 3 or len(ran) >= 8, "most documented blocks must run"


def test_extraction_handles_markers_and_languages(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("text\n<!-- test: needs-gpu uses CuPy -->\n```bash\nnvidia-smi\n```\n\n```python\nprint(1)\n```\n"
                   "```dockerfile\nFROM x\n```\n<!-- test: embedded -->\n\n```sh\n./run demo\n```\n")
    got = [(b.lang, b.code.strip(), b.marker, b.reason, b.line) for b in extract_blocks(doc)]
    assert got == [("bash", "nvidia-smi", "needs-gpu", "uses CuPy", 3), ("python", "print(1)", None, "", 7),
                   ("bash", "./run demo", "embedded", "", 15)]


def test_rewrites():
    assert RUN_SCRIPT.sub("/r/run", "./run demo && x/./run && ./running ./run") == \
        "/r/run demo && x/./run && ./running /r/run"
    assert DEFAULT_ADDRESS.sub("127.0.0.1:1234", "curl localhost:8000/v1 ws://127.0.0.1:8000/v1/stream :80001") == \
        "curl 127.0.0.1:1234/v1 ws://127.0.0.1:1234/v1/stream :80001"


# ----------------------------------------------------------------- the shared service
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Service:
    env: dict[str, str]
    port: int
    scratch: Path
    proc: subprocess.Popen | None = None
    head: object | None = None
    log: Path | None = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # `rayquant serve`: Ctrl-C stops
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.head is not None:
            self.head.stop()


def _write_bars(path: Path) -> None:
    """A long-form Parquet file, as `curl -F file=@bars.parquet` in the README uploads."""
    import pandas as pd  # noqa: PLC0415

    from kernels.data import synthetic_panel  # noqa: PLC0415

    panel = synthetic_panel(4, 300, seed=3)
    frames = []
    for j, sym in enumerate(panel.symbols):
        frames.append(pd.DataFrame({"timestamp": panel.index, "symbol": sym, "open": panel.open[:, j],
                                    "high": panel.high[:, j], "low": panel.low[:, j], "close": panel.close[:, j],
                                    "volume": panel.volume[:, j]}))
    pd.concat(frames).to_parquet(path, index=False)


def _fake_venv(tmp: Path) -> Path:
    """A venv for `./run` that is this interpreter's, already stamped: `./run` runs, never installs."""
    import hashlib  # noqa: PLC0415

    venv = tmp / "venv"
    venv.mkdir()
    (venv / "bin").symlink_to(Path(sys.executable).parent)
    stamp = hashlib.sha1((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:12]
    (venv / f".installed-{stamp}").touch()
    return venv


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    pytest.importorskip("ray")
    from tests.deployments.test_ray_jobs import start_head  # noqa: PLC0415

    tmp = tmp_path_factory.mktemp("docs")
    scratch = tmp / "scratch"
    scratch.mkdir()
    _write_bars(scratch / "bars.parquet")
    storage = tmp / "storage"
    head = start_head(num_cpus=2, dashboard=False)
    port = _free_port()
    env = {k: v for k, v in head.env.items() if not k.startswith("RAYQUANT_")}
    env.update(RAYQUANT_RAY__ADDRESS=f"127.0.0.1:{head.gcs_port}", RAYQUANT_STORAGE_DIR=str(storage),
               RAYQUANT_VENV=str(_fake_venv(tmp)), RAYQUANT_SERVE__PORT=str(port),
               RAYQUANT_SERVE__GRPC_PORT=str(_free_port()), RAYQUANT_COORDINATOR__CPU_WORKERS="1",
               RAYQUANT_GPU__SIMULATION__NUM_DEVICES="1", MPLBACKEND="Agg")
    svc = Service(env=env, port=port, scratch=scratch, head=head, log=tmp / "serve.log")
    try:
        with open(svc.log, "wb") as log:
            svc.proc = subprocess.Popen([str(ROOT / "run"), "serve", "--port", str(port), "--no-dashboard"],
                                        cwd=scratch, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + SERVICE_TIMEOUT_S
        while "ready: " not in svc.log.read_text(errors="replace"):
            if svc.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"`./run serve` did not get ready:\n{svc.log.read_text(errors='replace')[-4000:]}")
            time.sleep(0.5)
        yield svc
    finally:
        svc.stop()


def _prepare(block: Block, svc: Service) -> str:
    code = RUN_SCRIPT.sub(str(ROOT / "run"), block.code)
    return DEFAULT_ADDRESS.sub(f"127.0.0.1:{svc.port}", code)


def _run(block: Block, svc: Service) -> subprocess.CompletedProcess:
    code = _prepare(block, svc)
    env = dict(svc.env)
    if block.marker == "embedded":  # its own local Ray on the embedded default
        env = {k: v for k, v in env.items() if k not in ("RAYQUANT_RAY__ADDRESS", "RAYQUANT_STORAGE_DIR")
               and not k.startswith("RAYQUANT_SERVE__")}
    if block.lang == "python":
        script = svc.scratch / f"block_{block.line}.py"
        script.write_text(code)
        cmd = [sys.executable, str(script)]
    else:
        cmd = ["bash", "-e", "-o", "pipefail", "-c", code]
    return subprocess.run(cmd, cwd=svc.scratch, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)


def _params():
    for block in ALL_BLOCKS:
        marks = [pytest.mark.skip(reason=f"{block.marker}: {block.reason}")] if block.marker in SKIPPING else []
        yield pytest.param(block, id=block.id, marks=marks)


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.parametrize("block", list(_params()))
def test_documented_block_runs(block: Block, service: Service):
    proc = _run(block, service)
    shown = f"--- block ({block.id}) ---\n{block.code}\n--- stdout ---\n{proc.stdout[-4000:]}\n" \
            f"--- stderr ---\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, shown
    assert "Traceback (most recent call last)" not in proc.stdout + proc.stderr, shown
    assert not re.search(r'\{\s*"error"\s*:\s*\{', proc.stdout), shown  # an HTTP error body
    if "./run demo" in block.code:
        missing = [n for n in DEMO_TABLE_NEEDLES if n not in proc.stdout]
        assert not missing, f"the demo's tables lack {missing}\n{shown}"
        tables = [ln for ln in proc.stdout.splitlines() if re.match(r"^\S+(\s+-?\d+\.\d{4})+\s*$", ln)]
        assert len(tables) >= 15, f"too few table rows ({len(tables)})\n{shown}"
        assert len(re.findall(r"^job [0-9a-f]{32} succeeded on ", proc.stdout, re.M)) == 2, shown
