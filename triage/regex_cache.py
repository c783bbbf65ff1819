"""Regular expressions compiled once per machine, not once per process.

Why: the editable rules (data/rules.yaml, data/elements.yaml) and the gazetteer's character classes are about 450
patterns, and Python's `re` parses and compiles each one in pure Python at every start: 0.17-0.25 s of a one-call
`triage predict` of about 1.2 s on 2 cores, and the same again in every batch and service worker.

How: `re` turns a pattern into a program (a list of integers) and hands it to its C engine (`_sre.compile`).
`compiled` keeps each pattern's program in one file of the derived-data cache (`triage.cache`), so that a later
process builds the same `re.Pattern` from the program directly. A pattern built this way is the very object
`re.compile` gives (patterns compare equal by their text, flags and program; checked once per process before any
program is trusted). The cache key holds the Python version and the source of `re`'s parser and compiler, so a
program is only ever read by the `re` that wrote it; where anything is unlike what this expects, every pattern is
simply compiled by `re`.

`flush` writes the programs this process used, when it compiled new ones: the loaders call it once they are done.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

Program = tuple[int, list[int], int, dict[str, int], tuple[str | None, ...]]
"""What `_sre.compile` takes besides the pattern: flags, code, number of groups, group names both ways."""

try:  # the standard library's own compiler (read-only use; see `_usable`)
    import _sre
    from re import _compiler as _sre_compiler
    from re import _parser as _sre_parser
except ImportError:  # pragma: no cover - another Python: `re.compile` for everything
    _sre = _sre_compiler = _sre_parser = None  # type: ignore[assignment]

_lock = threading.Lock()
_programs: dict[str, Program] | None = None
"""Programs read from the cache (loaded at the first `compiled`), by `_key`."""
_used: dict[str, Program] = {}
"""The programs this process built or read back and used: what `flush` writes."""
_new = False
"""Whether this process compiled a pattern the cache did not hold."""
_checked: bool | None = None


def _key(pattern: str, flags: int) -> str:
    return f"{flags}\0{pattern}"


def _program(pattern: str, flags: int) -> Program:
    """`re._compiler.compile` up to the call into the C engine (Python 3.11 and 3.12 alike)."""
    parsed = _sre_parser.parse(pattern, flags)
    code = _sre_compiler._code(parsed, flags)
    groupindex = dict(parsed.state.groupdict)
    indexgroup: list[str | None] = [None] * parsed.state.groups
    for name, index in groupindex.items():
        indexgroup[index] = name
    # plain ints: the opcodes are an int subclass, which marshal does not write
    return int(flags | parsed.state.flags), [int(c) for c in code], parsed.state.groups - 1, groupindex, tuple(indexgroup)


def _built(pattern: str, program: Program) -> re.Pattern[str]:
    flags, code, groups, groupindex, indexgroup = program
    return _sre.compile(pattern, flags, code, groups, groupindex, indexgroup)  # type: ignore[no-any-return]


def _usable() -> bool:
    """Whether a pattern built from its program equals `re.compile`'s on this Python (once per process)."""
    global _checked
    if _checked is None:
        try:
            sample = r"(?P<where>[东西南北]路)(?<!不)\d+号|(?:正在|现在)打[^，。]{0,4}"
            _checked = _built(sample, _program(sample, 0)) == re.compile(sample)
        except Exception as exc:
            logger.debug("compiled patterns not cached: %s", exc)
            _checked = False
    return _checked


def _cache_key() -> bytes:
    from triage.cache import fingerprint

    sources = [Path(module.__file__ or "") for module in (_sre_compiler, _sre_parser)]
    return fingerprint("regex programs 1", sys.version, str(getattr(_sre, "MAGIC", "")), *sources)


def _valid(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, tuple) and len(v) == 5 for k, v in value.items())


def _load() -> dict[str, Program]:
    global _programs
    if _programs is None:
        from triage.cache import read_cached

        _programs = read_cached("regex", _cache_key(), _valid) or {}
    return _programs


def compiled(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """`re.compile(pattern, flags)`, from the cached program where there is one; `re.error` as `re.compile` raises."""
    if _sre is None or not isinstance(pattern, str) or not _usable():
        return re.compile(pattern, flags)
    key = _key(pattern, flags)
    with _lock:
        program = _load().get(key) or _used.get(key)
    if program is not None:
        try:
            built = _built(pattern, program)
        except (TypeError, ValueError, RuntimeError):  # a program this engine refuses: compile it afresh
            program = None
        else:
            _used.setdefault(key, program)
            return built
    result = re.compile(pattern, flags)  # raises re.error for a bad pattern, as before
    global _new
    with _lock:
        _used[key] = _program(pattern, flags)
        _new = True
    return result


def flush() -> None:
    """Write the programs this process used for the next one, if it compiled any the cache did not hold."""
    global _new
    if not _new or _sre is None:
        return
    from triage.cache import write_cached

    with _lock:
        programs, _new = dict(_used), False
    write_cached("regex", _cache_key(), programs)


def _reset() -> None:
    """Forget what this process read and used (tests: a fresh process's view)."""
    global _programs, _new
    with _lock:
        _programs, _new = None, False
        _used.clear()


def stats() -> dict[str, Any]:
    """How many programs were read back and how many are in use (for tests and benchmarks)."""
    return {"cached": len(_programs or {}), "used": len(_used), "new": _new}
