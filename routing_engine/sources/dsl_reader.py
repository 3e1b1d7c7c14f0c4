"""The text DSL reader: `.flow` files -> the same raw documents the YAML reader makes.

The grammar (grammars/flow.lark) reads lines, blocks and `when` conditions; this module gives
each line its meaning and builds the document data with the span of every key and value. It
adds no defaults and checks no fields: the one builder does that for both syntaxes.

    deployment hospital "Mercy General Hospital"
      ring_cadence 6s
      entry +12125550100 -> er
      target er-nurse
        uri sip:er-nurse@mercy.example
        skills nursing, triage

    flow er "Emergency calls go straight to a nurse"
      ring-nurse: ring er-nurse for 3 rings
        no-answer -> ring-backup
      goodbye: hangup "no nurse answered"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any, ClassVar

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.indenter import Indenter

from routing_engine.core.diagnostics import Diagnostic, Severity, did_you_mean
from routing_engine.core.ir import Span
from routing_engine.sources.raw import Path, RawDocument

DOCUMENT_KINDS = ("deployment", "flow", "module")
NODE_KINDS = (
    "menu",
    "ring",
    "queue",
    "branch",
    "hours",
    "say",
    "set",
    "ticket",
    "voicemail",
    "use",
    "hangup",
)
# Fields whose value is a list (written `a, b, c`).
LIST_FIELDS = frozenset(
    {"skills", "reports", "managers", "modules", "exits", "closed", "open", "ring", "notify"}
)
# The words of an escalation line: `escalate after 30m notify duty-manager, director`.
ESCALATION_WORDS = ("after", "notify")
# `key NAME` + block sections of a deployment, and the mapping each fills.
SECTIONS = {"target": "targets", "contact": "contacts", "schedule": "schedules"}
MAX_BYTES = 4 * 1024 * 1024


class _Indent(Indenter):
    NL_type = "_NL"
    OPEN_PAREN_types: ClassVar[list[str]] = []
    CLOSE_PAREN_types: ClassVar[list[str]] = []
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8


_PARSER: Lark | None = None


def _parser() -> Lark:
    global _PARSER
    if _PARSER is None:
        folder = resources.files("routing_engine.grammars")
        grammar = folder.joinpath("flow.lark").read_text("utf-8")
        _PARSER = Lark(
            grammar,
            parser="lalr",
            postlex=_Indent(),
            propagate_positions=False,
            import_paths=[str(folder)],
            maybe_placeholders=False,
        )
    return _PARSER


class DslError(Exception):
    def __init__(self, message: str, token: Any, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.token = token
        self.hint = hint


@dataclass(slots=True)
class Line:
    """One statement: its items, an optional `-> target`, and the lines indented under it."""

    items: list[Token]
    arrow: Token | None
    children: list[Line] = field(default_factory=list)
    condition: tuple[str, Token] | None = None  # `when` lines: the condition's text and start

    @property
    def first(self) -> Token | None:
        """The line's first token, to point at."""
        if self.items:
            return self.items[0]
        return self.condition[1] if self.condition else self.arrow

    def words(self) -> list[Token]:
        return [t for t in self.items if t.type in ("WORD", "STRING")]


def _text(token: Token) -> str:
    if token.type == "STRING":
        body = str(token)[1:-1]
        return body.replace('\\"', '"').replace("\\'", "'").replace("\\\\", "\\")
    return str(token)


def _lines(tree: Tree[Any], source: str) -> list[Line]:
    out = []
    for line in tree.children:
        if not isinstance(line, Tree):
            continue
        (inner,) = line.children
        if inner.data == "when_line":
            parts: list[Any] = list(inner.children)
            when_token, _condition, arrow_token, target = parts
            # the condition's text is what stands between `when` and `->` (positions are not
            # propagated through the tree: that would double the time a parse takes)
            after_when: int = when_token.end_pos or 0
            raw = source[after_when : arrow_token.start_pos or after_when]
            text = raw.strip()
            lead = len(raw) - len(raw.lstrip())
            column = (when_token.end_column or 1) + lead
            start = Token("WORD", text, after_when + lead, when_token.line, column)
            out.append(Line([], _word(target), [], (text, start)))
            continue
        items: list[Token] = []
        arrow = None
        block: list[Line] = []
        expect_target = False
        for child in inner.children:
            if isinstance(child, Tree) and child.data == "word":
                token = _word(child)
                if expect_target:
                    arrow = token
                    expect_target = False
                else:
                    items.append(token)
            elif isinstance(child, Tree) and child.data == "line":
                block.extend(_lines(Tree("block", [child]), source))
            elif isinstance(child, Token) and child.type == "ARROW":
                expect_target = True
            elif isinstance(child, Token):
                items.append(child)
        out.append(Line(items, arrow, block))
    return out


def _word(tree: Any) -> Token:
    token: Token = tree.children[0]
    return token


@dataclass(slots=True)
class _Builder:
    """Builds one document's data and spans from its lines."""

    doc: RawDocument

    def span(self, token: Token) -> Span:
        column = token.column or 1
        return Span(
            self.doc.file, token.line or 1, column, token.line or 1, column + len(str(token))
        )

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
        self.doc.key_spans[(*path, key)] = self.span(key_token)
        self.doc.value_spans[(*path, key)] = self.span(value_token or key_token)

    def values(self, tokens: list[Token], as_list: bool) -> tuple[Any, Token | None]:
        """`a b, c` -> "a b" (words joined), or ["a b", "c"] for list fields."""
        groups: list[list[Token]] = [[]]
        for token in tokens:
            if token.type == "COMMA":
                groups.append([])
            elif token.type == "EQUALS":
                raise DslError(
                    "unexpected '='", token, "'name = value' lines belong under set and use nodes"
                )
            else:
                groups[-1].append(token)
        texts = [" ".join(_text(t) for t in group) for group in groups if group]
        first = tokens[0] if tokens else None
        if as_list:
            return texts, first
        if len(texts) > 1:
            raise DslError(
                "a list where one value belongs",
                tokens[[t.type for t in tokens].index("COMMA")],
                "remove the comma, or quote the value",
            )
        return (texts[0] if texts else None), first

    def properties(self, lines: list[Line], container: dict[str, Any], path: Path) -> None:
        """`key value` lines, `key` lines with a block (a mapping), `key -> value` lines."""
        for line in lines:
            words = line.items
            if line.condition is not None:
                raise DslError("a 'when' line outside a branch", line.condition[1])
            if not words:
                raise DslError("a line must start with a name", line.first)
            key_token = words[0]
            key = _text(key_token)
            if line.arrow is not None:
                target_key = " ".join(_text(t) for t in words)
                self.put(container, path, target_key, _text(line.arrow), key_token, line.arrow)
                continue
            if line.children:
                inner: dict[str, Any] = {}
                self.put(container, path, key, inner, key_token, key_token)
                self.properties(line.children, inner, (*path, key))
                continue
            value, value_token = self.values(words[1:], key in LIST_FIELDS)
            self.put(container, path, key, value, key_token, value_token)

    # -- documents ------------------------------------------------------------------------------
    def document(self, line: Line) -> None:
        kind_token, *rest = line.words()
        kind = _text(kind_token)
        if not rest:
            raise DslError(f"'{kind}' needs a name", kind_token, f"write: {kind} NAME")
        name_token = rest[0]
        data: dict[str, Any] = {}
        self.doc.data = data
        self.doc.span = self.span(kind_token)
        self.doc.value_spans[()] = self.span(kind_token)
        self.put(data, (), kind, _text(name_token), kind_token, name_token)
        if len(rest) > 1:
            self.put(data, (), "description", _text(rest[1]), rest[1], rest[1])
        if len(rest) > 2:
            raise DslError(
                "unexpected words after the description", rest[2], "quote the description"
            )
        if kind == "deployment":
            self.deployment(line.children, data)
        else:
            self.unit(line.children, data, kind)

    def deployment(self, lines: list[Line], data: dict[str, Any]) -> None:
        for line in lines:
            words = line.words()
            head = _text(words[0]) if words else ""
            if head == "entry":
                if line.arrow is None or len(words) != 2:
                    raise DslError("an entry is 'entry NUMBER -> FLOW'", words[0])
                entries = self._section(data, "entries", words[0])
                self.put(
                    entries, ("entries",), _text(words[1]), _text(line.arrow), words[1], line.arrow
                )
            elif head in SECTIONS and len(words) == 2 and line.arrow is None:
                section = self._section(data, SECTIONS[head], words[0])
                inner: dict[str, Any] = {}
                path = (SECTIONS[head], _text(words[1]))
                self.put(section, path[:1], path[1], inner, words[1], words[1])
                if head == "schedule":
                    self.schedule(line.children, inner, path)
                else:
                    self.properties(line.children, inner, path)
            else:
                if line.children and len(words) == 2 and line.arrow is None:
                    suggestion = did_you_mean(head, (*SECTIONS, "entry"))
                    if suggestion:
                        raise DslError(
                            f"'{head}' is not a section of a deployment", words[0], suggestion
                        )
                self.properties([line], data, ())

    def _section(self, data: dict[str, Any], name: str, token: Token) -> dict[str, Any]:
        if name not in data:
            data[name] = {}
            self.doc.key_spans[(name,)] = self.span(token)
            self.doc.value_spans[(name,)] = self.span(token)
        section: dict[str, Any] = data[name]
        return section

    def schedule(self, lines: list[Line], data: dict[str, Any], path: Path) -> None:
        for line in lines:
            words = line.words()
            if words and _text(words[0]) == "weekly" and len(line.items) >= 3:
                weekly = data.setdefault("weekly", {})
                self.doc.key_spans.setdefault((*path, "weekly"), self.span(words[0]))
                self.doc.value_spans.setdefault((*path, "weekly"), self.span(words[0]))
                value, token = self.values(line.items[2:], True)
                days = words[1]
                self.put(
                    weekly,
                    (*path, "weekly"),
                    _text(days),
                    value[0] if len(value) == 1 else value,
                    days,
                    token,
                )
            else:
                self.properties([line], data, path)

    def unit(self, lines: list[Line], data: dict[str, Any], kind: str) -> None:
        nodes: dict[str, Any] = {}
        for line in lines:
            words = line.words()
            if (
                words
                and words[0].type == "WORD"
                and str(words[0]).endswith(":")
                and len(str(words[0])) > 1
            ):
                if "nodes" not in data:
                    data["nodes"] = nodes
                    self.doc.key_spans[("nodes",)] = self.span(words[0])
                    self.doc.value_spans[("nodes",)] = self.span(words[0])
                self.node(line, nodes)
            elif kind == "module" and words and _text(words[0]) == "param":
                self.param(line, data)
            else:
                self.properties([line], data, ())
        if "start" not in data and nodes:
            first = next(iter(nodes))  # the DSL writes the start first
            data["start"] = first
            self.doc.key_spans[("start",)] = self.doc.key_spans[("nodes", first)]
            self.doc.value_spans[("start",)] = self.doc.key_spans[("nodes", first)]

    def param(self, line: Line, data: dict[str, Any]) -> None:
        words = line.words()
        if len(words) < 3:
            raise DslError("a parameter is 'param NAME TYPE [default VALUE]'", words[0])
        params = self._section(data, "params", words[0])
        spec: dict[str, Any] = {}
        path = ("params", _text(words[1]))
        self.put(params, ("params",), path[1], spec, words[1], words[1])
        self.put(spec, path, "type", _text(words[2]), words[2], words[2])
        if len(words) > 3:
            if _text(words[3]) != "default" or len(words) < 5:
                raise DslError("after the type, only 'default VALUE'", words[3])
            value, token = self.values(words[4:], False)
            self.put(spec, path, "default", value, words[3], token)

    # -- nodes ----------------------------------------------------------------------------------
    def node(self, line: Line, nodes: dict[str, Any]) -> None:
        id_token, *rest = line.items
        node_id = str(id_token)[:-1]
        if not rest:
            raise DslError(f"node '{node_id}' has no kind", id_token, f"write: {node_id}: KIND ...")
        kind_token = rest[0]
        kind = _text(kind_token)
        if kind not in NODE_KINDS:
            hint = did_you_mean(kind, NODE_KINDS) or f"node kinds: {', '.join(NODE_KINDS)}"
            raise DslError(f"'{kind}' is not a node kind", kind_token, hint)
        body: dict[str, Any] = {}
        id_span = Token("WORD", node_id, id_token.start_pos, id_token.line, id_token.column)
        self.put(nodes, ("nodes",), node_id, body, id_span, id_span)
        path: Path = ("nodes", node_id)
        self._header(kind, rest[1:], body, path, kind_token)
        if line.arrow is not None:
            if kind not in ("say", "set", "ticket", "voicemail"):
                raise DslError(
                    f"a {kind} node does not go on by '->' on its first line",
                    line.arrow,
                    "write its outcomes on the lines under it: OUTCOME -> NODE",
                )
            self.put(body, path, "next", _text(line.arrow), line.arrow, line.arrow)
        self._node_lines(kind, line.children, body, path)

    def _header(
        self, kind: str, tokens: list[Token], body: dict[str, Any], path: Path, kind_token: Token
    ) -> None:
        """`ring a, b at once for 3 rings`, `menu "prompt"`, `use module`, `say "text"`..."""
        words = [_text(t) if t.type == "WORD" else None for t in tokens]
        if kind in ("ring", "queue"):
            if "for" in words:
                at = words.index("for")
                timeout, token = self.values(tokens[at + 1 :], False)
                self.put(
                    body,
                    path,
                    "timeout" if kind == "ring" else "max_wait",
                    timeout,
                    tokens[at],
                    token,
                )
                tokens, words = tokens[:at], words[:at]
            if kind == "ring" and words[-2:] in (["at", "once"], ["in", "order"]):
                strategy = "simultaneous" if words[-1] == "once" else "sequential"
                self.put(body, path, "strategy", strategy, tokens[-2], tokens[-2])
                tokens = tokens[:-2]
        value, token = self.values(tokens, kind == "ring")
        if kind in ("branch", "set"):  # their cases / assignments are the lines under them
            if tokens:
                raise DslError(
                    f"a {kind} node takes nothing more on its first line",
                    tokens[0],
                    "write its lines under it, indented",
                )
            return
        if kind != "hangup" and (value is None or value == []):
            raise DslError(f"a {kind} node needs its {_MAIN[kind]} on its first line", kind_token)
        self.put(body, path, kind, value, kind_token, token)

    def _node_lines(self, kind: str, lines: list[Line], body: dict[str, Any], path: Path) -> None:
        for line in lines:
            if line.condition is not None:
                if kind != "branch":
                    raise DslError("'when' lines belong under a branch node", line.condition[1])
                cases = body.setdefault(kind, [])
                index = len(cases)
                cases.append({"when": line.condition[0], "then": _text(line.arrow)})  # type: ignore[arg-type]
                case_path = (*path, kind, index)
                token = line.condition[1]
                self.doc.value_spans[case_path] = self.span(token)
                self.doc.key_spans[(*case_path, "when")] = self.span(token)
                self.doc.value_spans[(*case_path, "when")] = self.span(token)
                start = token.start_pos or 0
                self.doc.raw_offsets[(*case_path, "when")] = (
                    start,
                    start + len(str(token)),
                    self.span(token),
                )
                self.doc.value_spans[(*case_path, "then")] = self.span(line.arrow)  # type: ignore[arg-type]
            elif line.arrow is not None:
                self._transition(kind, line, body, path)
            elif any(t.type == "EQUALS" for t in line.items):
                self._assignment(kind, line, body, path)
            elif (
                kind in ("ticket", "voicemail")
                and line.items
                and _text(line.items[0]) == "escalate"
                and not line.children
            ):
                self._escalation(line, body, path)
            elif (
                line.items
                and _text(line.items[0]) in _OUTCOME_WORDS.get(kind, ())
                and len(line.items) > 1
            ):
                first = line.items[0]
                target = " ".join(_text(t) for t in line.items[1:])
                raise DslError(
                    f"'{_text(first)} {target}' lacks its '->'",
                    line.items[1],
                    f"write: {_text(first)} -> {target}",
                )
            else:
                self.properties([line], body, path)

    def _transition(self, kind: str, line: Line, body: dict[str, Any], path: Path) -> None:
        words = line.words()
        label = " ".join(_text(t) for t in words)
        target, arrow = _text(line.arrow), line.arrow  # type: ignore[arg-type]
        group = {"menu": "options", "ring": "on", "queue": "on", "use": "exits"}.get(kind)
        if label in _DIRECT.get(kind, ()):
            self.put(body, path, label, target, words[0], arrow)
        elif group is not None:
            section = body.get(group)
            if section is None:
                section = body[group] = {}
                self.doc.key_spans[(*path, group)] = self.span(words[0])
                self.doc.value_spans[(*path, group)] = self.span(words[0])
            self.put(section, (*path, group), label, target, words[0], arrow)
        else:
            raise DslError(
                f"a {kind} node has no outcome '{label}'",
                words[0],
                did_you_mean(label, _DIRECT.get(kind, ())) or "",
            )

    def _escalation(self, line: Line, body: dict[str, Any], path: Path) -> None:
        """`escalate after 30m notify duty-manager`: one more step of the node's `escalate`
        list (each line adds one, in order)."""
        head, *rest = line.items
        steps = body.get("escalate")
        if not isinstance(steps, list):
            if "escalate" in body:
                raise DslError("'escalate' is given twice", head)
            steps = body["escalate"] = []
            self.doc.key_spans[(*path, "escalate")] = self.span(head)
            self.doc.value_spans[(*path, "escalate")] = self.span(head)
        here = (*path, "escalate", len(steps))
        step: dict[str, Any] = {}
        self.doc.value_spans[here] = self.span(head)
        self.doc.key_spans[here] = self.span(head)
        groups: list[tuple[Token, list[Token]]] = []
        for token in rest:
            if token.type == "WORD" and _text(token) in ESCALATION_WORDS:
                groups.append((token, []))
            elif groups:
                groups[-1][1].append(token)
            else:
                raise DslError(
                    f"unexpected '{_text(token)}' in an escalation",
                    token,
                    "write: escalate after DURATION notify CONTACT, ...",
                )
        for word, tokens in groups:
            key = _text(word)
            value, first = self.values(tokens, key == "notify")
            if value is None or value == []:
                raise DslError(f"'{key}' needs a value", word, f"write: {key} VALUE")
            self.put(step, here, key, value, word, first)
        steps.append(step)

    def _assignment(self, kind: str, line: Line, body: dict[str, Any], path: Path) -> None:
        group = {"set": "set", "use": "with"}.get(kind)
        if group is None:
            raise DslError(f"a {kind} node has no 'name = value' lines", line.items[0])
        name, equals, *rest = line.items
        if equals.type != "EQUALS":
            raise DslError("write 'name = value'", equals)
        section = body.get(group)
        if not isinstance(section, dict):
            section = body[group] = {}
            self.doc.key_spans[(*path, group)] = self.span(name)
            self.doc.value_spans[(*path, group)] = self.span(name)
        value, token = self.values(rest, False)
        self.put(section, (*path, group), _text(name), value, name, token)


_MAIN = {
    "menu": "prompt",
    "ring": "targets",
    "queue": "queue",
    "hours": "schedule",
    "say": "text",
    "ticket": "board",
    "voicemail": "board",
    "use": "module",
}
_DIRECT = {"menu": ("fallback",), "hours": ("open", "closed", "holiday"), "branch": ("else",)}
# Words that lead somewhere under a node of each kind: written without '->', a likely slip.
_OUTCOME_WORDS = {
    "ring": ("answered", "no-answer", "busy", "failed"),
    "queue": ("answered", "timeout"),
    "menu": ("fallback", *"0123456789*#"),
    "hours": ("open", "closed", "holiday"),
    "branch": ("else",),
}


def _expected(error: UnexpectedInput) -> str:
    names = sorted(getattr(error, "expected", None) or getattr(error, "accepts", None) or [])
    words = {
        "ARROW": "'->'",
        "WORD": "a name or value",
        "STRING": "a quoted text",
        "_NL": "the end of the line",
        "COMMA": "','",
        "EQUALS": "'='",
        "_INDENT": "an indented line",
        "_DEDENT": "less indentation",
        "$END": "the end of the file",
        "WHEN": "'when'",
        "RPAR": "')'",
        "RSQB": "']'",
        "LPAR": "'('",
        "LSQB": "'['",
        "COMPARE": "a comparison (==, !=, <, >)",
        "NAME": "a name",
        "NUMBER": "a number",
    }
    shown = [words.get(name, name.lower().replace("condition__", "")) for name in names]
    return ", ".join(dict.fromkeys(shown)) or "something else"


MAX_DEPTH = 32


def _indentation(source: str) -> tuple[str, int, int, str] | None:
    """Check the blocks' indentation before parsing: (problem, line, column, hint) or None."""
    stack = [0]
    for number, line in enumerate(source.split("\n"), start=1):
        stripped = line.lstrip(" \t")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(stripped)
        if "\t" in line[:indent]:
            return "a tab in the indentation", number, 1, "indent with spaces"
        if indent > stack[-1]:
            stack.append(indent)
            if len(stack) > MAX_DEPTH:
                return f"blocks nested deeper than {MAX_DEPTH} levels", number, indent + 1, ""
        while indent < stack[-1]:
            stack.pop()
        if indent != stack[-1]:
            return (
                "this line's indentation matches no line above it",
                number,
                indent + 1,
                "indent it like the line it belongs with",
            )
    return None


def read_dsl(text: str, file: str) -> tuple[list[RawDocument], list[Diagnostic]]:
    """Read a DSL file into raw documents; never raises for bad input."""

    def problem(
        message: str, line: int, column: int, hint: str = ""
    ) -> tuple[list[RawDocument], list[Diagnostic]]:
        return [], [Diagnostic("S100", Severity.ERROR, message, Span(file, line, column), hint)]

    if "\x00" in text:
        return problem("the file holds NUL bytes: not text", 1, 1, "is this a binary file?")
    source = text if text.endswith("\n") else text + "\n"
    bad_indent = _indentation(source)
    if bad_indent is not None:
        return problem(*bad_indent)
    try:
        tree = _parser().parse(source)
    except UnexpectedCharacters as error:
        position = error.pos_in_stream or 0
        char = source[position] if position < len(source) else ""
        hint = "a quoted text is not closed" if char in "\"'" else ""
        return problem(f"unexpected character {char!r}", error.line, error.column, hint)
    except UnexpectedToken as error:
        token = error.token
        if token.type == "_NL":
            hint = "a '->' needs a node after it" if "WORD" in error.expected else ""
            message = f"the line ends too early; expected {_expected(error)}"
            return problem(message, token.line or 1, token.column or 1, hint)
        if token.type == "ARROW" and "WHEN" in error.expected:
            return problem(
                "a line cannot start with '->'",
                token.line or 1,
                token.column or 1,
                "write what leads there first: OUTCOME -> NODE",
            )
        if {"RPAR", "RSQB"} & set(error.expected) and token.type in ("ARROW", "_NL"):
            bracket = "')'" if "RPAR" in error.expected else "']'"
            message = f"a bracket is not closed: expected {bracket} before '{token}'"
            return problem(message, token.line or 1, token.column or 1, f"close it with {bracket}")
        shown = f"'{token}'"
        hint = (
            "an indented line has nothing above it to belong to" if token.type == "_INDENT" else ""
        )
        if token.type == "_NL" and "ARROW" not in error.expected and "WORD" in error.expected:
            hint = "a '->' needs a node after it"
        return problem(
            f"unexpected {shown}; expected {_expected(error)}",
            token.line or 1,
            token.column or 1,
            hint,
        )
    except (LarkError, RecursionError) as error:
        return problem(f"the file could not be read: {error}", 1, 1)
    documents: list[RawDocument] = []
    try:
        for line in _lines(tree, source):
            words = line.words()
            head = _text(words[0]) if words else ""
            if head not in DOCUMENT_KINDS:
                hint = (
                    did_you_mean(head, DOCUMENT_KINDS)
                    or "a file holds 'deployment', 'flow' and 'module' blocks"
                )
                raise DslError(f"{head!r} cannot start a block here", line.first, hint)
            doc = RawDocument(file=file, data=None, span=Span(file, 1, 1), text=source)
            _Builder(doc).document(line)
            documents.append(doc)
    except DslError as error:
        token = error.token
        return problem(
            error.message,
            getattr(token, "line", 1) or 1,
            getattr(token, "column", 1) or 1,
            error.hint,
        )
    return documents, []
