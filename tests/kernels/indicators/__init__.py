"""Tests of kernels.indicators: batch and streaming indicators, the NaN policy; TA-Lib's function set in talib/."""
