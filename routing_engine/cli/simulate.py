"""`cli.py simulate`: one call walked through a deployment, event by event, each decision
printed as the runtime gives it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from routing_engine.cli.common import (
    Format,
    FormatOption,
    describe_action,
    load_or_exit,
    parse_time_option,
)
from routing_engine.contract import BadRequest
from routing_engine.core.runtime import EventRejected


def register(app: typer.Typer) -> None:
    """Add this group's command to the command line."""
    app.command("simulate")(simulate_command)


def simulate_command(
    deployment: Annotated[str, typer.Argument(help="the deployment directory")],
    caller: Annotated[str, typer.Option("--from", help="the caller's number, E.164")],
    dialed: Annotated[str, typer.Option("--to", help="the dialed number, E.164")],
    at: Annotated[
        str | None, typer.Option("--at", help="ISO time with offset; default now")
    ] = None,
    events: Annotated[
        list[str] | None,
        typer.Option(
            "--event",
            help="TYPE[:VALUE], repeatable: digits:3, no-input, dial.no-answer, outcome:handled",
        ),
    ] = None,
    output: FormatOption = Format.text,
) -> None:
    """Walk a call through a deployment, printing each decision."""
    loaded = load_or_exit(deployment, "simulate")
    when = parse_time_option(at) if at else datetime.now(UTC)
    decisions: list[dict[str, Any]] = []
    state: dict[str, Any] = {}

    def record(decision: dict[str, Any]) -> None:
        seen = len(decisions[-1]["trace"]) if decisions else 0
        decisions.append(decision)
        if output is Format.text:
            typer.echo("\n".join(_describe(decision, seen)))

    try:
        state, decision = loaded.start_call(
            {"call_id": "sim-1", "from": caller, "to": dialed, "at": when.isoformat()}
        )
        record(decision)
        for number, text in enumerate(events or [], start=1):
            body = _parse_event_option(text, decision["seq"], when, number)
            if output is Format.text:
                typer.echo(f"  > {text}")
            state, decision = loaded.apply_event(state, body)
            record(decision)
    except BadRequest as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    except EventRejected as error:
        typer.echo(f"error: event refused ({error.reason}): {error.message}", err=True)
        raise typer.Exit(1) from None
    if output is Format.json:
        typer.echo(json.dumps({"decisions": decisions, "state": state}, indent=2))


def _parse_event_option(text: str, seq: int, at: datetime, number: int) -> dict[str, Any]:
    """`digits:3`, `dial.no-answer`, `outcome:needs-office`, `recording.done:REF` -> a body."""
    kind, _, value = text.partition(":")
    data: dict[str, str] = {}
    if kind == "digits":
        data["digits"] = value
    elif kind == "outcome":
        data["outcome"] = value
    elif kind == "recording.done" and value:
        data["recording"] = value
    elif value:
        raise BadRequest([{"field": f"--event {text}", "problem": f"'{kind}' takes no value"}])
    return {
        "event_id": f"sim-{number}",
        "seq": seq,
        "type": kind,
        "data": data,
        "at": at.isoformat(),
    }


def _describe(decision: dict[str, Any], seen: int = 0) -> list[str]:
    """A decision for a person: where the call is, why (the trace lines after the first `seen`),
    what to do, and what may come next."""
    lines = [f"[{decision['seq']}] {decision['flow']['name']}/{decision['node']}"]
    if decision.get("fallback_reason"):
        lines[0] += f"  (FALLBACK: {decision['fallback_reason']})"
    lines.extend(f"    | {line}" for line in decision["trace"][seen:])
    for action in decision["actions"]:
        lines.append("    " + describe_action(action))
    lines.append("    await: " + (", ".join(decision["await"]) or "nothing (call over)"))
    return lines
