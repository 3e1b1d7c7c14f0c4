"""The house rules of ARCHITECTURE.md, checked: the layers' imports only point down, no module
imports itself back through others, and modules and functions stay small (or say in the code
why a longer one reads better)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import pytest
from conftest import ROOT

PACKAGE = ROOT / "routing_engine"

# Each layer and the layers it may import (ARCHITECTURE.md draws them). The facade is the
# library's front: `routing_engine` itself, `api` and `contract`.
MAY_IMPORT: dict[str, set[str]] = {
    "core": set(),
    "sources": {"core"},
    "validate": {"core", "sources"},
    "facade": {"core", "sources", "validate"},
    "review": {"core", "sources", "validate", "facade"},
    "store": {"core"},
    "service": {"core", "sources", "validate", "facade", "review", "store"},
    "cli": {"core", "sources", "validate", "facade", "review", "store", "service"},
}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
LONG_MODULE = "# long module:"  # at the top: why this module reads better whole
LONG_FUNCTION = "# long function:"  # on the line before a `def`: why it reads better whole


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("api", "contract"):
        return "facade"
    return parts[1]


def imported(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every routing_engine module `module` imports (at any depth of the file, under
    TYPE_CHECKING too), with the line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("routing_engine"):
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            if not base.startswith("routing_engine"):
                continue
            for alias in node.names:  # `from package import module` names a module
                candidate = f"{base}.{alias.name}"
                known = dict(modules())
                yield (candidate if candidate in known else base), node.lineno


def graph() -> nx.DiGraph[str]:
    found: nx.DiGraph[str] = nx.DiGraph()
    for module, path in modules():
        found.add_node(module)
        for target, line in imported(module, path):
            if target != module:
                found.add_edge(module, target, line=line, path=path)
    return found


def test_the_layers_only_import_down() -> None:
    wrong = []
    for source, target, data in graph().edges(data=True):
        here, there = layer(source), layer(target)
        if here in ("data", "grammars") or here == there or there in ("data", "grammars"):
            continue
        if there not in MAY_IMPORT[here]:
            where = f"{data['path'].relative_to(ROOT)}:{data['line']}"
            wrong.append(f"{where}: {source} ({here}) imports {target} ({there})")
    assert wrong == []


def test_no_module_imports_itself_back() -> None:
    imports = graph()
    imports.remove_nodes_from(["routing_engine"])  # the facade's re-exports are not a loop
    cycles = list(nx.simple_cycles(imports))
    assert cycles == []


def test_the_core_imports_no_web_storage_or_cli_library() -> None:
    outside = ("fastapi", "starlette", "sqlalchemy", "uvicorn", "typer", "httpx", "prometheus")
    found = []
    for module, path in modules():
        if layer(module) not in ("core", "sources", "validate"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            found += [f"{module}: {n}" for n in names if n.split(".")[0] in outside]
    assert found == []


@pytest.mark.parametrize("module,path", list(modules()), ids=[m for m, _ in modules()])
def test_modules_and_functions_stay_small(module: str, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    if len(lines) > MAX_MODULE_LINES:
        assert any(line.startswith(LONG_MODULE) for line in lines[:30]), (
            f"{module} has {len(lines)} lines (at most {MAX_MODULE_LINES}): split it, or say "
            f"why it reads better whole in a '{LONG_MODULE}' comment at its top"
        )
    long = []
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        size = (node.end_lineno or node.lineno) - first + 1
        reason = lines[first - 2].strip() if first >= 2 else ""
        if size > MAX_FUNCTION_LINES and not reason.startswith(LONG_FUNCTION):
            long.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.name} ({size} lines)")
    assert long == []


def test_the_code_cites_only_documents_in_the_repository() -> None:
    """Docstrings and comments point at ARCHITECTURE.md, never at a design kept elsewhere."""
    assert (ROOT / "ARCHITECTURE.md").is_file()
    outside = [
        f"{path.relative_to(ROOT)}:{number}"
        for _, path in modules()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "DESIGN" in line
    ]
    assert outside == []
