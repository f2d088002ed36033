"""Device memory: the one budget formula, per-tenant pools, pressure levels and idle-pool trimming."""
