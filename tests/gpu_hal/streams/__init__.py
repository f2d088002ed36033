"""Tests of gpu_hal.streams: job classes and stream priorities."""
