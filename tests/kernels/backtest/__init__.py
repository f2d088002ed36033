"""Tests of kernels.backtest: run, the orders engine (from_signals, run_orders), sweeps, sweep plans, walk-forward."""
