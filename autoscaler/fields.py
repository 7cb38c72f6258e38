"""Reading typed fields out of a loaded YAML document, with errors that name the field.

Shared by the GPUScaler spec (``autoscaler/spec.py``) and the simulator's scenario files
(``simulations/scenario.py``): the same words for the same mistakes everywhere, e.g.
``spec.maxReplicas: expected an integer, got a string ('ten')``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, overload


@dataclass(frozen=True)
class FieldError:
    """One problem: where it is and what was expected."""

    source: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.path}: {self.message}"


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


class FieldReader:
    """Walks a loaded YAML document, collecting every error with its field path instead of
    stopping at the first: a user fixing a file sees all of its problems at once.

    Subclasses may override :meth:`error` to say more about where (a line number)."""

    def __init__(self, source: str):
        self.source = source
        self.errors: list[FieldError] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(FieldError(self.source, path, message))

    def mapping(self, value: Any, path: str, *, required: bool = True) -> Mapping[str, Any] | None:
        if value is None:
            if required:
                self.error(path, "is required (expected a mapping)")
            return None
        if not isinstance(value, Mapping):
            self.error(path, f"expected a mapping, got {describe_value(value)}")
            return None
        return value

    def unknown(self, obj: Mapping[str, Any], path: str, known: tuple[str, ...]) -> None:
        for key in obj:
            if key not in known:
                self.error(_join(path, key), f"unknown field (expected one of: {', '.join(known)})")

    @overload
    def integer(
        self,
        obj: Mapping[str, Any],
        key: str,
        path: str,
        default: int,
        *,
        minimum: int | None = ...,
        maximum: int | None = ...,
    ) -> int: ...

    @overload
    def integer(
        self,
        obj: Mapping[str, Any],
        key: str,
        path: str,
        default: None,
        *,
        minimum: int | None = ...,
        maximum: int | None = ...,
    ) -> int | None: ...

    def integer(
        self,
        obj: Mapping[str, Any],
        key: str,
        path: str,
        default: int | None,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int | None:
        p = _join(path, key)
        if key not in obj or obj[key] is None:
            if default is None:
                self.error(p, "is required (expected an integer)")
            return default
        v = obj[key]
        if isinstance(v, bool) or not isinstance(v, int):
            self.error(p, f"expected an integer, got {describe_value(v)}")
            return default
        if minimum is not None and v < minimum:
            self.error(p, f"expected an integer >= {minimum}, got {v}")
            return default
        if maximum is not None and v > maximum:
            self.error(p, f"expected an integer <= {maximum}, got {v}")
            return default
        return v

    @overload
    def number(
        self,
        obj: Mapping[str, Any],
        key: str,
        path: str,
        default: float,
        *,
        minimum: float | None = ...,
        exclusive_minimum: float | None = ...,
        maximum: float | None = ...,
    ) -> float: ...

    @overload
    def number(
        self,
        obj: Mapping[str, Any],
        key: str,
        path: str,
        default: None,
        *,
        minimum: float | None = ...,
        exclusive_minimum: float | None = ...,
        maximum: float | None = ...,
    ) -> float | None: ...

    def number(
        self,
        obj: Mapping[str, Any],
        key: str,
        path: str,
        default: float | None,
        *,
        minimum: float | None = None,
        exclusive_minimum: float | None = None,
        maximum: float | None = None,
    ) -> float | None:
        p = _join(path, key)
        if key not in obj or obj[key] is None:
            return default
        v = obj[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not _finite(v):
            self.error(p, f"expected a finite number, got {describe_value(v)}")
            return default
        if minimum is not None and v < minimum:
            self.error(p, f"expected a number >= {minimum:g}, got {v:g}")
            return default
        if exclusive_minimum is not None and v <= exclusive_minimum:
            self.error(p, f"expected a number > {exclusive_minimum:g}, got {v:g}")
            return default
        if maximum is not None and v > maximum:
            self.error(p, f"expected a number <= {maximum:g}, got {v:g}")
            return default
        return float(v)

    @overload
    def string(
        self, obj: Mapping[str, Any], key: str, path: str, default: str, choices: tuple[str, ...] | None = ...
    ) -> str: ...

    @overload
    def string(
        self, obj: Mapping[str, Any], key: str, path: str, default: None, choices: tuple[str, ...] | None = ...
    ) -> str | None: ...

    def string(
        self, obj: Mapping[str, Any], key: str, path: str, default: str | None, choices: tuple[str, ...] | None = None
    ) -> str | None:
        p = _join(path, key)
        if key not in obj or obj[key] is None:
            if default is None:
                self.error(p, "is required (expected a string)")
            return default
        v = obj[key]
        if not isinstance(v, str) or not v:
            self.error(p, f"expected a non-empty string, got {describe_value(v)}")
            return default
        if choices is not None and v not in choices:
            self.error(p, f"expected one of {', '.join(choices)}, got {v!r}")
            return default
        return v

    def boolean(self, obj: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
        if key not in obj or obj[key] is None:
            return default
        v = obj[key]
        if not isinstance(v, bool):
            self.error(_join(path, key), f"expected true or false, got {describe_value(v)}")
            return default
        return v


def _finite(v: int | float) -> bool:
    """``math.isfinite`` that answers False for an int too large for a float (10**400)."""
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def describe_value(value: Any) -> str:
    """How an error message names a wrong value: ``a string ('16')``, ``a mapping``."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        text = str(value) if not isinstance(value, int) or value.bit_length() < 200 else f"{value.bit_length()}-bit"
        return f"a number ({text})"
    if isinstance(value, str):
        return f"a string ({value!r})" if len(value) <= 60 else f"a string ({value[:57]!r}... {len(value)} characters)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__
