"""The command line: thin translation to the library; no routing logic lives here.

Exit codes: 0 clean (warnings allowed), 1 problems found, 2 usage errors.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer

from routing_engine import api
from routing_engine.contract import BadRequest
from routing_engine.core.clock import DEFAULT_MAX_SKEW_S, OFFSET_ENV, system_clock
from routing_engine.core.diagnostics import render_all_text, render_json, summary_line
from routing_engine.core.runtime import EventRejected
from routing_engine.validate import RULES

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Validate, simulate and serve call-routing process maps.",
)


class Format(StrEnum):
    text = "text"
    json = "json"


FormatOption = Annotated[
    Format, typer.Option("--format", help="text for people, json for machines")
]


@app.command("validate")
def validate_command(
    paths: Annotated[list[str], typer.Argument(help="deployment directories or flow files")],
    output: FormatOption = Format.text,
) -> None:
    """Check deployments: every problem, with file:line:col, is reported."""
    failed = False
    all_diagnostics = []
    sources: dict[str, str] = {}
    for path in paths:
        result = api.check(path)
        failed = failed or not result.ok
        all_diagnostics.extend(result.diagnostics)
        sources.update(result.sources)
        if output is Format.text:
            if result.diagnostics:
                typer.echo(render_all_text(result.diagnostics, result.sources))
            status = "ok" if result.ok else "FAILED"
            typer.echo(f"{path}: {status}: {summary_line(result.diagnostics)}")
    if output is Format.json:
        typer.echo(render_json(all_diagnostics))
    raise typer.Exit(1 if failed else 0)


@app.command("rules")
def rules_command(
    explain: Annotated[
        str | None, typer.Option("--explain", metavar="CODE", help="print one rule's doc")
    ] = None,
    output: FormatOption = Format.text,
) -> None:
    """List every validation rule, or explain one."""
    if explain is not None:
        rule = RULES.get(explain.upper())
        if rule is None:
            typer.echo(f"error: no rule {explain!r}; `rules` lists them all", err=True)
            raise typer.Exit(2)
        if output is Format.json:
            typer.echo(
                json.dumps(
                    {
                        "code": rule.code,
                        "name": rule.name,
                        "severity": rule.severity.value,
                        "doc": rule.doc,
                    },
                    indent=2,
                )
            )
        else:
            typer.echo(f"{rule.code} {rule.name} ({rule.severity.value})\n\n{rule.doc}")
        return
    ordered = sorted(RULES.values(), key=lambda r: r.code)
    if output is Format.json:
        typer.echo(
            json.dumps(
                [
                    {
                        "code": r.code,
                        "name": r.name,
                        "severity": r.severity.value,
                        "summary": r.summary,
                    }
                    for r in ordered
                ],
                indent=2,
            )
        )
        return
    for rule in ordered:
        typer.echo(f"{rule.code}  {rule.name:<22} {rule.severity.value:<8} {rule.summary}")


class SyntaxName(StrEnum):
    yaml = "yaml"
    dsl = "dsl"


@app.command("convert")
def convert_command(
    file: Annotated[str, typer.Argument(help="a .yaml or .flow file")],
    to: Annotated[SyntaxName, typer.Option("--to", help="the syntax to write")],
    out: Annotated[
        str | None, typer.Option("-o", "--output", help="write here instead of stdout")
    ] = None,
) -> None:
    """Convert a flow file between YAML and the DSL (same documents, same IR)."""
    from pathlib import Path

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


@app.command("fmt")
def fmt_command(
    files: Annotated[list[str], typer.Argument(help=".yaml and .flow files, or folders of them")],
    check: Annotated[
        bool, typer.Option("--check", help="change nothing; exit 1 if a file would change")
    ] = False,
) -> None:
    """Rewrite flow files in canonical form (comments kept); idempotent."""
    from pathlib import Path

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


@app.command("render")
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
    from pathlib import Path

    from routing_engine.core.analysis import build_index
    from routing_engine.review.render import FORMATS, build, path_from_trace, render

    if fmt not in FORMATS:
        typer.echo(f"error: --format must be one of {', '.join(FORMATS)}", err=True)
        raise typer.Exit(2)
    loaded = _load_or_exit(deployment, "render")
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
    from pathlib import Path

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


def _load_or_exit(deployment: str, verb: str) -> api.LoadedDeployment:
    """Load a deployment, or print its problems and exit 1."""
    result = api.check(deployment)
    if result.compiled is None:
        typer.echo(render_all_text(result.diagnostics, result.sources), err=True)
        typer.echo(f"{deployment}: cannot {verb}: {summary_line(result.diagnostics)}", err=True)
        raise typer.Exit(1)
    return api.LoadedDeployment(result.compiled, result.diagnostics, result.sources)


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
        lines.append("    " + _describe_action(action))
    lines.append("    await: " + (", ".join(decision["await"]) or "nothing (call over)"))
    return lines


def _describe_action(action: dict[str, Any]) -> str:
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


@app.command("simulate")
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
    loaded = _load_or_exit(deployment, "simulate")
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


@app.command("serve")
def serve_command(
    deployment: Annotated[str, typer.Argument(help="the deployment directory")],
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
    database: Annotated[
        str | None,
        typer.Option(
            "--database", help="SQLAlchemy URL; default: SQLite in ./data (or $ROUTING_DATA_DIR)"
        ),
    ] = None,
    deadline_ms: Annotated[
        int,
        typer.Option(
            "--deadline-ms", min=10, max=60000, help="answer the fallback after this long"
        ),
    ] = 500,
    keys_file: Annotated[
        str | None,
        typer.Option("--keys", help="file of 'ROLE KEY' lines; default: $ROUTING_API_KEYS"),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="worker processes")] = 1,
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            help="serve as if it were this ISO time at start; the clock runs on from there "
            "(a demo, a replay, a test); default: the machine's clock",
        ),
    ] = None,
    max_at_skew_s: Annotated[
        float,
        typer.Option(
            "--max-at-skew",
            min=1,
            help="refuse a request whose 'at' is further than this many seconds from the clock",
        ),
    ] = DEFAULT_MAX_SKEW_S,
) -> None:
    """Serve a deployment over HTTP."""
    import tempfile

    from routing_engine.service.app import MAX_SKEW_ENV, run_server
    from routing_engine.service.auth import LOOPBACK, Keys, KeysError

    # one offset from the machine's clock, computed once, so every worker reads the same time
    offset_s = (
        0.0 if now is None else (parse_time_option(now, "--now") - system_clock()).total_seconds()
    )

    try:
        keys = Keys.load(keys_file)
    except (KeysError, OSError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    if not keys.enabled:
        if host not in LOOPBACK:
            typer.echo(
                f"error: no API keys are configured, so only loopback may be served, not {host}; "
                "set $ROUTING_API_KEYS or --keys (lines 'ROLE KEY')",
                err=True,
            )
            raise typer.Exit(2)
        typer.echo(
            "warning: no API keys configured: serving loopback only, without authentication",
            err=True,
        )
    _load_or_exit(deployment, "serve")  # refuse a deployment with errors before binding
    os.environ.update(
        ROUTING_DEPLOYMENT=str(deployment),
        ROUTING_DATABASE=database or "",
        ROUTING_DEADLINE_MS=str(deadline_ms),
        ROUTING_KEYS_FILE=keys_file or "",
        **{OFFSET_ENV: repr(offset_s), MAX_SKEW_ENV: repr(max_at_skew_s)},
    )
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="routing-metrics-")
    run_server("routing_engine.service.app:app_from_env", host, port, workers)


def main() -> None:
    """Entry point of `python cli.py` and the `routing-engine` script."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        sys.exit(130)


# Commands that live in modules of their own register themselves on `app` when imported.
from routing_engine.cli import diff as _diff  # noqa: E402, F401
from routing_engine.cli import paths as _paths  # noqa: E402, F401
from routing_engine.cli import scenarios as _scenarios  # noqa: E402, F401
