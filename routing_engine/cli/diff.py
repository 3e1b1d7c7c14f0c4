"""`cli.py diff OLD NEW`: what changed between two versions of a deployment.

Each side is a deployment directory, or `REV:DIR`, a git revision's copy of one: the
revision's whole tree is exported (`git archive`) into a temporary directory, so module paths
such as `../../flows` resolve as they did at that revision.
"""

from __future__ import annotations

import json
import os
import posixpath
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated

import typer

from routing_engine import api
from routing_engine.cli.common import Format, FormatOption, load_or_exit
from routing_engine.core.diagnostics import render_all_text, summary_line
from routing_engine.review.diff import DeploymentDiff, diff_deployments
from routing_engine.review.diff_callers import describe_callers
from routing_engine.review.diff_changes import (
    Change,
    DefinitionChange,
    EdgeChange,
    NodeChange,
    OutcomeChange,
    Status,
)

MARKS = {Status.ADDED: "+", Status.REMOVED: "-", Status.CHANGED: "~", Status.REWIRED: "~"}
SHOWN_PATHS = 25  # per group in text; JSON lists every one
# How a path is shown: (flow, the choices in words, old outcome, new outcome).
_PathShown = tuple[str, tuple[str, ...], str | None, str | None]


class UsageError(Exception):
    """A side that names no deployment (exit 2)."""


def register(app: typer.Typer) -> None:
    """Add this group's command to the command line."""
    app.command("diff")(diff_command)


def diff_command(
    old: Annotated[
        str, typer.Argument(help="the old version: a deployment directory, or REV:DIR in git")
    ],
    new: Annotated[str, typer.Argument(help="the new version, the same way")],
    output: FormatOption = Format.text,
) -> None:
    """Show what changed between two versions of a deployment: first the calls that now end
    elsewhere, then dialed numbers, definitions, nodes and edges. `REV:DIR` reads DIR as git
    revision REV has it (`HEAD~1:examples/hospital`). Exit 0 whether or not anything changed,
    1 when a version has errors, 2 on usage errors."""
    with ExitStack() as stack:
        try:
            before = _side(old, stack)
            after = _side(new, stack)
        except UsageError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from None
        diff = diff_deployments(before.compiled, after.compiled)
    if output is Format.json:
        typer.echo(json.dumps(diff.to_json(), indent=2))
    else:
        typer.echo(render_text(diff))


def _side(spec: str, stack: ExitStack) -> api.LoadedDeployment:
    """The deployment a side names, loaded; exit 1 (its problems printed) when it has errors."""
    if Path(spec).is_dir():
        return load_or_exit(spec, "diff")
    if ":" not in spec:
        raise UsageError(f"{spec} is not a directory; give a deployment directory or REV:DIR")
    revision, _, folder = spec.partition(":")
    root, directory = stack.enter_context(exported(revision, folder))
    result = api.check(directory)
    if result.compiled is None:  # its files are named REV:PATH, as git names them
        shown = render_all_text(result.diagnostics, result.sources)
        typer.echo(shown.replace(f"{root}{os.sep}", f"{revision}:"), err=True)
        typer.echo(f"{spec}: cannot diff: {summary_line(result.diagnostics)}", err=True)
        raise typer.Exit(1)
    return api.LoadedDeployment(result.compiled, result.diagnostics, result.sources)


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise UsageError("REV:DIR needs git, which is not installed") from None
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, args, done.stdout, done.stderr)
    return done.stdout.strip()


@contextmanager
def exported(revision: str, folder: str) -> Iterator[tuple[Path, Path]]:
    """(the export's root, DIR in it): git revision `revision`'s whole tree in a temporary
    directory, removed afterwards. DIR is relative to the working directory, as git paths
    typed at a prompt are. UsageError outside a git repository, for an unknown revision, or
    for a DIR the revision does not have."""
    try:
        top = Path(_git("rev-parse", "--show-toplevel"))
    except subprocess.CalledProcessError:
        raise UsageError(f"{revision}:{folder}: not inside a git repository") from None
    try:
        commit = _git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    except subprocess.CalledProcessError:
        raise UsageError(f"no git revision '{revision}'") from None
    inside = os.path.relpath(Path.cwd().resolve() / (folder or "."), top.resolve())
    path = posixpath.normpath(inside.replace(os.sep, "/"))
    try:
        kind = _git("cat-file", "-t", f"{commit}:{'' if path == '.' else path}")
    except subprocess.CalledProcessError:
        kind = ""
    if path.startswith("..") or kind != "tree":
        raise UsageError(f"revision '{revision}' has no directory '{folder or '.'}'")
    with tempfile.TemporaryDirectory(prefix="routing-diff-") as temporary:
        root = Path(temporary).resolve()
        _extract(commit, top, root)
        yield root, root / path


def _safe_member(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
    """The `data` filter, skipping (not failing on) what it refuses, such as a symlink out of
    the tree somewhere in the repository: a deployment's files never need one."""
    try:
        return tarfile.data_filter(member, path)
    except tarfile.FilterError:
        return None


def _extract(commit: str, top: Path, into: Path) -> None:
    """Unpack `git archive COMMIT` into `into`, streaming (no copy of the tree in memory)."""
    with (
        subprocess.Popen(
            ["git", "archive", "--format=tar", commit], cwd=top, stdout=subprocess.PIPE
        ) as archive,
        tarfile.open(fileobj=archive.stdout, mode="r|") as tar,
    ):
        if hasattr(tarfile, "data_filter"):
            tar.extractall(into, filter=_safe_member)
        else:  # pragma: no cover - Python before 3.11.4: plain files and folders only
            tar.extractall(into, members=(m for m in tar if m.isfile() or m.isdir()))
    if archive.returncode != 0:
        raise UsageError(f"git archive {commit[:12]} failed")


# --- text for a reviewer -----------------------------------------------------------------------


def render_text(diff: DeploymentDiff) -> str:
    """The diff for a person: a summary, then what changes for calls, then the rest."""
    lines = [f"{diff.old.name} {diff.old.version} -> {diff.new.name} {diff.new.version}"]
    if not diff.changed:
        lines.append("no changes")
        return "\n".join(lines)
    lines.append(summary(diff))
    lines.extend(_outcome_lines(diff))
    gone = {
        d.name for d in diff.definitions if d.status is not Status.CHANGED and d.what == "flow"
    } | {
        "module:" + d.name
        for d in diff.definitions
        if d.status is not Status.CHANGED and d.what == "module"
    }
    nodes = [n for n in diff.nodes if n.unit not in gone]
    whole = {(n.unit, n.node) for n in nodes if n.status is not Status.CHANGED}
    edges = [e for e in diff.edges if e.unit not in gone and (e.unit, e.node) not in whole]
    if diff.entries:
        lines.append("")
        lines.append("Dialed numbers:")
        for entry in diff.entries:
            was, now = f"flow {entry.old}", f"flow {entry.new}"
            match entry.status:
                case Status.ADDED:
                    lines.append(f"  + {entry.number} -> {now}")
                case Status.REMOVED:
                    lines.append(f"  - {entry.number} (was {was})")
                case _:
                    lines.append(f"  ~ {entry.number}: {was} -> {now}")
    if diff.definitions:
        lines.append("")
        lines.append("Definitions:")
        lines.extend(_definition_lines(d, diff) for d in diff.definitions)
    if nodes:
        lines.append("")
        lines.append("Nodes:")
        lines.extend(_node_line(node, diff.edges) for node in nodes)
    if edges:
        lines.append("")
        lines.append("Edges:")
        lines.extend(_edge_line(edge) for edge in edges)
    return "\n".join(lines)


def _outcome_lines(diff: DeploymentDiff) -> list[str]:
    """Paths whose outcome changed, then new paths, then paths gone; paths that differ only in
    the number dialed (two numbers entering one flow) are shown once."""
    titles = {
        Status.CHANGED: "Calls that now end differently",
        Status.ADDED: "New ways a call can go",
        Status.REMOVED: "Ways a call can no longer go",
    }
    lines: list[str] = []
    if diff.truncated:
        lines.append("note: a version has more paths than were enumerated; some may be missing")
    for branch in diff.unsure:
        lines.append(
            f"note: the rewritten conditions at {branch} read call variables, attributes, the "
            "time or availability; the calls they move cannot all be told from sample callers"
        )
    if diff.callers:
        lines.append("")
        lines.append(f"Calls a rewritten condition sends another way ({len(diff.callers)}):")
        for move in diff.callers:
            lines.append(f"  at {move.node}, {describe_callers(move)}:")
            old_only = tuple(o for o in move.old_outcomes if o not in move.new_outcomes)
            new_only = tuple(o for o in move.new_outcomes if o not in move.old_outcomes)
            same = len(move.old_outcomes) - len(old_only)
            note = f" (and {_count(same, 'ending')} both share)" if same else ""
            lines.append(f"      used to take: {move.old_choice}")
            lines.append(f"          ending: {_some(old_only)}{note}")
            lines.append(f"      now take:     {move.new_choice}")
            lines.append(f"          ending: {_some(new_only)}{note}")
    for status, title in titles.items():
        merged: dict[_PathShown, list[str]] = {}
        for change in diff.outcomes:
            if change.status is status:
                merged.setdefault(_same_path(change), []).append(change.entry)
        if not merged:
            continue
        lines.append("")
        lines.append(f"{title} ({_count(sum(map(len, merged.values())), 'path')}):")
        for (flow, when, old, new), entries in list(merged.items())[:SHOWN_PATHS]:
            numbers = ", ".join(entries)
            lines.append(
                f"  a call to {numbers} ({flow})" + (f": {', '.join(when)}" if when else "")
            )
            if old is not None:
                lines.append(f"      used to: {old}")
            if new is not None:
                lines.append(f"      now:     {new}")
        if len(merged) > SHOWN_PATHS:
            lines.append(f"  ... and {len(merged) - SHOWN_PATHS} more (--format json lists all)")
    if not diff.outcomes and not diff.callers:
        lines.extend(["", "No call ends differently."])
    return lines


def _some(outcomes: tuple[str, ...], shown: int = 3) -> str:
    """A few outcomes on one line, and how many more there are."""
    more = len(outcomes) - shown
    return " | ".join(outcomes[:shown]) + (f" | ({more} more)" if more > 0 else "") or "-"


def summary(diff: DeploymentDiff) -> str:
    """One line of counts, what changes for calls first."""
    paths = [
        f"{sum(1 for c in diff.outcomes if c.status is status)} {words}"
        for status, words in (
            (Status.CHANGED, "end differently"),
            (Status.ADDED, "new"),
            (Status.REMOVED, "gone"),
        )
    ]
    parts = [
        _count(len(changes), what)
        for what, changes in (
            ("dialed number", diff.entries),
            ("definition", diff.definitions),
            ("node", diff.nodes),
            ("edge", diff.edges),
        )
        if changes
    ]
    if diff.callers:
        paths.append(f"{_count(len(diff.callers), 'caller group')} sent another way")
    return "paths: " + ", ".join(paths) + ("; changed: " + ", ".join(parts) if parts else "")


def _count(number: int, what: str) -> str:
    return f"{number} {what}{'' if number == 1 else 's'}"


def _same_path(change: OutcomeChange) -> _PathShown:
    return (change.flow, change.when, change.old, change.new)


def _unit(unit: str) -> str:
    return unit.replace("module:", "module ")


def _changes(changes: tuple[Change, ...]) -> str:
    return "; ".join(f"{c.setting}: {c.old or '(none)'} -> {c.new or '(none)'}" for c in changes)


def _definition_lines(definition: DefinitionChange, diff: DeploymentDiff) -> str:
    name = f"{definition.what} {definition.name}"
    if definition.what == "deployment":
        name = "deployment settings"
    line = f"  {MARKS[definition.status]} {name}"
    if definition.status is Status.CHANGED:
        return f"{line}: {_changes(definition.changes)}"
    if definition.what not in ("flow", "module"):
        return line
    unit = definition.name if definition.what == "flow" else f"module:{definition.name}"
    count = sum(1 for node in diff.nodes if node.unit == unit)
    return f"{line} ({count} node{'s' if count != 1 else ''})"


def _node_line(node: NodeChange, edges: tuple[EdgeChange, ...]) -> str:
    line = f"  {MARKS[node.status]} {_unit(node.unit)}/{node.node} ({node.kind})"
    if node.status is Status.CHANGED:
        return f"{line}: {_changes(node.changes)}"
    own = [e for e in edges if (e.unit, e.node) == (node.unit, node.node)]
    ways = ", ".join(f"{_outcome(e)} -> {e.new or e.old}" for e in own)
    return f"{line}: {ways}" if ways else line


def _outcome(edge: EdgeChange) -> str:
    if edge.label and edge.label != edge.outcome:
        return f"{edge.outcome} ({edge.label})"
    return edge.outcome


def _edge_line(edge: EdgeChange) -> str:
    where = f"{_unit(edge.unit)}/{edge.node} {_outcome(edge)}"
    match edge.status:
        case Status.ADDED:
            return f"  + {where} -> {edge.new}"
        case Status.REMOVED:
            return f"  - {where} (led to {edge.old})"
        case _:
            return f"  ~ {where}: {edge.old} -> {edge.new}"
