"""Diagnostics: one immutable record per problem, and the renderers that print them.

Text output follows compilers and linters: `path:line:col: CODE message`, the source line with
a caret under the column, then `hint: ...`. JSON output carries the same records.
"""

from __future__ import annotations

import difflib
import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from routing_engine.core.ir import NOWHERE, Span


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A hint naming the closest choice to a misspelt word, or '' when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    severity: Severity
    message: str
    span: Span = NOWHERE
    hint: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "file": self.span.file,
            "line": self.span.line,
            "column": self.span.column,
            "end_line": self.span.end_line,
            "end_column": self.span.end_column,
            "hint": self.hint,
        }


class DiagnosticError(Exception):
    """Raised by the public API when a deployment has errors; carries every diagnostic."""

    def __init__(self, diagnostics: Iterable[Diagnostic], sources: Mapping[str, str] | None = None):
        self.diagnostics = tuple(diagnostics)
        self.sources = dict(sources or {})
        errors = [d for d in self.diagnostics if d.is_error]
        first = errors[0] if errors else None
        summary = f"{len(errors)} error(s)"
        if first is not None:
            summary += f"; first: {first.span}: {first.code} {first.message}"
        super().__init__(summary)


MAX_PER_FILE = 100
"""Diagnostics shown per file; the rest are folded into one closing S116 "and N more"."""


@dataclass(frozen=True, slots=True)
class Omitted(Diagnostic):
    """The closing diagnostic of a file with more than `MAX_PER_FILE`: how many are not shown."""

    count: int = 0


class PerFile:
    """A file's diagnostics as they are collected: the first `limit` kept, the rest counted
    (an `Omitted` one adds its count), so a file with a hundred thousand problems costs a
    hundred records."""

    __slots__ = ("error", "first_omitted", "kept", "limit", "omitted")

    def __init__(self, limit: int = MAX_PER_FILE) -> None:
        self.limit = limit
        self.kept: list[Diagnostic] = []
        self.omitted = 0
        self.first_omitted: Span | None = None
        self.error = False

    def append(self, diagnostic: Diagnostic) -> None:
        if isinstance(diagnostic, Omitted) or len(self.kept) >= self.limit:
            self.omitted += diagnostic.count if isinstance(diagnostic, Omitted) else 1
            self.first_omitted = self.first_omitted or diagnostic.span
            self.error = self.error or diagnostic.is_error
        else:
            self.kept.append(diagnostic)

    def result(self) -> list[Diagnostic]:
        """The kept diagnostics, then one `Omitted` (S116) when any were left out."""
        if not self.omitted or self.first_omitted is None:
            return list(self.kept)
        severity = Severity.ERROR if self.error else Severity.WARNING
        message = f"and {self.omitted:,} more problem(s) in this file, not shown"
        hint = f"only the first {self.limit} of a file are shown: fix these and check again"
        more = Omitted("S116", severity, message, self.first_omitted, hint, self.omitted)
        return [*self.kept, more]


def capped(diagnostics: Iterable[Diagnostic], limit: int = MAX_PER_FILE) -> list[Diagnostic]:
    """Diagnostics in order, at most `limit` per file, each file's rest folded into one S116."""
    files: dict[str, PerFile] = {}
    for diagnostic in sorted(diagnostics, key=sort_key):
        files.setdefault(diagnostic.span.file, PerFile(limit)).append(diagnostic)
    return sorted((d for per_file in files.values() for d in per_file.result()), key=sort_key)


def sort_key(diagnostic: Diagnostic) -> tuple[str, int, int, str]:
    span = diagnostic.span
    return (span.file, span.line, span.column, diagnostic.code)


def render_text(diagnostic: Diagnostic, sources: Mapping[str, str]) -> str:
    """Render one diagnostic for a person: location, code and message, the source line with a
    caret under the column, and the hint."""
    span = diagnostic.span
    label = "" if diagnostic.is_error else "warning: "
    lines = [f"{span}: {diagnostic.code} {label}{diagnostic.message}"]
    source = sources.get(span.file)
    if source is not None and span.line > 0:
        source_lines = source.splitlines()
        if span.line <= len(source_lines):
            text = source_lines[span.line - 1].expandtabs(1)
            if len(text) > 200:  # keep very long lines readable: show a window round the caret
                start = max(0, span.column - 100)
                text = text[start : start + 200]
                column = span.column - start
            else:
                column = span.column
            width = 1
            if span.end_line == span.line and span.end_column > span.column:
                width = min(span.end_column - span.column, max(1, len(text) - column + 1))
            lines.append(f"    {text}")
            lines.append("    " + " " * max(0, column - 1) + "^" + "~" * (width - 1))
    if diagnostic.hint:
        lines.append(f"    hint: {diagnostic.hint}")
    return "\n".join(lines)


def render_all_text(diagnostics: Iterable[Diagnostic], sources: Mapping[str, str]) -> str:
    ordered = sorted(diagnostics, key=sort_key)
    return "\n".join(render_text(d, sources) for d in ordered)


def render_json(diagnostics: Iterable[Diagnostic]) -> str:
    return json.dumps([d.to_json() for d in sorted(diagnostics, key=sort_key)], indent=2)


def summary_line(diagnostics: Iterable[Diagnostic]) -> str:
    """How many errors and warnings, those left out of the list (S116) included."""
    errors = warnings = 0
    for d in diagnostics:
        count = d.count if isinstance(d, Omitted) else 1
        errors += count if d.is_error else 0
        warnings += 0 if d.is_error else count
    return f"{errors} error(s), {warnings} warning(s)"
