"""A node kind is declared once, as a class of the IR's `Node` union (core/nodes.py); every
place with something to say per kind is checked here to cover every kind: the compiler, the
runtime, the renderer, the YAML and DSL writers (and the DSL reader), the format's pydantic
specs and the language docs. The core's own tables are also checked when their modules load."""

from __future__ import annotations

import textwrap
from typing import Any, get_args

import pytest
from conftest import FIXTURES, ROOT

from routing_engine import check
from routing_engine.core import ir, nodes
from routing_engine.core.compile import KINDS
from routing_engine.core.compiled import COMPILED, CNode
from routing_engine.core.visits import VISIT
from routing_engine.review import docs, render
from routing_engine.sources import dsl_reader, model
from routing_engine.sources.convert import convert_text
from routing_engine.sources.yaml_reader import read_yaml

KIND_NAMES = sorted(ir.KIND_NAMES)
CLEAN = sorted((FIXTURES / "diagnostics").glob("clean-*.yaml"))


def compiled_classes() -> dict[str, type[CNode]]:
    """Each node kind and the class its nodes compile to, from the clean fixtures."""
    found: dict[str, type[CNode]] = {}
    for fixture in CLEAN:
        result = check(fixture)
        assert result.deployment is not None and result.compiled is not None, fixture.name
        for flow in result.deployment.flows:
            for node in flow.nodes:
                found[node.KIND] = type(result.compiled.nodes[(flow.name, node.id)])
    return found


def test_the_ir_declares_each_kind_once() -> None:
    assert all(kind.KIND for kind in ir.NODE_KINDS)
    assert len(set(ir.KIND_NAMES)) == len(ir.KIND_NAMES), "two node classes with one KIND"
    assert set(ir.OPTIONAL_OUTCOMES) <= set(ir.KIND_NAMES)


def test_every_kind_has_a_compiled_class() -> None:
    assert set(KINDS) == set(COMPILED) == set(ir.NODE_KINDS)
    classes = compiled_classes()
    assert sorted(classes) == KIND_NAMES, "a kind no clean fixture compiles"
    assert classes == {kind.KIND: COMPILED[kind] for kind in ir.NODE_KINDS}
    assert len(set(classes.values())) == len(classes), "two kinds compile to one class"


def test_every_compiled_class_has_a_runtime_visit() -> None:
    assert set(VISIT) == set(COMPILED.values())


def test_a_table_that_misses_a_kind_fails_when_its_module_loads() -> None:
    nodes.require_every_kind(ir.NODE_KINDS, "all of them")
    with pytest.raises(TypeError, match=r"no entry for \['Hangup'\]"):
        nodes.require_every_kind([k for k in ir.NODE_KINDS if k is not ir.Hangup], "the table")


def test_every_kind_has_a_renderer_style() -> None:
    assert set(ir.KIND_NAMES) <= set(render.STYLES)


def test_every_kind_has_a_pydantic_spec() -> None:
    assert sorted(model.NODE_SPECS) == KIND_NAMES
    union, *_ = get_args(model.NodeSpec)  # the tagged union nodes are validated with
    tagged = {get_args(member)[1].tag: get_args(member)[0] for member in get_args(union)}
    assert tagged == {f"{model.TAG_PREFIX}{kind}": model.NODE_SPECS[kind] for kind in KIND_NAMES}


def test_the_dsl_reader_knows_every_kind() -> None:
    assert sorted(dsl_reader.NODE_KINDS) == KIND_NAMES


def _node_spec(documents: list[Any]) -> Any:
    (node,) = documents[0].data["nodes"].values()
    return model.NODE_ADAPTER.validate_python(node)


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_every_kind_is_written_in_yaml_and_in_the_dsl(kind: str) -> None:
    """The docs' example of the kind, written by each writer and read back, is the same node."""
    assert kind in docs.NODES, f"no documentation example for '{kind}'"
    text = "flow: example\nnodes:\n" + textwrap.indent(docs.NODES[kind].strip("\n"), "  ") + "\n"
    original = _node_spec(read_yaml(text, "example.yaml")[0])
    assert isinstance(original, model.NODE_SPECS[kind])
    for syntax in ("yaml", "dsl"):
        written, problems = convert_text(text, "example.yaml", "yaml", syntax)
        assert written is not None, problems
        back, problems = convert_text(written, "example.written", syntax, "yaml")
        assert back is not None, problems
        assert _node_spec(read_yaml(back, "example.yaml")[0]) == original, syntax


def test_every_kind_has_a_section_in_the_language_docs() -> None:
    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    missing = [kind for kind in KIND_NAMES if f"\n### `{kind}`\n" not in text]
    assert missing == []
