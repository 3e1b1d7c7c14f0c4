"""A DSL file that does not parse -> what is wrong, in plain words, and where.

Lark says which token it did not expect and which terminals it would have taken. That is told
as the writer of the line would put it (`dsl_mistakes.py`): a mistake of layout first (a `->`
with nothing after it), then what the line was meant to be where it stands (a node, a
parameter, an outcome) and what it lacks, with a hint; else lark's own words, through the one
translation of lark errors (core/lark_errors.py).
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import cache

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedToken

from routing_engine.core.diagnostics import did_you_mean
from routing_engine.core.lark_errors import FLOW, Vocabulary, expected, offending_character
from routing_engine.sources import dsl_mistakes as mistakes
from routing_engine.sources.dsl_build import SECTIONS, text
from routing_engine.sources.dsl_mistakes import Line, Problem

# The tokens a line is read as, whatever its statement: words, quoted texts, `,`, `=`, `->`.
ITEMS = ("STRING", "ARROW", "COMMA", "EQUALS", "WORD")
_SPACE = re.compile(r"[ \t]*")
# A keyword's terminal: its word, then the end of a word (grammars/flow.lark).
_KEYWORD = re.compile(r"((?:[a-z]|\\-)+)\(\?!.*")


def explain(error: UnexpectedCharacters | UnexpectedToken, source: str, parser: Lark) -> Problem:
    """What is wrong where `error` stopped the parser of `source`."""
    if isinstance(error, UnexpectedCharacters):
        char = offending_character(error, source)
        hint = "a quoted text is not closed" if char in "\"'" else ""
        return Problem(f"unexpected character {char!r}", error.line, error.column, hint)
    file = _File(source, parser)
    token = error.token
    if token.type == "WHEN":  # a case where only documents start
        return file.stray_case(token.line or 1)
    if token.type == "_INDENT":
        return file.misspelt_section(token.line or 1) or file.lark_words(error)
    if token.type in ("_DEDENT", "$END"):
        return file.lark_words(error)
    line = file.line(token.line or 1)
    return line.layout() or file.statement(line) or file.lark_words(error)


class _File:
    """The lines of a file, where each stands, and what each was meant to be."""

    def __init__(self, source: str, parser: Lark) -> None:
        self.texts = source.split("\n")
        self.parser = parser
        self.items = [(name, _pattern(parser, name)) for name in ITEMS]

    def line(self, number: int) -> Line:
        """Line `number`, read as its tokens."""
        raw = self.texts[number - 1].removesuffix("\r") if number <= len(self.texts) else ""
        indent = _indent(raw)
        items: list[Token] = []
        position = indent
        while position < len(raw) and raw[position] != "#":
            item = self.item(raw, position)
            if item is None:
                break  # a quote that is not closed: the lexer says so where it stands
            items.append(Token(item[0], item[1], position, number, position + 1))
            position = _SPACE.match(raw, position + len(item[1])).end()  # type: ignore[union-attr]
        return Line(number, indent, tuple(items), len(raw) + 1)

    def item(self, raw: str, position: int) -> tuple[str, str] | None:
        """The token at `position` of a line: its terminal's name and its text."""
        for name, pattern in self.items:
            found = pattern.match(raw, position)
            if found:
                return name, found.group()
        return None

    def has_block(self, line: Line) -> bool:
        """Whether lines are indented under `line`."""
        for below in self.texts[line.number :]:
            if below.strip() and not below.lstrip().startswith("#"):
                return _indent(below) > line.indent
        return False

    def parent(self, line: Line) -> Line | None:
        """The statement whose block `line` is in: the nearest line above, indented less."""
        for number in range(line.number - 1, 0, -1):
            above = self.texts[number - 1]
            if (
                above.strip()
                and not above.lstrip().startswith("#")
                and _indent(above) < line.indent
            ):
                return self.line(number)
        return None

    def place(self, line: Line) -> tuple[str, str]:
        """Where `line` stands: ("top", ""), ("deployment", ""), ("unit", KIND of document),
        ("node", KIND of node), ("section", KIND of section) or ("settings", "")."""
        parent = self.parent(line) if line.indent else None
        if parent is None:
            return "top", ""
        outer = self.place(parent)[0]
        if outer == "top":
            kind = parent.head()
            return ("deployment", "") if kind == "deployment" else ("unit", kind)
        if outer == "unit" and parent.is_node() and len(parent.items) > 1:
            return "node", text(parent.items[1])
        if outer == "deployment" and len(parent.words()) == 2 and parent.head() in SECTIONS:
            return "section", parent.head()
        return "settings", ""

    def statement(self, line: Line) -> Problem | None:
        """What `line` lacks of the statement it was meant to be, where it stands."""
        if not line.items or line.is_case():
            return None  # a case's condition: its mistakes are lark's to say
        place, kind = self.place(line)
        block = self.has_block(line)
        match place:
            case "top":
                return mistakes.document(line)
            case "deployment":
                return mistakes.deployment_line(line, block)
            case "unit" if line.is_node():
                return mistakes.node(line)
            case "unit" if kind == "module" and line.head() == "param":
                return mistakes.param(line)
            case "node":
                return mistakes.node_line(line, kind, block)
            case "section" if kind == "schedule":
                return mistakes.weekly(line, block)
        return mistakes.setting(line, block)

    def stray_case(self, number: int) -> Problem:
        """A `when` line where only documents start: its condition's mistakes first."""
        line = self.line(number)
        written = self.texts[number - 1].lstrip(" \t").removesuffix("\r")
        probe = f"flow x\n  a: branch\n    {written}\n"
        try:
            self.parser.parse(probe)
        except (UnexpectedCharacters, UnexpectedToken) as error:
            found = (
                explain(error, probe, self.parser)
                if isinstance(error, UnexpectedCharacters)
                else self.lark_words(error)
            )
            return replace(found, line=number, column=found.column - 4 + line.indent)
        condition = line.items[1] if len(line.items) > 1 else line.items[0]
        hint = "a file holds 'deployment', 'flow' and 'module' blocks"
        return Problem.at(condition, "'' cannot start a block here", hint)

    def misspelt_section(self, number: int) -> Problem | None:
        """A block under a deployment's `NAME VALUE` line whose NAME is close to a section's."""
        line = self.line(number)
        words, head = line.words(), line.head()
        if self.place(line)[0] != "deployment" or len(words) != 2 or line.arrow() is not None:
            return None
        suggestion = did_you_mean(head, (*SECTIONS, "entry"))
        if not suggestion or head in (*SECTIONS, "entry"):
            return None
        return Problem.at(words[0], f"'{head}' is not a section of a deployment", suggestion)

    def lark_words(self, error: UnexpectedToken) -> Problem:
        """The problem in lark's terms: the token it did not expect, and what it expected."""
        token, names = error.token, set(error.expected)
        where = token.line or 1, token.column or 1
        said = expected(error, _vocabulary(self.parser))
        if token.type == "_NL":
            line = self.line(token.line or 1)
            after_arrow = bool(line.items) and line.items[-1].type == "ARROW"
            hint = "a '->' needs a node after it" if after_arrow and "WORD" in names else ""
            return Problem(f"the line ends too early; expected {said}", *where, hint)
        if {"RPAR", "RSQB"} & names and token.type == "ARROW":
            bracket = "')'" if "RPAR" in names else "']'"
            message = f"a bracket is not closed: expected {bracket} before '{token}'"
            return Problem(message, *where, f"close it with {bracket}")
        hint = "an indented line has nothing above it to belong to"
        return Problem(
            f"unexpected '{token}'; expected {said}",
            *where,
            hint if token.type == "_INDENT" else "",
        )


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" \t"))


def _pattern(parser: Lark, name: str) -> re.Pattern[str]:
    return re.compile(parser.get_terminal(name).pattern.to_regexp())


@cache
def _vocabulary(parser: Lark) -> Vocabulary:
    """The flow grammar's terminals in words: each keyword reads as itself, quoted."""
    keywords = {
        t.name: "'{}'".format(found[1].replace("\\-", "-"))
        for t in parser.terminals
        if (found := _KEYWORD.fullmatch(t.pattern.value))
    }
    extra = {
        "NODE_ID": "a node (ID: KIND)",
        "DIGITS": "digits",
        "STRATEGY": "'at once', 'in order'",
    }
    return replace(FLOW, words={**FLOW.words, **keywords, **extra})
