"""Device health: the NVML health monitor and its readers, and fault injection for tests."""
