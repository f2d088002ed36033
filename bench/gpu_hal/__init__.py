"""Benchmarks of gpu_hal/ on one device: strategy contexts (pools, streams) and one memory truth under pressure."""
