"""Pod discovery through the official kubernetes client, against a small API server
over real HTTP on 127.0.0.1 (only ``GET /api/v1/pods`` with a field selector).

The client validates responses strictly (pydantic models), so the pods served here
are complete objects, as a real API server's are.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from exporter.discovery import PodDiscovery, kubernetes_pod_lister
from exporter.errors import DiscoveryError
from exporter.targets import SERVERS, QueueTarget


def pod_object(
    name: str, node: str, annotations: dict[str, str], *, ip: str = "10.0.3.7", phase: str = "Running"
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "serving",
            "annotations": annotations,
            "uid": f"uid-{name}",
            "resourceVersion": "1",
        },
        "spec": {
            "nodeName": node,
            "containers": [
                {"name": "server", "image": "vllm/vllm-openai:v0.6", "ports": [{"name": "http", "containerPort": 8000}]}
            ],
        },
        "status": {"phase": phase, "podIP": ip},
    }


class PodsApi:
    """Answers ``GET /api/v1/pods?fieldSelector=spec.nodeName=N`` from ``pods``."""

    def __init__(self) -> None:
        self.pods: list[dict[str, Any]] = []
        self.status = 200
        self.selectors: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                selector = urllib.parse.parse_qs(url.query).get("fieldSelector", [""])[0]
                api.selectors.append(selector)
                if url.path != "/api/v1/pods" or api.status != 200:
                    code = 404 if url.path != "/api/v1/pods" else api.status
                    body = {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "code": code,
                        "message": "injected",
                    }
                else:
                    code = 200
                    node = selector.removeprefix("spec.nodeName=")
                    items = [p for p in api.pods if p["spec"]["nodeName"] == node]
                    body = {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "7"}, "items": items}
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def kubeconfig(self, path: Path) -> str:
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "test", "cluster": {"server": self.url}}],
                    "users": [{"name": "test", "user": {"token": "t0ken"}}],
                    "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
                    "current-context": "test",
                }
            )
        )
        return str(path)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def api() -> Iterator[PodsApi]:
    server = PodsApi()
    yield server
    server.stop()


def test_lists_annotated_pods_on_this_node_only(api: PodsApi, tmp_path: Path) -> None:
    api.pods = [
        pod_object("llm-0", "gpu-node-1", {"gpuautoscaler.io/queue-metric": "vllm"}),
        pod_object("llm-1", "gpu-node-2", {"gpuautoscaler.io/queue-metric": "vllm"}, ip="10.0.4.1"),  # other node
        pod_object("web", "gpu-node-1", {}),  # not opted in
        pod_object(
            "custom",
            "gpu-node-1",
            {"gpuautoscaler.io/queue-metric": "app_pending", "gpuautoscaler.io/metrics-port": "9000"},
            ip="10.0.3.8",
        ),
    ]
    lister = kubernetes_pod_lister("gpu-node-1", kubeconfig=api.kubeconfig(tmp_path / "kubeconfig"), timeout_s=2.0)
    listed = PodDiscovery(lister).poll(0.0)
    assert listed.errors == {}
    assert listed.targets == (
        QueueTarget("serving", "llm-0", "http://10.0.3.7:8000/metrics", SERVERS["vllm"]),
        QueueTarget("serving", "custom", "http://10.0.3.8:9000/metrics", listed.targets[1].metrics),
    )
    assert listed.targets[1].metrics is not None and listed.targets[1].metrics.queue == "app_pending"
    assert api.selectors == ["spec.nodeName=gpu-node-1"]


def test_api_failure_is_our_error_and_keeps_the_last_list(api: PodsApi, tmp_path: Path) -> None:
    api.pods = [pod_object("llm-0", "n1", {"gpuautoscaler.io/metrics-port": "8000"})]
    lister = kubernetes_pod_lister("n1", kubeconfig=api.kubeconfig(tmp_path / "kubeconfig"), timeout_s=2.0)
    discovery = PodDiscovery(lister, refresh_s=10.0)
    assert len(discovery.poll(0.0).targets) == 1
    api.status = 500
    with pytest.raises(DiscoveryError, match="listing pods with spec.nodeName=n1"):
        lister()
    failed = discovery.poll(10.0)
    assert len(failed.targets) == 1 and failed.errors == {"discovery": 1}


def test_no_cluster_config_is_a_discovery_error(tmp_path: Path) -> None:
    bad = tmp_path / "kubeconfig"
    bad.write_text("not: [a kubeconfig")
    with pytest.raises(DiscoveryError, match="Kubernetes client configuration"):
        kubernetes_pod_lister("n1", kubeconfig=str(bad))
