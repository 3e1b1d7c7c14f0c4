"""Comments: found in the text of either syntax and attached to the key they describe, so
`fmt` keeps them and `convert` carries them across.

A comment on a line of its own belongs to the next key (it stands before it); a comment at the
end of a line belongs to that line's key. Comments after a document's last key stay at its end.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from routing_engine.sources.raw import Path, RawDocument

END: Path = ("\0end",)


@dataclass(slots=True)
class Comments:
    """A document's comments by the path of the key they belong to."""

    before: dict[Path, list[str]] = field(default_factory=dict)
    after: dict[Path, str] = field(default_factory=dict)

    def leading(self, path: Path) -> list[str]:
        return self.before.get(path, [])

    def trailing(self, path: Path) -> str:
        return self.after.get(path, "")

    def __bool__(self) -> bool:
        return bool(self.before or self.after)


def scan(text: str, skip: list[tuple[int, int]] | None = None) -> list[tuple[int, int, str, bool]]:
    """Every `#` comment of a text: (line, index in the text, comment, on a line of its own).
    A `#` inside quotes, or inside one of the `skip` ranges (multi-line scalars), is text.
    Both syntaxes start a comment with `#` at a line's start or after white space."""
    found = []
    starts = sorted(start for start, _ in skip or [])
    ranges = sorted(skip or [])
    offset = 0
    for number, line in enumerate(text.split("\n"), start=1):
        quote = ""
        for i, char in enumerate(line):
            if quote:
                if char == "\\" and quote == '"':
                    continue
                if char == quote:
                    quote = ""
                continue
            if char in "\"'" and (i == 0 or not line[i - 1].isalnum()):
                quote = char
            elif char == "#" and (i == 0 or line[i - 1] in " \t"):
                index = offset + i
                at = bisect.bisect_right(starts, index) - 1
                if at >= 0 and ranges[at][0] <= index < ranges[at][1]:
                    continue
                found.append(
                    (number, index, line[i + 1 :].rstrip().removeprefix(" "), not line[:i].strip())
                )
                break
        offset += len(line) + 1
    return found


def attach(
    doc: RawDocument, comments: list[tuple[int, int, str, bool]], first: int, last: int
) -> Comments:
    """Attach the comments between lines `first` and `last` (a document's lines) to its keys."""
    keys: dict[int, Path] = {}
    for path, span in sorted(
        doc.key_spans.items(), key=lambda item: (item[1].line, item[1].column)
    ):
        keys.setdefault(span.line, path)
    lines = sorted(keys)
    out = Comments()
    for line, _index, text, own_line in comments:
        if not first <= line <= last:
            continue
        if not own_line and line in keys:
            out.after[keys[line]] = text
            continue
        at = bisect.bisect_right(lines, line)
        path = keys[lines[at]] if at < len(lines) else END
        out.before.setdefault(path, []).append(text)
    return out
