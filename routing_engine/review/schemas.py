"""JSON Schemas generated from the project's own models, checked in under `schemas/`.

`python -m routing_engine.review.schemas` (or `make schemas`) rewrites them; a test fails when the
checked-in files are stale. The flow-file schema uses draft-07 keywords, and picks a node's
schema by its kind keyword (`if`/`then`), so editors give the exact error for that kind.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from routing_engine.sources import model as m

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
DRAFT_07 = "http://json-schema.org/draft-07/schema#"


def _node_schema() -> dict[str, Any]:
    kinds = list(m.NODE_SPECS)
    return {
        "type": "object",
        "description": "a node: exactly one kind keyword (" + ", ".join(kinds) + ") and its fields",
        "anyOf": [{"required": [kind]} for kind in kinds],
        "allOf": [
            {"if": {"required": [kind]}, "then": {"$ref": f"#/definitions/{spec.__name__}"}}
            for kind, spec in m.NODE_SPECS.items()
        ],
    }


def _close_pattern_maps(schema: Any) -> None:
    """A map whose keys must match a pattern refuses other keys too (pydantic leaves them open)."""
    if isinstance(schema, dict):
        if "patternProperties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        for value in schema.values():
            _close_pattern_maps(value)
    elif isinstance(schema, list):
        for item in schema:
            _close_pattern_maps(item)


def flow_file_schema() -> dict[str, Any]:
    """The schema of a flow file's documents: a deployment, or a flow."""
    adapter: TypeAdapter[Any] = TypeAdapter(m.DeploymentDocument | m.FlowDocument)
    schema = adapter.json_schema(ref_template="#/definitions/{model}")
    definitions = schema.pop("$defs")
    # every node spec is reachable through the kind dispatch below, not through pydantic's union
    for spec in m.NODE_SPECS.values():
        definitions.setdefault(
            spec.__name__, TypeAdapter(spec).json_schema(ref_template="#/definitions/{model}")
        )
        definitions[spec.__name__].pop("$defs", None)
    nodes = definitions["FlowDocument"]["properties"]["nodes"]
    nodes["patternProperties"] = {
        pattern: {"$ref": "#/definitions/Node"} for pattern in nodes["patternProperties"]
    }
    definitions["Node"] = _node_schema()
    _close_pattern_maps(definitions)
    schema.pop("anyOf")  # pydantic's plain union; dispatch on the kind keyword instead
    documents = {"deployment": "DeploymentDocument", "flow": "FlowDocument"}
    return {
        "$schema": DRAFT_07,
        "$id": "https://routing-engine.invalid/schemas/flow.schema.json",
        "title": "Call-routing flow file",
        "description": "A deployment (`deployment: NAME`) or a flow (`flow: NAME`) document.",
        "type": "object",
        "anyOf": [{"required": [key]} for key in documents],
        "allOf": [
            {"if": {"required": [key]}, "then": {"$ref": f"#/definitions/{name}"}}
            for key, name in documents.items()
        ],
        **schema,
        "definitions": dict(sorted(definitions.items())),
    }


def _model_schema(model: Any, title: str) -> dict[str, Any]:
    schema = TypeAdapter(model).json_schema(ref_template="#/definitions/{model}", by_alias=True)
    definitions = schema.pop("$defs", {})
    return {
        "$schema": DRAFT_07,
        "title": title,
        **schema,
        "definitions": dict(sorted(definitions.items())),
    }


def all_schemas() -> dict[str, dict[str, Any]]:
    """File name -> schema, for every schema the project publishes."""
    from routing_engine import contract
    from routing_engine.review.scenario_format import ScenarioFile

    return {
        "flow.schema.json": flow_file_schema(),
        "scenario.schema.json": _model_schema(ScenarioFile, "Scenario tests of a deployment"),
        "new-call.schema.json": _model_schema(contract.NewCallRequest, "POST /v1/calls body"),
        "event.schema.json": _model_schema(
            contract.EventRequest, "POST /v1/calls/{call_id}/events body"
        ),
        "decision.schema.json": _model_schema(contract.DecisionResponse, "A decision"),
        "target-change.schema.json": _model_schema(
            contract.TargetChange, "PATCH /v1/targets/{name} body"
        ),
        "error.schema.json": _model_schema(contract.ErrorResponse, "An error (4xx)"),
    }


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"


def main() -> int:
    SCHEMA_DIR.mkdir(exist_ok=True)
    for name, schema in all_schemas().items():
        (SCHEMA_DIR / name).write_text(render(schema), encoding="utf-8")
        print(f"wrote schemas/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
