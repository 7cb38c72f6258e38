"""What the controller and the exporter may do (RBAC) and how they run (pod specs):
least privilege, written as tables of facts."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy import manifests
from tests.deploy.kustomize import render

OBJS = render(manifests.DEPLOY / "overlays" / "example")


def one(kind: str, name: str) -> dict:
    (obj,) = [o for o in OBJS if o["kind"] == kind and o["metadata"]["name"] == name]
    return obj


def granted(service_account: str) -> set[tuple[str, str, str, str]]:
    """(scope, apiGroup, resource, verb) the ServiceAccount gets: scope "cluster" for a
    ClusterRole bound cluster-wide, else the RoleBinding's namespace."""
    out = set()
    for binding in OBJS:
        if binding["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        if not any(s["kind"] == "ServiceAccount" and s["name"] == service_account for s in binding["subjects"]):
            continue
        role = one(binding["roleRef"]["kind"], binding["roleRef"]["name"])
        scope = "cluster" if binding["kind"] == "ClusterRoleBinding" else binding["metadata"]["namespace"]
        for rule in role["rules"]:
            assert "resourceNames" not in rule and "nonResourceURLs" not in rule
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        out.add((scope, group, resource, verb))
    return out


def expand(scope: str, group: str, resources: str, verbs: str) -> set[tuple[str, str, str, str]]:
    return {(scope, group, r, v) for r in resources.split() for v in verbs.split()}


# Exactly what the controller calls (autoscaler/kube): read and patch the scale
# subresource, list and watch pods (its pod cache), get/list/watch GPUScalers and get/replace
# their status, create and patch core Events, and get/create/update a Lease in its
# own namespace.
CONTROLLER = (
    expand("cluster", "apps", "deployments/scale statefulsets/scale", "get patch")
    | expand("cluster", "apps", "deployments statefulsets", "list watch")
    | expand("cluster", "", "pods", "list watch")
    | expand("cluster", "gpuautoscaler.io", "gpuscalers", "list watch")
    | expand("cluster", "gpuautoscaler.io", "gpuscalers/status", "get update")
    | expand("cluster", "", "events", "create patch")
    | expand("gpu-autoscaler", "coordination.k8s.io", "leases", "get create update")
)
EXPORTER = expand("cluster", "", "pods", "list")


def test_controller_permissions_are_exactly_what_it_uses():
    assert granted("gpu-autoscaler") == CONTROLLER


# The official client's methods the controller may call -> (apiGroup, resource, verb).
GROUP = "gpuautoscaler.io"
CLIENT_METHODS = {
    "read_namespaced_deployment_scale": ("apps", "deployments/scale", "get"),
    "patch_namespaced_deployment_scale": ("apps", "deployments/scale", "patch"),
    "replace_namespaced_deployment_scale": ("apps", "deployments/scale", "update"),
    "read_namespaced_stateful_set_scale": ("apps", "statefulsets/scale", "get"),
    "patch_namespaced_stateful_set_scale": ("apps", "statefulsets/scale", "patch"),
    "replace_namespaced_stateful_set_scale": ("apps", "statefulsets/scale", "update"),
    "list_namespaced_deployment": ("apps", "deployments", "list"),
    "list_deployment_for_all_namespaces": ("apps", "deployments", "list"),
    "list_namespaced_stateful_set": ("apps", "statefulsets", "list"),
    "list_stateful_set_for_all_namespaces": ("apps", "statefulsets", "list"),
    "list_namespaced_pod": ("", "pods", "list"),
    "list_pod_for_all_namespaces": ("", "pods", "list"),
    "read_namespaced_pod": ("", "pods", "get"),
    "get_namespaced_custom_object": (GROUP, "gpuscalers", "get"),
    "list_namespaced_custom_object": (GROUP, "gpuscalers", "list"),
    "list_cluster_custom_object": (GROUP, "gpuscalers", "list"),
    "get_namespaced_custom_object_status": (GROUP, "gpuscalers/status", "get"),
    "replace_namespaced_custom_object_status": (GROUP, "gpuscalers/status", "update"),
    "patch_namespaced_custom_object_status": (GROUP, "gpuscalers/status", "patch"),
    "create_namespaced_event": ("", "events", "create"),
    "patch_namespaced_event": ("", "events", "patch"),
    "read_namespaced_lease": ("coordination.k8s.io", "leases", "get"),
    "create_namespaced_lease": ("coordination.k8s.io", "leases", "create"),
    "replace_namespaced_lease": ("coordination.k8s.io", "leases", "update"),
}
# Calls the controller makes whose resource is the target's kind (found by discovery):
# the base does not grant them; a component in deploy/components/ grants them for one
# kind (tests/deploy/test_components.py checks the verbs are exactly these).
GENERIC_SCALE = {"get_namespaced_custom_object_scale": "get", "patch_namespaced_custom_object_scale": "patch"}
NOT_GRANTED = set(GENERIC_SCALE)

KUBE_PACKAGE = manifests.REPO / "autoscaler" / "kube"
CALL = re.compile(r"\.((?:read|list|get|create|patch|replace|delete)_(?:namespaced_|cluster_)\w+|\w+_for_all_namespaces)\b")
# A list method passed to watch.stream(), or to an informer's Resource (kube/informer.py), is watched.
WATCH = re.compile(r"\.stream\(\s*[\w.]*\.(list_\w+)|Resource\(\s*\"[\w-]+\",\s*[\w.]+\.(list_\w+),\s*[\w.]+\.(list_\w+)")


def api_calls(package: Path) -> set[tuple[str, str, str, str]]:
    """Read from a package's source: every API method it calls, as what RBAC must grant
    (a method passed to watch.stream() is a watch as well as a list)."""
    found: set[tuple[str, str, str, str]] = set()
    unknown: set[str] = set()
    for path in sorted(package.rglob("*.py")):
        text = path.read_text()
        watched = {m for groups in WATCH.findall(text) for m in groups if m}
        for method in set(CALL.findall(text)) | watched:
            if method in NOT_GRANTED:
                continue
            if method not in CLIENT_METHODS:
                unknown.add(f"{path.name}: {method}")
                continue
            group, resource, verb = CLIENT_METHODS[method]
            found.add(("gpu-autoscaler" if resource == "leases" else "cluster", group, resource, verb))
        for method in watched:
            group, resource, _ = CLIENT_METHODS[method]
            found.add(("cluster", group, resource, "watch"))
    assert not unknown, f"API calls not in CLIENT_METHODS (add them, and a rule in deploy/rbac): {sorted(unknown)}"
    return found


@pytest.mark.skipif(not (KUBE_PACKAGE / "scale.py").exists(), reason="the controller's Kubernetes adapters are not there yet")
def test_rbac_matches_the_calls_in_the_controllers_source():
    """RBAC matches reality: what autoscaler/kube calls equals what deploy/rbac grants.
    (tests/fakes/apiserver.py's request log, ApiServer.rbac_requirements(), checks the
    same from the wire side in the controller's own tests.)"""
    assert api_calls(KUBE_PACKAGE) == CONTROLLER


def test_exporter_only_lists_pods():
    assert granted("gpu-exporter") == EXPORTER
    assert api_calls(manifests.REPO / "exporter") == EXPORTER


def test_no_wildcards_or_secrets_anywhere():
    for role in (o for o in OBJS if o["kind"] in ("ClusterRole", "Role")):
        for rule in role["rules"]:
            flat = rule["apiGroups"] + rule["resources"] + rule["verbs"]
            assert "*" not in flat, role["metadata"]["name"]
            assert "secrets" not in rule["resources"], role["metadata"]["name"]


def test_leases_live_where_the_controller_looks_for_them():
    # --leader-election-namespace=$(POD_NAMESPACE) and the Role's namespace must agree.
    dep = one("Deployment", "gpu-autoscaler")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert "--leader-election-namespace=$(POD_NAMESPACE)" in container["args"]
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert one("Role", "gpu-autoscaler-leader-election")["metadata"]["namespace"] == dep["metadata"]["namespace"]


# ------------------------------------------------------------------------ pod specs

def pod(kind: str, name: str) -> dict:
    return one(kind, name)["spec"]["template"]["spec"]


def container(kind: str, name: str) -> dict:
    (c,) = pod(kind, name)["containers"]
    return c


CTRL = ("Deployment", "gpu-autoscaler")
EXP = ("DaemonSet", "gpu-exporter")

# (workload, what, how to read it, expected)
FACTS = [
    ("controller-replicas", CTRL, lambda: one(*CTRL)["spec"]["replicas"], 2),
    ("controller-no-surge-loss", CTRL, lambda: one(*CTRL)["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0),
    ("controller-command", CTRL, lambda: container(*CTRL)["command"], ["gpu-autoscaler"]),
    ("controller-liveness", CTRL, lambda: container(*CTRL)["livenessProbe"]["httpGet"], {"path": "/healthz", "port": "metrics"}),
    ("controller-readiness", CTRL, lambda: container(*CTRL)["readinessProbe"]["httpGet"], {"path": "/readyz", "port": "metrics"}),
    ("controller-port", CTRL, lambda: container(*CTRL)["ports"], [{"name": "metrics", "containerPort": 8080, "protocol": "TCP"}]),
    ("controller-non-root", CTRL, lambda: (pod(*CTRL)["securityContext"]["runAsNonRoot"], pod(*CTRL)["securityContext"]["runAsUser"]), (True, 65532)),
    ("controller-sa", CTRL, lambda: pod(*CTRL)["serviceAccountName"], "gpu-autoscaler"),
    ("exporter-command", EXP, lambda: container(*EXP)["command"], ["gpu-exporter"]),
    ("exporter-args", EXP, lambda: container(*EXP)["args"],
     ["--listen=0.0.0.0:9400", "--interval=5", "--node-name=$(NODE_NAME)", "--discover"]),
    ("exporter-port", EXP, lambda: container(*EXP)["ports"], [{"name": "metrics", "containerPort": 9400, "protocol": "TCP"}]),
    ("exporter-node-name", EXP, lambda: {e["name"]: e for e in container(*EXP)["env"]}["NODE_NAME"]["valueFrom"],
     {"fieldRef": {"fieldPath": "spec.nodeName"}}),
    ("exporter-sees-all-gpus", EXP, lambda: {e["name"]: e.get("value") for e in container(*EXP)["env"]}["NVIDIA_VISIBLE_DEVICES"], "all"),
    ("exporter-nvml-only", EXP, lambda: {e["name"]: e.get("value") for e in container(*EXP)["env"]}["NVIDIA_DRIVER_CAPABILITIES"], "utility"),
    ("exporter-requests-no-gpu", EXP, lambda: sorted(set(container(*EXP)["resources"]["requests"]) | set(container(*EXP)["resources"]["limits"])), ["cpu", "memory"]),
    ("exporter-pod-resources-ro", EXP, lambda: [(m["mountPath"], m.get("readOnly")) for m in container(*EXP)["volumeMounts"] if m["name"] == "pod-resources"],
     [("/var/lib/kubelet/pod-resources", True)]),
    ("exporter-hostpath", EXP, lambda: [v["hostPath"] for v in pod(*EXP)["volumes"] if "hostPath" in v],
     [{"path": "/var/lib/kubelet/pod-resources", "type": "Directory"}]),
    ("exporter-tolerates-gpu-taint", EXP, lambda: [t["key"] for t in pod(*EXP)["tolerations"]], ["nvidia.com/gpu"]),
    ("exporter-gpu-nodes-only", EXP, lambda: pod(*EXP)["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0],
     {"matchExpressions": [{"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]}]}),
    ("exporter-no-host-namespaces", EXP, lambda: [k for k in ("hostNetwork", "hostPID", "hostIPC") if pod(*EXP).get(k)], []),
    ("exporter-sa", EXP, lambda: pod(*EXP)["serviceAccountName"], "gpu-exporter"),
]


@pytest.mark.parametrize("read,expected", [f[2:] for f in FACTS], ids=[f[0] for f in FACTS])
def test_fact(read, expected):
    assert read() == expected


@pytest.mark.parametrize("workload", [CTRL, EXP], ids=["controller", "exporter"])
def test_container_is_locked_down(workload):
    c = container(*workload)
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not sc.get("privileged")
    for part in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][part])
    # the read-only root needs somewhere to write
    assert "/tmp" in [m["mountPath"] for m in c["volumeMounts"]]


def test_controller_args_use_the_agreed_flag_names():
    flags = [a.split("=")[0] for a in container(*CTRL)["args"] if a.startswith("--")]
    agreed = {"--prometheus-url", "--leader-elect", "--leader-election-namespace", "--metrics-address",
              "--namespace", "--dry-run", "--signal-source"}
    assert set(flags) <= agreed
    assert container(*CTRL)["args"][0] == "run"
    assert {"--leader-elect", "--metrics-address", "--prometheus-url"} <= set(flags)


# ---------------------------------------------------------- selectors and ports line up


def _selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize(
    "kind,name,selector_path,target",
    [
        ("PodDisruptionBudget", "gpu-autoscaler", ("spec", "selector", "matchLabels"), CTRL),
        ("Service", "gpu-autoscaler-metrics", ("spec", "selector"), CTRL),
        ("Service", "gpu-exporter", ("spec", "selector"), EXP),
        ("PodMonitor", "gpu-exporter", ("spec", "selector", "matchLabels"), EXP),
    ],
    ids=["pdb", "controller-service", "exporter-service", "podmonitor"],
)
def test_selector_matches_pods(kind, name, selector_path, target):
    node = one(kind, name)
    for part in selector_path:
        node = node[part]
    workload = one(*target)
    assert _selects(node, workload["spec"]["template"]["metadata"]["labels"])
    assert _selects(workload["spec"]["selector"]["matchLabels"], workload["spec"]["template"]["metadata"]["labels"])


def test_servicemonitor_selects_the_metrics_service_and_port():
    sm = one("ServiceMonitor", "gpu-autoscaler")
    svc = one("Service", "gpu-autoscaler-metrics")
    assert _selects(sm["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"])
    assert {e["port"] for e in sm["spec"]["endpoints"]} <= {p["name"] for p in svc["spec"]["ports"]}
    # jobLabel names a label the Service has: job="gpu-autoscaler", as the alerts assume
    assert svc["metadata"]["labels"][sm["spec"]["jobLabel"]] == "gpu-autoscaler"


def test_podmonitor_keeps_exporter_labels():
    pm = one("PodMonitor", "gpu-exporter")
    (endpoint,) = pm["spec"]["podMetricsEndpoints"]
    # without honorLabels the exporter's namespace/pod labels become exported_*
    assert endpoint["honorLabels"] is True
    assert endpoint["port"] in {p["name"] for p in container(*EXP)["ports"]}
    assert one(*EXP)["spec"]["template"]["metadata"]["labels"][pm["spec"]["jobLabel"]] == "gpu-exporter"


@pytest.mark.parametrize("workload", [CTRL, EXP], ids=["controller", "exporter"])
def test_scrape_annotations_name_the_metrics_port(workload):
    annotations = one(*workload)["spec"]["template"]["metadata"]["annotations"]
    port = str(container(*workload)["ports"][0]["containerPort"])
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": port, "prometheus.io/path": "/metrics"}


# -------------------------------------------- the programs accept these command lines


def _help(program: str, *args: str) -> str:
    exe = Path(sys.executable).with_name(program)
    if not exe.exists():
        pytest.skip(f"{program} is not installed in this environment")
    out = subprocess.run([str(exe), *args, "--help"], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "NO_COLOR": "1"})
    if out.returncode != 0:
        pytest.skip(f"`{program} {' '.join(args)} --help` exits {out.returncode} (not implemented yet?): {out.stderr[-300:]}")
    return out.stdout


@pytest.mark.parametrize("workload,program,sub", [(CTRL, "gpu-autoscaler", ["run"]), (EXP, "gpu-exporter", [])],
                         ids=["controller", "exporter"])
def test_program_knows_every_flag_in_the_manifest(workload, program, sub):
    text = _help(program, *sub)
    args = container(*workload)["args"]
    for arg in args:
        if arg.startswith("--"):
            assert arg.split("=")[0] in text, f"{program} {' '.join(sub)} does not know {arg}"


def test_dockerfile_runs_as_the_controllers_uid():
    text = (manifests.DEPLOY / "Dockerfile").read_text()
    assert "USER 65532:65532" in text
    assert pod(*CTRL)["securityContext"]["runAsUser"] == 65532
    # the base image is pinned to a patch release, not a floating tag
    base = next(line for line in text.splitlines() if line.startswith("ARG PYTHON_IMAGE="))
    assert base.split("=", 1)[1].startswith("python:3.11.") and base.count(".") >= 2, base


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker")
def test_dockerfile_parses():
    # `docker build --check` lints without a daemon-side build on recent docker; skip quietly elsewhere.
    out = subprocess.run(["docker", "build", "--check", "-f", str(manifests.DEPLOY / "Dockerfile"),
                          str(manifests.REPO)], capture_output=True, text=True, timeout=60)
    if "Cannot connect to the Docker daemon" in out.stderr or "unknown flag" in out.stderr:
        pytest.skip("docker daemon unavailable")
    assert out.returncode == 0, out.stderr
