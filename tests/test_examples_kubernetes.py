"""The kustomize base in examples/kubernetes/, checked offline: every manifest parses, the
kustomization lists every one, each is valid against the Kubernetes API's schemas (shipped by
kubernetes-validate), and the Deployment holds what running watch next to git-sync needs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "examples" / "kubernetes"
OLDEST = "1.29"  # native sidecars (an init container with restartPolicy: Always)
MANIFESTS = sorted(p for p in BASE.glob("*.yaml") if p.name != "kustomization.yaml")


def documents(path: Path) -> list[dict]:
    return [d for d in YAML(typ="safe").load_all(path.read_text()) if d is not None]


def objects() -> dict[str, dict]:
    """kind -> the object (Services: "Service/<name>")."""
    found = {}
    for path in MANIFESTS:
        for doc in documents(path):
            key = doc["kind"] if doc["kind"] != "Service" else f"Service/{doc['metadata']['name']}"
            assert key not in found, key
            found[key] = doc
    return found


def test_the_kustomization_lists_every_manifest_and_each_is_valid_against_the_api():
    (kustomization,) = documents(BASE / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == [p.name for p in MANIFESTS]
    assert {"deployment.yaml", "services.yaml", "pdb.yaml"} <= set(kustomization["resources"])
    for path in MANIFESTS:
        for doc in documents(path):
            for version in (OLDEST, kubernetes_validate.latest_version()):
                # strict: a field the API does not know (a typo) fails too
                kubernetes_validate.validate(doc, version, strict=True)


def test_kustomize_builds_the_base_where_kubectl_is_installed():
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    built = subprocess.run(
        [kubectl, "kustomize", str(BASE)], capture_output=True, text=True, timeout=60
    )
    assert built.returncode == 0, built.stderr
    kinds = sorted(d["kind"] for d in YAML(typ="safe").load_all(built.stdout) if d)
    assert kinds == ["Deployment", "PodDisruptionBudget", "Service", "Service"]


def _port(container: dict, name: str) -> int:
    return next(p["containerPort"] for p in container["ports"] if p["name"] == name)


def _flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_the_deployment_runs_two_replicas_under_restricted_pod_security():
    deployment = objects()["Deployment"]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    containers = pod["containers"] + pod["initContainers"]
    for container in containers:
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, container["name"]
        assert security["readOnlyRootFilesystem"] is True, container["name"]
        assert security["capabilities"] == {"drop": ["ALL"]}, container["name"]
        assert "limits" in container["resources"] and "requests" in container["resources"]
        assert "privileged" not in security and "hostPath" not in str(pod["volumes"])


def test_the_watch_follows_the_git_sync_link_and_probes_its_health_port():
    pod = objects()["Deployment"]["spec"]["template"]["spec"]
    (watch,) = pod["containers"]
    (sync,) = pod["initContainers"]
    # The image the Dockerfile's build comment builds.
    tag = re.search(r"docker build .*?-t (\S+)", (ROOT / "Dockerfile").read_text(), re.S)
    assert tag is not None and watch["image"] == tag.group(1)
    assert sync["image"].startswith("registry.k8s.io/git-sync/git-sync:v4.")
    assert sync["restartPolicy"] == "Always" and "startupProbe" in sync  # synced before watch
    # git-sync's link, in a volume both mount (an emptyDir), holds the config and its values.
    sync_args = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in sync["args"]}
    link = Path(sync_args["--root"]) / sync_args["--link"]
    mounts = {m["name"]: m for m in watch["volumeMounts"]}
    shared = {m["name"] for m in sync["volumeMounts"]} & set(mounts)
    assert [v for v in pod["volumes"] if v["name"] in shared] == [{"name": "git", "emptyDir": {}}]
    assert mounts["git"]["readOnly"] is True
    assert watch["args"][0] == "watch"
    config, values = Path(watch["args"][1]), Path(_flag(watch["args"], "--values"))
    assert link in config.parents and link in values.parents
    # Callbacks and health on ports of their own; the probes on the health port.
    health = _flag(watch["args"], "--health-listen")
    assert health.endswith(f":{_port(watch, 'health')}")
    assert _flag(watch["args"], "--listen").endswith(f":{_port(watch, 'callbacks')}")
    assert watch["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "health"}
    assert watch["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}


def _mib(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if unit == "Gi" else 1)


def test_the_watch_memory_is_sized_from_the_plan_benchmarks():
    performance = (ROOT / "docs" / "performance.md").read_text()
    at_1m = re.search(r"--members 1000000 .*?plan peak RSS ([\d,]+) MB", performance)
    at_3m = re.search(r"at 3,000,000: .*?([\d,]+) MB peak", performance)
    assert at_1m and at_3m, "docs/performance.md no longer quotes the plan's peak memory"
    pod = objects()["Deployment"]["spec"]["template"]["spec"]
    resources = pod["containers"][0]["resources"]
    mb = 1024 * 1024 / 1e6  # one MiB in MB
    assert _mib(resources["requests"]["memory"]) * mb >= float(at_1m.group(1).replace(",", ""))
    assert _mib(resources["limits"]["memory"]) * mb >= float(at_3m.group(1).replace(",", ""))


def test_the_services_and_the_budget_select_the_watch_pods():
    found = objects()
    deployment = found["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    (watch,) = deployment["spec"]["template"]["spec"]["containers"]
    callbacks, health = (
        found["Service/tim-reconciler-callbacks"],
        found["Service/tim-reconciler-health"],
    )
    for service, port in ((callbacks, "callbacks"), (health, "health")):
        assert service["spec"]["selector"].items() <= labels.items()
        assert [p["targetPort"] for p in service["spec"]["ports"]] == [port]
        _port(watch, port)  # the container names it
    assert callbacks["spec"].get("publishNotReadyAddresses") is not True  # the leader only
    assert health["spec"]["publishNotReadyAddresses"] is True  # every replica's metrics
    budget = found["PodDisruptionBudget"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert budget["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"  # a standby may go
