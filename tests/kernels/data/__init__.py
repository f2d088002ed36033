"""Tests of kernels.data: panels, the synthetic universe, long-form and wide Parquet/CSV, the upload parsers."""
