"""Where the model's objects stand in the source files, and how they name each other.

Every object of the model carries the `Span` it came from, so a problem found anywhere later
(validation, compilation, even the runtime) still points at a line and column of a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Span:
    """Where something stands in a source file (1-based line and column)."""

    file: str
    line: int
    column: int
    end_line: int = 0
    end_column: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


NOWHERE = Span("<unknown>", 0, 0)


@dataclass(frozen=True, slots=True)
class Ref:
    """A by-name reference (to a node, a flow, a target or a contact), resolved at compile
    time; an unknown name is a diagnostic at `span`, never a runtime KeyError."""

    name: str
    span: Span = field(default=NOWHERE, compare=False)
