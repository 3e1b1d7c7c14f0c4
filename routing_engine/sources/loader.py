"""Finding and reading the files of a deployment: one reader per syntax, chosen by extension."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from routing_engine.core.diagnostics import Diagnostic, Severity
from routing_engine.core.ir import Span
from routing_engine.sources.dsl_reader import read_dsl
from routing_engine.sources.limits import (
    MAX_DEPLOYMENT_BYTES,
    MAX_DEPLOYMENT_NODES,
    MAX_FILE_BYTES,
)
from routing_engine.sources.raw import BOM, RawDocument
from routing_engine.sources.yaml_reader import read_yaml

_LARGE_HINT = "a deployment this large looks generated or hostile; nothing of it was checked"
DEPLOYMENT_FILE = "deployment.yaml"
# Folders of a deployment that hold other things than flows.
SKIPPED_DIRS = frozenset({"scenarios", "__pycache__", "node_modules"})

Reader = Callable[[str, str], tuple[list[RawDocument], list[Diagnostic]]]
READERS: dict[str, Reader] = {".yaml": read_yaml, ".yml": read_yaml, ".flow": read_dsl}


@dataclass(slots=True)
class Sources:
    """The documents of a deployment, the text of every file (for showing source lines), and
    the content hash that versions the deployment."""

    documents: list[RawDocument] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    digest: str = ""
    # what the deployment has read so far, against its limits (`sources/limits.py`); once one
    # is crossed the deployment is refused: no more files are read, no documents kept
    read_bytes: int = 0
    nodes: int = 0
    refused: bool = False


def _admit(sources: Sources, display: str, size: int) -> bool:
    """Whether a file of `size` bytes may still be read into the deployment; refuses the
    deployment at that file when its bytes would cross `MAX_DEPLOYMENT_BYTES`."""
    if sources.refused:
        return False
    sources.read_bytes += size
    if sources.read_bytes <= MAX_DEPLOYMENT_BYTES:
        return True
    message = f"the deployment's files are over {MAX_DEPLOYMENT_BYTES:,} bytes together"
    _refuse(sources, Diagnostic("S101", Severity.ERROR, message, Span(display, 1, 1), _LARGE_HINT))
    return False


def _take(sources: Sources, documents: list[RawDocument], diagnostics: list[Diagnostic]) -> None:
    """Add a file's documents; refuses the deployment at the value where its values cross
    `MAX_DEPLOYMENT_NODES`."""
    sources.diagnostics.extend(diagnostics)
    for doc in documents:
        count = len(doc.value_spans)
        if sources.nodes + count > MAX_DEPLOYMENT_NODES:
            where = list(doc.value_spans.values())[MAX_DEPLOYMENT_NODES - sources.nodes]
            message = f"the deployment's files hold over {MAX_DEPLOYMENT_NODES:,} values together"
            _refuse(sources, Diagnostic("S101", Severity.ERROR, message, where, _LARGE_HINT))
            return
        sources.nodes += count
        sources.documents.append(doc)


def _refuse(sources: Sources, diagnostic: Diagnostic) -> None:
    sources.refused = True
    sources.documents.clear()
    sources.diagnostics.append(diagnostic)


def deployment_files(path: Path) -> list[Path]:
    """Every flow file of a deployment directory, in a stable order."""
    found: list[Path] = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS)
        for name in sorted(files):
            if Path(name).suffix in READERS and not name.startswith("."):
                found.append(Path(root) / name)
    return found


def find_deployment_root(file: Path) -> Path | None:
    """The nearest folder, from the file's own upwards, that holds a deployment.yaml."""
    for folder in [file.parent, *file.parent.parents]:
        if (folder / DEPLOYMENT_FILE).is_file():
            return folder
    return None


def texts_to_sources(files: Mapping[str, str]) -> Sources:
    """Sources from file texts ({name: text}), each read by the reader of its extension. Files
    in folders a deployment directory's reading skips (`scenarios/`, hidden ones) are skipped
    here too, so sending a directory's files means what reading the directory means."""
    sources = Sources()
    hasher = hashlib.sha256()
    for name in sorted(files):
        if any(part in SKIPPED_DIRS or part.startswith(".") for part in Path(name).parts[:-1]):
            continue
        text = files[name]
        reader = READERS.get(Path(name).suffix)
        if reader is None:
            sources.diagnostics.append(
                Diagnostic(
                    "S101",
                    Severity.ERROR,
                    f"not a flow file: '{name}'",
                    Span(name, 1, 1),
                    f"flow files end in {', '.join(sorted(READERS))}",
                )
            )
            continue
        if len(text.encode("utf-8")) > MAX_FILE_BYTES:
            sources.diagnostics.append(
                Diagnostic(
                    "S101",
                    Severity.ERROR,
                    f"file is over the {MAX_FILE_BYTES}-byte limit",
                    Span(name, 1, 1),
                )
            )
            continue
        if not _admit(sources, name, len(text.encode("utf-8"))):
            break
        hasher.update(name.encode() + b"\0" + text.encode("utf-8") + b"\0")
        sources.texts[name] = text
        _take(sources, *reader(text, name))
    sources.digest = hasher.hexdigest()
    return sources


def _display(file: Path) -> str:
    """How a file is named in diagnostics: relative to the working directory when inside it."""
    relative = os.path.relpath(file)
    return str(file.resolve()) if relative.startswith("..") else relative


def read_file(path: Path, display: str, key: str, sources: Sources, hasher: hashlib._Hash) -> None:
    """Read one file into `sources`; `key` is its name inside the deployment (for the hash)."""
    reader = READERS.get(path.suffix)
    if reader is None:
        sources.diagnostics.append(
            Diagnostic(
                "S101",
                Severity.ERROR,
                f"not a flow file: '{path.suffix or path.name}'",
                Span(display, 1, 1),
                f"flow files end in {', '.join(sorted(READERS))}",
            )
        )
        return
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            sources.diagnostics.append(
                Diagnostic(
                    "S101",
                    Severity.ERROR,
                    f"file is {size} bytes, over the {MAX_FILE_BYTES}-byte limit",
                    Span(display, 1, 1),
                    "split the deployment over several files",
                )
            )
            return
        if not _admit(sources, display, size):
            return
        data = path.read_bytes()
    except OSError as error:
        sources.diagnostics.append(
            Diagnostic(
                "S101", Severity.ERROR, f"cannot read file: {error.strerror}", Span(display, 1, 1)
            )
        )
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        before = data[: error.start]
        line = before.count(b"\n") + 1
        line_start = before[before.rfind(b"\n") + 1 :]
        column = len(line_start.decode("utf-8", errors="replace")) + 1  # characters, not bytes
        sources.diagnostics.append(
            Diagnostic(
                "S101",
                Severity.ERROR,
                f"not UTF-8 text (byte 0x{data[error.start]:02x})",
                Span(display, line, column),
                "flow files are UTF-8 text; is this a binary file?",
            )
        )
        return
    for part in (key.encode(), b"\0", data, b"\0"):  # the same hash, the file not copied
        hasher.update(part)
    sources.texts[display] = text.removeprefix(BOM)  # shown under diagnostics, as read
    _take(sources, *reader(text, display))


def _module_paths(sources: Sources) -> list[tuple[Path, RawDocument, int]]:
    """The `modules:` entries of the deployment document: (path, document, index)."""
    found = []
    for doc in sources.documents:
        data = doc.data
        if (
            isinstance(data, dict)
            and "deployment" in data
            and isinstance(data.get("modules"), list)
        ):
            folder = Path(doc.file).parent
            for i, entry in enumerate(data["modules"]):
                if isinstance(entry, str):
                    found.append((folder / entry, doc, i))
    return found


def _only_modules(documents: list[RawDocument]) -> bool:
    kinds = [d for d in documents if d.data is not None]
    return bool(kinds) and all(isinstance(d.data, dict) and "module" in d.data for d in kinds)


def _read_sibling_modules(path: Path, sources: Sources, hasher: hashlib._Hash) -> None:
    """A module file checked alone brings the modules beside it (a library like flows/)."""
    for file in deployment_files(path.parent):
        if file == path:
            continue
        before = len(sources.documents)
        read_file(file, _display(file), file.relative_to(path.parent).as_posix(), sources, hasher)
        sources.documents[before:] = [
            d for d in sources.documents[before:] if isinstance(d.data, dict) and "module" in d.data
        ]


def _read_module_libraries(
    sources: Sources, base: Path, hasher: hashlib._Hash, read: list[Path]
) -> None:
    """Read the module folders and files the deployment names; they hold modules only. A file
    the deployment's own folder already holds is not read twice."""
    seen: set[Path] = {file.resolve() for file in read}
    for path, doc, i in _module_paths(sources):
        if not path.exists():
            sources.diagnostics.append(
                Diagnostic(
                    "S108",
                    Severity.ERROR,
                    f"no module folder or file '{doc.data['modules'][i]}'",
                    doc.value_span(("modules", i)),
                    "paths are relative to the deployment file",
                )
            )
            continue
        for file in deployment_files(path) if path.is_dir() else [path]:
            if file.resolve() in seen:
                continue
            seen.add(file.resolve())
            before = len(sources.documents)
            key = "modules/" + os.path.relpath(file.resolve(), base.resolve()).replace(os.sep, "/")
            read_file(file, _display(file), key, sources, hasher)
            for extra in sources.documents[before:]:
                if (
                    not (isinstance(extra.data, dict) and "module" in extra.data)
                    and extra.data is not None
                ):
                    sources.diagnostics.append(
                        Diagnostic(
                            "S106",
                            Severity.ERROR,
                            "a module library holds modules only ('module: NAME')",
                            extra.span,
                            "move flows and deployments into the deployment's own folder",
                        )
                    )
            kept = [
                d
                for d in sources.documents[before:]
                if isinstance(d.data, dict) and "module" in d.data
            ]
            sources.documents[before:] = kept


def load_sources(target: str | os.PathLike[str]) -> Sources:
    """Read a deployment: a directory, or a single file (standing alone, or inside a
    deployment directory, which is then read whole)."""
    path = Path(target)
    sources = Sources()
    hasher = hashlib.sha256()
    if path.is_dir():
        files = deployment_files(path)
        base = path
    elif path.is_file():
        root = find_deployment_root(path) if path.name != DEPLOYMENT_FILE else path.parent
        files, base = (deployment_files(root), root) if root is not None else ([path], path.parent)
    else:
        sources.diagnostics.append(
            Diagnostic(
                "S101",
                Severity.ERROR,
                f"no such file or directory: {target}",
                Span(str(target), 0, 0),
            )
        )
        return sources
    if not files:
        sources.diagnostics.append(
            Diagnostic(
                "S109",
                Severity.ERROR,
                "no flow files here",
                Span(str(target), 0, 0),
                f"a deployment is a directory with a {DEPLOYMENT_FILE} and flow files "
                f"({', '.join(sorted(READERS))})",
            )
        )
    for file in files:
        read_file(file, _display(file), file.relative_to(base).as_posix(), sources, hasher)
    if path.is_file() and files == [path] and _only_modules(sources.documents):
        _read_sibling_modules(path, sources, hasher)  # a module may use its neighbours
    _read_module_libraries(sources, base, hasher, files)
    sources.digest = hasher.hexdigest()
    return sources
