"""Shared test helpers: the hospital deployment, and small deployments written to tmp dirs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from routing_engine import LoadedDeployment, load_deployment

ROOT = Path(__file__).resolve().parent.parent
HOSPITAL = ROOT / "examples" / "hospital"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def hospital() -> LoadedDeployment:
    return load_deployment(HOSPITAL)


def copy_hospital(root: Path) -> Path:
    """A copy of the hospital under `root` that a test may change, the shared modules beside it."""
    copy = root / "hospital"
    shutil.copytree(HOSPITAL, copy)
    shutil.copytree(ROOT / "flows", root / "flows")
    (copy / "deployment.yaml").write_text(
        (copy / "deployment.yaml").read_text().replace("../../flows", "../flows")
    )
    return copy


def write_files(root: Path, files: dict[str, str]) -> Path:
    """Write {relative path: text} under root (text is dedented); return root."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


MINIMAL_DEPLOYMENT = """
    deployment: test
    fallback:
      ring: desk
    entries:
      "+12125550100": main
    targets:
      desk:
        uri: sip:desk@example.com
      office:
        uri: sip:office@example.com
      backup:
        uri: sip:backup@example.com
"""


@pytest.fixture
def deployment_dir(tmp_path: Path):
    """Write a deployment: `deployment_dir({"main.yaml": "..."})`, with a minimal
    deployment.yaml unless the files give their own."""

    def make(files: dict[str, str]) -> Path:
        all_files = {"deployment.yaml": MINIMAL_DEPLOYMENT, **files}
        return write_files(tmp_path / "deployment", all_files)

    return make


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run `python cli.py ARGS` as a user would; never raises on a non-zero exit."""
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
