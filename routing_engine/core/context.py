"""What every rule sees: the deployment, its name index and graph, compiled conditions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from routing_engine.core import ir
from routing_engine.core.analysis import Index, NodeKey, build_graph, build_index
from routing_engine.core.conditions import CompiledCondition, compile_condition
from routing_engine.core.diagnostics import Diagnostic
from routing_engine.core.schedules import CompiledSchedule, ScheduleError, compile_schedule


@dataclass(slots=True)
class Context:
    deployment: ir.Deployment
    index: Index
    graph: nx.MultiDiGraph[Any]
    # branch conditions compiled once: (flow, node, case number) -> closure, or the problems
    conditions: dict[tuple[str, str, int], CompiledCondition] = field(default_factory=dict)
    condition_problems: list[Diagnostic] = field(default_factory=list)
    # schedules compiled once: name -> schedule, or the reason it could not be
    schedules: dict[str, CompiledSchedule] = field(default_factory=dict)
    schedule_problems: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, deployment: ir.Deployment) -> Context:
        index = build_index(deployment)
        context = cls(deployment, index, build_graph(index))
        for (flow, node_id), node in index.nodes.items():
            if isinstance(node, ir.Branch):  # keyed by the node's key: a module's copies differ
                for i, case in enumerate(node.cases):
                    compiled, problems = compile_condition(case.when)
                    if compiled is not None:
                        context.conditions[(flow, node_id, i)] = compiled
                    context.condition_problems.extend(problems)
        for schedule in deployment.schedules:
            try:
                context.schedules.setdefault(schedule.name, compile_schedule(schedule))
            except ScheduleError as error:
                context.schedule_problems.setdefault(schedule.name, str(error))
        return context

    def flow_nodes(self) -> list[tuple[NodeKey, ir.Node]]:
        return list(self.index.nodes.items())
