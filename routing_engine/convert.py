"""Converting flow files between YAML and the DSL, and writing them in canonical form."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from routing_engine.diagnostics import Diagnostic
from routing_engine.sources.dsl_reader import read_dsl
from routing_engine.sources.writers import write_dsl, write_yaml
from routing_engine.sources.yaml_reader import read_yaml

Syntax = Literal["yaml", "dsl"]
SUFFIX: dict[Syntax, str] = {"yaml": ".yaml", "dsl": ".flow"}
SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "flow.schema.json"


def syntax_of(path: Path) -> Syntax | None:
    if path.suffix in (".yaml", ".yml"):
        return "yaml"
    if path.suffix == ".flow":
        return "dsl"
    return None


def convert_text(
    text: str, file: str, source: Syntax, target: Syntax, out: Path | None = None
) -> tuple[str | None, list[Diagnostic]]:
    """Read `text` in one syntax and write it in another (or the same: canonical form)."""
    reader = read_yaml if source == "yaml" else read_dsl
    documents, problems = reader(text, file)
    if any(d.is_error for d in problems):
        return None, problems
    data = [doc.data for doc in documents if doc.data is not None]
    if target == "dsl":
        return write_dsl(data), []
    schema = os.path.relpath(SCHEMA, (out or Path(file)).resolve().parent) if out or file else None
    return write_yaml(data, schema), []
