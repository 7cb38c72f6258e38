"""The emulator's own semantics, over raw HTTP: the adapters' tests are only as good as these."""
from __future__ import annotations

import http.client
import json
import threading
import urllib.request
from typing import Any

import pytest

from simulations.cluster.apiserver import ApiServer

DEPLOY = "/apis/apps/v1/namespaces/ns/deployments/web"
SCALER = "/apis/gpuautoscaler.io/v1alpha1/namespaces/ns/gpuscalers/llm"


def call(server: ApiServer, method: str, path: str, body: Any = None,
         content_type: str | None = None) -> tuple[int, dict[str, Any]]:
    """One request with exactly the headers given (urllib would add a form Content-Type)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": content_type} if content_type else {})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def scaler_doc() -> dict[str, Any]:
    return {"metadata": {"name": "llm", "namespace": "ns"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "maxReplicas": 4, "metrics": []}}


def test_stale_resource_version_is_a_409_conflict(apiserver: ApiServer) -> None:
    dep = apiserver.add_deployment("ns", "web", 2)
    apiserver.modify("apps", "deployments", "ns", "web", {"metadata": {"labels": {"x": "y"}}})
    code, body = call(apiserver, "PUT", DEPLOY, dep)  # dep carries the first resourceVersion
    assert (code, body["kind"], body["reason"]) == (409, "Status", "Conflict")


def test_put_without_content_type_is_json(apiserver: ApiServer) -> None:
    dep = apiserver.add_deployment("ns", "web", 2)
    dep["spec"]["replicas"] = 3
    code, body = call(apiserver, "PUT", DEPLOY, dep, content_type=None)
    assert (code, body["spec"]["replicas"]) == (200, 3)


@pytest.mark.parametrize("patch,generation,spec_replicas,status_replicas", [
    pytest.param({"spec": {"replicas": 5}}, 2, 5, 5, id="spec change bumps generation"),
    pytest.param({"metadata": {"labels": {"a": "b"}}}, 1, 2, 2, id="metadata change does not"),
    pytest.param({"status": {"replicas": 9}}, 1, 2, 2, id="status in a main-resource write is ignored"),
])
def test_generation_and_status_on_main_resource_writes(apiserver: ApiServer, patch: dict[str, Any],
                                                       generation: int, spec_replicas: int,
                                                       status_replicas: int) -> None:
    apiserver.add_deployment("ns", "web", 2)
    code, body = call(apiserver, "PATCH", DEPLOY, patch, "application/merge-patch+json")
    assert code == 200
    assert body["metadata"]["generation"] == generation
    assert (body["spec"]["replicas"], body["status"]["replicas"]) == (spec_replicas, status_replicas)


def test_status_subresource_touches_only_status(apiserver: ApiServer) -> None:
    created = apiserver.add_gpuscaler(scaler_doc())
    body = {**created, "spec": {"maxReplicas": 99}, "status": {"desiredReplicas": 3}}
    code, out = call(apiserver, "PUT", SCALER + "/status", body)
    assert code == 200
    assert out["spec"]["maxReplicas"] == 4  # spec in a status write is ignored
    assert out["status"] == {"desiredReplicas": 3}
    assert out["metadata"]["generation"] == 1
    code, out = call(apiserver, "PATCH", SCALER, {"spec": {"maxReplicas": 8}, "status": {"desiredReplicas": 1}},
                     "application/merge-patch+json")
    assert (out["spec"]["maxReplicas"], out["status"], out["metadata"]["generation"]) == (8, {"desiredReplicas": 3}, 2)


def test_scale_subresource_maps_onto_spec_replicas(apiserver: ApiServer) -> None:
    apiserver.add_deployment("ns", "web", 2, labels={"app": "web", "tier": "gpu"})
    code, scale = call(apiserver, "GET", DEPLOY + "/scale")
    assert (code, scale["kind"], scale["spec"], scale["status"]) == (
        200, "Scale", {"replicas": 2}, {"replicas": 2, "selector": "app=web,tier=gpu"})
    code, _ = call(apiserver, "PATCH", DEPLOY + "/scale", [{"op": "replace", "path": "/spec/replicas", "value": 6}],
                   "application/json-patch+json")
    assert code == 200
    assert apiserver.deployment("ns", "web")["spec"]["replicas"] == 6


def test_strategic_merge_patch_on_a_custom_resource_is_refused(apiserver: ApiServer) -> None:
    apiserver.add_gpuscaler(scaler_doc())
    code, body = call(apiserver, "PATCH", SCALER, {"spec": {"maxReplicas": 5}},
                      "application/strategic-merge-patch+json")
    assert (code, body["reason"]) == (415, "UnsupportedMediaType")


@pytest.mark.parametrize("query,expected", [
    pytest.param("labelSelector=app%3Dweb", {"a", "b"}, id="equality"),
    pytest.param("labelSelector=app%20in%20(web,db)", {"a", "b", "c"}, id="set"),
    pytest.param("labelSelector=app%3Dweb&fieldSelector=status.phase%3DPending", {"b"}, id="with field"),
    pytest.param("fieldSelector=status.phase!%3DPending", {"a", "c"}, id="field inequality"),
])
def test_pod_list_selectors(apiserver: ApiServer, query: str, expected: set[str]) -> None:
    apiserver.add_pods("ns", {"app": "web"}, prefix="a")
    apiserver.add_pods("ns", {"app": "web"}, prefix="b", phase="Pending")
    apiserver.add_pods("ns", {"app": "db"}, prefix="c")
    apiserver.add_pods("other", {"app": "web"}, prefix="d")
    items = call(apiserver, "GET", f"/api/v1/namespaces/ns/pods?{query}")[1]["items"]
    names = {p["metadata"]["name"].split("-")[0] for p in items}  # the prefix
    assert names == expected


def test_watch_resumes_from_resource_version_and_410_after_compaction(apiserver: ApiServer) -> None:
    apiserver.add_gpuscaler(scaler_doc())
    rv = apiserver.gpuscaler("ns", "llm")["metadata"]["resourceVersion"]
    apiserver.modify("gpuautoscaler.io", "gpuscalers", "ns", "llm", {"spec": {"maxReplicas": 6}})
    apiserver.delete("gpuautoscaler.io", "gpuscalers", "ns", "llm")
    url = f"{apiserver.url}/apis/gpuautoscaler.io/v1alpha1/namespaces/ns/gpuscalers?watch=1"
    with urllib.request.urlopen(f"{url}&resourceVersion={rv}&timeoutSeconds=1", timeout=5) as resp:
        events = [json.loads(line) for line in resp.read().splitlines()]
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]
    apiserver.compact()
    with urllib.request.urlopen(f"{url}&resourceVersion={rv}&timeoutSeconds=1", timeout=5) as resp:
        events = [json.loads(line) for line in resp.read().splitlines()]
    assert [(e["type"], e["object"]["code"]) for e in events] == [("ERROR", 410)]


def test_faults_count_down_and_log_records_kubernetes_verbs(apiserver: ApiServer) -> None:
    apiserver.add_deployment("ns", "web", 2)
    fault = apiserver.fail(r"/scale$", method="GET", status=429, retry_after=2, times=1)
    assert call(apiserver, "GET", DEPLOY + "/scale")[0] == 429
    assert call(apiserver, "GET", DEPLOY + "/scale")[0] == 200
    assert fault.hits == 1
    call(apiserver, "PATCH", DEPLOY + "/scale", {"spec": {"replicas": 3}}, "application/merge-patch+json")
    call(apiserver, "GET", "/apis/apps/v1/namespaces/ns/deployments?watch=1&timeoutSeconds=0")
    assert apiserver.rbac_requirements() == {("apps", "deployments/scale", "get"),
                                             ("apps", "deployments/scale", "patch"),
                                             ("apps", "deployments", "watch")}


def test_stop_cuts_keep_alive_connections(apiserver: ApiServer) -> None:
    """An outage must be real: a pooled HTTP/1.1 connection must not keep being served."""
    apiserver.add_deployment("ns", "web", 2)
    conn = http.client.HTTPConnection("127.0.0.1", apiserver.port, timeout=5)
    conn.request("GET", DEPLOY)
    assert conn.getresponse().read()
    stopping = threading.Thread(target=apiserver.stop)
    stopping.start()
    stopping.join(5)
    with pytest.raises((http.client.HTTPException, OSError)):
        conn.request("GET", DEPLOY)
        conn.getresponse()
    conn.close()
    apiserver.start()  # same port, same objects
    assert call(apiserver, "GET", DEPLOY)[0] == 200
