"""Target syntax (CLI, file) and pod annotations -> queue targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.discovery import PodDiscovery, PodInfo, StaticTargets, target_for_pod, targets_from_pods
from exporter.errors import ConfigError, DiscoveryError
from exporter.targets import SERVERS, QueueTarget, ServerMetrics, parse_target, read_targets_file, unique

URL = "http://10.0.3.7:8000/metrics"


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param(f"serving/llm-0={URL}", QueueTarget("serving", "llm-0", URL, None), id="detect"),
        pytest.param(f"serving/llm-0={URL}#vllm", QueueTarget("serving", "llm-0", URL, SERVERS["vllm"]), id="vllm"),
        pytest.param(f"s/t={URL}#tgi", QueueTarget("s", "t", URL, SERVERS["tgi"]), id="tgi"),
        pytest.param(f"s/t={URL}#triton", QueueTarget("s", "t", URL, SERVERS["triton"]), id="triton"),
        pytest.param(f"s/t={URL}#sglang", QueueTarget("s", "t", URL, SERVERS["sglang"]), id="sglang"),
        pytest.param(
            f"s/t={URL}#my_app:pending",
            QueueTarget("s", "t", URL, ServerMetrics("my_app:pending", None)),
            id="custom-metric",
        ),
        pytest.param(
            "s/t=https://[fd00::7]:8443/m", QueueTarget("s", "t", "https://[fd00::7]:8443/m"), id="ipv6-https"
        ),
        pytest.param(f"  s/t={URL}  ", QueueTarget("s", "t", URL), id="whitespace-trimmed"),
    ],
)
def test_parse_target(text: str, expected: QueueTarget) -> None:
    assert parse_target(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        pytest.param("serving/llm-0", "expected namespace/pod=", id="no-url"),
        pytest.param(f"llm-0={URL}", "namespace/pod before", id="no-namespace"),
        pytest.param(f"Serving/llm_0={URL}", "not a Kubernetes name", id="bad-names"),
        pytest.param("s/p=ftp://h/metrics", "must be http", id="bad-scheme"),
        pytest.param("s/p=http://h:99999/metrics", "bad port", id="bad-port"),
        pytest.param(f"s/p={URL}#not a metric", "neither a server type", id="bad-metric"),
    ],
)
def test_bad_targets_say_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_target(text)


def test_targets_file(tmp_path: Path) -> None:
    f = tmp_path / "targets.txt"
    f.write_text(f"# model servers on gpu-node-1\n\nserving/a={URL}#vllm\n  # indented comment\nserving/b={URL}\n")
    assert [t.pod for t in read_targets_file(f)] == ["a", "b"]


def test_targets_file_errors_name_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "targets.txt"
    f.write_text(f"serving/a={URL}\nserving/b\n")
    with pytest.raises(ConfigError, match=r"targets\.txt, line 2: target 'serving/b'"):
        read_targets_file(f)
    with pytest.raises(ConfigError, match="No such file"):
        read_targets_file(tmp_path / "missing.txt")


def test_two_targets_for_one_pod_are_refused() -> None:
    with pytest.raises(ConfigError, match="two targets for pod s/p"):
        unique((parse_target(f"s/p={URL}"), parse_target(f"s/p={URL}#tgi")))


# -- pods -> targets ------------------------------------------------------------------
def pod(
    annotations: dict[str, str],
    *,
    phase: str = "Running",
    ip: str = "10.0.3.7",
    ports: tuple[tuple[str, int], ...] = (),
) -> PodInfo:
    return PodInfo("serving", "llm-0", phase, ip, annotations, ports)


@pytest.mark.parametrize(
    "info, url, metrics",
    [
        pytest.param(pod({}), None, None, id="not-opted-in"),
        pytest.param(pod({"prometheus.io/port": "8000"}), None, None, id="prometheus-annotation-alone-is-not-opt-in"),
        pytest.param(pod({"gpuautoscaler.io/metrics-port": "8000"}), URL, None, id="port-only-detect-server"),
        pytest.param(
            pod({"gpuautoscaler.io/queue-metric": "vllm", "prometheus.io/port": "8000"}),
            URL,
            SERVERS["vllm"],
            id="vllm-prometheus-port",
        ),
        pytest.param(
            pod({"gpuautoscaler.io/queue-metric": "tgi"}, ports=(("http", 80),)),
            "http://10.0.3.7:80/metrics",
            SERVERS["tgi"],
            id="port-named-http",
        ),
        pytest.param(
            pod({"gpuautoscaler.io/queue-metric": "triton"}, ports=(("http", 8000), ("metrics", 8002))),
            "http://10.0.3.7:8002/metrics",
            SERVERS["triton"],
            id="port-named-metrics-wins",
        ),
        pytest.param(
            pod(
                {
                    "gpuautoscaler.io/queue-metric": "app_pending",
                    "gpuautoscaler.io/metrics-port": "9000",
                    "gpuautoscaler.io/metrics-path": "stats",
                }
            ),
            "http://10.0.3.7:9000/stats",
            ServerMetrics("app_pending", None),
            id="custom-metric-port-path",
        ),
        pytest.param(
            pod({"gpuautoscaler.io/metrics-port": "8000"}, ip="fd00::7"),
            "http://[fd00::7]:8000/metrics",
            None,
            id="ipv6-pod",
        ),
        pytest.param(
            pod({"gpuautoscaler.io/metrics-port": "8000"}, phase="Pending", ip=""), None, None, id="not-running-yet"
        ),
    ],
)
def test_target_for_pod(info: PodInfo, url: str | None, metrics: ServerMetrics | None) -> None:
    target = target_for_pod(info)
    if url is None:
        assert target is None
    else:
        assert target == QueueTarget("serving", "llm-0", url, metrics)


def test_bad_annotations_skip_the_pod_and_count() -> None:
    listed = targets_from_pods(
        [
            PodInfo("serving", "a", "Running", "10.0.0.7", {"gpuautoscaler.io/metrics-port": "http"}),
            PodInfo(
                "serving", "b", "Running", "10.0.0.8", {"gpuautoscaler.io/queue-metric": "vllm"}
            ),  # no port anywhere
            PodInfo("serving", "ok", "Running", "10.0.0.9", {"gpuautoscaler.io/metrics-port": "8000"}),
        ]
    )
    assert [t.pod for t in listed.targets] == ["ok"]
    assert listed.errors == {"discovery": 2}
    assert "expected a port number 1..65535" in listed.problems["serving/a"]
    assert "no metrics port" in listed.problems["serving/b"]


def test_discovery_refreshes_on_its_interval_and_keeps_the_last_list_on_failure() -> None:
    answers: list[list[PodInfo] | Exception] = [
        [pod({"gpuautoscaler.io/metrics-port": "8000"})],
        DiscoveryError("API server unavailable"),
        [],
    ]
    calls = []

    def list_pods() -> list[PodInfo]:
        calls.append(1)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    d = PodDiscovery(list_pods, refresh_s=30.0)
    assert len(d.poll(1000.0).targets) == 1
    assert len(d.poll(1029.0).targets) == 1 and len(calls) == 1  # 29 s < 30 s: no new LIST
    failed = d.poll(1030.0)
    assert len(failed.targets) == 1 and failed.errors == {"discovery": 1}  # last good list kept
    assert d.poll(1060.0).targets == ()  # the pod went away
    assert StaticTargets([]).poll(0.0).targets == ()
