"""`cli.py render`: a deployment (or some of its flows) drawn, a call's path bold; the drawing is
review/render.py's."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from routing_engine import api
from routing_engine.cli.common import load_or_exit


def register(app: typer.Typer) -> None:
    """Add this group's command to the command line."""
    app.command("render")(render_command)


def render_command(
    deployment: Annotated[str, typer.Argument(help="the deployment directory")],
    fmt: Annotated[str, typer.Option("--format", help="svg, png or dot")] = "svg",
    flows: Annotated[
        list[str] | None, typer.Option("--flow", help="draw only this flow (repeatable)")
    ] = None,
    highlight: Annotated[
        str | None,
        typer.Option(
            "--highlight",
            help="a scenario file (FILE.yaml, or FILE.yaml#NAME for one of its scenarios), or a "
            "call's JSON (GET /v1/calls/ID, simulate --format json): its path drawn bold",
        ),
    ] = None,
    out: Annotated[
        str | None, typer.Option("-o", "--output", help="the file to write; default: stdout")
    ] = None,
) -> None:
    """Draw a deployment (or some of its flows) as a diagram."""
    from routing_engine.core.analysis import build_index
    from routing_engine.review.render import FORMATS, build, path_from_trace, render

    if fmt not in FORMATS:
        typer.echo(f"error: --format must be one of {', '.join(FORMATS)}", err=True)
        raise typer.Exit(2)
    loaded = load_or_exit(deployment, "render")
    index = build_index(loaded.compiled.deployment)
    unknown = [name for name in flows or [] if name not in index.flows]
    if unknown:
        typer.echo(
            f"error: no flow {', '.join(unknown)}; flows: {', '.join(sorted(index.flows))}",
            err=True,
        )
        raise typer.Exit(2)
    path: list[tuple[str, str]] = []
    if highlight is not None:
        path = path_from_trace(index, _highlighted_trace(loaded, highlight))
    data_out = render(build(index, flows, path), fmt)
    if out:
        Path(out).write_bytes(data_out)
    else:
        sys.stdout.buffer.write(data_out)


def _highlighted_trace(loaded: api.LoadedDeployment, highlight: str) -> list[str]:
    """The trace to draw: a scenario's (played now) or a stored call's."""
    from routing_engine.review.scenarios import scenario_trace

    file, _, name = highlight.partition("#")
    try:
        if Path(file).suffix in (".yaml", ".yml"):
            return scenario_trace(loaded.compiled, Path(file), name or None)
        data = json.loads(Path(highlight).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, ValueError) as error:
        typer.echo(f"error: --highlight {highlight}: {error}", err=True)
        raise typer.Exit(2) from None
    trace = (data.get("state") or data).get("trace", []) if isinstance(data, dict) else []
    return [str(line) for line in trace]
