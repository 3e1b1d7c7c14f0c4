"""Property tests: any flow, written in either syntax, converts to the other and back to the
same IR (hypothesis generates the flows)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing_engine.sources.build import build_documents
from routing_engine.sources.convert import convert_text
from routing_engine.sources.dsl_reader import read_dsl
from routing_engine.sources.writers import write_dsl, write_yaml
from routing_engine.sources.yaml_reader import read_yaml

IDS = st.sampled_from(["start", "a", "b-2", "c.d", "e_e", "front-desk"])
NAMES = st.sampled_from(["desk", "office", "nurse", "offshore-center", "$office", "after"])
TEXT = st.text(
    alphabet=st.characters(
        codec="utf-8", categories=["L", "N", "P", "S", "Zs"], exclude_characters="\x85"
    ),
    min_size=1,
    max_size=40,
).filter(lambda t: t.strip() == t and "  " not in t)
DURATION = st.sampled_from(["2 rings", "20s", "5s", "15m", "1h", "90 seconds", "1.5m"])
CONDITION = st.sampled_from(
    [
        'caller.state == "NY"',
        'vars.tries >= 2 and not holiday("office")',
        'available("desk")',
        'caller.type in ["toll-free", "international"]',
        "dialed == '+12125550100' or vars.vip",
        '(caller.region != "US-NY") and attributes.tags has "vip"',
    ]
)


ESCALATE = st.lists(
    st.fixed_dictionaries(
        {"after": DURATION, "notify": st.one_of(NAMES, st.lists(NAMES, min_size=1, max_size=2))}
    ),
    max_size=3,
)


def node() -> st.SearchStrategy[dict[str, Any]]:
    targets = st.lists(NAMES, min_size=1, max_size=3, unique=True)
    on = st.dictionaries(
        st.sampled_from(["no-answer", "busy", "failed", "answered"]), IDS, max_size=3
    )
    return st.one_of(
        st.fixed_dictionaries(
            {
                "menu": TEXT,
                "options": st.dictionaries(
                    st.sampled_from(["1", "2", "0", "*", "#", "12"]), IDS, min_size=1, max_size=4
                ),
                "fallback": IDS,
            },
            optional={"retries": st.sampled_from(["0", "2", "9"]), "timeout": DURATION},
        ),
        st.fixed_dictionaries(
            {"ring": targets},
            optional={
                "timeout": DURATION,
                "strategy": st.sampled_from(["sequential", "simultaneous"]),
                "on": on,
                "reports": st.lists(st.sampled_from(["handled", "needs-office"]), unique=True),
            },
        ),
        st.fixed_dictionaries(
            {"queue": NAMES, "max_wait": DURATION},
            optional={
                "skills": st.lists(st.sampled_from(["billing", "triage"]), unique=True),
                "priority": st.sampled_from(["0", "5"]),
                "on": on,
            },
        ),
        st.fixed_dictionaries(
            {
                "branch": st.lists(
                    st.fixed_dictionaries({"when": CONDITION, "then": IDS}), min_size=1, max_size=3
                ),
                "else": IDS,
            }
        ),
        st.fixed_dictionaries(
            {"hours": NAMES, "open": IDS, "closed": IDS}, optional={"holiday": IDS}
        ),
        st.fixed_dictionaries({"say": TEXT}, optional={"next": IDS}),
        st.fixed_dictionaries(
            {
                "set": st.dictionaries(
                    st.sampled_from(["lang", "tries", "vip"]),
                    st.sampled_from(["en", "2", "true", "x y"]),
                    min_size=1,
                ),
                "next": IDS,
            }
        ),
        st.fixed_dictionaries(
            {"ticket": NAMES},
            optional={
                "sla": DURATION,
                "summary": TEXT,
                "next": IDS,
                "managers": st.lists(NAMES, max_size=2, unique=True),
                "escalate": ESCALATE,
            },
        ),
        st.fixed_dictionaries(
            {"voicemail": NAMES},
            optional={
                "prompt": TEXT,
                "max_length": DURATION,
                "sla_from": NAMES,
                "escalate": ESCALATE,
            },
        ),
        st.fixed_dictionaries(
            {"use": st.sampled_from(["office-ringover", "pick"])},
            optional={
                "with": st.dictionaries(
                    st.sampled_from(["office", "rings", "name"]),
                    st.sampled_from(["desk", "2 rings", "the desk"]),
                ),
                "exits": st.dictionaries(st.sampled_from(["done", "nobody"]), IDS),
            },
        ),
        st.fixed_dictionaries({"hangup": st.one_of(st.none(), TEXT)}),
    )


FLOWS = st.builds(
    lambda name, description, limit, nodes: {
        "flow": name,
        **({"description": description} if description else {}),
        **({"resolve_within": limit[0], "notify": limit[1]} if limit else {}),
        "start": next(iter(nodes)),
        "nodes": nodes,
    },
    st.sampled_from(["main", "billing", "er"]),
    st.one_of(st.none(), TEXT),
    st.one_of(st.none(), st.tuples(DURATION, st.lists(NAMES, min_size=1, max_size=2))),
    st.dictionaries(IDS, node(), min_size=1, max_size=6),
)


def meaning(text: str, file: str) -> tuple[object, ...]:
    reader = read_yaml if file.endswith(".yaml") else read_dsl
    documents, problems = reader(text, file)
    assert problems == [], (problems, text)
    built = build_documents(documents)
    return built.flows, [(d.code, d.message) for d in built.diagnostics]


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(FLOWS)
def test_yaml_to_dsl_to_yaml_keeps_the_ir(flow: dict[str, Any]) -> None:
    yaml_text = write_yaml([flow])
    original = meaning(yaml_text, "a.yaml")
    dsl, problems = convert_text(yaml_text, "a.yaml", "yaml", "dsl")
    assert dsl is not None, problems
    assert meaning(dsl, "b.flow") == original, dsl
    back, problems = convert_text(dsl, "b.flow", "dsl", "yaml")
    assert back is not None, problems
    assert meaning(back, "c.yaml") == original


@SETTINGS
@given(FLOWS)
def test_dsl_to_yaml_to_dsl_keeps_the_ir(flow: dict[str, Any]) -> None:
    dsl_text = write_dsl([flow])
    original = meaning(dsl_text, "a.flow")
    yaml_text, problems = convert_text(dsl_text, "a.flow", "dsl", "yaml")
    assert yaml_text is not None, problems
    assert meaning(yaml_text, "b.yaml") == original, yaml_text
    back, problems = convert_text(yaml_text, "b.yaml", "yaml", "dsl")
    assert back is not None, problems
    assert meaning(back, "c.flow") == original
    assert convert_text(back, "c.flow", "dsl", "dsl")[0] == back  # canonical: a fixed point
