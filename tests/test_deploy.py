"""The Kubernetes manifests in deploy/kubernetes: only parsed and their configuration validated (no
cluster here: they are untested). The systemd units are started by tests/test_cluster.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from collector._config import load_config
from collector._plugins import Plugins

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def test_the_kubernetes_manifests_parse_and_their_configuration_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """Untested on a cluster; checked here: the documents parse, the worker Deployment runs
    `collector worker`, the CronJob `collector enqueue` with a pass per day, and the ConfigMap's
    collector.toml is a valid configuration."""
    yaml = pytest.importorskip("yaml")
    documents = list(yaml.safe_load_all((DEPLOY / "kubernetes" / "collector.yaml").read_text()))
    kinds = {document["kind"]: document for document in documents}
    assert set(kinds) == {"ConfigMap", "Deployment", "CronJob", "Secret"}
    for document in documents:
        assert document["apiVersion"] and document["metadata"]["name"]
    (worker,) = kinds["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert worker["args"][-1] == "worker"
    (enqueue,) = kinds["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert "enqueue" in enqueue["args"][0] and "--pass" in enqueue["args"][0]
    config = Path(os.environ.get("TMPDIR", "/tmp")) / f"k8s-{os.getpid()}.toml"
    config.write_text(kinds["ConfigMap"]["data"]["collector.toml"])
    for name in kinds["Secret"]["stringData"]:
        monkeypatch.setenv(name, "value")
    try:
        loaded = load_config(config, Plugins())
    finally:
        config.unlink()
    assert loaded.store.postgresql is not None and loaded.store.s3 is not None and not loaded.cluster.schedule
