"""The emulator speaks enough of the API for ``kubectl get`` and ``kubectl describe``:
discovery with shortNames, Tables with the CRD's printer columns, Events. The client is
the real kubectl binary (v1.32 on this image and in CI)."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulations.cluster.apiserver import ApiServer, ResourceType, human_age, jsonpath, now_rfc3339

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "deploy" / "crd" / "gpuscalers.gpuautoscaler.io.yaml"
NS = "serving"


@pytest.fixture
def api() -> Iterator[ApiServer]:
    server = ApiServer().start()
    server.register_type(ResourceType("", "v1", "namespaces", "Namespace"), namespaced=False)
    server.create("", "namespaces", {"metadata": {"name": NS, "namespace": ""}, "status": {"phase": "Active"}})
    server.add_crd(yaml.safe_load(CRD.read_text()))
    server.add_deployment(NS, "llm", 3)
    scaler = server.add_gpuscaler(
        {
            "apiVersion": "gpuautoscaler.io/v1alpha1",
            "kind": "GPUScaler",
            "metadata": {"name": "llm", "namespace": NS},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm"},
                "minReplicas": 2,
                "maxReplicas": 12,
                "metrics": [{"type": "QueueDepth", "target": {"averageValue": 4}}],
            },
        }
    )
    server.modify(
        "gpuautoscaler.io",
        "gpuscalers",
        NS,
        "llm",
        {
            "status": {
                "currentReplicas": 3,
                "desiredReplicas": 5,
                "leadingMetric": "queue_depth",
                "conditions": [
                    {
                        "type": "ScalingActive",
                        "status": "True",
                        "reason": "ValidMetricFound",
                        "message": "ok",
                        "lastTransitionTime": now_rfc3339(),
                    },
                    {
                        "type": "ScalingLimited",
                        "status": "False",
                        "reason": "DesiredWithinRange",
                        "message": "",
                        "lastTransitionTime": now_rfc3339(),
                    },
                ],
            }
        },
    )
    server.create(
        "",
        "events",
        {
            "metadata": {"name": "llm.1", "namespace": NS},
            "involvedObject": {
                "apiVersion": "gpuautoscaler.io/v1alpha1",
                "kind": "GPUScaler",
                "name": "llm",
                "namespace": NS,
                "uid": scaler["metadata"]["uid"],
            },
            "type": "Normal",
            "reason": "SuccessfulRescale",
            "message": "New size: 5; reason: queue_depth 30 above target",
            "count": 1,
            "firstTimestamp": now_rfc3339(),
            "lastTimestamp": now_rfc3339(),
            "source": {"component": "gpu-autoscaler"},
        },
    )
    try:
        yield server
    finally:
        server.stop()


def kubectl(api: ApiServer, *args: str) -> list[list[str]]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    done = subprocess.run(["kubectl", "--server", api.url, "-n", NS, *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return [line.split() for line in done.stdout.splitlines()]


def test_get_by_short_name_prints_the_crd_columns(api: ApiServer) -> None:
    header, row = kubectl(api, "get", "gsc")
    assert header == ["NAME", "TARGET", "MIN", "MAX", "CURRENT", "DESIRED", "LEADING", "AGE"]
    assert row[:7] == ["llm", "llm", "2", "12", "3", "5", "queue_depth"]
    assert row[7].endswith("s")


def test_wide_adds_the_priority_columns_with_filtered_conditions(api: ApiServer) -> None:
    header, row = kubectl(api, "get", "gpuscalers.gpuautoscaler.io", "llm", "-o", "wide")
    assert header == [
        "NAME",
        "TARGET",
        "KIND",
        "MIN",
        "MAX",
        "CURRENT",
        "DESIRED",
        "LEADING",
        "ACTIVE",
        "LIMITED",
        "PAUSED",
        "AGE",
    ]
    assert row[:10] == ["llm", "llm", "Deployment", "2", "12", "3", "5", "queue_depth", "True", "False"]


def test_describe_shows_the_spec_status_and_events(api: ApiServer) -> None:
    lines = [" ".join(cells) for cells in kubectl(api, "describe", "gsc", "llm")]
    assert "Kind: GPUScaler" in lines and "Desired Replicas: 5" in lines
    events = lines[lines.index("Events:") + 1 :]
    assert any("SuccessfulRescale" in e and "New size: 5" in e and "gpu-autoscaler" in e for e in events), lines


def test_built_in_types_resolve_by_short_name_and_list_across_namespaces(api: ApiServer) -> None:
    assert kubectl(api, "get", "deploy")[1][0] == "llm"
    assert [r[0] for r in kubectl(api, "get", "ns")[1:]] == [NS]
    assert kubectl(api, "get", "gsc", "-A")[1][:2] == [NS, "llm"]


def test_jsonpath_and_ages_as_the_api_server_prints_them() -> None:
    obj = {"status": {"conditions": [{"type": "A", "status": "False"}, {"type": "B", "status": "True"}]}}
    assert jsonpath(obj, '.status.conditions[?(@.type=="B")].status') == ["True"]
    assert jsonpath(obj, ".status.conditions[0].type") == ["A"]
    assert jsonpath(obj, ".spec.missing") == []
    assert [human_age(s) for s in (45, 200, 1500, 7200, 90000, 400000)] == ["45s", "3m20s", "25m", "120m", "25h", "4d"]


def test_discovery_documents_name_the_served_groups_and_resources(api: ApiServer) -> None:
    def get(path: str) -> Any:
        with urllib.request.urlopen(api.url + path, timeout=5) as r:
            return json.load(r)

    groups = get("/apis")["groups"]
    assert {
        "name": "gpuautoscaler.io",
        "versions": [{"groupVersion": "gpuautoscaler.io/v1alpha1", "version": "v1alpha1"}],
        "preferredVersion": {"groupVersion": "gpuautoscaler.io/v1alpha1", "version": "v1alpha1"},
    } in groups
    assert get("/apis/gpuautoscaler.io")["kind"] == "APIGroup"
    resources = {r["name"]: r for r in get("/apis/gpuautoscaler.io/v1alpha1")["resources"]}
    assert resources["gpuscalers"]["shortNames"] == ["gsc"] and resources["gpuscalers"]["namespaced"] is True
    assert "gpuscalers/status" in resources and "gpuscalers/scale" not in resources
    core = {r["name"]: r for r in get("/api/v1")["resources"]}
    assert core["namespaces"]["namespaced"] is False and core["pods"]["shortNames"] == ["po"]
