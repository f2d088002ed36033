"""Tests of gpu_hal.health: the health monitor and fault injection."""
