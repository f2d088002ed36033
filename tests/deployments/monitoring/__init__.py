"""Tests of deployments/monitoring: the Grafana dashboard, the Prometheus alert rules, Serve autoscaling."""
