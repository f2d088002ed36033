"""Backtest benchmarks: run, sweeps (and the GPU sweep profile), the orders engine (from_signals), walk-forward."""
