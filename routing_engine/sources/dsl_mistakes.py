"""What a line of the DSL was meant to be, and what it lacks: the plain words for a statement
that does not parse.

A line is read as its tokens (words, quoted texts, `,`, `=`, `->`), whatever statement it is:
first its layout (a `->` needs a name after it, and nothing more), then what its place and its
first words say it is meant to be (a node, a parameter, an outcome, an escalation) and what of
that it lacks. `dsl_errors.py` finds the line and its place in the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lark import Token

from routing_engine.core.diagnostics import did_you_mean
from routing_engine.core.ir import KIND_NAMES, QUEUE_OUTCOMES, RING_OUTCOMES
from routing_engine.sources.dsl_build import (
    DIRECT,
    ESCALATION_WORDS,
    GROUPS,
    LIST_FIELDS,
    MAIN,
    NEXT_KINDS,
    SECTIONS,
    text,
)
from routing_engine.sources.model import DOCUMENT_KINDS

# Words that lead somewhere under a node of each kind: written without '->', a likely slip.
OUTCOME_WORDS = {
    "ring": RING_OUTCOMES,
    "queue": QUEUE_OUTCOMES,
    "menu": (*DIRECT["menu"], *"0123456789*#"),
    "hours": DIRECT["hours"],
    "branch": DIRECT["branch"],
}


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong, where (line and column), and a hint how to put it right."""

    message: str
    line: int
    column: int
    hint: str = ""
    code: str = "S100"  # S101 when the file is refused (a limit), not unreadable

    @classmethod
    def at(cls, token: Token, message: str, hint: str = "") -> Problem:
        return cls(message, token.line or 1, token.column or 1, hint)


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a file, as its tokens."""

    number: int
    indent: int
    items: tuple[Token, ...]
    end: int  # the column of its end (where its newline is)

    def arrow(self) -> int | None:
        """Where its `->` is among its tokens, if it has one."""
        return next((i for i, t in enumerate(self.items) if t.type == "ARROW"), None)

    def words(self) -> list[Token]:
        """Its words and quoted texts before its `->`."""
        return [t for t in self.items[: self.arrow()] if t.type in ("WORD", "STRING")]

    def head(self) -> str:
        words = self.words()
        return text(words[0]) if words else ""

    def is_case(self) -> bool:
        """A `when CONDITION -> NODE` line."""
        return bool(self.items) and self.items[0] == "when" and self.items[0].type == "WORD"

    def is_node(self) -> bool:
        """An `ID: KIND ...` line."""
        first = self.items[0] if self.items else ""
        return (
            isinstance(first, Token)
            and first.type == "WORD"
            and first.endswith(":")
            and len(first) > 1
        )

    def layout(self) -> Problem | None:
        """A `->` at the start of the line, with nothing after it, or with more than a name."""
        at = self.arrow()
        if at is None or self.is_case():
            return None
        if at == 0:
            hint = "write what leads there first: OUTCOME -> NODE"
            return Problem.at(self.items[0], "a line cannot start with '->'", hint)
        if at + 1 == len(self.items):
            message = "the line ends too early; expected a name or value"
            return Problem(message, self.number, self.end, "a '->' needs a node after it")
        name = self.items[at + 1]
        if name.type != "WORD":
            message = f"unexpected '{name}'; expected a name or value, the end of the line"
            return Problem.at(name, message)
        if at + 2 < len(self.items):
            extra = self.items[at + 2]
            return Problem.at(extra, f"unexpected '{extra}'; expected the end of the line")
        return None


def document(line: Line) -> Problem | None:
    """`deployment|flow|module NAME ["DESCRIPTION"]`."""
    words, head = line.words(), line.head()
    if head not in DOCUMENT_KINDS:
        hint = did_you_mean(head, DOCUMENT_KINDS) or (
            "a file holds 'deployment', 'flow' and 'module' blocks"
        )
        return Problem.at(line.items[0], f"{head!r} cannot start a block here", hint)
    if len(words) == 1:
        return Problem.at(words[0], f"'{head}' needs a name", f"write: {head} NAME")
    if len(words) > 3:
        hint = "quote the description"
        return Problem.at(words[3], "unexpected words after the description", hint)
    return None


def deployment_line(line: Line, block: bool) -> Problem | None:
    """An entry, a section or a setting of a deployment."""
    words, head = line.words(), line.head()
    if head == "entry":
        if line.arrow() is None or len(words) != 2:
            return Problem.at(words[0], "an entry is 'entry NUMBER -> FLOW'")
        return None
    if head in SECTIONS and len(words) == 2 and line.arrow() is None:
        return None
    return setting(line, block)


def setting(line: Line, block: bool) -> Problem | None:
    """`key value`: an '=' is never part of a value; a list only where the setting takes one."""
    if line.arrow() is not None or block or len(line.items) < 2:
        return None
    return value(line.items[1:], line.head() in LIST_FIELDS)


def weekly(line: Line, block: bool) -> Problem | None:
    """`weekly DAYS HOURS, ...` in a schedule."""
    if line.head() == "weekly" and len(line.items) >= 3:
        return value(line.items[2:], True)
    return setting(line, block)


def value(tokens: Sequence[Token], as_list: bool) -> Problem | None:
    """A value's words: no '=' among them, and no comma where one value belongs."""
    equals = next((t for t in tokens if t.type == "EQUALS"), None)
    if equals is not None:
        hint = (
            "'name = value' lines belong under set and use nodes"
            if equals is tokens[0]
            else "quote a value that holds '=': uri \"sip:{number}@gateway.example;transport=tls\""
        )
        return Problem.at(equals, "unexpected '='", hint)
    if not as_list and len(_groups(tokens)) > 1:
        comma = next(t for t in tokens if t.type == "COMMA")
        hint = "remove the comma, or quote the value"
        return Problem.at(comma, "a list where one value belongs", hint)
    return None


def _groups(tokens: Sequence[Token]) -> list[list[Token]]:
    """A value's words, split at its commas (empty groups left out)."""
    groups: list[list[Token]] = [[]]
    for token in tokens:
        if token.type == "COMMA":
            groups.append([])
        else:
            groups[-1].append(token)
    return [group for group in groups if group]


def param(line: Line) -> Problem | None:
    """`param NAME TYPE [default VALUE]` in a module."""
    words = line.words()
    if len(words) < 3:
        return Problem.at(words[0], "a parameter is 'param NAME TYPE [default VALUE]'")
    if len(words) > 3 and (text(words[3]) != "default" or len(words) < 5):
        return Problem.at(words[3], "after the type, only 'default VALUE'")
    return None


def node(line: Line) -> Problem | None:
    """`ID: KIND ... [-> NODE]`: the kind, its first line's values, its `->`."""
    id_token, *rest = line.items
    node_id = str(id_token)[:-1]
    at = line.arrow()
    head = rest[: at - 1] if at is not None else rest
    if not head:
        return Problem.at(id_token, f"node '{node_id}' has no kind", f"write: {node_id}: KIND ...")
    kind = text(head[0])
    if kind not in KIND_NAMES:
        hint = did_you_mean(kind, KIND_NAMES) or f"node kinds: {', '.join(KIND_NAMES)}"
        return Problem.at(head[0], f"'{kind}' is not a node kind", hint)
    found = _header(kind, head[0], head[1:])
    if found is None and at is not None and kind not in NEXT_KINDS:
        return Problem.at(
            line.items[at + 1],
            f"a {kind} node does not go on by '->' on its first line",
            "write its outcomes on the lines under it: OUTCOME -> NODE",
        )
    return found


def _header(kind: str, kind_token: Token, tokens: list[Token]) -> Problem | None:
    """`ring a, b at once for 3 rings`: the words after the kind, up to the `->`."""
    words = [text(t) if t.type == "WORD" else None for t in tokens]
    if kind in ("ring", "queue") and "for" in words:
        at = words.index("for")
        found = value(tokens[at + 1 :], False)
        if found is not None:
            return found
        tokens, words = tokens[:at], words[:at]
    if kind == "ring" and words[-2:] in (["at", "once"], ["in", "order"]):
        tokens = tokens[:-2]
    found = value(tokens, kind == "ring")
    if found is not None:
        return found
    if kind in ("branch", "set") and tokens:
        message = f"a {kind} node takes nothing more on its first line"
        return Problem.at(tokens[0], message, "write its lines under it, indented")
    if kind in MAIN and not _groups(tokens):
        return Problem.at(kind_token, f"a {kind} node needs its {MAIN[kind]} on its first line")
    return None


def node_line(line: Line, kind: str, block: bool) -> Problem | None:
    """A line under a node: an outcome, an assignment, an escalation step, a setting."""
    items, at = line.items, line.arrow()
    if at is not None:
        label = " ".join(text(t) for t in line.words())
        if not line.words() or label in DIRECT.get(kind, ()) or kind in GROUPS:
            return None
        hint = did_you_mean(label, DIRECT.get(kind, ())) or ""
        return Problem.at(line.words()[0], f"a {kind} node has no outcome '{label}'", hint)
    if any(t.type == "EQUALS" for t in items):
        return _assignment(line, kind)
    if kind in ("ticket", "voicemail") and text(items[0]) == "escalate" and not block:
        return _escalation(line)
    first = text(items[0])
    if first in OUTCOME_WORDS.get(kind, ()) and len(items) > 1:
        target = " ".join(text(t) for t in items[1:])
        hint = f"write: {first} -> {target}"
        return Problem.at(items[1], f"'{first} {target}' lacks its '->'", hint)
    return setting(line, block)


def _assignment(line: Line, kind: str) -> Problem | None:
    """`NAME = VALUE`, under a set or use node only."""
    items = line.items
    if kind not in ("set", "use"):
        return Problem.at(items[0], f"a {kind} node has no 'name = value' lines")
    if len(items) < 2:
        return None
    if items[1].type != "EQUALS":
        return Problem.at(items[1], "write 'name = value'")
    return value(items[2:], False)


def _escalation(line: Line) -> Problem | None:
    """`escalate after DURATION notify CONTACT, ...`."""
    parts: list[tuple[Token, list[Token]]] = []
    for token in line.items[1:]:
        if token.type == "WORD" and text(token) in ESCALATION_WORDS:
            parts.append((token, []))
        elif parts:
            parts[-1][1].append(token)
        else:
            hint = "write: escalate after DURATION notify CONTACT, ..."
            return Problem.at(token, f"unexpected '{text(token)}' in an escalation", hint)
    seen: set[str] = set()
    for word, tokens in parts:
        key = text(word)
        found = value(tokens, key == "notify")
        if found is not None:
            return found
        if not _groups(tokens):
            return Problem.at(word, f"'{key}' needs a value", f"write: {key} VALUE")
        if key in seen:
            hint = "give each key once; merge the two"
            return Problem.at(word, f"'{key}' is given twice", hint)
        seen.add(key)
    return None
