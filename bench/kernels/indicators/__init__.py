"""Indicator benchmarks: TA-Lib's function set, the CUDA C column and pattern kernels, the NaN policy, streaming kernels."""
