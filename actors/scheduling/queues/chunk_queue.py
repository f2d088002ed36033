"""The runnable chunks of every admitted job, and which of them are in flight.

One job each: this class only knows chunks. Which job a free worker serves is the
`ChunkPolicy`'s choice (among the jobs of the best effective class, from `JobQueue`);
which worker may serve it is `Placement`'s. Per job it keeps the chunks not yet handed
out (in plan order), the copies in flight (chunk index -> workers running a copy) and
the finished indices. A chunk may run as two copies at once (work stealing at the
tail): `finish` accepts the first result of an index and reports every later one as
a duplicate, to be dropped. A lost copy goes back to the front (`put_back`) unless
another copy of it is still running. Ray-free, no locks: the coordinator's event loop
is its only caller.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Generic, Iterable, Iterator, TypeVar

C = TypeVar("C")  # a chunk (actors.jobs.plans.ChunkSpec); only `.index` is read


@dataclass
class _JobChunks(Generic[C]):
    total: int
    pending: deque[C] = field(default_factory=deque)
    inflight: dict[int, list[tuple[str, float]]] = field(default_factory=dict)  # index -> [(worker, started)]
    chunks: dict[int, C] = field(default_factory=dict)
    done: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Copy(Generic[C]):
    """One copy of a chunk in flight: where it runs and since when (the caller's clock)."""

    job_id: str
    chunk: C
    worker_id: str
    started: float


class ChunkQueue(Generic[C]):
    """Chunks of admitted jobs: pending, in flight (possibly twice), done."""

    def __init__(self) -> None:
        self._jobs: dict[str, _JobChunks[C]] = {}

    # -- jobs --------------------------------------------------------------------------
    def add_job(self, job_id: str, chunks: Iterable[C], done: Iterable[int] = ()) -> None:
        """Admit a job's chunks in plan order; `done` indices (recovered) are never handed out."""
        if job_id in self._jobs:
            raise ValueError(f"job {job_id} already has chunks queued")
        all_chunks = list(chunks)
        finished = set(done)
        state: _JobChunks[C] = _JobChunks(total=len(all_chunks), done=finished)
        for chunk in all_chunks:
            state.chunks[chunk.index] = chunk  # type: ignore[attr-defined]
            if chunk.index not in finished:  # type: ignore[attr-defined]
                state.pending.append(chunk)
        self._jobs[job_id] = state

    def drop_job(self, job_id: str) -> list[Copy[C]]:
        """Forget a job (finished, cancelled, failed); returns its copies still in flight."""
        state = self._jobs.pop(job_id, None)
        if state is None:
            return []
        return [Copy(job_id, state.chunks[i], w, t) for i, copies in state.inflight.items() for w, t in copies]

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def jobs(self) -> Iterator[str]:
        return iter(self._jobs)

    # -- hand out ----------------------------------------------------------------------
    def has_pending(self, job_id: str) -> bool:
        state = self._jobs.get(job_id)
        return bool(state and state.pending)

    def pending(self, job_id: str) -> int:
        state = self._jobs.get(job_id)
        return len(state.pending) if state else 0

    def take(self, job_id: str, worker_id: str, now: float) -> C | None:
        """The job's next pending chunk, now in flight on `worker_id` (None if none is pending)."""
        state = self._jobs.get(job_id)
        if state is None or not state.pending:
            return None
        chunk = state.pending.popleft()
        state.inflight.setdefault(chunk.index, []).append((worker_id, now))  # type: ignore[attr-defined]
        return chunk

    def steal(self, job_id: str, index: int, worker_id: str, now: float) -> C | None:
        """Start a second copy of an in-flight chunk on `worker_id` (tail work stealing)."""
        state = self._jobs.get(job_id)
        if state is None or index in state.done or index not in state.inflight:
            return None
        copies = state.inflight[index]
        if any(w == worker_id for w, _ in copies):
            return None
        copies.append((worker_id, now))
        return state.chunks[index]

    def stealable(self, max_copies: int = 2) -> list[Copy[C]]:
        """In-flight chunks with fewer than `max_copies` copies, longest running first."""
        out = [Copy(job_id, state.chunks[i], copies[0][0], copies[0][1])
               for job_id, state in self._jobs.items() for i, copies in state.inflight.items()
               if len(copies) < max_copies]
        out.sort(key=lambda c: c.started)
        return out

    # -- results -----------------------------------------------------------------------
    def finish(self, job_id: str, index: int, worker_id: str) -> bool:
        """A copy returned a result: True for the first result of the chunk, False for a duplicate."""
        state = self._jobs.get(job_id)
        if state is None:
            return False
        copies = state.inflight.get(index)
        if copies is not None:
            copies[:] = [(w, t) for w, t in copies if w != worker_id]
            del state.inflight[index]  # every other copy of it is now a duplicate
        if index in state.done:
            return False
        state.done.add(index)
        return True

    def put_back(self, job_id: str, index: int, worker_id: str) -> bool:
        """A copy was lost (its worker died or faulted): pending again, first in line, unless
        the chunk is done or another copy still runs. True when it was put back."""
        state = self._jobs.get(job_id)
        if state is None or index in state.done:
            return False
        copies = state.inflight.get(index, [])
        copies[:] = [(w, t) for w, t in copies if w != worker_id]
        if copies:
            return False
        state.inflight.pop(index, None)
        if all(c.index != index for c in state.pending):  # type: ignore[attr-defined]
            state.pending.appendleft(state.chunks[index])
        return True

    def moved(self, job_id: str, index: int, old_worker: str, new_worker: str, now: float) -> None:
        """A copy moved to another worker (the fallback chain) without going back to the queue."""
        state = self._jobs.get(job_id)
        if state is None:
            return
        copies = state.inflight.setdefault(index, [])
        copies[:] = [(w, t) for w, t in copies if w != old_worker] + [(new_worker, now)]

    def inflight(self, job_id: str) -> int:
        state = self._jobs.get(job_id)
        return len(state.inflight) if state else 0

    def done(self, job_id: str) -> int:
        state = self._jobs.get(job_id)
        return len(state.done) if state else 0

    def complete(self, job_id: str) -> bool:
        state = self._jobs.get(job_id)
        return bool(state) and len(state.done) == state.total

    def on_worker(self, worker_id: str) -> list[Copy[C]]:
        """Every copy in flight on one worker (what a lost worker takes with it)."""
        return [Copy(job_id, state.chunks[i], w, t) for job_id, state in self._jobs.items()
                for i, copies in state.inflight.items() for w, t in copies if w == worker_id]
