"""`cli.py convert` (a flow file into the other syntax) and `cli.py fmt` (flow files into their
own syntax's canonical form): both write flow files through the same writers."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from routing_engine.core.diagnostics import render_all_text


def register(app: typer.Typer) -> None:
    """Add this group's commands to the command line."""
    app.command("convert")(convert_command)
    app.command("fmt")(fmt_command)


class SyntaxName(StrEnum):
    yaml = "yaml"
    dsl = "dsl"


def convert_command(
    file: Annotated[str, typer.Argument(help="a .yaml or .flow file")],
    to: Annotated[SyntaxName, typer.Option("--to", help="the syntax to write")],
    out: Annotated[
        str | None, typer.Option("-o", "--output", help="write here instead of stdout")
    ] = None,
) -> None:
    """Convert a flow file between YAML and the DSL (same documents, same IR)."""
    from routing_engine.sources.convert import convert_text, syntax_of

    path = Path(file)
    source = syntax_of(path)
    if source is None or not path.is_file():
        typer.echo(f"error: {file} is not a .yaml, .yml or .flow file", err=True)
        raise typer.Exit(2)
    text, problems = convert_text(
        path.read_text(encoding="utf-8"), file, source, to.value, Path(out) if out else None
    )
    if text is None:
        typer.echo(render_all_text(problems, {file: path.read_text(encoding="utf-8")}), err=True)
        raise typer.Exit(1)
    if out:
        Path(out).write_text(text, encoding="utf-8")
    else:
        typer.echo(text, nl=False)


def fmt_command(
    files: Annotated[list[str], typer.Argument(help=".yaml and .flow files, or folders of them")],
    check: Annotated[
        bool, typer.Option("--check", help="change nothing; exit 1 if a file would change")
    ] = False,
) -> None:
    """Rewrite flow files in canonical form (comments kept); idempotent."""
    from routing_engine.sources.convert import convert_text, syntax_of
    from routing_engine.sources.loader import deployment_files

    paths: list[Path] = []
    for name in files:
        path = Path(name)
        paths.extend(sorted(deployment_files(path)) if path.is_dir() else [path])
    changed = failed = 0
    for path in paths:
        syntax = syntax_of(path)
        if syntax is None or not path.is_file():
            typer.echo(f"error: {path} is not a .yaml, .yml or .flow file", err=True)
            raise typer.Exit(2)
        text = path.read_text(encoding="utf-8")
        canonical, problems = convert_text(text, str(path), syntax, syntax)
        if canonical is None:
            typer.echo(render_all_text(problems, {str(path): text}), err=True)
            failed += 1
        elif canonical != text:
            changed += 1
            if check:
                typer.echo(f"would reformat {path}")
            else:
                path.write_text(canonical, encoding="utf-8")
                typer.echo(f"reformatted {path}")
    verb = "would be reformatted" if check else "reformatted"
    typer.echo(
        f"{changed} of {len(paths)} file(s) {verb}" + (f", {failed} unreadable" if failed else "")
    )
    raise typer.Exit(1 if failed or (check and changed) else 0)
