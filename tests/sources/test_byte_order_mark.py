"""A byte order mark at the start of a flow file (some editors write one) is no character of
the text: the first line's columns are the same with and without it, in both syntaxes."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_files

from routing_engine import check
from routing_engine.sources.convert import convert_text

DEPLOYMENT = {
    "deployment.yaml": """
        deployment: test
        fallback:
          ring: desk
        entries:
          "+12125550100": main
        targets:
          desk:
            uri: sip:desk@example.com
        """
}
# A mistake on line 1 of each syntax: a misspelt caller field inside a condition (its column
# is found through the value's raw text), and words after the DSL flow's description.
YAML_FLOW = (
    "main.yaml",
    "{flow: main, start: b, nodes: {b: {branch: [{when: 'caller.stat == \"NY\"', then: c}],"
    " else: c}, c: {hangup: }}}\n",
    ("S111", 1, 60),
)
DSL_FLOW = ("main.flow", 'flow main "x" %\n  b: hangup\n', ("S100", 1, 15))


@pytest.mark.parametrize(("name", "text", "expected"), [YAML_FLOW, DSL_FLOW], ids=["yaml", "dsl"])
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["plain", "bom"])
def test_a_byte_order_mark_shifts_no_column_of_the_first_line(
    tmp_path: Path, name: str, text: str, expected: tuple[str, int, int], bom: bytes
) -> None:
    root = write_files(tmp_path, DEPLOYMENT)
    (root / name).write_bytes(bom + text.encode("utf-8"))
    result = check(root)
    assert [(d.code, d.span.line, d.span.column) for d in result.diagnostics] == [expected]
    assert result.sources[str(root / name)].startswith(text[:4])  # as shown under diagnostics


def test_a_flow_file_with_a_byte_order_mark_reads_clean(tmp_path: Path) -> None:
    root = write_files(tmp_path, DEPLOYMENT)
    (root / "main.flow").write_bytes(b"\xef\xbb\xbfflow main\n  b: hangup\n")
    assert check(root).diagnostics == []


def test_conversion_of_a_file_with_a_byte_order_mark_keeps_its_comments_in_place() -> None:
    text = "flow: main  # the main line\nstart: b\nnodes:\n  b:\n    hangup: 'bye'  # done\n"
    plain, _ = convert_text(text, "f.yaml", "yaml", "dsl")
    marked, _ = convert_text("\ufeff" + text, "f.yaml", "yaml", "dsl")
    assert marked == plain == 'flow main  # the main line\n  b: hangup "bye"  # done\n'
