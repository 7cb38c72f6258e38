"""``spec.formula`` in a GPUScaler spec: what parses into which tree, and each error names
``spec.formula...`` and what was expected (exit 2 from ``validate`` and ``dry-run``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from autoscaler.cli import main
from autoscaler.expression import MAX_DEPTH, MAX_LENGTH, Binary, Call, Name, Negate, Number, parse_expression, text
from autoscaler.spec import SpecError, parse_scaler

QUEUE = {"type": "QueueDepth", "target": {"averageValue": 4}}
KV = {"type": "KVCacheUsage", "target": {"averageUtilization": 80}}
TPS = {"type": "Prometheus", "name": "tps", "query": "sum(rate(x[1m]))", "target": {"value": 1000}}


def doc(formula: Any, *metrics: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "gpuautoscaler.io/v1alpha1", "kind": "GPUScaler",
            "metadata": {"name": "llm", "namespace": "serving"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "llm"}, "maxReplicas": 8,
                     "metrics": list(metrics or (QUEUE, KV)), "formula": formula}}


@pytest.mark.parametrize("expression, tree", [
    pytest.param("queue_depth + 0.5 * kv_cache_usage",
                 Binary("+", Name("queue_depth"), Binary("*", Number(0.5), Name("kv_cache_usage"))), id="sum"),
    pytest.param("max(queue_depth / 4, kv_cache_usage / 50)",
                 Call("max", (Binary("/", Name("queue_depth"), Number(4)), Binary("/", Name("kv_cache_usage"), Number(50)))),
                 id="max"),
    pytest.param("-(queue_depth) + +kv_cache_usage", Binary("+", Negate(Name("queue_depth")), Name("kv_cache_usage")),
                 id="unary-signs"),
    pytest.param("  queue_depth  ", Name("queue_depth"), id="spaces-around"),
    pytest.param("queue_depth\n  + kv_cache_usage\n", Binary("+", Name("queue_depth"), Name("kv_cache_usage")),
                 id="over-lines"),
    pytest.param("min(queue_depth, 3, kv_cache_usage)", Call("min", (Name("queue_depth"), Number(3), Name("kv_cache_usage"))),
                 id="three-arguments"),
])
def test_parses(expression: str, tree: Any) -> None:
    formula = parse_scaler(doc({"expression": expression, "target": {"averageValue": 30}})).spec.formula
    assert formula is not None
    assert formula.tree == tree and formula.expression == expression
    assert set(formula.names) <= {"queue_depth", "kv_cache_usage"}


def test_no_formula_is_none_and_a_value_target_is_kept() -> None:
    assert parse_scaler(doc(None)).spec.formula is None
    formula = parse_scaler(doc({"expression": "tps / 2 + queue_depth", "target": {"value": 7}}, QUEUE, TPS)).spec.formula
    assert formula is not None
    assert (formula.target.kind, formula.target.amount, formula.names) == ("value", 7, ("tps", "queue_depth"))


@pytest.mark.parametrize("expression", [
    "queue_depth + 0.5 * kv_cache_usage", "a - (b - c)", "-(a + b) * c", "max(a, 2 * b) / (c + 1)", "a / (b / c)",
])
def test_text_reads_back_the_same_tree(expression: str) -> None:
    tree = parse_expression(expression)
    assert text(tree) == expression
    assert parse_expression(text(tree)) == tree


E = "spec.formula.expression"

ERRORS = [
    pytest.param({"expression": "queue_depth ** 2", "target": {"averageValue": 1}}, E,
                 "the operator '**' at column 1 is not supported", id="power"),
    pytest.param({"expression": "queue_depth % 2", "target": {"averageValue": 1}}, E, "the operator '%'", id="modulo"),
    # columns count the characters of the expression as written, leading spaces included
    pytest.param({"expression": "   queue_depth + 2 ** kv_cache_usage", "target": {"averageValue": 1}}, E,
                 "the operator '**' at column 18 is not supported", id="column-after-spaces"),  # where 2 ** ... starts
    pytest.param({"expression": "  queue_depth + + )", "target": {"averageValue": 1}}, E,
                 "unmatched ')' at column 19", id="syntax-after-spaces"),
    pytest.param({"expression": "max(queue_depth, 2", "target": {"averageValue": 1}}, E,
                 "'(' was never closed at column 4", id="unclosed"),
    pytest.param({"expression": "queue_depth if kv_cache_usage else 1", "target": {"averageValue": 1}}, E,
                 "'if ... else' at column 1 is not supported", id="ternary"),
    pytest.param({"expression": "queue_depth > 1", "target": {"averageValue": 1}}, E, "a comparison", id="comparison"),
    pytest.param({"expression": "__import__('os').system('x')", "target": {"averageValue": 1}}, E,
                 "expected a call of min or max at column 1, got __import__('os').system()", id="import"),
    pytest.param({"expression": "queue_depth.real", "target": {"averageValue": 1}}, E,
                 "an attribute at column 1 is not supported", id="attribute"),
    pytest.param({"expression": "kv_cache_usage[0]", "target": {"averageValue": 1}}, E, "a subscript", id="subscript"),
    pytest.param({"expression": "(lambda: 1)()", "target": {"averageValue": 1}}, E, "got lambda: 1()",
                 id="lambda-call"),
    pytest.param({"expression": "abs(queue_depth)", "target": {"averageValue": 1}}, E,
                 "expected a call of min or max at column 1, got abs()", id="another-function"),
    pytest.param({"expression": "max(queue_depth)", "target": {"averageValue": 1}}, E,
                 "expected at least two arguments to max()", id="max-of-one"),
    pytest.param({"expression": "max(*queue_depth)", "target": {"averageValue": 1}}, E,
                 "expected plain arguments to max()", id="starred"),
    pytest.param({"expression": "'queue_depth'", "target": {"averageValue": 1}}, E, "is not a number", id="a-string"),
    pytest.param({"expression": "queue_depth + True", "target": {"averageValue": 1}}, E, "True at column 15 is not a number",
                 id="a-boolean"),
    pytest.param({"expression": "queue_depth * 1e999", "target": {"averageValue": 1}}, E, "expected a finite number",
                 id="infinite-constant"),
    pytest.param({"expression": "queue_depth +", "target": {"averageValue": 1}}, E, "invalid syntax at the end",
                 id="syntax"),
    pytest.param({"expression": "queue_depth; 1", "target": {"averageValue": 1}}, E, "invalid syntax", id="two-statements"),
    pytest.param({"expression": "", "target": {"averageValue": 1}}, E, "expected a non-empty string", id="empty"),
    pytest.param({"expression": "queue", "target": {"averageValue": 1}}, E,
                 "expected names of this scaler's metrics (queue_depth, kv_cache_usage), got 'queue'", id="unknown-name"),
    pytest.param({"expression": "2 * 3", "target": {"averageValue": 1}}, E,
                 "expected an expression naming at least one of queue_depth, kv_cache_usage", id="no-name"),
    pytest.param({"expression": "+".join(["queue_depth"] * 40), "target": {"averageValue": 1}}, E,
                 f"expected at most {MAX_DEPTH} levels of nesting", id="too-deep"),
    pytest.param({"expression": "(" * 300 + "queue_depth" + ")" * 300, "target": {"averageValue": 1}}, E,
                 "too many nested parentheses", id="parentheses-past-the-parser"),
    pytest.param({"expression": "queue_depth" + " " * MAX_LENGTH, "target": {"averageValue": 1}}, E,
                 f"expected at most {MAX_LENGTH} characters", id="too-long"),
    pytest.param({"expression": 3, "target": {"averageValue": 1}}, E, "expected a non-empty string, got a number (3)",
                 id="not-a-string"),
    pytest.param({"target": {"averageValue": 1}}, E, "required", id="no-expression"),
    pytest.param({"expression": "queue_depth"}, "spec.formula.target", "", id="no-target"),
    pytest.param({"expression": "queue_depth", "target": {"averageUtilization": 50}},
                 "spec.formula.target.averageUtilization", "expected one of averageValue, value for a formula",
                 id="a-percent-target"),
    pytest.param({"expression": "queue_depth", "target": {"averageValue": 0}}, "spec.formula.target.averageValue",
                 "expected a number >= 0.001", id="zero-target"),
    pytest.param({"expression": "queue_depth", "target": {"averageValue": 1}, "name": "x"}, "spec.formula.name",
                 "", id="unknown-field"),
    pytest.param("queue_depth", "spec.formula", "expected a mapping", id="not-a-mapping"),
]


@pytest.mark.parametrize("formula, field, message", ERRORS)
def test_errors_name_the_field(formula: Any, field: str, message: str) -> None:
    with pytest.raises(SpecError) as e:
        parse_scaler(doc(formula), "scaler.yaml")
    got = str(e.value)
    assert f"scaler.yaml: {field}" in got and message in got, got


def test_a_metric_named_formula_is_refused_while_a_formula_is_set() -> None:
    named = {**TPS, "name": "formula"}
    parse_scaler(doc(None, QUEUE, named))  # without a formula, "formula" is a name like any other
    with pytest.raises(SpecError) as e:
        parse_scaler(doc({"expression": "queue_depth", "target": {"averageValue": 1}}, QUEUE, named))
    assert "spec.formula: a metric is named 'formula', the key of the formula's proposal" in str(e.value)


def test_a_broken_metric_is_reported_not_the_names() -> None:
    # metrics[1] fails to parse: its error stands alone, the formula's names are not checked against a partial list
    with pytest.raises(SpecError) as e:
        parse_scaler(doc({"expression": "queue_depth + kv_cache_usage", "target": {"averageValue": 1}},
                         QUEUE, {"type": "KVCacheUsage", "target": {"averageUtilization": 120}}))
    assert [err.path for err in e.value.errors] == ["spec.metrics[1].target.averageUtilization"]


# -- through the CLI: exit 2, the file and the field named, no traceback ------------------------

def write(tmp_path: Path, formula: Any) -> Path:
    p = tmp_path / "scaler.yaml"
    p.write_text(yaml.safe_dump(doc(formula)))
    return p


@pytest.mark.parametrize("command", ["validate", "dry-run"])
def test_cli_exit_2_names_file_and_field(tmp_path: Path, command: str) -> None:
    p = write(tmp_path, {"expression": "queue_depth ** 2", "target": {"averageValue": 1}})
    csv = tmp_path / "m.csv"
    csv.write_text("timestamp,metric,pod,value\n0,queue_depth,a,1\n")
    args = [command, str(p)] + ([str(csv)] if command == "dry-run" else [])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert f"{p}: spec.formula.expression: expected numbers, metric names" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_cli_validate_accepts_a_formula(tmp_path: Path) -> None:
    p = write(tmp_path, {"expression": "queue_depth + 0.5 * kv_cache_usage", "target": {"averageValue": 30}})
    result = CliRunner().invoke(main, ["validate", str(p)])
    assert result.exit_code == 0 and result.stdout.startswith(f"OK: {p}")
    assert "formula 'queue_depth + 0.5 * kv_cache_usage' in place of max" in result.stdout
