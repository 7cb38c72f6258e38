"""A metric's ``lookAhead`` in a GPUScaler spec: what parses to which seconds, and each
error names its field (exit 2 through ``gpu-autoscaler validate``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from autoscaler.cli import main
from autoscaler.spec import LookAhead, SpecError, parse_scaler

QUEUE = {"type": "QueueDepth", "target": {"averageValue": 4}}
RUNNING = {"type": "Concurrency", "target": {"averageValue": 33.6}}


def doc(*metrics: dict[str, Any], polling: int = 15) -> dict[str, Any]:
    return {"apiVersion": "gpuautoscaler.io/v1alpha1", "kind": "GPUScaler",
            "metadata": {"name": "llm", "namespace": "serving"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "llm"}, "maxReplicas": 8,
                     "pollingIntervalSeconds": polling, "metrics": list(metrics) or [QUEUE]}}


@pytest.mark.parametrize("look_ahead, expected", [
    pytest.param(None, None, id="absent"),
    pytest.param({"ahead": "30s"}, LookAhead(30.0, 120.0), id="over-defaults-to-2m"),
    pytest.param({"ahead": 90, "over": "5m"}, LookAhead(90.0, 300.0), id="integer-and-minutes"),
    pytest.param({"ahead": "1h", "over": "1h"}, LookAhead(3600.0, 3600.0), id="an-hour"),
    pytest.param({"ahead": 1, "over": 31}, LookAhead(1.0, 31.0), id="just-over-two-polls"),
])
def test_parses(look_ahead: Any, expected: LookAhead | None) -> None:
    metric = RUNNING if look_ahead is None else RUNNING | {"lookAhead": look_ahead}
    (m,) = parse_scaler(doc(metric)).spec.metrics
    assert m.look_ahead == expected


DURATION = "expected a duration of 1 s to 1 h: whole seconds (30, '30s'), whole minutes ('2m') or '1h'"


@pytest.mark.parametrize("look_ahead, path, message", [
    pytest.param("30s", "lookAhead", "expected a mapping, got a string ('30s')", id="not-a-mapping"),
    pytest.param({}, "lookAhead.ahead", "expected how far ahead to project, a duration such as 30s",
                 id="no-ahead"),
    pytest.param({"ahead": "0s"}, "lookAhead.ahead", f"{DURATION}, got a string ('0s')", id="zero"),
    pytest.param({"ahead": "2h"}, "lookAhead.ahead", f"{DURATION}, got a string ('2h')", id="over-an-hour"),
    pytest.param({"ahead": 30, "over": 4000}, "lookAhead.over", f"{DURATION}, got a number (4000)", id="over-too-long"),
    pytest.param({"ahead": 30, "over": 30}, "lookAhead.over",
                 "expected more than 30 s (a trend needs 3 polls at pollingIntervalSeconds 15), got 30 s",
                 id="two-polls-are-no-trend"),
    pytest.param({"ahead": 30, "horizon": 30}, "lookAhead.horizon", "unknown field", id="unknown-field"),
])
def test_errors_name_the_field(look_ahead: Any, path: str, message: str) -> None:
    with pytest.raises(SpecError) as e:
        parse_scaler(doc(RUNNING | {"lookAhead": look_ahead}))
    (err,) = e.value.errors
    assert err.path == f"spec.metrics[0].{path}"
    assert message in err.message


def test_the_fit_span_is_checked_against_this_specs_polling_interval() -> None:
    (m,) = parse_scaler(doc(RUNNING | {"lookAhead": {"ahead": 30, "over": 30}}, polling=10)).spec.metrics
    assert m.look_ahead == LookAhead(30.0, 30.0)  # 3 polls at 10 s: ages 0, 10, 20


def test_validate_exits_2_naming_the_file_and_field(tmp_path: Path) -> None:
    p = tmp_path / "scaler.yaml"
    p.write_text(yaml.safe_dump(doc(RUNNING | {"lookAhead": {"ahead": "90s", "over": "30s"}})))
    result = CliRunner().invoke(main, ["validate", str(p)])
    assert result.exit_code == 2
    assert f"{p}: spec.metrics[0].lookAhead.over: expected more than 30 s" in result.stderr
    assert "Traceback" not in result.stderr
    p.write_text(yaml.safe_dump(doc(RUNNING | {"lookAhead": {"ahead": "90s"}})))
    assert CliRunner().invoke(main, ["validate", str(p)]).exit_code == 0
