"""The checked-in JSON Schemas are current, valid draft-07, and accept the shipped examples."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import HOSPITAL

from routing_engine.schemas import SCHEMA_DIR, all_schemas, render


class Yaml12Loader(yaml.SafeLoader):
    """What editors use (YAML 1.2): only true/false are booleans, so `on:` stays a key."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@pytest.mark.parametrize("name", sorted(all_schemas()))
def test_checked_in_schema_is_current(name: str) -> None:
    on_disk = (SCHEMA_DIR / name).read_text(encoding="utf-8")
    assert on_disk == render(all_schemas()[name]), f"schemas/{name} is stale: run `make schemas`"


def flow_validator() -> jsonschema.Draft7Validator:
    schema = json.loads((SCHEMA_DIR / "flow.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


EXAMPLE_FILES = sorted(HOSPITAL.rglob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(HOSPITAL)))
def test_example_files_validate_and_point_editors_at_the_schema(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    first = text.splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    schema_path = (path.parent / first.split("$schema=")[1]).resolve()
    assert schema_path == (SCHEMA_DIR / "flow.schema.json").resolve()
    validator = flow_validator()
    for document in yaml.load_all(text, Loader=Yaml12Loader):
        errors = [e.message for e in validator.iter_errors(document)]
        assert errors == []


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ({"ring": "office", "timout": "2 rings"}, "'timout' was unexpected"),
        ({"ring": "office", "timeout": "2 ringz"}, "does not match"),
        ({"menu": "Press 1", "options": {"1": "a"}}, "'fallback' is a required property"),
        ({"say": 5}, "5 is not of type 'string'"),
    ],
)
def test_schema_gives_the_exact_error_for_the_node_kind(
    node: dict[str, object], message: str
) -> None:
    document = {"flow": "f", "start": "n", "nodes": {"n": node}}
    errors = [e.message for e in flow_validator().iter_errors(document)]
    assert any(message in error for error in errors), errors
    assert not any("is not valid under any of the given schemas" in e for e in errors), errors


def test_schema_refuses_a_node_without_a_kind() -> None:
    document = {"flow": "f", "start": "n", "nodes": {"n": {"rng": "office"}}}
    assert list(flow_validator().iter_errors(document))
