"""Guarded YAML reading (ARCHITECTURE.md, "Known traps").

`yaml.load` runs code and `safe_load` still expands alias bombs, so flow files never go through
either. We walk libyaml's event stream once and build the raw tree ourselves, refusing on the
way anchors, aliases, explicit tags, nesting deeper than `MAX_DEPTH`, and duplicate keys. Scalars
stay text; only an empty or `null`/`~` plain scalar becomes `None`.

Our limits come first, whatever the PyYAML version. libyaml 0.2.6 (in PyYAML 6.0.4's wheels;
6.0.1 to 6.0.3 ship 0.2.5, which has no limit) stops deep nesting itself: its scanner raises
ScannerError "exceeded maximum nesting depth" past about 1000 levels, block and flow counted
together (a 1001st flow level, a 1000th block one). PyYAML's pure-Python parser has no limit.
The scanner reads up to 1024 characters of a line ahead of the last node it handed over (a `[`
might yet turn out to be a key), so on `[[[[...` its error, or a syntax error it meets in that
window, comes before the parser hands us the node at depth `MAX_DEPTH + 1`. So when the library
stops at a point, the text before that point is read again (`_stopped`): the first refusal there
(nesting deeper than `MAX_DEPTH`, an anchor, an alias, a tag, a collection as a key), or a
syntax error before that point, is the diagnostic; only when there is none is the library's own
error reported. The same input thus gets the same diagnostic on every PyYAML, limit or none.

The library's limit is far above ours and counts no level we do not, so a text under our limit
never reaches it. If something in the process lowered it (`yaml._yaml._set_max_nest_level`), a
text it stops before ours does is still refused as S101, at the library's position, naming the
library's limit rather than ours. PyYAML has no size limit a flow file can reach (200 MiB read
on 6.0.1 and 6.0.4 alike; libyaml's "input is too long" is at SIZE_MAX / 2): the size cap is
`MAX_FILE_BYTES` (`sources/limits.py`), applied by the loader.

Events are built as they come, never held for a whole document, and each document, key and
value is counted against the file's limits (`sources/limits.py`) before it is built: a file of
a million empty documents, or of a few hundred thousand keys, is refused (S101) where it crosses
the limit, having built no more than the limit allows. Duplicate keys are kept to the first
hundred diagnostics of the file, then one "and N more" (S116).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from routing_engine.core.diagnostics import Diagnostic, PerFile, Severity
from routing_engine.core.ir import Span
from routing_engine.sources.limits import GENERATED_HINT, Tally
from routing_engine.sources.raw import BOM, Path, RawDocument

try:  # libyaml's parser: 20x faster, and its event stream copes with deep nesting
    _Loader: type[Any] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - pyyaml built without libyaml
    _Loader = yaml.SafeLoader

MAX_DEPTH = 32
_NODES = (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent)
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_DEEP_HINT = "flow files are shallow; this looks like generated or hostile input"
# How PyYAML's parsers word their own nesting limit: libyaml 0.2.6's scanner says "exceeded
# maximum nesting depth"; libyaml's parser-side form says "Maximum nesting level reached".
_LIBRARY_LIMIT = re.compile(r"\bnesting (depth|level)\b", re.IGNORECASE)


class _Refused(Exception):
    def __init__(self, code: str, message: str, mark: Any, hint: str = ""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.mark = mark
        self.hint = hint

    def diagnostic(self, file: str) -> Diagnostic:
        return Diagnostic(
            self.code, Severity.ERROR, self.message, _span(file, self.mark), self.hint
        )


def _span(file: str, start: Any, end: Any | None = None) -> Span:
    if end is None:
        return Span(file, start.line + 1, start.column + 1)
    return Span(file, start.line + 1, start.column + 1, end.line + 1, end.column + 1)


@dataclass(slots=True)
class _Frame:
    container: dict[str, Any] | list[Any]
    path: Path
    pending_key: str | None = None
    discard: bool = False  # the pending key is a duplicate: its value is read and dropped


def _check_event(event: Any) -> None:
    anchor = getattr(event, "anchor", None)
    if isinstance(event, yaml.AliasEvent):
        raise _Refused(
            "S101",
            f"aliases are not allowed in flow files ('*{event.anchor}')",
            event.start_mark,
            "write the value out again: aliases can expand into huge documents",
        )
    if anchor is not None:
        raise _Refused(
            "S101",
            f"anchors are not allowed in flow files ('&{anchor}')",
            event.start_mark,
            "remove the anchor and write repeated values out in full",
        )
    tag = getattr(event, "tag", None)
    implicit = getattr(event, "implicit", True)
    explicit = tag is not None and not (
        implicit is True or (isinstance(implicit, tuple) and any(implicit))
    )
    if explicit and tag not in ("tag:yaml.org,2002:str",):
        raise _Refused(
            "S101",
            f"YAML tags are not allowed in flow files ('{tag}')",
            event.start_mark,
            "flow files are data: remove the tag",
        )


class _Builder:
    """Builds one document from its events (between DocumentStart and DocumentEnd), fed one by
    one: values placed in their containers with their spans, duplicate keys reported as S107."""

    def __init__(self, start: Any, file: str, diagnostics: PerFile, text: str):
        self.file = file
        self.diagnostics = diagnostics
        self.doc = RawDocument(file=file, data=None, span=_span(file, start.start_mark), text=text)
        self.stack: list[_Frame] = []

    def feed(self, event: Any) -> None:
        if isinstance(event, yaml.ScalarEvent):
            self.scalar(event)
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            self.open(event)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            self.close(event)

    def place(self, value: Any, span: Span) -> Path:
        """Put a value where the document stands (the root, a list, a key's value)."""
        doc = self.doc
        if not self.stack:
            doc.data = value
            doc.value_spans[()] = span
            return ()
        frame = self.stack[-1]
        if isinstance(frame.container, list):
            path: Path = (*frame.path, len(frame.container))
            frame.container.append(value)
        else:
            key = frame.pending_key or ""
            path = (*frame.path, key)
            frame.pending_key = None
            if frame.discard:  # a duplicate key's value: kept under a path no lookup asks for
                frame.discard = False
                path = ("\0discarded",)
            else:
                frame.container[key] = value
        doc.value_spans[path] = span
        return path

    def awaiting_key(self) -> _Frame | None:
        """The mapping whose next scalar is a key, if the document stands at one."""
        frame = self.stack[-1] if self.stack else None
        if frame is not None and isinstance(frame.container, dict) and frame.pending_key is None:
            return frame
        return None

    def scalar(self, event: Any) -> None:
        span = _span(self.file, event.start_mark, event.end_mark)
        if event.style in ("'", '"'):  # point at the text, not at its opening quote
            span = Span(
                self.file,
                span.line,
                span.column + 1,
                span.end_line,
                max(span.column + 1, span.end_column - 1),
            )
        frame = self.awaiting_key()
        if frame is not None:
            self.key(frame, event.value, span)
            return
        plain = not event.style  # libyaml says '' for plain, the Python parser None
        value: str | None = event.value
        if plain and event.value in _NULLS and event.implicit[0]:
            value = None
        path = self.place(value, span)
        start_mark: Any = event.start_mark
        end_mark: Any = event.end_mark
        self.doc.raw_offsets[path] = (
            start_mark.index,
            end_mark.index,
            _span(self.file, start_mark),
        )

    def key(self, frame: _Frame, key: str, span: Span) -> None:
        if key in frame.container:
            first = self.doc.key_spans.get((*frame.path, key))
            where = f" (first at line {first.line})" if first else ""
            self.diagnostics.append(
                Diagnostic(
                    "S107",
                    Severity.ERROR,
                    f"duplicate key '{key}'{where}",
                    span,
                    "each key may appear once in a mapping; merge the two or rename one",
                )
            )
            frame.discard = True  # keep the first; read the second into nowhere
        frame.pending_key = key
        if not frame.discard:
            self.doc.key_spans[(*frame.path, key)] = span

    def open(self, event: Any) -> None:
        if self.awaiting_key() is not None:
            raise _Refused(
                "S105", "a mapping key must be a plain value, not a collection", event.start_mark
            )
        new: dict[str, Any] | list[Any] = {} if isinstance(event, yaml.MappingStartEvent) else []
        path = self.place(new, _span(self.file, event.start_mark))
        self.stack.append(_Frame(new, path))

    def close(self, event: Any) -> None:
        done = self.stack.pop()
        old = self.doc.value_spans[done.path]
        end: Any = event.end_mark
        self.doc.value_spans[done.path] = Span(
            old.file, old.line, old.column, end.line + 1, end.column + 1
        )


def read_yaml(text: str, file: str) -> tuple[list[RawDocument], list[Diagnostic]]:
    """Read every document of a YAML text; never raises for bad input. A byte order mark at the
    start is no character of the text: columns on the first line are counted without it."""
    text = text.removeprefix(BOM)
    try:
        return _read(text, file)
    except _Refused as refused:
        return [], [refused.diagnostic(file)]
    except yaml.MarkedYAMLError as error:
        return [], [_stopped(text, file, error)]
    except yaml.YAMLError as error:
        return [], [
            Diagnostic("S100", Severity.ERROR, f"YAML syntax error: {error}", Span(file, 1, 1))
        ]


def _read(text: str, file: str) -> tuple[list[RawDocument], list[Diagnostic]]:
    """Read the documents; raises `_Refused` where we refuse, YAMLError where the library stops.
    Each event is checked (and counted against the file's limits) before it is built."""
    documents: list[RawDocument] = []
    diagnostics = PerFile()
    tally = Tally()
    builder: _Builder | None = None
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.DocumentStartEvent):
            _limit(tally.document(), event)
            builder = _Builder(event, file, diagnostics, text)
        elif isinstance(event, yaml.DocumentEndEvent):
            if builder is not None:
                documents.append(builder.doc)
            builder = None
        elif builder is not None:
            _check_event(event)
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _Refused(
                        "S101",
                        f"nesting deeper than {MAX_DEPTH} levels",
                        event.start_mark,
                        _DEEP_HINT,
                    )
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            if isinstance(event, _NODES):
                is_key = builder.awaiting_key() is not None
                _limit(tally.key() if is_key else tally.node(), event)
            builder.feed(event)
    return documents, diagnostics.result()


def _limit(crossed: str | None, event: Any) -> None:
    """Refuse the file where a limit of `sources/limits.py` is crossed."""
    if crossed is not None:
        raise _Refused("S101", crossed, event.start_mark, GENERATED_HINT)


def _stopped(text: str, file: str, error: yaml.MarkedYAMLError) -> Diagnostic:
    """The diagnostic for a text the library stopped reading with `error`.

    The library may have stopped while looking ahead of the last node it handed over (see the
    module's doc), so the text before the point where it stopped is read again: a refusal of
    ours there, or a syntax error there, comes first. An error the second reading meets only at
    the end of that shorter text is an effect of cutting it, not a finding."""
    mark = error.problem_mark
    end = len(text) if mark is None else _offset(text, mark)
    if 0 < end < len(text):
        before = text[:end]
        try:
            _read(before, file)
        except _Refused as refused:
            return refused.diagnostic(file)
        except yaml.MarkedYAMLError as earlier:
            earlier_mark = earlier.problem_mark
            if earlier_mark is not None and _offset(before, earlier_mark) < end:
                return _syntax_error(text, file, earlier)
        except yaml.YAMLError:
            pass
    if mark is not None and _LIBRARY_LIMIT.search(error.problem or ""):
        return Diagnostic(  # only when the library's limit was lowered below ours
            "S101",
            Severity.ERROR,
            f"nesting deeper than the YAML library allows ({(error.problem or '').strip()})",
            _span(file, mark),
            _DEEP_HINT,
        )
    return _syntax_error(text, file, error)


def _offset(text: str, mark: Any) -> int:
    """Where `mark` is in `text` (read without its byte order mark), in characters."""
    return int(mark.index)


def _syntax_error(text: str, file: str, error: yaml.MarkedYAMLError) -> Diagnostic:
    mark = error.problem_mark or error.context_mark
    if error.context_mark is not None and "end of stream" in (error.problem or ""):
        mark = error.context_mark  # an unclosed quote or bracket: point at where it opens
    message = (error.problem or error.context or "invalid YAML").strip()
    if error.context and error.problem:
        message = f"{error.context}: {message}"
    span = Span(file, 1, 1) if mark is None else _span(file, mark)
    at = -1 if mark is None else _offset(text, mark)
    char = text[at] if 0 <= at < len(text) else ""
    hint = _yaml_hint(message, char)
    return Diagnostic("S100", Severity.ERROR, f"YAML syntax error: {message}", span, hint)


def _yaml_hint(message: str, char: str) -> str:
    if char == "\t":
        return "YAML indents with spaces, not tabs"
    if "mapping values are not allowed" in message:
        return "a value containing ': ' must be quoted, or a key is indented wrongly"
    if "could not find expected ':'" in message:
        return "a key is missing its ':' or a quoted string is not closed"
    if "found unexpected end of stream" in message or "while scanning a quoted scalar" in message:
        return "a quoted string is not closed"
    return ""
