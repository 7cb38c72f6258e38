"""Reading deploy/: its YAML documents, the GPUScaler CRD's schema, and what the API
server would do with a GPUScaler (defaulting, validation) — offline.

kubernetes-validate knows the built-in kinds but not custom resources (it raises
SchemaNotFoundError for them), so custom resources are checked here: GPUScaler
against our CRD's own openAPIV3Schema, the Prometheus Operator kinds against the
small schemas in tests/deploy/operator_schemas.py.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from autoscaler.spec import SpecError, parse_scaler

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CRD_FILE = DEPLOY / "crd" / "gpuscalers.gpuautoscaler.io.yaml"
RULES_FILE = DEPLOY / "monitoring" / "rules.yaml"
GRAFANA = DEPLOY / "grafana"

# The Kubernetes version manifests are validated against (kubernetes-validate's
# bundled schemas); a recent release most clusters run or will soon.
K8S_VERSION = "1.33.0"

# YAML files under deploy/ that are not Kubernetes objects.
NOT_OBJECTS = {"kustomization.yaml", "rules.yaml", "classic-prometheus.yaml"}

Obj = dict[str, Any]

JUNCTORS = ("allOf", "anyOf", "oneOf", "not")


def manifest_files() -> list[Path]:
    """Every YAML file under deploy/ that holds Kubernetes objects."""
    return sorted(p for p in DEPLOY.rglob("*.yaml") if p.name not in NOT_OBJECTS)


def documents(path: Path) -> Iterator[Obj]:
    for doc in yaml.safe_load_all(path.read_text()):
        if doc:
            yield doc


def crd() -> Obj:
    return yaml.safe_load(CRD_FILE.read_text())


def gpuscaler_schema(crd_obj: Obj | None = None) -> Obj:
    """The served version's openAPIV3Schema."""
    versions = (crd_obj or crd())["spec"]["versions"]
    (served,) = [v for v in versions if v["served"] and v["storage"]]
    return served["schema"]["openAPIV3Schema"]


def _strict(schema: Obj) -> Obj:
    """Reject fields the schema does not name, as `kubectl apply` does with its default
    server-side field validation (Strict) — the API server would otherwise prune them."""
    if isinstance(schema, dict):
        # Junctors (oneOf, ...) only constrain fields the enclosing schema declares.
        out = {k: v if k in JUNCTORS else _strict(v) for k, v in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            out["additionalProperties"] = False
        if schema.get("x-kubernetes-int-or-string") and "type" not in schema:
            out["type"] = ["integer", "string"]  # what the API server admits there
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def gpuscaler_validator(schema: Obj | None = None) -> jsonschema.Draft4Validator:
    """A validator for GPUScaler objects. Draft 4 is the dialect of Kubernetes'
    JSONSchemaProps (boolean exclusiveMinimum); x-kubernetes-* keywords are ignored, but for
    x-kubernetes-int-or-string, read as an integer or a string."""
    return jsonschema.Draft4Validator(_strict(schema or gpuscaler_schema()))


def apply_defaults(value: Any, schema: Obj) -> Any:
    """Fill in defaults as the API server does: a missing field with a default gets a
    copy of it, and defaulting then continues inside what was filled in (so
    `behavior: {default: {}}` picks up every nested default)."""
    if isinstance(value, dict) and schema.get("type") == "object":
        for name, sub in schema.get("properties", {}).items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                apply_defaults(value[name], sub)
    elif isinstance(value, list) and schema.get("type") == "array" and "items" in schema:
        for item in value:
            apply_defaults(item, schema["items"])
    return value


def _policies_ok(rules: Obj) -> bool:
    return "policies" not in rules or len(rules["policies"]) > 0 or rules.get("selectPolicy") == "Disabled"


def _names_unique(spec: Obj) -> bool:
    names = [m["name"] for m in spec.get("metrics", []) if "name" in m]
    return len(names) == len(set(names))


def _one_per_builtin_type(spec: Obj) -> bool:
    types = [m.get("type") for m in spec.get("metrics", [])]
    return types.count("QueueDepth") <= 1 and types.count("GPUUtilization") <= 1


_POLICIES_RULE = (
    "!has(self.policies) || size(self.policies) > 0 || (has(self.selectPolicy) && self.selectPolicy == 'Disabled')"
)

#: The CRD's x-kubernetes-validations (CEL), written again in Python, since no CEL
#: evaluator is at hand offline: (path of the schema node, rule text) -> check of the
#: object at that path. tests/deploy/test_crd.py asserts these keys equal the CRD's
#: rules, so a changed rule fails until it is mirrored here.
CEL_MIRRORS: dict[tuple[str, str], Any] = {
    ("spec", "!has(self.minReplicas) || self.maxReplicas >= self.minReplicas"):
        lambda spec: "minReplicas" not in spec or spec.get("maxReplicas", spec["minReplicas"]) >= spec["minReplicas"],
    ("spec", "!has(self.fallback) || !has(self.fallback.replicas) || self.fallback.replicas <= self.maxReplicas"):
        lambda spec: "replicas" not in spec.get("fallback", {})
        or spec["fallback"]["replicas"] <= spec.get("maxReplicas", spec["fallback"]["replicas"]),
    ("spec", "self.metrics.filter(m, m.type == 'QueueDepth').size() <= 1 && "
             "self.metrics.filter(m, m.type == 'GPUUtilization').size() <= 1"): _one_per_builtin_type,
    ("spec", "self.metrics.all(m, !has(m.name) || self.metrics.exists_one(n, has(n.name) && n.name == m.name))"):
        _names_unique,
    ("spec.behavior.scaleUp", _POLICIES_RULE): _policies_ok,
    ("spec.behavior.scaleDown", _POLICIES_RULE): _policies_ok,
}


def cel_rules(schema: Obj, path: str = "") -> list[tuple[str, str, str]]:
    """Every (path, rule, message) of x-kubernetes-validations in a schema."""
    found = [(path, v["rule"], v.get("message", "")) for v in schema.get("x-kubernetes-validations", [])]
    for name, sub in schema.get("properties", {}).items():
        found += cel_rules(sub, f"{path}.{name}" if path else name)
    return found


def cel_failures(obj: Obj) -> list[str]:
    """The messages of the CRD's CEL rules that ``obj`` (already defaulted) breaks."""
    messages = {(p, r): m for p, r, m in cel_rules(gpuscaler_schema())}
    failures = []
    for (path, rule), check in CEL_MIRRORS.items():
        node: Any = obj
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and not check(node):
            failures.append(f"{path}: {messages.get((path, rule), rule)}")
    return failures


def gpuscaler_errors(obj: Obj) -> list[str]:
    """Everything the API server would reject in this GPUScaler, after defaulting."""
    defaulted = apply_defaults(copy.deepcopy(obj), gpuscaler_schema())
    errors = [
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in gpuscaler_validator().iter_errors(defaulted)
    ]
    return errors + cel_failures(defaulted)


def validate_accepts(obj: Obj) -> bool:
    """Whether ``gpu-autoscaler validate`` accepts this GPUScaler: the other side of
    :func:`gpuscaler_errors` in the agreement tests."""
    try:
        parse_scaler(copy.deepcopy(obj))
    except SpecError:
        return False
    return True


def all_objects() -> list[tuple[Path, Obj]]:
    return [(path, doc) for path in manifest_files() for doc in documents(path)]
