"""Tests of the CUDA C column kernels of kernels/indicators/talib/cuda/, built on the host with g++ (cuda_host.py) and by NVRTC on a GPU."""
