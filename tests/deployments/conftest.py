"""Shared by the HTTP tests: the whole service on a local Ray as CI runs it (2 CPUs, no GPU)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from actors.settings import Settings
from deployments.service import RunningService, start_service


@contextmanager
def running_service(settings: Settings) -> Iterator[RunningService]:
    """`start_service` on a 2-CPU local Ray without a GPU or dashboard, stopped on the way out."""
    svc = start_service(settings, num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)
    try:
        yield svc
    finally:
        svc.stop()
