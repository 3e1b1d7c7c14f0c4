"""Converting flow files between YAML and the DSL, and writing them in canonical form, with
their comments."""

from __future__ import annotations

import os
import re
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
_MODELINE = re.compile(r"^#\s*yaml-language-server:\s*\$schema=(\S+)", re.MULTILINE)


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
    kept = schema_of(text) if source == "yaml" else None
    return write_yaml(data, kept or _checkout_schema(out or Path(file)), notes), []


def schema_of(text: str) -> str | None:
    """Where the text's editor modeline (`# yaml-language-server: $schema=...`) points, as
    written; None without one."""
    found = _MODELINE.search(text)
    return found[1] if found else None


def _checkout_schema(path: Path) -> str | None:
    """The modeline's target for a YAML file that has none yet: the flow schema, as a path
    relative to the file, when the file lies in the engine's own checkout beside `schemas/`
    (its examples and shared modules); None anywhere else, where such a path would name one
    machine's folders. (A user's file keeps the modeline it has: see `schema_of`.)"""
    folder, checkout = path.resolve().parent, SCHEMA.parents[1]
    if not SCHEMA.is_file() or not folder.is_relative_to(checkout):
        return None
    return Path(os.path.relpath(SCHEMA, folder)).as_posix()
