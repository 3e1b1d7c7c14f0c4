"""`cli.py twilio-fallbacks`: each number's fallback as the TwiML of a TwiML Bin, for the
number's "Primary handler fails" URL in Twilio: what Twilio plays when the webhook cannot be
reached or errs, so callers reach a person without the engine. The TwiML is `service/twiml.py`'s
rendering of the fallback the engine itself would answer for that number."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from routing_engine.cli.common import load_or_exit
from routing_engine.core.compiled import CompiledDeployment


def register(app: typer.Typer) -> None:
    """Add this group's command to the command line."""
    app.command("twilio-fallbacks")(twilio_fallbacks_command)


def fallbacks(compiled: CompiledDeployment) -> dict[str, tuple[str, str]]:
    """{number as written (`+1212555*` for a prefix): (its flow, its fallback as TwiML)}."""
    from routing_engine.service.twiml import Links, twiml

    lines = [(number, compiled.entry_flows[number], number) for number in compiled.entries]
    lines += [(f"{prefix}*", flow, prefix) for prefix, flow, _ in compiled.prefixes]
    found: dict[str, tuple[str, str]] = {}
    for shown, flow, dialed in sorted(lines):
        plan = compiled.fallback_for(flow, dialed)
        decision: dict[str, Any] = {
            "call_id": "",
            "seq": 0,
            "actions": plan["actions"],
            "await": [],  # a Bin reports nowhere: its <Dial> ends the call
            "fallback_reason": None,
        }
        found[shown] = (flow, twiml(decision, Links()))
    return found


def twilio_fallbacks_command(
    deployment: Annotated[str, typer.Argument(help="the deployment directory")],
    number: Annotated[
        str | None, typer.Option("--number", help="only this number (as the entries write it)")
    ] = None,
    out: Annotated[
        str | None,
        typer.Option("-o", "--output", help="a folder to write NUMBER.xml into; default: stdout"),
    ] = None,
) -> None:
    """Print each number's fallback as TwiML, for a TwiML Bin as its "Primary handler fails"
    URL in Twilio."""
    loaded = load_or_exit(deployment, "make fallbacks")
    found = fallbacks(loaded.compiled)
    if number is not None:
        if number not in found:
            typer.echo(f"error: no entry {number}; entries: {', '.join(found)}", err=True)
            raise typer.Exit(2)
        found = {number: found[number]}
    if out is not None:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        for shown, (_, document) in found.items():
            (folder / f"{shown.replace('*', 'x')}.xml").write_text(document + "\n", "utf-8")
        typer.echo(f"wrote {len(found)} TwiML file(s) to {folder}")
        return
    for shown, (flow, document) in found.items():
        typer.echo(f"<!-- {shown} ({flow}) -->\n{document}\n")
