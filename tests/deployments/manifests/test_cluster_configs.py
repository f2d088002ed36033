"""cluster.yaml (Ray's own launcher validation) and deployments/manifests/rayservice.yaml (a schema
for the fields that matter, Serve's own config schema, an importable app)."""
from __future__ import annotations

import copy
import importlib
import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml

ray = pytest.importorskip("ray")
jsonschema = pytest.importorskip("jsonschema")

from actors.settings import Settings  # noqa: E402

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[3]
CLUSTER_YAML = REPO / "cluster.yaml"
RAYSERVICE_YAML = REPO / "deployments" / "manifests" / "rayservice.yaml"
SERVE_CONFIG_YAML = REPO / "deployments" / "manifests" / "serve_config.yaml"
APP_IMPORT_PATH = "deployments.app:app"
LIVE_APP_IMPORT_PATH = "deployments.app:live_app"


def pinned_ray_version() -> str:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [d for d in deps if re.match(r"ray(\[.*\])?==", d)]
    return pin.split("==", 1)[1]


def settings_from_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    """Settings as a process with exactly these RAYQUANT_* variables would build them."""
    import os  # noqa: PLC0415

    for name in [k for k in os.environ if k.startswith("RAYQUANT_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_ray_pin_matches_the_installed_ray():
    assert pinned_ray_version() == ray.__version__


# ------------------------------------------------------------------ cluster.yaml
@pytest.fixture(scope="module")
def cluster() -> dict:
    return yaml.safe_load(CLUSTER_YAML.read_text())


@pytest.fixture(scope="module")
def prepared(cluster) -> dict:
    """The config as `ray up` sees it: defaults merged, then validated by Ray."""
    from ray.autoscaler._private.util import prepare_config, validate_config  # noqa: PLC0415

    config = prepare_config(copy.deepcopy(cluster))
    validate_config(config)
    return config


def test_cluster_yaml_passes_ray_validation(prepared):
    assert prepared["cluster_name"] == "rayquant"
    assert prepared["head_node_type"] in prepared["available_node_types"]


def test_cluster_yaml_rejects_what_ray_rejects(cluster):
    """The validation above has teeth: a broken copy fails it."""
    from ray.autoscaler._private.util import prepare_config, validate_config  # noqa: PLC0415

    broken = copy.deepcopy(cluster)
    broken["head_node_type"] = "no_such_type"
    with pytest.raises((ValueError, KeyError, jsonschema.ValidationError)):
        validate_config(prepare_config(broken))
    broken = copy.deepcopy(cluster)
    broken["available_node_types"]["gpu_a10g"]["resources"] = {"GPU": "one"}
    with pytest.raises(jsonschema.ValidationError):
        validate_config(prepare_config(broken))


def test_cluster_yaml_node_types(prepared):
    types = prepared["available_node_types"]
    head = types[prepared["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0 and head["max_workers"] == 0
    gpu_types = {name: t for name, t in types.items() if t["resources"].get("GPU", 0) >= 1}
    assert gpu_types, "a GPU worker node type"
    assert any(t["min_workers"] >= 1 for t in gpu_types.values()), "a GPU worker up when the service starts"
    assert sum(t["min_workers"] for t in types.values()) <= prepared["max_workers"]


def test_cluster_yaml_images_pin_the_project_ray(cluster):
    docker = cluster["docker"]
    version = pinned_ray_version()
    for key in ("head_image", "worker_image"):
        image = docker[key]
        assert image.startswith(f"rayproject/ray:{version}-py3"), image
    assert docker["worker_image"].endswith("-gpu")


def test_cluster_yaml_installs_the_project(prepared):
    (remote,) = [r for r, local in prepared["file_mounts"].items() if local == "."]
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "gpu" in extras

    def installs(commands: list[str]) -> list[str]:
        targets = []
        for command in commands:
            words = shlex.split(command)
            if "pip" in words and "install" in words and "-e" in words:
                targets.append(words[words.index("-e") + 1])
        return targets

    assert installs(prepared["head_setup_commands"]) == [remote]
    assert installs(prepared["worker_setup_commands"]) == [f"{remote}[gpu]"]
    assert ".venv" in prepared["rsync_exclude"] and ".git" in prepared["rsync_exclude"]


def test_cluster_yaml_start_commands(prepared, monkeypatch):
    head = " ".join(prepared["head_start_ray_commands"])
    worker = " ".join(prepared["worker_start_ray_commands"])
    assert "ray start --head" in head and "--port=6379" in head
    assert "--ray-client-server-port=10001" in head and "--dashboard-host=0.0.0.0" in head
    assert "--autoscaling-config=~/ray_bootstrap_config.yaml" in head
    assert "ray start --address=$RAY_HEAD_IP:6379" in worker
    exported = dict(re.findall(r"export (RAYQUANT_[A-Z_]+)=(\S+?);", head + " " + worker))
    assert "RAYQUANT_STORAGE_DIR" in exported
    settings = settings_from_env(monkeypatch, exported)
    assert str(settings.storage_dir) == exported["RAYQUANT_STORAGE_DIR"]


def test_cluster_yaml_turns_on_serve_direct_ingress_on_every_node(prepared):
    from deployments.service import DIRECT_INGRESS_ENV  # noqa: PLC0415

    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        command = " ".join(prepared[key])
        exported = dict(re.findall(r"(RAY_SERVE_[A-Z_]+)=(\S+?)[;\s]", command))
        assert exported == DIRECT_INGRESS_ENV, key


# ------------------------------------------------------------- rayservice.yaml
QUANTITY = {"type": ["string", "integer"], "pattern": r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$"}
GPU_COUNT = {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": r"^[1-9][0-9]*$"}]}
CONTAINER = {
    "type": "object",
    "required": ["name", "image", "resources"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "image": {"type": "string", "minLength": 1},
        "env": {"type": "array", "items": {"type": "object", "required": ["name"],
                                           "properties": {"name": {"type": "string"}, "value": {"type": "string"}}}},
        "ports": {"type": "array", "items": {"type": "object", "required": ["containerPort"],
                                             "properties": {"containerPort": {"type": "integer"}}}},
        "resources": {"type": "object", "required": ["limits"],
                      "properties": {"limits": {"type": "object", "additionalProperties": QUANTITY},
                                     "requests": {"type": "object", "additionalProperties": QUANTITY}}},
    },
}
POD_TEMPLATE = {
    "type": "object",
    "required": ["spec"],
    "properties": {"spec": {"type": "object", "required": ["containers"],
                            "properties": {"containers": {"type": "array", "minItems": 1, "items": CONTAINER}}}},
}
GPU_CONTAINER = {"type": "object", "required": ["resources"], "properties": {"resources": {
    "type": "object", "required": ["limits"],
    "properties": {"limits": {"type": "object", "required": ["nvidia.com/gpu"], "properties": {"nvidia.com/gpu": GPU_COUNT}}},
}}}
RAYSERVICE_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "ray.io/v1"},
        "kind": {"const": "RayService"},
        "metadata": {"type": "object", "required": ["name"],
                     "properties": {"name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}}},
        "spec": {
            "type": "object",
            "required": ["serveConfigV2", "rayClusterConfig"],
            "properties": {
                "serveConfigV2": {"type": "string", "minLength": 1},
                "rayClusterConfig": {
                    "type": "object",
                    "required": ["rayVersion", "headGroupSpec", "workerGroupSpecs"],
                    "properties": {
                        "rayVersion": {"type": "string"},
                        "enableInTreeAutoscaling": {"type": "boolean"},
                        "headGroupSpec": {
                            "type": "object",
                            "required": ["template"],
                            "properties": {
                                "rayStartParams": {"type": "object", "additionalProperties": {"type": "string"}},
                                "template": POD_TEMPLATE,
                            },
                        },
                        "workerGroupSpecs": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "object",
                                "required": ["groupName", "replicas", "minReplicas", "maxReplicas", "template"],
                                "properties": {
                                    "groupName": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                                    "replicas": {"type": "integer", "minimum": 0},
                                    "minReplicas": {"type": "integer", "minimum": 0},
                                    "maxReplicas": {"type": "integer", "minimum": 1},
                                    "rayStartParams": {"type": "object", "additionalProperties": {"type": "string"}},
                                    "template": POD_TEMPLATE,
                                },
                            },
                            # At least one group whose containers ask for a GPU.
                            "contains": {"properties": {"template": {"properties": {"spec": {"properties": {
                                "containers": {"contains": GPU_CONTAINER}}}}}}},
                        },
                    },
                },
            },
        },
    },
}


@pytest.fixture(scope="module")
def manifests() -> list[dict]:
    return [d for d in yaml.safe_load_all(RAYSERVICE_YAML.read_text()) if d]


@pytest.fixture(scope="module")
def rayservice(manifests) -> dict:
    (service,) = [d for d in manifests if d.get("kind") == "RayService"]
    return service


@pytest.fixture(scope="module")
def serve_config(rayservice) -> dict:
    return yaml.safe_load(rayservice["spec"]["serveConfigV2"])


def containers(pod_template: dict) -> list[dict]:
    return pod_template["spec"]["containers"]


def test_rayservice_matches_the_schema(rayservice):
    jsonschema.validate(rayservice, RAYSERVICE_SCHEMA)


def test_rayservice_schema_has_teeth(rayservice):
    broken = copy.deepcopy(rayservice)
    for group in broken["spec"]["rayClusterConfig"]["workerGroupSpecs"]:
        for c in containers(group["template"]):
            c["resources"]["limits"].pop("nvidia.com/gpu", None)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, RAYSERVICE_SCHEMA)
    broken = copy.deepcopy(rayservice)
    broken["apiVersion"] = "ray.io/v1alpha1"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, RAYSERVICE_SCHEMA)


def test_rayservice_cluster(rayservice):
    cluster = rayservice["spec"]["rayClusterConfig"]
    assert cluster["rayVersion"] == pinned_ray_version()
    head = cluster["headGroupSpec"]
    assert head["rayStartParams"]["dashboard-host"] == "0.0.0.0"
    assert all("nvidia.com/gpu" not in c["resources"].get("limits", {}) for c in containers(head["template"]))
    ports = {p["containerPort"] for c in containers(head["template"]) for p in c.get("ports", [])}
    assert {6379, 8265, 10001, 8000} <= ports
    gpu_groups = 0
    for group in cluster["workerGroupSpecs"]:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        for c in containers(group["template"]):
            limit = c["resources"]["limits"].get("nvidia.com/gpu")
            if limit is not None:
                gpu_groups += 1
                # Kubernetes needs extended resources' requests (if given) equal to limits.
                assert str(c["resources"].get("requests", {}).get("nvidia.com/gpu", limit)) == str(limit)
    assert gpu_groups >= 1


def test_rayservice_volumes_name_a_claim_in_the_file(rayservice, manifests):
    claims = {d["metadata"]["name"] for d in manifests if d.get("kind") == "PersistentVolumeClaim"}
    cluster = rayservice["spec"]["rayClusterConfig"]
    templates = [cluster["headGroupSpec"]["template"]] + [g["template"] for g in cluster["workerGroupSpecs"]]
    for template in templates:
        volumes = {v["name"]: v for v in template["spec"].get("volumes", [])}
        for c in containers(template):
            for mount in c.get("volumeMounts", []):
                claim = volumes[mount["name"]]["persistentVolumeClaim"]["claimName"]
                assert claim in claims


def test_rayservice_env_builds_valid_settings(rayservice, monkeypatch):
    cluster = rayservice["spec"]["rayClusterConfig"]
    templates = [cluster["headGroupSpec"]["template"]] + [g["template"] for g in cluster["workerGroupSpecs"]]
    envs = [{e["name"]: e["value"] for e in c.get("env", []) if e["name"].startswith("RAYQUANT_")}
            for t in templates for c in containers(t)]
    assert all(env == envs[0] for env in envs), "head and workers build the same settings"
    settings = settings_from_env(monkeypatch, envs[0])
    assert settings.ray.detached, "a deployed coordinator outlives the replica that created it"
    mounts = {m["mountPath"] for t in templates for c in containers(t) for m in c.get("volumeMounts", [])}
    assert str(settings.storage_dir) in mounts, "the storage dir is on the shared volume"


def test_serve_config_v2_is_a_valid_serve_config(serve_config):
    from ray.serve.schema import ServeDeploySchema  # noqa: PLC0415

    schema = ServeDeploySchema.model_validate(serve_config)
    app, live = schema.applications
    assert (app.import_path, live.import_path) == (APP_IMPORT_PATH, LIVE_APP_IMPORT_PATH)
    assert live.route_prefix != app.route_prefix


def test_serve_config_v2_names_an_importable_app(serve_config):
    from ray.serve import Application  # noqa: PLC0415

    for app, ingress in zip(serve_config["applications"], ("INGRESS_NAME", "LIVE_INGRESS_NAME"), strict=True):
        module, attr = app["import_path"].split(":")
        imported = importlib.import_module(module)
        assert isinstance(getattr(imported, attr), Application)
        names = {d["name"] for d in app.get("deployments", [])}
        assert names <= {getattr(imported, ingress)}


def test_serve_config_v2_mirrors_serve_config_yaml(serve_config):
    if not SERVE_CONFIG_YAML.exists():
        pytest.skip("deployments/manifests/serve_config.yaml is not there")
    base = yaml.safe_load(SERVE_CONFIG_YAML.read_text())
    assert serve_config["http_options"]["port"] == base["http_options"]["port"]
    assert serve_config["proxy_location"] == base["proxy_location"]
    assert len(serve_config["applications"]) == len(base["applications"]) == 2
    for ours, theirs in zip(serve_config["applications"], base["applications"]):
        for key in ("name", "route_prefix"):
            assert ours[key] == theirs[key], key
        assert ours["deployments"] == theirs["deployments"]
