"""A metric's ``window`` in a GPUScaler spec: what parses to how many seconds, and each
error names its field (exit 2 through ``gpu-autoscaler validate``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from autoscaler.cli import main
from autoscaler.spec import MAX_WINDOW_SECONDS, SpecError, parse_scaler

QUEUE = {"type": "QueueDepth", "target": {"averageValue": 4}}
PROM = {"type": "Prometheus", "name": "qps", "query": "sum(rate(requests_total[1m]))", "target": {"value": 100}}


def doc(*metrics: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "gpuautoscaler.io/v1alpha1", "kind": "GPUScaler",
            "metadata": {"name": "llm", "namespace": "serving"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "llm"}, "maxReplicas": 8,
                     "metrics": list(metrics) or [QUEUE]}}


@pytest.mark.parametrize("window, seconds", [
    pytest.param(None, None, id="absent-no-smoothing"),
    pytest.param(60, 60.0, id="integer-seconds"),
    pytest.param(1, 1.0, id="one-second"),
    pytest.param(MAX_WINDOW_SECONDS, 3600.0, id="an-hour-of-seconds"),
    pytest.param("90", 90.0, id="bare-string"),
    pytest.param("90s", 90.0, id="seconds"),
    pytest.param("3600s", 3600.0, id="3600s"),
    pytest.param("2m", 120.0, id="minutes"),
    pytest.param("5min", 300.0, id="min"),
    pytest.param("60m", 3600.0, id="60m"),
    pytest.param("1h", 3600.0, id="an-hour"),
])
def test_parses(window: Any, seconds: float | None) -> None:
    metric = QUEUE if window is None else QUEUE | {"window": window}
    (m,) = parse_scaler(doc(metric)).spec.metrics
    assert m.window_seconds == seconds


def test_any_type_takes_a_window() -> None:
    q, p = parse_scaler(doc(QUEUE | {"window": "30s"}, PROM | {"window": "2m"})).spec.metrics
    assert (q.window_seconds, p.window_seconds) == (30.0, 120.0)


EXPECTED = "expected a duration of 1 s to 1 h: whole seconds (30, '30s'), whole minutes ('2m') or '1h'"


@pytest.mark.parametrize("window, got", [
    pytest.param(0, "a number (0)", id="zero"),
    pytest.param(-5, "a number (-5)", id="negative"),
    pytest.param(3601, "a number (3601)", id="over-an-hour"),
    pytest.param("0s", "a string ('0s')", id="zero-string"),
    pytest.param("3601s", "a string ('3601s')", id="over-an-hour-string"),
    pytest.param("61m", "a string ('61m')", id="61m"),
    pytest.param("2h", "a string ('2h')", id="2h"),
    pytest.param("1d", "a string ('1d')", id="a-day"),
    pytest.param("500ms", "a string ('500ms')", id="milliseconds"),
    pytest.param("1.5m", "a string ('1.5m')", id="a-fraction"),
    pytest.param("060s", "a string ('060s')", id="leading-zero"),
    pytest.param("soon", "a string ('soon')", id="words"),
    pytest.param(30.5, "a number (30.5)", id="a-float"),
    pytest.param(True, "a boolean (true)", id="a-boolean"),
    pytest.param({"seconds": 30}, "a mapping", id="a-mapping"),
])
def test_errors_name_the_field(window: Any, got: str) -> None:
    with pytest.raises(SpecError) as e:
        parse_scaler(doc(QUEUE | {"window": window}))
    assert str(e.value) == f"<document>: spec.metrics[0].window: {EXPECTED}, got {got}"


def test_every_problem_is_reported_together() -> None:
    with pytest.raises(SpecError) as e:
        parse_scaler(doc(QUEUE | {"window": "2h"}, PROM | {"window": 0, "target": {"value": -1}}))
    paths = [err.path for err in e.value.errors]
    assert paths == ["spec.metrics[0].window", "spec.metrics[1].target.value", "spec.metrics[1].window"]


def test_validate_exits_2_naming_the_file_and_field(tmp_path: Path) -> None:
    p = tmp_path / "scaler.yaml"
    p.write_text(yaml.safe_dump(doc(QUEUE | {"window": "2h"})))
    result = CliRunner().invoke(main, ["validate", str(p)])
    assert result.exit_code == 2
    assert f"{p}: spec.metrics[0].window: {EXPECTED}, got a string ('2h')" in result.stderr
    assert "Traceback" not in result.stderr
    p.write_text(yaml.safe_dump(doc(QUEUE | {"window": "2m"})))
    assert CliRunner().invoke(main, ["validate", str(p)]).exit_code == 0
