"""kernels.prewarm: the compile tasks cover every TA-Lib kernel module, and the CLI runs them in processes."""
from __future__ import annotations

from kernels import prewarm
from kernels.indicators.talib import cpu
from kernels.indicators.talib.cpu import rows


def test_compile_tasks_cover_every_talib_module_and_warm_up() -> None:
    names = prewarm.compile_tasks()
    modules = {mod.__name__ for mod, code in cpu.registry().values() if code >= 0}
    assert {f"talib.columns:{m}" for m in modules} <= set(names)
    assert {f"talib.rows:{mod.__name__}" for mod, _ in rows.registry().values()} <= set(names)
    assert {"talib.elementwise", "talib.stream"} <= set(names)
    assert set(prewarm.cpu_warmups()) <= set(names)


def test_cli_runs_tasks_in_processes(monkeypatch, caplog) -> None:
    cheap = ["backtest.run.trend_following", "backtest.run.momentum"]
    monkeypatch.setattr(prewarm, "compile_tasks", lambda: {n: prewarm.cpu_warmups().get(n, lambda: None)
                                                          for n in cheap})
    # the spawned processes rebuild the task list from the real module: every name here exists there
    caplog.set_level("INFO", logger="kernels.prewarm")
    prewarm.main(["--jobs", "2", "--verbose"])  # two spawned processes
    assert "2 kernel groups ready" in caplog.text
    assert all(n in caplog.text for n in cheap)
