"""Benchmarks of kernels/ against the peers: indicators/ (TA-Lib), backtest/ (vectorbt), and cold kernel compilation (bench_prewarm)."""
