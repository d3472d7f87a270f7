"""The deployment examples under deploy/ (they cannot be run here): their configs load, with every node of the
compose file and the Kubernetes Deployment pointing at the same database, store and policy directory, and the
health checks name the endpoints that exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from mirror.config import load_config

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


@pytest.mark.parametrize("name", ["compose", "kubernetes"])
def test_the_example_configs_are_valid_and_share_database_store_and_policies(name):
    config = load_config(DEPLOY / name / "config.toml")
    assert config.database.url.startswith("postgresql+asyncpg://")
    assert config.storage.backend == "s3"
    assert str(config.policies.path) == "/etc/mirror/policies"
    assert config.server.host == "0.0.0.0" and config.server.log_format == "json"


def test_the_manifests_probe_readyz_and_healthz_and_mount_one_policy_directory():
    yaml = pytest.importorskip("yaml", reason="PyYAML (installed with moto[server], the test extra) reads them")
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    nodes = [s for name, s in compose["services"].items() if name.startswith("node-")]
    assert len(nodes) == 3
    assert all("policies:/etc/mirror/policies" in s["volumes"] for s in nodes)
    assert "GET /readyz" in (DEPLOY / "compose" / "haproxy.cfg").read_text()
    documents = {d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "mirror.yaml").read_text())}
    pod = documents["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert pod["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert documents["PersistentVolumeClaim"]["spec"]["accessModes"] == ["ReadWriteMany"]
    assert documents["Job"]["spec"]["template"]["spec"]["containers"][0]["args"][:3] == ["mirror", "db", "upgrade"]


def test_every_metric_is_documented_in_the_deployment_guide():
    from mirror.adapters.metrics import Metrics

    guide = (DEPLOY.parent / "docs" / "deployment.md").read_text()
    names = {family.name for family in Metrics("doc-check").registry.collect()}
    assert len(names) >= 10
    suffix = {"counter": "_total"}
    types = {family.name: family.type for family in Metrics("doc-check-2").registry.collect()}
    missing = [n for n in sorted(names) if f"`{n}{suffix.get(types[n], '')}`" not in guide]
    assert not missing, f"metrics missing from docs/deployment.md: {missing}"
