"""Label selectors in their string form, parsed once and matched locally.

The pod cache (:mod:`autoscaler.kube.podcache`) answers "the pods matching
``status.selector``" without asking the API server, so it must read selectors as the
API server does (``k8s.io/apimachinery/pkg/labels.Parse``). A Deployment's scale
reports ``LabelSelectorAsSelector(spec.selector).String()``: ``matchLabels`` become
``key=value`` and ``matchExpressions`` the set-based forms, e.g.::

    app=web,tier in (gpu,spot),!canary,track notin (old),version

Supported, with Kubernetes' meaning:

=====================  ===============================================================
``k=v``, ``k==v``      the label is present and equals ``v`` (``v`` may be empty)
``k!=v``               the label is absent, or present with another value
``k in (a,b)``         present, with one of the values
``k notin (a,b)``      absent, or present with none of the values
``k``                  present (Exists)
``!k``                 absent (DoesNotExist)
``k>n``, ``k<n``       present, an integer, and greater / less than ``n``
=====================  ===============================================================

Requirements are separated by commas and all must hold; whitespace around tokens is
ignored. Anything else raises :class:`~autoscaler.kube.errors.Invalid`, as the API
server would answer a LIST with that selector (400). No ``kubernetes`` import here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

from autoscaler.kube.errors import Invalid

#: Operators after parsing: ``=``/``==`` are ``in`` with one value, ``!=`` is ``notin``.
IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GT, LT = "in", "notin", "exists", "!exists", "gt", "lt"

_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|<|>|[^\s!=(),<>]+)")
# Label keys and values (validation.IsQualifiedName / IsValidLabelValue): a name of at
# most 63 characters, alphanumeric at both ends; a key may carry a DNS-subdomain prefix.
_NAME = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)"
_KEY = re.compile(rf"(?:[a-z0-9](?:[-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_NAME}")
_VALUE = re.compile(rf"{_NAME}?")


@dataclass(frozen=True)
class Requirement:
    """One comma-separated part of a selector; ``values`` is empty for (does not) exist."""

    key: str
    operator: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        op = self.operator
        if op == IN:
            return value is not None and value in self.values
        if op == NOT_IN:
            return value is None or value not in self.values
        if op == EXISTS:
            return value is not None
        if op == DOES_NOT_EXIST:
            return value is None
        # gt / lt: a label that is not an integer never matches (as in Kubernetes).
        try:
            number = int(value) if value is not None else None
        except ValueError:
            return False
        (bound,) = self.values
        return number is not None and (number > int(bound) if op == GT else number < int(bound))


@dataclass(frozen=True)
class Selector:
    """All requirements must hold; an empty selector matches every label set."""

    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


@functools.lru_cache(maxsize=4096)
def parse_selector(text: str) -> Selector:
    """``text`` as a :class:`Selector` (cached: the same few thousand selectors come
    back every poll). Raises :class:`Invalid` naming the problem."""
    tokens = _tokens(text)
    requirements: list[Requirement] = []
    pos = 0

    def fail(why: str) -> Invalid:
        return Invalid(f"invalid label selector {text!r}: {why}", 400, "BadRequest")

    def take() -> str | None:
        nonlocal pos
        token = tokens[pos] if pos < len(tokens) else None
        pos += 1
        return token

    def key(token: str | None) -> str:
        if token is None or not _KEY.fullmatch(token):
            raise fail(f"{token!r} is not a label key")
        return token

    def value(token: str) -> str:
        if not _VALUE.fullmatch(token):
            raise fail(f"{token!r} is not a label value")
        return token

    while pos < len(tokens):
        token = take()
        if token == "!":
            requirements.append(Requirement(key(take()), DOES_NOT_EXIST))
        else:
            name = key(token)
            op = tokens[pos] if pos < len(tokens) else ","
            if op == ",":
                requirements.append(Requirement(name, EXISTS))
            elif op in ("=", "==", "!="):
                pos += 1
                nxt = tokens[pos] if pos < len(tokens) else ","
                v = "" if nxt == "," else value(take() or "")
                requirements.append(Requirement(name, IN if op != "!=" else NOT_IN, frozenset({v})))
            elif op in ("in", "notin"):
                pos += 1
                if take() != "(":
                    raise fail(f"expected '(' after {op!r}")
                values: set[str] = set()
                current = ""
                while True:
                    t = take()
                    if t is None:
                        raise fail("missing ')'")
                    if t in (",", ")"):
                        values.add(current)
                        current = ""
                        if t == ")":
                            break
                    elif current:
                        raise fail(f"expected ',' or ')' after {current!r}")
                    else:
                        current = value(t)
                if values == {""} and tokens[pos - 2] == "(":
                    raise fail(f"{op!r} needs at least one value")
                requirements.append(Requirement(name, IN if op == "in" else NOT_IN, frozenset(values)))
            elif op in (">", "<"):
                pos += 1
                bound = take()
                if bound is None or not re.fullmatch(r"-?\d+", bound):
                    raise fail(f"{op!r} needs an integer, got {bound!r}")
                requirements.append(Requirement(name, GT if op == ">" else LT, frozenset({bound})))
            else:
                raise fail(f"unexpected {op!r} after {name!r}")
        if pos < len(tokens):
            if tokens[pos] != ",":
                raise fail(f"expected ',' before {tokens[pos]!r}")
            pos += 1
            if pos == len(tokens):
                raise fail("trailing ','")
    return Selector(tuple(requirements))


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    pos, end = 0, len(text.rstrip())
    while pos < end:
        m = _TOKEN.match(text, pos)
        if m is None:  # unreachable: every character is whitespace, a symbol or part of a word
            raise Invalid(f"invalid label selector {text!r}", 400, "BadRequest")
        tokens.append(m[1])
        pos = m.end()
    return tokens
