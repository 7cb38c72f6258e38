"""A formula's expression (``spec.formula.expression``), parsed once into a small frozen tree.

The language is arithmetic over a scaler's metric keys and nothing else: numbers,
names, ``+ - * /``, unary ``-``, parentheses, ``min(...)`` and ``max(...)``. The text is
read by Python's own parser (:func:`ast.parse` in ``eval`` mode: no statements) and
every node is then checked against that whitelist and copied into the dataclasses
below; nothing is ever evaluated by Python (no ``eval``, no ``compile``). So
``queue_depth + 0.5 * kv_cache_usage`` becomes
``Binary('+', Name('queue_depth'), Binary('*', Number(0.5), Name('kv_cache_usage')))``,
and ``__import__('os')``, ``a ** 9**9`` or ``q if q else 1`` are refused with the
column where they start.

Bounds, so that a spec cannot make the core's per-poll evaluation costly: at most
:data:`MAX_LENGTH` characters and :data:`MAX_DEPTH` levels of nesting.

Evaluation lives in the core (:mod:`autoscaler.core.formula`); this module only
parses and prints, and is part of the spec layer (it imports nothing of ours).
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass

#: The longest expression the CRD and ``validate`` accept.
MAX_LENGTH = 1024
#: The deepest nesting accepted: ``a + b + c`` is 3 deep (a left-leaning chain of two
#: ``+``), so 32 leaves room for 30 terms in a row and any sensible formula.
MAX_DEPTH = 32
#: The functions a formula may call, each over two or more arguments.
FUNCTIONS = ("min", "max")

EXPECTED = "numbers, metric names, + - * /, parentheses, min(...) and max(...)"

_OPERATORS: dict[type[ast.operator], str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
#: Operators the language lacks, as written, for the error that refuses them.
_SYMBOLS: dict[type[ast.operator], str] = {
    ast.Pow: "**",
    ast.Mod: "%",
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
}
#: How tightly each operator binds, for printing without needless parentheses.
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Name:
    """A metric key (``queue_depth``, or a Prometheus metric's ``name``)."""

    key: str


@dataclass(frozen=True)
class Negate:
    operand: Expr


@dataclass(frozen=True)
class Binary:
    op: str  # "+" | "-" | "*" | "/"
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Call:
    function: str  # "min" | "max"
    args: tuple[Expr, ...]


Expr = Number | Name | Negate | Binary | Call


class ExpressionError(ValueError):
    """Why a text is not an expression; the spec reports it at ``spec.formula.expression``."""


def parse_expression(text: str) -> Expr:
    """The tree of ``text``; raises :class:`ExpressionError` saying what is wrong and where
    (``at column N``: the Nth character of ``text``).

    Line breaks count as spaces (a YAML block scalar may hold the expression over several
    lines). Names are not checked here (the spec knows which metrics exist)."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expected at most {MAX_LENGTH} characters, got {len(text)}")
    flat = text.replace("\r", " ").replace("\n", " ")
    body = flat.lstrip()
    if not body.strip():
        raise ExpressionError(f"expected an expression of {EXPECTED}, got an empty string")
    shift = len(flat) - len(body)  # Python's parser refuses leading spaces; columns count them
    try:
        tree = ast.parse(body.rstrip(), mode="eval")
    except SyntaxError as e:
        # Python's own words ("invalid syntax", "'(' was never closed") and where: offset 0
        # is the end of the text (``queue_depth +``).
        where = f" at column {e.offset + shift}" if e.offset else " at the end" if e.offset == 0 else ""
        raise ExpressionError(f"expected an expression of {EXPECTED}; {e.msg or 'invalid syntax'}{where}") from None
    except (ValueError, RecursionError, MemoryError):  # NUL bytes; nesting the parser cannot hold
        raise ExpressionError(f"expected an expression of {EXPECTED}; it cannot be parsed") from None
    return _convert(tree.body, 1, shift)


def _convert(node: ast.expr, depth: int, shift: int) -> Expr:
    if depth > MAX_DEPTH:
        raise ExpressionError(f"expected at most {MAX_DEPTH} levels of nesting")
    where = f" at column {node.col_offset + 1 + shift}"
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ExpressionError(f"expected {EXPECTED}; {value!r}{where} is not a number")
        if not math.isfinite(float(value)):
            raise ExpressionError(f"expected a finite number{where}, got {value!r}")
        return Number(float(value))
    if isinstance(node, ast.Name):
        return Name(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _convert(node.operand, depth + 1, shift)
        return Negate(operand) if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _convert(node.left, depth + 1, shift), _convert(node.right, depth + 1, shift)
        return Binary(_OPERATORS[type(node.op)], left, right)
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS:
            called = ast.unparse(node.func)
            called = called if len(called) <= 40 else called[:37] + "..."
            raise ExpressionError(f"expected a call of {' or '.join(FUNCTIONS)}{where}, got {called}()")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise ExpressionError(f"expected plain arguments to {name}(){where}")
        if len(node.args) < 2:
            raise ExpressionError(f"expected at least two arguments to {name}(){where}, got {len(node.args)}")
        assert name is not None
        return Call(name, tuple(_convert(a, depth + 1, shift) for a in node.args))
    raise ExpressionError(f"expected {EXPECTED}; {_describe(node)}{where} is not supported")


def _describe(node: ast.expr) -> str:
    """A node the language lacks, in words: ``'**'``, ``'if ... else'``, ``'a.b'``."""
    if isinstance(node, ast.BinOp):
        return f"the operator {_SYMBOLS.get(type(node.op), type(node.op).__name__)!r}"
    words = {
        ast.Compare: "a comparison",
        ast.BoolOp: "'and'/'or'",
        ast.IfExp: "'if ... else'",
        ast.Attribute: "an attribute",
        ast.Subscript: "a subscript",
        ast.Lambda: "a lambda",
        ast.UnaryOp: "that unary operator",
    }
    return words.get(type(node), type(node).__name__)


def names(expr: Expr) -> tuple[str, ...]:
    """The metric keys ``expr`` names, each once, in the order they first appear."""
    found: dict[str, None] = {}
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Name):
            found.setdefault(node.key)
        elif isinstance(node, Negate):
            stack.append(node.operand)
        elif isinstance(node, Binary):
            stack.extend((node.right, node.left))
        elif isinstance(node, Call):
            stack.extend(reversed(node.args))
    return tuple(found)


def text(expr: Expr, outer: int = 0) -> str:
    """``expr`` written back in one canonical form (``queue_depth + 0.5 * kv_cache_usage``),
    with parentheses only where the tree needs them; ``outer`` is the binding strength of
    the operator around it."""
    if isinstance(expr, Number):
        return f"{expr.value:g}"
    if isinstance(expr, Name):
        return expr.key
    if isinstance(expr, Negate):
        return f"-{text(expr.operand, 3)}"
    if isinstance(expr, Call):
        return f"{expr.function}({', '.join(text(a) for a in expr.args)})"
    strength = _PRECEDENCE[expr.op]
    # The right side of '-' and '/' needs its parentheses at equal strength: a - (b - c).
    out = f"{text(expr.left, strength)} {expr.op} {text(expr.right, strength + (expr.op in '-/'))}"
    return f"({out})" if strength < outer else out
