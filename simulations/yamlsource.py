"""YAML with line numbers: where each field of a document sits in its file.

``yaml.safe_load`` forgets positions; composing the node tree keeps them. The scenario
reader validates the loaded values and asks :func:`line_of` for the line of a field path
such as ``policies.ours.scaler.spec.metrics[0].target`` (the nearest enclosing field when
the path itself is absent, e.g. a required key that is missing).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from autoscaler.fields import FieldReader
from autoscaler.safe_yaml import YAMLProblem, decode, load_documents
from simulations.errors import InputProblem, SimulationInputError


def read_source(path: Path, source: str) -> str:
    """The text of a YAML file; unreadable or not UTF-8 is a :class:`SimulationInputError`
    with the line of the first bad byte."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SimulationInputError.one(source, 0, "file", f"cannot read: {e.strerror or e}") from None
    try:
        return decode(data)
    except YAMLProblem as e:
        raise SimulationInputError.one(source, e.line, "document", e.message) from None


def load_with_lines(text: str, source: str) -> tuple[Any, dict[str, int]]:
    """The single document in ``text`` and a map from field path to 1-based line.

    Read by the project's one YAML loader (:mod:`autoscaler.safe_yaml`): duplicate keys,
    alias bombs and over-deep nesting are refused with their line before anything walks
    the document (the line map below walks aliases as often as they are used)."""
    try:
        docs = load_documents(text)
    except YAMLProblem as e:
        raise SimulationInputError.one(source, e.line, "document", e.message) from None
    if len(docs) != 1:
        raise SimulationInputError.one(source, 1, "document", f"expected exactly one YAML document, got {len(docs)}")
    node = docs[0].node
    lines: dict[str, int] = {"": node.start_mark.line + 1}
    _walk(node, "", lines)
    return docs[0].value, lines


def _walk(node: yaml.Node, path: str, out: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            p = f"{path}.{key.value}" if path else str(key.value)
            out[p] = key.start_mark.line + 1
            _walk(value, p, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            p = f"{path}[{i}]"
            out[p] = item.start_mark.line + 1
            _walk(item, p, out)


def line_of(lines: dict[str, int], path: str) -> int:
    """The line of ``path``, or of its nearest enclosing field present in the file."""
    p = path
    while p:
        if p in lines:
            return lines[p]
        cut = max(p.rfind("."), p.rfind("["))
        p = p[:cut] if cut > 0 else ""
    return lines.get("", 1)


class ScenarioReader(FieldReader):
    """The shared field reader (``autoscaler/fields.py``), with each problem's line.

    Scenario sections are optional, so :meth:`mapping` defaults to not required."""

    def __init__(self, source: str, lines: dict[str, int]):
        super().__init__(source)
        self.lines = lines
        self.problems: list[InputProblem] = []

    def error(self, path: str, message: str) -> None:
        super().error(path, message)
        self.problems.append(InputProblem(self.source, line_of(self.lines, path), path, message))

    def raise_if_any(self) -> None:
        if self.problems:
            raise SimulationInputError(self.problems)

    def mapping(self, value: Any, path: str, *, required: bool = False) -> Mapping[str, Any] | None:
        return super().mapping(value, path, required=required)
