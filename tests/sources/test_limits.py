"""Flow-file limits (`sources/limits.py`): what a file or a deployment may make the readers
build, counted while reading; a hostile file is refused where it crosses a limit, quickly and
with memory bounded by its size; a file's diagnostics are capped with one "and N more"."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import copy_hospital, write_files

from benchmarks.scale import generate
from routing_engine import check
from routing_engine.api import CheckResult
from routing_engine.core.diagnostics import (
    MAX_PER_FILE,
    Diagnostic,
    Omitted,
    Severity,
    capped,
    summary_line,
)
from routing_engine.core.ir import Span
from routing_engine.sources import loader
from routing_engine.sources.dsl_reader import read_dsl
from routing_engine.sources.limits import (
    MAX_DEPLOYMENT_BYTES,
    MAX_DEPLOYMENT_NODES,
    MAX_DOCUMENTS_PER_FILE,
    MAX_FILE_BYTES,
    MAX_KEYS_PER_FILE,
    MAX_NODES_PER_FILE,
)
from routing_engine.sources.loader import load_sources, texts_to_sources
from routing_engine.sources.yaml_reader import read_yaml

# The probe's inputs (issue 17): valid or nearly valid YAML that costs far more to read than
# its size suggests.
PROBES = {
    "a million empty documents in 4 MiB": "---\n" * 1_000_000,
    "229k keys in 3.7 MB": "".join(f"k{i:08d}: vvvv\n" for i in range(229_000)),
    "100k duplicate keys": "a: 1\n" * 100_000,
}


def fastest(work: Callable[[], CheckResult], runs: int = 2) -> tuple[float, CheckResult]:
    """The shortest of `runs` timings (noise on a shared machine only ever adds time)."""
    best, result = float("inf"), None
    for _ in range(runs):
        began = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - began)
    assert result is not None
    return best, result


@pytest.fixture(scope="module")
def normal_seconds(tmp_path_factory: pytest.TempPathFactory) -> float:
    """How long checking a normal deployment takes here: the scale benchmark's generated
    deployment of 2,000 nodes (20 flows of 100, about the hospital's size in bytes)."""
    folder = tmp_path_factory.mktemp("normal")
    generate(folder, 2_000)
    seconds, result = fastest(lambda: check(folder))
    assert result.ok, result.diagnostics[:3]
    return seconds


@pytest.mark.parametrize("probe", PROBES)
def test_the_probes_are_refused_quickly_with_memory_bounded_by_their_size(
    probe: str, normal_seconds: float, tmp_path: Path
) -> None:
    text = PROBES[probe]
    assert len(text.encode()) <= MAX_FILE_BYTES  # inside the size cap: only counting stops it
    deployment = copy_hospital(tmp_path)
    (deployment / "flows" / "hostile.yaml").write_text(text, "utf-8")
    seconds, result = fastest(lambda: check(deployment))
    refused = [d for d in result.diagnostics if d.code == "S101"]
    assert len(refused) == 1 and refused[0].span.file.endswith("hostile.yaml"), refused
    assert len(result.diagnostics) <= MAX_PER_FILE + 1 and result.compiled is None
    # refusing it costs less than checking a normal deployment: it stops at the limit
    assert seconds < normal_seconds, (seconds, normal_seconds)
    tracemalloc.start()  # over the reading, where a few bytes become hundreds
    try:
        load_sources(deployment)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the file is held a few times over (its bytes, its text) with what was built before the
    # limit; before the limits, checking these files took 128 to 312 times their size
    assert peak < 10 * len(text), f"{peak / len(text):.1f} x the input"


def test_each_limit_of_a_yaml_file_is_refused_where_it_is_crossed() -> None:
    documents = "---\n" * MAX_DOCUMENTS_PER_FILE
    assert read_yaml(documents, "f.yaml")[1] == []  # at the limit: read
    _, found = read_yaml(documents + "---\n", "f.yaml")
    assert [(d.code, d.span.line, d.span.column) for d in found] == [
        ("S101", MAX_DOCUMENTS_PER_FILE + 1, 1)
    ]
    assert f"more than {MAX_DOCUMENTS_PER_FILE:,} documents" in found[0].message

    keys = "".join(f"k{i}:\n" for i in range(MAX_KEYS_PER_FILE + 1))
    assert read_yaml(keys[: keys.rindex("k")], "f.yaml")[1] == []
    _, found = read_yaml(keys, "f.yaml")
    assert [(d.code, d.span.line, d.span.column) for d in found] == [
        ("S101", MAX_KEYS_PER_FILE + 1, 1)
    ]
    assert "keys in one file" in found[0].message and "hostile" in found[0].hint

    values = "[" + "a, " * MAX_NODES_PER_FILE + "b]"  # the list itself is a value too
    _, found = read_yaml(values, "f.yaml")
    column = 2 + 3 * (MAX_NODES_PER_FILE - 1)  # the last 'a', the limit's value plus one
    assert [(d.code, d.span.line, d.span.column) for d in found] == [("S101", 1, column)]
    assert "values in one file" in found[0].message


def test_each_limit_of_a_dsl_file_is_refused_where_it_is_crossed() -> None:
    _, found = read_dsl("flow a\n" * (MAX_DOCUMENTS_PER_FILE + 5), "f.flow")
    assert [(d.code, d.span.line, d.span.column) for d in found] == [
        ("S101", MAX_DOCUMENTS_PER_FILE + 1, 1)
    ]
    statements = "flow a\n" + "  x: hangup\n" * MAX_KEYS_PER_FILE
    _, found = read_dsl(statements, "f.flow")
    assert [(d.code, d.span.line, d.span.column) for d in found] == [
        ("S101", MAX_KEYS_PER_FILE + 1, 3)
    ]
    listed = "deployment a\n  target t\n    skills " + "a," * MAX_NODES_PER_FILE + "a\n"
    _, found = read_dsl(listed, "f.flow")
    assert [(d.code, d.span.line, d.span.column) for d in found] == [("S101", 3, 5)]
    assert "values in one file" in found[0].message
    # a value of many words: each word would be a token of the parser (a million took minutes)
    worded = "deployment a\n  ring_cadence " + "x " * 1_000_000 + "\n"
    _, found = read_dsl(worded, "f.flow")
    assert [(d.code, d.span.line, d.span.column) for d in found] == [("S101", 2, 3)]


def test_a_files_diagnostics_are_capped_with_one_and_n_more(tmp_path: Path) -> None:
    duplicates = 15_000  # under the key limit: every one is a real S107
    text = "deployment: t\nfallback:\n  ring: d\n" + "x: 1\n" * duplicates
    found = read_yaml(text, "f.yaml")[1]
    assert len(found) == MAX_PER_FILE + 1
    assert {d.code for d in found[:-1]} == {"S107"}
    more = found[-1]
    assert (more.code, more.severity, more.span.line) == ("S116", Severity.ERROR, 4 + 101)
    assert f"and {duplicates - 1 - MAX_PER_FILE:,} more" in more.message
    # and through a whole check, with the builder's diagnostics for the same file counted in
    write_files(tmp_path, {"deployment.yaml": text})
    result = check(tmp_path)
    per_file = [d for d in result.diagnostics if d.span.file.endswith("deployment.yaml")]
    assert len(per_file) == MAX_PER_FILE + 1 and per_file[-1].code == "S116"


def test_capping_folds_every_files_rest_into_one_diagnostic() -> None:
    def problem(file: str, line: int, severity: Severity = Severity.ERROR) -> Diagnostic:
        return Diagnostic("S103", severity, "x", Span(file, line, 1))

    many = [problem("a", line) for line in range(1, 8)] + [problem("b", 1)]
    reader = Omitted("S116", Severity.ERROR, "and 10 more", Span("a", 3, 1), "", 10)
    found = capped([*many, reader], limit=3)
    assert [(d.code, d.span.file, d.span.line) for d in found] == [
        ("S103", "a", 1),
        ("S103", "a", 2),
        ("S103", "a", 3),
        ("S116", "a", 3),
        ("S103", "b", 1),
    ]
    assert isinstance(found[3], Omitted) and found[3].count == 4 + 10
    assert summary_line(found) == "18 error(s), 0 warning(s)"  # the ones left out counted
    assert "and 14 more" in found[3].message
    warnings = capped([problem("c", line, Severity.WARNING) for line in range(5)], limit=2)
    assert warnings[-1].severity is Severity.WARNING  # only warnings left out: a warning
    assert capped(many[:2]) == many[:2]


def test_a_deployments_bytes_are_limited_module_folders_included(tmp_path: Path) -> None:
    comment = "#" + "x" * (MAX_FILE_BYTES - 2) + "\n"  # a file at the size cap, holding nothing
    files = MAX_DEPLOYMENT_BYTES // len(comment)  # and deployment.yaml's few bytes cross it
    own, library = files // 2, files - files // 2
    folder = write_files(
        tmp_path / "d",
        {"deployment.yaml": "deployment: t\nmodules: [../lib]\nfallback:\n  ring: d\n"},
    )
    for i in range(own):
        (folder / f"big{i}.yaml").write_text(comment)
    (tmp_path / "lib").mkdir()
    for i in range(library):
        (tmp_path / "lib" / f"lib{i}.yaml").write_text(comment)
    sources = load_sources(folder)
    refused = [d for d in sources.diagnostics if d.code == "S101"]
    assert len(refused) == 1 and sources.documents == [] and sources.refused
    assert Path(refused[0].span.file).name == f"lib{library - 1}.yaml"  # the last one
    assert (refused[0].span.line, refused[0].span.column) == (1, 1)
    assert f"over {MAX_DEPLOYMENT_BYTES:,} bytes" in refused[0].message
    # the same as file texts (a publish): refused at the file that crosses, the rest not read
    texts = {f"f{i:02d}.yaml": comment for i in range(files + 2)}
    sent = texts_to_sources(texts)
    assert [(d.code, d.span.file) for d in sent.diagnostics] == [("S101", f"f{files:02d}.yaml")]
    assert len(sent.texts) == files


def test_a_deployments_values_are_limited_where_they_cross(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a small limit, as reaching the real one takes two million values
    monkeypatch.setattr(loader, "MAX_DEPLOYMENT_NODES", 9)
    write_files(
        tmp_path,
        {
            "a.yaml": "deployment: t\nfallback:\n  ring: d\n",  # 4 values: the mapping, 3
            "b.yaml": "flow: f\nstart: s\nnodes:\n  s:\n    hangup: bye\n",  # 6: the 10th
        },
    )
    sources = load_sources(tmp_path)
    assert [(d.code, Path(d.span.file).name, d.span.line, d.span.column) for d in
            sources.diagnostics] == [("S101", "b.yaml", 5, 13)]  # fmt: skip
    assert "over 9 values" in sources.diagnostics[0].message
    assert sources.documents == []
    assert not check(tmp_path).ok


def test_the_scale_benchmarks_largest_deployment_is_well_within_the_limits(
    tmp_path: Path,
) -> None:
    nodes = generate(tmp_path, 100_000)
    assert nodes > 99_000
    files = sorted(tmp_path.rglob("*.yaml"))
    size = sum(file.stat().st_size for file in files)
    flow = tmp_path / "flows" / "f0.yaml"  # every flow file has the same shape
    counts = {}
    for file in (tmp_path / "deployment.yaml", flow):
        documents, problems = read_yaml(file.read_text(), str(file))
        assert problems == []
        counts[file.name] = sum(len(doc.value_spans) for doc in documents)
    values = counts["deployment.yaml"] + counts["f0.yaml"] * (len(files) - 1)
    assert size * 3 < MAX_DEPLOYMENT_BYTES and values * 2 < MAX_DEPLOYMENT_NODES
    assert max(counts.values()) * 10 < MAX_NODES_PER_FILE
