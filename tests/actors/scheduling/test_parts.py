"""The chunk scheduler's small parts, each alone with plain data (no Ray, no workers):
ChunkQueue, FifoAgingPolicy, Placement, ThroughputModel, desired_workers/Membership, FanOut."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.jobs.plans import ChunkSpec, chunk_cells
from actors.scheduling.queues.chunk_queue import ChunkQueue
from actors.scheduling.placement.fallback import WorkerView
from actors.scheduling.placement.fanout import ChunkRun, FanOut
from actors.scheduling.placement.cpu_share import cpu_chunk_helps, cpu_steal_helps
from actors.scheduling.placement.membership import (Membership, NodeInfo, WorkerLost, cpu_worker_threads,
                                                   desired_workers)
from actors.scheduling.placement.eligibility import Placement, job_labels
from actors.scheduling.policy import Candidate, FifoAgingPolicy
from actors.scheduling.placement.throughput import ThroughputModel
from gpu_hal.streams.priority import JobClass


def chunks(n: int) -> list[ChunkSpec]:
    return [ChunkSpec(i, (i, i + 1)) for i in range(n)]


# ---------------------------------------------------------------------- ChunkQueue
def test_chunks_are_handed_out_in_plan_order_and_finish_once():
    q: ChunkQueue[ChunkSpec] = ChunkQueue()
    q.add_job("a", chunks(3), done=[1])  # chunk 1 recovered from the journal
    assert q.pending("a") == 2
    first = q.take("a", "w0", 0.0)
    second = q.take("a", "w1", 0.0)
    assert (first.index, second.index) == (0, 2) and q.take("a", "w2", 0.0) is None
    assert q.inflight("a") == 2 and not q.complete("a")
    assert q.finish("a", 0, "w0") is True
    assert q.finish("a", 2, "w1") is True
    assert q.complete("a") and q.done("a") == 3


def test_a_stolen_copy_loses_the_race_and_is_a_duplicate():
    q: ChunkQueue[ChunkSpec] = ChunkQueue()
    q.add_job("a", chunks(1))
    q.take("a", "slow", 0.0)
    assert [c.worker_id for c in q.stealable()] == ["slow"]
    assert q.steal("a", 0, "slow", 1.0) is None  # never twice on the same worker
    assert q.steal("a", 0, "fast", 1.0).index == 0
    assert q.stealable() == []  # two copies: no third
    assert q.finish("a", 0, "fast") is True
    assert q.finish("a", 0, "slow") is False  # dropped
    assert q.put_back("a", 0, "slow") is False  # a done chunk never runs again


def test_a_lost_copy_goes_back_first_unless_another_copy_runs():
    q: ChunkQueue[ChunkSpec] = ChunkQueue()
    q.add_job("a", chunks(3))
    c0 = q.take("a", "w0", 0.0)
    q.take("a", "w1", 0.0)
    assert [c.chunk.index for c in q.on_worker("w0")] == [0]
    q.steal("a", 1, "w2", 0.5)
    assert q.put_back("a", 1, "w1") is False  # w2's copy still runs
    assert q.put_back("a", c0.index, "w0") is True
    assert q.take("a", "w3", 1.0).index == 0  # first in line again
    assert q.drop_job("a") and "a" not in q


def test_moved_copy_is_listed_on_its_new_worker():
    q: ChunkQueue[ChunkSpec] = ChunkQueue()
    q.add_job("a", chunks(1))
    q.take("a", "gpu", 0.0)
    q.moved("a", 0, "gpu", "cpu", 0.1)
    assert q.on_worker("gpu") == [] and [c.worker_id for c in q.on_worker("cpu")] == ["cpu"]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.lists(st.tuples(st.sampled_from(["take", "steal", "finish", "lose"]),
                                              st.integers(0, 3), st.integers(0, 11)), max_size=80))
def test_every_chunk_finishes_exactly_once_whatever_happens(n, ops):
    """Random takes, steals, results and losses, then drain: each index is accepted once."""
    q: ChunkQueue[ChunkSpec] = ChunkQueue()
    q.add_job("j", chunks(n))
    accepted: list[int] = []
    workers = [f"w{i}" for i in range(4)]
    for op, w, i in ops:
        worker = workers[w]
        if op == "take":
            q.take("j", worker, 0.0)
        elif op == "steal":
            q.steal("j", i % n, worker, 0.0)
        elif op == "finish":
            running = [c.chunk.index for c in q.on_worker(worker)]
            if running and q.finish("j", running[0], worker):
                accepted.append(running[0])
        else:
            for copy in q.on_worker(worker):
                q.put_back("j", copy.chunk.index, worker)
    for _ in range(4 * n + 8):  # drain: every pending or running copy finishes
        for worker in workers:
            for copy in q.on_worker(worker):
                if q.finish("j", copy.chunk.index, worker):
                    accepted.append(copy.chunk.index)
            c = q.take("j", worker, 0.0)
            if c is not None and q.finish("j", c.index, worker):
                accepted.append(c.index)
    assert sorted(accepted) == list(range(n))
    assert q.complete("j")


# ---------------------------------------------------------------------- policy
def cand(job_id: str, t: float, seq: int, tenant: str = "t", resident: bool = False) -> Candidate:
    return Candidate(job_id, tenant, JobClass.LOW, JobClass.LOW, t, seq, resident)


def test_fifo_policy_picks_the_earliest_and_tallies_device_seconds():
    p = FifoAgingPolicy()
    assert p.pick([cand("b", 2.0, 5), cand("a", 1.0, 9), cand("c", 3.0, 1)]).job_id == "a"
    assert p.pick([cand("x", 1.0, 1), cand("y", 1.0, 1, resident=True)]).job_id == "y"  # tie: data in place
    p.charge("alice", 0.05)
    p.charge("alice", 0.02)
    p.charge("bob", 0.01)
    assert p.usage() == {"alice": {"device_s": pytest.approx(0.07), "chunks": 2},
                         "bob": {"device_s": pytest.approx(0.01), "chunks": 1}}
    with pytest.raises(ValueError):
        p.pick([])


# ---------------------------------------------------------------------- placement
GPU = WorkerView("gpu-0", "gpu", 0, free_budget_bytes=1 << 30, labels=(("gpu_type", "H100"),))
SIM = WorkerView("simgpu-0", "gpu", 0, simulated=True)
CPU = WorkerView("cpu-0", "cpu")


def test_cpu_workers_take_research_only_when_allowed_or_without_gpus():
    assert not Placement().eligible(CPU, {}, gpus_in_pool=True)
    assert Placement().eligible(CPU, {}, gpus_in_pool=False)
    assert Placement(research_on_cpu=True).eligible(CPU, {}, gpus_in_pool=True)
    assert not Placement().eligible(WorkerView("g", "gpu", 0, healthy=False), {}, True)


def test_labels_restrict_placement_and_gpus_serve_first():
    assert Placement().eligible(GPU, {"gpu_type": "H100"}, True)
    assert not Placement().eligible(SIM, {"gpu_type": "H100"}, True)
    assert [v.worker_id for v in Placement.order([CPU, SIM, GPU])] == ["gpu-0", "simgpu-0", "cpu-0"]
    assert job_labels({"placement": {"labels": {"gpu_type": "H100"}}}) == {"gpu_type": "H100"}
    assert job_labels({}) == {}
    with pytest.raises(ValueError):
        job_labels({"placement": {"labels": {"gpu_type": 3}}})


# ---------------------------------------------------------------------- throughput
def test_throughput_is_learned_sized_to_the_target_and_persisted(tmp_path):
    path = tmp_path / "throughput.json"
    m = ThroughputModel(path, prior={"sweep": 1e6}, alpha=0.5)
    assert m.cells_for("sweep", ["gpu"], 0.05) == 50_000  # prior before any measurement
    m.observe("sweep", "gpu", 1e8, 1.0)
    m.observe("sweep", "gpu", 3e8, 1.0)  # EWMA: 0.5 * 1e8 + 0.5 * 3e8
    assert m.rate("sweep", "gpu") == pytest.approx(2e8)
    m.observe("sweep", "cpu", 1e7, 1.0)
    m.observe("sweep", "simgpu", 5e7, 1.0)
    assert m.cells_for("sweep", ["gpu", "cpu", "simgpu"], 0.05) == int(5e7 * 0.05)  # median worker
    assert m.observe("sweep", "gpu", 10, 0.0) is None  # too short to say anything
    assert m.save() and not m.save()  # written once, unchanged since
    again = ThroughputModel(path)
    assert again.rate("sweep", "gpu") == pytest.approx(2e8)
    path.write_text("{not json")
    assert ThroughputModel(path).rate("sweep", "gpu") is None  # damaged file: priors again


def test_chunk_cells_counts_bars_assets_and_combinations():
    assert chunk_cells(ChunkSpec(0, (0, 10), (5, 9)), 100) == 100 * 10 * 4
    assert chunk_cells(ChunkSpec(0, (3, 5)), 50) == 100


# ---------------------------------------------------------------------- membership
def test_desired_workers_follow_nodes_gpus_and_labels():
    nodes = [NodeInfo("home" + "0" * 12), NodeInfo("abcdef1234567890", gpus=2, labels={"gpu_type": "H100"}),
             NodeInfo("dead000000000000", alive=False, gpus=4)]
    specs = desired_workers(nodes, nodes[0].node_id, cpu_workers=1, node_cpu_workers=0)
    ids = [s.worker_id for s in specs]
    assert ids == ["cpu-0", "gpu-0-abcdef12", "gpu-1-abcdef12"]  # no simulation: the cluster has GPUs
    gpu = specs[1]
    assert gpu.num_gpus == 1 and gpu.node_id == nodes[1].node_id and gpu.labels == (("gpu_type", "H100"),)
    alone = desired_workers([NodeInfo("solo")], "solo", simulated_devices=2, cpu_workers=1)
    assert [(s.worker_id, s.num_gpus) for s in alone] == [("simgpu-0", 0), ("simgpu-1", 0), ("cpu-0", 0)]
    forced = desired_workers(nodes[:2], nodes[0].node_id, simulation_mode="always", simulated_devices=1,
                             cpu_workers=0, node_cpu_workers=1)
    assert [s.worker_id for s in forced] == ["simgpu-0", "cpu-0-abcdef12"]


def test_cpu_workers_get_the_cpus_the_gpu_workers_and_the_coordinator_leave():
    assert cpu_worker_threads(16, 1, 1, home=True) == 16 - 2 - 2  # one H100 node with the coordinator
    assert cpu_worker_threads(16, 8, 1, home=False) == 1  # at least one
    assert cpu_worker_threads(64, 4, 2, home=False) == (64 - 8) // 2
    assert cpu_worker_threads(0, 1, 1, home=True) == 0  # CPUs unknown: the library's default
    assert cpu_worker_threads(16, 1, 1, home=True, configured=3) == 3
    nodes = [NodeInfo("head", gpus=1, cpus=16), NodeInfo("other", gpus=0, cpus=8)]
    threads = {s.worker_id: s.threads for s in desired_workers(nodes, "head", cpu_workers=1, node_cpu_workers=1)}
    assert threads == {"gpu-0": 0, "cpu-0": 12, "cpu-0-other": 8}


def test_a_cpu_chunk_is_taken_only_when_it_ends_before_the_gpus_finish_the_rest():
    # 1e9 cells at 1e8 cells/s: 10 s on the CPU; the GPUs' other 1e11 cells at 2 x 5e9: 10 s.
    assert cpu_chunk_helps(10**9, 1e8, 10**11, [5e9, 5e9])
    assert not cpu_chunk_helps(10**9, 1e8, 10**11 - 1, [5e9, 5e9])
    assert not cpu_chunk_helps(1, 1e12, 0, [5e9])  # nothing else pending: the GPU takes the last chunk
    assert cpu_chunk_helps(10**9, None, 0, [5e9])  # the CPU's rate unknown: it learns it
    assert cpu_chunk_helps(10**9, 1e8, 0, [5e9, None])  # a GPU's rate unknown: no judgement
    assert cpu_steal_helps(None, 5e9) and cpu_steal_helps(1e10, 5e9) and not cpu_steal_helps(1e8, 5e9)


def test_membership_keeps_the_pool_and_its_events():
    class C:
        def __init__(self, worker_id):
            self.worker_id = worker_id

    clock = iter(range(100))
    m = Membership(clock=lambda: float(next(clock)))
    m.join(C("a"))
    m.join(C("b"))
    assert m.leave("a", "lost") is not None and m.leave("a") is None
    assert m.ids() == ["b"] and "a" not in m and len(m) == 1
    assert [(e["event"], e["worker_id"]) for e in m.events()] == [("joined", "a"), ("joined", "b"), ("lost", "a")]
    assert "lost" in str(WorkerLost("w", "ActorDiedError"))


# ---------------------------------------------------------------------- fan-out
def test_fanout_reports_workers_throughput_and_eta():
    f = FanOut(total_cells=1000)
    f.started(10.0)
    f.record(ChunkRun("j", 0, "gpu-0", "LOW", 10.0, 10.5, 0.25, 250), "simgpu:0")
    f.record(ChunkRun("j", 1, "gpu-1", "LOW", 10.0, 11.0, 0.5, 250), "simgpu:1")
    f.record(ChunkRun("j", 1, "gpu-0", "LOW", 10.6, 11.2, 0.5, 250, duplicate=True), "simgpu:0")
    out = f.public(done=2, total=4, now=12.0)
    assert out["workers"] == [{"worker_id": "gpu-0", "device": "simgpu:0", "chunks": 2, "cells_per_s": 500 / 0.75},
                              {"worker_id": "gpu-1", "device": "simgpu:1", "chunks": 1, "cells_per_s": 500.0}]
    assert out["cells_done"] == 500 and out["duplicates"] == 1
    assert out["cells_per_s"] == pytest.approx(250.0) and out["eta_s"] == pytest.approx(2.0)
    assert f.public(done=4, total=4, now=13.0)["eta_s"] == 0.0
    assert json.dumps(out)
