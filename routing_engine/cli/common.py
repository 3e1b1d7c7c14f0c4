"""What the command groups share: the output format option, reading a time option, loading a
deployment (or exiting with its problems), and an action of a decision in words."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import typer

from routing_engine import api
from routing_engine.core.diagnostics import render_all_text, summary_line


class Format(StrEnum):
    text = "text"
    json = "json"


FormatOption = Annotated[
    Format, typer.Option("--format", help="text for people, json for machines")
]


def parse_time_option(text: str, option: str = "--at") -> datetime:
    """A time option: an ISO time with a UTC offset, or exit 2 saying what is wrong."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        typer.echo(
            f"error: {option} {text!r} is not an ISO time (e.g. 2026-11-24T10:00:00-05:00)",
            err=True,
        )
        raise typer.Exit(2) from None
    if when.tzinfo is None:
        typer.echo(f"error: {option} {text!r} needs a UTC offset (e.g. -05:00 or Z)", err=True)
        raise typer.Exit(2)
    return when


def load_or_exit(deployment: str, verb: str) -> api.LoadedDeployment:
    """Load a deployment, or print its problems and exit 1."""
    result = api.check(deployment)
    if result.compiled is None:
        typer.echo(render_all_text(result.diagnostics, result.sources), err=True)
        typer.echo(f"{deployment}: cannot {verb}: {summary_line(result.diagnostics)}", err=True)
        raise typer.Exit(1)
    return api.LoadedDeployment(result.compiled, result.diagnostics, result.sources)


def describe_action(action: dict[str, Any]) -> str:
    """One action of a decision (its JSON) as a person reads it: `ring Ann <sip:...> for 30s`."""
    match action["type"]:
        case "ring":
            names = ", ".join(f"{t['name']} <{t['uri']}>" for t in action["targets"])
            return f"ring {names} for {action['timeout_s']:g}s"
        case "menu":
            return (
                f'menu (try {action["attempt"]}): "{action["prompt"]}" options '
                f"{', '.join(action['options'])}, wait {action['timeout_s']:g}s"
            )
        case "say":
            return f'say "{action["text"]}"'
        case "queue":
            return f"queue in {action['queue']['name']} up to {action['max_wait_s']:g}s"
        case "voicemail":
            return f'voicemail for board {action["board"]}: "{action["prompt"]}"'
        case "ticket":
            due = f", due {action['due']}" if action.get("due") else ""
            managers = ", ".join(action["managers"]) or "-"
            return f"ticket on board {action['board']}{due}, managers {managers}"
        case "hangup":
            return f"hang up ({action['reason']})"
    return json.dumps(action)
