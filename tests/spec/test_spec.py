"""The GPUScaler spec: defaults, partial behavior, and every way a document can be wrong.

Defaults are the Kubernetes HPA's (autoscaling/v2 ``defaults.go``; the facts of its
``TestGenerateScaleUpRules`` / ``TestGenerateScaleDownRules`` in
``pkg/apis/autoscaling/v2beta2/defaults_test.go``), with the scale-down window the
controller flag's 300 s. Every error names the field's path and what was expected.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from autoscaler.spec import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    Behavior,
    ScalingPolicy,
    ScalingRules,
    SpecError,
    load_scaler,
    parse_scaler,
    parse_spec,
)

MINIMAL: dict[str, Any] = {
    "apiVersion": "gpuautoscaler.io/v1alpha1",
    "kind": "GPUScaler",
    "metadata": {"name": "llm", "namespace": "serving"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm"},
        "maxReplicas": 16,
        "metrics": [{"type": "QueueDepth", "target": {"averageValue": 4}}],
    },
}


def doc(**spec_changes: Any) -> dict[str, Any]:
    """MINIMAL with top-level spec fields replaced (None deletes the field)."""
    d = copy.deepcopy(MINIMAL)
    for k, v in spec_changes.items():
        if v is None:
            d["spec"].pop(k, None)
        else:
            d["spec"][k] = v
    return d


def errors_of(document: Any) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as info:
        parse_scaler(document, "scaler.yaml")
    return [(e.path, e.message) for e in info.value.errors]


# --- defaults ---------------------------------------------------------------------------
def test_defaults_equal_hpa() -> None:
    s = parse_scaler(copy.deepcopy(MINIMAL)).spec
    up, down = s.behavior.scale_up, s.behavior.scale_down
    # TestGenerateScaleUpRules "Default values": Pods 4 / 15 s and Percent 100 / 15 s, window 0, Max
    assert set(up.policies) == {ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15)}
    assert (up.stabilization_window_seconds, up.select_policy, up.tolerance) == (0, "Max", 0.1)
    # TestGenerateScaleDownRules "Default values": Percent 100 / 15 s, Max; the window is the
    # controller flag's 300 s (--horizontal-pod-autoscaler-downscale-stabilization)
    assert down.policies == (ScalingPolicy("Percent", 100, 15),)
    assert (down.stabilization_window_seconds, down.select_policy, down.tolerance) == (300, "Max", 0.1)
    # ours: no cooldown by default, so an unconfigured scaler decides exactly as HPA does
    assert (up.cooldown_seconds, down.cooldown_seconds) == (0, 0)
    assert (s.min_replicas, s.polling_interval_seconds, s.startup_seconds) == (1, 15, 120)
    assert (s.fallback, s.paused) == (None, False)


def test_a_spec_without_behavior_gets_hpa_v2_default_behavior() -> None:
    assert parse_scaler(copy.deepcopy(MINIMAL)).spec.behavior == Behavior(DEFAULT_SCALE_UP, DEFAULT_SCALE_DOWN)
    assert parse_scaler(doc(behavior={})).spec.behavior == Behavior()
    assert parse_scaler(doc(behavior={"scaleUp": {}, "scaleDown": {}})).spec.behavior == Behavior()


def _pol(*ps: tuple[str, int, int]) -> list[dict[str, Any]]:
    return [{"type": t, "value": v, "periodSeconds": p} for t, v, p in ps]


# (direction, rules given, expected policies, window, selectPolicy)
PARTIAL_CASES = [
    pytest.param("scaleUp", {"policies": _pol(("Pods", 1, 2), ("Percent", 3, 4)), "stabilizationWindowSeconds": 25,
                             "selectPolicy": "Max"},
                 (("Pods", 1, 2), ("Percent", 3, 4)), 25, "Max", id="up: All parameters are specified"),
    pytest.param("scaleUp", {"policies": _pol(("Pods", 1, 2)), "selectPolicy": "Min"},
                 (("Pods", 1, 2),), 0, "Min", id="up: Pod policy is specified"),
    pytest.param("scaleUp", {"policies": _pol(("Percent", 7, 10))},
                 (("Percent", 7, 10),), 0, "Max", id="up: Percent policy is specified"),
    pytest.param("scaleUp", {"policies": _pol(("Pods", 4, 2)), "stabilizationWindowSeconds": 25},
                 (("Pods", 4, 2),), 25, "Max", id="up: Pod policy and stabilization window are specified"),
    pytest.param("scaleUp", {"policies": _pol(("Percent", 7, 60)), "stabilizationWindowSeconds": 25},
                 (("Percent", 7, 60),), 25, "Max", id="up: Percent policy and stabilization window are specified"),
    pytest.param("scaleDown", {"policies": _pol(("Pods", 1, 2), ("Percent", 3, 4)),
                               "stabilizationWindowSeconds": 25, "selectPolicy": "Max"},
                 (("Pods", 1, 2), ("Percent", 3, 4)), 25, "Max", id="down: All parameters are specified"),
    pytest.param("scaleDown", {"policies": _pol(("Percent", 1, 2)), "selectPolicy": "Min"},
                 (("Percent", 1, 2),), 300, "Min", id="down: Percent policy is specified"),
    pytest.param("scaleDown", {"policies": _pol(("Pods", 3, 4))},
                 (("Pods", 3, 4),), 300, "Max", id="down: Pods policy is specified"),
    pytest.param("scaleDown", {"stabilizationWindowSeconds": 60},
                 (("Percent", 100, 15),), 60, "Max", id="down: only the window (policies stay HPA's)"),
    pytest.param("scaleUp", {"selectPolicy": "Disabled"},
                 (("Percent", 100, 15), ("Pods", 4, 15)), 0, "Disabled", id="up: only Disabled"),
    pytest.param("scaleDown", {"selectPolicy": "Disabled", "policies": []},
                 (), 300, "Disabled", id="down: Disabled with no policies"),
]


@pytest.mark.parametrize(("direction", "given", "policies", "window", "select"), PARTIAL_CASES)
def test_partial_rules_keep_the_other_defaults(direction: str, given: dict[str, Any],
                                               policies: tuple[tuple[str, int, int], ...], window: int,
                                               select: str) -> None:
    s = parse_scaler(doc(behavior={direction: given})).spec
    r: ScalingRules = s.behavior.scale_up if direction == "scaleUp" else s.behavior.scale_down
    other = s.behavior.scale_down if direction == "scaleUp" else s.behavior.scale_up
    assert set(r.policies) == {ScalingPolicy(*p) for p in policies}
    assert (r.stabilization_window_seconds, r.select_policy) == (window, select)
    assert (r.tolerance, r.cooldown_seconds) == (0.1, 0)
    assert other == (DEFAULT_SCALE_DOWN if direction == "scaleUp" else DEFAULT_SCALE_UP)


def test_per_direction_tolerance_and_cooldown() -> None:
    s = parse_scaler(doc(behavior={"scaleUp": {"tolerance": 0.05, "cooldownSeconds": 30},
                                   "scaleDown": {"tolerance": 0.2, "cooldownSeconds": 120}})).spec
    assert (s.behavior.scale_up.tolerance, s.behavior.scale_up.cooldown_seconds) == (0.05, 30)
    assert (s.behavior.scale_down.tolerance, s.behavior.scale_down.cooldown_seconds) == (0.2, 120)
    assert s.behavior.scale_up.policies == DEFAULT_SCALE_UP.policies


# (spec changes, metric key, target kind, amount)
METRIC_CASES = [
    pytest.param([{"type": "QueueDepth", "target": {"averageValue": 4}}], "queue_depth", "averageValue", 4,
                 id="QueueDepth averageValue"),
    pytest.param([{"type": "GPUUtilization", "target": {"averageUtilization": 70}}], "gpu_utilization",
                 "averageUtilization", 70, id="GPUUtilization averageUtilization (signal smActive)"),
    pytest.param([{"type": "Prometheus", "name": "tokens_per_second", "query": "sum(rate(x[1m]))",
                   "target": {"averageValue": 2500}}], "tokens_per_second", "averageValue", 2500,
                 id="Prometheus averageValue"),
    pytest.param([{"type": "Prometheus", "name": "rps", "query": "sum(rps)", "target": {"value": 10.5}}], "rps",
                 "value", 10.5, id="Prometheus value"),
    pytest.param([{"type": "TokenThroughput", "target": {"averageValue": 12000}}], "prompt_tokens_rate",
                 "averageValue", 12000, id="TokenThroughput (signal prompt) averageValue"),
    pytest.param([{"type": "TokenThroughput", "signal": "generation", "target": {"value": 90000}}],
                 "generation_tokens_rate", "value", 90000, id="TokenThroughput generation value"),
    pytest.param([{"type": "KVCacheUsage", "target": {"averageUtilization": 80}}], "kv_cache_usage",
                 "averageUtilization", 80, id="KVCacheUsage averageUtilization"),
    pytest.param([{"type": "Latency", "target": {"value": 2}}], "ttft_seconds", "value", 2,
                 id="Latency (signal ttft) value"),
    pytest.param([{"type": "Latency", "signal": "queueTime", "target": {"value": 0.5}}], "queue_time_seconds",
                 "value", 0.5, id="Latency queueTime value"),
]


@pytest.mark.parametrize(("metrics", "key", "kind", "amount"), METRIC_CASES)
def test_metrics_parse(metrics: list[dict[str, Any]], key: str, kind: str, amount: float) -> None:
    (m,) = parse_scaler(doc(metrics=metrics)).spec.metrics
    assert (m.key, m.target.kind, m.target.amount) == (key, kind, amount)


def test_gpu_signal_defaults_to_sm_active_and_accepts_utilization() -> None:
    base = {"type": "GPUUtilization", "target": {"averageUtilization": 70}}
    assert parse_scaler(doc(metrics=[base])).spec.metrics[0].signal == "smActive"
    assert parse_scaler(doc(metrics=[{**base, "signal": "utilization"}])).spec.metrics[0].signal == "utilization"


def test_whole_object_fields() -> None:
    scaler = parse_scaler({**copy.deepcopy(MINIMAL), "metadata": {"name": "llm", "generation": 7}})
    assert (scaler.name, scaler.namespace, scaler.generation) == ("llm", "default", 7)
    assert scaler.spec.scale_target_ref.name == "llm"


# --- one bad field, one error naming it ---------------------------------------------------
Q = {"type": "QueueDepth", "target": {"averageValue": 4}}

# (spec changes, path, a piece of the expectation)
BAD_FIELD_CASES = [
    pytest.param({"maxReplicas": None}, "spec.maxReplicas", "is required (expected an integer)", id="maxReplicas missing"),
    pytest.param({"maxReplicas": "16"}, "spec.maxReplicas", "expected an integer, got a string ('16')",
                 id="maxReplicas a string"),
    pytest.param({"maxReplicas": 2.5}, "spec.maxReplicas", "expected an integer, got a number (2.5)",
                 id="maxReplicas a float"),
    pytest.param({"maxReplicas": True}, "spec.maxReplicas", "expected an integer, got a boolean (true)",
                 id="maxReplicas a boolean"),
    pytest.param({"minReplicas": 0}, "spec.minReplicas", "expected an integer >= 1, got 0", id="minReplicas 0"),
    pytest.param({"minReplicas": 5, "maxReplicas": 3}, "spec.maxReplicas",
                 "expected an integer >= minReplicas (5), got 3", id="maxReplicas below minReplicas"),
    pytest.param({"pollingIntervalSeconds": 0}, "spec.pollingIntervalSeconds", "expected an integer >= 1, got 0",
                 id="pollingIntervalSeconds 0"),
    pytest.param({"startupSeconds": -1}, "spec.startupSeconds", "expected an integer >= 0, got -1",
                 id="startupSeconds negative"),
    pytest.param({"paused": "yes"}, "spec.paused", "expected true or false, got a string ('yes')",
                 id="paused not a boolean"),
    pytest.param({"scaleTargetRef": None}, "spec.scaleTargetRef", "is required (expected a mapping)",
                 id="scaleTargetRef missing"),
    pytest.param({"scaleTargetRef": "llm"}, "spec.scaleTargetRef", "expected a mapping, got a string ('llm')",
                 id="scaleTargetRef a string"),
    pytest.param({"scaleTargetRef": {"kind": "Deployment"}}, "spec.scaleTargetRef.name",
                 "is required (expected a string)", id="scaleTargetRef.name missing"),
    pytest.param({"metrics": None}, "spec.metrics", "expected a non-empty list of metrics", id="metrics missing"),
    pytest.param({"metrics": []}, "spec.metrics", "expected a non-empty list of metrics", id="metrics empty"),
    pytest.param({"metrics": [{"type": "CPU", "target": {"averageValue": 4}}]}, "spec.metrics[0].type",
                 "expected one of QueueDepth, GPUUtilization, Prometheus, TokenThroughput, KVCacheUsage, Latency, Concurrency, got 'CPU'", id="metric type unknown"),
    pytest.param({"metrics": [{"type": "QueueDepth"}]}, "spec.metrics[0].target", "is required (expected a mapping)",
                 id="target missing"),
    pytest.param({"metrics": [{"type": "QueueDepth", "target": {"averageValue": 4, "value": 8}}]},
                 "spec.metrics[0].target",
                 "expected exactly one of averageValue, averageUtilization, value; got averageValue, value",
                 id="two targets"),
    pytest.param({"metrics": [{"type": "QueueDepth", "target": {"averageValue": 0}}]},
                 "spec.metrics[0].target.averageValue", "expected a number >= 0.001, got 0", id="target 0"),
    # Issue 11: 0.0004 is 0 milli-units, and the core compares in milli-units.
    pytest.param({"metrics": [{"type": "QueueDepth", "target": {"averageValue": 0.0004}}]},
                 "spec.metrics[0].target.averageValue", "expected a number >= 0.001, got 0.0004",
                 id="target below one milli-unit"),
    pytest.param({"metrics": [{"type": "Prometheus", "name": "qps", "query": "sum(qps)", "target": {"value": 1e-9}}]},
                 "spec.metrics[0].target.value", "expected a number >= 0.001, got 1e-09",
                 id="value target below one milli-unit"),
    pytest.param({"metrics": [{"type": "QueueDepth", "target": {"averageValue": ".nan"}}]},
                 "spec.metrics[0].target.averageValue", "expected a finite number, got a string ('.nan')",
                 id="target a string"),
    pytest.param({"metrics": [{"type": "QueueDepth", "target": {"averageUtilization": 50}}]},
                 "spec.metrics[0].target.averageUtilization", "applies only to type GPUUtilization",
                 id="averageUtilization on a queue"),
    pytest.param({"metrics": [{"type": "GPUUtilization", "target": {"averageUtilization": 150}}]},
                 "spec.metrics[0].target.averageUtilization", "expected a percent in (0, 100], got 150",
                 id="averageUtilization above 100"),
    pytest.param({"metrics": [{"type": "GPUUtilization", "signal": "dram", "target": {"averageUtilization": 70}}]},
                 "spec.metrics[0].signal", "expected one of smActive, utilization, got 'dram'", id="signal unknown"),
    pytest.param({"metrics": [{**Q, "signal": "smActive"}]}, "spec.metrics[0].signal",
                 "applies only to type GPUUtilization", id="signal on a queue"),
    pytest.param({"metrics": [{**Q, "query": "sum(x)"}]}, "spec.metrics[0].query", "applies only to type Prometheus",
                 id="query on a queue"),
    pytest.param({"metrics": [{"type": "TokenThroughput", "target": {"averageUtilization": 50}}]},
                 "spec.metrics[0].target.averageUtilization", "applies only to type GPUUtilization or KVCacheUsage",
                 id="averageUtilization on tokens"),
    pytest.param({"metrics": [{"type": "TokenThroughput", "signal": "smActive", "target": {"averageValue": 9}}]},
                 "spec.metrics[0].signal", "expected one of prompt, generation, got 'smActive'",
                 id="token signal unknown"),
    pytest.param({"metrics": [{"type": "KVCacheUsage", "signal": "prompt", "target": {"averageUtilization": 80}}]},
                 "spec.metrics[0].signal", "applies only to type GPUUtilization or TokenThroughput or Latency",
                 id="signal on the KV cache"),
    pytest.param({"metrics": [{"type": "KVCacheUsage", "target": {"averageUtilization": 120}}]},
                 "spec.metrics[0].target.averageUtilization", "expected a percent in (0, 100], got 120",
                 id="KV cache above 100"),
    pytest.param({"metrics": [{"type": "Latency", "target": {"averageValue": 2}}]},
                 "spec.metrics[0].target.averageValue", "applies only to type QueueDepth or GPUUtilization",
                 id="latency per replica"),
    pytest.param({"metrics": [{"type": "Latency", "signal": "itl", "target": {"value": 2}}]},
                 "spec.metrics[0].signal", "expected one of ttft, queueTime, got 'itl'", id="latency signal unknown"),
    pytest.param({"metrics": [{"type": "Latency", "name": "slo", "target": {"value": 2}}]},
                 "spec.metrics[0].name", "applies only to type Prometheus", id="name on a latency"),
    pytest.param({"metrics": [{"type": "Prometheus", "name": "ttft_seconds", "query": "x", "target": {"value": 1}}]},
                 "spec.metrics[0].name", "'ttft_seconds' is reserved", id="a named metric takes a latency's key"),
    pytest.param({"metrics": [{"type": "Prometheus", "name": "rps", "target": {"value": 1}}]},
                 "spec.metrics[0].query", "is required (expected a string)", id="Prometheus without a query"),
    pytest.param({"metrics": [{"type": "Prometheus", "query": "sum(x)", "target": {"value": 1}}]},
                 "spec.metrics[0].name", "is required (expected a string)", id="Prometheus without a name"),
    pytest.param({"metrics": [{"type": "Prometheus", "name": "replicas", "query": "q", "target": {"value": 1}}]},
                 "spec.metrics[0].name", "'replicas' is reserved", id="Prometheus name reserved"),
    pytest.param({"metrics": [{"type": "Prometheus", "name": "a,b", "query": "q", "target": {"value": 1}}]},
                 "spec.metrics[0].name", "expected a name without commas or newlines", id="Prometheus name with a comma"),
    pytest.param({"metrics": [Q, {"type": "QueueDepth", "target": {"averageValue": 8}}]}, "spec.metrics[1]",
                 "duplicate metric 'queue_depth' (already metrics[0])", id="duplicate metric"),
    pytest.param({"behavior": {"scaleDown": {"policies": _pol(("Percent", 50, 60)) + [
        {"type": "Pods", "value": 0, "periodSeconds": 60}]}}},
                 "spec.behavior.scaleDown.policies[1].value", "expected an integer >= 1, got 0", id="policy value 0"),
    pytest.param({"behavior": {"scaleUp": {"policies": [{"type": "Seconds", "value": 1, "periodSeconds": 60}]}}},
                 "spec.behavior.scaleUp.policies[0].type", "expected one of Pods, Percent, got 'Seconds'",
                 id="policy type unknown"),
    pytest.param({"behavior": {"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 1801}]}}},
                 "spec.behavior.scaleUp.policies[0].periodSeconds", "expected an integer <= 1800, got 1801",
                 id="policy period above 1800 (HPA's limit)"),
    pytest.param({"behavior": {"scaleUp": {"policies": [{"type": "Pods", "value": 1}]}}},
                 "spec.behavior.scaleUp.policies[0].periodSeconds", "is required (expected an integer)",
                 id="policy period missing"),
    pytest.param({"behavior": {"scaleUp": {"policies": []}}}, "spec.behavior.scaleUp.policies",
                 "expected at least one policy (or selectPolicy: Disabled)", id="no policies"),
    pytest.param({"behavior": {"scaleUp": {"policies": {"type": "Pods"}}}}, "spec.behavior.scaleUp.policies",
                 "expected a list, got a mapping", id="policies a mapping"),
    pytest.param({"behavior": {"scaleUp": {"policies": ["Pods"]}}}, "spec.behavior.scaleUp.policies[0]",
                 "expected a mapping, got a string ('Pods')", id="policy a string"),
    pytest.param({"behavior": {"scaleDown": {"stabilizationWindowSeconds": 3601}}},
                 "spec.behavior.scaleDown.stabilizationWindowSeconds", "expected an integer <= 3600, got 3601",
                 id="window above 3600 (HPA's limit)"),
    pytest.param({"behavior": {"scaleDown": {"stabilizationWindowSeconds": -1}}},
                 "spec.behavior.scaleDown.stabilizationWindowSeconds", "expected an integer >= 0, got -1",
                 id="window negative"),
    pytest.param({"behavior": {"scaleUp": {"tolerance": -0.1}}}, "spec.behavior.scaleUp.tolerance",
                 "expected a number >= 0, got -0.1", id="tolerance negative"),
    pytest.param({"behavior": {"scaleUp": {"tolerance": "10%"}}}, "spec.behavior.scaleUp.tolerance",
                 "expected a finite number, got a string ('10%')", id="tolerance a string"),
    pytest.param({"behavior": {"scaleDown": {"cooldownSeconds": -5}}}, "spec.behavior.scaleDown.cooldownSeconds",
                 "expected an integer >= 0, got -5", id="cooldown negative"),
    pytest.param({"behavior": {"scaleDown": {"selectPolicy": "Average"}}}, "spec.behavior.scaleDown.selectPolicy",
                 "expected one of Max, Min, Disabled, got 'Average'", id="selectPolicy unknown"),
    pytest.param({"behavior": ["scaleUp"]}, "spec.behavior", "expected a mapping, got a list", id="behavior a list"),
    pytest.param({"fallback": {"failureThreshold": 0}}, "spec.fallback.failureThreshold",
                 "expected an integer >= 1, got 0", id="fallback threshold 0"),
    pytest.param({"fallback": {"replicas": 20}}, "spec.fallback.replicas",
                 "expected an integer <= maxReplicas (16), got 20", id="fallback above maxReplicas"),
    pytest.param({"fallback": {"replicas": 0}}, "spec.fallback.replicas", "expected an integer >= 1, got 0",
                 id="fallback replicas 0"),
]


@pytest.mark.parametrize(("changes", "path", "expected"), BAD_FIELD_CASES)
def test_a_bad_field_is_named_with_what_was_expected(changes: dict[str, Any], path: str, expected: str) -> None:
    errors = errors_of(doc(**changes))
    assert [p for p, _ in errors] == [path], errors
    assert expected in errors[0][1]


# (document, path, a piece of the expectation)
UNKNOWN_FIELD_CASES = [
    pytest.param(doc(replicas=3), "spec.replicas", "unknown field (expected one of: scaleTargetRef, minReplicas",
                 id="spec.replicas"),
    pytest.param(doc(behavior={"scaleUp": {"stabilizationWindow": 30}}), "spec.behavior.scaleUp.stabilizationWindow",
                 "unknown field (expected one of: stabilizationWindowSeconds, tolerance, cooldownSeconds",
                 id="a misspelt window"),
    pytest.param(doc(behavior={"scaleUpp": {}}), "spec.behavior.scaleUpp",
                 "unknown field (expected one of: scaleUp, scaleDown)", id="a misspelt direction"),
    pytest.param(doc(metrics=[{**Q, "targets": {}}]), "spec.metrics[0].targets",
                 "unknown field (expected one of: type, signal, name, query, squareRootStaffing, target, window, lookAhead)", id="metric field"),
    pytest.param(doc(behavior={"scaleDown": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60,
                                                            "period": 60}]}}),
                 "spec.behavior.scaleDown.policies[0].period",
                 "unknown field (expected one of: type, value, periodSeconds)", id="policy field"),
    pytest.param(doc(fallback={"replica": 2}), "spec.fallback.replica",
                 "unknown field (expected one of: failureThreshold, replicas)", id="fallback field"),
    pytest.param(doc(scaleTargetRef={"kind": "Deployment", "name": "llm", "namespace": "x"}),
                 "spec.scaleTargetRef.namespace", "unknown field (expected one of: apiVersion, kind, name)",
                 id="scaleTargetRef field"),
]


@pytest.mark.parametrize(("document", "path", "expected"), UNKNOWN_FIELD_CASES)
def test_unknown_fields_are_errors(document: dict[str, Any], path: str, expected: str) -> None:
    errors = errors_of(document)
    assert [p for p, _ in errors] == [path], errors
    assert expected in errors[0][1]


# (document, path, a piece of the expectation)
DOCUMENT_CASES = [
    pytest.param({**MINIMAL, "apiVersion": "autoscaling/v2"}, "apiVersion",
                 "expected 'gpuautoscaler.io/v1alpha1', got 'autoscaling/v2'", id="apiVersion"),
    pytest.param({**MINIMAL, "kind": "HorizontalPodAutoscaler"}, "kind",
                 "expected 'GPUScaler', got 'HorizontalPodAutoscaler'", id="kind"),
    pytest.param({k: v for k, v in MINIMAL.items() if k != "metadata"}, "metadata",
                 "is required (expected a mapping)", id="metadata missing"),
    pytest.param({**MINIMAL, "metadata": {"namespace": "x"}}, "metadata.name", "is required (expected a string)",
                 id="metadata.name missing"),
    pytest.param({k: v for k, v in MINIMAL.items() if k != "spec"}, "spec", "is required (expected a mapping)",
                 id="spec missing"),
    pytest.param(["not", "a", "mapping"], "document", "expected a mapping, got a list", id="not a mapping"),
]


@pytest.mark.parametrize(("document", "path", "expected"), DOCUMENT_CASES)
def test_document_level_errors(document: Any, path: str, expected: str) -> None:
    errors = errors_of(copy.deepcopy(document))
    assert [p for p, _ in errors] == [path], errors
    assert expected in errors[0][1]


def test_several_errors_are_reported_together() -> None:
    d = doc(minReplicas=0, pollingIntervalSeconds="15s", extra=1,
            metrics=[{"type": "QueueDepth", "target": {"averageValue": -1}}, {"type": "Nope", "target": {"value": 1}}],
            behavior={"scaleDown": {"policies": _pol(("Percent", 50, 60)) + [
                {"type": "Pods", "value": 0, "periodSeconds": 60}]}})
    d["kind"] = "Scaler"
    paths = [p for p, _ in errors_of(d)]
    assert paths == ["kind", "spec.extra", "spec.minReplicas", "spec.pollingIntervalSeconds",
                     "spec.metrics[0].target.averageValue", "spec.metrics[1].type",
                     "spec.behavior.scaleDown.policies[1].value"]


def test_spec_error_text_names_the_file_the_path_and_the_expectation() -> None:
    with pytest.raises(SpecError) as info:
        parse_scaler(doc(minReplicas=0, maxReplicas=None), "deploy/llm.yaml")
    assert str(info.value).splitlines() == [
        "deploy/llm.yaml: spec.minReplicas: expected an integer >= 1, got 0",
        "deploy/llm.yaml: spec.maxReplicas: is required (expected an integer)",
    ]


def test_parse_spec_alone_uses_the_given_path() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec({"maxReplicas": 2}, "inline", "scaler.spec")
    assert [e.path for e in info.value.errors] == ["scaler.spec.scaleTargetRef", "scaler.spec.metrics"]


# --- files and YAML -------------------------------------------------------------------------
VALID_YAML = """\
apiVersion: gpuautoscaler.io/v1alpha1
kind: GPUScaler
metadata: {name: llm, namespace: serving}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: llm}
  maxReplicas: 16
  metrics:
    - type: QueueDepth
      target: {averageValue: 4}
  behavior:
    scaleDown: {cooldownSeconds: 60}
"""

# (file text, path, a piece of the expectation)
FILE_CASES = [
    pytest.param("spec: [unclosed\n", "line 2", "not valid YAML", id="YAML syntax error"),
    pytest.param("a: 1\n  b: 2\n", "line 2", "not valid YAML", id="bad indentation"),
    pytest.param(VALID_YAML + "---\n" + VALID_YAML, "document", "expected exactly one YAML document, got 2",
                 id="two documents"),
    pytest.param("", "document", "expected exactly one YAML document, got 0", id="empty file"),
    pytest.param("# only a comment\n", "document", "expected exactly one YAML document, got 0", id="only a comment"),
    pytest.param(VALID_YAML.replace("averageValue: 4", "averageValue: .nan"), "spec.metrics[0].target.averageValue",
                 "expected a finite number, got a number (nan)", id="a YAML NaN target"),
    pytest.param(VALID_YAML.replace("maxReplicas: 16", "maxReplicas: sixteen"), "spec.maxReplicas",
                 "expected an integer, got a string ('sixteen')", id="a bad field in a file"),
]


@pytest.mark.parametrize(("text", "path", "expected"), FILE_CASES)
def test_file_errors(tmp_path: Path, text: str, path: str, expected: str) -> None:
    f = tmp_path / "scaler.yaml"
    f.write_text(text)
    with pytest.raises(SpecError) as info:
        load_scaler(f)
    (error,) = info.value.errors
    assert (error.source, error.path) == (str(f), path)
    assert expected in error.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_scaler(tmp_path / "nope.yaml")
    (error,) = info.value.errors
    assert error.path == "file" and "cannot read" in error.message


def test_a_valid_file_loads(tmp_path: Path) -> None:
    f = tmp_path / "scaler.yaml"
    f.write_text(VALID_YAML)
    scaler = load_scaler(f)
    assert (scaler.name, scaler.namespace, scaler.spec.max_replicas) == ("llm", "serving", 16)
    assert scaler.spec.behavior.scale_down.cooldown_seconds == 60
    assert scaler.spec.behavior.scale_down.stabilization_window_seconds == 300


def test_the_bundled_example_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "llm-scaler.yaml"
    assert load_scaler(example).spec.max_replicas >= 1
