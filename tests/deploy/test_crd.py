"""The GPUScaler CRD: identity, a schema the API server accepts (structural), the
HPA's defaults, and agreement with `gpu-autoscaler validate` (autoscaler/spec.py)
on what is a valid GPUScaler."""
from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from autoscaler.spec import SpecError, parse_scaler
from tests.deploy import manifests

CRD = manifests.crd()
SCHEMA = manifests.gpuscaler_schema(CRD)
(VERSION,) = CRD["spec"]["versions"]

MINIMAL = {
    "apiVersion": "gpuautoscaler.io/v1alpha1",
    "kind": "GPUScaler",
    "metadata": {"name": "llm", "namespace": "serving"},
    "spec": {
        "scaleTargetRef": {"kind": "Deployment", "name": "llm"},
        "maxReplicas": 8,
        "metrics": [{"type": "QueueDepth", "target": {"averageValue": 4}}],
    },
}


def defaulted(doc: dict) -> dict:
    return manifests.apply_defaults(copy.deepcopy(doc), SCHEMA)


def at(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


# --------------------------------------------------------------------------- identity


def test_names_scope_and_version():
    spec = CRD["spec"]
    assert CRD["metadata"]["name"] == "gpuscalers.gpuautoscaler.io"
    assert (spec["group"], spec["scope"]) == ("gpuautoscaler.io", "Namespaced")
    assert spec["names"] | {"categories": None} == {
        "kind": "GPUScaler", "listKind": "GPUScalerList", "plural": "gpuscalers", "singular": "gpuscaler",
        "shortNames": ["gsc"], "categories": None,
    }
    assert (VERSION["name"], VERSION["served"], VERSION["storage"]) == ("v1alpha1", True, True)
    # status only: a GPUScaler is not itself scalable
    assert VERSION["subresources"] == {"status": {}}


PRINTER_COLUMNS = [
    # name, jsonPath, shown by default (priority 0)
    ("Target", ".spec.scaleTargetRef.name", True),
    ("Min", ".spec.minReplicas", True),
    ("Max", ".spec.maxReplicas", True),
    ("Current", ".status.currentReplicas", True),
    ("Desired", ".status.desiredReplicas", True),
    ("Leading", ".status.leadingMetric", True),
    ("Age", ".metadata.creationTimestamp", True),
    ("Kind", ".spec.scaleTargetRef.kind", False),
    ("Active", '.status.conditions[?(@.type=="ScalingActive")].status', False),
    ("Limited", '.status.conditions[?(@.type=="ScalingLimited")].status', False),
    ("Paused", ".spec.paused", False),
]


def test_printer_columns():
    got = [(c["name"], c["jsonPath"], c.get("priority", 0) == 0) for c in VERSION["additionalPrinterColumns"]]
    assert sorted(got) == sorted(PRINTER_COLUMNS)
    # every column's field exists in the schema (a typo would print <none> forever)
    for _, path, _ in PRINTER_COLUMNS:
        if path.startswith(".metadata"):
            continue
        node = SCHEMA
        for part in path.lstrip(".").split("[")[0].split("."):
            node = node["properties"][part]


# --------------------------------------------------------------- a structural schema

JUNCTORS = manifests.JUNCTORS
FORBIDDEN_IN_JUNCTORS = {"type", "default", "description", "additionalProperties", "nullable", "title"}


def _walk(schema: dict, path: str):
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _walk(sub, f"{path}.{name}")
    if "items" in schema:
        yield from _walk(schema["items"], f"{path}[]")


def _check_junctor(j: Any, outer: dict, path: str, problems: list[str]) -> None:
    """Inside allOf/anyOf/oneOf/not only value validations on fields the outer schema declares."""
    for sub in j if isinstance(j, list) else [j]:
        bad = FORBIDDEN_IN_JUNCTORS & set(sub) | {k for k in sub if k.startswith("x-kubernetes")}
        if bad:
            problems.append(f"{path}: {sorted(bad)} inside a junctor")
        for name, inner in sub.get("properties", {}).items():
            if name not in outer.get("properties", {}):
                problems.append(f"{path}: junctor names {name!r}, which the schema does not declare")
            else:
                _check_junctor(inner, outer["properties"][name], f"{path}.{name}", problems)
        for key in JUNCTORS:
            if key in sub:
                _check_junctor(sub[key], outer, path, problems)


def test_schema_is_structural():
    """The API server's rules for a structural schema (it rejects the CRD otherwise)."""
    problems: list[str] = []
    for path, node in _walk(SCHEMA, "openAPIV3Schema"):
        if "type" not in node and not node.get("x-kubernetes-int-or-string"):
            problems.append(f"{path}: no type")
        if node.get("type") == "array" and "items" not in node:
            problems.append(f"{path}: array without items")
        if "x-kubernetes-preserve-unknown-fields" in node:
            problems.append(f"{path}: preserve-unknown-fields (the schema is meant to be explicit)")
        if node.get("x-kubernetes-list-type") == "map":
            missing = set(node["x-kubernetes-list-map-keys"]) - set(node["items"].get("required", []))
            if missing:
                problems.append(f"{path}: list-map keys {sorted(missing)} not required")
        for key in JUNCTORS:
            if key in node:
                _check_junctor(node[key], node, path, problems)
    assert not problems, "\n".join(problems)


def test_every_default_is_valid_where_it_sits():
    # The API server rejects a CRD whose defaults do not validate against their own schema.
    for path, node in _walk(SCHEMA, "openAPIV3Schema"):
        if "default" in node:
            value = manifests.apply_defaults(copy.deepcopy(node["default"]), node)
            errors = [e.message for e in manifests.gpuscaler_validator(node).iter_errors(value)]
            assert not errors, f"{path}: {errors}"


def test_cel_rules_are_all_mirrored():
    rules = {(path, rule) for path, rule, _ in manifests.cel_rules(SCHEMA)}
    assert rules == set(manifests.CEL_MIRRORS)


# ------------------------------------------------------------------------- defaults

# What a GPUScaler that sets nothing optional becomes: HPA autoscaling/v2's defaults
# (pkg/apis/autoscaling/v2/defaults.go) plus ours (startupSeconds, cooldown 0).
DEFAULTS = [
    ("min-replicas", "spec.minReplicas", 1),
    ("polling", "spec.pollingIntervalSeconds", 15),
    ("startup", "spec.startupSeconds", 120),
    ("paused", "spec.paused", False),
    ("paused-scale-in", "spec.pausedScaleIn", False),
    ("paused-scale-out", "spec.pausedScaleOut", False),
    ("target-api-version", "spec.scaleTargetRef.apiVersion", "apps/v1"),
    ("up-window", "spec.behavior.scaleUp.stabilizationWindowSeconds", 0),
    ("up-tolerance", "spec.behavior.scaleUp.tolerance", 0.1),
    ("up-cooldown", "spec.behavior.scaleUp.cooldownSeconds", 0),
    ("up-select", "spec.behavior.scaleUp.selectPolicy", "Max"),
    ("up-policies", "spec.behavior.scaleUp.policies",
     [{"type": "Percent", "value": 100, "periodSeconds": 15}, {"type": "Pods", "value": 4, "periodSeconds": 15}]),
    ("down-window", "spec.behavior.scaleDown.stabilizationWindowSeconds", 300),
    ("down-tolerance", "spec.behavior.scaleDown.tolerance", 0.1),
    ("down-cooldown", "spec.behavior.scaleDown.cooldownSeconds", 0),
    ("down-select", "spec.behavior.scaleDown.selectPolicy", "Max"),
    ("down-policies", "spec.behavior.scaleDown.policies", [{"type": "Percent", "value": 100, "periodSeconds": 15}]),
]


@pytest.mark.parametrize("path,expected", [r[1:] for r in DEFAULTS], ids=[r[0] for r in DEFAULTS])
def test_default(path, expected):
    assert at(defaulted(MINIMAL), path) == expected


def test_defaults_fill_each_field_separately():
    # HPA merges per field: setting one field of scaleDown keeps the default policies.
    doc = copy.deepcopy(MINIMAL)
    doc["spec"]["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": 60}}
    got = defaulted(doc)["spec"]["behavior"]
    assert got["scaleDown"]["stabilizationWindowSeconds"] == 60
    assert got["scaleDown"]["policies"] == [{"type": "Percent", "value": 100, "periodSeconds": 15}]
    assert got["scaleUp"]["selectPolicy"] == "Max"
    # ...but a given policies list replaces the default list whole
    doc["spec"]["behavior"] = {"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}
    assert defaulted(doc)["spec"]["behavior"]["scaleUp"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 60}]


def test_no_default_lands_where_it_would_change_meaning():
    # signal has no CRD default: it would appear on QueueDepth metrics, where it is invalid.
    got = defaulted(MINIMAL)
    assert "signal" not in got["spec"]["metrics"][0]
    assert "fallback" not in got["spec"]


def test_crd_defaults_equal_the_parsers():
    """What the API server stores and what autoscaler/spec.py assumes for missing fields
    must be the same numbers."""
    from_crd = parse_scaler(defaulted(MINIMAL)).spec
    from_parser = parse_scaler(copy.deepcopy(MINIMAL)).spec
    assert from_crd == from_parser


# ------------------------------------------------- valid and invalid GPUScalers


def _examples() -> list[tuple[str, dict]]:
    return [
        (f"{path.relative_to(manifests.DEPLOY)}:{doc['metadata']['name']}", doc)
        for path, doc in manifests.all_objects()
        if doc["kind"] == "GPUScaler"
    ]


EXAMPLES = _examples()


def test_examples_exist():
    names = {doc["metadata"]["name"] for _, doc in EXAMPLES}
    assert {"llm-vllm", "vision-triton"} <= names


@pytest.mark.parametrize("doc", [d for _, d in EXAMPLES], ids=[i for i, _ in EXAMPLES])
def test_example_is_valid_for_crd_and_parser(doc):
    assert manifests.gpuscaler_errors(doc) == []
    parse_scaler(defaulted(doc))


def _with(path: str, value: Any, base: dict = MINIMAL) -> dict:
    doc = copy.deepcopy(base)
    node = doc
    *parents, leaf = path.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if value is DELETE:
        del node[leaf]
    elif isinstance(node, list):
        node[int(leaf)] = value
    else:
        node[leaf] = value
    return doc


DELETE = object()
GPU = {"type": "GPUUtilization", "signal": "smActive", "target": {"averageUtilization": 70}}
PROM = {"type": "Prometheus", "name": "tps", "query": "sum(rate(x[1m]))", "target": {"averageValue": 100}}

# id, document, a fragment of the CRD's complaint, does `gpu-autoscaler validate` reject it too
INVALID = [
    ("no-max", _with("spec.maxReplicas", DELETE), "'maxReplicas' is a required property", True),
    ("no-target-ref", _with("spec.scaleTargetRef", DELETE), "'scaleTargetRef' is a required property", True),
    ("no-metrics", _with("spec.metrics", []), "should be non-empty", True),
    ("min-zero", _with("spec.minReplicas", 0), "less than the minimum of 1", True),
    ("max-below-min", _with("spec.minReplicas", 9), "maxReplicas must be greater than or equal to minReplicas", True),
    ("unknown-field", _with("spec.maxReplica", 3), "Additional properties are not allowed", True),
    ("unknown-metric-type", _with("spec.metrics.0.type", "CPU"), "'CPU' is not one of", True),
    ("bad-signal", _with("spec.metrics.0", GPU | {"signal": "sm"}), "'sm' is not one of ['smActive', 'utilization', ", True),
    ("signal-on-queue", _with("spec.metrics.0.signal", "smActive"), "is not valid under any of the given schemas", True),
    ("utilization-on-queue", _with("spec.metrics.0.target", {"averageUtilization": 50}),
     "is not valid under any of the given schemas", True),
    ("two-targets", _with("spec.metrics.0.target", {"averageValue": 4, "value": 4}),
     "is valid under each of", True),
    ("no-target-value", _with("spec.metrics.0.target", {}), "is not valid under any of the given schemas", True),
    ("zero-target", _with("spec.metrics.0.target.averageValue", 0), "less than the minimum of 0.001", True),
    # the core counts in thousandths (milli-units, as HPA): a smaller target would truncate to 0
    ("sub-milli-target", _with("spec.metrics.0.target.averageValue", 0.0004), "less than the minimum of 0.001", True),
    ("max-over-int32", _with("spec.maxReplicas", 2**31), "greater than the maximum of 2147483647", True),
    ("max-over-int64", _with("spec.maxReplicas", 2**63), "greater than the maximum of 2147483647", True),
    ("too-many-metrics", _with("spec.metrics", [PROM | {"name": f"m{i}"} for i in range(17)]), "is too long", True),
    ("name-too-long", _with("spec.metrics.0", PROM | {"name": "n" * 254}), "is too long", True),
    ("query-too-long", _with("spec.metrics.0", PROM | {"query": "q" * 4097}), "is too long", True),
    ("target-name-not-dns", _with("spec.scaleTargetRef.name", "LLM_7b"), "does not match", True),
    ("unknown-top-level", _with("specs", {}), "Additional properties are not allowed", True),
    ("utilization-over-100", _with("spec.metrics.0", GPU | {"target": {"averageUtilization": 120}}),
     "greater than the maximum of 100", True),
    ("prometheus-without-query", _with("spec.metrics.0", {k: v for k, v in PROM.items() if k != "query"}),
     "is not valid under any of the given schemas", True),
    ("prometheus-reserved-name", _with("spec.metrics.0", PROM | {"name": "replicas"}),
     "'replicas' should not be valid under", True),
    ("duplicate-names", _with("spec.metrics", [PROM, PROM]), "metric names must be unique", True),
    ("two-queue-metrics", _with("spec.metrics", [MINIMAL["spec"]["metrics"][0]] * 2),
     "at most one QueueDepth and one GPUUtilization metric", True),
    ("policy-type", _with("spec.behavior", {"scaleUp": {"policies": [{"type": "Replicas", "value": 1, "periodSeconds": 15}]}}),
     "'Replicas' is not one of ['Pods', 'Percent']", True),
    ("policy-period", _with("spec.behavior", {"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 3600}]}}),
     "greater than the maximum of 1800", True),
    ("select-policy", _with("spec.behavior", {"scaleDown": {"selectPolicy": "Maximum"}}),
     "'Maximum' is not one of ['Max', 'Min', 'Disabled']", True),
    ("empty-policies", _with("spec.behavior", {"scaleDown": {"policies": []}}),
     "policies must not be empty unless selectPolicy is Disabled", True),
    ("window-too-long", _with("spec.behavior", {"scaleDown": {"stabilizationWindowSeconds": 7200}}),
     "greater than the maximum of 3600", True),
    ("negative-tolerance", _with("spec.behavior", {"scaleUp": {"tolerance": -0.1}}), "less than the minimum of 0", True),
    ("fallback-over-max", _with("spec.fallback", {"replicas": 9}), "fallback.replicas must not exceed maxReplicas", True),
    ("paused-string", _with("spec.paused", "yes"), "is not of type 'boolean'", True),
    ("too-many-policies", _with("spec.behavior", {"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 15}] * 9}}),
     "is too long", True),
    # Any kind with a scale subresource (discovery decides, in the cluster), but a well-formed one.
    ("target-kind-not-a-kind", _with("spec.scaleTargetRef.kind", "leader worker set"), "does not match", True),
    ("target-api-version-two-slashes", _with("spec.scaleTargetRef.apiVersion", "x/y/v1"), "does not match", True),
]


@pytest.mark.parametrize("doc,complaint,parser_rejects", [r[1:] for r in INVALID], ids=[r[0] for r in INVALID])
def test_invalid_gpuscaler_is_rejected(doc, complaint, parser_rejects):
    errors = manifests.gpuscaler_errors(doc)
    assert any(complaint in e for e in errors), errors
    if parser_rejects:
        with pytest.raises(SpecError):
            parse_scaler(doc)
    else:
        parse_scaler(doc)


def test_minimal_is_valid():
    # the base of the table above is itself valid, so each row tests one thing
    assert manifests.gpuscaler_errors(MINIMAL) == []
    for metric in (GPU, PROM, {"type": "QueueDepth", "target": {"value": 40}}):
        assert manifests.gpuscaler_errors(_with("spec.metrics.0", metric)) == []


# ---------------------------------------------------------------------------- status

STATUS = {
    "observedGeneration": 3,
    "currentReplicas": 4,
    "desiredReplicas": 6,
    "lastScaleTime": "2026-11-29T06:00:00Z",
    "leadingMetric": "queue_depth",
    "currentMetrics": [
        {"name": "queue_depth", "value": 5.5, "target": 4},
        {"name": "gpu_utilization", "value": 61.0, "target": 70},
    ],
    "conditions": [
        {"type": t, "status": "True", "reason": "ScaleUpLimit", "message": "m", "lastTransitionTime": "2026-11-29T06:00:00Z"}
        for t in ("AbleToScale", "ScalingActive", "ScalingLimited", "MetricsAvailable")
    ],
    "memory": {
        "recommendations": [{"timestamp": "2026-11-29T05:59:45Z", "replicas": 6}],
        "scaleEvents": [{"timestamp": "2026-11-29T06:00:00Z", "direction": "up", "replicas": 2}],
        "consecutiveFailures": 0,
        "lastScaleUpTime": "2026-11-29T06:00:00Z",
        "lastScaleDownTime": "2026-11-29T05:00:00Z",
    },
}


def test_status_as_the_controller_writes_it_is_kept_whole():
    doc = defaulted(MINIMAL) | {"status": STATUS}
    assert manifests.gpuscaler_errors(doc) == []


@pytest.mark.parametrize(
    "path,value",
    [
        ("status.memory.scaleEvents.0.direction", "sideways"),
        ("status.conditions.0.type", "Ready"),
        ("status.conditions.0.status", "true"),
        ("status.memory.recommendations.0.replicas", -1),
        ("status.memory.lastScaleUpTimes", "x"),
    ],
    ids=["direction", "condition-type", "condition-status", "negative-replicas", "unknown-field"],
)
def test_bad_status_is_rejected(path, value):
    doc = _with(path, value, defaulted(MINIMAL) | {"status": copy.deepcopy(STATUS)})
    assert manifests.gpuscaler_errors(doc)


def test_the_paused_condition_is_kept():
    """The loop's Paused condition (autoscaler/loop.py), reasons comma-joined when several."""
    paused = {"type": "Paused", "status": "True", "reason": "ScaleInPaused,ScaleOutPaused", "message": "m",
              "lastTransitionTime": "2026-11-29T06:00:00Z"}
    doc = defaulted(MINIMAL) | {"status": STATUS | {"conditions": STATUS["conditions"] + [paused]}}
    assert manifests.gpuscaler_errors(doc) == []


def test_validator_is_draft4():
    # Kubernetes' schema dialect: boolean exclusiveMinimum (Draft 6+ would read it as a number).
    assert isinstance(manifests.gpuscaler_validator(), jsonschema.Draft4Validator)


def test_status_the_controller_builds_fits_the_schema():
    """The controller's own status writer (autoscaler/kube/status.py), after a few
    polls of a scale-up, produces a status the CRD keeps whole: a field it wrote
    that the schema lacks would be pruned by the API server (or rejected by strict
    validation), and with it the memory a new leader needs."""
    status_mod = pytest.importorskip("autoscaler.kube.status")
    from autoscaler.core.decide import decide
    from autoscaler.core.types import Memory, MetricObservation, Observation, PodState
    from autoscaler.kube.types import ScalerObject

    doc = _with("spec.metrics", [MINIMAL["spec"]["metrics"][0], GPU, PROM])
    spec = parse_scaler(defaulted(doc)).spec
    scaler = ScalerObject("serving", "llm", "uid-1", 2, "17", doc["spec"])
    memory, conditions, now, current = Memory(), None, 1_800_000_000.0, 2
    for _ in range(4):  # queue 12 a pod against 4: scale up, then again as it stays high
        pods = tuple(PodState(f"p{i}", start_time=now - 600) for i in range(current))
        obs = Observation(current_replicas=current, pods=pods, metrics={
            "queue_depth": MetricObservation(per_pod={p.name: 12.0 for p in pods}),
            "gpu_utilization": MetricObservation(per_pod={p.name: 90.0 for p in pods}),
        })  # tokens_per_second missing: it must show in status without a value
        decision = decide(spec, obs, memory, now)
        status = status_mod.build_status(decision, scaler, now, conditions)
        errors = manifests.gpuscaler_errors(defaulted(doc) | {"status": status})
        assert errors == [], (errors, status)
        memory, conditions, current = decision.memory, status["conditions"], decision.desired_replicas
        now += 15
    assert status["memory"]["scaleEvents"] and status["memory"]["recommendations"]
    assert {m["name"] for m in status["currentMetrics"]} == {"queue_depth", "gpu_utilization", "tps"}


# ------------------------------------------------- validate == the API server, both ways

DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"


def server_errors(doc: dict) -> list[str]:
    """What the API server refuses: the CRD's schema and rules, and its own checks of
    metadata (a name is a DNS-1123 subdomain, a namespace a DNS-1123 label)."""
    import re

    defaulted_doc = manifests.apply_defaults(copy.deepcopy(doc), SCHEMA)
    errors = [e.message for e in VALIDATOR.iter_errors(defaulted_doc)]
    if not errors:  # the API server runs the CEL rules only on an object the schema accepts
        errors = manifests.cel_failures(defaulted_doc)
    meta = doc.get("metadata") or {}
    name, ns = meta.get("name"), meta.get("namespace", "default")
    if not (isinstance(name, str) and len(name) <= 253 and re.fullmatch(DNS_SUBDOMAIN, name)):
        errors.append(f"metadata.name: {name!r} is not a DNS-1123 subdomain")
    if not (isinstance(ns, str) and re.fullmatch(DNS_LABEL, ns)):
        errors.append(f"metadata.namespace: {ns!r} is not a DNS-1123 label")
    return errors


VALIDATOR = manifests.gpuscaler_validator(SCHEMA)


POLICY = {"type": "Pods", "value": 1, "periodSeconds": 15}
#: Each field with values on both sides of each of the CRD's limits.
EDGES: list[tuple[str, list[Any]]] = [
    ("spec.maxReplicas", [1, 8, 0, -1, 2**31 - 1, 2**31, 2**63, "8", 8.5, True, DELETE]),
    ("spec.minReplicas", [1, 0, 8, 9, 2**31 - 1, 2**31]),
    ("spec.pollingIntervalSeconds", [1, 0, 3600, 3601]),
    ("spec.startupSeconds", [0, -1, 2**31 - 1, 2**31, "auto", "fast", "120", 12.5, True]),
    ("spec.metrics", [[], [PROM | {"name": f"m{i}"} for i in range(16)], [PROM | {"name": f"m{i}"} for i in range(17)]]),
    ("spec.metrics.0.target.averageValue", [0.001, 0.0009, 0.0004, 0, -1, 1e3, 4]),
    ("spec.metrics.0", [GPU, GPU | {"target": {"averageUtilization": 0.001}}, GPU | {"target": {"averageUtilization": 100}},
                        GPU | {"target": {"averageUtilization": 100.5}}, PROM, PROM | {"name": "n" * 253},
                        PROM | {"name": "n" * 254}, PROM | {"query": "q" * 4096}, PROM | {"query": "q" * 4097},
                        PROM | {"name": "a,b"}, PROM | {"target": {"value": 0.0005}}]),
    ("spec.scaleTargetRef.apiVersion", ["apps/v1", "v1", "leaderworkerset.x-k8s.io/v1", "argoproj.io/v1alpha1",
                                        "Apps/v1", "apps/V1", "apps/", "/v1", "apps/1", "a/b/v1", "a" * 253 + "/v1",
                                        "a" * 254 + "/" + "v" * 63, "apps/" + "v" * 64, "", 1]),
    ("spec.scaleTargetRef.kind", ["Deployment", "LeaderWorkerSet", "Rollout", "rollout", "K" * 63, "K" * 64,
                                  "1Kind", "Kind-", "My Kind", "Kind.v1", ""]),
    ("spec.scaleTargetRef.name", ["llm", "a" * 253, "a" * 254, "LLM", "llm_1", "llm.v1", "-llm", ""]),
    ("metadata.name", ["llm", "a" * 253, "a" * 254, "LLM", "llm.v1", "llm_1"]),
    ("metadata.namespace", ["serving", "a" * 63, "a" * 64, "Serving", "a.b", "-a"]),
    ("spec.behavior.scaleUp.cooldownSeconds", [0, 2**31 - 1, 2**31, -1]),
    ("spec.behavior.scaleDown.policies", [[POLICY] * 8, [POLICY] * 9, [POLICY | {"value": 2**31 - 1}],
                                          [POLICY | {"value": 2**31}]]),
    ("spec.fallback", [{"replicas": 8}, {"replicas": 9}, {"failureThreshold": 2**31 - 1}, {"failureThreshold": 2**31}]),
    ("spec.pausedScaleIn", [True, False, "true", 1]),
    ("spec.pausedScaleOut", [True, "yes"]),
    ("extra", [1]),
    ("status", [{}]),
]
SINGLE = [(path, value) for path, values in EDGES for value in values]


def _mutated(changes: list[tuple[str, Any]]) -> dict:
    doc = MINIMAL
    for path, value in changes:
        try:
            doc = _with(path, value, doc)
        except (IndexError, KeyError, TypeError):  # e.g. metrics.0 after metrics: []
            continue
    return doc


@pytest.mark.parametrize("path,value", SINGLE, ids=[f"{p}={str(v)[:20]}" for p, v in SINGLE])
def test_validate_agrees_with_the_api_server(path: str, value: Any) -> None:
    doc = _mutated([(path, value)])
    errors = server_errors(doc)
    assert manifests.validate_accepts(doc) == (errors == []), errors


def test_validate_agrees_with_the_api_server_on_combinations() -> None:
    """Random combinations of the edges above (Hypothesis, derandomized), so a limit that
    only one side checks when another field is also off shows up too."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.sampled_from(SINGLE), min_size=1, max_size=4))
    def agree(changes: list[tuple[str, Any]]) -> None:
        doc = _mutated(changes)
        errors = server_errors(doc)
        assert manifests.validate_accepts(doc) == (errors == []), (changes, errors)

    agree()
