"""Issue 18, item 12: the cluster manifests carry no plain secret values, turn Ray's token
authentication on everywhere, and open the dashboard, job API and MLflow to nobody outside."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"
KUBERAY = sorted((CLUSTER / "kuberay").glob("*.yaml"))
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|CREDENTIAL|API_KEY", re.I)
AWS_KEY = re.compile(r"\bAKIA[0-9A-Z]{16}\b")
URL_PASSWORD = re.compile(r"://[^/\s:@]+:([^@\s]+)@")  # scheme://user:PASSWORD@host


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _walk(node: Any) -> Iterator[Any]:
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in children:
        yield from _walk(child)


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        c
        for n in _walk(doc)
        if isinstance(n, dict) and isinstance(n.get("containers"), list)
        for c in n["containers"]
    ]


@pytest.mark.parametrize("path", [CLUSTER / "aws.yaml", *KUBERAY], ids=lambda p: p.name)
def test_no_plain_secret_values(path: Path) -> None:
    text = path.read_text()
    assert not AWS_KEY.search(text)
    for m in URL_PASSWORD.finditer(text):  # a password in a URL is a variable, never a value
        assert m.group(1).startswith("$"), m.group(0)
    for doc in _docs(path):
        assert doc.get("kind") != "Secret", f"{path.name}: create Secrets with kubectl instead"
        for node in _walk(doc):
            if isinstance(node, dict) and "name" in node and "value" in node:
                assert not SECRET_NAME.search(str(node["name"])), (path.name, node["name"])


@pytest.mark.parametrize("path", KUBERAY, ids=lambda p: p.name)
def test_every_ray_pod_has_token_auth_from_a_secret(path: Path) -> None:
    for doc in _docs(path):
        if not str(doc.get("apiVersion", "")).startswith("ray.io/"):
            continue
        containers = _containers(doc)
        assert containers
        for c in containers:
            env = {e["name"]: e for e in c.get("env", [])}
            assert env["RAY_AUTH_MODE"]["value"] == "token", (path.name, c["name"])
            ref = env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
            assert ref["name"] == "energy-ray-auth", (path.name, c["name"])


def test_ingress_is_restricted_by_network_policies() -> None:
    policies = {
        d["metadata"]["name"]: d for p in KUBERAY for d in _docs(p) if d["kind"] == "NetworkPolicy"
    }
    assert {"energy-ray", "energy-mlflow", "energy-mlflow-db"} <= set(policies)
    for policy in policies.values():
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        for rule in policy["spec"]["ingress"]:
            assert rule.get("from"), "an ingress rule without `from` admits everyone"
            assert not any("ipBlock" in peer for peer in rule["from"])
    for p in KUBERAY:  # nothing exposed outside the cluster
        for d in _docs(p):
            if d["kind"] == "Service":
                assert d["spec"].get("type", "ClusterIP") == "ClusterIP"


def test_ray_up_cluster_has_token_auth_and_a_loopback_dashboard() -> None:
    cfg = _docs(CLUSTER / "aws.yaml")[0]
    starts = [
        " ".join(c.split())
        for key in ("head_start_ray_commands", "worker_start_ray_commands")
        for c in cfg[key]
        if "ray start" in c
    ]
    assert len(starts) == 2
    for cmd in starts:
        assert "RAY_AUTH_MODE=token" in cmd, cmd
    assert "--dashboard-host=127.0.0.1" in starts[0]
    assert "0.0.0.0" not in "".join(starts)
    setup = " ".join(cfg["setup_commands"])
    assert "~/.ray/auth_token" in setup and "secretsmanager" in setup
    assert cfg["provider"]["security_group"]["IpPermissions"] == []  # nothing beyond Ray's own
    for node in cfg["available_node_types"].values():
        assert "IamInstanceProfile" in node["node_config"]  # S3 and secrets from the role
