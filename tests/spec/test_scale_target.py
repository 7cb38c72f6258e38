"""scaleTargetRef names any kind with a ``/scale`` (issue 13): LeaderWorkerSet, Argo
Rollout, a ReplicationController in the core group; whether the kind really has one is
the API server's to say (discovery, tested in tests/kube/test_discovery.py). What
``validate`` refuses is what the CRD refuses (tests/deploy/test_crd.py holds the two together)."""
from __future__ import annotations

import pytest

from autoscaler.spec import ScaleTargetRef, SpecError, parse_scaler
from tests.spec.test_spec import doc


@pytest.mark.parametrize("ref,expected", [
    pytest.param({"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "name": "llama-405b"},
                 ScaleTargetRef("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet", "llama-405b"), id="LeaderWorkerSet"),
    pytest.param({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "llm"},
                 ScaleTargetRef("argoproj.io/v1alpha1", "Rollout", "llm"), id="Argo Rollout"),
    pytest.param({"apiVersion": "v1", "kind": "ReplicationController", "name": "llm"},
                 ScaleTargetRef("v1", "ReplicationController", "llm"), id="core group"),
    pytest.param({"kind": "StatefulSet", "name": "llm"}, ScaleTargetRef("apps/v1", "StatefulSet", "llm"),
                 id="apiVersion defaults to apps/v1"),
])
def test_any_kind_is_a_target(ref: dict[str, str], expected: ScaleTargetRef) -> None:
    assert parse_scaler(doc(scaleTargetRef=ref)).spec.scale_target_ref == expected


@pytest.mark.parametrize("field,value,message", [
    pytest.param("apiVersion", "leaderworkerset.x-k8s.io/v1/extra",
                 "expected 'v1' or GROUP/VERSION (e.g. 'apps/v1', 'leaderworkerset.x-k8s.io/v1'), "
                 "got 'leaderworkerset.x-k8s.io/v1/extra'", id="apiVersion with two slashes"),
    pytest.param("apiVersion", "Apps/v1", "expected 'v1' or GROUP/VERSION", id="apiVersion upper-case group"),
    pytest.param("apiVersion", "apps/", "expected 'v1' or GROUP/VERSION", id="apiVersion without version"),
    pytest.param("kind", "leader worker set",
                 "expected a Kind name (a letter, then letters, digits or '-'; at most 63 characters, "
                 "e.g. 'LeaderWorkerSet'), got 'leader worker set'", id="kind with spaces"),
    pytest.param("kind", "K" * 64, "at most 63 characters", id="kind too long"),
    pytest.param("kind", "", "expected a non-empty string", id="kind empty"),
])
def test_a_malformed_target_names_the_field(field: str, value: str, message: str) -> None:
    ref = {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "name": "lws"} | {field: value}
    with pytest.raises(SpecError) as info:
        parse_scaler(doc(scaleTargetRef=ref), "scaler.yaml")
    (error,) = info.value.errors
    assert (error.path, message in error.message) == (f"spec.scaleTargetRef.{field}", True), str(error)
