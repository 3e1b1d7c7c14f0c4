"""Fuzzing of the YAML reader, the DSL reader and the condition language (hypothesis).

Each target gets structured inputs (the hospital's own files with random edits: a slice cut,
duplicated or replaced by a token of the language; conditions generated from the condition
grammar) and raw ones (any text). A case passes when the engine answers with diagnostics and
no other exception, and every diagnostic it gives has a position (a file, a line and a column
of at least 1). A flow file is read and then checked whole (`check_texts`: read, build,
validate, compile), beside the hospital's other files, so the builder and the rules see it too.

`make test` runs a fixed seed and few examples (tests/reliability); `make reliability` a random
seed for a bounded time. Every case stops at the budget: the rest of the examples are skipped.

    python -m reliability.fuzz [--quick] [--seed N]
"""

from __future__ import annotations

import argparse
import random
import re
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from reliability.common import ROOT, Figure, count, info, share, show
from routing_engine.api import check_texts
from routing_engine.core.conditions import compile_condition
from routing_engine.core.diagnostics import Diagnostic
from routing_engine.core.ir import Span
from routing_engine.core.nodes import Condition
from routing_engine.sources.dsl_reader import read_dsl
from routing_engine.sources.yaml_reader import read_yaml

YAML_DIR = ROOT / "examples" / "hospital"
DSL_DIR = ROOT / "examples" / "hospital-dsl"
FLOW = {".yaml": "flows/cardiology.yaml", ".flow": "flows/cardiology.flow"}
NASTY = [
    "\x00",
    "\t",
    "\r",
    "\ufeff",
    "\u2028",
    ":",
    "- ",
    "&a",
    "*a",
    "!!python/object",
    "{",
    "[",
    "'",
    '"',
    "#",
    "|",
    ">",
    "\\",
    "%",
    "@",
    "`",
    "  ",
    "\n",
    "-1e999",
    "0x",
    "é",
]


def deployment_texts(folder: Path) -> dict[str, str]:
    """The flow files of a deployment folder, by their name in it (scenarios left out), and
    the shared modules it uses (`flows/`) as `modules/NAME`: what `/v1/flows/validate` takes."""
    texts = {
        str(p.relative_to(folder)): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*"))
        if p.suffix in (".yaml", ".flow") and "scenarios" not in p.parts
    }
    modules = {
        f"modules/{p.name}": p.read_text(encoding="utf-8")
        for p in sorted((ROOT / "flows").glob("*.yaml"))
    }
    return texts | modules


def tokens(texts: dict[str, str]) -> list[str]:
    found = {w for text in texts.values() for w in re.findall(r"[A-Za-z_][\w.-]*|\S", text)}
    return sorted(found)


@st.composite
def edited(draw: st.DrawFn, texts: dict[str, str], vocabulary: list[str]) -> str:
    """One of the deployment's files with a few random edits."""
    text = draw(st.sampled_from(sorted(texts.values())))
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(text)))
        end = min(len(text), start + draw(st.integers(0, 40)))
        how = draw(st.sampled_from(("cut", "copy", "token", "nasty", "indent")))
        if how == "cut":
            text = text[:start] + text[end:]
        elif how == "copy":
            text = text[:start] + text[start:end] * draw(st.integers(2, 5)) + text[start:]
        elif how == "indent":
            text = text[:start] + " " * draw(st.integers(1, 9)) + text[start:]
        else:
            words = vocabulary if how == "token" else NASTY
            text = text[:start] + draw(st.sampled_from(words)) + text[end:]
    return text


def raw_text() -> st.SearchStrategy[str]:
    return st.text(st.characters(codec="utf-8"), max_size=400)


def conditions() -> st.SearchStrategy[str]:
    """Expressions of the condition language, mostly well formed, some not."""
    names = st.sampled_from(
        [
            "caller.region",
            "caller.country",
            "dialed",
            "vars.x",
            "attributes.vip",
            "call.attempts",
            "caller",
            "nope.deep.path",
        ]
    )
    literals = st.one_of(
        st.integers(-(10**18), 10**18).map(str),
        st.sampled_from(['"US-NY"', "'x'", "true", "false", "1.5", '""', '"\\n"', "-0"]),
    )
    calls = st.tuples(
        st.sampled_from(["available", "open", "holiday", "in_region", "len", "unknown_fn"]),
        st.sampled_from(['"er-nurse"', '"x"', ""]),
    )
    atom = st.one_of(names, literals, calls.map(lambda c: f"{c[0]}({c[1]})"))

    def grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        ops = st.sampled_from(["==", "!=", "<", ">=", "in", "not in", "has", "and", "or"])
        return st.one_of(
            st.tuples(inner, ops, inner).map(" ".join),
            inner.map(lambda x: f"not {x}"),
            inner.map(lambda x: f"({x})"),
            st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        )

    structured = st.recursive(atom, lambda inner: grow(inner), max_leaves=30)
    return st.one_of(
        structured,
        structured.map(lambda x: x[: len(x) // 2]),
        raw_text(),
        st.integers(1, 2000).map(lambda n: "(" * n + "1" + ")" * n),
    )


@dataclass(slots=True)
class Tally:
    """What one target's run found."""

    cases: int = 0
    crashes: list[str] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)
    diagnostics: int = 0

    def record(self, text: str, action: Callable[[], list[Diagnostic]]) -> None:
        self.cases += 1
        try:
            found = action()
        except Exception as error:  # the finding itself: what escaped the engine
            where = traceback.extract_tb(error.__traceback__)[-1]
            self.crashes.append(
                f"{type(error).__name__} at {Path(where.filename).name}:"
                f"{where.lineno} on {text[:60]!r}"
            )
            return
        self.diagnostics += len(found)
        for diagnostic in found:
            if not placed(diagnostic.span):
                self.unplaced.append(f"{diagnostic.code} {diagnostic.message[:60]}")


def placed(span: Span) -> bool:
    return bool(span.file) and span.line >= 1 and span.column >= 1


def read_and_check(suffix: str, base: dict[str, str]) -> Callable[[str], list[Diagnostic]]:
    """A flow file's text read by its reader, then checked whole in place of the example's."""
    reader = read_yaml if suffix == ".yaml" else read_dsl
    name = FLOW[suffix]

    def action(text: str) -> list[Diagnostic]:
        _documents, problems = reader(text, name)
        return [*problems, *check_texts({**base, name: text}).diagnostics]

    return action


def one_condition(text: str) -> list[Diagnostic]:
    _compiled, problems = compile_condition(Condition(text, Span("flows/x.yaml", 3, 11)))
    return problems


def fuzz(
    strategy: st.SearchStrategy[str],
    action: Callable[[str], list[Diagnostic]],
    examples: int,
    budget_s: float,
    seed: int | None,
) -> Tally:
    """Run `action` on up to `examples` inputs of `strategy`, for at most `budget_s`;
    `seed=None`: hypothesis's fixed derandomized run."""
    tally = Tally()
    stop_at = time.monotonic() + budget_s

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=seed is None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def case(text: str) -> None:
        if time.monotonic() < stop_at:
            tally.record(text, lambda: action(text))

    (hypothesis_seed(seed)(case) if seed is not None else case)()
    return tally


@cache
def targets() -> list[tuple[str, st.SearchStrategy[str], Callable[[str], list[Diagnostic]]]]:
    yaml_base, dsl_base = deployment_texts(YAML_DIR), deployment_texts(DSL_DIR)
    for base in (yaml_base, dsl_base):  # the edits start from a deployment that checks clean
        problems = [d for d in check_texts(base).diagnostics if d.is_error]
        if problems:
            raise RuntimeError(f"the fuzzing's base deployment has errors: {problems[0]}")
    return [
        (
            "YAML reader, edited files",
            edited(yaml_base, tokens(yaml_base)),
            read_and_check(".yaml", yaml_base),
        ),
        ("YAML reader, raw text", raw_text(), read_and_check(".yaml", yaml_base)),
        (
            "DSL reader, edited files",
            edited(dsl_base, tokens(dsl_base)),
            read_and_check(".flow", dsl_base),
        ),
        ("DSL reader, raw text", raw_text(), read_and_check(".flow", dsl_base)),
        ("condition language", conditions(), one_condition),
    ]


def run(quick: bool, seed: int | None = None, budget_s: float | None = None) -> list[Figure]:
    """Every target; `seed=None` in a quick run is the fixed seed of `make test`."""
    if seed is None and not quick:
        seed = random.SystemRandom().randrange(2**32)
    examples = 60 if quick else 5000
    budget = budget_s if budget_s is not None else (8.0 if quick else 20.0)
    figures = [info("fuzzing", "seed", "fixed (derandomized)" if seed is None else seed)]
    for name, strategy, action in targets():
        started = time.monotonic()
        tally = fuzz(strategy, action, examples, budget, seed)
        seconds = time.monotonic() - started
        figures += [
            info(name, "cases run (seconds)", f"{tally.cases} ({seconds:.0f} s)"),
            count(name, "crashes (an exception other than a diagnostic)", len(tally.crashes)),
            share(
                name,
                "diagnostics with a position (file, line, column)",
                tally.diagnostics - len(tally.unplaced),
                tally.diagnostics,
            ),
        ]
        figures += [info(name, "first crash", crash) for crash in tally.crashes[:3]]
        figures += [info(name, "a diagnostic without a position", d) for d in tally.unplaced[:3]]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int)
    arguments = parser.parse_args()
    show(run(arguments.quick, arguments.seed))


if __name__ == "__main__":
    main()
