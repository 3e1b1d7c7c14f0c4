"""Diagrams: every node drawn, clusters per flow and module use, a highlighted path."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from conftest import run_cli

from routing_engine import LoadedDeployment
from routing_engine.core.analysis import build_index
from routing_engine.review.render import build, path_from_trace, render, render_with_timeout

AT = "2026-11-23T10:00:00-05:00"


def test_the_svg_is_valid_and_holds_every_node_of_the_flow(hospital: LoadedDeployment) -> None:
    index = build_index(hospital.compiled.deployment)
    svg = render(build(index, ["billing"]), "svg")
    root = ET.fromstring(svg)  # well-formed XML
    titles = {el.text for el in root.iter("{http://www.w3.org/2000/svg}title")}
    billing_nodes = {f"billing/{node_id}" for flow, node_id in index.nodes if flow == "billing"}
    assert billing_nodes <= titles
    assert "cluster_billing" in titles and "cluster_billing_new-york" in titles
    assert "ivr/main-menu" not in titles  # only the flow asked for


def test_a_calls_path_is_drawn_bold(hospital: LoadedDeployment) -> None:
    state, _ = hospital.start_call(
        {"call_id": "c", "from": "+12125550123", "to": "+12125550140", "at": AT}
    )
    state, _ = hospital.apply_event(
        state, {"event_id": "e", "seq": 1, "type": "dial.no-answer", "at": AT}
    )
    index = build_index(hospital.compiled.deployment)
    path = path_from_trace(index, state["trace"])
    assert path[0] == ("@entry", "+12125550140")
    assert ("billing", "new-york.ring-overflow") in path
    graph = build(index, ["billing"], path)
    bold = {
        (str(a), str(b))
        for a, b in graph.edges()
        if graph.get_edge(a, b).attr["color"] == "#d62728"
    }
    assert ("billing/new-york.ring-office", "billing/new-york.ring-overflow") in bold
    assert ("billing/route-by-state", "billing/new-york") in bold
    assert not any("central" in a or "central" in b for a, b in bold)


def test_render_in_a_worker_with_a_time_limit(hospital: LoadedDeployment) -> None:
    graph = build(build_index(hospital.compiled.deployment), ["er"])
    assert render_with_timeout(graph, "svg", 60).startswith(b"<?xml")


def test_the_cli_draws_png_svg_and_dot(tmp_path: Path) -> None:
    png = tmp_path / "h.png"
    result = run_cli("render", "examples/hospital", "--format", "png", "-o", str(png))
    assert result.returncode == 0, result.stderr
    assert png.read_bytes().startswith(b"\x89PNG")
    simulated = run_cli(
        "simulate",
        "examples/hospital",
        "--from",
        "+12125550123",
        "--to",
        "+12125550111",
        "--at",
        AT,
        "--event",
        "digits:3",
        "--format",
        "json",
    )
    call = tmp_path / "call.json"
    call.write_text(simulated.stdout)
    dot = run_cli("render", "examples/hospital", "--format", "dot", "--highlight", str(call))
    assert dot.returncode == 0 and "#d62728" in dot.stdout
    assert json.loads(simulated.stdout)["state"]["flow"] == "billing"
    bad = run_cli("render", "examples/hospital", "--flow", "nope")
    assert bad.returncode == 2 and "no flow nope" in bad.stderr


def test_the_hospital_diagram_is_current(hospital: LoadedDeployment) -> None:
    """examples/hospital/diagram.svg was drawn from today's deployment (`make diagram`)."""
    from conftest import HOSPITAL

    from routing_engine.review.render import source_hash, stamp_of

    svg = (HOSPITAL / "diagram.svg").read_bytes()
    graph = build(build_index(hospital.compiled.deployment))
    assert stamp_of(svg) == source_hash(str(graph.string())), (
        "diagram.svg is stale: run `make diagram`"
    )
    assert b"<svg" in svg


NESTED = {
    "deployment.yaml": """
        deployment: nested
        fallback: {ring: desk}
        modules: [modules]
        entries:
          "+12125550100": main
        targets:
          desk: {uri: "sip:desk@example.com"}
    """,
    "main.yaml": """
        flow: main
        start: front
        nodes:
          front:
            use: outer
            exits: {done: bye}
          bye:
            hangup: done
    """,
    "modules/outer.yaml": """
        module: outer
        exits: [done]
        start: greet
        nodes:
          greet:
            say: Hello.
            next: middle
          middle:
            use: inner
            exits: {over: done}
    """,
    "modules/inner.yaml": """
        module: inner
        exits: [over]
        start: ring
        nodes:
          ring:
            ring: desk
            on: {no-answer: over}
    """,
}


def test_a_use_inside_a_module_is_a_cluster_inside_the_uses_cluster(tmp_path: Path) -> None:
    from conftest import write_files

    from routing_engine import load_deployment

    loaded = load_deployment(write_files(tmp_path / "nested", NESTED))
    graph = build(build_index(loaded.compiled.deployment))
    flow = graph.get_subgraph("cluster_main")
    outer = flow.get_subgraph("cluster_main_front")
    inner = outer.get_subgraph("cluster_main_front.middle")
    assert [s.name for s in flow.subgraphs()] == ["cluster_main_front"]  # not a sibling
    assert set(inner.nodes()) == {"main/front.middle.ring"}
    assert set(outer.nodes()) >= {"main/front.greet", "main/front.middle"}
    assert graph.get_subgraph("cluster_main_front.middle") is None
    # Drawn: the inner cluster's box lies inside the outer's, which lies inside the flow's.
    svg = ET.fromstring(render(graph, "svg"))
    boxes = _cluster_boxes(svg)
    assert _inside(boxes["cluster_main_front.middle"], boxes["cluster_main_front"])
    assert _inside(boxes["cluster_main_front"], boxes["cluster_main"])


SVG = "{http://www.w3.org/2000/svg}"


def _cluster_boxes(svg: ET.Element) -> dict[str, tuple[float, float, float, float]]:
    """Each cluster's bounding box (min x, min y, max x, max y) from its outline's points."""
    boxes = {}
    for group in svg.iter(f"{SVG}g"):
        if group.get("class") != "cluster":
            continue
        title = group.find(f"{SVG}title")
        outline = group.find(f"{SVG}path")
        if outline is None:
            outline = group.find(f"{SVG}polygon")
        assert title is not None and outline is not None
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", _outline_points(outline))]
        xs, ys = numbers[0::2], numbers[1::2]
        boxes[str(title.text)] = (min(xs), min(ys), max(xs), max(ys))
    return boxes


def _outline_points(outline: ET.Element) -> str:
    return outline.get("points") or outline.get("d") or ""


def _inside(
    inner: tuple[float, float, float, float], outer: tuple[float, float, float, float]
) -> bool:
    return (
        inner[0] > outer[0] and inner[1] > outer[1] and inner[2] < outer[2] and inner[3] < outer[3]
    )
