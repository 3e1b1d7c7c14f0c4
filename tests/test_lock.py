"""The hashed locks (requirements.lock, requirements-dev.lock) against pyproject.toml and against
what is installed: a dependency added or a range moved without `make upgrade` (scripts/lock.sh)
fails here, and so does an environment that runs other versions than the lock says."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

RUNTIME_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"


@dataclass(frozen=True)
class Pin:
    name: str  # canonical
    version: Version
    hashes: tuple[str, ...]


def read_lock(path: Path) -> dict[str, Pin]:
    """{canonical name: Pin} from a pip-compile file: `name==version \\` and `--hash=` lines."""
    text = path.read_text(encoding="utf-8")
    entries = re.sub(r"\\\n", " ", text)  # one line per requirement
    pins: dict[str, Pin] = {}
    for line in entries.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        words = line.split()
        requirement = Requirement(words[0])
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", (
            f"{path.name}: {words[0]} is not pinned with =="
        )
        hashes = tuple(w.removeprefix("--hash=") for w in words[1:] if w.startswith("--hash="))
        name = canonicalize_name(requirement.name)
        assert name not in pins, f"{path.name}: {name} is pinned twice"
        pins[name] = Pin(name, Version(specifiers[0].version), hashes)
    return pins


@cache
def runtime_pins() -> dict[str, Pin]:
    return read_lock(RUNTIME_LOCK)


@cache
def dev_pins() -> dict[str, Pin]:
    return read_lock(DEV_LOCK)


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def declared(section: str) -> list[Requirement]:
    data = pyproject()
    if section == "dependencies":
        texts = data["project"]["dependencies"]
    elif section == "build-system":
        texts = data["build-system"]["requires"]
    else:
        texts = data["project"]["optional-dependencies"][section]
    return [Requirement(text) for text in texts]


def applies(requirement: Requirement, extras: frozenset[str] = frozenset()) -> bool:
    """Whether a requirement's marker holds on this machine (CPython 3.11 on Linux)."""
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in extras or {""})


def check_declared(requirements: list[Requirement], pins: dict[str, Pin], lock: str) -> None:
    problems = []
    for requirement in requirements:
        if not applies(requirement):
            continue
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None:
            problems.append(f"{requirement} is not in {lock}")
        elif not requirement.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{requirement} is pinned at {pin.version} in {lock}")
    assert not problems, "run `make upgrade` (or scripts/lock.sh): " + "; ".join(problems)


# ---- (a) what pyproject.toml declares is pinned, within its range, in the right lock ----


def test_the_dependencies_and_the_build_backend_are_pinned_in_both_locks() -> None:
    for lock, pins in ((RUNTIME_LOCK.name, runtime_pins()), (DEV_LOCK.name, dev_pins())):
        check_declared(declared("dependencies"), pins, lock)
        check_declared(declared("build-system"), pins, lock)


@pytest.mark.parametrize("extra", sorted(pyproject()["project"]["optional-dependencies"]))
def test_every_extra_is_pinned_in_the_dev_lock(extra: str) -> None:
    # `make test`, `make check` and `make bench` all run on the dev lock
    check_declared(declared(extra), dev_pins(), DEV_LOCK.name)


def test_a_requirement_outside_the_lock_or_its_range_is_caught() -> None:
    pins = {"lark": Pin("lark", Version("1.2.2"), ("sha256:0",))}
    with pytest.raises(AssertionError, match=re.escape("lark>=1.3 is pinned at 1.2.2")):
        check_declared([Requirement("lark>=1.3")], pins, "x.lock")
    with pytest.raises(AssertionError, match=re.escape("new-thing is not in x.lock")):
        check_declared([Requirement("new-thing")], pins, "x.lock")
    check_declared([Requirement("lark>=1.2"), Requirement("other; python_version<'3'")], pins, "")


def test_each_lock_holds_every_dependency_of_what_it_pins() -> None:
    """Closed under dependencies, extras included (uvicorn[standard]): an install with
    --require-hashes needs every one of them pinned and hashed."""
    for lock, pins in ((RUNTIME_LOCK.name, runtime_pins()), (DEV_LOCK.name, dev_pins())):
        sections = ["dependencies", "build-system"] + (["dev"] if lock == DEV_LOCK.name else [])
        todo = [r for section in sections for r in declared(section) if applies(r)]
        seen: set[tuple[str, frozenset[str]]] = set()
        missing: list[str] = []
        while todo:
            requirement = todo.pop()
            name, extras = canonicalize_name(requirement.name), frozenset(requirement.extras)
            if (name, extras) in seen:
                continue
            seen.add((name, extras))
            if name not in pins:
                missing.append(name)
                continue
            try:
                requires = metadata.requires(name) or []
            except metadata.PackageNotFoundError:
                missing.append(f"{name} (not installed: its dependencies cannot be read)")
                continue
            for text in requires:
                needed = Requirement(text)
                if applies(needed, extras):
                    todo.append(needed)
        assert not missing, f"{lock} lacks {', '.join(sorted(set(missing)))}"


# ---- (b) the environment runs what the lock says ----


def test_every_package_in_the_dev_lock_is_installed_at_its_pinned_version() -> None:
    wrong = []
    for pin in dev_pins().values():
        try:
            installed = Version(metadata.version(pin.name))
        except metadata.PackageNotFoundError:
            wrong.append(f"{pin.name}=={pin.version} is not installed")
            continue
        if installed != pin.version:
            wrong.append(f"{pin.name} is {installed}, the lock says {pin.version}")
    assert not wrong, "; ".join(wrong) + " (make test installs from requirements-dev.lock)"


def test_the_two_locks_agree_on_every_package_they_share() -> None:
    # scripts/lock.sh takes the runtime lock's versions from the dev lock
    runtime, dev = runtime_pins(), dev_pins()
    assert set(runtime) <= set(dev), set(runtime) - set(dev)
    assert {n: p.version for n, p in runtime.items()} == {n: dev[n].version for n in runtime}


# ---- (c) every pin is hashed ----


def test_every_pin_carries_a_sha256_hash() -> None:
    for lock, pins in ((RUNTIME_LOCK.name, runtime_pins()), (DEV_LOCK.name, dev_pins())):
        assert pins, f"{lock} pins nothing"
        unhashed = [name for name, pin in pins.items() if not pin.hashes]
        assert not unhashed, f"{lock}: no hash for {', '.join(unhashed)}"
        for pin in pins.values():
            for digest in pin.hashes:
                assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), (lock, pin.name, digest)


def test_pip_itself_is_pinned_for_the_virtual_environment() -> None:
    # the Makefile installs pip from this line first (and builds the project with hatchling)
    assert "pip" in dev_pins() and "hatchling" in dev_pins() and "hatchling" in runtime_pins()
