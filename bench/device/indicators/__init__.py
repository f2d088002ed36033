"""GPU-machine scripts for the indicators: TA-Lib's function set on CuPy and the CUDA column kernels, checked and timed."""
