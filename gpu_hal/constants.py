"""Every default number of gpu_hal, in one place.

The config dataclasses (`gpu_hal.config`) take their defaults from here; the
lead's pydantic `Settings` overrides them from RAYQUANT_* environment variables and
the YAML file. No other gpu_hal module holds a literal limit, size or timeout.
"""
from __future__ import annotations

MiB = 1 << 20
GiB = 1 << 30

# --- memory budget: budget = total x (1 - SAFETY_MARGIN) - RESERVED_BYTES ---------
SAFETY_MARGIN = 0.10
# CUDA context, cuBLAS/cuFFT workspaces and the CuPy default pool live outside the
# tenant pools; keep room for them.
RESERVED_BYTES = 512 * MiB
# Device information (free memory, ...) is re-queried at most this often.
INFO_TTL_S = 2.0
# A tenant's pool limit when none is given: this fraction of the device budget.
TENANT_LIMIT_FRACTION = 0.5
# Bytes each prewarmed pool keeps allocated (and charged to the budget).
PREWARM_POOL_BYTES = 64 * MiB
TRIM_IDLE_AFTER_S = 1.0  # an idle tenant pool keeps its cache this long (back-to-back chunks reuse it)
# Memory pressure levels, as fractions of the device budget (gpu_hal.memory.pressure):
# trim idle pools / stop admitting LOW and IDLE work / preempt LOW and IDLE work.
PRESSURE_TRIM = 0.75
PRESSURE_SHED = 0.85
PRESSURE_RECLAIM = 0.95
PRESSURE_HISTORY = 64  # transitions kept for status
# A REALTIME/HIGH request that does not fit waits this long for preempted LOW/IDLE work to let go
# (a LOW request stops at its next kernel; research chunks are sized to ~50 ms), polling this often.
RECLAIM_WAIT_S = 2.0
RECLAIM_POLL_S = 0.005
# Pool limit of the temporary context that runs kernel warm-ups.
WARMUP_POOL_LIMIT_BYTES = 256 * MiB
# Threads that compile GPU kernels at prewarm (NVRTC runs outside the GIL).
COMPILE_THREADS = 16

# --- health ----------------------------------------------------------------------
HEALTH_POLL_INTERVAL_S = 1.0
TEMPERATURE_DEGRADED_C = 85.0
TEMPERATURE_FAILED_C = 95.0
MEMORY_USED_DEGRADED_FRACTION = 0.98
ECC_CORRECTED_DEGRADED = 1000          # volatile corrected errors since driver load
ECC_UNCORRECTED_FAILED = 1             # volatile uncorrected errors since driver load
# XIDs that mean the GPU needs a reset (double-bit ECC, GSP/PMU failures, NVLink,
# fallen off the bus, uncontained ECC, row-remapping failure). Other XIDs (13, 31,
# 43, 45, ... are usually the application's own fault) only degrade the device.
XID_FATAL = (48, 61, 62, 64, 74, 79, 95, 119, 120, 140)
XID_DEGRADED_HOLD_S = 60.0             # a non-fatal XID degrades the device this long
# Clock-throttle reasons (NVML bit values) that degrade: HW slowdown 0x8,
# SW thermal 0x20, HW thermal 0x40, HW power brake 0x80.
THROTTLE_DEGRADED_MASK = 0x8 | 0x20 | 0x40 | 0x80
READ_FAILURES_FAILED = 3               # consecutive failed NVML reads -> FAILED
XID_WAIT_MS = 1                        # nvmlEventSetWait timeout per poll

# --- simulated devices (machines with no GPU) -------------------------------------
SIM_NUM_DEVICES = 1
SIM_MEMORY_BYTES = 16 * GiB
SIM_NAME = "Simulated GPU"
SIM_STREAM_PRIORITY_RANGE = (0, -5)    # (least, greatest), as on recent NVIDIA GPUs

# --- names from clients (tenants, datasets): never paths -------------------------
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$"
