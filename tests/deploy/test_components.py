"""deploy/components/: optional RBAC for more scale targets (issue 13). The LeaderWorkerSet
component, built into an overlay as a platform team would, grants the controller exactly
the generic scale calls its source makes (autoscaler/kube/scale.py), for that one kind."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import manifests
from tests.deploy.kustomize import KustomizeError, by_id, render
from tests.deploy.test_kustomize import BASE
from tests.deploy.test_workloads import CALL, CONTROLLER, GENERIC_SCALE, KUBE_PACKAGE, expand

LWS = manifests.DEPLOY / "components" / "leaderworkerset"
COMPONENT = {("ClusterRole", "gpu-autoscaler-leaderworkerset"), ("ClusterRoleBinding", "gpu-autoscaler-leaderworkerset")}


def overlay(tmp_path: Path, namespace: str = "inference") -> Path:
    """deploy/ plus the component, in another namespace: what `kubectl apply -k` would get."""
    deploy = os.path.relpath(manifests.DEPLOY, tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        f"namespace: {namespace}\nresources: [{deploy}]\ncomponents: [{deploy}/components/leaderworkerset]\n")
    return tmp_path


def granted(objs: list[dict[str, Any]], service_account: str, namespace: str) -> set[tuple[str, str, str, str]]:
    """(scope, apiGroup, resource, verb) the ServiceAccount gets (as test_workloads.granted, for any build)."""
    roles = {(o["kind"], o["metadata"]["name"]): o for o in objs if o["kind"] in ("ClusterRole", "Role")}
    out = set()
    for binding in (o for o in objs if o["kind"] in ("ClusterRoleBinding", "RoleBinding")):
        if not any(s["kind"] == "ServiceAccount" and s["name"] == service_account and s["namespace"] == namespace
                   for s in binding["subjects"]):
            continue
        role = roles[(binding["roleRef"]["kind"], binding["roleRef"]["name"])]
        scope = "cluster" if binding["kind"] == "ClusterRoleBinding" else binding["metadata"]["namespace"]
        out |= {(scope, g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
                for v in rule["verbs"]}
    return out


def generic_scale_verbs() -> set[str]:
    """The verbs of the generic scale calls autoscaler/kube makes (read from its source)."""
    calls = {m for path in KUBE_PACKAGE.rglob("*.py") for m in CALL.findall(path.read_text())}
    return {verb for method, verb in GENERIC_SCALE.items() if method in calls}


def test_the_component_adds_its_role_to_the_base(tmp_path: Path) -> None:
    objs = render(overlay(tmp_path))
    expected = (BASE - {("Namespace", "gpu-autoscaler")}) | {("Namespace", "inference")} | COMPONENT
    assert {(o["kind"], o["metadata"]["name"]) for o in objs} == expected
    assert len(objs) == len(expected)
    (binding,) = [o for o in objs if o["kind"] == "ClusterRoleBinding" and o["metadata"]["name"].endswith("leaderworkerset")]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gpu-autoscaler", "namespace": "inference"}]


def test_the_controller_may_scale_leaderworkersets_and_nothing_more(tmp_path: Path) -> None:
    assert generic_scale_verbs() == {"get", "patch"}
    lws = expand("cluster", "leaderworkerset.x-k8s.io", "leaderworkersets/scale", " ".join(sorted(generic_scale_verbs())))
    ours = {(scope if scope == "cluster" else "gpu-autoscaler", *rest)
            for scope, *rest in granted(render(overlay(tmp_path)), "gpu-autoscaler", "inference")}
    assert ours == CONTROLLER | lws


def test_a_component_is_not_a_resource(tmp_path: Path) -> None:
    deploy = os.path.relpath(manifests.DEPLOY, tmp_path)
    (tmp_path / "kustomization.yaml").write_text(f"resources: [{deploy}/components/leaderworkerset]\n")
    with pytest.raises(KustomizeError, match="is a Component"):
        render(tmp_path)


KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed (CI has none); the renderer tests above still run")
def test_renderer_agrees_with_kubectl_kustomize_on_the_component(tmp_path: Path) -> None:
    for root in (overlay(tmp_path), LWS):
        out = subprocess.run([str(KUBECTL), "kustomize", str(root)], capture_output=True, text=True, timeout=60, check=True)
        assert by_id(render(root)) == by_id([d for d in yaml.safe_load_all(out.stdout) if d])
