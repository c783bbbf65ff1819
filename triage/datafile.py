"""Reading the project's YAML knowledge files with errors that name the file, line and entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from triage.errors import DataFileError

M = TypeVar("M", bound=BaseModel)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it (ten times faster: the catalogue loads at every start)."""


def read_yaml(path: str | Path) -> Any:
    """Parse a UTF-8 YAML file; a missing file, bad bytes or bad YAML raise DataFileError."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.load(handle, Loader=_LOADER)
    except FileNotFoundError as exc:
        raise DataFileError(path, "file not found") from exc
    except UnicodeDecodeError as exc:
        raise DataFileError(path, f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise DataFileError(path, f"not valid YAML: {getattr(exc, 'problem', exc)}", line=line) from exc


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
