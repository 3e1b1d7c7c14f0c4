"""The guarded YAML reader: positions, strict scalars, and refusal of hostile input."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import yaml

from routing_engine.sources import yaml_reader
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


# Deep nesting, whatever PyYAML does about it. PyYAML 6.0.4's libyaml (0.2.6) refuses nesting
# itself past about 1000 levels, in its scanner, which reads ahead of the nodes it hands over;
# 6.0.1 to 6.0.3 (libyaml 0.2.5) and the pure-Python parser have no limit. Each text below must
# get the same diagnostic on all of them: ours, at the first node beyond MAX_DEPTH, unless a
# problem earlier in the text comes first.

DEEP = f"nesting deeper than {MAX_DEPTH} levels"


def _yaml_c_module() -> Any:
    try:
        return importlib.import_module("yaml._yaml")
    except ImportError:  # pragma: no cover - pyyaml built without libyaml
        return None


def _library_limit() -> int | None:
    """libyaml's own nesting limit, or None where PyYAML has none (before 6.0.4)."""
    getter = getattr(_yaml_c_module(), "_get_max_nest_level", None)
    return None if getter is None else int(getter())


needs_library_limit = pytest.mark.skipif(
    _library_limit() is None, reason="this PyYAML's libyaml has no nesting limit of its own"
)
LIMIT = _library_limit() or 1000  # libyaml 0.2.6's default, for the texts' sizes elsewhere


@contextmanager
def library_limit(level: int) -> Iterator[None]:
    """libyaml's (process-wide) nesting limit set to `level` for a while."""
    module = _yaml_c_module()
    before = module._get_max_nest_level()
    module._set_max_nest_level(level)
    try:
        yield
    finally:
        module._set_max_nest_level(before)


def flow_seq(depth: int) -> str:
    return "[" * depth + "]" * depth


def flow_map(depth: int) -> str:
    return "{a: " * depth + "x" + "}" * depth


def block_map(depth: int, inner: str = "x") -> str:
    return "".join("  " * i + "a:\n" for i in range(depth)) + "  " * depth + inner + "\n"


def block_seq(depth: int) -> str:
    return "".join("  " * i + "-\n" for i in range(depth)) + "  " * depth + "x\n"


def block_then_flow(flow: int) -> str:
    """31 block mappings, then flow sequences on the last line."""
    return block_map(MAX_DEPTH - 1, flow_seq(flow))


# Where the first node beyond MAX_DEPTH starts (1-based line, column).
FIRST_TOO_DEEP = {
    flow_seq: (1, MAX_DEPTH + 1),
    flow_map: (1, 4 * MAX_DEPTH + 1),  # each level is "{a: "
    block_map: (MAX_DEPTH + 1, 2 * MAX_DEPTH + 1),
    block_seq: (MAX_DEPTH + 1, 2 * MAX_DEPTH + 1),
    block_then_flow: (MAX_DEPTH, 2 * (MAX_DEPTH - 1) + 2),  # the second '[' of its line
}


def diagnosed(text: str) -> tuple[str, int, int, str]:
    documents, diagnostics = read_yaml(text, "f.yaml")
    assert documents == []
    (diagnostic,) = diagnostics
    return (diagnostic.code, diagnostic.span.line, diagnostic.span.column, diagnostic.message)


def deep_cases() -> list[Any]:
    cases = []
    for shape in (flow_seq, flow_map):
        for depth in (MAX_DEPTH + 1, MAX_DEPTH + 2, LIMIT, LIMIT + 1, LIMIT + 2, 30000):
            cases.append(pytest.param(shape, depth, id=f"{shape.__name__}-{depth}"))
    for shape in (block_map, block_seq):  # the library stops block nesting at LIMIT levels
        for depth in (MAX_DEPTH + 1, MAX_DEPTH + 2, LIMIT - 1, LIMIT, LIMIT + 1):
            cases.append(pytest.param(shape, depth, id=f"{shape.__name__}-{depth}"))
    for flow in (2, 3, LIMIT - MAX_DEPTH + 1, LIMIT - MAX_DEPTH + 2, LIMIT):  # 31 + flow levels
        cases.append(pytest.param(block_then_flow, flow, id=f"block_then_flow-{flow}"))
    return cases


@pytest.mark.parametrize(("shape", "depth"), deep_cases())
def test_deep_nesting_is_refused_at_the_first_node_beyond_the_cap(
    shape: Callable[[int], str], depth: int
) -> None:
    assert diagnosed(shape(depth)) == ("S101", *FIRST_TOO_DEEP[shape], DEEP)


@pytest.mark.parametrize(
    "text",
    [flow_seq(MAX_DEPTH), flow_map(MAX_DEPTH), block_map(MAX_DEPTH), block_seq(MAX_DEPTH)],
    ids=["flow_seq", "flow_map", "block_map", "block_seq"],
)
def test_nesting_right_at_the_cap_is_read(text: str) -> None:
    documents, diagnostics = read_yaml(text, "f.yaml")
    assert diagnostics == []
    assert len(documents) == 1


@needs_library_limit
@pytest.mark.parametrize(
    ("text", "stopped"),
    [
        (flow_seq(LIMIT), False),
        (flow_seq(LIMIT + 1), True),
        (flow_map(LIMIT + 1), True),
        (block_map(LIMIT - 1), False),
        (block_map(LIMIT), True),
        (block_seq(LIMIT), True),
        (block_then_flow(LIMIT - MAX_DEPTH + 1), False),
        (block_then_flow(LIMIT - MAX_DEPTH + 2), True),
    ],
    ids=[
        "flow_seq-at",
        "flow_seq-over",
        "flow_map-over",
        "block_map-at",
        "block_map-over",
        "block_seq-over",
        "block_then_flow-at",
        "block_then_flow-over",
    ],
)
def test_the_library_itself_stops_just_past_its_limit(text: str, stopped: bool) -> None:
    """So the texts above do reach the library's own limit, not only ours."""
    try:
        for _ in yaml.parse(text, Loader=yaml_reader._Loader):
            pass
    except yaml.YAMLError as error:
        assert stopped, error
        assert "nesting depth" in str(error)
    else:
        assert not stopped


@needs_library_limit
def test_the_library_stops_flow_nesting_before_handing_over_the_first_node() -> None:
    """Why the library's refusal has to be translated: it comes before any node of ours."""
    events = []
    with pytest.raises(yaml.YAMLError, match="nesting depth"):
        events.extend(yaml.parse(flow_seq(LIMIT + 1), Loader=yaml_reader._Loader))
    assert not any(isinstance(event, yaml.SequenceStartEvent) for event in events)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the library's scanner meets the '@' (or its own limit) while looking ahead of '['
        ("[" * 40 + "@", ("S101", 1, MAX_DEPTH + 1, DEEP)),
        ("[" * (LIMIT + 1) + "@", ("S101", 1, MAX_DEPTH + 1, DEEP)),
        ("[" * (LIMIT + 1) + "]" * LIMIT, ("S101", 1, MAX_DEPTH + 1, DEEP)),  # never closed
        (
            "[&a " + flow_seq(LIMIT + 1) + "]",
            ("S101", 1, 2, "anchors are not allowed in flow files ('&a')"),
        ),
        (
            "[&a " + "[" * (LIMIT + 1) + "@",
            ("S101", 1, 2, "anchors are not allowed in flow files ('&a')"),
        ),
        ("a: 1\n---\nb: " + flow_seq(LIMIT + 200), ("S101", 3, MAX_DEPTH + 3, DEEP)),
        ("a: 1\na: 2\nb: " + flow_seq(LIMIT + 200), ("S101", 3, MAX_DEPTH + 3, DEEP)),
        ("\ufeffa: " + flow_seq(LIMIT + 200), ("S101", 1, MAX_DEPTH + 3, DEEP)),  # a BOM first
        ("é: " + flow_seq(LIMIT + 200), ("S101", 1, MAX_DEPTH + 3, DEEP)),
        ("x: 1\r\nb: " + flow_seq(LIMIT + 200) + "\r\n", ("S101", 2, MAX_DEPTH + 3, DEEP)),
    ],
    ids=[
        "error-in-look-ahead",
        "error-past-library-limit",
        "unclosed",
        "anchor-first",
        "anchor-first-then-error",
        "second-document",
        "after-duplicate-key",
        "byte-order-mark",
        "non-ascii",
        "crlf",
    ],
)
def test_what_the_library_meets_looking_ahead_does_not_hide_an_earlier_problem(
    text: str, expected: tuple[str, int, int, str]
) -> None:
    assert diagnosed(text) == expected


def test_a_syntax_error_before_the_deep_part_is_still_the_diagnostic() -> None:
    # a quoted scalar is the whole document; the '[' after it is the error, wherever the
    # library stopped
    code, line, column, message = diagnosed('"x" ' + flow_seq(LIMIT + 1))
    assert (code, line, column) == ("S100", 1, 5)
    assert "document start" in message


def test_a_tab_after_a_byte_order_mark_still_gets_its_hint() -> None:
    (diagnostic,) = read_yaml("\ufeffa:\n\t- b\n", "f.yaml")[1]
    assert (diagnostic.code, diagnostic.span.line, diagnostic.span.column) == ("S100", 2, 1)
    assert diagnostic.hint == "YAML indents with spaces, not tabs"


SAME_EVERYWHERE = [
    flow_seq(30000),
    flow_seq(LIMIT + 1),
    flow_map(LIMIT + 1),
    block_map(LIMIT),
    block_seq(LIMIT),
    block_then_flow(LIMIT),
    "[" * (LIMIT + 1) + "@",
    "[" * 40 + "@",
    "[&a " + "[" * (LIMIT + 1) + "@",
    "[" + "k: [" * (LIMIT + 100) + "]" * (LIMIT + 101),
    "a:\n  - " + "{k: [" * 600 + "]}" * 600 + "\n",
    "\ufeffa: " + flow_seq(LIMIT + 200),
]
SAME_EVERYWHERE_IDS = [
    "flow_seq-30000",
    "flow_seq-over-library",
    "flow_map-over-library",
    "block_map-over-library",
    "block_seq-over-library",
    "block_then_flow-over-library",
    "error-past-library-limit",
    "error-in-look-ahead",
    "anchor-first-then-error",
    "single-pair-mappings",
    "block-sequence-of-flow",
    "byte-order-mark",
]


@needs_library_limit
@pytest.mark.parametrize("text", SAME_EVERYWHERE, ids=SAME_EVERYWHERE_IDS)
def test_the_diagnostic_is_the_same_without_the_library_limit(text: str) -> None:
    """libyaml with its limit out of reach reads as PyYAML 6.0.1 to 6.0.3 (libyaml 0.2.5) do."""
    with_limit = read_yaml(text, "f.yaml")
    with library_limit(10**9):
        without_limit = read_yaml(text, "f.yaml")
    assert with_limit == without_limit
    assert with_limit[1][0].code == "S101"


@pytest.mark.parametrize("text", SAME_EVERYWHERE, ids=SAME_EVERYWHERE_IDS)
def test_the_diagnostic_is_the_same_with_the_pure_python_parser(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PyYAML's own parser has no nesting limit on any version; our refusal must not change."""
    with_c = read_yaml(text, "f.yaml")
    monkeypatch.setattr(yaml_reader, "_Loader", yaml.SafeLoader)
    assert read_yaml(text, "f.yaml") == with_c


@needs_library_limit
@pytest.mark.parametrize(
    ("text", "where"),
    [(flow_seq(20), (1, 11)), (flow_seq(MAX_DEPTH + 5), (1, 11)), (block_map(20), (10, 20))],
    ids=["flow-under-our-cap", "flow-over-our-cap", "block-under-our-cap"],
)
def test_a_text_the_library_stops_before_our_cap_is_refused_naming_its_limit(
    text: str, where: tuple[int, int]
) -> None:
    """Only when the library's limit was lowered below ours (nothing here does so but this
    test): the library's refusal stands, as S101 at its position, and says whose limit it is."""
    with library_limit(10):
        code, line, column, message = diagnosed(text)
    assert (code, line, column) == ("S101", *where)
    assert message.startswith("nesting deeper than the YAML library allows (")
    assert "exceeded maximum nesting depth" in message


@needs_library_limit
def test_with_the_library_limit_lowered_but_above_ours_our_cap_still_comes_first() -> None:
    with library_limit(MAX_DEPTH + 8):
        assert diagnosed(flow_seq(2 * MAX_DEPTH)) == ("S101", 1, MAX_DEPTH + 1, DEEP)
        assert diagnosed(block_map(MAX_DEPTH + 20)) == (
            "S101",
            *FIRST_TOO_DEEP[block_map],
            DEEP,
        )
