"""The workers: a Ray-free `Worker` per device (or the CPU), the Ray actors that host
it (`GPUWorker`, `CPUWorker` on `worker_actor`), the in-process `LocalExecutor` for
tests and notebooks, and the worker's live feature cache.
"""
