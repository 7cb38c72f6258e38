"""Every object under deploy/ validates offline: built-in kinds against Kubernetes'
own schemas (kubernetes-validate, strict: unknown fields are errors), custom
resources against their CRDs' schemas."""
from __future__ import annotations

import copy

import jsonschema
import kubernetes_validate
import pytest

from tests.deploy import manifests, operator_schemas
from tests.deploy.kustomize import render

OBJECTS = manifests.all_objects()
IDS = [f"{path.relative_to(manifests.DEPLOY)}:{obj['kind']}/{obj['metadata']['name']}" for path, obj in OBJECTS]

GPUSCALER = ("gpuautoscaler.io/v1alpha1", "GPUScaler")


def validate(obj: dict) -> None:
    """Validate one object the way it will be checked when applied; raise on an error."""
    key = (obj["apiVersion"], obj["kind"])
    if key == GPUSCALER:
        errors = manifests.gpuscaler_errors(obj)
        assert not errors, errors
    elif key in operator_schemas.SCHEMAS:
        jsonschema.Draft7Validator(operator_schemas.SCHEMAS[key]).validate(obj)
    else:
        kubernetes_validate.validate(obj, manifests.K8S_VERSION, strict=True)


@pytest.mark.parametrize("obj", [o for _, o in OBJECTS], ids=IDS)
def test_object_validates(obj):
    validate(obj)


RENDERED = render(manifests.DEPLOY / "overlays" / "example") + render(manifests.DEPLOY / "examples")


@pytest.mark.parametrize("obj", RENDERED, ids=[f"{o['kind']}/{o['metadata']['name']}" for o in RENDERED])
def test_rendered_object_validates(obj):
    # what kustomize adds (labels, namespace, images, the dashboards ConfigMap) validates too
    validate(obj)


def test_dashboards_configmap_fits_client_side_apply():
    # `kubectl apply` (client-side) copies the object into an annotation of at most 256 KiB.
    (cm,) = [o for o in RENDERED if o["kind"] == "ConfigMap"]
    assert sum(len(v.encode()) for v in cm["data"].values()) < 200 * 1024


def test_every_custom_kind_is_handled():
    # kubernetes-validate cannot check custom resources; each one in deploy/ must have
    # a schema above, or it would pass unchecked.
    for _path, obj in OBJECTS:
        key = (obj["apiVersion"], obj["kind"])
        if key == GPUSCALER or key in operator_schemas.SCHEMAS:
            with pytest.raises(kubernetes_validate.SchemaNotFoundError):
                kubernetes_validate.validate(obj, manifests.K8S_VERSION, strict=True)
        else:
            kubernetes_validate.validate(obj, manifests.K8S_VERSION, strict=True)


def _first(kind: str, name: str) -> dict:
    (obj,) = [o for _, o in OBJECTS if o["kind"] == kind and o["metadata"]["name"] == name]
    return copy.deepcopy(obj)


def _break(obj: dict, path: str, value) -> dict:
    node = obj
    *parents, leaf = path.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[leaf] = value
    return obj


# Each row breaks one field of a real manifest; validation must notice.
BROKEN = [
    ("deployment-unknown-field", "Deployment", "gpu-autoscaler", "spec.template.spec.containers.0.imagePullPolicyy", "Always"),
    ("deployment-replicas-string", "Deployment", "gpu-autoscaler", "spec.replicas", "two"),
    ("daemonset-readonly-string", "DaemonSet", "gpu-exporter", "spec.template.spec.containers.0.securityContext.readOnlyRootFilesystem", "yes"),
    ("clusterrole-verbs-string", "ClusterRole", "gpu-autoscaler", "rules.0.verbs", "get"),
    ("crd-schema-typo", "CustomResourceDefinition", "gpuscalers.gpuautoscaler.io", "spec.versions.0.schema.openAPIV3Schema.properties.spec.minimun", 1),
    ("servicemonitor-typo", "ServiceMonitor", "gpu-autoscaler", "spec.endpoints.0.honourLabels", True),
    ("podmonitor-bad-interval", "PodMonitor", "gpu-exporter", "spec.podMetricsEndpoints.0.interval", "5 seconds"),
    ("prometheusrule-bad-for", "PrometheusRule", "gpu-autoscaler", "spec.groups.0.rules.0.for", "five minutes"),
    ("gpuscaler-unknown-field", "GPUScaler", "llm-vllm", "spec.maxReplica", 3),
]


@pytest.mark.parametrize("kind,name,path,value", [r[1:] for r in BROKEN], ids=[r[0] for r in BROKEN])
def test_broken_object_fails(kind, name, path, value):
    obj = _break(_first(kind, name), path, value)
    with pytest.raises((kubernetes_validate.ValidationError, jsonschema.ValidationError, AssertionError)):
        validate(obj)
