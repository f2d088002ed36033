"""Ray actors of the service, by role.

| subpackage | what lives there |
| --- | --- |
| `scheduling/` | the coordinator, its Ray actor, queue, preemptor, fallback |
| `jobs/` | job specs and records, journal, chunk plans, result files and cache |
| `workers/` | the per-device worker, its GPU/CPU Ray actors, the in-process executor |
| `live/` | live work sent straight to a worker over its socket channel |
| `streams/` | streamed indicator state per worker and the stream router |
| `models/` | the model registry |

The top level keeps what every role shares: settings and config, messages, metrics,
datasets, the client (`actors.client.connect`).
"""
from __future__ import annotations

from typing import Any

_EXPORTS = {
    "Coordinator": "actors.scheduling.coordinator",
    "GPUWorker": "actors.workers.gpu_worker",
    "CPUWorker": "actors.workers.cpu_worker",
    "connect": "actors.client",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # Lazy: importing `actors` must not import Ray.
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'actors' has no attribute {name!r}")
