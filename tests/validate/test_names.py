"""Every name resolves: an unknown name of every kind (flow, node, module, parameter, exit,
target, contact, schedule, board) is an error at the name, with the closest real name, in both
syntaxes. The seeded deployments are `fixtures/unknown-names` (YAML) and
`fixtures/unknown-names-dsl` (the same mistakes in the DSL)."""

from __future__ import annotations

import pytest
from conftest import FIXTURES

from routing_engine import check

# Each mistake: its code, then where it is in the YAML and in the DSL (file, line, column), then
# the hint that must come with it.
MISTAKES = [
    ("fallback ring desck", "S108", ("deployment", 6, 9), ("deployment", 6, 10), "'desk'"),
    ("entry -> mian", "S108", ("deployment", 8, 19), ("deployment", 7, 25), "'main'"),
    ("flow notify dutymanager", "S108", ("main", 3, 9), ("main", 3, 10), "'duty-manager'"),
    ("start welcom", "S108", ("main", 4, 8), ("main", 4, 9), "'welcome'"),
    ("option -> ring-ofice", "S108", ("main", 9, 12), ("main", 6, 10), "'ring-office'"),
    ("menu fallback goodby", "S108", ("main", 12, 15), ("main", 9, 17), "'goodbye'"),
    ("ring ofice", "S108", ("main", 14, 11), ("main", 10, 21), "'office'"),
    ("prefer skills billng", "S108", ("main", 16, 16), ("main", 13, 14), "'billing'"),
    ("no-answer -> mesage", "S108", ("main", 18, 18), ("main", 11, 18), "'message'"),
    ("queue pol", "S108", ("main", 20, 12), ("main", 14, 15), "'pool'"),
    ("hours office-hour", "S108", ("main", 25, 12), ("main", 16, 16), "'office-hours'"),
    ('open("ofice-hours")', "S108", ("main", 30, 21), ("main", 20, 16), "'office-hours'"),
    ("ticket cardiolgy", "S108", ("main", 34, 13), ("main", 22, 16), "'cardiology'"),
    ("sla_from office-hour", "S108", ("main", 36, 15), ("main", 24, 14), "'office-hours'"),
    ("managers manger", "S108", ("main", 37, 15), ("main", 25, 14), "'manager'"),
    ("escalate notify duty-manger", "S108", ("main", 40, 17), ("main", 26, 30), "'duty-manager'"),
    ("voicemail front-dsk", "S108", ("main", 43, 16), ("main", 27, 22), "'front-desk'"),
    ("use ofice-visit", "S108", ("main", 45, 10), ("main", 28, 15), "'office-visit'"),
    ("board default frontdesk", "S108", ("module", 7, 14), ("module", 4, 29), "'front-desk'"),
    ("$manger, undeclared", "S114", ("module", 17, 15), ("module", 9, 14), "'manager'"),
    ("module next don", "S108", ("module", 18, 11), ("module", 8, 26), "'done'"),
    ("with ofice", "S114", ("other", 7, 7), ("other", 3, 5), "'office'"),
    ("a target given a contact", "S108", ("other", 8, 15), ("other", 4, 14), "is a contact"),
    ("board = cardiolgy", "S108", ("other", 9, 14), ("other", 5, 13), "'cardiology'"),
    ("exit dnoe", "S114", ("other", 13, 7), ("other", 8, 5), "'done'"),
]


@pytest.mark.parametrize(
    ("folder", "suffix", "side"), [("unknown-names", "yaml", 2), ("unknown-names-dsl", "flow", 3)]
)
def test_an_unknown_name_of_every_kind_is_reported_at_the_name_with_the_closest(
    folder: str, suffix: str, side: int
) -> None:
    result = check(FIXTURES / folder)
    found = {
        (d.code, d.span.file.rsplit("/", 1)[-1], d.span.line, d.span.column): d
        for d in result.diagnostics
    }
    assert len(found) == len(result.diagnostics), "one problem, one diagnostic"
    expected = {}
    for mistake in MISTAKES:
        file, line, column = mistake[side]  # type: ignore[misc]
        expected[(mistake[1], f"{file}.{suffix}", line, column)] = mistake
    assert sorted(found) == sorted(expected)
    for key, (what, *_, hint) in expected.items():
        assert hint in found[key].hint, (what, found[key].hint)


@pytest.mark.parametrize(
    ("path", "declared", "hint"),
    [
        (
            "deployment.yaml",
            "boards:\n  billing:\n    name: Billing office\n",
            "did you mean 'billing'?",
        ),
        ("deployment.yaml", "", "declare this one: boards: {bililng: {name: DISPLAY NAME}}"),
        ("deployment.flow", '  board billing "Billing office"\n', "did you mean 'billing'?"),
        ("deployment.flow", "", 'declare this one in it: board bililng "DISPLAY NAME"'),
    ],
)
def test_a_board_must_be_declared_and_the_hint_says_how(
    tmp_path, path: str, declared: str, hint: str
) -> None:
    from conftest import write_files

    yaml_side = path.endswith(".yaml")
    deployment = (
        "deployment: d\nfallback: {ring: desk}\nentries: {'+12125550100': main}\n"
        "targets: {desk: {uri: 'sip:desk@example.com'}}\n"
        if yaml_side
        else "deployment d\n  fallback\n    ring desk\n  entry +12125550100 -> main\n"
        "  target desk\n    uri sip:desk@example.com\n"
    )
    flow = (
        "flow: main\nstart: note\nnodes:\n  note:\n    ticket: bililng\n    next: bye\n"
        "  bye: {hangup: }\n"
        if yaml_side
        else "flow main\n  note: ticket bililng -> bye\n  bye: hangup\n"
    )
    main = "main.yaml" if yaml_side else "main.flow"
    root = write_files(tmp_path, {path: deployment + declared, main: flow})
    (problem,) = check(root).diagnostics
    assert (problem.code, problem.message) == (
        "S108",
        "no board named 'bililng' (in ticket node 'note')",
    )
    assert (problem.span.line, problem.span.column) == ((5, 13) if yaml_side else (2, 16))
    assert hint in problem.hint


def test_a_value_a_module_passes_on_to_another_is_reported_once_where_it_was_given(
    tmp_path,
) -> None:
    """office-ringover passes its board on to after-hours-voicemail (`board: $board`): a typo in
    the hospital's cardiology flow is reported there, once, not in the shared modules."""
    import shutil

    from conftest import ROOT

    hospital = tmp_path / "examples" / "hospital"
    shutil.copytree(ROOT / "examples" / "hospital", hospital)
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    cardiology = hospital / "flows" / "cardiology.yaml"
    text = cardiology.read_text(encoding="utf-8")
    cardiology.write_text(text.replace("board: cardiology", "board: cardiolgy"), encoding="utf-8")
    (problem,) = check(hospital).diagnostics
    assert (problem.code, problem.span.file, problem.span.line, problem.span.column) == (
        "S108",
        str(cardiology),
        13,
        14,
    )
    assert problem.hint == "did you mean 'cardiology'?"
