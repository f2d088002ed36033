"""GPU-machine scripts for gpu_hal: the gpu tests and benchmark, one memory truth (tenancy)."""
