"""``pausedScaleIn`` / ``pausedScaleOut`` in the spec, and the pause annotations that OR
into them at the controller's edge (:func:`autoscaler.spec.apply_pause_annotations`)."""
from __future__ import annotations

from typing import Any

import pytest

from autoscaler.spec import (
    PAUSED_ANNOTATION,
    PAUSED_SCALE_IN_ANNOTATION,
    PAUSED_SCALE_OUT_ANNOTATION,
    GPUScalerSpec,
    Pause,
    SpecError,
    apply_pause_annotations,
    parse_spec,
)


def parse(**fields: Any) -> GPUScalerSpec:
    return parse_spec({"scaleTargetRef": {"kind": "Deployment", "name": "llm"}, "maxReplicas": 8,
                       "metrics": [{"type": "QueueDepth", "target": {"averageValue": 4}}], **fields},
                      source="llm.yaml")


def test_both_directions_default_to_not_paused() -> None:
    s = parse()
    assert (s.paused, s.paused_scale_in, s.paused_scale_out) == (False, False, False)


@pytest.mark.parametrize(("fields", "expected"), [
    pytest.param({"pausedScaleIn": True}, (True, False), id="scale-in"),
    pytest.param({"pausedScaleOut": True}, (False, True), id="scale-out"),
    pytest.param({"pausedScaleIn": True, "pausedScaleOut": False}, (True, False), id="explicit false"),
])
def test_the_fields_parse(fields: dict[str, Any], expected: tuple[bool, bool]) -> None:
    s = parse(**fields)
    assert (s.paused_scale_in, s.paused_scale_out) == expected


@pytest.mark.parametrize(("fields", "path", "message"), [
    pytest.param({"pausedScaleIn": "true"}, "spec.pausedScaleIn", "expected true or false, got a string ('true')",
                 id="scale-in a string"),
    pytest.param({"pausedScaleOut": 1}, "spec.pausedScaleOut", "expected true or false, got a number (1)",
                 id="scale-out an integer"),
    pytest.param({"pausedScaleDown": True}, "spec.pausedScaleDown", "unknown field", id="HPA's word is not ours"),
])
def test_a_bad_field_names_the_file_the_field_and_the_expectation(fields: dict[str, Any], path: str,
                                                                  message: str) -> None:
    with pytest.raises(SpecError) as e:
        parse(**fields)
    [error] = e.value.errors
    assert (error.source, error.path) == ("llm.yaml", path) and message in error.message


IN, OUT, ALL = PAUSED_SCALE_IN_ANNOTATION, PAUSED_SCALE_OUT_ANNOTATION, PAUSED_ANNOTATION

# (spec fields, annotations, (paused, in, out) after, the pauses in force as (reason, source))
ANNOTATION_CASES = [
    pytest.param({}, {}, (False, False, False), [], id="nothing"),
    pytest.param({}, {"team": "llm"}, (False, False, False), [], id="other annotations are not ours"),
    pytest.param({}, {IN: "true"}, (False, True, False), [("ScaleInPaused", f"annotation {IN}='true'")],
                 id="the scale-in annotation"),
    pytest.param({}, {OUT: " TRUE "}, (False, False, True), [("ScaleOutPaused", f"annotation {OUT}=' TRUE '")],
                 id="any case, spaces ignored"),
    pytest.param({}, {ALL: "true"}, (True, False, False), [("Paused", f"annotation {ALL}='true'")],
                 id="the whole scaler"),
    pytest.param({}, {IN: "false", OUT: "False"}, (False, False, False), [], id="false is not paused"),
    pytest.param({"pausedScaleOut": True}, {OUT: "false"}, (False, False, True),
                 [("ScaleOutPaused", "spec.pausedScaleOut")], id="false does not lift the spec's pause (OR)"),
    pytest.param({"pausedScaleIn": True}, {IN: "true"}, (False, True, False),
                 [("ScaleInPaused", f"spec.pausedScaleIn and annotation {IN}='true'")], id="both say it"),
    pytest.param({}, {IN: "yes"}, (False, True, False),
                 [("ScaleInPaused", f"annotation {IN}='yes' (neither true nor false: taken as true)")],
                 id="a value neither true nor false pauses, and says so"),
    pytest.param({}, {IN: ""}, (False, True, False),
                 [("ScaleInPaused", f"annotation {IN}='' (neither true nor false: taken as true)")],
                 id="kubectl annotate KEY= pauses"),
]


@pytest.mark.parametrize(("fields", "annotations", "flags", "pauses"), ANNOTATION_CASES)
def test_annotations_or_into_the_spec(fields: dict[str, Any], annotations: dict[str, str],
                                      flags: tuple[bool, bool, bool], pauses: list[tuple[str, str]]) -> None:
    spec = parse(**fields)
    out = apply_pause_annotations(spec, annotations)
    assert (out.spec.paused, out.spec.paused_scale_in, out.spec.paused_scale_out) == flags
    assert list(out.pauses) == [Pause(*p) for p in pauses]
    assert out.spec.metrics == spec.metrics and out.spec.max_replicas == spec.max_replicas


def test_no_annotation_keeps_the_very_spec() -> None:
    """The common case builds nothing: the loop hands the parsed spec on as it is."""
    spec = parse(pausedScaleIn=True)
    assert apply_pause_annotations(spec, {"team": "llm"}).spec is spec
