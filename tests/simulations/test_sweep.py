"""The default-choice sweep (simulations/sweep.py): variants as written, patched into ours'
spec, checked before any run, and summarized over the metric ages."""
from __future__ import annotations

import pytest

from simulations.sweep import Variant, check, main, parse_variant, patched, scenario_document


def test_a_variant_is_a_name_and_json_values_at_dotted_paths() -> None:
    v = parse_variant('g:metrics.2.target={"value": 0.5}; behavior.scaleDown.cooldownSeconds=600')
    assert v == Variant("g", (("metrics.2.target", {"value": 0.5}), ("behavior.scaleDown.cooldownSeconds", 600)))


@pytest.mark.parametrize("text, message", [
    ("no-colon", "expected NAME:PATH=JSON"),
    (":metrics.0.target=1", "expected NAME:PATH=JSON"),
    ("g:metrics.0.target", "g: expected PATH=JSON"),
    ("g:metrics.0.target={value: 1}", "g: metrics.0.target: the value is not JSON"),
])
def test_bad_variants_say_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_variant(text)


def test_patched_changes_only_ours_spec_and_not_the_document() -> None:
    doc = scenario_document("default")
    out = patched(doc, parse_variant('g:metrics.2.target={"value": 0.5};metrics.1.lookAhead={"ahead": "30s"}'))
    spec = out["policies"]["ours"]["scaler"]["spec"]
    assert spec["metrics"][2]["target"] == {"value": 0.5}
    assert spec["metrics"][1]["lookAhead"] == {"ahead": "30s"}
    assert doc["policies"]["ours"]["scaler"]["spec"]["metrics"][2]["target"] == {"value": 0.3}  # the default
    assert {k: v for k, v in out.items() if k != "policies"} == {k: v for k, v in doc.items() if k != "policies"}


def test_a_path_or_value_the_spec_lacks_or_refuses_is_refused_before_any_run() -> None:
    with pytest.raises(ValueError, match="g: no 'metrics.9.target' in the spec"):
        check([parse_variant('g:metrics.9.target={"value": 1}')], "default")
    with pytest.raises(ValueError, match="bad: "):
        check([parse_variant('bad:metrics.2.target={"value": -1}')], "default")


def test_the_cli_exits_2_on_a_bad_variant(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["g:metrics.2.target"])
    assert e.value.code == 2
    assert capsys.readouterr().err == "simulations.sweep: g: expected PATH=JSON, got 'metrics.2.target'\n"

