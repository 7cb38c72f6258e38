"""The alert rules: promtool accepts them, the PrometheusRule carries the same groups,
and each alert fires when it should and stays quiet when it should (promtool's rule
unit tests, generated from the table below).

The unit tests run against a copy of the rules without annotations, so each row
states only the alert's labels; annotation templates are checked by
`promtool check rules` here and rendered against live data in test_queries.py.
"""
from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy import manifests

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed: run `make test` (Debian's prometheus)")

RULES = yaml.safe_load(manifests.RULES_FILE.read_text())


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)


def test_promtool_check_rules():
    out = promtool("check", "rules", str(manifests.RULES_FILE))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_promtool_check_rules_can_fail(tmp_path):
    broken = copy.deepcopy(RULES)
    broken["groups"][0]["rules"][0]["expr"] = "up{job=\"gpu-exporter\" == 0"
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(broken))
    assert promtool("check", "rules", str(path)).returncode != 0


def test_classic_prometheus_config(tmp_path):
    """deploy/monitoring/classic-prometheus.yaml is a valid prometheus.yml fragment.
    Debian's prometheus is built without Kubernetes service discovery, so its
    kubernetes_sd_configs are swapped for a static target here; the relabeling, the
    rule file and everything else is checked as written."""
    config = yaml.safe_load((manifests.DEPLOY / "monitoring" / "classic-prometheus.yaml").read_text())
    (job,) = config["scrape_configs"]
    assert job["honor_labels"] is True
    assert job.pop("kubernetes_sd_configs")[0]["role"] == "pod"
    job["static_configs"] = [{"targets": ["127.0.0.1:9400"]}]
    config["rule_files"] = [str(manifests.RULES_FILE)]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    out = promtool("check", "config", str(path))
    assert out.returncode == 0, out.stdout + out.stderr


def test_prometheusrule_spec_equals_rules_file():
    (rule,) = [o for o in manifests.documents(manifests.DEPLOY / "monitoring" / "prometheusrule.yaml")]
    assert rule["spec"] == RULES, "edit deploy/monitoring/rules.yaml and prometheusrule.yaml together"


def test_every_alert_has_severity_summary_and_description():
    for group in RULES["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
            assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
            assert "for" in rule, rule["alert"]


def alert_names() -> list[str]:
    return [r["alert"] for g in RULES["groups"] for r in g["rules"]]


# ------------------------------------------------------------------ unit tests

EXP = {"job": "gpu-exporter", "instance": "10.0.0.1:9400", "node": "gpu-node-1"}
CTL = {"job": "gpu-autoscaler", "instance": "10.0.1.1:8080"}
GPU = {**EXP, "gpu": "0", "uuid": "GPU-0a1b", "model": "NVIDIA H200", "mig": "", "namespace": "serving",
       "pod": "llm-7d9f", "container": "vllm"}
GPU_SET = {k: v for k, v in GPU.items() if v != ""}  # labels Prometheus keeps (empty ones are absent)
XID = {k: GPU[k] for k in ("job", "instance", "node", "gpu", "uuid", "model")}  # GPUXidErrors drops pod labels
SCALER = {"namespace": "serving", "scaler": "llm"}
STANDBY = {"instance": "10.0.1.2:8080"}


def series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    body = ", ".join(f'{k}="{v}"' for k, v in labels.items() if v != "")
    return {"series": f"{name}{{{body}}}", "values": values}


def warning(**labels: str) -> dict[str, str]:
    return {**labels, "severity": "warning"}


# id, alert, input series (1 sample a minute), eval time, expected alerts (labels)
CASES = [
    ("exporter-down", "GPUExporterDown", [series("up", EXP, "0x20")], "6m", [warning(**EXP)]),
    ("exporter-down-pending", "GPUExporterDown", [series("up", EXP, "0x20")], "4m", []),
    ("exporter-up", "GPUExporterDown", [series("up", EXP, "1x20")], "10m", []),
    ("other-job-down", "GPUExporterDown", [series("up", {**EXP, "job": "node"}, "0x20")], "10m", []),
    ("exporter-errors", "GPUExporterErrors",
     [series("gpu_exporter_errors_total", {**EXP, "kind": "nvml"}, "0+60x30")], "15m", [warning(**EXP)]),
    ("exporter-errors-stopped", "GPUExporterErrors",
     [series("gpu_exporter_errors_total", {**EXP, "kind": "nvml"}, "0+60x5 300x25")], "20m", []),
    ("gpu-errors", "GPUNotResponding", [series("gpu_up", GPU, "0x10")], "6m",
     [warning(**{k: v for k, v in GPU.items() if v != ""})]),
    ("gpu-answers", "GPUNotResponding", [series("gpu_up", GPU, "1x10")], "6m", []),
    ("pinned-at-max", "GPUScalerAtMaxReplicas",
     [series("gpu_autoscaler_desired_replicas", {**CTL, **SCALER}, "8x30"),
      series("gpu_autoscaler_max_replicas", {**CTL, **SCALER}, "8x30")], "16m", [warning(**SCALER)]),
    ("pinned-not-long-enough", "GPUScalerAtMaxReplicas",
     [series("gpu_autoscaler_desired_replicas", {**CTL, **SCALER}, "6x10 8x20"),
      series("gpu_autoscaler_max_replicas", {**CTL, **SCALER}, "8x30")], "20m", []),
    ("below-max", "GPUScalerAtMaxReplicas",
     [series("gpu_autoscaler_desired_replicas", {**CTL, **SCALER}, "7x30"),
      series("gpu_autoscaler_max_replicas", {**CTL, **SCALER}, "8x30")], "20m", []),
    # a standby that still exports the same series must not make the join ambiguous
    ("pinned-two-replicas-exporting", "GPUScalerAtMaxReplicas",
     [series("gpu_autoscaler_desired_replicas", {**CTL, **SCALER}, "8x30"),
      series("gpu_autoscaler_max_replicas", {**CTL, **SCALER}, "8x30"),
      series("gpu_autoscaler_desired_replicas", {**CTL, **STANDBY, **SCALER}, "8x30"),
      series("gpu_autoscaler_max_replicas", {**CTL, **STANDBY, **SCALER}, "8x30")], "16m", [warning(**SCALER)]),
    ("metrics-unavailable", "GPUScalerMetricsUnavailable",
     [series("gpu_autoscaler_metrics_available", {**CTL, **SCALER}, "0x10")], "6m", [warning(**SCALER)]),
    ("metrics-available", "GPUScalerMetricsUnavailable",
     [series("gpu_autoscaler_metrics_available", {**CTL, **SCALER}, "1x10")], "6m", []),
    ("reconcile-errors", "GPUAutoscalerReconcileErrors",
     [series("gpu_autoscaler_errors_total", {**CTL, "kind": "get_metrics"}, "0+30x30"),
      series("gpu_autoscaler_errors_total", {**CTL, "kind": "rescale"}, "0x30")], "15m", [warning(kind="get_metrics")]),
    ("no-reconcile-errors", "GPUAutoscalerReconcileErrors",
     [series("gpu_autoscaler_errors_total", {**CTL, "kind": "get_metrics"}, "0x30")], "15m", []),
    ("no-leader", "GPUAutoscalerNoLeader",
     [series("gpu_autoscaler_leader", CTL, "0x10"), series("gpu_autoscaler_leader", {**CTL, **STANDBY}, "0x10")],
     "6m", [{"severity": "critical"}]),
    ("no-controller-scraped", "GPUAutoscalerNoLeader", [series("up", EXP, "1x10")], "6m", [{"severity": "critical"}]),
    ("one-leader", "GPUAutoscalerNoLeader",
     [series("gpu_autoscaler_leader", CTL, "1x10"), series("gpu_autoscaler_leader", {**CTL, **STANDBY}, "0x10")],
     "6m", []),
    ("two-leaders", "GPUAutoscalerMultipleLeaders",
     [series("gpu_autoscaler_leader", CTL, "1x10"), series("gpu_autoscaler_leader", {**CTL, **STANDBY}, "1x10")],
     "6m", [warning()]),
    ("one-leader-not-multiple", "GPUAutoscalerMultipleLeaders",
     [series("gpu_autoscaler_leader", CTL, "1x10"), series("gpu_autoscaler_leader", {**CTL, **STANDBY}, "0x10")],
     "6m", []),
    ("controller-down", "GPUAutoscalerDown", [series("up", CTL, "0x20")], "11m", [warning(**CTL)]),
    ("controller-up", "GPUAutoscalerDown", [series("up", CTL, "1x20")], "11m", []),
    # GPU health
    ("thermal-slowdown", "GPUClocksSlowedDown",
     [series("gpu_clocks_event_reasons", {**GPU, "reason": "hw_thermal_slowdown"}, "1x20")], "11m",
     [warning(**GPU_SET, reason="hw_thermal_slowdown")]),
    ("slowdown-not-yet-sustained", "GPUClocksSlowedDown",
     [series("gpu_clocks_event_reasons", {**GPU, "reason": "hw_slowdown"}, "0x5 1x15")], "11m", []),
    ("power-cap-is-normal", "GPUClocksSlowedDown",
     [series("gpu_clocks_event_reasons", {**GPU, "reason": "sw_power_cap"}, "1x20")], "11m", []),
    ("first-xid", "GPUXidErrors",  # the series appears with its first Xid: new, though increase() sees none
     [series("gpu_xid_errors_total", {**GPU, "xid": "79"}, "_x5 1x20")], "10m", [warning(**XID, xid="79")]),
    ("more-xids", "GPUXidErrors",
     [series("gpu_xid_errors_total", {**GPU, "xid": "13"}, "1x20 2x20")], "25m", [warning(**XID, xid="13")]),
    ("old-xid", "GPUXidErrors", [series("gpu_xid_errors_total", {**GPU, "xid": "13"}, "1x40")], "30m", []),
    # a new pod on the GPU relabels its series: the count it carries over is not a new Xid
    ("xid-count-carried-to-a-new-pod", "GPUXidErrors",
     [series("gpu_xid_errors_total", {**GPU, "xid": "13"}, "1x20"),
      series("gpu_xid_errors_total", {**GPU, "pod": "llm-8e0a", "xid": "13"}, "_x20 1x20")], "35m", []),
    ("uncorrected-ecc", "GPUECCUncorrectedErrors",
     [series("gpu_ecc_errors_total", {**GPU, "type": "uncorrected", "counter": "volatile"}, "1x10")], "5m",
     [warning(**GPU_SET, type="uncorrected", counter="volatile")]),
    ("corrected-ecc-only", "GPUECCUncorrectedErrors",
     [series("gpu_ecc_errors_total", {**GPU, "type": "corrected", "counter": "volatile"}, "50x10"),
      series("gpu_ecc_errors_total", {**GPU, "type": "uncorrected", "counter": "volatile"}, "0x10")], "5m", []),
    ("unhealthy", "GPUUnhealthy", [series("gpu_healthy", GPU, "0x10")], "5m",
     [{**GPU_SET, "severity": "critical"}]),
    ("healthy", "GPUUnhealthy", [series("gpu_healthy", GPU, "1x10")], "5m", []),
    # capacity: pods that no node can take (issue 13)
    ("unschedulable", "GPUScalerUnschedulableReplicas",
     [series("gpu_autoscaler_unschedulable_replicas", {**CTL, **SCALER}, "2x20")], "16m", [warning(**SCALER)]),
    ("unschedulable-placed-in-time", "GPUScalerUnschedulableReplicas",
     [series("gpu_autoscaler_unschedulable_replicas", {**CTL, **SCALER}, "2x10 0x10")], "16m", []),
    ("unschedulable-none", "GPUScalerUnschedulableReplicas",
     [series("gpu_autoscaler_unschedulable_replicas", {**CTL, **SCALER}, "0x20")], "16m", []),
]


def test_every_alert_has_a_firing_and_a_quiet_case():
    firing = {alert for _, alert, _, _, expected in CASES if expected}
    quiet = {alert for _, alert, _, _, expected in CASES if not expected}
    assert firing == quiet == set(alert_names())


@pytest.fixture(scope="module")
def rules_without_annotations(tmp_path_factory) -> Path:
    rules = copy.deepcopy(RULES)
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    return path


@pytest.mark.parametrize("alert,input_series,eval_time,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_alert(rules_without_annotations, tmp_path, alert, input_series, eval_time, expected):
    test_file = tmp_path / "test.yaml"
    test_file.write_text(yaml.safe_dump({
        "rule_files": [str(rules_without_annotations)],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": input_series,
            "alert_rule_test": [{
                "eval_time": eval_time,
                "alertname": alert,
                "exp_alerts": [{"exp_labels": labels} for labels in expected],
            }],
        }],
    }))
    out = promtool("test", "rules", str(test_file))
    assert out.returncode == 0, out.stdout + out.stderr
