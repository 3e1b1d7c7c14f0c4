"""The README's Python example runs as written, and its claims about it hold."""

from __future__ import annotations

import re

from conftest import ROOT


def test_the_python_api_example_runs(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    scope: dict[str, object] = {}
    exec(compile(example, "README.md", "exec"), scope)
    ring = scope["ring"]
    assert isinstance(ring, dict)
    assert ring["targets"][0]["name"] == "billing-ny"
    assert ring["timeout_s"] == 12.0
