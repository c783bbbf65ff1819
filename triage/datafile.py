"""Reading the project's YAML knowledge files with errors that name the file, line and entry."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from triage.cache import cached, fingerprint
from triage.errors import DataFileError

M = TypeVar("M", bound=BaseModel)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it (ten times faster: the catalogue loads at every start)."""


def read_yaml(path: str | Path) -> Any:
    """Parse a UTF-8 YAML file; a missing file, bad bytes or bad YAML raise DataFileError.

    Every process reads the same knowledge files at start, and building Python objects from YAML costs far more
    than reading them back: the parsed value is kept in the derived-data cache (triage/cache.py), keyed by the
    file's bytes, so an edited file is parsed again.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise DataFileError(path, "file not found") from exc
    key = fingerprint(raw, f"PyYAML {yaml.__version__} {_LOADER.__name__}", Path(__file__))
    frozen = cached("yaml", key, lambda: _freeze(_parse(path, raw)), _is_frozen)
    return _thaw(frozen)


def _parse(path: Path, raw: bytes) -> Any:
    try:
        return yaml.load(raw.decode("utf-8"), Loader=_LOADER)
    except UnicodeDecodeError as exc:
        raise DataFileError(path, f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise DataFileError(path, f"not valid YAML: {getattr(exc, 'problem', exc)}", line=line) from exc


def _freeze(value: Any) -> dict[str, Any]:
    """The parsed value as marshal holds it: dates (which YAML parses and marshal cannot hold) as ISO strings,
    with the path to each, so that `_thaw` gives back exactly what the parser gave."""
    dates: list[list[Any]] = []

    def walk(node: Any, path: list[Any]) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, [*path, k]) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, [*path, i]) for i, v in enumerate(node)]
        if isinstance(node, dt.date):
            dates.append([*path, "datetime" if isinstance(node, dt.datetime) else "date"])
            return node.isoformat()
        return node

    return {"value": walk(value, []), "dates": dates}


def _is_frozen(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"value", "dates"} and isinstance(value["dates"], list)


def _thaw(frozen: dict[str, Any]) -> Any:
    value = frozen["value"]
    for *path, kind in frozen["dates"]:
        if not path:  # the whole document is one date
            return dt.datetime.fromisoformat(value) if kind == "datetime" else dt.date.fromisoformat(value)
        parent = value
        for step in path[:-1]:
            parent = parent[step]
        text = parent[path[-1]]
        parent[path[-1]] = dt.datetime.fromisoformat(text) if kind == "datetime" else dt.date.fromisoformat(text)
    return value


def validated(model: type[M], raw: Any, path: str | Path, *, describe: Any = None) -> M:
    """Validate parsed YAML against a schema; the first problem names its entry.

    `describe(loc)` may turn a location such as ('units', 3, 'topics', 0) into a readable entry name.
    """
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        entry = describe(raw, loc) if describe else ".".join(str(p) for p in loc)
        raise DataFileError(path, first["msg"], entry=entry or None) from exc
