"""Tests of kernels.ml: datasets, labels, purged splits and the model zoo."""
