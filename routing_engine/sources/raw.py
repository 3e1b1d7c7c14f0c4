"""The syntax-neutral input of the builder: plain data plus the span of every key and value.

Both readers produce `RawDocument`s: mappings, lists, strings and `None` only (no numbers or
booleans: scalars stay text, and the builder reads them by the type the field expects, so YAML's
`on`/`off`/`yes`/`no` never silently become booleans).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from routing_engine.core.ir import Span

PathItem = str | int
# A byte order mark, which some editors write at the start of UTF-8 files: no character of
# the text, so both readers drop it and columns on the first line are the same without it.
BOM = "\ufeff"
Path = tuple[PathItem, ...]


@dataclass(slots=True)
class RawDocument:
    file: str
    data: Any
    span: Span
    value_spans: dict[Path, Span] = field(default_factory=dict)
    key_spans: dict[Path, Span] = field(default_factory=dict)
    # comments by the path they stand before; carried across by conversion tools
    comments: dict[Path, str] = field(default_factory=dict)
    # the file's text, and where each scalar value stands in it as written (quotes, escapes
    # and line folding included), so a position inside a value can be mapped back exactly
    text: str = ""
    raw_offsets: dict[Path, tuple[int, int, Span]] = field(default_factory=dict)

    def raw(self, path: Path) -> tuple[str, Span] | None:
        """The value at `path` as written in the file, and where that text starts."""
        found = self.raw_offsets.get(path)
        if found is None or not self.text:
            return None
        start, end, where = found
        return self.text[start:end], where

    def value_span(self, path: Path) -> Span:
        """Span of the value at `path`, or of its nearest enclosing value."""
        for end in range(len(path), -1, -1):
            span = self.value_spans.get(path[:end])
            if span is not None:
                return span
        return self.span

    def key_span(self, path: Path) -> Span:
        """Span of the key that introduces `path`, falling back to the value's span."""
        span = self.key_spans.get(path)
        return span if span is not None else self.value_span(path)
