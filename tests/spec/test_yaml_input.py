"""Odd but plausible spec files: each refused with the file, the line or field and what
was expected (autoscaler/safe_yaml.py, autoscaler/spec.py) — or, for 1e3, accepted."""
from __future__ import annotations

from pathlib import Path

import pytest

from autoscaler.safe_yaml import MAX_EXPANDED_NODES
from autoscaler.spec import SpecError, load_scaler

GOOD = """\
apiVersion: gpuautoscaler.io/v1alpha1
kind: GPUScaler
metadata: {name: llm, namespace: serving}
spec:
  scaleTargetRef: {kind: Deployment, name: llm}
  maxReplicas: 10
  metrics:
    - type: QueueDepth
      target: {averageValue: 4}
"""

BOMB = "x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9))


def _load(tmp_path: Path, content: str | bytes) -> list[str]:
    p = tmp_path / "scaler.yaml"
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content)
    with pytest.raises(SpecError) as e:
        load_scaler(p)
    messages = [str(err) for err in e.value.errors]
    assert all(m.startswith(f"{p}: ") for m in messages), messages
    return messages


@pytest.mark.parametrize("content, complaint", [
    pytest.param(GOOD.replace("maxReplicas: 10", "maxReplicas: 10\n  maxReplicas: 40"),
                 "line 7: duplicate key 'maxReplicas' (first on line 6)", id="duplicate-key"),
    pytest.param(GOOD.replace("{kind: Deployment, name: llm}", "{kind: Deployment, name: llm, name: other}"),
                 "line 5: duplicate key 'name'", id="duplicate-key-flow"),
    pytest.param(GOOD + BOMB, f"past {MAX_EXPANDED_NODES:,} nodes", id="billion-laughs"),
    pytest.param(GOOD + "x: &a [*a]\n", "recursive alias", id="recursive-alias"),
    pytest.param(GOOD.encode().replace(b"name: llm}", b"name: ll\xffm}"), "line 5: not UTF-8", id="not-utf8"),
    pytest.param(GOOD.replace("maxReplicas: 10", "maxReplicas: " + "9" * 5000), "line 6", id="5000-digits"),
    pytest.param("x: " + "[" * 3000 + "]" * 3000, "nested too deeply", id="deep-nesting"),
    pytest.param(GOOD.replace("maxReplicas: 10", "maxReplicas: 2147483648"), "spec.maxReplicas: expected an "
                 "integer <= 2147483647", id="max-over-int32"),
    pytest.param(GOOD.replace("maxReplicas: 10", "maxReplicas: 9223372036854775808"), "spec.maxReplicas",
                 id="max-over-int64"),
    pytest.param(GOOD + "specs: {}\n", "specs: unknown field", id="unknown-top-level"),
    pytest.param(GOOD.replace("namespace: serving", "namespace: Serving_1"), "metadata.namespace: expected a "
                 "DNS-1123 label", id="namespace-not-dns"),
    pytest.param(GOOD.replace("{name: llm,", "{name: LLM,"), "metadata.name: expected a DNS-1123 subdomain",
                 id="name-not-dns"),
    pytest.param(GOOD.replace("averageValue: 4", "averageValue: 0.0004"), "expected a number >= 0.001",
                 id="sub-milli-target"),
])
def test_refused_with_where_and_what(tmp_path: Path, content: str | bytes, complaint: str) -> None:
    messages = _load(tmp_path, content)
    assert any(complaint in m for m in messages), messages


@pytest.mark.parametrize("text, amount", [("1e3", 1000.0), ("2.5e-1", 0.25), ("1E+2", 100.0), ("4", 4.0)])
def test_exponent_numbers_read_as_kubectl_reads_them(tmp_path: Path, text: str, amount: float) -> None:
    p = tmp_path / "scaler.yaml"
    p.write_text(GOOD.replace("averageValue: 4", f"averageValue: {text}"))
    assert load_scaler(p).spec.metrics[0].target.amount == amount


def test_small_aliases_are_fine(tmp_path: Path) -> None:
    p = tmp_path / "scaler.yaml"
    p.write_text(GOOD.replace("target: {averageValue: 4}", "target: &t {averageValue: 4}") + "status: {x: *t}\n")
    assert load_scaler(p).spec.max_replicas == 10
