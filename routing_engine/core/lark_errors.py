"""Lark's parse errors in plain words, for both grammars (conditions and the flow DSL).

A parse error names what the parser expected by terminal names (`RPAR`, `_NL`, `$END`); a
person reads "')'" or "the end of the line". Each grammar has its own vocabulary, because the
same terminal reads differently in each (a condition ends at "the end", a file at "the end of
the file"); the translation itself is written once, here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lark.exceptions import UnexpectedCharacters, UnexpectedInput


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """How one grammar's terminals read in a message.

    `words` names the terminals a person would not recognise; any other terminal reads as its
    name in lower case, without `namespace` (the prefix lark gives terminals that one grammar
    imports from another). `nothing` is said when the parser names no terminal at all."""

    words: Mapping[str, str]
    namespace: str = ""
    nothing: str = ""

    def read(self, names: Iterable[str]) -> str:
        """The terminals `names` as one comma-separated phrase, sorted, each reading once."""
        shown = (self.words.get(name, self._plain(name)) for name in sorted(names))
        return ", ".join(dict.fromkeys(shown)) or self.nothing

    def _plain(self, name: str) -> str:
        lowered = name.lower()
        return lowered.replace(self.namespace, "") if self.namespace else lowered


# Terminals that read the same in both grammars (the flow grammar imports the condition's).
_SHARED = {
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "COMPARE": "a comparison (==, !=, <, >)",
    "NAME": "a name",
    "NUMBER": "a number",
}

CONDITION = Vocabulary(
    {
        **_SHARED,
        "STRING": "a quoted string",
        "IN": "'in'",
        "HAS": "'has'",
        "_AND": "'and'",
        "_OR": "'or'",
        "_NOT": "'not'",
        "TRUE": "true",
        "FALSE": "false",
        "DOT": "'.'",
        "$END": "the end",
    }
)

FLOW = Vocabulary(
    {
        **_SHARED,
        "ARROW": "'->'",
        "WORD": "a name or value",
        "STRING": "a quoted text",
        "_NL": "the end of the line",
        "EQUALS": "'='",
        "_INDENT": "an indented line",
        "_DEDENT": "less indentation",
        "$END": "the end of the file",
        "WHEN": "'when'",
    },
    namespace="condition__",
    nothing="something else",
)


def expected(error: UnexpectedInput, vocabulary: Vocabulary) -> str:
    """What the parser expected where `error` stopped it, in the words of `vocabulary`.

    A parser error lists the terminals it `expected`; a lexer error those it `allowed`."""
    names: Any = getattr(error, "expected", None) or getattr(error, "allowed", None) or ()
    return vocabulary.read(str(name) for name in names)


def offending_character(error: UnexpectedCharacters, source: str) -> str:
    """The character no terminal matched, or "" when the lexer stopped at the end of `source`."""
    position = error.pos_in_stream or 0
    return source[position] if position < len(source) else ""
