"""The ways a call can go, old against new: every path of each version, matched by the choices
along it, and the paths whose end changed, that are new, or that are gone."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from routing_engine.core import ir
from routing_engine.core.analysis import Index
from routing_engine.core.compile import CompiledDeployment
from routing_engine.review.diff_callers import CallerMove, caller_moves, rewritten_choices
from routing_engine.review.diff_changes import OutcomeChange, Status
from routing_engine.review.paths import FORCED, CallPath, entry_numbers, enumerate_paths


def match_key(path: CallPath, rewrites: Mapping[tuple[str, str], str]) -> tuple[str, ...]:
    """What matches a path of one version to the same path of the other: the dialed number and
    the choices along it (forced moves left out), each hours choice with its schedule (a
    schedule swapped is another path), a rewritten condition's choice read as its new text at
    the node it belongs to (`rewrites`: (node, old choice) -> new choice)."""
    key = [path.entry]
    for step in path.steps:
        if step.choice in FORCED:
            continue
        choice = rewrites.get((step.node, step.choice), step.choice)
        if step.kind == "hours":
            choice = f"{step.detail.removeprefix('schedule ')} {choice}"
        key.append(choice)
    return tuple(key)


def _by_key(
    paths: Iterable[CallPath], rewrites: Mapping[tuple[str, str], str] | None = None
) -> dict[tuple[str, ...], CallPath]:
    """Paths by their match key; the rare second path with the same key (two cases of one
    branch with the same condition) gets a numbered key of its own."""
    found: dict[tuple[str, ...], CallPath] = {}
    for path in paths:
        key = base = match_key(path, rewrites or {})
        number = 1
        while key in found:
            number += 1
            key = (*base, f"#{number}")
        found[key] = path
    return found


def describe(path: CallPath, index: Index) -> tuple[str, ...]:
    """The choices that tell a path from others, in words: an hours check names its schedule
    ('office-hours open'), a branch's else names the branch."""
    said: list[str] = []
    for step in path.steps:
        if step.choice in FORCED:
            continue
        flow, _, node_id = step.node.partition("/")
        match index.nodes.get((flow, node_id)):
            case ir.Hours(schedule=schedule):
                said.append(f"{schedule.name} {step.choice}")
            case ir.Branch() if step.choice == "else":
                said.append(f"else at {node_id}")
            case _:
                said.append(step.choice)
    return tuple(said)


def _paths_by_entry(
    compiled: CompiledDeployment, max_paths: int
) -> dict[str, tuple[tuple[CallPath, ...], bool]]:
    """Each entry's paths and whether its bound cut them short; each entry has a budget of its
    own, so a big menu behind one number cannot hide another number's paths."""
    found: dict[str, tuple[tuple[CallPath, ...], bool]] = {}
    for number in entry_numbers(compiled):
        report = enumerate_paths(compiled, number, max_paths=max_paths)
        found[number] = (report.paths, report.truncated)
    return found


def diff_outcomes(
    old: CompiledDeployment,
    new: CompiledDeployment,
    before: Index,
    after: Index,
    max_paths: int,
    at: datetime,
) -> tuple[tuple[OutcomeChange, ...], bool, tuple[CallerMove, ...]]:
    """The paths whose outcome changed, then those only one version has; whether a bound cut
    an enumeration short; and the callers rewritten branches send another way. Paths match by
    `match_key`: the dialed number and the choices along the way, whatever the nodes are
    called. A path through a rewritten condition that ends as before is no change (who takes
    it is: see `diff_callers`). An entry whose paths were cut short on either side reports
    only changed outcomes: which of its paths are new or gone cannot be told."""
    if old.digest == new.digest:
        return (), False, ()
    was, now = _paths_by_entry(old, max_paths), _paths_by_entry(new, max_paths)
    rewrites = rewritten_choices(old, new)
    found: list[OutcomeChange] = []
    cut = False
    for number in dict.fromkeys([*was, *now]):
        old_list, old_cut = was.get(number, ((), False))
        new_list, new_cut = now.get(number, ((), False))
        cut = cut or old_cut or new_cut
        found.extend(
            _entry_changes(old_list, new_list, rewrites, before, after, not (old_cut or new_cut))
        )
    order = {Status.CHANGED: 0, Status.ADDED: 1, Status.REMOVED: 2}
    found.sort(key=lambda change: order[change.status])  # stable: path order within each
    old_paths = [p for paths, _ in was.values() for p in paths]
    new_paths = [p for paths, _ in now.values() for p in paths]
    moves = caller_moves(old, new, old_paths, new_paths, at)
    return tuple(found), cut, moves


def _entry_changes(
    old_list: Iterable[CallPath],
    new_list: Iterable[CallPath],
    rewrites: Mapping[tuple[str, str], str],
    before: Index,
    after: Index,
    complete: bool,
) -> list[OutcomeChange]:
    """One entry's paths compared: changed outcomes, and (when both enumerations are complete)
    paths only one version has."""
    old_paths, new_paths = _by_key(old_list, rewrites), _by_key(new_list)
    found: list[OutcomeChange] = []
    for key, path in new_paths.items():
        earlier = old_paths.get(key)
        if earlier is not None and earlier.outcome != path.outcome:
            when = describe(path, after)
            found.append(
                OutcomeChange(path.entry, path.flow, when, key, earlier.outcome, path.outcome)
            )
        elif earlier is None and complete:
            when = describe(path, after)
            found.append(OutcomeChange(path.entry, path.flow, when, key, None, path.outcome))
    if complete:
        for key, path in old_paths.items():
            if key not in new_paths:
                when = describe(path, before)
                found.append(OutcomeChange(path.entry, path.flow, when, key, path.outcome, None))
    return found
