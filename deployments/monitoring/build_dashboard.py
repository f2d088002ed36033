"""Writes grafana_dashboard.json (run it after changing a panel; tests/deployments/monitoring/test_monitoring.py checks
that the committed JSON is what this script writes).

    python deployments/monitoring/build_dashboard.py
"""
import json
import sys
from pathlib import Path

DS = "${datasource}"  # as Ray's own dashboards: the Prometheus data source variable
panels = []
y = 0
def row(title):
    global y
    panels.append({"type": "row", "title": title, "collapsed": False, "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
    y += 1
pos = [0]
def panel(title, targets, unit="short", w=8, desc="", kind="timeseries", thresholds=None):
    global y
    x = pos[0]
    if x + w > 24:
        y += 8; x = 0
    p = {"type": kind, "title": title, "description": desc, "datasource": DS,
         "gridPos": {"h": 8, "w": w, "x": x, "y": y},
         "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
         "targets": [{"datasource": DS, "expr": e, "legendFormat": l, "refId": chr(65 + i)} for i, (e, l) in enumerate(targets)]}
    if thresholds:
        p["fieldConfig"]["defaults"]["thresholds"] = {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in thresholds]}
    panels.append(p)
    pos[0] = x + w
def newrow(title):
    global y
    if pos[0]:
        y += 8
    pos[0] = 0
    row(title)

newrow("Jobs and scheduling")
panel("Queue depth per class", [('sum by (job_class) (ray_rayquant_queue_depth{SessionName=~"$SessionName"})', "{{job_class}}")],
      desc="Queued jobs per priority class (REALTIME ... IDLE)")
panel("Job latency (submit to finish)", [
    ('histogram_quantile(0.5, sum by (le, kind) (rate(ray_rayquant_job_latency_seconds_bucket{SessionName=~"$SessionName"}[5m])))', "p50 {{kind}}"),
    ('histogram_quantile(0.99, sum by (le, kind) (rate(ray_rayquant_job_latency_seconds_bucket{SessionName=~"$SessionName"}[5m])))', "p99 {{kind}}")], unit="s")
panel("Preemptions", [('sum by (job_class) (rate(ray_rayquant_preemptions_total{SessionName=~"$SessionName"}[5m]))', "{{job_class}}")],
      unit="ops", desc="Preemptions at chunk boundaries per second, by the preempted job's class")
panel("Fallbacks by tier", [('sum by (tier) (rate(ray_rayquant_fallbacks_total{SessionName=~"$SessionName"}[5m]))', "{{tier}}")],
      unit="ops", desc="Work moved down the fallback chain (fresh stream, another GPU, CPU) per second")
panel("Result cache hit ratio", [
    ('sum(rate(ray_rayquant_result_cache_total{SessionName=~"$SessionName", outcome="hit"}[5m])) / clamp_min(sum(rate(ray_rayquant_result_cache_total{SessionName=~"$SessionName"}[5m])), 1e-9)', "result cache")],
    unit="percentunit")
panel("Workers", [('max by (state) (ray_rayquant_workers{SessionName=~"$SessionName"})', "{{state}}")],
      desc="Workers the coordinator knows (total) and how many are healthy")
panel("Chunk copies (tail stealing)", [('sum by (outcome) (rate(ray_rayquant_chunk_copies_total{SessionName=~"$SessionName"}[5m]))', "{{outcome}}")],
      unit="ops", desc="Second copies of a job's last chunks on idle workers (stolen) and late copies dropped (duplicate)")
newrow("Tenants")
panel("Device time per tenant", [('sum by (tenant, device_kind) (rate(ray_rayquant_tenant_device_seconds_total{SessionName=~"$SessionName"}[5m]))', "{{tenant}} {{device_kind}}")],
      unit="s", w=12, desc="Device seconds per second used by each tenant's jobs (fair share by weight)")
panel("Refusals per tenant", [('sum by (tenant, reason) (rate(ray_rayquant_tenant_refusals_total{SessionName=~"$SessionName"}[5m]))', "{{tenant}} {{reason}}")],
      unit="ops", w=12, desc="Requests refused by a tenant's quotas or granted classes, by reason")
newrow("Devices")
panel("Device memory used (charged to the budget)", [('max by (worker, device) (ray_rayquant_device_memory_used_bytes{SessionName=~"$SessionName"})', "{{worker}} {{device}}")], unit="bytes")
panel("Device memory free (budget left)", [('max by (worker, device) (ray_rayquant_device_memory_free_bytes{SessionName=~"$SessionName"})', "{{worker}} {{device}}")], unit="bytes")
panel("GPU utilisation", [('max by (worker, device) (ray_rayquant_device_utilization_pct{SessionName=~"$SessionName"})', "{{worker}} {{device}}")], unit="percent")
panel("Device health (0 HEALTHY, 1 DEGRADED, 2 FAILED)", [('max by (worker, device) (ray_rayquant_device_health{SessionName=~"$SessionName"})', "{{worker}} {{device}}")],
      thresholds=[(None, "green"), (1, "orange"), (2, "red")])
panel("Memory pressure level (0 NORMAL, 1 TRIM, 2 SHED, 3 RECLAIM)", [('max by (worker, device) (ray_rayquant_device_memory_pressure_level{SessionName=~"$SessionName"})', "{{worker}} {{device}}")],
      desc="TRIM: idle pools give memory back; SHED: no new LOW/IDLE work; RECLAIM: running LOW/IDLE work is cancelled",
      thresholds=[(None, "green"), (1, "yellow"), (2, "orange"), (3, "red")])
panel("Memory pressure (charged / budget)", [('max by (worker, device) (ray_rayquant_device_budget_used_ratio{SessionName=~"$SessionName"})', "{{worker}} {{device}}")],
      unit="percentunit", desc="Pressure levels: 75 % trim pools, 85 % stop placing low-class work, 95 % preempt it",
      thresholds=[(None, "green"), (0.75, "yellow"), (0.85, "orange"), (0.95, "red")])
newrow("Live path: streams and features")
panel("Stream ticks", [('sum by (worker) (rate(ray_rayquant_stream_ticks_total{SessionName=~"$SessionName"}[1m]))', "{{worker}}")], unit="ops")
panel("Stream batch latency", [
    ('histogram_quantile(0.5, sum by (le, worker) (rate(ray_rayquant_stream_batch_seconds_bucket{SessionName=~"$SessionName"}[5m])))', "p50 {{worker}}"),
    ('histogram_quantile(0.99, sum by (le, worker) (rate(ray_rayquant_stream_batch_seconds_bucket{SessionName=~"$SessionName"}[5m])))', "p99 {{worker}}")], unit="s")
panel("Open streams", [('sum by (worker) (ray_rayquant_streams_open{SessionName=~"$SessionName"})', "{{worker}}")])
panel("Feature cache lookups", [('sum by (outcome) (rate(ray_rayquant_feature_cache_total{SessionName=~"$SessionName"}[1m]))', "{{outcome}}")], unit="ops")
panel("Feature cache hit ratio", [('max by (worker) (ray_rayquant_feature_cache_hit_ratio{SessionName=~"$SessionName"})', "{{worker}}")], unit="percentunit")
newrow("Requests (Serve HTTP and gRPC)")
panel("HTTP requests per route", [('sum by (application, route) (rate(ray_serve_num_http_requests_total{SessionName=~"$SessionName"}[1m]))', "{{application}} {{route}}")], unit="reqps")
panel("HTTP error ratio per route", [
    ('sum by (application, route) (rate(ray_serve_num_http_error_requests_total{SessionName=~"$SessionName"}[5m])) / clamp_min(sum by (application, route) (rate(ray_serve_num_http_requests_total{SessionName=~"$SessionName"}[5m])), 1e-9)', "{{application}} {{route}}")],
    unit="percentunit")
panel("HTTP latency p99 per route", [('histogram_quantile(0.99, sum by (le, application, route) (rate(ray_serve_http_request_latency_ms_bucket{SessionName=~"$SessionName"}[5m])))', "{{application}} {{route}}")], unit="ms")
panel("gRPC requests per method", [('sum by (application, method) (rate(ray_serve_num_grpc_requests_total{SessionName=~"$SessionName"}[1m]))', "{{application}} {{method}}")], unit="reqps")
panel("gRPC error ratio per method", [
    ('sum by (application, method) (rate(ray_serve_num_grpc_error_requests_total{SessionName=~"$SessionName"}[5m])) / clamp_min(sum by (application, method) (rate(ray_serve_num_grpc_requests_total{SessionName=~"$SessionName"}[5m])), 1e-9)', "{{application}} {{method}}")],
    unit="percentunit")
panel("gRPC latency p99 per method", [('histogram_quantile(0.99, sum by (le, application, method) (rate(ray_serve_grpc_request_latency_ms_bucket{SessionName=~"$SessionName"}[5m])))', "{{application}} {{method}}")], unit="ms")

for i, p in enumerate(panels):
    p["id"] = i + 1
dash = {
    "__inputs": [], "annotations": {"list": []}, "editable": True, "graphTooltip": 1,
    "title": "rayquant", "uid": "rayquant-overview", "tags": ["rayquant", "ray"],
    "description": "rayquant: jobs, devices, live path and requests (Prometheus metrics exported by Ray; deployments/monitoring/README.md)",
    "time": {"from": "now-1h", "to": "now"}, "refresh": "30s", "schemaVersion": 39, "version": 1,
    "templating": {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus", "current": {},
         "description": "The Prometheus that scrapes Ray (as Ray's dashboards)", "hide": 0, "refresh": 1, "regex": "", "includeAll": False, "multi": False},
        {"name": "SessionName", "label": "Ray session", "type": "query", "datasource": DS,
         "query": {"query": "label_values(ray_node_cpu_utilization, SessionName)", "refId": "SessionName"},
         "definition": "label_values(ray_node_cpu_utilization, SessionName)",
         "includeAll": True, "allValue": ".*", "multi": True, "current": {"text": "All", "value": "$__all"},
         "refresh": 2, "hide": 0, "sort": 1},
    ]},
    "panels": panels,
}
out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("grafana_dashboard.json")
out.write_text(json.dumps(dash, indent=2) + "\n")
print(f"{out}: {len(panels)} panels")
