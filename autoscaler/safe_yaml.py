"""The one YAML loader for every file we read (GPUScaler specs, scenarios, kubeconfig checks).

PyYAML's ``safe_load`` is safe from code execution but not from these, each refused
here with the line it is on (:class:`YAMLProblem`, which callers turn into exit 2):

- **duplicate mapping keys**: ``maxReplicas: 4`` then ``maxReplicas: 40`` silently
  keeps the last; the API server's strict field validation refuses it, so do we;
- **alias bombs** ("billion laughs"): nine anchors, each a list of nine aliases to the
  previous, compose to ~90 nodes but expand to 9^9 = 387,420,489; anything that walks
  the document (field checks, line maps, JSON) then runs out of memory. The expanded
  size of each document is counted on the composed nodes, before anything walks it,
  and a document over :data:`MAX_EXPANDED_NODES` or with a recursive alias is refused;
- **nesting so deep** that the composer overflows Python's stack;
- **integers of thousands of digits**, on which ``int()`` raises outside PyYAML's
  error types (Python 3.11 caps int parsing at 4,300 digits).

And one reading as kubectl's: ``averageValue: 1e3`` is the number 1000 (YAML 1.2 and
JSON), where PyYAML's YAML 1.1 rules read it as the string ``'1e3'``.
Bytes that are not UTF-8 are refused by :func:`decode` with their line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

#: A GPUScaler has ~50 nodes; the largest bundled scenario ~400. 100,000 leaves room
#: for any hand-written file and refuses 9^6 = 531,441 and every larger bomb.
MAX_EXPANDED_NODES = 100_000
#: Longer integers are refused as they are read: no field we read needs more than 19.
MAX_INTEGER_DIGITS = 100

_MERGE_TAG = "tag:yaml.org,2002:merge"


class YAMLProblem(ValueError):
    """A file that is not YAML we accept; ``line`` is 1-based (0: the whole document)."""

    def __init__(self, line: int, message: str):
        self.line = line
        self.message = message
        super().__init__(f"line {line}: {message}" if line else message)


@dataclass(frozen=True)
class Document:
    """One YAML document: its composed nodes (with positions) and its value."""

    node: yaml.Node
    value: Any


class _Loader(yaml.SafeLoader):
    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        digits = sum(c.isdigit() for c in str(node.value))
        if digits > MAX_INTEGER_DIGITS:
            raise yaml.constructor.ConstructorError(
                None, None, f"an integer of {digits} digits is too large", node.start_mark
            )
        value: int = super().construct_yaml_int(node)
        return value


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
# YAML 1.2 / JSON exponent floats without a dot or an exponent sign: 1e3, 2.5e-4, 1E+9.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def decode(data: bytes) -> str:
    """UTF-8 text, or :class:`YAMLProblem` naming the line of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise YAMLProblem(line, f"not UTF-8 text (byte 0x{data[e.start]:02x})") from None


def load_documents(text: str) -> list[Document]:
    """Every non-empty document in ``text``, checked as the module docstring says."""
    loader = _Loader(text)
    out: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            _check(node)
            value = loader.construct_document(node)
            if value is not None:
                out.append(Document(node, value))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = mark.line + 1 if mark is not None else 0
        raise YAMLProblem(line, f"not valid YAML: {getattr(e, 'problem', None) or e}") from None
    except RecursionError:
        raise YAMLProblem(0, "not valid YAML: nested too deeply") from None
    finally:
        loader.dispose()
    return out


def _check(root: yaml.Node) -> None:
    """Refuse duplicate keys, recursive aliases and documents that expand past the cap.

    The expanded size of a node is 1 plus that of its children, memoised per node, so
    a node reached through many aliases is counted as often as it would be walked but
    visited once: linear in the composed document however large the expansion.
    """
    size: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            active.discard(key)
            children = _children(node)
            total = 1 + sum(size[id(c)] for c in children)
            if total > MAX_EXPANDED_NODES:
                raise YAMLProblem(
                    node.start_mark.line + 1, f"aliases expand this document past {MAX_EXPANDED_NODES:,} nodes; refused"
                )
            size[key] = total
            continue
        if key in size:
            continue
        if key in active:
            raise YAMLProblem(node.start_mark.line + 1, "a recursive alias (an anchor used inside itself); refused")
        active.add(key)
        if isinstance(node, yaml.MappingNode):
            _duplicates(node)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _duplicates(node: yaml.MappingNode) -> None:
    first_line: dict[tuple[str, str], int] = {}
    for k, _ in node.value:
        if not isinstance(k, yaml.ScalarNode) or k.tag == _MERGE_TAG:
            continue
        name = (k.tag, k.value)
        line = k.start_mark.line + 1
        if name in first_line:
            raise YAMLProblem(
                line,
                f"duplicate key {k.value!r} (first on line {first_line[name]}); refused, as the API server refuses it",
            )
        first_line[name] = line
