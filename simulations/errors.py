"""Bad simulator input, reported as ``FILE:LINE: field: what is wrong``.

Traces and scenarios are validated once, at the edge; every problem found is kept (not
just the first), each naming the file, the line (0 when the problem is the file as a
whole) and the field, so the CLI can print them and exit 2 without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InputProblem:
    """One problem in an input file: where it is and what was expected."""

    source: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.field}: {self.message}"


class SimulationInputError(ValueError):
    """A trace or scenario that cannot be used; holds every :class:`InputProblem`."""

    def __init__(self, problems: list[InputProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def one(cls, source: str, line: int, field: str, message: str) -> SimulationInputError:
        return cls([InputProblem(source, line, field, message)])
