"""docs/language.md is generated; it must be current, and cover every node kind and code."""

from __future__ import annotations

from conftest import ROOT

from routing_engine.review.docs import OUT, render
from routing_engine.sources.model import NODE_SPECS
from routing_engine.validate import RULES


def test_the_language_doc_is_current() -> None:
    assert OUT == ROOT / "docs" / "language.md"
    assert OUT.read_text(encoding="utf-8") == render(), "docs/language.md is stale: run `make docs`"


def test_it_covers_every_node_kind_and_every_code_in_both_syntaxes() -> None:
    text = OUT.read_text(encoding="utf-8")
    for kind in NODE_SPECS:
        section = text.split(f"### `{kind}`", 1)[1].split("\n### ", 1)[0]
        assert "```yaml" in section and "DSL:" in section, kind
    for code in RULES:
        assert f"### {code} " in text
        assert "Example:" in text.split(f"### {code} ", 1)[1].split("\n### ", 1)[0], code
