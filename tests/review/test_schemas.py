"""The checked-in JSON Schemas are current, valid draft-07, and accept the shipped examples."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import HOSPITAL, ROOT

from routing_engine.review.schemas import SCHEMA_DIR, all_schemas, render


class Yaml12Loader(yaml.SafeLoader):
    """What editors use (YAML 1.2): only true/false are booleans, so `on:` stays a key, and
    there are no timestamps, so `at: 2026-11-24T10:00:00-05:00` is text."""


_YAML_11_ONLY = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _YAML_11_ONLY]
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
    kind = "scenario" if "scenarios" in path.relative_to(HOSPITAL).parts else "flow"
    assert schema_path == (SCHEMA_DIR / f"{kind}.schema.json").resolve()
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
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


def test_real_decisions_fit_the_decision_schema(hospital) -> None:  # type: ignore[no-untyped-def]
    """Decisions with every action type, made by the runtime, validate against the schema."""
    schema = json.loads((SCHEMA_DIR / "decision.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    at = "2026-11-23T10:00:00-05:00"
    walks = [
        (
            "+12125550111",
            [
                ("digits", {"digits": "1"}),
                ("dial.no-answer", {}),
                ("dial.answered", {}),
                ("outcome", {"outcome": "needs-office"}),
            ],
        ),
        (
            "+12125550120",
            [
                ("dial.no-answer", {}),
                ("dial.no-answer", {}),
                ("recording.done", {"recording": "r"}),
            ],
        ),
        ("+12125550100", [("dial.no-answer", {}), ("dial.no-answer", {}), ("dial.no-answer", {})]),
        ("+19995550000", []),
    ]
    seen: set[str] = set()
    for number, (dialed, events) in enumerate(walks):
        state, decision = hospital.start_call(
            {"call_id": f"s{number}", "from": "+12125550123", "to": dialed, "at": at}
        )
        decisions = [decision]
        for i, (kind, data) in enumerate(events, start=1):
            body = {
                "event_id": f"e{i}",
                "seq": decision["seq"],
                "type": kind,
                "data": data,
                "at": at,
            }
            state, decision = hospital.apply_event(state, body)
            decisions.append(decision)
        for made in decisions:
            assert [e.message for e in validator.iter_errors(made)] == []
            seen.update(action["type"] for action in made["actions"])
    assert {"menu", "ring", "say", "ticket", "voicemail", "hangup"} <= seen


def test_the_api_bodies_are_documented_in_openapi() -> None:
    from routing_engine.service.app import create_app

    spec = create_app(ROOT / "examples" / "hospital", "sqlite+aiosqlite:///:memory:").openapi()
    new_call = spec["paths"]["/v1/calls"]["post"]
    assert (
        "call_id" in new_call["requestBody"]["content"]["application/json"]["schema"]["properties"]
    )
    assert new_call["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "DecisionResponse"
    )
    assert "409" in spec["paths"]["/v1/calls/{call_id}/events"]["post"]["responses"]
