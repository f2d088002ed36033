"""Tests of actors.scheduling.queues: the job queue, fair share and the preemption rule."""
