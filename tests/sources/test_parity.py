"""One IR, two syntaxes: the hospital in YAML and in the DSL, pairs of fixtures, and round trips
through `convert` in both directions."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, run_cli

from routing_engine.core import ir
from routing_engine.sources.build import build_deployment, build_documents
from routing_engine.sources.convert import convert_text, syntax_of
from routing_engine.sources.dsl_reader import read_dsl
from routing_engine.sources.loader import deployment_files, load_sources
from routing_engine.sources.yaml_reader import read_yaml

PARITY = FIXTURES / "parity"


def ir_of_text(text: str, file: str) -> ir.Deployment:
    reader = read_yaml if file.endswith((".yaml", ".yml")) else read_dsl
    documents, problems = reader(text, file)
    assert problems == [], problems
    deployment, diagnostics = build_deployment(documents)
    assert deployment is not None, diagnostics
    assert not any(d.is_error for d in diagnostics), diagnostics
    return deployment


def ir_of(path: Path) -> ir.Deployment:
    return ir_of_text(path.read_text(encoding="utf-8"), str(path))


def test_the_hospital_in_both_syntaxes_is_the_same_ir() -> None:
    yaml_side, problems = build_deployment(load_sources(ROOT / "examples" / "hospital").documents)
    dsl_side, more = build_deployment(load_sources(ROOT / "examples" / "hospital-dsl").documents)
    assert problems == [] and more == []
    assert yaml_side is not None and dsl_side is not None
    assert dsl_side == yaml_side


def test_the_dsl_hospital_is_shorter_and_validates() -> None:
    def lines(folder: str, suffix: str) -> int:
        return sum(
            len(p.read_text().splitlines())
            for p in deployment_files(ROOT / "examples" / folder)
            if p.suffix == suffix
        )

    assert lines("hospital-dsl", ".flow") < lines("hospital", ".yaml")
    result = run_cli("validate", "examples/hospital-dsl")
    assert result.returncode == 0, result.stdout


PAIRS = sorted({p.stem for p in PARITY.iterdir() if p.suffix in (".yaml", ".flow")})


@pytest.mark.parametrize("stem", PAIRS)
def test_each_parity_pair_is_complete_and_equal(stem: str) -> None:
    yaml_file, dsl_file = PARITY / f"{stem}.yaml", PARITY / f"{stem}.flow"
    assert yaml_file.is_file(), f"{yaml_file.name} is missing: every pair has both syntaxes"
    assert dsl_file.is_file(), f"{dsl_file.name} is missing: every pair has both syntaxes"
    assert ir_of(yaml_file) == ir_of(dsl_file)


SHIPPED = sorted(
    [
        # flow files (scenario files are no flows), but the README's example of a mistake
        *(p for p in deployment_files(ROOT / "examples") if p.parent.name != "broken"),
        *(ROOT / "flows").glob("*.yaml"),
        *PARITY.iterdir(),
    ]
)


def meaning(text: str, file: str) -> tuple[object, ...]:
    """What the builder makes of one file's documents: its flows and modules, and its
    deployment document's settings (a file may be one part of a deployment)."""
    reader = read_yaml if file.endswith((".yaml", ".yml")) else read_dsl
    documents, problems = reader(text, file)
    assert problems == [], problems
    built = build_documents(documents)
    assert not any(d.is_error for d in built.diagnostics), built.diagnostics
    spec = built.deployment_doc[1].model_dump() if built.deployment_doc else None
    return built.flows, built.modules, spec


def suffix(syntax: str) -> str:
    return ".flow" if syntax == "dsl" else ".yaml"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_round_trip_through_the_other_syntax_keeps_the_meaning(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    source = syntax_of(path)
    assert source is not None
    other = "dsl" if source == "yaml" else "yaml"
    converted, problems = convert_text(text, str(path), source, other)
    assert converted is not None, problems
    back, problems = convert_text(converted, "converted" + suffix(other), other, source)
    assert back is not None, problems
    original = meaning(text, str(path))
    assert meaning(converted, "converted" + suffix(other)) == original
    assert meaning(back, "back" + suffix(source)) == original


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_canonical_form_is_a_fixed_point(path: Path) -> None:
    source = syntax_of(path)
    assert source is not None
    once, _ = convert_text(path.read_text(encoding="utf-8"), str(path), source, source)
    assert once is not None
    twice, _ = convert_text(once, str(path), source, source)
    assert twice == once
