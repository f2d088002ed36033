"""The operations pack: the Grafana dashboard, the Prometheus alert rules and Serve autoscaling.

No Ray cluster: promtool (Debian's `prometheus` package, installed by .ci/run) checks and
unit-tests the rules; every metric the dashboard and the rules name must be exported by the code
(ours: the `ray.util.metrics` names in actors/, deployments/, gpu_hal/; Serve's and Ray's: in the
installed Ray), with Ray's exported form (`ray_` prefix, `_bucket`/`_sum`/`_count` of histograms).
The Serve configs autoscale both applications as `deployments.app.autoscaling_config` says.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
MONITORING = REPO / "deployments" / "monitoring"
DASHBOARD = MONITORING / "grafana_dashboard.json"
RULES = MONITORING / "alert_rules.yml"
RAY_DIR = Path(__import__("ray").__file__).parent
# Prometheus functions, keywords and label names that look like identifiers in an expression.
_PROMQL_WORDS = {"sum", "by", "rate", "max", "min", "histogram_quantile", "clamp_min", "max_over_time", "min_over_time",
                 "absent", "without", "le", "on", "ignoring", "and", "or", "unless", "count", "avg"}
_METRIC = re.compile(r"\b(ray_[a-z0-9_:]+)")


# ------------------------------------------------------------------ what the code exports
def our_metrics() -> set[str]:
    """Names given to ray.util.metrics Counter/Gauge/Histogram in our packages."""
    pattern = re.compile(r"\b(?:m|metrics)\.(?:Counter|Gauge|Histogram)\(\s*\"([a-z0-9_]+)\"", re.S)
    names: set[str] = set()
    for package in ("actors", "deployments", "gpu_hal"):
        for path in (REPO / package).rglob("*.py"):
            names |= set(pattern.findall(path.read_text()))
    return names


def ray_metrics() -> set[str]:
    """Metric names defined in the installed Ray (Serve's ingress metrics per protocol, the node metrics)."""
    names: set[str] = set()
    for path in [RAY_DIR / "serve" / "_private" / "request_ingress_metrics.py",
                 RAY_DIR / "dashboard" / "modules" / "reporter" / "reporter_agent.py"]:
        text = path.read_text()
        for raw in re.findall(r"f?\"((?:serve|node)_[a-z_{}]+)\"", text):
            names |= {raw.replace("{protocol_name}", p) for p in ("http", "grpc")}
    return names


def exported(name: str, ours: set[str], ray: set[str]) -> bool:
    """Is `name` (as Prometheus sees it) what Ray exports for one of the code's metrics?"""
    if not name.startswith("ray_"):
        return False
    base = name[len("ray_"):]
    candidates = {base}
    for suffix in ("_bucket", "_sum", "_count", "_total"):
        if base.endswith(suffix):
            candidates.add(base[: -len(suffix)])
    return bool(candidates & (ours | ray))


def metric_names(expr: str) -> set[str]:
    return {m for m in _METRIC.findall(expr) if m not in _PROMQL_WORDS}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


@pytest.fixture(scope="module")
def rules() -> dict:
    return yaml.safe_load(RULES.read_text())


def dashboard_exprs(dashboard: dict) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if v.get("definition")]
    return exprs


def rule_exprs(rules: dict) -> list[str]:
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


# ------------------------------------------------------------------ the dashboard
def test_dashboard_is_importable_with_ray_datasource_variable(dashboard):
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert all(p["datasource"] == "${datasource}" and p["targets"] for p in panels)
    assert all(t["datasource"] == "${datasource}" for p in panels for t in p["targets"])
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"] and dashboard["schemaVersion"] >= 30
    for p in panels:  # Grafana's 24-column grid
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0


def test_dashboard_shows_what_the_issue_lists(dashboard):
    titles = " | ".join(p["title"].lower() for p in dashboard["panels"])
    for words in ("queue depth per class", "job latency", "preemptions", "fallbacks by tier", "device memory",
                  "utilisation", "device health", "memory pressure", "stream ticks", "stream batch latency",
                  "cache hit ratio", "requests per route", "error ratio per route", "workers"):
        assert words in titles, words
    exprs = " ".join(dashboard_exprs(dashboard))
    for metric in our_metrics():  # every metric the service exports is on the dashboard
        assert f"ray_{metric}" in exprs, metric


def test_every_metric_the_dashboard_and_rules_name_is_exported(dashboard, rules):
    ours, ray = our_metrics(), ray_metrics()
    assert {"rayquant_queue_depth", "rayquant_device_health", "rayquant_device_budget_used_ratio",
            "rayquant_device_memory_pressure_level",
            "rayquant_workers"} <= ours
    assert {"serve_num_http_requests", "serve_num_grpc_error_requests", "serve_http_request_latency_ms"} <= ray
    named = set()
    for expr in dashboard_exprs(dashboard) + rule_exprs(rules):
        named |= metric_names(expr)
    missing = sorted(n for n in named if not exported(n, ours, ray))
    assert not missing, f"named but not exported by the code: {missing}"
    # The check has teeth: a made-up metric is caught.
    assert not exported("ray_rayquant_memory_pressure_level", ours, ray)
    assert not exported("rayquant_queue_depth", ours, ray)  # without Ray's prefix Prometheus has no such series


# ------------------------------------------------------------------ the alert rules
def test_rules_cover_the_issue_alerts(rules):
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    for name in ("RayQuantDeviceFailed", "RayQuantDeviceDegraded", "RayQuantFallbackRate", "RayQuantLiveBacklog",
                 "RayQuantResearchBacklog", "RayQuantHttpErrorRatio", "RayQuantMemoryPressure",
                 "RayQuantWorkerMissing"):
        assert name in alerts, name
    assert all(r["labels"]["severity"] in ("warning", "critical") and r["annotations"]["summary"]
               for r in alerts.values())


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (Debian's prometheus package; .ci/run installs it with apt-get)")
    return path


def test_promtool_check_rules():
    out = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_promtool_rule_unit_tests_fire_each_alert():
    out = subprocess.run([promtool(), "test", "rules", "alert_rules_test.yml"], cwd=MONITORING, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_catches_a_broken_rule(tmp_path):
    broken = yaml.safe_load(RULES.read_text())
    broken["groups"][0]["rules"][0]["expr"] = "max by (worker (ray_rayquant_device_health)"
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump(broken))
    out = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0


# ------------------------------------------------------------------ Serve autoscaling
def _deployments(config: dict) -> dict[str, dict]:
    return {d["name"]: d for app in config["applications"] for d in app.get("deployments", [])}


def test_serve_configs_autoscale_both_applications():
    from ray.serve.schema import ServeDeploySchema  # noqa: PLC0415

    from actors.settings import load_settings  # noqa: PLC0415
    from deployments.app import INGRESS_NAME, LIVE_INGRESS_NAME, autoscaling_config  # noqa: PLC0415

    base = yaml.safe_load((REPO / "deployments" / "manifests" / "serve_config.yaml").read_text())
    (service,) = [d for d in yaml.safe_load_all((REPO / "deployments" / "manifests" / "rayservice.yaml").read_text())
                  if d and d.get("kind") == "RayService"]
    v2 = yaml.safe_load(service["spec"]["serveConfigV2"])
    defaults = load_settings()
    for config in (base, v2):
        ServeDeploySchema.model_validate(config)
        deps = _deployments(config)
        for name, role in ((INGRESS_NAME, "all"), (LIVE_INGRESS_NAME, "live")):
            dep = deps[name]
            assert "num_replicas" not in dep, "autoscaled deployments set no fixed replica count"
            assert dep["autoscaling_config"] == autoscaling_config(defaults, role)
        live = deps[LIVE_INGRESS_NAME]["autoscaling_config"]
        assert live["min_replicas"] >= 1, "the live application keeps a replica warm"
        assert live["max_replicas"] > live["min_replicas"]


def test_deployment_options_follow_the_settings():
    from ray.serve.config import AutoscalingConfig  # noqa: PLC0415

    from actors.settings import load_settings  # noqa: PLC0415
    from deployments.app import deployment_options  # noqa: PLC0415

    settings = load_settings(serve={"live_num_replicas": 2, "live_max_replicas": 6, "target_ongoing_requests": 8})
    live = deployment_options(settings, "live")
    assert "num_replicas" not in live
    cfg = AutoscalingConfig(**live["autoscaling_config"])
    assert (cfg.min_replicas, cfg.max_replicas, cfg.target_ongoing_requests) == (2, 6, 8)
    fixed = deployment_options(load_settings(serve={"autoscaling": False, "num_replicas": 3}))
    assert fixed["num_replicas"] == 3 and "autoscaling_config" not in fixed
    with pytest.raises(ValueError):
        load_settings(serve={"num_replicas": 5, "max_replicas": 4})


def test_committed_dashboard_is_what_the_script_writes(tmp_path):
    import sys  # noqa: PLC0415

    out = tmp_path / "dashboard.json"
    subprocess.run([sys.executable, str(MONITORING / "build_dashboard.py"), str(out)], check=True, capture_output=True,
                   timeout=60)
    assert out.read_text() == DASHBOARD.read_text()


# ------------------------------------------------------------------ quiet by default
@pytest.mark.parametrize("argv,verbose", [(["serve"], False), (["serve", "--verbose"], True),
                                          (["--verbose", "serve"], True), (["demo", "-v"], True), (["demo"], False)])
def test_verbose_is_off_by_default_and_either_place_turns_it_on(argv, verbose):
    from deployments.cli import build_parser  # noqa: PLC0415

    assert bool(getattr(build_parser().parse_args(argv), "verbose", False)) is verbose
