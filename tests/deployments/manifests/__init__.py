"""Tests of deployments/manifests (the Serve config and the KubeRay RayService) and cluster.yaml."""
