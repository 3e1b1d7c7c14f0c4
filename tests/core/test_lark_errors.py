"""Lark's parse errors in plain words: one translation, a vocabulary per grammar."""

from __future__ import annotations

import pytest
from lark import Lark
from lark.exceptions import UnexpectedCharacters, UnexpectedInput

from routing_engine.core.lark_errors import CONDITION, FLOW, expected, offending_character


def test_a_vocabulary_reads_terminals_sorted_each_phrase_once() -> None:
    assert CONDITION.read(["RPAR", "COMMA", "RSQB", "COMMA"]) == "',', ')', ']'"
    assert CONDITION.read(["$END", "_AND", "_OR"]) == "the end, 'and', 'or'"
    assert FLOW.read(["$END", "_NL"]) == "the end of the file, the end of the line"


def test_an_unnamed_terminal_reads_as_its_name_without_the_imported_grammars_prefix() -> None:
    assert FLOW.read(["CONDITION__IN"]) == "in"
    assert CONDITION.read(["CONDITION__IN"]) == "condition__in"


def test_nothing_expected_reads_as_the_grammars_word_for_it() -> None:
    assert FLOW.read([]) == "something else"
    assert CONDITION.read([]) == ""


def test_a_parse_error_says_what_was_expected_and_which_character_stopped_it() -> None:
    parser = Lark('start: "(" NAME ")"\nNAME: /[a-z]+/', parser="lalr")
    with pytest.raises(UnexpectedInput) as ended:
        parser.parse("(abc")
    assert expected(ended.value, CONDITION) == "')'"
    with pytest.raises(UnexpectedCharacters) as stopped:
        parser.parse("(ab#")
    assert offending_character(stopped.value, "(ab#") == "#"
    assert offending_character(stopped.value, "(ab") == ""
