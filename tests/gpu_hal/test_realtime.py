from __future__ import annotations

import numpy as np
import pytest

from gpu_hal.device import Device
from gpu_hal.errors import InvalidName, QuotaExceeded, UnknownDataset
from gpu_hal.streams.priority import JobClass
from gpu_hal.realtime import DATASET_TENANT, WARMUP_TENANT, RealtimePath, _family_warmups
from kernels.data import synthetic_panel
from tests.gpu_hal.conftest import MiB, make_device


def warmups_ok():
    calls: list[str] = []
    table = {"indicators.sma": lambda: calls.append("sma"), "backtest.run": lambda: calls.append("run")}
    return (lambda: (table, {})), calls


def test_start_compiles_prewarms_and_preloads(device: Device) -> None:
    source, calls = warmups_ok()
    rt = RealtimePath(device, warmups=source)
    panel = synthetic_panel(8, 50)
    r = rt.start(["live", ("desk", JobClass.HIGH)], {"spx": panel})
    assert r.ready and r.started and r.simulated and "simulated" in r.mode
    assert sorted(calls) == ["run", "sma"]
    assert set(r.kernel_times_s) == {"indicators.sma", "backtest.run"}
    assert all(t >= 0 for t in r.kernel_times_s.values())
    assert r.prewarmed == {"live": 8 * MiB, "desk": 8 * MiB}
    assert device.get_context("live").job_class is JobClass.REALTIME
    assert device.get_context("desk").job_class is JobClass.HIGH
    assert r.datasets == {"spx": panel.nbytes}
    assert device.budget.charged == 16 * MiB + panel.nbytes
    assert WARMUP_TENANT not in device.pools  # the warm-up context is gone
    assert rt.status()["ready"] is True


def test_kernel_errors_are_reported_not_raised(device: Device) -> None:
    def boom() -> None:
        raise RuntimeError("nvrtc: compile error")

    rt = RealtimePath(device, warmups=lambda: ({"indicators.bad": boom, "indicators.ok": lambda: None},
                                               {"kernels.backtest.gpu": "ImportError: not yet"}))
    r = rt.start()
    assert not r.ready
    assert "nvrtc" in r.kernel_errors["indicators.bad"] and "indicators.ok" not in r.kernel_errors
    assert r.family_errors == {"kernels.backtest.gpu": "ImportError: not yet"}


def test_family_import_errors_are_collected() -> None:
    table, errors = _family_warmups(["kernels.nope.gpu", "json"])
    assert table == {} and "kernels.nope.gpu" in errors and "json" not in errors


def test_default_sources_never_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    # kernels' families may be incomplete while they are being written: report, don't raise.
    import gpu_hal.realtime as realtime

    def broken() -> None:
        raise ImportError("kernels.prewarm is broken")

    monkeypatch.setattr(realtime, "host_kernel_warmups", broken)
    dev = make_device(host_warmups=True)
    try:
        r = RealtimePath(dev).start()
        assert r.started and not r.ready and "ImportError" in r.family_errors["kernels.prewarm"]
    finally:
        dev.close()


def test_host_warmups_can_be_disabled(device: Device) -> None:
    r = RealtimePath(device).start()
    assert r.ready and "disabled" in r.notes[0]


def test_preload_evict_and_budget(device: Device) -> None:
    rt = RealtimePath(device, warmups=lambda: ({}, {}))
    p = synthetic_panel(4, 30)
    loaded = rt.preload("eq.us", p)
    assert isinstance(loaded.close, np.ndarray) and rt.dataset("eq.us") is loaded
    assert device.budget.charged == p.nbytes
    f32 = rt.preload("eq.us", p, dtype=np.float32)  # replaces
    assert f32.close.dtype == np.float32 and rt.datasets() == {"eq.us": p.nbytes // 2}
    assert rt.evict("eq.us") == p.nbytes // 2
    assert device.budget.charged == 0
    with pytest.raises(UnknownDataset):
        rt.dataset("eq.us")
    with pytest.raises(UnknownDataset):
        rt.evict("eq.us")
    with pytest.raises(InvalidName):
        rt.preload("../../etc/passwd", p)
    rt.close()
    assert DATASET_TENANT not in device.pools


def test_dataset_that_does_not_fit_is_refused(device: Device) -> None:
    class Big:
        nbytes = 10_000 * MiB

    rt = RealtimePath(device, warmups=lambda: ({}, {}))
    with pytest.raises(QuotaExceeded) as ei:
        rt.preload("huge", Big())
    assert ei.value.tenant == "dataset:huge" and ei.value.asked == 10_000 * MiB
    assert device.budget.charged == 0
    r = rt.start(datasets={"huge": Big()})
    assert not r.ready and "huge" in r.dataset_errors


def test_prewarm_that_does_not_fit_is_reported() -> None:
    dev = make_device(prewarm_pool_bytes=500 * MiB)
    try:
        # Each floor is capped at the tenant limit (400 MiB): two fit the 800 MiB budget.
        r = RealtimePath(dev, warmups=lambda: ({}, {})).start(["a", "b", "c"])
        assert r.prewarmed == {"a": 400 * MiB, "b": 400 * MiB} and "c" in r.prewarm_errors and not r.ready
        assert "QuotaExceeded" in r.prewarm_errors["c"]
    finally:
        dev.close()


def test_host_warmups_skip_families_without_a_cpu_module() -> None:
    from gpu_hal.realtime import _module_exists, host_kernel_warmups

    assert not _module_exists("kernels.no_such_family.cpu")
    table, errors = host_kernel_warmups()
    assert not any("No module named 'kernels." in e for e in errors.values()), errors
    assert all(callable(f) for f in table.values())
