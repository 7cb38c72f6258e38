"""The scale subresource of a GPUScaler's target: read it, and PATCH ``spec.replicas``.

Why only ``/scale`` (as the HPA does): it is the one interface every scalable workload
shares, and RBAC can grant ``deployments/scale`` without write access to the whole
Deployment (deploy/rbac/controller.yaml grants exactly that).

apps/v1 Deployments and StatefulSets go through the typed ``AppsV1Api``; any other
resource that exposes ``/scale`` (a CRD with a scale subresource, apps/v1 ReplicaSets)
goes through ``CustomObjectsApi``'s generic scale calls, with group and version taken
from ``apiVersion`` and the plural from ``plurals`` or, by default, the lowercase kind
plus "s" (``InferencePool`` → ``inferencepools``). PATCHes are JSON merge patches:
the generated client would otherwise send a strategic merge patch, which the API
server refuses (415) for custom resources. Scales are read as plain JSON
(:mod:`autoscaler.kube.raw`): one read per scaler per poll, and a ``V1Scale`` model
cost more CPU than the four fields we keep.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes import client as k8s

from autoscaler.kube.client import KubeClient
from autoscaler.kube.errors import KubeError
from autoscaler.kube.raw import call_json
from autoscaler.kube.types import Scale
from autoscaler.spec import ScaleTargetRef

MERGE_PATCH = "application/merge-patch+json"


class KubeScaleClient:
    """:class:`autoscaler.kube.types.ScaleClient` over the API server.

    ``plurals`` maps ``(apiVersion, kind)`` to the resource plural where "lowercase
    kind + s" is wrong (``("example.com/v1", "Policy"): "policies"``).
    """

    def __init__(self, client: KubeClient, plurals: Mapping[tuple[str, str], str] | None = None):
        self._client = client
        self._apps = k8s.AppsV1Api(client.api_client)
        self._custom = k8s.CustomObjectsApi(client.api_client)
        self._plurals = dict(plurals or {})

    def get_scale(self, namespace: str, ref: ScaleTargetRef) -> Scale:
        raw: Any
        if (ref.api_version, ref.kind) == ("apps/v1", "Deployment"):
            raw = call_json(self._client, self._apps.read_namespaced_deployment_scale, ref.name, namespace)
        elif (ref.api_version, ref.kind) == ("apps/v1", "StatefulSet"):
            raw = call_json(self._client, self._apps.read_namespaced_stateful_set_scale, ref.name, namespace)
        else:
            group, version, plural = self._resource(ref)
            raw = call_json(self._client, self._custom.get_namespaced_custom_object_scale,
                            group, version, namespace, plural, ref.name)
        return _to_scale(namespace, ref.name, raw)

    def set_replicas(self, namespace: str, ref: ScaleTargetRef, replicas: int) -> None:
        body = {"spec": {"replicas": replicas}}
        if (ref.api_version, ref.kind) == ("apps/v1", "Deployment"):
            self._client.call(self._apps.patch_namespaced_deployment_scale, ref.name, namespace, body,
                              _content_type=MERGE_PATCH)
        elif (ref.api_version, ref.kind) == ("apps/v1", "StatefulSet"):
            self._client.call(self._apps.patch_namespaced_stateful_set_scale, ref.name, namespace, body,
                              _content_type=MERGE_PATCH)
        else:
            group, version, plural = self._resource(ref)
            self._client.call(self._custom.patch_namespaced_custom_object_scale,
                              group, version, namespace, plural, ref.name, body, _content_type=MERGE_PATCH)

    def _resource(self, ref: ScaleTargetRef) -> tuple[str, str, str]:
        group, _, version = ref.api_version.rpartition("/")
        if not version:
            raise KubeError(f"scaleTargetRef.apiVersion {ref.api_version!r} is not GROUP/VERSION")
        plural = self._plurals.get((ref.api_version, ref.kind), ref.kind.lower() + "s")
        return group, version, plural


def _to_scale(namespace: str, name: str, raw: Any) -> Scale:
    """A :class:`Scale` from a ``V1Scale`` model or the generic API's dict.

    An absent ``status.selector`` becomes "" — the caller must not list pods with it
    (an empty selector matches every pod in the namespace).
    """
    if isinstance(raw, k8s.V1Scale):
        spec_replicas = raw.spec.replicas if raw.spec and raw.spec.replicas is not None else 0
        status_replicas = raw.status.replicas if raw.status else 0
        selector = (raw.status.selector if raw.status else None) or ""
    elif isinstance(raw, Mapping):
        spec, status = raw.get("spec") or {}, raw.get("status") or {}
        spec_replicas, status_replicas = spec.get("replicas", 0), status.get("replicas", 0)
        selector = status.get("selector") or ""
        if not isinstance(spec_replicas, int) or not isinstance(status_replicas, int) or not isinstance(selector, str):
            raise KubeError(f"malformed Scale for {namespace}/{name}: {raw!r}")
    else:
        raise KubeError(f"unexpected Scale response for {namespace}/{name}: {type(raw).__name__}")
    return Scale(namespace=namespace, name=name, replicas=spec_replicas, status_replicas=status_replicas,
                 selector=selector)
