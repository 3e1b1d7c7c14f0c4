"""Converting flow files between YAML and the DSL, and writing them in canonical form, with
their comments."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from routing_engine.core.diagnostics import Diagnostic
from routing_engine.sources.comments import Comments, attach, scan
from routing_engine.sources.dsl_reader import read_dsl
from routing_engine.sources.raw import BOM, RawDocument
from routing_engine.sources.writers import write_dsl, write_yaml
from routing_engine.sources.yaml_reader import read_yaml

Syntax = Literal["yaml", "dsl"]
SUFFIX: dict[Syntax, str] = {"yaml": ".yaml", "dsl": ".flow"}
SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "flow.schema.json"
MODELINE = "yaml-language-server:"


def syntax_of(path: Path) -> Syntax | None:
    if path.suffix in (".yaml", ".yml"):
        return "yaml"
    if path.suffix == ".flow":
        return "dsl"
    return None


def comments_of(text: str, documents: list[RawDocument]) -> list[Comments]:
    """Each document's comments (the editor's modeline is left out: writers make their own)."""
    multi_line = [(start, end) for doc in documents for start, end, _ in doc.raw_offsets.values()
                  if "\n" in text[start:end]]  # fmt: skip
    found = [c for c in scan(text, multi_line) if not c[2].startswith(MODELINE)]
    out = []
    for i, doc in enumerate(documents):
        first = 1 if i == 0 else doc.span.line
        last = documents[i + 1].span.line - 1 if i + 1 < len(documents) else text.count("\n") + 1
        out.append(attach(doc, found, first, last))
    return out


def convert_text(
    text: str, file: str, source: Syntax, target: Syntax, out: Path | None = None
) -> tuple[str | None, list[Diagnostic]]:
    """Read `text` in one syntax and write it in another (or the same: canonical form)."""
    reader = read_yaml if source == "yaml" else read_dsl
    text = text.removeprefix(BOM)  # as the readers do: offsets into the text count without it
    documents, problems = reader(text, file)
    if any(d.is_error for d in problems):
        return None, problems
    documents = [doc for doc in documents if doc.data is not None]
    data = [doc.data for doc in documents]
    notes = comments_of(text, documents)
    if target == "dsl":
        return write_dsl(data, notes), []
    schema = os.path.relpath(SCHEMA, (out or Path(file)).resolve().parent)
    return write_yaml(data, schema, notes), []
