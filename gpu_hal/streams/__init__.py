"""CUDA streams: job classes and their stream priorities, and the per-tenant stream set."""
