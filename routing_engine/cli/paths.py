"""`cli.py paths` (every path through a deployment) and `cli.py who-answers` (a concrete call at
one time, down every branch): printing only; the work is in paths.py and explore.py."""

from __future__ import annotations

import json
from datetime import datetime, tzinfo
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
from routing_engine.review.explore import (
    Ending,
    Exploration,
    ScheduleNow,
    Turn,
    explore_call,
)
from routing_engine.review.paths import (
    ANONYMOUS,
    CallPath,
    UnknownNumber,
    enumerate_paths,
)

INDENT = "    "


def register(app: typer.Typer) -> None:
    """Add this group's commands to the command line."""
    app.command("paths")(paths_command)
    app.command("who-answers")(who_answers_command)


def paths_command(
    deployment: Annotated[str, typer.Argument(help="the deployment directory")],
    to: Annotated[
        str | None, typer.Option("--to", help="only the paths of this dialed number")
    ] = None,
    max_paths: Annotated[
        int, typer.Option("--max-paths", min=1, help="stop after this many paths")
    ] = 5000,
    output: FormatOption = Format.text,
) -> None:
    """List every path a call can take (each branch case, hours state, menu digit, ring and
    reported outcome), step by step, with how the call ends."""
    loaded = load_or_exit(deployment, "list paths")
    try:
        report = enumerate_paths(loaded.compiled, to, max_paths=max_paths)
    except UnknownNumber as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    if output is Format.json:
        typer.echo(json.dumps(report.to_json(), indent=2))
        return
    for number, path in enumerate(report.paths, start=1):
        typer.echo("\n".join(_path_lines(number, path)))
    where = f" from {to}" if to else ""
    state = (
        f"truncated: a bound cut the list short (--max-paths {max_paths}, "
        "or a node entered more than twice on one path)"
        if report.truncated
        else "complete"
    )
    for wait in report.waits:
        typer.echo(f"worst wait: {wait.line()}")
    typer.echo(f"{len(report.paths)} path(s){where}, {state}")


def _path_lines(number: int, path: CallPath) -> list[str]:
    lines = [f"path {number}: {path.entry} -> flow {path.flow}"]
    kind_width = max((len(step.kind) for step in path.steps), default=0)
    node_width = max((len(step.node) for step in path.steps), default=0)
    choice_width = max((len(step.choice) for step in path.steps), default=0)
    for step in path.steps:
        line = f"{INDENT}{step.kind:<{kind_width}}  {step.node:<{node_width}}  "
        line += f"{step.choice:<{choice_width}}  ({step.detail})" if step.detail else step.choice
        lines.append(line.rstrip())
    lines.append(f"{INDENT}=> {path.outcome}")
    return lines


def who_answers_command(
    deployment: Annotated[str, typer.Argument(help="the deployment directory")],
    at: Annotated[
        str, typer.Option("--at", help="ISO time with a UTC offset, e.g. 2026-11-24T10:00:00-05:00")
    ],
    number: Annotated[
        str | None, typer.Argument(help="the dialed number, E.164", show_default=False)
    ] = None,
    caller: Annotated[
        str,
        typer.Option(
            "--from",
            help="the caller's number, E.164; default 'anonymous' (a withheld number)",
        ),
    ] = ANONYMOUS,
    deployment_option: Annotated[
        str | None,
        typer.Option("--deployment", hidden=True, help="the deployment (before it came first)"),
    ] = None,
    output: FormatOption = Format.text,
    max_turns: Annotated[
        int, typer.Option("--max-turns", min=1, help="stop exploring after this many events")
    ] = 2000,
) -> None:
    """Who answers a call to NUMBER at a given time: the real runtime, down every branch (each
    menu option and the menu's fallback, each ring answered or not, in turn, each reported
    outcome), with the reasons it gives."""
    deployment, number = _deployment_and_number(deployment, number, deployment_option)
    when = parse_time_option(at)
    loaded = load_or_exit(deployment, "explore calls")
    try:
        exploration = explore_call(loaded, number, when, caller, max_turns=max_turns)
    except UnknownNumber as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    except BadRequest as error:  # the numbers are checked as a call's are
        for problem in error.problems:
            given = {"from": f"--from {caller!r}", "to": f"NUMBER {number!r}"}
            where = given.get(str(problem.get("field")), str(problem.get("field")))
            typer.echo(f"error: {where}: {problem['problem']}", err=True)
        raise typer.Exit(2) from None
    if output is Format.json:
        typer.echo(json.dumps(_exploration_json(exploration), indent=2))
        return
    typer.echo("\n".join(_exploration_lines(exploration)))


def _deployment_and_number(first: str, second: str | None, option: str | None) -> tuple[str, str]:
    """`who-answers DEPLOYMENT NUMBER`, as every command takes its deployment first; the older
    `who-answers NUMBER --deployment DEPLOYMENT` still works. Exit 2 for anything else."""
    usage = "write: who-answers DEPLOYMENT NUMBER --at TIME"
    if option is not None:
        if second is not None:
            typer.echo(f"error: the deployment is given twice ({first!r} and --deployment "
                       f"{option!r}); {usage}", err=True)  # fmt: skip
            raise typer.Exit(2)
        return option, first
    if second is None:
        looks = " (that looks like the number)" if first.startswith("+") else ""
        typer.echo(f"error: who-answers needs the deployment, then the number: got only "
                   f"{first!r}{looks}; {usage}", err=True)  # fmt: skip
        raise typer.Exit(2)
    return first, second


def _local(instant: datetime | str, zone: tzinfo | None) -> str:
    moment = datetime.fromisoformat(instant) if isinstance(instant, str) else instant
    return moment.astimezone(zone).isoformat()


def _schedule_line(schedule: ScheduleNow, zone: tzinfo | None) -> str:
    state = {"holiday": f"closed for {schedule.holiday}", "open": "open"}.get(
        schedule.state, schedule.state
    )
    line = f"schedule {schedule.name}: {state} at this time"
    if schedule.next_open is not None:
        line += f"; it next opens {_local(schedule.next_open, zone)}"
    return line


def _exploration_lines(exploration: Exploration) -> list[str]:
    zone = exploration.at.tzinfo
    who = exploration.caller + (" (a withheld number)" if exploration.caller == ANONYMOUS else "")
    lines = [
        f"who answers {exploration.number} (flow {exploration.flow}) "
        f"at {exploration.at.isoformat()}, caller {who}",
        *(_schedule_line(schedule, zone) for schedule in exploration.schedules),
        "",
    ]
    lines.extend(_turn_lines(exploration, exploration.first, 0))
    endings = exploration.endings()
    lines.append("")
    lines.append(f"{len(endings)} way(s) the call can end:")
    for number, ending in enumerate(endings, start=1):
        lines.append(f"{INDENT}{number}. {_ending_text(exploration, ending)}")
    if exploration.truncated:
        lines.append("(truncated: the call loops, or the exploration bound was reached)")
    return lines


def _turn_lines(exploration: Exploration, turn: Turn, depth: int) -> list[str]:
    pad = INDENT * (depth + 1)
    lines = [INDENT * depth + f"- {turn.event}:"] if turn.event else []
    lines.extend(f"{pad}| {reason}" for reason in turn.reasons)
    lines.extend(pad + _action_text(exploration, action, turn) for action in turn.actions)
    if turn.end:
        lines.append(f"{pad}=> {turn.end}")
    for after in turn.then:
        lines.extend(_turn_lines(exploration, after, depth + 1))
    return lines


def _action_text(exploration: Exploration, action: dict[str, Any], turn: Turn) -> str:
    match action["type"]:
        case "ring":
            return _ring_text(action, turn.ringing)
        case "ticket":
            return f"{_ticket_text(exploration, action)}, managers {', '.join(action['managers'])}"
    return describe_action(action)


def _ring_text(action: dict[str, Any], ringing: tuple[str, ...]) -> str:
    names = [target["name"] for target in action["targets"]]
    time = f"for {action['timeout_s']:g}s"
    if action["strategy"] == "simultaneous":
        return f"ring {', '.join(names)} at once {time}"
    text = f"ring {names[0]} {time}"
    if len(ringing) > 1 and names[0] in ringing:
        place = ringing.index(names[0]) + 1
        text += f" (target {place} of {len(ringing)}, one after another: {', '.join(ringing)})"
    return text


def _ticket_text(exploration: Exploration, ticket: dict[str, Any]) -> str:
    text = f"ticket on board {ticket['board']}"
    if not ticket.get("due"):
        return text
    zone = exploration.at.tzinfo
    text += f", due {_local(ticket['due'], zone)}"
    due = datetime.fromisoformat(ticket["due"])
    opening = [s.name for s in exploration.schedules if s.next_open == due]
    if opening and not ticket.get("sla_s"):
        text += f" (when {opening[0]} next opens)"
    return text


def _ending_text(exploration: Exploration, ending: Ending) -> str:
    events = " > ".join(ending.events) or "at once"
    effects = [_ticket_text(exploration, ticket) for ticket in ending.tickets]
    return f"{events} => {'; '.join([*effects, ending.end])}"


def _exploration_json(exploration: Exploration) -> dict[str, Any]:
    return {
        "number": exploration.number,
        "flow": exploration.flow,
        "caller": exploration.caller,
        "at": exploration.at.isoformat(),
        "schedules": [
            {
                "name": s.name,
                "state": s.state,
                "holiday": s.holiday,
                "next_open": s.next_open.isoformat() if s.next_open else None,
            }
            for s in exploration.schedules
        ],
        "call": exploration.first.to_json(),
        "endings": [
            {"events": list(e.events), "tickets": list(e.tickets), "end": e.end}
            for e in exploration.endings()
        ],
        "truncated": exploration.truncated,
    }
