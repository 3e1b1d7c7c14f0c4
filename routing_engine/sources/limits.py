"""How much a deployment's files may make the readers build (ARCHITECTURE.md, "Known traps").

A few bytes of YAML or DSL become hundreds of bytes of Python objects (a value, its span, its
path), so a file inside the size cap can still ask for gigabytes: four bytes (`---` and a line
break) make a document, two (`a:`) a key. The readers count as they read, before they build
anything from what they count, and refuse the file (S101) at the line and column where a limit
is crossed; the loader counts the same way over the whole deployment.

The limits are sized far above real deployments: the hospital example is 150 KB in 30 files,
about 3,000 values; the scale benchmark's generated 100,000-node deployment (`benchmarks/
scale.py`) is 8.2 MB in 981 files, about 963,000 values, at most 2,300 in one file (its
deployment.yaml, with an entry per flow), and still checks within them. Per file, they stop a
hostile file early: refusing one costs less than checking a normal deployment (the tests hold
it to that). They are constants, not settings: a deployment past them is generated or hostile,
and a telephony service is better off refusing it than swapping.
"""

from __future__ import annotations

MAX_FILE_BYTES = 4 * 1024 * 1024
"""Bytes of one file (UTF-8)."""
MAX_DOCUMENTS_PER_FILE = 1_000
"""Documents of one file (YAML documents between `---`, DSL deployments, flows and modules)."""
MAX_KEYS_PER_FILE = 20_000
"""Mapping entries of one file (YAML keys; DSL statements, one a line)."""
MAX_NODES_PER_FILE = 40_000
"""Values of one file: scalars, mappings and lists, keys not counted (in the DSL, the words of
its statements and the commas of their lists, which bounds the values and the parser's tokens)."""
MAX_DEPLOYMENT_BYTES = 32 * 1024 * 1024
"""Bytes of all the files a deployment reads, module folders included."""
MAX_DEPLOYMENT_NODES = 2_000_000
"""Values of all the files a deployment reads, module folders included."""

GENERATED_HINT = "a file this large looks generated or hostile; split the deployment into files"


class Tally:
    """One file's documents, keys and values, counted as a reader meets them. Each count returns
    the message of the limit it crosses, or None."""

    __slots__ = ("documents", "keys", "nodes")

    def __init__(self) -> None:
        self.documents = 0
        self.keys = 0
        self.nodes = 0

    def document(self) -> str | None:
        self.documents += 1
        if self.documents > MAX_DOCUMENTS_PER_FILE:
            return f"more than {MAX_DOCUMENTS_PER_FILE:,} documents in one file"
        return None

    def key(self) -> str | None:
        self.keys += 1
        if self.keys > MAX_KEYS_PER_FILE:
            return f"more than {MAX_KEYS_PER_FILE:,} keys in one file"
        return None

    def node(self, count: int = 1) -> str | None:
        self.nodes += count
        if self.nodes > MAX_NODES_PER_FILE:
            return f"more than {MAX_NODES_PER_FILE:,} values in one file"
        return None
