"""The editor's modeline (`# yaml-language-server: $schema=...`) that `fmt` and `convert`
write: a file keeps the one it has; a file outside the engine's checkout gets none rather than
a path into the folders of the machine that ran the command."""

from __future__ import annotations

from pathlib import Path

from conftest import ROOT, run_cli

FLOW = "flow: main  # the main line\nstart: bye\nnodes:\n  bye:\n    hangup: done\n"
MODELINE = "# yaml-language-server: $schema="


def test_fmt_writes_no_modeline_into_a_file_outside_the_checkout(tmp_path: Path) -> None:
    path = tmp_path / "deployment" / "main.yaml"
    path.parent.mkdir()
    path.write_text("flow:   main  # the main line\nstart: bye\nnodes:\n  bye: {hangup: done}\n")
    result = run_cli("fmt", str(path))
    assert result.returncode == 0, result.stderr
    assert path.read_text(encoding="utf-8") == FLOW
    assert run_cli("fmt", "--check", str(path)).returncode == 0


def test_fmt_keeps_a_files_own_modeline_as_written(tmp_path: Path) -> None:
    path = tmp_path / "main.yaml"
    for written in ("schemas/flow.schema.json", "https://example.org/flow.schema.json"):
        rest = FLOW.split("\n", 1)[1]
        path.write_text(f"{MODELINE}{written}\nflow:   main  # the main line\n{rest}")
        result = run_cli("fmt", str(path))
        assert result.returncode == 0, result.stderr
        assert path.read_text(encoding="utf-8") == f"{MODELINE}{written}\n{FLOW}"


def test_convert_to_yaml_outside_the_checkout_writes_no_modeline(tmp_path: Path) -> None:
    source = tmp_path / "main.flow"
    source.write_text("flow main  # the main line\n  bye: hangup done\n", encoding="utf-8")
    out = tmp_path / "main.yaml"
    assert run_cli("convert", str(source), "--to", "yaml", "-o", str(out)).returncode == 0
    assert out.read_text(encoding="utf-8") == FLOW
    printed = run_cli("convert", str(source), "--to", "yaml")
    assert printed.stdout == FLOW


def test_convert_inside_the_checkout_points_at_its_schemas_relatively() -> None:
    source = ROOT / "examples" / "hospital-dsl" / "flows" / "billing.flow"
    printed = run_cli("convert", str(source), "--to", "yaml")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.splitlines()[0] == f"{MODELINE}../../../schemas/flow.schema.json"
