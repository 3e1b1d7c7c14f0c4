"""What changed between two versions of a deployment, for a reviewer and for CI.

Three layers, the most important first when shown: the calls that now end elsewhere (every
path a call can take, old against new, matched by the choices along it); the dialed numbers
and the definitions (flows, modules, targets, schedules, contacts, settings); and the process
map as written: nodes added, removed or changed (a setting such as a ring's timeout or a
prompt) and edges added, removed or rewired (same node and outcome, another target).

Nodes and edges are compared as written in flows and modules (`Index.own_nodes`), not as the
copies made for each use of a module: a module changed once shows once, and what it changes
for calls shows in the outcomes.

Here the diff as a whole; its change records are in `diff_changes`, the layers as written in
`diff_written`, the ways calls go in `diff_outcomes`, and the callers a rewritten condition
sends elsewhere in `diff_callers`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from routing_engine.core.analysis import build_index
from routing_engine.core.compile import CompiledDeployment
from routing_engine.review.diff_callers import CallerMove, unsure_branches
from routing_engine.review.diff_changes import (
    DefinitionChange,
    EdgeChange,
    EntryChange,
    NodeChange,
    OutcomeChange,
    Status,
)
from routing_engine.review.diff_outcomes import diff_outcomes
from routing_engine.review.diff_written import (
    diff_definitions,
    diff_edges,
    diff_entries,
    diff_nodes,
)


@dataclass(frozen=True, slots=True)
class Side:
    """Which version a side of a diff is."""

    name: str
    hash: str

    @property
    def version(self) -> str:
        return self.hash[:12]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "hash": self.hash, "version": self.version}


@dataclass(frozen=True, slots=True)
class DeploymentDiff:
    """Everything that differs between two deployment versions."""

    old: Side
    new: Side
    outcomes: tuple[OutcomeChange, ...]
    truncated: bool  # a bound cut the paths of either version short: outcomes may be missing
    callers: tuple[CallerMove, ...]  # callers a rewritten branch sends down another case
    unsure: tuple[str, ...]  # rewritten branches reading what sample calls cannot say
    entries: tuple[EntryChange, ...]
    definitions: tuple[DefinitionChange, ...]
    nodes: tuple[NodeChange, ...]
    edges: tuple[EdgeChange, ...]

    @property
    def changed(self) -> bool:
        return bool(
            self.outcomes
            or self.callers
            or self.entries
            or self.definitions
            or self.nodes
            or self.edges
        )

    def to_json(self) -> dict[str, Any]:
        """The diff as JSON (`cli.py diff --format json`, and the publish API)."""
        return {
            "old": self.old.to_json(),
            "new": self.new.to_json(),
            "changed": self.changed,
            "outcomes": {
                **_grouped(self.outcomes),
                "truncated": self.truncated,
                "callers": [move.to_json() for move in self.callers],
                "unsure": list(self.unsure),
            },
            "entries": _grouped(self.entries),
            "definitions": _grouped(self.definitions),
            "nodes": _grouped(self.nodes),
            "edges": _grouped(self.edges, Status.REWIRED),
        }


def _grouped(changes: Iterable[Any], third: Status = Status.CHANGED) -> dict[str, Any]:
    """Changes by status; every status present, so a reader need not test for keys."""
    groups: dict[str, list[dict[str, Any]]] = {
        status.value: [] for status in (third, Status.ADDED, Status.REMOVED)
    }
    for change in changes:
        groups[change.status.value].append(change.to_json())
    return groups


def diff_deployments(
    old: CompiledDeployment,
    new: CompiledDeployment,
    *,
    max_paths: int = 5000,
    at: datetime | None = None,
) -> DeploymentDiff:
    """What changed from `old` to `new` (two compiled versions of a deployment). Paths are
    enumerated up to `max_paths` per version (see `paths.enumerate_paths`); conditions of
    rewritten branches are evaluated for sample callers at `at` (now by default)."""
    before, after = build_index(old.deployment), build_index(new.deployment)
    outcomes, truncated, callers = diff_outcomes(
        old, new, before, after, max_paths, at or datetime.now(UTC)
    )
    return DeploymentDiff(
        old=Side(old.name, old.digest),
        new=Side(new.name, new.digest),
        outcomes=outcomes,
        truncated=truncated,
        callers=callers,
        unsure=unsure_branches(old, new),
        entries=diff_entries(old.deployment, new.deployment),
        definitions=diff_definitions(before, after),
        nodes=diff_nodes(before, after),
        edges=diff_edges(before, after),
    )
