"""Data files are private: the store holds callers' numbers, the data folder secrets. What the
server creates, it creates readable by its owner only: folders 0700, files 0600 (by explicit
modes, whatever the umask; SQLite gives a database's -wal and -shm files the database file's
own mode). What already exists is left as it is, never chmod-ed behind its owner's back: a data
file or folder others may read is named in a warning at start, with the command that closes it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from pathlib import Path

log = logging.getLogger("routing_engine.store")

FOLDER_MODE = 0o700
FILE_MODE = 0o600
_warned: set[Path] = set()  # each path once per process, however often the store is opened


def private_folder(folder: Path) -> None:
    """Make `folder` and each missing folder above it, readable by the owner only; one that
    exists is kept as it is (a warning when others may read it)."""
    missing = []
    for path in (folder, *folder.parents):
        if path.exists():
            break
        missing.append(path)
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another worker made it first
            path.mkdir(mode=FOLDER_MODE)
    if not missing:
        warn_if_shared(folder)


def private_file(path: Path) -> None:
    """Make the empty file `path`, readable and writable by the owner only, unless it exists
    (then a warning when others may read it). Its folder must exist."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        warn_if_shared(path)


def kept_secret(folder: Path, name: str, what: str, min_length: int = 32) -> bytes:
    """The secret kept in the file `name` of `folder` (a deployment's data folder), made there
    when missing: the file readable by its owner only (0600), in folders made 0700. Several
    processes starting at once agree: the file appears whole, by a hard link, or not at all.
    A ValueError names `what` when the file holds fewer than `min_length` characters."""
    path = folder / name
    for _ in range(2):
        try:
            found = path.read_bytes().strip()
        except FileNotFoundError:
            pass
        else:
            warn_if_shared(path)
            if len(found) < min_length:
                raise ValueError(f"{path}: a {what} needs at least {min_length} characters")
            return found
        private_folder(folder)
        draft = folder / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process made it first: read theirs
        finally:
            draft.unlink()
    raise OSError(f"cannot read or make {path}")


def warn_if_shared(path: Path) -> None:
    """Warn when others than the owner may read or write `path`."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if mode & 0o077 and path not in _warned:
        _warned.add(path)
        wanted = FOLDER_MODE if path.is_dir() else FILE_MODE
        log.warning(
            "%s has mode %o: others than its owner may read it; it may hold callers' numbers "
            "or secrets (chmod %o %s)",
            path,
            mode,
            wanted,
            path,
        )
