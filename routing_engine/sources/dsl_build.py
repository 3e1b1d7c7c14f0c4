"""The DSL's statements -> document data: each statement's words put where the format has them,
with the span of every key and value.

The grammar (grammars/flow.lark) has already said which statement stands where; this module
puts the words in place: a ring's `for 3 rings` is its `timeout`, an outcome line goes under its
node's `on`, `options` or `exits`. It adds no defaults and checks no values: the one builder
(sources/build.py) does that for both syntaxes. It refuses only what the data cannot hold: a
key given twice, a list where one value belongs, an escalation step without its value, a case
outside a branch. `dsl_documents.py` builds the documents around these statements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lark import Token, Tree

from routing_engine.core.ir import Span
from routing_engine.sources.raw import Path, RawDocument

# Settings whose value is a list (written `a, b, c`).
LIST_FIELDS = frozenset(
    {"skills", "reports", "managers", "modules", "exits", "closed", "open", "ring", "notify"}
    | {"allow_webhook_networks"}
)
# The sections of a deployment (`target NAME` and its block), and the mapping each fills.
SECTIONS = {
    "target": "targets",
    "contact": "contacts",
    "trunk": "trunks",
    "schedule": "schedules",
    "board": "boards",
}
# Where a kind's outcome lines go: under a mapping of the node, or each as a key of its own.
GROUPS = {"menu": "options", "ring": "on", "queue": "on", "use": "exits"}
DIRECT = {"menu": ("fallback",), "hours": ("open", "closed", "holiday"), "branch": ("else",)}
# The value each kind takes on its first line (`menu "PROMPT"`, `ring TARGETS`).
MAIN = {
    "menu": "prompt",
    "ring": "targets",
    "queue": "queue",
    "hours": "schedule",
    "say": "text",
    "ticket": "board",
    "voicemail": "board",
    "use": "module",
}
# The kinds that go on by `-> NODE` on their first line.
NEXT_KINDS = frozenset({"say", "set", "ticket", "voicemail"})
# The keywords of an escalation line: `escalate after 30m notify duty-manager, director`.
ESCALATION_WORDS = ("after", "notify")
_LINES = frozenset({"outcome", "case", "assignment", "escalate", "setting", "group", "bound"})


class DslError(Exception):
    """A statement whose words the documents cannot hold, and where it is."""

    def __init__(self, message: str, token: Token, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.token = token
        self.hint = hint


def text(token: Token) -> str:
    """A word as written, or a quoted text without its quotes."""
    if token[:1] in ("'", '"'):  # a word never starts with a quote
        body = str(token)[1:-1]
        return body.replace('\\"', '"').replace("\\'", "'").replace("\\\\", "\\")
    return str(token)


# -- reading a statement's tree -------------------------------------------------------------------


def leaf(branch: Tree[Token] | Token) -> Token:
    """The token a branch of the tree stands for: itself, or a name's, key's or kind's word."""
    while isinstance(branch, Tree):
        branch = branch.children[0]
    return branch


def part(tree: Tree[Token], data: str) -> Tree[Token] | None:
    """The part `data` of a statement (its value, its targets), if written."""
    return next((c for c in tree.children if isinstance(c, Tree) and c.data == data), None)


def keyword(tree: Tree[Token], kind: str) -> Token | None:
    """The token `kind` of a statement (its ARROW, its FOR), if written."""
    return next((c for c in tree.children if isinstance(c, Token) and c.type == kind), None)


def target(tree: Tree[Token]) -> Token | None:
    """The name after a statement's `->`, if any."""
    arrow = keyword(tree, "ARROW")
    return None if arrow is None else leaf(tree.children[tree.children.index(arrow) + 1])


def tokens(tree: Tree[Token] | None) -> list[Token]:
    """The tokens of a value (words, quoted texts and commas), in order."""
    return [] if tree is None else list(tree.scan_values(lambda v: isinstance(v, Token)))


def lines(tree: Tree[Token]) -> list[Tree[Token]]:
    """The statements of a block (and the parts of a statement)."""
    return [c for c in tree.children if isinstance(c, Tree)]


def condition(case: Tree[Token], source: str) -> Token:
    """A case's condition as written: the text between `when` and `->`, where it starts."""
    when, arrow = leaf(case), keyword(case, "ARROW")
    after_when = when.end_pos or 0
    raw = source[after_when : arrow.start_pos if arrow is not None else after_when]
    lead = len(raw) - len(raw.lstrip())
    column = (when.end_column or 1) + lead
    return Token("WORD", raw.strip(), after_when + lead, when.line, column)


# -- putting words in place -----------------------------------------------------------------------


def _items(written: list[Token]) -> list[list[Token]]:
    """The tokens of a value split at its commas: `a b, c` -> [[a, b], [c]]."""
    groups: list[list[Token]] = [[]]
    for token in written:
        if token.type == "COMMA":
            groups.append([])
        else:
            groups[-1].append(token)
    return [group for group in groups if group]


@dataclass(slots=True)
class Builder:
    """Puts one document's data together, with the span of each key and value."""

    doc: RawDocument
    source: str

    def span(self, token: Token) -> Span:
        column = token.column or 1
        line = token.line or 1
        return Span(self.doc.file, line, column, line, column + len(str(token)))

    def place(self, path: Path, key_token: Token, value_token: Token | None = None) -> None:
        """Say where the key at `path` and its value are written."""
        self.doc.key_spans[path] = self.span(key_token)
        self.doc.value_spans[path] = self.span(value_token or key_token)

    def put(
        self,
        container: dict[str, Any],
        path: Path,
        key: str,
        value: Any,
        key_token: Token,
        value_token: Token | None,
    ) -> None:
        if key in container:
            raise DslError(
                f"'{key}' is given twice", key_token, "give each key once; merge the two"
            )
        container[key] = value
        self.place((*path, key), key_token, value_token)

    def mapping(self, data: dict[str, Any], path: Path, name: str, token: Token) -> dict[str, Any]:
        """The mapping `name` of `data`, made (and placed at `token`) when first needed."""
        if name not in data:
            data[name] = {}
            self.place((*path, name), token)
        found: dict[str, Any] = data[name]
        return found

    def place_items(self, path: Path, written: list[Token]) -> None:
        """Say where each item of the list at `path` (`a, b c, d`) is written."""
        for i, group in enumerate(_items(written)):
            first, last = self.span(group[0]), self.span(group[-1])
            self.doc.value_spans[(*path, i)] = Span(
                first.file, first.line, first.column, last.end_line, last.end_column
            )

    def values(self, written: list[Token], as_list: bool) -> tuple[Any, Token | None]:
        """`a b, c` -> "a b" (words joined), or ["a b", "c"] for a list."""
        texts = [" ".join(text(t) for t in group) for group in _items(written)]
        first = written[0] if written else None
        if as_list:
            return texts, first
        if len(texts) > 1:
            comma = next(t for t in written if t.type == "COMMA")
            raise DslError(
                "a list where one value belongs", comma, "remove the comma, or quote the value"
            )
        return (texts[0] if texts else None), first

    def settings(self, block: list[Tree[Token]], container: dict[str, Any], path: Path) -> None:
        """`key value` lines, and groups of them: `key` with its settings in its block."""
        for line in block:
            if line.data == "case":
                raise DslError("a 'when' line outside a branch", condition(line, self.source))
            key_token = leaf(line.children[0])
            key = text(key_token)
            if line.data == "group":
                inner: dict[str, Any] = {}
                self.put(container, path, key, inner, key_token, key_token)
                self.settings(lines(line)[1:], inner, (*path, key))
                continue
            written = tokens(part(line, "value"))
            value, value_token = self.values(written, key in LIST_FIELDS)
            self.put(container, path, key, value, key_token, value_token)
            if key in LIST_FIELDS:
                self.place_items((*path, key), written)


@dataclass(slots=True)
class Node:
    """Builds one node: `ID: KIND ...` and the lines of its block."""

    builder: Builder
    kind: str
    body: dict[str, Any]
    path: Path

    @classmethod
    def build(cls, builder: Builder, line: Tree[Token], nodes: dict[str, Any]) -> None:
        """Put the node `line` into `nodes`."""
        id_token = leaf(line)
        node_id = str(id_token)[:-1]
        statement = lines(line)[0]
        kind_token = leaf(statement)
        id_span = Token("WORD", node_id, id_token.start_pos, id_token.line, id_token.column)
        body: dict[str, Any] = {}
        builder.put(nodes, ("nodes",), node_id, body, id_span, id_span)
        node = cls(builder, str(kind_token), body, ("nodes", node_id))
        node.header(statement, kind_token)
        goes_on = target(statement)
        if goes_on is not None:
            node.put("next", text(goes_on), goes_on, goes_on)
        for child in lines(statement):
            if child.data in _LINES:
                getattr(node, child.data)(child)

    def put(self, key: str, value: Any, key_token: Token, value_token: Token | None) -> None:
        self.builder.put(self.body, self.path, key, value, key_token, value_token)

    def header(self, statement: Tree[Token], kind_token: Token) -> None:
        """`ring a, b at once for 3 rings`, `menu "prompt"`, `use module`, `say "text"`..."""
        for_token = keyword(statement, "FOR")
        if for_token is not None:
            timeout, token = self.builder.values(tokens(part(statement, "value")), False)
            self.put("timeout" if self.kind == "ring" else "max_wait", timeout, for_token, token)
        strategy = keyword(statement, "STRATEGY")
        if strategy is not None:  # `at once`, `in order`: placed at their first word
            first_word = strategy.split()[0]
            at = Token("WORD", first_word, strategy.start_pos, strategy.line, strategy.column)
            order = "simultaneous" if strategy.endswith("once") else "sequential"
            self.put("strategy", order, at, at)
        if self.kind in ("branch", "set"):  # their cases / assignments are the lines under them
            return
        main = part(statement, "targets" if self.kind in ("ring", "queue") else "value")
        value, token = self.builder.values(tokens(main), self.kind == "ring")
        if main is None and self.kind in ("ring", "queue"):  # the grammar lets `for` say so
            message = f"a {self.kind} node needs its {MAIN[self.kind]} on its first line"
            raise DslError(message, kind_token)
        self.put(self.kind, value, kind_token, token)

    def outcome(self, line: Tree[Token]) -> None:
        """`OUTCOME -> NODE`: where the call goes on an outcome, an option, an exit."""
        label_token, goes_to = leaf(line.children[0]), target(line)
        assert goes_to is not None
        label, group = text(label_token), GROUPS.get(self.kind)
        if label in DIRECT.get(self.kind, ()) or group is None:
            self.put(label, text(goes_to), label_token, goes_to)
            return
        section = self.builder.mapping(self.body, self.path, group, label_token)
        self.builder.put(section, (*self.path, group), label, text(goes_to), label_token, goes_to)

    def case(self, line: Tree[Token]) -> None:
        """`when CONDITION -> NODE`: one more case of a branch, its condition as written."""
        start, goes_to = condition(line, self.builder.source), target(line)
        assert goes_to is not None
        if self.kind != "branch":
            raise DslError("'when' lines belong under a branch node", start)
        cases = self.body.setdefault(self.kind, [])
        if not isinstance(cases, list):
            hint = "give each key once; merge the two"
            raise DslError(f"'{self.kind}' is given twice", start, hint)
        path = (*self.path, self.kind, len(cases))
        cases.append({"when": str(start), "then": text(goes_to)})
        self.builder.doc.value_spans[path] = self.builder.span(start)
        self.builder.place((*path, "when"), start)
        offset = start.start_pos or 0
        span = self.builder.span(start)
        self.builder.doc.raw_offsets[(*path, "when")] = (offset, offset + len(start), span)
        self.builder.doc.value_spans[(*path, "then")] = self.builder.span(goes_to)

    def assignment(self, line: Tree[Token]) -> None:
        """`NAME = VALUE`: a variable of a set node, an argument of a use node."""
        group = "set" if self.kind == "set" else "with"
        name = leaf(line.children[0])
        section = self.body.get(group)
        if not isinstance(section, dict):
            section = self.body[group] = {}
            self.builder.place((*self.path, group), name)
        value, token = self.builder.values(tokens(part(line, "value")), False)
        self.builder.put(section, (*self.path, group), text(name), value, name, token)

    def escalate(self, line: Tree[Token]) -> None:
        """`escalate after 30m notify duty-manager`: one more step of the node's `escalate`
        list (each line adds one, in order)."""
        head = leaf(line)
        steps = self.body.get("escalate")
        if not isinstance(steps, list):
            if "escalate" in self.body:
                raise DslError("'escalate' is given twice", head)
            steps = self.body["escalate"] = []
            self.builder.place((*self.path, "escalate"), head)
        here = (*self.path, "escalate", len(steps))
        step: dict[str, Any] = {}
        self.builder.place(here, head)
        for word_part in lines(line):
            word = leaf(word_part)
            key = str(word)
            written = tokens(part(word_part, "step_value"))
            value, first = self.builder.values(written, key == "notify")
            if value is None or value == []:
                raise DslError(f"'{key}' needs a value", word, f"write: {key} VALUE")
            self.builder.put(step, here, key, value, word, first)
        steps.append(step)

    def bound(self, line: Tree[Token]) -> None:
        """`attempts N -> NODE`: the node's `attempts` and `exhausted`."""
        word = leaf(line)
        count, token = self.builder.values(tokens(part(line, "value")), False)
        if count is not None:
            self.put("attempts", count, word, token)
        goes_to = target(line)
        if goes_to is not None:
            self.put("exhausted", text(goes_to), word, goes_to)
        elif count is None:
            raise DslError(
                "'attempts' needs a number and '-> NODE'", word, "write: attempts 3 -> NODE"
            )

    def setting(self, line: Tree[Token]) -> None:
        self.builder.settings([line], self.body, self.path)

    group = setting
