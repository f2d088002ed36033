"""Which workers may run a research job's chunks (eligibility), and in which order free
workers are served.

Rules (exact):
- A GPU worker (real or simulated) may run every research kind.
- A CPU worker may run research chunks when the configuration allows research on the
  CPU (`research_on_cpu`), or when no healthy GPU worker is in the pool (a machine or a
  cluster without GPUs). It is always the last tier of the fallback chain.
- A job may ask for node labels (`payload["placement"]["labels"]`, e.g.
  `{"gpu_type": "H100"}`): only workers whose node carries every one of those labels
  (with the same value) are eligible; CPU workers then too only on such nodes.
- Free workers are served GPUs first (real before simulated), then CPU workers, so
  the fastest devices take the head of the queue.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from actors.scheduling.placement.fallback import WorkerView


def job_labels(payload: Mapping[str, Any]) -> dict[str, str]:
    """The node labels a job asks for (empty: any node)."""
    placement = payload.get("placement") or {}
    if not isinstance(placement, Mapping):
        raise ValueError("placement: expected an object such as {\"labels\": {\"gpu_type\": \"H100\"}}")
    labels = placement.get("labels") or {}
    if not isinstance(labels, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in labels.items()):
        raise ValueError("placement.labels: expected an object of string labels")
    return dict(labels)


class Placement:
    """Eligibility of workers for jobs; the order in which free workers take chunks."""

    def __init__(self, research_on_cpu: bool = False) -> None:
        self.research_on_cpu = research_on_cpu

    def eligible(self, view: WorkerView, labels: Mapping[str, str], gpus_in_pool: bool) -> bool:
        """May `view` run a research chunk of a job asking for `labels`?"""
        if not view.healthy:
            return False
        if view.kind == "cpu" and gpus_in_pool and not self.research_on_cpu:
            return False
        have = dict(view.labels)
        return all(have.get(k) == v for k, v in labels.items())

    @staticmethod
    def gpus_in_pool(views: Iterable[WorkerView]) -> bool:
        return any(v.kind == "gpu" and v.healthy for v in views)

    @staticmethod
    def order(free: Iterable[WorkerView]) -> list[WorkerView]:
        """Free workers in serving order: real GPUs, simulated GPUs, then CPUs."""
        return sorted(free, key=lambda v: (v.kind != "gpu", v.simulated, -v.free_budget_bytes, v.worker_id))
