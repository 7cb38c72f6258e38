"""The report (simulations/report_all.py): the README's summary is the doc's headline, and the doc is written
from real runs with both routings, both sets and a verdict per policy."""
from __future__ import annotations

from pathlib import Path

import pytest

from simulations.report_all import (
    CASES,
    DEVELOPMENT,
    EVALUATION,
    HEADLINE,
    PHASE,
    PHASE_OFFSETS,
    SEEDS,
    SUMMARY,
    Case,
    main,
    phase_table,
    read_block,
    replace_block,
    routing_section,
    run_all,
    run_phases,
    seed_cases,
    select_cases,
    update_docs,
    wants_seeds,
)
from simulations.scenario import LEAST_REQUEST, PREFILL_AWARE, ROUTINGS

REPO = Path(__file__).resolve().parents[2]


def test_the_readme_summary_is_the_docs_headline_verbatim() -> None:
    readme = read_block((REPO / "README.md").read_text(), SUMMARY)
    headline = read_block((REPO / "docs" / "simulation.md").read_text(), HEADLINE)
    assert readme is not None and headline is not None
    assert readme.strip() and readme in headline


def test_every_report_trace_has_its_block_in_the_doc() -> None:
    text = (REPO / "docs" / "simulation.md").read_text()
    assert [c.name for c in CASES if read_block(text, c.name) is None] == []


def test_the_sets_split_the_traces_as_issue_10_says() -> None:
    assert [c.name for c in CASES if c.split == DEVELOPMENT] == ["azure_code", "azure_conv"]
    assert {"servegen_day1", "mooncake", "onoff_mixed", "long_prompt_swell", "reasoning_swell", "chat_step"} <= {
        c.name for c in CASES if c.split == EVALUATION}


def test_docs_written_from_real_runs(tmp_path: Path) -> None:
    cases = (Case("steps", "synthetic:kind=chat_step,duration=20m", "Steps", DEVELOPMENT),
             Case("bursts", "synthetic:kind=short_bursts,duration=20m,scale=2", "Bursts", EVALUATION,
                  routings=(LEAST_REQUEST,)))
    doc = tmp_path / "simulation.md"
    readme = tmp_path / "README.md"
    doc.write_text("# doc\n\n<!-- results:steps -->\nold\n<!-- /results:steps -->\n")
    readme.write_text("# readme\n\n<!-- results:summary -->\nold\n<!-- /results:summary -->\ntail\n")
    results = run_all(cases, "default", ROUTINGS, jobs=1)
    assert set(results) == {("steps", LEAST_REQUEST), ("steps", PREFILL_AWARE), ("bursts", LEAST_REQUEST)}
    update_docs(results, cases, ROUTINGS, doc, readme, headline=True, summary_routing=LEAST_REQUEST)
    text = doc.read_text()
    steps = read_block(text, "steps")
    assert steps is not None and "old" not in steps
    assert "Routing `leastRequest`" in steps and "Routing `prefillAware`" in steps and "development set" in steps
    assert "| verdict" in steps and "| reference" in steps and "![Steps](img/sim_steps.png)" in steps
    bursts = read_block(text, "bursts")
    assert bursts is not None and "Routing `prefillAware`" not in bursts and "evaluation set" in bursts
    headline, summary = read_block(text, HEADLINE), read_block(readme.read_text(), SUMMARY)
    assert headline is not None and summary is not None
    assert summary == routing_section(results, cases, LEAST_REQUEST) and summary in headline
    rows = [line for line in summary.splitlines() if line.startswith("| development") or line.startswith("| eval")]
    assert [r.split(" | ")[1] for r in rows] == ["Steps", "Bursts"]          # development first
    assert readme.read_text().endswith("<!-- /results:summary -->\ntail\n")


def test_replace_block_keeps_the_rest() -> None:
    text = "a\n<!-- results:x -->\n1\n<!-- /results:x -->\nb\n"
    assert replace_block(text, "x", "2") == "a\n<!-- results:x -->\n2\n<!-- /results:x -->\nb\n"
    assert read_block(replace_block(text, "y", "3"), "y") == "3"


def test_select_cases() -> None:
    assert [c.name for c in select_cases("", DEVELOPMENT)] == ["azure_code", "azure_conv"]
    assert [c.name for c in select_cases("mooncake,azure_code", "")] == ["azure_code", "mooncake"]


def test_an_unknown_report_trace_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--only", "azure_code,nope", "--no-docs"])
    assert e.value.code == 2
    assert capsys.readouterr().err.startswith("--only:0: nope: unknown report trace; expected one of azure_code, ")


def test_other_seeds_run_with_the_whole_report_or_alone() -> None:
    assert wants_seeds("", "") and wants_seeds("", EVALUATION) and wants_seeds("seeds", "")
    assert not wants_seeds("", DEVELOPMENT) and not wants_seeds("azure_code", "")
    assert select_cases("seeds", "") == ()
    cases = seed_cases()
    assert {c.trace.split(",seed=")[1] for c in cases} == {"2", "3"}
    assert all(c.split == EVALUATION and c.trace.startswith("synthetic:kind=") for c in cases)
    assert not {c.name for c in cases} & {c.name for c in CASES}


def test_the_doc_holds_the_other_seeds_block() -> None:
    block = read_block((REPO / "docs" / "simulation.md").read_text(), SEEDS)
    assert block is not None
    assert [c.title for c in seed_cases() if f"| {c.title} |" not in block] == []


def test_phase_runs_move_only_the_metric_age() -> None:
    """The phase table's runs differ from the headline's only by the metrics' age: at the
    scenario's own age (offset 0) ours is the headline's run, figure for figure."""
    case = Case("steps", "synthetic:kind=chat_step,duration=20m", "Steps", DEVELOPMENT)
    results = run_all((case,), "default", (PREFILL_AWARE,), jobs=1)
    phases = run_phases((case,), "default", PREFILL_AWARE, jobs=1)
    runs = phases["steps"]
    assert [d for d, _ in runs] == [10.0 + o for o in PHASE_OFFSETS]
    (same,) = [r for d, r in runs if d == 10.0]
    ours = next(r for r in results[("steps", PREFILL_AWARE)].results if r.policy == "ours")
    assert (same.slo_attainment, same.gpu_hours, same.scale_actions_per_hour) == (
        ours.slo_attainment, ours.gpu_hours, ours.scale_actions_per_hour)
    table = phase_table(phases, results, (case,), PREFILL_AWARE)
    (row,) = [line for line in table.splitlines() if line.startswith("| development | Steps |")]
    assert row.endswith(f" of {len(PHASE_OFFSETS)} |")


def test_the_doc_holds_the_phase_block() -> None:
    block = read_block((REPO / "docs" / "simulation.md").read_text(), PHASE)
    assert block is not None
    assert [c.title for c in CASES if c.name != "servegen_fortnight" and f"| {c.title} |" not in block] == []
