"""Tests of kernels.strategies: the built-in strategies and the registry."""
