"""GPU-machine scripts for the backtest engine: the orders engine, sweeps and sweep plans, groups and walk-forward folds."""
