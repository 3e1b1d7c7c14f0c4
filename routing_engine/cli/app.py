"""The command line: thin translation to the library; no routing logic lives here.

Exit codes: 0 clean (warnings allowed), 1 problems found, 2 usage errors.

Each command group is a module of its own that adds its commands to the app; this module puts
them together in the order `--help` lists them. What the groups share is in `common`.
"""

from __future__ import annotations

import sys

import typer

from routing_engine.cli import (
    check,
    convert,
    db,
    diff,
    paths,
    render,
    scenarios,
    serve,
    simulate,
    twilio,
)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Validate, simulate and serve call-routing process maps.",
)
for group in (check, convert, render, simulate, serve, db, twilio, diff, paths, scenarios):
    group.register(app)


def main() -> None:
    """Entry point of `python cli.py` and the `routing-engine` script."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        sys.exit(130)
