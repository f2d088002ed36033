"""Tests of gpu_hal.memory: budget, pools and the memory truth, pressure, idle trimming."""
