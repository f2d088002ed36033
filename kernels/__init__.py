"""Array computations with no Ray: data, indicators, strategies, backtests, sweeps.

One public API per computation and two backends behind it: NumPy + Numba on the
CPU, CuPy on the GPU (`backend="cpu" | "gpu" | "auto"`).
"""
