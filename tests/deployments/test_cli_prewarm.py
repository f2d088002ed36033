"""`rayquant prewarm`: compiles every kernel into the persistent caches."""
from __future__ import annotations

import json
import os
import subprocess
import sys


def test_prewarm_compiles_the_cpu_kernels_and_creates_the_cache(tmp_path):
    env = {**os.environ, "RAYQUANT_STORAGE_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "deployments.cli", "prewarm", "--json"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["host"]["kernels"] >= 9 and report["host"]["errors"] == {}
    assert (tmp_path / "kernel-cache").is_dir()
    assert report["kernel_cache_dir"] == str((tmp_path / "kernel-cache").resolve())
