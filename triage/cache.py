"""Derived data kept on disk between processes: built once, then read back in a fraction of the time.

Why: every process that suggests (one `triage predict`, each batch worker, each service worker at start and
at reload) rebuilt the same things from the same sources: jieba's prefix dictionary with the project's words
added, the knowledge base's tokenised entries. Reading them back is several times faster than building them.

Safety, so that a suggestion never depends on whether a cache was there:
- A file's name is the SHA-256 of everything its content is derived from (the source files' bytes, the code
  that derives it, the library versions): a change to any of them makes a new key, and the old file is simply
  never read again.
- A file carries the SHA-256 of its payload and of its key; a truncated, damaged or misplaced file fails the
  check and is rebuilt and rewritten, with a warning.
- Payloads are `marshal` data (plain dicts, lists, strings and numbers: nothing is executed when read back),
  and the value read is checked to be of the expected shape before use.
- Writing is atomic (a temporary file renamed into place), so concurrent processes never see half a file; a
  folder that cannot be written only costs the rebuild, never an error.

The folder: TRIAGE_CACHE_DIR, else $XDG_CACHE_HOME/triage, else ~/.cache/triage. Deleting it is always safe.
A kind written with `keep` holds only that many files, those used last: a service whose analysts edit answers
makes a new knowledge-base index (about 10 MB) at every edit, and no old one is read again.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import marshal
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
MAGIC = b"TRIAGE-CACHE-1\n"
"""The first bytes of every cache file (and its layout version): magic, SHA-256 of the key, of the payload."""


def cache_dir() -> Path:
    configured = os.environ.get("TRIAGE_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "triage"


def fingerprint(*parts: bytes | str | Path | Iterable[str]) -> bytes:
    """A key from parts: bytes and strings as they are, a Path by its content, an iterable of strings joined.

    The Python version is always part of it: marshal data is only promised to be read by the version that wrote it.
    """
    digest = hashlib.sha256(f"python {sys.version_info[0]}.{sys.version_info[1]}".encode())
    for part in parts:
        if isinstance(part, Path):
            data = part.read_bytes()
        elif isinstance(part, bytes):
            data = part
        elif isinstance(part, str):
            data = part.encode("utf-8")
        else:
            data = "\n".join(part).encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))  # lengths first: ("ab", "c") is not ("a", "bc")
        digest.update(data)
    return digest.digest()


def source_files(*modules: str) -> list[Path]:
    """The source files of imported modules: the code that derives a cached value is part of its key."""
    return [Path(sys.modules[name].__file__ or "") for name in modules]


def cached(kind: str, key: bytes, build: Callable[[], T], valid: Callable[[Any], bool]) -> T:
    """`build()`'s value, read from the cache when a file for (`kind`, `key`) exists, passes its checksums and
    holds a value `valid` accepts; otherwise built, written for the next process, and returned."""
    value = _lookup(kind, key, valid)
    if value is _MISSING:
        value = build()
        write_cached(kind, key, value)
    return value  # type: ignore[no-any-return]


def read_cached(kind: str, key: bytes, valid: Callable[[Any], bool]) -> Any | None:
    """The value cached for (`kind`, `key`) if its file exists, passes its checksums and holds a value `valid`
    accepts; None otherwise (for a value that grows over a process's life: see `triage.regex_cache`)."""
    value = _lookup(kind, key, valid)
    return None if value is _MISSING else value


def _lookup(kind: str, key: bytes, valid: Callable[[Any], bool]) -> Any:
    """The cached value, or `_MISSING` (a cached None is a value: an empty YAML file is read back, not re-parsed)."""
    path = _path(kind, key)
    value = _read(path, key)
    if value is not _MISSING and not valid(value):
        logger.warning("cache file %s holds a value of the wrong shape; rebuilding it", path)
        return _MISSING
    return value


def write_cached(kind: str, key: bytes, value: object, *, keep: int | None = None) -> None:
    """Keep `value` for (`kind`, `key`) for the next process (atomically; a folder that cannot be written only
    costs the next process the rebuild). With `keep`, the files of that kind but the `keep` used last (a read
    touches its file) are deleted: for a kind whose sources change as the product runs."""
    path = _path(kind, key)
    if _write(path, key, value) and keep is not None:
        _prune(path.parent, kind, keep)


def _prune(folder: Path, kind: str, keep: int) -> None:
    """Delete the files of `kind` but the `keep` used last (another process reading one just deleted only builds
    it again)."""
    name = re.compile(rf"{re.escape(kind)}-[0-9a-f]{{40}}\.bin")
    files: list[tuple[float, Path]] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if name.fullmatch(entry.name):
                with contextlib.suppress(OSError):
                    files.append((entry.stat().st_mtime, Path(entry.path)))
    for _, old in sorted(files, reverse=True)[keep:]:
        with contextlib.suppress(OSError):
            old.unlink()


def _path(kind: str, key: bytes) -> Path:
    return cache_dir() / f"{kind}-{key.hex()[:40]}.bin"


_MISSING = object()


def _read(path: Path, key: bytes) -> Any:
    try:
        blob = path.read_bytes()
    except OSError:
        return _MISSING
    with contextlib.suppress(OSError):
        os.utime(path)  # used now: among the last to be deleted (`_prune`)
    head = len(MAGIC)
    if (
        blob[:head] != MAGIC
        or blob[head : head + 32] != hashlib.sha256(key).digest()
        or blob[head + 32 : head + 64] != hashlib.sha256(memoryview(blob)[head + 64 :]).digest()
    ):
        logger.warning("cache file %s fails its checksum (damaged or changed); rebuilding it", path)
        return _MISSING
    try:
        return marshal.loads(memoryview(blob)[head + 64 :])
    except (ValueError, EOFError, TypeError) as exc:
        logger.warning("cache file %s does not read (%s); rebuilding it", path, exc)
        return _MISSING


def _write(path: Path, key: bytes, value: object) -> bool:
    """Write the file atomically; whether it was written (a failure is never the caller's problem)."""
    try:
        payload = marshal.dumps(value)
    except ValueError as exc:  # a value marshal cannot hold is a programming error, but never the caller's problem
        logger.warning("cannot cache %s (%s)", path.name, exc)
        return False
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name, suffix=".tmp", delete=False) as handle:
            temporary = handle.name
            handle.write(MAGIC + hashlib.sha256(key).digest() + hashlib.sha256(payload).digest() + payload)
        os.replace(temporary, path)
    except OSError as exc:
        logger.debug("cache %s not written (%s): the next process builds it again", path, exc)
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        return False
    return True
