"""The guarded YAML reader: positions, strict scalars, and refusal of hostile input."""

from __future__ import annotations

import pytest

from routing_engine.sources.yaml_reader import MAX_DEPTH, read_yaml


def read_one(text: str):
    documents, diagnostics = read_yaml(text, "f.yaml")
    assert diagnostics == []
    assert len(documents) == 1
    return documents[0]


def codes(text: str) -> list[tuple[str, int, int]]:
    _, diagnostics = read_yaml(text, "f.yaml")
    return [(d.code, d.span.line, d.span.column) for d in diagnostics]


def test_positions_of_keys_and_values_are_one_based() -> None:
    doc = read_one("flow: main\nnodes:\n  hello:\n    say: hi there\n    next: bye\n")
    assert (doc.key_spans[("nodes", "hello")].line, doc.key_spans[("nodes", "hello")].column) == (
        3,
        3,
    )
    value = doc.value_spans[("nodes", "hello", "say")]
    assert (value.line, value.column, value.end_column) == (4, 10, 18)
    assert doc.value_span(("nodes", "hello", "missing")) == doc.value_spans[("nodes", "hello")]


def test_quoted_scalars_point_at_their_text() -> None:
    doc = read_one("a: \"quoted\"\nb: 'single'\n")
    assert doc.value_spans[("a",)].column == 5
    assert doc.value_spans[("b",)].column == 5


@pytest.mark.parametrize("word", ["on", "off", "yes", "no", "y", "n", "true", "1", "0x1F", "1_000"])
def test_scalars_stay_text(word: str) -> None:
    doc = read_one(f"{word}: {word}\n")
    assert doc.data == {word: word}


@pytest.mark.parametrize("text", ["a:\n", "a: ~\n", "a: null\n", "a: Null\n"])
def test_plain_null_is_none(text: str) -> None:
    assert read_one(text).data == {"a": None}


def test_quoted_null_is_text() -> None:
    assert read_one('a: "null"\n').data == {"a": "null"}


def test_sequences_and_flow_collections() -> None:
    doc = read_one("a: [x, y]\nb:\n  - {c: d}\n")
    assert doc.data == {"a": ["x", "y"], "b": [{"c": "d"}]}
    assert doc.value_spans[("b", 0, "c")].line == 3


def test_several_documents_in_one_file() -> None:
    documents, diagnostics = read_yaml("a: 1\n---\nb: 2\n", "f.yaml")
    assert diagnostics == []
    assert [d.data for d in documents] == [{"a": "1"}, {"b": "2"}]
    assert documents[1].span.line == 2


def test_comment_only_file_is_an_empty_document_list() -> None:
    documents, diagnostics = read_yaml("# nothing here\n", "f.yaml")
    assert (documents, diagnostics) == ([], [])


def test_duplicate_keys_are_reported_and_the_first_kept() -> None:
    documents, diagnostics = read_yaml("a: 1\nb: {x: 1}\na: 2\nb: {y: 2}\n", "f.yaml")
    assert [(d.code, d.span.line, d.span.column) for d in diagnostics] == [
        ("S107", 3, 1),
        ("S107", 4, 1),
    ]
    assert "first at line 1" in diagnostics[0].message
    assert documents[0].data == {"a": "1", "b": {"x": "1"}}


@pytest.mark.parametrize(
    ("text", "where", "word"),
    [
        ("a: &x 1\nb: 2\n", (1, 4), "anchors"),
        ("a: 1\nb: *x\n", (2, 4), "alias"),  # an alias with no anchor is still refused, not a crash
        ("a: !!python/object:os.system ls\n", (1, 4), "tags"),
        ("a: !custom 1\n", (1, 4), "tags"),
    ],
)
def test_hostile_constructs_are_refused(text: str, where: tuple[int, int], word: str) -> None:
    documents, diagnostics = read_yaml(text, "f.yaml")
    assert documents == []
    (diagnostic,) = diagnostics
    assert (diagnostic.code, diagnostic.span.line, diagnostic.span.column) == ("S101", *where)
    assert word in diagnostic.message


def test_alias_bomb_is_refused_at_the_first_anchor() -> None:
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    bomb += "".join(
        f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    assert codes(bomb) == [("S101", 1, 4)]


def test_deep_nesting_is_refused_with_a_diagnostic_not_a_crash() -> None:
    deep = "[" * 30000 + "]" * 30000
    (diagnostic,) = read_yaml(deep, "f.yaml")[1]
    assert diagnostic.code == "S101"
    assert f"deeper than {MAX_DEPTH}" in diagnostic.message
    assert diagnostic.span.column == MAX_DEPTH + 1


def test_nesting_up_to_the_cap_is_fine() -> None:
    text = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert read_yaml(text, "f.yaml")[1] == []


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('a: "unclosed\nb: 2\n', 1, "quoted"),  # at the opening quote
        ("a: b: c\n", 1, "mapping values are not allowed"),
        ("a:\n\t- b\n", 2, "tab"),
        ("a: [1, 2\n", 2, "flow sequence"),
    ],
)
def test_syntax_errors_are_diagnostics_with_positions(text: str, line: int, fragment: str) -> None:
    documents, diagnostics = read_yaml(text, "f.yaml")
    assert documents == []
    (diagnostic,) = diagnostics
    assert diagnostic.code == "S100"
    assert diagnostic.span.line == line
    assert fragment in diagnostic.message.lower() or fragment in diagnostic.hint.lower()


def test_complex_keys_are_refused() -> None:
    assert codes("? [a, b]\n: c\n")[0][0] == "S105"


@pytest.mark.parametrize("junk", ["\x00\x01\x02", "a: \x07", "\ufeff\x00"])
def test_control_characters_are_a_diagnostic(junk: str) -> None:
    _, diagnostics = read_yaml(junk, "f.yaml")
    assert diagnostics and diagnostics[0].code in ("S100", "S101")
