"""TA-Lib functions whose GPU form is a CUDA C column kernel (the sources in `cuda/`).

Each `cuda/<group>.cu` mirrors the Numba module `cpu/<group>.py`: the same function codes
and parameter vector (`cpu.param_vector`), TA-Lib's operations in TA-Lib's order, one CUDA
thread per column reading neighbouring columns (coalesced) and temporaries in scratch planes.
A source names the functions it covers (`// gpu names: ...`) and the scratch planes it
needs (`// scratch planes: K`) in its header. The same text also compiles on the host with
g++ (`cuda/include/host_shim.h`), which is how CI checks these kernels against TA-Lib without a GPU
(tests/kernels/indicators/talib/cuda/test_cuda_columns.py).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from kernels.indicators.talib import time_split

CUDA_DIR = Path(__file__).with_name("cuda")  # one <group>.cu per Numba group module
INCLUDE_DIR = CUDA_DIR / "include"  # the headers they share (column.cuh, ma.cuh, ...) and host_shim.h
NVRTC_OPTIONS: tuple[str, ...] = ("--fmad=false", "-std=c++17")  # no contracted multiply-adds: CPU's bits
BLOCK = 32  # threads per block (one warp: neighbouring threads are neighbouring columns of one segment)


@dataclass(frozen=True)
class GroupSource:
    """One `cuda/<group>.cu`: the functions it covers and the scratch planes it needs."""

    group: str
    path: Path
    names: tuple[str, ...]
    scratch: int

    @property
    def entry(self) -> str:
        return f"talib_{self.group}"


def _header(text: str, key: str) -> str:
    m = re.search(rf"^//\s*{key}:\s*(.*)$", text, re.MULTILINE)
    if m is None:
        raise ValueError(f"missing '// {key}: ...' line")
    return m.group(1).strip()


@functools.lru_cache(maxsize=1)
def sources() -> dict[str, GroupSource]:
    """group -> its CUDA source, for every `cuda/*.cu`."""
    from kernels.indicators.talib.cpu import registry  # noqa: PLC0415

    reg = registry()
    out: dict[str, GroupSource] = {}
    for path in sorted(CUDA_DIR.glob("*.cu")):
        text = path.read_text()
        group = path.stem
        listed = _header(text, "gpu names").split()
        group_names = tuple(n for n, (mod, _) in reg.items() if mod.__name__.rsplit(".", 1)[-1] == group)
        names = group_names if listed == ["all"] else tuple(listed)
        unknown = [n for n in names if n not in group_names]
        if unknown:
            raise ValueError(f"{path.name}: {unknown} are not functions of cpu/{group}.py")
        out[group] = GroupSource(group, path, names, int(_header(text, "scratch planes")))
    return out


@functools.lru_cache(maxsize=1)
def registry() -> dict[str, tuple[GroupSource, int]]:
    """name -> (its CUDA source, its code in the group) for every function with a column kernel."""
    from kernels.indicators.talib.cpu import registry as cpu_registry  # noqa: PLC0415

    reg = cpu_registry()
    return {name: (src, reg[name][1]) for src in sources().values() for name in src.names}


def functions() -> tuple[str, ...]:
    return tuple(sorted(registry()))


@dataclass(frozen=True)
class Launch:
    """Everything one launch needs, backend-neutral (the GPU and the host harness both use it)."""

    source: GroupSource
    code: int
    n_in: int
    params: np.ndarray
    n_out: int


def plan(name: str, n_in: int, values: Mapping[str, Any], n_out: int) -> Launch:
    from kernels.indicators.talib.cpu import param_vector  # noqa: PLC0415

    src, code = registry()[name]
    return Launch(src, code, n_in, param_vector(name, values), n_out)


_INCLUDE = re.compile(r'^[ \t]*#include[ \t]+"([^"]+)"[ \t]*$', re.MULTILINE)


def expanded_source(path: Path, seen: set[str] | None = None) -> str:
    """The source with its `#include "..."` headers (from include/) written in, each once: CuPy's
    kernel cache is keyed on the code string, so a changed header must change the string."""
    seen = set() if seen is None else seen

    def one(m: re.Match) -> str:
        name = m.group(1)
        if name in seen:
            return ""
        seen.add(name)
        return expanded_source(INCLUDE_DIR / name, seen)

    return _INCLUDE.sub(one, path.read_text())


@functools.lru_cache(maxsize=None)
def _function(group: str) -> Any:
    import cupy  # noqa: PLC0415

    src = sources()[group]
    module = cupy.RawModule(code=expanded_source(src.path), options=NVRTC_OPTIONS)
    return module.get_function(src.entry)


def buffers(xp: Any, job: Launch, split: time_split.Split, n_cols: int) -> tuple[Any, Any, Any]:
    """(out, scratch, wbuf) of a launch: out (n_out, T, N); scratch (planes, S, L, N), a thread's planes;
    wbuf (n_out, S, warm, N), a thread's warm-up outputs (column.cuh, the entry point)."""
    out = xp.empty((job.n_out, split.n_bars, n_cols), dtype=xp.float64)
    scratch = xp.empty((job.source.scratch, split.segments, split.rows, n_cols), dtype=xp.float64)  # none: 0 planes
    wbuf = xp.empty((job.n_out, split.segments, split.warm, n_cols), dtype=xp.float64) if split.warm else out
    return out, scratch, wbuf


def launch_args(job: Launch, arrays: Sequence[Any], params: Any, out: Any, scratch: Any, wbuf: Any,
                split: time_split.Split, n_cols: int) -> tuple:
    """The kernel's arguments in RQ_GROUP_ARGS order (column.cuh)."""
    a = list(arrays) + [arrays[0]] * (5 - len(arrays))
    return (np.int32(job.code), *a, np.int32(job.n_in), params, out, np.int32(job.n_out), scratch,
            np.int32(job.source.scratch), np.int32(split.n_bars), np.int64(n_cols), np.int32(split.seg),
            np.int32(split.warm), wbuf)


@functools.lru_cache(maxsize=512)
def _device_params(device: int, values: bytes) -> Any:
    import cupy  # noqa: PLC0415

    return cupy.asarray(np.frombuffer(values, dtype=np.float64))


def device_params(params: np.ndarray) -> Any:
    """A float64 parameter vector on the current device, copied there once per (device, values) and
    then reused (read-only to the kernels): a call does not pay a host-to-device copy for it."""
    import cupy  # noqa: PLC0415

    return _device_params(cupy.cuda.Device().id, np.ascontiguousarray(params, dtype=np.float64).tobytes())


def run(name: str, ins: Sequence[Any], values: Mapping[str, Any], n_out: int, block: int = BLOCK,
        cut: time_split.Split | None = None) -> list:
    """The outputs ((T, N) CuPy float64, NaN where no value) of `name` over (T, N) CuPy inputs
    (`block`: threads per block). `cut`: time segments (`time_split.plan`, for inputs without
    interior gaps); default one thread per column."""
    import cupy  # noqa: PLC0415

    arrays = [cupy.ascontiguousarray(a, dtype=cupy.float64) for a in ins]
    job = plan(name, len(arrays), values, n_out)
    n_bars, n_cols = (int(d) for d in arrays[0].shape)
    cut = cut or time_split.plan(n_bars, n_cols, None)
    out, scratch, wbuf = buffers(cupy, job, cut, n_cols)
    params = device_params(job.params)
    threads = n_cols * cut.segments
    _function(job.source.group)(((threads + block - 1) // block,), (block,),
                                launch_args(job, arrays, params, out, scratch, wbuf, cut, n_cols))
    return [out[k] for k in range(n_out)]


def warm_up() -> None:
    """Compile every group's module (NVRTC, cached on disk by CuPy)."""
    for group in sources():
        _function(group)
