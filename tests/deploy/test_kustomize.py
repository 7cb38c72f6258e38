"""Rendering deploy/ as `kubectl kustomize` would: the object lists a platform engineer
applies, and the renderer itself (tests/deploy/kustomize.py)."""
from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.deploy import manifests
from tests.deploy.kustomize import KustomizeError, by_id, render

DEPLOY = manifests.DEPLOY

BASE = {
    ("CustomResourceDefinition", "gpuscalers.gpuautoscaler.io"),
    ("Namespace", "gpu-autoscaler"),
    ("ServiceAccount", "gpu-autoscaler"),
    ("ClusterRole", "gpu-autoscaler"),
    ("ClusterRoleBinding", "gpu-autoscaler"),
    ("Role", "gpu-autoscaler-leader-election"),
    ("RoleBinding", "gpu-autoscaler-leader-election"),
    ("ServiceAccount", "gpu-exporter"),
    ("ClusterRole", "gpu-exporter"),
    ("ClusterRoleBinding", "gpu-exporter"),
    ("ClusterRole", "gpuscalers-view"),
    ("ClusterRole", "gpuscalers-edit"),
    ("Deployment", "gpu-autoscaler"),
    ("PodDisruptionBudget", "gpu-autoscaler"),
    ("Service", "gpu-autoscaler-metrics"),
    ("DaemonSet", "gpu-exporter"),
    ("Service", "gpu-exporter"),
}
MONITORING = {
    ("ServiceMonitor", "gpu-autoscaler"),
    ("PodMonitor", "gpu-exporter"),
    ("PrometheusRule", "gpu-autoscaler"),
    ("ConfigMap", "gpu-autoscaler-dashboards"),
}
EXAMPLES = {
    ("Namespace", "serving"),
    ("Deployment", "llm-vllm"),
    ("Service", "llm-vllm"),
    ("GPUScaler", "llm-vllm"),
    ("Deployment", "vision-triton"),
    ("Service", "vision-triton"),
    ("GPUScaler", "vision-triton"),
}

BUILDS = [
    ("base", DEPLOY, BASE),
    ("overlay-example", DEPLOY / "overlays" / "example", BASE | MONITORING),
    ("examples", DEPLOY / "examples", EXAMPLES),
]


def kinds_and_names(objs):
    return {(o["kind"], o["metadata"]["name"]) for o in objs}


@pytest.mark.parametrize("root,expected", [b[1:] for b in BUILDS], ids=[b[0] for b in BUILDS])
def test_build_yields_expected_objects(root, expected):
    objs = render(root)
    assert kinds_and_names(objs) == expected
    assert len(objs) == len(expected)


def test_base_holds_no_custom_resources():
    # `kubectl apply -k deploy/` must work on a cluster without the Prometheus
    # Operator and before the GPUScaler CRD is established.
    assert {o["apiVersion"].split("/")[0] for o in render(DEPLOY)} <= {
        "v1", "apps", "policy", "rbac.authorization.k8s.io", "apiextensions.k8s.io"}


@pytest.mark.parametrize("root", [DEPLOY, DEPLOY / "overlays" / "example"], ids=["base", "overlay-example"])
def test_namespace_and_labels(root):
    for obj in render(root):
        meta = obj["metadata"]
        assert meta["labels"]["app.kubernetes.io/part-of"] == "gpu-autoscaler", obj["kind"]
        if obj["kind"] in ("Namespace", "CustomResourceDefinition") or obj["kind"].startswith("Cluster"):
            assert "namespace" not in meta
        else:
            assert meta["namespace"] == "gpu-autoscaler", (obj["kind"], meta["name"])
        for subject in obj.get("subjects", []):
            assert subject["namespace"] == "gpu-autoscaler"


def test_overlay_rewrites_both_images():
    images = {
        o["kind"]: [c["image"] for c in o["spec"]["template"]["spec"]["containers"]]
        for o in render(DEPLOY / "overlays" / "example")
        if o["kind"] in ("Deployment", "DaemonSet")
    }
    assert images == {
        "Deployment": ["registry.example.com/mirror/gpu-autoscaler:0.1.0"],
        "DaemonSet": ["registry.example.com/mirror/gpu-autoscaler:0.1.0"],
    }


def test_dashboards_configmap_holds_the_json_files():
    (cm,) = [o for o in render(DEPLOY / "overlays" / "example") if o["kind"] == "ConfigMap"]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["data"] == {p.name: p.read_text() for p in sorted(manifests.GRAFANA.glob("*.json"))}


# ------------------------------------------------------------------ the renderer


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


RESOURCES = """\
    apiVersion: v1
    kind: Namespace
    metadata: {name: old}
    ---
    apiVersion: v1
    kind: ServiceAccount
    metadata: {name: sa, namespace: old}
    ---
    apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRoleBinding
    metadata: {name: crb}
    roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}
    subjects:
      - {kind: ServiceAccount, name: sa, namespace: old}
      - {kind: ServiceAccount, name: elsewhere, namespace: default}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: d}
    spec:
      selector: {matchLabels: {app: d}}
      template:
        metadata: {labels: {app: d}}
        spec:
          initContainers: [{name: i, image: "ghcr.io/x/y@sha256:abc"}]
          containers:
            - {name: a, image: "ghcr.io/x/y:1.0"}
            - {name: b, image: "other:2"}
            - {name: c, image: "registry:5000/x/y:3"}
    """


def test_renderer_transformers(tmp_path):
    root = _tree(tmp_path, {
        "r.yaml": RESOURCES,
        "kustomization.yaml": """\
            namespace: new
            labels:
              - pairs: {team: ml}
                includeSelectors: false
            images:
              - {name: ghcr.io/x/y, newName: reg/z, newTag: "2.0"}
            resources: [r.yaml]
            """,
    })
    objs = {o["kind"]: o for o in render(root)}
    assert objs["Namespace"]["metadata"] == {"name": "new", "labels": {"team": "ml"}}
    assert objs["ServiceAccount"]["metadata"]["namespace"] == "new"
    assert "namespace" not in objs["ClusterRoleBinding"]["metadata"]
    # only the subject naming a ServiceAccount of this build moves
    assert [s["namespace"] for s in objs["ClusterRoleBinding"]["subjects"]] == ["new", "default"]
    pod = objs["Deployment"]["spec"]["template"]
    assert pod["metadata"]["labels"] == {"app": "d"}  # includeSelectors: false leaves templates alone
    assert objs["Deployment"]["spec"]["selector"] == {"matchLabels": {"app": "d"}}
    assert [c["image"] for c in pod["spec"]["initContainers"] + pod["spec"]["containers"]] == [
        "reg/z:2.0", "reg/z:2.0", "other:2", "registry:5000/x/y:3"]


@pytest.mark.parametrize(
    "files,complaint",
    [
        ({"kustomization.yaml": "patches: [{path: p.yaml}]\n"}, "not implemented"),
        ({"kustomization.yaml": "resources: [missing.yaml]\n"}, "does not exist"),
        ({"kustomization.yaml": "resources: [a.yaml, a.yaml]\n", "a.yaml": "kind: X\napiVersion: v1\nmetadata: {name: a}\n"},
         "duplicate"),
        ({"kustomization.yaml": "resources: [sub]\n", "sub/kustomization.yaml": "resources: [..]\n"}, "cycle detected"),
        ({"kustomization.yaml": "configMapGenerator: [{name: c, files: [a.json]}]\n", "a.json": "{}"},
         "disableNameSuffixHash"),
    ],
    ids=["unknown-field", "missing-resource", "duplicate", "cycle", "hashed-configmap"],
)
def test_renderer_refuses(tmp_path, files, complaint):
    with pytest.raises(KustomizeError, match=complaint):
        render(_tree(tmp_path, files))


# ------------------------------------------------------- against the real kustomize

KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed (CI has none); the renderer tests above still run")
@pytest.mark.parametrize("root", [b[1] for b in BUILDS], ids=[b[0] for b in BUILDS])
def test_renderer_agrees_with_kubectl_kustomize(root):
    out = subprocess.run([KUBECTL, "kustomize", str(root)], capture_output=True, text=True, timeout=60, check=True)
    theirs = by_id([d for d in yaml.safe_load_all(out.stdout) if d])
    ours = by_id(render(root))
    assert set(ours) == set(theirs)
    for key in ours:
        assert ours[key] == theirs[key], key


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")
def test_renderer_transformers_agree_with_kubectl_kustomize(tmp_path):
    root = _tree(tmp_path, {
        "r.yaml": RESOURCES,
        "kustomization.yaml": "namespace: new\nlabels: [{pairs: {team: ml}}]\n"
                              "images: [{name: ghcr.io/x/y, newName: reg/z, newTag: '2.0'}]\nresources: [r.yaml]\n",
    })
    out = subprocess.run([KUBECTL, "kustomize", str(root)], capture_output=True, text=True, timeout=60, check=True)
    assert by_id(render(root)) == by_id([d for d in yaml.safe_load_all(out.stdout) if d])


def test_kustomize_refuses_an_overlay_inside_its_base(tmp_path):
    # Why deploy/overlays/example lists the parts instead of "../..": kustomize's rule,
    # which the renderer enforces too.
    root = _tree(tmp_path, {"kustomization.yaml": "resources: []\n", "o/kustomization.yaml": "resources: [..]\n"})
    with pytest.raises(KustomizeError, match="cycle detected"):
        render(root / "o")


def test_every_kustomization_builds():
    for path in sorted(DEPLOY.rglob("kustomization.yaml")):
        assert render(path.parent), path
