"""Boards in both syntaxes: `boards:` in a YAML deployment, `board NAME "DISPLAY NAME"` in the
DSL's, read into the same IR and written back in each syntax's form."""

from __future__ import annotations

from routing_engine.core import ir
from routing_engine.sources.build import build_deployment
from routing_engine.sources.convert import convert_text
from routing_engine.sources.dsl_reader import read_dsl
from routing_engine.sources.yaml_reader import read_yaml

YAML = """\
deployment: d
fallback: {ring: desk}
boards:
  cardiology:
    name: Cardiology office
  front-desk:
    name: Front desk
"""
DSL = """\
deployment d
  fallback
    ring desk
  board cardiology "Cardiology office"
  board front-desk
    name "Front desk"
"""
BOARDS = (ir.Board("cardiology", "Cardiology office"), ir.Board("front-desk", "Front desk"))


def test_both_syntaxes_declare_the_same_boards_at_their_names() -> None:
    yaml_docs, problems = read_yaml(YAML, "deployment.yaml")
    dsl_docs, more = read_dsl(DSL, "deployment.flow")
    assert problems == more == []
    from_yaml, problems = build_deployment(yaml_docs)
    from_dsl, more = build_deployment(dsl_docs)
    assert problems == more == []
    assert from_yaml is not None and from_dsl is not None
    assert from_yaml.boards == from_dsl.boards == BOARDS
    spans = [(b.span.line, b.span.column) for b in from_dsl.boards]
    assert spans == [(4, 9), (5, 9)]


def test_the_dsl_writes_a_board_on_one_line_and_yaml_as_a_mapping() -> None:
    dsl, problems = convert_text(YAML, "deployment.yaml", "yaml", "dsl")
    assert problems == [] and dsl is not None
    assert '  board cardiology "Cardiology office"\n  board front-desk "Front desk"\n' in dsl
    back, problems = convert_text(dsl, "deployment.flow", "dsl", "yaml")
    assert problems == [] and back is not None
    assert "boards:\n  cardiology:\n    name: Cardiology office\n" in back


def test_a_display_name_given_twice_is_refused_at_the_second() -> None:
    text = 'deployment d\n  board cardiology "Cardiology"\n    name "Cardiology office"\n'
    documents, problems = read_dsl(text, "deployment.flow")
    assert documents == []
    (problem,) = problems
    assert (problem.code, problem.message) == ("S100", "'name' is given twice")
    assert (problem.span.line, problem.span.column) == (3, 5)
