"""The cluster files must be deployable as written: they parse, pass Ray's own launcher schema, name
the one image the repo builds and entrypoints that exist, and every label selector a config uses is
provided by some node pool."""

from __future__ import annotations

import importlib
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

from ilid_ray.config import load_build_config

REPO = Path(__file__).resolve().parents[2]
IMAGE_HOME = "/home/ray/ilid-ray/"  # where cluster/Dockerfile puts the repo


def load(rel: str) -> dict:
    return yaml.safe_load((REPO / rel).read_text())


def version() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def dockerfile_image() -> str:
    match = re.search(r"docker build -f cluster/Dockerfile -t (\S+) \.", (REPO / "cluster/Dockerfile").read_text())
    assert match, "cluster/Dockerfile must say the tag it is built as"
    return match.group(1)


def images(node) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "image" and isinstance(v, str)] + \
               [i for v in node.values() for i in images(v)]
    if isinstance(node, list):
        return [i for v in node for i in images(v)]
    return []


def kuberay(kind: str) -> list[tuple[str, dict]]:
    docs = [(p.name, yaml.safe_load(p.read_text())) for p in sorted((REPO / "cluster/kuberay").glob("*.yaml"))]
    return [(name, doc) for name, doc in docs if doc["kind"] == kind]


def launcher_pools() -> list[dict]:
    return [t.get("labels", {}) for t in load("cluster/aws.yaml")["available_node_types"].values()]


def kuberay_pools(cluster_spec: dict) -> list[dict]:
    groups = [cluster_spec["headGroupSpec"], *cluster_spec.get("workerGroupSpecs", [])]
    return [g.get("labels", {}) for g in groups]


def satisfied(selector: dict, pools: list[dict]) -> bool:
    return any(all(pool.get(k) == v for k, v in selector.items()) for pool in pools)


def test_launcher_config_passes_rays_schema():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = prepare_config(load("cluster/aws.yaml"))
    validate_config(config)
    pools = {name: t.get("labels", {}).get("ilid.io/pool") for name, t in config["available_node_types"].items()}
    assert pools == {"head": "head", "cpu": "cpu", "gpu": "gpu"}
    assert config["available_node_types"]["gpu"]["resources"].get("GPU", 0) >= 1
    assert config["available_node_types"]["cpu"]["max_workers"] > config["available_node_types"]["cpu"]["min_workers"]


def test_every_config_names_the_image_the_repo_builds():
    image = dockerfile_image()
    assert image.endswith(":" + version())
    found = images(load("cluster/aws.yaml")) + images(load("cluster/aws.yaml").get("docker", {}))
    for _, doc in kuberay("RayCluster") + kuberay("RayJob") + kuberay("RayService"):
        found += images(doc)
    assert found and set(found) == {image}


def test_rayjobs_run_entrypoints_and_configs_that_exist_on_the_cluster_they_select():
    clusters = {doc["metadata"]["name"] for _, doc in kuberay("RayCluster")}
    jobs = kuberay("RayJob")
    assert {"rayjob-build.yaml", "rayjob-train.yaml"} <= {name for name, _ in jobs}
    for name, job in jobs:
        assert job["spec"]["clusterSelector"]["ray.io/cluster"] in clusters, name
        paths = [a for a in shlex.split(job["spec"]["entrypoint"]) if a.startswith(IMAGE_HOME)]
        assert paths and paths[0].startswith(IMAGE_HOME + "jobs/"), name
        for path in paths:
            assert (REPO / path[len(IMAGE_HOME):]).is_file(), (name, path)


def test_rayservice_embeds_the_production_serve_config():
    (_, service), = kuberay("RayService")
    embedded = yaml.safe_load(service["spec"]["serveConfigV2"])
    assert embedded == load("serve/production.yaml")
    for app in embedded["applications"]:
        module, attr = app["import_path"].split(":")
        assert hasattr(importlib.import_module(module), attr)
    pools = kuberay_pools(service["spec"]["rayClusterConfig"])
    for app in embedded["applications"]:
        for deployment in app["deployments"]:
            selector = deployment.get("ray_actor_options", {}).get("label_selector")
            if selector:
                assert satisfied(selector, pools), (deployment["name"], selector)


@pytest.mark.parametrize("rel", sorted(str(p.relative_to(REPO)) for p in (REPO / "configs/build").glob("*.yaml")))
def test_build_configs_load_and_their_selectors_have_nodes(rel):
    cfg = load_build_config(REPO / rel)
    assert cfg.catalogs
    (_, cluster), = kuberay("RayCluster")
    for selector in (cfg.crawl.label_selector, cfg.extract.label_selector, cfg.download.label_selector):
        if selector:
            assert satisfied(selector, launcher_pools()), (rel, selector)
            assert satisfied(selector, kuberay_pools(cluster["spec"])), (rel, selector)


def test_serve_selectors_have_nodes_in_the_launcher_cluster():
    for rel in ("serve/production.yaml", "serve/local.yaml"):
        for app in load(rel)["applications"]:
            for deployment in app["deployments"]:
                selector = deployment.get("ray_actor_options", {}).get("label_selector")
                if selector:
                    assert satisfied(selector, launcher_pools()), (rel, deployment["name"])
